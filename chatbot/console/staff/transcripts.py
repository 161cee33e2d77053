"""The Conversations pages: the transcript list (filters, search, keyset pages) and one transcript.

The filters are read as the transcript API and the exports read them (chatbot/api/transcripts.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from chatbot.api.corrections import CORRECTABLE, verdict
from chatbot.api.deps import SessionDep
from chatbot.api.i18n import Translate, request_language, translator
from chatbot.api.markdown import render_markdown
from chatbot.api.principals import StaffUser
from chatbot.api.transcripts import PREVIEW_CHARS, read_cursor, read_filters
from chatbot.console.views import render
from chatbot.db import labels, transcripts
from chatbot.db.knowledge import intent_languages
from chatbot.db.models import ConversationStatus, Role
from chatbot.nlu.keywords import top_keywords

router = APIRouter()
TRANSCRIPT_KEYWORDS = 10


def _query(form: Mapping[str, str], **extra: str) -> str:
    return urlencode({**{k: v for k, v in form.items() if v}, **extra})


@router.get("", response_class=HTMLResponse)
def transcript_list(request: Request, session: SessionDep, principal: StaffUser) -> HTMLResponse:
    """Conversations, newest activity first, filtered and searched; keyset pages."""
    chosen, form, problems = read_filters(request.query_params)
    cursor = read_cursor(request.query_params)
    page = transcripts.list_conversations(session, chosen, cursor)
    older = None
    if page.older is not None:
        older = _query(
            form,
            before=page.older.updated_at.isoformat(),
            before_id=page.older.conversation_id,
        )
    intents = intent_languages(session)
    return render(
        request,
        "console/transcripts.html",
        principal,
        rows=page.rows,
        form=form,
        problems=problems,
        filtered=not chosen.is_empty(),
        paged=cursor is not None,
        older_query=older,
        filter_query=_query(form),
        intent_keys=list(intents),
        languages=sorted({*intents.values(), "en", "zh"}),
        statuses=[s.value for s in ConversationStatus],
        moods=transcripts.MOODS,
        preview_chars=PREVIEW_CHARS,
        row_labels=labels.labels_by_conversation(
            session, [row.conversation.id for row in page.rows]
        ),
        label_names=labels.known_labels(session),
    )


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
def transcript_page(
    request: Request, conversation_id: str, session: SessionDep, principal: StaffUser
) -> HTMLResponse:
    """One conversation, every turn, with what the bot made of it and the staff verdicts."""
    transcript = transcripts.get_transcript(session, conversation_id)
    if transcript is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "conversation not found")
    _ = translator(request_language(request))
    verdicts = {
        message.id: verdict(message, transcript.corrections[message.id])
        for message in transcript.messages
        if message.id in transcript.corrections
    }
    return render(
        request,
        "console/transcript.html",
        principal,
        transcript=transcript,
        conversation=transcript.conversation,
        verdicts=verdicts,
        # What the customer saw: bot and staff Markdown, sanitised. Customer text stays text.
        rendered={
            message.id: Markup(render_markdown(message.text))  # sanitised by nh3
            for message in transcript.messages
            if message.role is not Role.CUSTOMER
        },
        correctable=CORRECTABLE,
        # What the customer talked about: the words of most of their messages.
        keywords=top_keywords(
            (m.text for m in transcript.messages if m.role is Role.CUSTOMER), TRANSCRIPT_KEYWORDS
        ),
        intent_keys=list(intent_languages(session)),
        live=transcript.conversation.status
        in (ConversationStatus.WAITING, ConversationStatus.WITH_STAFF),
        strings=_page_strings(_),
    )


def _page_strings(_: Translate) -> dict[str, str]:
    # What transcripts.js shows; translated here so the script holds no English.
    return {
        "right": _("Marked right"),
        "wrong": _("Marked wrong: {intent}"),
        "out_of_scope": _("out of scope"),
        "saving": _("Saving…"),
        "failed": _("Could not save: {detail}"),
    }
