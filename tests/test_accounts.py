"""The account service: its rules hold whoever acts (the command line too), a refusal writes
nothing, and each change leaves the one audit entry the consoles and the API rely on."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy.orm import Session

from chatbot import accounts as account_changes
from chatbot.db import accounts, audit
from chatbot.db.models import User, UserRole
from chatbot.db.session import make_engine, make_session_factory

PASSWORD = "correct horse battery"


def test_the_last_active_admin_can_be_neither_disabled_nor_demoted(db_session: Session) -> None:
    ada = account_changes.create_user(db_session, None, "ada@example.com", PASSWORD, UserRole.ADMIN)
    with pytest.raises(account_changes.ChangeRefused) as disabled:
        account_changes.set_active(db_session, None, ada, False)
    assert disabled.value.reason == account_changes.LAST_ADMIN
    with pytest.raises(account_changes.ChangeRefused):
        account_changes.set_role(db_session, None, ada, UserRole.STAFF)
    assert ada.is_active and ada.role is UserRole.ADMIN
    assert [e.action for e in audit.list_entries(db_session)] == ["user.create"]
    # With a second admin, either may go.
    account_changes.create_user(db_session, None, "bo@example.com", PASSWORD, UserRole.ADMIN)
    account_changes.set_role(db_session, None, ada, UserRole.STAFF)
    assert ada.role is UserRole.STAFF


def test_two_admins_disabling_each_other_at_once_leave_one_admin(db_url: str) -> None:
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            for email in ("ada@example.com", "bo@example.com"):
                account_changes.create_user(session, None, email, PASSWORD, UserRole.ADMIN)
            session.commit()

        def admin(session: Session, email: str) -> User:
            user = accounts.get_user_by_email(session, email)
            assert user is not None
            return user

        outcome: list[str] = []

        def bo_disables_ada() -> None:
            with sessions() as session:
                bo = admin(session, "bo@example.com")  # waits for Ada's transaction to end
                try:
                    account_changes.set_active(
                        session, bo, admin(session, "ada@example.com"), False
                    )
                except account_changes.ChangeRefused as refused:
                    outcome.append(refused.reason)
                session.commit()

        with sessions() as session:
            ada = admin(session, "ada@example.com")
            account_changes.set_active(session, ada, admin(session, "bo@example.com"), False)
            other = threading.Thread(target=bo_disables_ada)
            other.start()
            time.sleep(0.5)  # Bo's change is under way, behind Ada's
            session.commit()
        other.join(timeout=30)
        assert outcome == [account_changes.LAST_ADMIN]
        with sessions() as session:
            assert accounts.count_active_admins(session) == 1
    finally:
        engine.dispose()


def test_enabling_a_disabled_admin_counts_them_again(db_session: Session) -> None:
    ada = account_changes.create_user(db_session, None, "ada@example.com", PASSWORD, UserRole.ADMIN)
    bo = account_changes.create_user(db_session, None, "bo@example.com", PASSWORD, UserRole.ADMIN)
    account_changes.set_active(db_session, None, bo, False)
    assert accounts.count_active_admins(db_session) == 1
    account_changes.set_active(db_session, None, bo, True)
    account_changes.set_active(db_session, ada, ada, True)  # enabling oneself is no refusal
    assert accounts.count_active_admins(db_session, besides=ada.id) == 1


def test_the_command_line_is_audited_without_an_actor(db_session: Session) -> None:
    sam = account_changes.create_user(db_session, None, "sam@example.com", PASSWORD, name="Sam")
    row, token = account_changes.create_token(db_session, None, sam, "crm")
    revoked = account_changes.set_password(db_session, None, sam, "another long password")
    assert revoked == 1 and accounts.user_for_api_token(db_session, token) is None
    entries = [(e.actor, e.action, e.target, e.after) for e in audit.list_entries(db_session)]
    assert entries == [
        (None, "user.password", sam.email, {"sessions_ended": True, "tokens_revoked": 1}),
        (None, "token.create", "crm", {"id": row.id, "user": sam.email}),
        (
            None,
            "user.create",
            sam.email,
            {"email": sam.email, "name": "Sam", "role": "staff", "active": True},
        ),
    ]


def test_a_role_must_be_named_exactly() -> None:
    with pytest.raises(account_changes.AccountError, match=r"^role: 'owner' is not a role"):
        account_changes.role("owner")
