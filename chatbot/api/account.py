"""Staff API: the caller's own account, as the console's Account page manages it: who am I,
a new password, and API tokens (list, create, revoke).

Changing the password and minting a token take the current password again, checked and
throttled as signing in is (429 with Retry-After while guesses are delayed): a stolen session or
token must not turn into a lasting one. The changes and their audit entries are
chatbot/accounts.py's, as for the page and the command line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from chatbot import accounts as account_changes
from chatbot import security
from chatbot.api.deps import RowId, SessionDep
from chatbot.api.errors import documented
from chatbot.api.principals import PasswordNotConfirmed, Principal, StaffUser, confirm_own_password
from chatbot.api.ratelimit import RateLimited
from chatbot.api.schemas import answer_example
from chatbot.api.users import PasswordResetPublic, UserPublic
from chatbot.db import accounts
from chatbot.db.base import as_utc
from chatbot.db.models import ApiToken

router = APIRouter(prefix="/api/v1/staff/account", tags=["account"])
# Only the routes that check the password are throttled, and so may answer 429.
THROTTLED = documented(429)


class TokenPublic(BaseModel):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None = Field(description="Set once revoked: it opens nothing since.")

    @classmethod
    def of(cls, row: ApiToken) -> TokenPublic:
        return cls(
            id=row.id,
            name=row.name,
            created_at=as_utc(row.created_at),
            last_used_at=as_utc(row.last_used_at) if row.last_used_at else None,
            revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
        )


class TokenCreated(TokenPublic):
    token: str = Field(
        description="Send as 'Authorization: Bearer TOKEN'. Shown only in this answer."
    )


class TokenCreate(BaseModel):
    name: str = Field(max_length=200, description="What it is for: 1 to 100 characters.")
    password: str = Field(max_length=1024, description="Your current password, again.")


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024, description="At least 10 characters.")


EXAMPLE_TOKEN = {
    "id": 4,
    "name": "CRM sync",
    "created_at": "2026-11-30T09:15:00Z",
    "last_used_at": "2026-11-30T10:02:11Z",
    "revoked_at": None,
}


def _unprocessable(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


def _confirmed(
    request: Request, session: Session, principal: Principal, password: str, field: str
) -> None:
    try:
        confirm_own_password(request, session, principal, password)
    except PasswordNotConfirmed as refused:
        if refused.retry_after_s:
            raise RateLimited("password", refused.retry_after_s) from None
        raise _unprocessable(f"{field}: not your current password") from None


@router.get("", responses=answer_example({"id": 7, "email": "sam@shop.example", "role": "staff"}))
def read_account(principal: StaffUser) -> UserPublic:
    """Who the caller is: their account and role."""
    return UserPublic.of(principal.user)


@router.post(
    "/password",
    responses={**answer_example({"sessions_ended": True, "tokens_revoked": 1}), **THROTTLED},
)
def change_password(
    request: Request,
    body: Annotated[
        PasswordChange,
        Body(
            openapi_examples={
                "change": {
                    "value": {
                        "current_password": "the password I have",
                        "new_password": "a new long password",
                    }
                }
            }
        ),
    ],
    session: SessionDep,
    principal: StaffUser,
) -> PasswordResetPublic:
    """Change your own password (``user.password``). Every session ends and every API token is
    revoked, the one making this call too: mint a new one after."""
    # Before the current password is checked: a weak new one costs no attempt.
    problem = security.password_problem(body.new_password)
    if problem:
        raise _unprocessable(f"new_password: {problem}")
    _confirmed(request, session, principal, body.current_password, "current_password")
    revoked = account_changes.set_password(
        session, principal.user, principal.user, body.new_password
    )
    session.commit()
    return PasswordResetPublic(tokens_revoked=revoked)


@router.get("/tokens", responses=answer_example([EXAMPLE_TOKEN]))
def list_tokens(session: SessionDep, principal: StaffUser) -> list[TokenPublic]:
    """Your API tokens, revoked ones included (their secrets are never shown again)."""
    return [TokenPublic.of(row) for row in accounts.user_tokens(session, principal.user)]


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    responses={**answer_example({**EXAMPLE_TOKEN, "token": "cbt_..."}, 201), **THROTTLED},
)
def create_token(
    request: Request,
    body: Annotated[
        TokenCreate,
        Body(openapi_examples={"crm": {"value": {"name": "CRM sync", "password": "my password"}}}),
    ],
    session: SessionDep,
    principal: StaffUser,
) -> TokenCreated:
    """A new API token with your role (``token.create``); the answer holds it, once."""
    _confirmed(request, session, principal, body.password, "password")
    try:
        row, token = account_changes.create_token(
            session, principal.user, principal.user, body.name
        )
    except account_changes.AccountError as exc:
        session.rollback()
        raise _unprocessable(str(exc)) from None
    session.commit()
    return TokenCreated(**TokenPublic.of(row).model_dump(), token=token)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: RowId, session: SessionDep, principal: StaffUser) -> None:
    """Revoke one of your tokens (``token.revoke``); it stays listed, revoked."""
    if account_changes.revoke_token(session, principal.user, token_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"API token {token_id} not found")
    session.commit()
