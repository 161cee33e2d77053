"""Staff accounts, sessions, API tokens and sign-in throttling: the only writer of these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from chatbot import security
from chatbot.db.base import as_utc, utcnow
from chatbot.db.models import ApiToken, LoginAttempt, User, UserRole, WebSession

SESSION_LIFETIME = timedelta(hours=12)
# Throttling: this many failed sign-ins for one email, or from one address, within the window
# lock further attempts until the oldest failure leaves the window.
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_ADDRESS = 20
THROTTLE_WINDOW = timedelta(minutes=15)


class AccountError(ValueError):
    """A refused account change; the message names the field."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_email(email: str) -> str:
    email = normalise_email(email)
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > 255 or " " in email:
        raise AccountError(f"email: '{email}' is not an email address")
    return email


def create_user(
    session: Session,
    email: str,
    password: str,
    role: UserRole = UserRole.STAFF,
    *,
    name: str | None = None,
) -> User:
    email = check_email(email)
    if get_user_by_email(session, email) is not None:
        raise AccountError(f"email: an account for {email} already exists")
    problem = security.password_problem(password)
    if problem:
        raise AccountError(f"password: {problem}")
    user = User(
        email=email,
        name=(name or "").strip() or None,
        password_hash=security.hash_password(password),
        role=role,
        password_changed_at=utcnow(),
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.email)).all()


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def set_password(session: Session, user: User, password: str) -> None:
    """Set a new password and sign the user out everywhere else."""
    problem = security.password_problem(password)
    if problem:
        raise AccountError(f"password: {problem}")
    user.password_hash = security.hash_password(password)
    user.password_changed_at = utcnow()
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()


def set_role(session: Session, user: User, role: UserRole) -> None:
    user.role = role
    session.flush()


def set_active(session: Session, user: User, active: bool) -> None:
    """Disable or re-enable an account; disabling ends its sessions and revokes its tokens."""
    user.is_active = active
    if not active:
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        for token in user_tokens(session, user):
            token.revoked_at = token.revoked_at or utcnow()
    session.flush()


# ---- signing in


def login_throttled(
    session: Session, email: str, address: str, now: datetime | None = None
) -> bool:
    """Whether too many recent failures lock this email or this address out for now."""
    since = (now or utcnow()) - THROTTLE_WINDOW
    failures = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False))
    )
    by_email = session.scalar(failures.where(LoginAttempt.email == normalise_email(email))) or 0
    by_address = session.scalar(failures.where(LoginAttempt.address == address)) or 0
    return by_email >= MAX_FAILURES_PER_EMAIL or by_address >= MAX_FAILURES_PER_ADDRESS


def authenticate(session: Session, email: str, password: str, address: str) -> User | None:
    """The active user with this email and password, or None; every attempt is recorded."""
    user = get_user_by_email(session, email)
    ok = security.verify_password(user.password_hash if user else None, password)
    ok = ok and user is not None and user.is_active
    session.add(
        LoginAttempt(email=normalise_email(email)[:255], address=address[:64], succeeded=ok)
    )
    if not ok or user is None:
        session.flush()
        return None
    if security.needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    user.last_login_at = utcnow()
    session.flush()
    return user


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie's token (not stored) and the session row."""

    token: str
    session: WebSession


def start_session(session: Session, user: User) -> SignedIn:
    token = security.new_token()
    now = utcnow()
    row = WebSession(
        id=security.token_digest(token),
        user_id=user.id,
        csrf_token=security.new_token(),
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(row)
    # Expired sessions go when someone signs in: no sweeper needed.
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.flush()
    return SignedIn(token, row)


def session_for_token(session: Session, token: str) -> WebSession | None:
    """The live session of this cookie token, for an active user; extends its lifetime."""
    row = session.get(WebSession, security.token_digest(token))
    now = utcnow()
    if row is None or as_utc(row.expires_at) <= now or not row.user.is_active:
        return None
    # Sliding expiry, written at most once a minute to keep reads cheap.
    if now - as_utc(row.last_seen_at) > timedelta(minutes=1):
        row.last_seen_at = now
        row.expires_at = now + SESSION_LIFETIME
        session.flush()
    return row


def end_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id == security.token_digest(token)))
    session.flush()


# ---- API tokens


def create_api_token(session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the token, which is shown only this once."""
    name = name.strip()
    if not name or len(name) > 100:
        raise AccountError("name: give the token a name of 1-100 characters")
    token = security.new_token(security.API_TOKEN_PREFIX)
    row = ApiToken(user_id=user.id, name=name, token_hash=security.token_digest(token))
    session.add(row)
    session.flush()
    return row, token


def user_tokens(session: Session, user: User) -> Sequence[ApiToken]:
    return session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    ).all()


def user_for_api_token(session: Session, token: str) -> User | None:
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == security.token_digest(token))
    )
    if row is None or row.revoked_at is not None or not row.user.is_active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - as_utc(row.last_used_at) > timedelta(minutes=1):
        row.last_used_at = now
        session.flush()
    return row.user


def revoke_api_token(session: Session, user: User, token_id: int) -> bool:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        return False
    row.revoked_at = row.revoked_at or utcnow()
    session.flush()
    return True
