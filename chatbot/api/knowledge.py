"""JSON API for the knowledge base's intents (per language) and an answer's live preview; its
files (uploads with preview, the download) are chatbot/api/knowledge_files.py.

Everything the knowledge console does, for scripts: an admin's API token (``Authorization:
Bearer cbt_...``) needs no CSRF token; a browser session's cookie does (``X-CSRF-Token``), as on
every admin route. What a change does is ``chatbot.authoring``'s, shared with the console's
forms, so both write the same audit records. Intent keys go in the path quoted as one segment
(``reverted_card_payment?`` is ``reverted_card_payment%3F``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from chatbot import authoring
from chatbot.api.deps import SessionDep
from chatbot.api.errors import ErrorPublic
from chatbot.api.knowledge_files import REFUSED, Responses, draft_html
from chatbot.api.principals import AdminUser, admin_user
from chatbot.db import knowledge as store
from chatbot.knowledge.edits import IntentRejected
from chatbot.knowledge.files import (
    MAX_ANSWER_CHARS,
    MAX_CATEGORY_CHARS,
    MAX_KEY_CHARS,
    MAX_LANGUAGE_CHARS,
    MAX_PHRASING_CHARS,
)
from chatbot.knowledge.spec import IntentSpec

router = APIRouter(
    prefix="/api/v1/admin/knowledge", tags=["knowledge"], dependencies=[Depends(admin_user)]
)
# Generous bounds that keep a request's work small; the rules themselves are authoring's.
MAX_PHRASINGS = 1000
MAX_TRANSLATIONS = 50
MAX_FOLLOW_UPS = 100
_CONFLICT: Responses = {
    409: {"model": ErrorPublic, "description": "Changed by someone else meanwhile"}
}

Phrasing = Annotated[str, Field(max_length=MAX_PHRASING_CHARS)]
IntentKey = Annotated[str, Field(max_length=MAX_KEY_CHARS)]


class TranslationBody(BaseModel):
    """The intent's answer and phrasings in one of its other languages."""

    language: str = Field(max_length=MAX_LANGUAGE_CHARS, examples=["zh"])
    answer: str | None = Field(
        None,
        max_length=MAX_ANSWER_CHARS,
        description="Null: customers writing in this language get the first language's answer.",
    )
    phrasings: list[Phrasing] = Field(max_length=MAX_PHRASINGS)


class IntentFields(BaseModel):
    language: str = Field(
        "en", max_length=MAX_LANGUAGE_CHARS, description="The intent's first language."
    )
    category: str | None = Field("", max_length=MAX_CATEGORY_CHARS)
    phrasings: list[Phrasing] = Field(
        max_length=MAX_PHRASINGS,
        description="How customers ask, in the first language; the first is shown on buttons.",
    )
    answer: str = Field(max_length=MAX_ANSWER_CHARS, description="Markdown.")
    follow_ups: list[IntentKey] = Field(
        [], max_length=MAX_FOLLOW_UPS, description="Keys of intents offered after the answer."
    )
    translations: list[TranslationBody] | None = Field(
        None,
        max_length=MAX_TRANSLATIONS,
        description="The other languages. Omitted or null on an update: the stored ones stay.",
    )
    action: dict[str, Any] | None = Field(
        None,
        description=(
            "Slots to ask for, an HTTP call and an answer template (see the README's 'Actions "
            "with slots'); null: the intent answers with its text."
        ),
    )

    def draft(self, key: str, stored: IntentSpec | None = None) -> authoring.IntentDraft:
        """The draft this body describes; ``stored``'s other languages when it names none."""
        translations = (
            [
                authoring.Translation(t.language, t.answer, tuple(t.phrasings))
                for t in self.translations
            ]
            if self.translations is not None
            else authoring.translations_of(stored)
            if stored is not None
            else None
        )
        return authoring.IntentDraft(
            key=key,
            answer=self.answer,
            phrasings=self.phrasings,
            language=self.language,
            category=self.category or "",
            follow_ups=self.follow_ups,
            translations=translations,
            action=json.dumps(self.action, ensure_ascii=False) if self.action is not None else "",
        )


_REFUNDS: dict[str, Any] = {
    "language": "en",
    "category": "Orders",
    "phrasings": ["How do I get a refund?", "Can I have my money back?"],
    "answer": "Refunds arrive within **5 working days** of the return.",
    "follow_ups": ["returns"],
    "translations": [
        {"language": "zh", "answer": "退货后5个工作日内退款。", "phrasings": ["怎么退款"]}
    ],
}


class IntentCreate(IntentFields):
    key: IntentKey = Field(
        description="Printable, without spaces, ',', '|' or '/'; it cannot change later."
    )

    model_config = ConfigDict(json_schema_extra={"examples": [{"key": "refunds", **_REFUNDS}]})


class IntentUpdate(IntentFields):
    version: str | None = Field(
        None,
        max_length=64,
        description="The version read: a 409 instead of overwriting a change made since.",
    )

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_REFUNDS, "version": "b66ebc80f3dfe38b"}]}
    )


