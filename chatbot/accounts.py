"""Account changes as one place does them: who may make them, the change, its audit entry.

The command line, the console's forms and the JSON API all call these, so a rule (an admin
cannot disable their own account; an active admin must remain) or an audit entry cannot differ
between them. Each works in the caller's transaction and leaves the commit to it: a refused
change raises before anything is written. ``by`` is who acts: None for the command line, which
the audit log records without an actor.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from chatbot.db import accounts, audit
from chatbot.db.models import ApiToken, User, UserRole

AccountError = accounts.AccountError

# Why a change is refused, in English; the console translates them
# (chatbot/web/i18n/zh/console.json).
OWN_ACCOUNT = "You cannot disable your own account."
OWN_ROLE = "You cannot remove your own admin role."
OWN_PASSWORD = "Change your own password on the Account page."
LAST_ADMIN = "At least one active admin must remain."
RULES = (OWN_ACCOUNT, OWN_ROLE, OWN_PASSWORD, LAST_ADMIN)


class ChangeRefused(Exception):
    """A well-formed change the accounts' rules forbid; ``reason`` is one of RULES."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _actor(by: User | None) -> str | None:
    return by.email if by is not None else None


def role(value: str) -> UserRole:
    """The role named ``value``; AccountError naming the field otherwise."""
    try:
        return UserRole(value)
    except ValueError:
        raise AccountError(f"role: '{value}' is not a role (staff or admin)") from None


def create_user(
    session: Session,
    by: User | None,
    email: str,
    password: str,
    role: UserRole = UserRole.STAFF,
    *,
    name: str | None = None,
) -> User:
    """A new account with its initial password; AccountError names a refused field."""
    user = accounts.create_user(session, email, password, role, name=name)
    audit.record(
        session,
        _actor(by),
        "user.create",
        user.email,
        after={"email": user.email, "name": user.name, "role": user.role.value, "active": True},
    )
    return user


def set_password(session: Session, by: User | None, user: User, password: str) -> int:
    """A new password for ``user``: their sessions end and their API tokens are revoked.
    Returns how many tokens were revoked. The audit entry says that it changed, never what to."""
    revoked = accounts.set_password(session, user, password)
    audit.record(
        session,
        _actor(by),
        "user.password",
        user.email,
        after={"sessions_ended": True, "tokens_revoked": revoked},
    )
    return revoked


def reset_password(session: Session, by: User, user: User, password: str) -> int:
    """An admin sets someone else's password (their own takes the current one: the Account
    page), as :func:`set_password`."""
    if user.id == by.id:
        raise ChangeRefused("user", OWN_PASSWORD)
    return set_password(session, by, user, password)


def _check_an_admin_remains(session: Session, user: User, role: UserRole, active: bool) -> None:
    # Checked before the change, so that a refusal leaves nothing to roll back.
    if role is UserRole.ADMIN and active:
        return
    if accounts.count_active_admins(session, besides=user.id) == 0:
        raise ChangeRefused("role" if active else "active", LAST_ADMIN)


def set_active(session: Session, by: User | None, user: User, active: bool) -> None:
    """Disable an account (its sessions end, its tokens are revoked) or let it sign in again."""
    if not active and by is not None and user.id == by.id:
        raise ChangeRefused("active", OWN_ACCOUNT)
    _check_an_admin_remains(session, user, user.role, active)
    was_active = user.is_active
    accounts.set_active(session, user, active)
    audit.record(
        session,
        _actor(by),
        "user.enable" if active else "user.disable",
        user.email,
        before={"active": was_active},
        after={"active": active},
    )


def set_role(session: Session, by: User | None, user: User, role: UserRole) -> None:
    """Make ``user`` staff or admin; audited only when the role really changes."""
    if by is not None and user.id == by.id and role is not UserRole.ADMIN:
        raise ChangeRefused("role", OWN_ROLE)
    _check_an_admin_remains(session, user, role, user.is_active)
    old_role = user.role
    accounts.set_role(session, user, role)
    if old_role is not role:
        audit.record(
            session,
            _actor(by),
            "user.role",
            user.email,
            before={"role": old_role.value},
            after={"role": role.value},
        )


def create_token(session: Session, by: User | None, user: User, name: str) -> tuple[ApiToken, str]:
    """A new API token for ``user``: the row and the token, which is shown only this once."""
    row, token = accounts.create_api_token(session, user, name)
    audit.record(
        session, _actor(by), "token.create", row.name, after={"id": row.id, "user": user.email}
    )
    return row, token


def revoke_token(session: Session, by: User, token_id: int) -> ApiToken | None:
    """Revoke one of ``by``'s own tokens; None when they have none with this id."""
    row = accounts.revoke_api_token(session, by, token_id)
    if row is not None:
        audit.record(session, by.email, "token.revoke", str(token_id))
    return row
