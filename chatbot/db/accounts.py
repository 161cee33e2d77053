"""Staff accounts, sessions, API tokens and sign-in throttling: the only writer of these."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from chatbot import security
from chatbot.db.base import as_utc, utcnow
from chatbot.db.models import ApiToken, LoginAttempt, LoginThrottle, User, UserRole, WebSession

SESSION_LIFETIME = timedelta(hours=12)
# Throttling by delay, never a hard lock-out. Failed sign-ins are counted per (email, address),
# so someone guessing a colleague's password from elsewhere does not lock the colleague out, and
# per address across every email (password spraying). Past the free failures, each further
# failure makes the next attempt from there wait twice as long as the last, up to the cap.
FREE_FAILURES_PER_EMAIL = 5
FREE_FAILURES_PER_ADDRESS = 20
FIRST_DELAY = timedelta(seconds=15)
MAX_DELAY = timedelta(minutes=15)
# Failures older than this (counted from the last one) are forgotten.
FAILURES_FORGOTTEN_AFTER = timedelta(hours=1)
ANY_EMAIL = ""  # the email of the per-address row


class AccountError(ValueError):
    """A refused account change; the message names the field."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_email(email: str) -> str:
    email = normalise_email(email)
    local, at, domain = email.partition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(email) > 255
        or " " in email
        or not email.isprintable()  # PostgreSQL refuses NUL: a 500 where this is a 422
    ):
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
    name = (name or "").strip()
    if len(name) > 100 or not name.isprintable():
        raise AccountError("name: at most 100 characters, without control characters")
    problem = security.password_problem(password)
    if problem:
        raise AccountError(f"password: {problem}")
    user = User(
        email=email,
        name=name or None,
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


def count_active_admins(session: Session, *, besides: int | None = None) -> int:
    """How many active admin accounts there are, leaving out the user ``besides``.

    Every active admin's row stays locked until the transaction ends (PostgreSQL; SQLite has
    one writer at a time anyway): two admins disabling each other at once are then counted one
    after the other, and the second finds no admin left besides themselves.
    """
    query = (
        select(User.id)
        .where(User.role == UserRole.ADMIN, User.is_active.is_(True))
        .with_for_update()
    )
    return sum(1 for user_id in session.scalars(query) if user_id != besides)


def set_password(session: Session, user: User, password: str) -> int:
    """Set a new password and sign the user out everywhere: every session ends and every API
    token is revoked (a token minted by whoever knew the old password must not outlive it).
    Returns how many tokens were revoked."""
    problem = security.password_problem(password)
    if problem:
        raise AccountError(f"password: {problem}")
    user.password_hash = security.hash_password(password)
    user.password_changed_at = utcnow()
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    revoked = _revoke_tokens(session, user)
    session.flush()
    return revoked


def _revoke_tokens(session: Session, user: User) -> int:
    live = [token for token in user_tokens(session, user) if token.revoked_at is None]
    for token in live:
        token.revoked_at = utcnow()
    return len(live)


def set_role(session: Session, user: User, role: UserRole) -> None:
    user.role = role
    session.flush()


def set_active(session: Session, user: User, active: bool) -> None:
    """Disable or re-enable an account; disabling ends its sessions and revokes its tokens."""
    user.is_active = active
    if not active:
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        _revoke_tokens(session, user)
    session.flush()


# ---- signing in


def _throttle_keys(email: str, address: str) -> list[tuple[str, str, int]]:
    # The address's row first: every attempt locks rows in this one order, so none deadlock.
    email, address = normalise_email(email)[:255], address[:64]
    keys = [(ANY_EMAIL, address, FREE_FAILURES_PER_ADDRESS)]
    if email != ANY_EMAIL:  # an empty email is no account: the address's count is enough
        keys.append((email, address, FREE_FAILURES_PER_EMAIL))
    return keys


def _locked_throttle(session: Session, email: str, address: str, now: datetime) -> LoginThrottle:
    """The throttle row of (email, address), created if missing, locked until commit."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(LoginThrottle)
        .values(email=email, address=address, failures=0, last_failure_at=now)
        .on_conflict_do_nothing()
    )
    # PostgreSQL: FOR UPDATE waits for a parallel attempt's transaction and then reads its
    # count. SQLite: the insert above already took the database's write lock.
    return session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.email == email, LoginThrottle.address == address)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _delay(failures: int, free: int) -> timedelta:
    return min(FIRST_DELAY * 2 ** min(failures - free, 16), MAX_DELAY)


def start_attempt(session: Session, email: str, address: str, now: datetime | None = None) -> int:
    """Count a sign-in attempt before its password is checked: 0 if it may go ahead, else the
    seconds until one may.

    The attempt counts as a failure until ``authenticate`` says otherwise, and the caller commits
    before checking the password (slow on purpose), so parallel attempts queue only for this
    count and cannot all pass it: at most the free failures are ever checked at once.
    """
    now = now or utcnow()
    keys = _throttle_keys(email, address)
    rows = [(_locked_throttle(session, e, a, now), free) for e, a, free in keys]
    waits = [
        as_utc(row.blocked_until) - now
        for row, _free in rows
        if row.blocked_until is not None and as_utc(row.blocked_until) > now
    ]
    if waits:
        return max(1, math.ceil(max(waits).total_seconds()))
    for row, free in rows:
        if now - as_utc(row.last_failure_at) > FAILURES_FORGOTTEN_AFTER:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= free:
            row.blocked_until = now + _delay(row.failures, free)
    session.flush()
    return 0


def _attempt_succeeded(session: Session, email: str, address: str) -> None:
    by_address, *by_email = _throttle_keys(email, address)
    # This email from this address starts afresh; the address gets back the failure it was
    # charged (not more: signing in to one's own account must not clear a spraying record).
    for key_email, key_address, _free in by_email:
        session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.email == key_email, LoginThrottle.address == key_address
            )
        )
    row = session.get(LoginThrottle, (by_address[0], by_address[1]))
    if row is not None:
        row.failures = max(0, row.failures - 1)
        if row.failures < by_address[2]:
            row.blocked_until = None


def authenticate(session: Session, email: str, password: str, address: str) -> User | None:
    """The active user with this email and password, or None; every attempt is recorded.

    Call ``start_attempt`` (and commit) first: a success here refunds what it charged.
    """
    user = get_user_by_email(session, email)
    ok = security.verify_password(user.password_hash if user else None, password)
    ok = ok and user is not None and user.is_active
    session.add(
        LoginAttempt(email=normalise_email(email)[:255], address=address[:64], succeeded=ok)
    )
    if not ok or user is None:
        session.flush()
        return None
    _attempt_succeeded(session, email, address)
    if security.needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    user.last_login_at = utcnow()
    session.flush()
    return user


def confirm_password(session: Session, user: User, password: str, address: str) -> bool:
    """Whether ``password`` is the signed-in user's, re-entered before a sensitive change
    (a new password, a new API token). Counted like a sign-in: call ``start_attempt`` first, so
    a stolen session cannot guess the password at full speed."""
    ok = security.verify_password(user.password_hash, password)
    session.add(LoginAttempt(email=user.email, address=address[:64], succeeded=ok))
    if ok:
        _attempt_succeeded(session, user.email, address)
    session.flush()
    return ok


def purge_login_records(session: Session, retention: timedelta, now: datetime | None = None) -> int:
    """Delete sign-in attempts older than ``retention`` and throttle rows nothing reads any
    more; returns how many attempts went."""
    now = now or utcnow()
    forgotten = now - FAILURES_FORGOTTEN_AFTER - MAX_DELAY
    session.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < forgotten))
    attempts = session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - retention))
    session.flush()
    return int(getattr(attempts, "rowcount", 0) or 0)


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
    if not name or len(name) > 100 or not name.isprintable():
        raise AccountError("name: give the token a name of 1-100 printable characters")
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


def revoke_api_token(session: Session, user: User, token_id: int) -> ApiToken | None:
    """Revoke one of ``user``'s tokens (again is no error); None if they have no such token."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        return None
    row.revoked_at = row.revoked_at or utcnow()
    session.flush()
    return row
