"""Unanswered questions, grouped: /admin/unanswered and its JSON under /api/v1/admin/unanswered.

The period's unanswered customer messages (``chatbot.db.unanswered``) are embedded by the serving
model through the embeddings' micro-batcher (so they share the model thread with customers'
messages, batch by batch, never holding it for the whole list), grouped off the event loop
(``chatbot.nlu.grouping``), and each group's central messages ranked against the knowledge base
on the model thread for its nearest intent. Groups are not stored: an action names the messages
it settles, and a settled message never comes back.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from chatbot import authoring
from chatbot.api.analytics import period_of
from chatbot.api.deps import MAX_ROW_ID, SessionDep
from chatbot.api.principals import AdminUser, admin_user
from chatbot.db import audit, corrections
from chatbot.db import unanswered as db
from chatbot.db.analytics import Period
from chatbot.db.unanswered import Outcome, UnansweredMessage
from chatbot.knowledge.edits import IntentRejected
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.grouping import group_messages, nearest_intent
from chatbot.nlu.language import detect_language

MAX_MESSAGES = 1000  # the period's latest; more would hold the model thread for long
EXAMPLES = 5  # representative messages shown per group, and ranked for its nearest intent
MAX_IDS = 1000

router = APIRouter(
    prefix="/api/v1/admin/unanswered", tags=["unanswered"], dependencies=[Depends(admin_user)]
)


def _period(
    request: Request,
    since: str | None = None,
    until: str | None = None,
    language: str | None = None,
) -> Period:
    return period_of(request.app.state.settings, since, until, language)


def _read(factory: sessionmaker[Session], period: Period) -> list[UnansweredMessage]:
    with factory() as session:
        return db.unanswered_messages(session, period, limit=MAX_MESSAGES)


async def grouped(request: Request, period: Period) -> dict[str, Any]:
    """The period's unanswered messages in groups, largest first, as JSON-ready values."""
    messages = await asyncio.to_thread(_read, request.app.state.session_factory, period)
    about = {
        "since": period.since.date().isoformat(),
        "until": (period.until - timedelta(microseconds=1)).date().isoformat(),
        "language": period.language,
    }
    if not messages:
        return {**about, "model": request.app.state.manager.engine.version, "groups": []}
    texts = list(dict.fromkeys(message.text for message in messages))
    embedder = request.app.state.embedder
    results = await asyncio.gather(*(embedder.predict(text) for text in texts))
    vector_of = {text: vector for text, (_, vector) in zip(texts, results, strict=True)}
    import torch  # the module's import stays cheap for the routes that need no model

    vectors = torch.tensor([vector_of[m.text] for m in messages])
    groups = await asyncio.to_thread(group_messages, [m.text for m in messages], vectors)
    engine = request.app.state.manager.engine
    central = [[messages[i].text for i in group.members[:EXAMPLES]] for group in groups]
    flat = [text for texts in central for text in texts]
    predictions = await embedder.run(lambda: engine.predict(flat))
    rows, start = [], 0
    for group, texts_of in zip(groups, central, strict=True):
        nearest = nearest_intent(predictions[start : start + len(texts_of)])
        start += len(texts_of)
        members = [messages[i] for i in group.members]
        reasons: dict[str, int] = {}
        for member in members:
            for reason in member.reasons:
                reasons[reason.value] = reasons.get(reason.value, 0) + 1
        rows.append(
            {
                "size": len(members),
                "language": group.language,
                "cohesion": round(group.cohesion, 4),
                "examples": [
                    {"message_id": m.message_id, "text": m.text} for m in members[:EXAMPLES]
                ],
                "message_ids": [m.message_id for m in members],
                "reasons": reasons,
                "nearest_intent": asdict(nearest) if nearest is not None else None,
            }
        )
    return {**about, "model": engine.version, "groups": rows}


# ---- the actions, shared by the JSON routes and the page's forms


def unprocessable(detail: Any) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


def _messages(session: Session, ids: list[int]) -> list[UnansweredMessage]:
    found = db.find_unanswered(session, ids)
    missing = [i for i in dict.fromkeys(ids) if i not in found]
    if missing:
        raise unprocessable(
            f"message_ids: {', '.join(map(str, missing[:10]))}: "
            "no customer message the bot replied to"
        )
    return [found[i] for i in dict.fromkeys(ids)]


def _rejected(rejected: IntentRejected) -> HTTPException:
    return unprocessable([str(problem) for problem in rejected.problems])


def add_phrasings(session: Session, actor: str, ids: list[int], key: str) -> IntentSpec:
    """The messages become phrasings of intent ``key`` (checked as the knowledge editor checks)."""
    messages = _messages(session, ids)
    try:
        return authoring.add_phrasings(
            session,
            actor,
            key,
            [m.text for m in messages],
            before_commit=lambda _: db.review(
                session, ids, Outcome.ADDED, intent=key, reviewed_by=actor
            ),
        )
    except LookupError:
        raise unprocessable(f"intent: no intent is called {key!r}") from None
    except IntentRejected as rejected:
        raise _rejected(rejected) from None


