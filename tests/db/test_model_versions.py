"""The model registry: one active version, guaranteed by the database even under concurrency."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chatbot.db.model_versions import (
    ScopeRegression,
    activate,
    active_version_name,
    get_version,
    register_version,
    scope_regression,
)
from chatbot.db.models import ModelVersion
from chatbot.db.session import make_engine, make_session_factory, transaction

VERSIONS = ("v1", "v2", "v3")


def _register(session: Session) -> None:
    for version in VERSIONS:
        register_version(session, version=version, kind="fine-tuned", base_model="b")


def test_the_database_refuses_a_second_active_version(db_session: Session) -> None:
    _register(db_session)
    activate(db_session, get_version(db_session, "v1"))  # type: ignore[arg-type]
    second = get_version(db_session, "v2")
    assert second is not None
    second.is_active = True
    with pytest.raises(IntegrityError):
        db_session.flush()


def test_activating_moves_the_one_active_version(db_session: Session) -> None:
    _register(db_session)
    for version in ("v1", "v3", "v3", "v2"):
        activate(db_session, get_version(db_session, version))  # type: ignore[arg-type]
        assert active_version_name(db_session) == version


@pytest.mark.postgres
def test_concurrent_activations_leave_exactly_one_active(postgres_schema_url: str) -> None:
    engine = make_engine(postgres_schema_url)
    factory = make_session_factory(engine)
    try:
        with transaction(factory) as session:
            _register(session)
        errors: list[BaseException] = []
        start = threading.Barrier(len(VERSIONS))

        def keep_activating(version: str) -> None:
            try:
                start.wait(timeout=30)
                for _ in range(15):
                    with transaction(factory) as session:
                        activate(session, get_version(session, version))  # type: ignore[arg-type]
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=keep_activating, args=(v,)) for v in VERSIONS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        with factory() as session:
            active = session.scalar(
                select(func.count()).select_from(ModelVersion).where(ModelVersion.is_active)
            )
            assert active == 1
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_replicas_starting_together_register_one_base_model(postgres_schema_url: str) -> None:
    from chatbot.config import Settings
    from chatbot.runtime import build_manager
    from tests.fakes import HashingEncoder

    engine = make_engine(postgres_schema_url)
    factory = make_session_factory(engine)
    settings = Settings(database_url=postgres_schema_url)
    start = threading.Barrier(4)
    versions: list[str] = []
    errors: list[BaseException] = []

    def start_replica() -> None:
        try:
            start.wait(timeout=30)
            versions.append(build_manager(settings, HashingEncoder(), factory).engine.version)
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=start_replica) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        assert len(set(versions)) == 1 and len(versions) == 4
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(ModelVersion)) == 1
            assert active_version_name(session) == versions[0]
    finally:
        engine.dispose()


def _measured(session: Session, version: str, oos_recall: float | None) -> ModelVersion:
    metrics = {} if oos_recall is None else {"oos_recall": oos_recall}
    return register_version(
        session, version=version, kind="fine-tuned", base_model="b", metrics=metrics
    )


def test_a_version_catching_far_less_out_of_scope_is_a_scope_regression(
    db_session: Session,
) -> None:
    activate(db_session, _measured(db_session, "careful", 0.9))
    slightly_worse = _measured(db_session, "slightly", 0.81)
    much_worse = _measured(db_session, "eager", 0.4)
    unmeasured = _measured(db_session, "unmeasured", None)
    assert scope_regression(db_session, slightly_worse) is None  # 9 points: within the limit
    assert scope_regression(db_session, unmeasured) is None  # nothing to compare
    regression = scope_regression(db_session, much_worse)
    assert regression == ScopeRegression("eager", 0.4, "careful", 0.9)
    assert "50 points less than the active careful (90%)" in str(regression)
    # Once it serves, nothing is compared against itself.
    activate(db_session, much_worse)
    assert scope_regression(db_session, much_worse) is None
