"""The app on a test database of its own with a tiny knowledge base, and the fake encoder."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from chatbot.config import Settings
from chatbot.db import accounts, audit
from chatbot.db.audit import list_entries
from chatbot.db.knowledge import import_intents, knowledge_revision, load_intents
from chatbot.db.models import ApiToken, UserRole
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.knowledge.spec import IntentSpec
from chatbot.main import create_app
from chatbot.security import token_digest
from tests.fakes import HashingEncoder

RETURNS_QUESTION = "How do I return an item?"  # answered outright with the default thresholds
OFF_TOPIC = "do you offer gift wrapping"  # matches nothing: the bot falls back
XSS = '<script>window.pwned = 1</script> <img src=x onerror="window.pwned = 2">'

# With the hashing encoder, "how long will it take" is close to both `delivery_time` and
# `refund_time` (the bot asks which), and "do you offer gift wrapping" matches nothing.
KNOWLEDGE = [
    IntentSpec(
        "returns",
        "You can return anything within **30 days**. Start from "
        "[Your orders](https://shop.example/orders).",
        ("How do I return an item?", "Can I send something back?", "What is your returns policy?"),
    ),
    IntentSpec(
        "refund_time",
        "Refunds arrive within 3-5 working days.",
        ("When will I get my refund?", "How long does a refund take?"),
    ),
    IntentSpec(
        "delivery_time",
        "Standard delivery takes 3-5 working days.",
        (
            "How long does delivery take?",
            "When will my order arrive?",
            "What are your shipping times?",
        ),
        follow_ups=("returns",),
    ),
    IntentSpec(
        "wood_care",
        f"**Oiled oak** likes a damp cloth. {XSS} [Care guide](javascript:alert(3))",
        ("How do I look after oiled oak?", "How should I clean my wooden board?"),
    ),
]


@dataclass(frozen=True)
class Customer:
    """A started conversation and the token that authorises its customer."""

    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def messages_url(self) -> str:
        return f"/api/v1/conversations/{self.id}/messages"


@contextmanager
def committed(database_url: str) -> Iterator[Session]:
    """A session on the database whose work is committed when the block ends, as another process
    would commit it."""
    engine = make_engine(database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def store_knowledge(database_url: str, intents: list[IntentSpec]) -> None:
    """Import intents and commit, as `chatbot import-faq` would from another process."""
    engine = make_engine(database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            import_intents(session, intents, replace=False)
    finally:
        engine.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path)


@pytest.fixture
def app(settings: Settings, db_url: str) -> FastAPI:
    store_knowledge(db_url, KNOWLEDGE)
    return create_app(settings, encoder=HashingEncoder())


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:  # entering runs the lifespan: the manager is built
        yield client


def another_browser(client: TestClient) -> TestClient:
    """A second browser (cookies of its own) on the app ``client`` is running: its requests run
    on that app's event loop, like every request to a real server (a Redis connection belongs to
    the loop that opened it)."""
    other = TestClient(client.app)
    other.portal = client.portal
    return other


def start_conversation(client: TestClient, **body: str) -> Customer:
    response = client.post("/api/v1/conversations", json=body or None)
    assert response.status_code == 201, response.text
    created = response.json()
    return Customer(created["id"], created["token"])


@pytest.fixture
def customer(client: TestClient) -> Customer:
    return start_conversation(client)


# ---- staff accounts

PASSWORD = "correct horse battery"
STAFF_EMAIL = "sam@staff.example"
ADMIN_EMAIL = "ada@admin.example"
JSON = {"Accept": "application/json"}  # how a script asks: a 401, not a redirect to sign in
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def add_account(
    database_url: str,
    email: str,
    role: str = "staff",
    password: str = PASSWORD,
    token: str | None = None,
) -> str:
    """Create an account, committed; returns an API token for it (``token`` if given)."""
    engine = make_engine(database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            user = accounts.create_user(session, email, password, UserRole(role))
            if token is None:
                _row, token = accounts.create_api_token(session, user, "tests")
            else:
                session.add(ApiToken(user_id=user.id, name="tests", token_hash=token_digest(token)))
    finally:
        engine.dispose()
    return token


def post_login(
    client: TestClient,
    email: str,
    password: str = PASSWORD,
    next_path: str | None = None,
    *,
    follow_redirects: bool = True,
) -> Response:
    """Post the sign-in form with the form token the last GET /login left in the cookies."""
    data = {
        "email": email,
        "password": password,
        "csrf_token": client.cookies.get("chatbot_login_csrf", ""),
    }
    if next_path is not None:
        data["next"] = next_path
    return client.post("/login", data=data, follow_redirects=follow_redirects)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form, as a browser would; returns the session's CSRF token."""
    client.get("/login")
    response = post_login(client, email, password, "/account")
    assert response.status_code == 200 and response.url.path == "/account", response.text
    found = _CSRF_META.search(response.text)
    assert found, "the signed-in page carries no CSRF token"
    return found.group(1)


@dataclass(frozen=True)
class Staff:
    """A signed-in browser session (cookie in the client) and its CSRF header; plus an API token."""

    csrf: str
    api_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}

    @property
    def token_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_token}"}


@pytest.fixture
def staff(client: TestClient, db_url: str) -> Staff:
    """A staff member signed in on ``client``."""
    token = add_account(db_url, STAFF_EMAIL, "staff")
    return Staff(sign_in(client, STAFF_EMAIL), token)


@pytest.fixture
def admin(client: TestClient, db_url: str) -> Staff:
    """An admin signed in on ``client``."""
    token = add_account(db_url, ADMIN_EMAIL, "admin")
    return Staff(sign_in(client, ADMIN_EMAIL), token)


# ---- the database, a customer's question and an admin's form, as many tests see them

T = TypeVar("T")


def in_database(db_url: str, work: Callable[[Any], T]) -> T:
    """Read or write through a session of its own, committed, as another process would."""
    engine = make_engine(db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            return work(session)
    finally:
        engine.dispose()


def audit_log(db_url: str, action: str = "") -> list[dict[str, Any]]:
    return in_database(
        db_url,
        lambda session: [
            {"actor": e.actor, "action": e.action, "target": e.target}
            | {"before": e.before, "after": e.after}
            for e in audit.list_entries(session, action=action or None)
        ],
    )


def post_form(client: TestClient, admin: Staff, path: str, **fields: str) -> httpx.Response:
    return client.post(path, data={"csrf_token": admin.csrf, **fields}, follow_redirects=False)


def ask(client: TestClient, customer: Customer, text: str) -> dict[str, Any]:
    response = client.post(customer.messages_url, json={"text": text}, headers=customer.headers)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()["reply"]
    return reply


def user_id(db_url: str, email: str) -> int:
    from chatbot.db.accounts import get_user_by_email

    def find(session: Any) -> int:
        user = get_user_by_email(session, email)
        assert user is not None
        return user.id

    return in_database(db_url, find)


@contextmanager
def database(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def stored_intents(db_url: str) -> list[IntentSpec]:
    with database(db_url) as session:
        return load_intents(session)


def revision(db_url: str) -> int:
    with database(db_url) as session:
        return knowledge_revision(session)


def audit_actions(db_url: str) -> list[tuple[str, str | None, Any, Any]]:
    with database(db_url) as session:
        entries = list_entries(session, action="")
        return [(e.action, e.target, e.before, e.after) for e in reversed(entries)]
