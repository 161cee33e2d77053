"""The whole OpenAPI schema fuzzed by schemathesis, as a customer, a staff member and an admin:
no answer is a 5xx, and every answer is what the schema says (status, content type, headers,
body).

Each operation gets a bounded number of generated requests per caller, valid ones and ones the
schema forbids, with the path's conversation id sometimes the customer's real one, so the rules
behind the parsers run too. It runs in about a minute on two cores (EXAMPLES bounds it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi import checks as openapi_checks

from chatbot.config import Settings
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.db.training_runs import create_run
from chatbot.main import create_app
from tests.api.conftest import ADMIN_EMAIL, KNOWLEDGE, STAFF_EMAIL, add_account, store_knowledge
from tests.fakes import HashingEncoder

ACCOUNT_CHANGES = ("/api/v1/admin/users", "/api/v1/staff/account")
EXAMPLES = 8  # per operation, caller and mode: enough to find each bug below in one run
CHECKS = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]


@dataclass(frozen=True)
class Caller:
    role: str
    token: str


@pytest.fixture
def fuzzed_app(db_url: str, tmp_path: Path) -> Iterator[tuple[Any, list[Caller], str]]:
    """The app's schema (limits off, so the fuzzer reaches the routes), its callers, and a
    conversation id."""
    store_knowledge(db_url, KNOWLEDGE)
    # A queued run: the admin's "train" answers 409 rather than fine-tune a real model here.
    engine = make_engine(db_url)
    with transaction(make_session_factory(engine)) as session:
        create_run(session, config={}, device="cpu")
    engine.dispose()
    staff, admin = add_account(db_url, STAFF_EMAIL), add_account(db_url, ADMIN_EMAIL, "admin")
    settings_ = Settings(database_url=db_url, data_dir=tmp_path, rate_limits_enabled=False)
    app = create_app(settings_, encoder=HashingEncoder())
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the lifespan
        started = asgi.get_client(app).post(f"http://{asgi.HOST}/api/v1/conversations")
        assert started.status_code == 201, started.text
        conversation = started.json()
        callers = [
            Caller("customer", conversation["token"]),
            Caller("staff", staff),
            Caller("admin", admin),
        ]
        yield schema, callers, conversation["id"]
    finally:
        asgi.shutdown_lifespans()  # schemathesis started the app's lifespan; end it here


def _failure(label: str, caller: Caller, error: BaseException) -> str:
    first = str(error).strip().splitlines()
    return f"{label} as {caller.role}: {type(error).__name__}: {' | '.join(first[:12])}"


def test_every_operation_answers_as_its_schema_says(
    fuzzed_app: tuple[Any, list[Caller], str],
) -> None:
    schema, callers, conversation_id = fuzzed_app
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 25  # the whole API, not a part that happened to load
    # Last: these may revoke a caller's own token or disable the staff caller, after which the
    # operations still to come would only ever answer 401.
    operations.sort(key=lambda operation: operation.path.startswith(ACCOUNT_CHANGES))

    for operation in operations:
        label = operation.label
        pinned: dict[str, Any] = {}
        if "{conversation_id}" in operation.path:
            pinned = {"conversation_id": conversation_id}
        for caller in callers:
            headers = {"Authorization": f"Bearer {caller.token}"}
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategies = [operation.as_strategy(generation_mode=mode)]
                if pinned and mode is GenerationMode.POSITIVE:
                    strategies.append(
                        operation.as_strategy(generation_mode=mode, path_parameters=pinned)
                    )
                for strategy in strategies:
                    failures.extend(_fuzz(strategy, label, caller, headers))

    assert not failures, "\n".join(sorted(set(failures)))


def _fuzz(strategy: Any, label: str, caller: Caller, headers: dict[str, str]) -> list[str]:
    found: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests every run: CI fails on a bug, not on luck
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        try:
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:  # schemathesis' failure groups are BaseExceptionGroups
            found.append(_failure(label, caller, error))

    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (no parameters)
        run()
    return found