def create_intent(
    session: Session,
    actor: str,
    ids: list[int],
    *,
    key: str,
    answer: str,
    phrasings: str | None,
    language: str,
    category: str,
) -> IntentSpec:
    """A new intent whose phrasings are the messages (or the admin's edit of them)."""
    messages = _messages(session, ids)
    texts = [m.text for m in messages] if phrasings is None else phrasings.splitlines()
    draft = authoring.IntentDraft(
        key=key,
        answer=answer,
        phrasings=texts,
        language=language or detect_language(messages[0].text),
        category=category,
    )
    try:
        return authoring.save_intent(
            session,
            actor,
            draft,
            creating=True,
            before_commit=lambda intent: db.review(
                session, ids, Outcome.NEW_INTENT, intent=intent.key, reviewed_by=actor
            ),
        )
    except IntentRejected as rejected:
        raise _rejected(rejected) from None


def mark_out_of_scope(session: Session, actor: str, ids: list[int]) -> None:
    """Out-of-scope corrections: the next training run calibrates the fallback on them."""
    for message in _messages(session, ids):
        corrections.set_correction(session, message.reply_id, message.text, None, created_by=actor)
    audit.record(
        session,
        actor,
        "unanswered.out_of_scope",
        f"{len(ids)} messages",
        after={"message_ids": ids},
    )
    db.review(session, ids, Outcome.OUT_OF_SCOPE, reviewed_by=actor)


def dismiss(session: Session, actor: str, ids: list[int]) -> None:
    """Remembered: the messages leave the list, nothing else changes."""
    _messages(session, ids)
    audit.record(
        session, actor, "unanswered.dismiss", f"{len(ids)} messages", after={"message_ids": ids}
    )
    db.review(session, ids, Outcome.DISMISSED, reviewed_by=actor)


# ---- JSON


MessageIds = Annotated[
    list[Annotated[int, Field(ge=1, le=MAX_ROW_ID)]],
    Field(min_length=1, max_length=MAX_IDS, description="Customer message ids (a group's)."),
]


class Selection(BaseModel):
    message_ids: MessageIds


class AddPhrasings(Selection):
    intent: str = Field(min_length=1, max_length=200, description="The existing intent's key.")


class NewIntent(Selection):
    key: str = Field(min_length=1, max_length=200)
    answer: str = Field(min_length=1, max_length=20_000)
    phrasings: list[str] | None = Field(
        None, max_length=MAX_IDS, description="Default: the messages' texts."
    )
    language: str = Field("", max_length=35, description="Default: the first message's.")
    category: str = Field("", max_length=200)


@router.get("")
async def groups_json(request: Request, period: Period = Depends(_period)) -> dict[str, Any]:
    """The period's unanswered messages grouped by meaning: each group's size, language,
    examples, message ids, reasons and nearest intent (``{intent, score, confidence}``).

    Query: ``since``, ``until`` (YYYY-MM-DD, until included; default the last 30 days),
    ``language`` (``all``, ``en``, ``zh``). At most the latest 1000 messages.
    """
    return await grouped(request, period)


@router.post("/phrasings")
def phrasings_json(body: AddPhrasings, session: SessionDep, principal: AdminUser) -> dict[str, Any]:
    """Add the messages as phrasings of an existing intent."""
    intent = add_phrasings(session, principal.actor, body.message_ids, body.intent)
    session.commit()
    return {"intent": intent.key, "phrasings": list(intent.phrasings)}


@router.post("/intents", status_code=status.HTTP_201_CREATED)
def intent_json(body: NewIntent, session: SessionDep, principal: AdminUser) -> dict[str, Any]:
    """Create a new intent from the messages."""
    intent = create_intent(
        session,
        principal.actor,
        body.message_ids,
        key=body.key,
        answer=body.answer,
        phrasings=None if body.phrasings is None else "\n".join(body.phrasings),
        language=body.language,
        category=body.category,
    )
    session.commit()
    return {"intent": intent.key, "phrasings": list(intent.phrasings)}


@router.post("/out_of_scope")
def out_of_scope_json(body: Selection, session: SessionDep, principal: AdminUser) -> dict[str, int]:
    """Mark the messages out of scope (fallback calibration of the next training run)."""
    mark_out_of_scope(session, principal.actor, body.message_ids)
    session.commit()
    return {"reviewed": len(set(body.message_ids))}


@router.post("/dismiss")
def dismiss_json(body: Selection, session: SessionDep, principal: AdminUser) -> dict[str, int]:
    """Dismiss the messages: they leave the list for good."""
    dismiss(session, principal.actor, body.message_ids)
    session.commit()
    return {"reviewed": len(set(body.message_ids))}
