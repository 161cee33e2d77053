"""Sign-in throttling: by delay per (email, address) and per address, counted atomically, with
old attempts purged."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chatbot.db import accounts
from chatbot.db.base import utcnow
from chatbot.db.models import LoginAttempt, LoginThrottle
from chatbot.db.session import make_engine, make_session_factory

PASSWORD = "correct horse battery"
SAM = "sam@example.com"


def attempt(session: Session, email: str, password: str, address: str) -> int | bool:
    """One sign-in as the form makes it: the wait in seconds if refused, else whether it worked."""
    wait = accounts.start_attempt(session, email, address)
    if wait:
        return wait
    return accounts.authenticate(session, email, password, address) is not None


def test_failures_delay_only_that_email_from_that_address(db_session: Session) -> None:
    accounts.create_user(db_session, SAM, PASSWORD)
    free = accounts.FREE_FAILURES_PER_EMAIL
    assert [attempt(db_session, SAM, "wrong", "10.0.0.1") for _ in range(free)] == [False] * free
    wait = attempt(db_session, "SAM@example.com", PASSWORD, "10.0.0.1")
    assert wait == accounts.FIRST_DELAY.total_seconds()  # even the right password waits
    # Sam, elsewhere, is not locked out by someone guessing from 10.0.0.1.
    assert attempt(db_session, SAM, PASSWORD, "10.0.0.2") is True
    assert attempt(db_session, "other@example.com", "wrong", "10.0.0.1") is False


def test_each_failure_past_the_free_ones_doubles_the_wait_up_to_the_cap(
    db_session: Session,
) -> None:
    accounts.create_user(db_session, SAM, PASSWORD)
    now = utcnow()
    waits = []
    for _ in range(24):
        wait = accounts.start_attempt(db_session, SAM, "10.0.0.1", now=now)
        if not wait:
            accounts.authenticate(db_session, SAM, "wrong", "10.0.0.1")
            continue
        waits.append(wait)
        now += timedelta(seconds=wait)  # waits it out, then tries again
    first = int(accounts.FIRST_DELAY.total_seconds())
    cap = int(accounts.MAX_DELAY.total_seconds())
    assert waits[:4] == [first, first * 2, first * 4, first * 8]
    assert max(waits) == cap


def test_a_success_clears_that_email_and_address_but_refunds_the_address_only_once(
    db_session: Session,
) -> None:
    accounts.create_user(db_session, SAM, PASSWORD)
    for _ in range(accounts.FREE_FAILURES_PER_EMAIL - 1):
        attempt(db_session, SAM, "wrong", "10.0.0.1")
    assert attempt(db_session, SAM, PASSWORD, "10.0.0.1") is True
    assert db_session.get(LoginThrottle, (SAM, "10.0.0.1")) is None
    by_address = db_session.get(LoginThrottle, (accounts.ANY_EMAIL, "10.0.0.1"))
    assert by_address is not None
    assert by_address.failures == accounts.FREE_FAILURES_PER_EMAIL - 1


def test_many_emails_from_one_address_are_delayed_as_spraying(db_session: Session) -> None:
    for n in range(accounts.FREE_FAILURES_PER_ADDRESS):
        assert attempt(db_session, f"user{n}@example.com", "wrong", "10.9.9.9") is False
    assert attempt(db_session, "new@example.com", "wrong", "10.9.9.9") > 0
    assert attempt(db_session, "new@example.com", "wrong", "10.9.9.8") is False


def test_an_empty_email_counts_once_against_the_address(db_session: Session) -> None:
    assert attempt(db_session, "", "wrong", "10.0.0.9") is False
    row = db_session.get(LoginThrottle, (accounts.ANY_EMAIL, "10.0.0.9"))
    assert row is not None and row.failures == 1


def test_failures_are_forgotten_after_a_quiet_hour(db_session: Session) -> None:
    accounts.create_user(db_session, SAM, PASSWORD)
    start = utcnow()
    for _ in range(accounts.FREE_FAILURES_PER_EMAIL - 1):
        accounts.start_attempt(db_session, SAM, "10.0.0.1", now=start)
    later = start + accounts.FAILURES_FORGOTTEN_AFTER + timedelta(seconds=1)
    assert accounts.start_attempt(db_session, SAM, "10.0.0.1", now=later) == 0
    row = db_session.get(LoginThrottle, (SAM, "10.0.0.1"))
    assert row is not None and row.failures == 1 and row.blocked_until is None


def test_old_attempts_and_idle_throttles_are_purged(db_session: Session) -> None:
    now = utcnow()
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    db_session.add_all(
        [
            LoginAttempt(email=SAM, address="10.0.0.1", succeeded=False, at=old),
            LoginAttempt(email=SAM, address="10.0.0.1", succeeded=True, at=recent),
        ]
    )
    accounts.start_attempt(db_session, SAM, "10.0.0.1", now=old)
    accounts.start_attempt(db_session, "ann@example.com", "10.0.0.2", now=now)
    assert accounts.purge_login_records(db_session, timedelta(days=30), now=now) == 1
    assert [a.at.date() for a in db_session.scalars(select(LoginAttempt))] == [recent.date()]
    kept = {(t.email, t.address) for t in db_session.scalars(select(LoginThrottle))}
    assert kept == {("ann@example.com", "10.0.0.2"), (accounts.ANY_EMAIL, "10.0.0.2")}


# ---- parallel attempts: the count is atomic


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "db_url" if request.param == "sqlite" else "postgres_schema_url"
    url: str = request.getfixturevalue(fixture)
    return url


def test_parallel_wrong_passwords_check_no_more_than_the_free_failures(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            accounts.create_user(session, SAM, PASSWORD)
            session.commit()
        parallel = 12
        ready = threading.Barrier(parallel)
        outcomes: list[int | bool] = []

        def guess() -> None:
            with sessions() as session:
                ready.wait()
                wait = accounts.start_attempt(session, SAM, "10.0.0.1")
                session.commit()  # as the sign-in route does, before the password check
                outcome = wait or accounts.authenticate(session, SAM, "wrong", "10.0.0.1")
                session.commit()
                outcomes.append(outcome if isinstance(outcome, int) else False)

        threads = [threading.Thread(target=guess) for _ in range(parallel)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        checked = [o for o in outcomes if o is False]
        refused = [o for o in outcomes if o is not False]
        assert len(checked) == accounts.FREE_FAILURES_PER_EMAIL, outcomes
        assert len(refused) == parallel - accounts.FREE_FAILURES_PER_EMAIL
        with sessions() as session:
            row = session.get(LoginThrottle, (SAM, "10.0.0.1"))
            assert row is not None and row.failures == accounts.FREE_FAILURES_PER_EMAIL
            recorded = session.scalar(select(func.count()).select_from(LoginAttempt))
            assert recorded == accounts.FREE_FAILURES_PER_EMAIL
    finally:
        engine.dispose()
