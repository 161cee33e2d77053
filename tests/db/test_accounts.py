"""Accounts: password hashing, sessions, API tokens and sign-in throttling at the database level."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from chatbot.db import accounts
from chatbot.db.base import utcnow
from chatbot.db.models import UserRole

PASSWORD = "correct horse battery"


def test_a_password_is_stored_as_an_argon2_hash_and_verified(db_session: Session) -> None:
    user = accounts.create_user(db_session, " Sam@Example.COM ", PASSWORD, UserRole.STAFF)
    assert user.email == "sam@example.com"
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert accounts.authenticate(db_session, "SAM@example.com", PASSWORD, "1.2.3.4") is user
    assert accounts.authenticate(db_session, "sam@example.com", PASSWORD + "x", "1.2.3.4") is None


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [
        ("not-an-email", PASSWORD, "email"),
        ("a@b", PASSWORD, "email"),
        ("sam@example.com", "short", "password"),
    ],
)
def test_bad_account_details_are_refused_naming_the_field(
    db_session: Session, email: str, password: str, field: str
) -> None:
    with pytest.raises(accounts.AccountError, match=f"^{field}:"):
        accounts.create_user(db_session, email, password)
    assert accounts.count_users(db_session) == 0


def test_an_email_has_one_account(db_session: Session) -> None:
    accounts.create_user(db_session, "sam@example.com", PASSWORD)
    with pytest.raises(accounts.AccountError, match="already exists"):
        accounts.create_user(db_session, "SAM@example.com", PASSWORD)


def test_a_disabled_account_cannot_sign_in_and_loses_its_sessions_and_tokens(
    db_session: Session,
) -> None:
    user = accounts.create_user(db_session, "sam@example.com", PASSWORD)
    signed_in = accounts.start_session(db_session, user)
    _row, token = accounts.create_api_token(db_session, user, "crm")
    accounts.set_active(db_session, user, False)
    assert accounts.authenticate(db_session, "sam@example.com", PASSWORD, "x") is None
    assert accounts.session_for_token(db_session, signed_in.token) is None
    assert accounts.user_for_api_token(db_session, token) is None


def test_sessions_expire_and_end(db_session: Session) -> None:
    user = accounts.create_user(db_session, "sam@example.com", PASSWORD)
    first = accounts.start_session(db_session, user)
    second = accounts.start_session(db_session, user)
    assert accounts.session_for_token(db_session, first.token) is first.session
    assert first.session.id != first.token  # only the token's digest is stored
    accounts.end_session(db_session, first.token)
    assert accounts.session_for_token(db_session, first.token) is None
    second.session.expires_at = utcnow() - timedelta(seconds=1)
    assert accounts.session_for_token(db_session, second.token) is None


def test_a_new_password_signs_out_every_session(db_session: Session) -> None:
    user = accounts.create_user(db_session, "sam@example.com", PASSWORD)
    signed_in = accounts.start_session(db_session, user)
    accounts.set_password(db_session, user, "another long password")
    assert accounts.session_for_token(db_session, signed_in.token) is None
    assert accounts.authenticate(db_session, "sam@example.com", "another long password", "x")


def test_api_tokens_are_stored_hashed_and_can_be_revoked(db_session: Session) -> None:
    user = accounts.create_user(db_session, "sam@example.com", PASSWORD)
    row, token = accounts.create_api_token(db_session, user, "crm")
    assert token.startswith("cbt_") and token not in row.token_hash
    assert accounts.user_for_api_token(db_session, token) is user
    assert accounts.user_for_api_token(db_session, token + "x") is None
    assert accounts.revoke_api_token(db_session, user, row.id)
    assert accounts.user_for_api_token(db_session, token) is None
