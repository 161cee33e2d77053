"""Staff verdicts on the bot's turns: right, or wrong with the intent the customer meant.

A verdict makes the customer's message training data (chatbot/db/corrections.py); the transcript
page shows them and the transcript API lists one conversation's.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from chatbot.api.deps import RowId, SessionDep
from chatbot.api.principals import StaffUser
from chatbot.db import conversations as store
from chatbot.db import corrections, transcripts
from chatbot.db.knowledge import intent_languages
from chatbot.db.models import Correction, Message, Role

router = APIRouter(prefix="/api/v1/staff/messages", tags=["staff"])

# The bot turns a staff member can judge: it answered, asked which was meant, or gave up.
CORRECTABLE = ("answer", "clarify", "fallback")


class CorrectionCreate(BaseModel):
    verdict: Literal["right", "wrong"]
    intent: str | None = Field(
        None, max_length=200, description="With 'wrong': the intent meant; null: out of scope."
    )


class CorrectionPublic(BaseModel):
    message_id: int
    verdict: Literal["right", "wrong"]
    intent: str | None
    text: str
    created_by: str | None


def _bot_meant(message: Message) -> str | None:
    # A fallback claims the message is out of scope; the other turns claim their intent.
    return None if message.action == "fallback" else message.intent


def verdict(message: Message, correction: Correction) -> CorrectionPublic:
    return CorrectionPublic(
        message_id=message.id,
        verdict="right" if correction.intent == _bot_meant(message) else "wrong",
        intent=correction.intent,
        text=correction.text,
        created_by=correction.created_by,
    )


def _unprocessable(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


@router.post("/{message_id}/correction")
def correct_bot_turn(
    message_id: RowId, body: CorrectionCreate, session: SessionDep, principal: StaffUser
) -> CorrectionPublic:
    """Mark a bot turn right, or wrong with the intent the customer meant (null: out of scope).

    The customer message it answered becomes training data; a new verdict replaces the last.
    """
    message = store.get_message(session, message_id)
    if message is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"message {message_id} not found")
    if message.role is not Role.BOT or message.action not in CORRECTABLE:
        raise _unprocessable(
            "message_id: only the bot's answers, clarifying questions and fallbacks take a verdict"
        )
    if body.verdict == "wrong" and "intent" not in body.model_fields_set:
        raise _unprocessable("intent: required with verdict 'wrong' (null: out of scope)")
    intent = _bot_meant(message) if body.verdict == "right" else body.intent
    known = intent_languages(session).keys()
    if intent is not None and intent not in known:
        raise _unprocessable(f"intent: {intent!r} is not an intent of the knowledge base")
    customer_text = transcripts.answered_customer_text(session, message)
    if customer_text is None:
        raise _unprocessable("message_id: this bot turn answered no customer message")
    correction = corrections.set_correction(
        session, message.id, customer_text, intent, created_by=principal.actor
    )
    session.commit()
    return verdict(message, correction)
