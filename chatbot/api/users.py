"""Admin API: staff and admin accounts, as the console's Users page manages them.

Every change goes through chatbot/accounts.py, as the page's forms and the command line do, so
the rules (no admin disables or demotes themselves; an active admin always remains) and the audit
entries are the same. A refused field is 422 naming it; a refused rule is 409.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from chatbot import accounts as account_changes
from chatbot.api.deps import RowId, SessionDep
from chatbot.api.principals import AdminUser
from chatbot.api.schemas import answer_example
from chatbot.db import accounts
from chatbot.db.base import as_utc
from chatbot.db.models import User, UserRole

router = APIRouter(prefix="/api/v1/admin/users", tags=["users"])
Changed = TypeVar("Changed")
RoleName = Literal["staff", "admin"]


class UserPublic(BaseModel):
    id: int
    email: str
    name: str | None
    role: RoleName
    active: bool = Field(description="False: disabled, cannot sign in, API tokens revoked.")
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            role=user.role.value,
            active=user.is_active,
            created_at=as_utc(user.created_at),
            last_login_at=as_utc(user.last_login_at) if user.last_login_at else None,
        )


class UserCreate(BaseModel):
    email: str = Field(max_length=255)
    name: str = Field("", max_length=100, description="Shown to customers when they chat.")
    role: RoleName = "staff"
    password: str = Field(
        max_length=1024, description="The initial password: at least 10 characters."
    )


class UserUpdate(BaseModel):
    """Only the fields sent change."""

    role: RoleName | None = None
    active: bool | None = Field(
        None, description="false disables the account: its sessions end, its tokens are revoked."
    )


class PasswordReset(BaseModel):
    password: str = Field(max_length=1024, description="At least 10 characters.")


class PasswordResetPublic(BaseModel):
    sessions_ended: bool = True
    tokens_revoked: int = Field(description="How many of the user's API tokens were revoked.")


EXAMPLE_USER = {
    "id": 7,
    "email": "sam@shop.example",
    "name": "Sam",
    "role": "staff",
    "active": True,
    "created_at": "2026-11-30T09:15:00Z",
    "last_login_at": None,
}
CREATE_EXAMPLES: Any = {
    "staff": {
        "summary": "A staff member",
        "value": {
            "email": "sam@shop.example",
            "name": "Sam",
            "role": "staff",
            "password": "a long initial password",
        },
    }
}
UPDATE_EXAMPLES: Any = {
    "disable": {"summary": "Disable an account", "value": {"active": False}},
    "promote": {"summary": "Make someone an admin", "value": {"role": "admin"}},
}


def _user(session: Session, user_id: int) -> User:
    user = accounts.get_user(session, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"user {user_id} not found")
    return user


def _committed(session: Session, change: Callable[[], Changed]) -> Changed:
    """Run an account change and commit; a refusal leaves nothing written."""
    try:
        result = change()
    except account_changes.AccountError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except account_changes.ChangeRefused as exc:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    session.commit()
    return result


@router.get("", responses=answer_example([EXAMPLE_USER]))
def list_users(session: SessionDep, principal: AdminUser) -> list[UserPublic]:
    """Every account, by email."""
    return [UserPublic.of(user) for user in accounts.list_users(session)]


@router.post("", status_code=status.HTTP_201_CREATED, responses=answer_example(EXAMPLE_USER, 201))
def create_user(
    body: Annotated[UserCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    session: SessionDep,
    principal: AdminUser,
) -> UserPublic:
    """Add a staff member or admin with an initial password (audited as ``user.create``)."""
    user = _committed(
        session,
        lambda: account_changes.create_user(
            session,
            principal.user,
            body.email,
            body.password,
            UserRole(body.role),
            name=body.name,
        ),
    )
    return UserPublic.of(user)


@router.get("/{user_id}", responses=answer_example(EXAMPLE_USER))
def read_user(user_id: RowId, session: SessionDep, principal: AdminUser) -> UserPublic:
    """One account."""
    return UserPublic.of(_user(session, user_id))


@router.patch("/{user_id}", responses=answer_example(EXAMPLE_USER))
def update_user(
    user_id: RowId,
    body: Annotated[UserUpdate, Body(openapi_examples=UPDATE_EXAMPLES)],
    session: SessionDep,
    principal: AdminUser,
) -> UserPublic:
    """Change someone's role (``user.role``), or disable (``user.disable``) or enable
    (``user.enable``) their account. 409 for yourself, or when no active admin would remain."""
    user = _user(session, user_id)

    def change() -> None:
        if body.role is not None:
            account_changes.set_role(session, principal.user, user, UserRole(body.role))
        if body.active is not None:
            account_changes.set_active(session, principal.user, user, body.active)

    _committed(session, change)
    return UserPublic.of(user)


@router.post(
    "/{user_id}/password",
    responses=answer_example({"sessions_ended": True, "tokens_revoked": 2}),
)
def reset_password(
    user_id: RowId,
    body: Annotated[
        PasswordReset,
        Body(openapi_examples={"reset": {"value": {"password": "a new long password"}}}),
    ],
    session: SessionDep,
    principal: AdminUser,
) -> PasswordResetPublic:
    """Set someone else's password (``user.password``): their sessions end and their API tokens
    are revoked. Your own: ``POST /api/v1/staff/account/password``."""
    user = _user(session, user_id)
    revoked = _committed(
        session,
        lambda: account_changes.reset_password(session, principal.user, user, body.password),
    )
    return PasswordResetPublic(tokens_revoked=revoked)
