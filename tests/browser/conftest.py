"""A live server for the browser tests: the real app and model, its own SQLite database and a tiny
knowledge base, served by uvicorn in a background thread; Playwright drives the system Chromium."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests import backends
from tests.servers import serving

CHROMIUM = Path(os.environ.get("CHATBOT_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

XSS_PAYLOAD = '<script>window.__pwned = 1</script> <img src=x onerror="window.__pwned=2">'

# Five intents, five phrasings each. `returns` offers `refund_time` as a follow-up button;
# `wood_care` smuggles markup that must never run or reach the page as elements.
TINY_KNOWLEDGE_BASE = [
    {
        "intent": "returns",
        "question": "How do I return an item?",
        "alternates": "Can I send something back?|What is your returns policy?"
        "|I want to return my order|How many days do I have to return a product?",
        "answer": "You can return anything within **30 days** of delivery, free of charge. "
        "Start a return from [Your orders](https://harborandpine.example/account/orders).",
        "follow_ups": "refund_time",
        "category": "Returns",
        "language": "en",
    },
    {
        "intent": "refund_time",
        "question": "When will I get my refund?",
        "alternates": "How long does a refund take?|I returned an item, where is my money?"
        "|Has my refund been processed yet?|How many days until I am refunded?",
        "answer": "Refunds reach your original payment method within **3-5 working days** "
        "after your return arrives at our warehouse.",
        "category": "Returns",
        "language": "en",
    },
    {
        "intent": "delivery_time",
        "question": "How long does delivery take?",
        "alternates": "When will my order arrive?|What are your shipping times?"
        "|How fast do you deliver?|How many days is shipping?",
        "answer": "Standard delivery takes 3-5 working days to the UK and most EU countries.",
        "category": "Delivery",
        "language": "en",
    },
    {
        "intent": "contact",
        "question": "How can I contact you?",
        "alternates": "What is your phone number?|Can I email customer service?"
        "|What is your support email address?|How do I get in touch with your team?",
        "answer": "Call us on +44 20 7946 0123 (Monday to Friday, 9:00-18:00) "
        "or email help@harborandpine.example.",
        "category": "Contact",
        "language": "en",
    },
    {
        "intent": "wood_care",
        "question": "How do I look after oiled oak?",
        "alternates": "How should I clean my wooden board?|Care instructions for oak furniture"
        "|Can I put the oak board in the dishwasher?|How do I oil a wooden chopping board?",
        "answer": f"**Oiled oak** likes a damp cloth and fresh oil every six months. {XSS_PAYLOAD} "
        "Never put it in the dishwasher.",
        "category": "Care",
        "language": "en",
    },
]


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: Any  # the FastAPI app, for reaching its event bus
    database_url: str

    def wait_until_serving(self, version: str, timeout: float = 120) -> None:
        """Wait until the server answers with ``version``: it follows an activation within
        seconds, and the tests after one must not meet the version it replaced."""
        deadline = time.monotonic() + timeout
        serving_now = None
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=10) as response:
                serving_now = json.loads(response.read())["model"]
            if serving_now == version:
                return
            time.sleep(0.2)
        raise AssertionError(f"the server still serves {serving_now}, not {version}")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium): browser tests skipped")
    return str(CHROMIUM)


# Per module, not per session: Playwright's sync API keeps an event loop running in the main
# thread until it stops, which would break every later test that calls asyncio.run().
@pytest.fixture(scope="module")
def browser(chromium_executable: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The real app on a free 127.0.0.1 port, on SQLite or on PostgreSQL (tests/backends.py)."""
    from chatbot.db.migrate import upgrade

    data_dir = tmp_path_factory.mktemp("browser")
    with contextlib.ExitStack() as stack:
        if backends.ON_POSTGRES:
            postgres_url = request.getfixturevalue("postgres_url")
            database_url = stack.enter_context(backends.migrated_schema(postgres_url))
        else:
            database_url = f"sqlite:///{data_dir / 'chatbot.db'}"
            upgrade(database_url)
        yield from _serve(database_url, data_dir)


def _serve(database_url: str, data_dir: Path) -> Iterator[LiveServer]:
    from chatbot.config import Settings
    from chatbot.db.knowledge import import_intents
    from chatbot.db.session import make_engine, make_session_factory, transaction
    from chatbot.knowledge.files import read_faq_file
    from chatbot.main import create_app

    knowledge_base = data_dir / "knowledge_base.jsonl"
    knowledge_base.write_text(
        "".join(json.dumps(row) + "\n" for row in TINY_KNOWLEDGE_BASE), encoding="utf-8"
    )
    engine = make_engine(database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            import_intents(session, read_faq_file(knowledge_base, max_bytes=10**7), replace=True)
    finally:
        engine.dispose()

    # One server, on one address, for the whole session: per-address limits would count every
    # test's conversations and sign-ins together (tests/api/test_ratelimit.py tests them).
    settings = Settings(database_url=database_url, data_dir=data_dir, rate_limits_enabled=False)
    app = create_app(settings)
    with serving(app) as url:
        yield LiveServer(url=url, app=app, database_url=database_url)


@pytest.fixture
def new_page(browser, live_server: LiveServer) -> Iterator[object]:
    """A factory of pages, each in a fresh browser context (its own localStorage).

    The test fails if the page logs a JavaScript error or the browser refuses anything under
    the page's Content-Security-Policy (Chromium reports each refusal on the console).
    """
    contexts = []
    errors: list[str] = []

    def make(width: int = 1280, height: int = 800, **options: object):
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": width, "height": height}, **options
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda message: (
                errors.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def other_origin() -> Iterator[Callable[[str], str]]:
    """Serves HTML pages from a second loopback port, a different origin from the app's.

    Call it with a page's HTML; it returns the page's URL.
    """
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="other-origin", daemon=True)
    thread.start()

    def serve(html: str) -> str:
        path = f"/page-{len(pages)}.html"
        pages[path] = html.encode()
        return f"http://127.0.0.1:{server.server_address[1]}{path}"

    yield serve
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def accounts_on_server(live_server: LiveServer) -> dict[str, str]:
    """A staff member and an admin on the live server: role -> email (password PASSWORD)."""
    from tests.api.conftest import add_account

    emails = {"staff": "sam@staff.example", "admin": "ada@admin.example"}
    for role, email in emails.items():
        add_account(live_server.database_url, email, role, PASSWORD)
    return emails


def sign_in(page: Any, email: str, password: str = PASSWORD, next_path: str = "/staff") -> None:
    """Sign in through the form on ``page`` and land on ``next_path``."""
    page.goto(f"/login?next={next_path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{next_path}")