class TranslationPublic(BaseModel):
    language: str
    answer: str | None
    phrasings: list[str]


class IntentPublic(BaseModel):
    key: str
    version: str = Field(description="Changes whenever the intent does; send it back to update.")
    language: str
    category: str | None
    phrasings: list[str]
    answer: str
    follow_ups: list[str]
    translations: list[TranslationPublic]
    action: dict[str, Any] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"key": "refunds", "version": "b66ebc80f3dfe38b", **_REFUNDS}]
        }
    )

    @classmethod
    def of(cls, intent: IntentSpec) -> IntentPublic:
        return cls(
            key=intent.key,
            version=authoring.intent_version(intent),
            language=intent.language,
            category=intent.category,
            phrasings=list(intent.phrasings_in(intent.language)),
            answer=intent.answer,
            follow_ups=list(intent.follow_ups),
            translations=[
                TranslationPublic(language=t.language, answer=t.answer, phrasings=list(t.phrasings))
                for t in authoring.translations_of(intent)
            ],
            action=intent.action.to_json() if intent.action is not None else None,
        )


class IntentDeleted(BaseModel):
    key: str
    removed_from_follow_ups_of: list[str] = Field(
        description="Intents that offered it as a follow-up and no longer do."
    )


def _refused(rejected: IntentRejected) -> HTTPException:
    detail = [
        {"type": "value_error", "loc": ["body", problem.field], "msg": str(problem)}
        for problem in rejected.problems
    ]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


def _not_found(key: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"intent '{key}' not found")


# ---- intents


@router.get("/intents")
def list_intents(
    session: SessionDep,
    q: Annotated[str, Query(max_length=200)] = "",
    language: Annotated[str, Query(max_length=MAX_LANGUAGE_CHARS)] = "",
    category: Annotated[str, Query(max_length=MAX_CATEGORY_CHARS)] = "",
) -> list[IntentPublic]:
    """Every intent, or those whose key, phrasings or answers contain ``q`` (ignoring case)."""
    found = store.search_intents(session, text=q, language=language, category=category)
    return [IntentPublic.of(intent) for intent in found]


@router.post("/intents", status_code=status.HTTP_201_CREATED, responses=REFUSED)
def create_intent(body: IntentCreate, session: SessionDep, principal: AdminUser) -> IntentPublic:
    """Add an intent (audited as ``intent.create``); a taken key is a problem of ``key``."""
    try:
        intent = authoring.save_intent(
            session, principal.actor, body.draft(body.key), creating=True
        )
    except IntentRejected as rejected:
        raise _refused(rejected) from None
    return IntentPublic.of(intent)


@router.get("/intents/{key}")
def read_intent(key: str, session: SessionDep) -> IntentPublic:
    """One intent, every language."""
    intent = store.find_intent(session, key)
    if intent is None:
        raise _not_found(key)
    return IntentPublic.of(intent)


@router.put("/intents/{key}", responses=REFUSED | _CONFLICT)
def update_intent(
    key: str, body: IntentUpdate, session: SessionDep, principal: AdminUser
) -> IntentPublic:
    """Replace an intent's content (its key stays; audited as ``intent.update``)."""
    stored = store.find_intent(session, key)
    if stored is None:
        raise _not_found(key)
    try:
        intent = authoring.save_intent(
            session, principal.actor, body.draft(key, stored), creating=False, version=body.version
        )
    except IntentRejected as rejected:
        raise _refused(rejected) from None
    except authoring.Conflict as conflict:
        raise HTTPException(status.HTTP_409_CONFLICT, str(conflict)) from None
    except LookupError:
        raise _not_found(key) from None
    return IntentPublic.of(intent)


@router.delete("/intents/{key}", responses=_CONFLICT)
def delete_intent(
    key: str,
    session: SessionDep,
    principal: AdminUser,
    version: Annotated[str | None, Query(max_length=64)] = None,
) -> IntentDeleted:
    """Delete an intent (audited as ``intent.delete``); intents that offered it as a follow-up
    stop offering it. With ``version``: 409 when it changed since that version was read."""
    try:
        _deleted, sources = authoring.delete_intent(session, principal.actor, key, version=version)
    except authoring.Conflict as conflict:
        raise HTTPException(status.HTTP_409_CONFLICT, str(conflict)) from None
    except LookupError:
        raise _not_found(key) from None
    return IntentDeleted(key=key, removed_from_follow_ups_of=sources)


# ---- the answer's live preview


class MarkdownPreview(BaseModel):
    markdown: str = Field(max_length=MAX_ANSWER_CHARS)


class HtmlPreview(BaseModel):
    html: str


@router.post("/preview")
def preview_markdown(body: MarkdownPreview) -> HtmlPreview:
    """An answer's Markdown as the sanitised HTML customers would see."""
    return HtmlPreview(html=draft_html(body.markdown))
