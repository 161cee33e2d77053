"""The analytics dashboard in a real browser: its charts are drawn (non-empty SVG) under the strict
CSP, with no console error, on a desktop and a phone; screenshots of both."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chatbot.db.models import Conversation, ConversationStatus, Message, Role
from chatbot.db.session import make_engine, make_session_factory, transaction
from tests.browser.conftest import LiveServer, sign_in

# The live server loads the real model.
pytestmark = [pytest.mark.browser, pytest.mark.model]

CHARTS = ("volume", "rates", "feedback", "satisfaction", "versions", "hours")


def _seed_history(database_url: str, days: int = 14, per_day: int = 6) -> None:
    """Two weeks of conversations answered by two model versions (rolled forward on day 7)."""
    rng = random.Random(3)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    engine = make_engine(database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            for day in range(days):
                version = "browser-v1" if day < 7 else "browser-v2"
                for _ in range(per_day):
                    at = today - timedelta(days=days - 1 - day, hours=-rng.randint(8, 20))
                    action = rng.choice(["answer", "answer", "answer", "fallback", "clarify"])
                    session.add(
                        Conversation(
                            id=str(uuid.uuid4()),
                            token_hash="0" * 64,
                            status=ConversationStatus.CLOSED,
                            language="en",
                            created_at=at,
                            updated_at=at,
                            satisfaction=rng.randint(2, 5),
                            messages=[
                                Message(
                                    role=Role.CUSTOMER, text="where is my parcel", created_at=at
                                ),
                                Message(
                                    role=Role.BOT,
                                    text="…",
                                    created_at=at,
                                    action=action,
                                    intent="returns",
                                    model_version=version,
                                    latency_ms=rng.uniform(10, 80),
                                    helpful=rng.choice([True, True, False]),
                                ),
                            ],
                        )
                    )
    finally:
        engine.dispose()


def test_the_dashboard_draws_its_charts(
    new_page, live_server: LiveServer, accounts_on_server: dict[str, str], screenshots: Path
) -> None:
    _seed_history(live_server.database_url)
    for name, size in (("desktop", (1280, 900)), ("phone", (390, 844))):
        page = new_page(*size)
        sign_in(page, accounts_on_server["admin"], next_path="/admin/analytics")
        expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
        for chart in CHARTS:
            svg = page.get_by_test_id(f"chart-{chart}")
            expect(svg).to_be_visible()
            box = svg.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 30, chart
            drawn = svg.locator("polyline, circle, rect").count()
            assert drawn > 0, f"chart {chart} has nothing drawn"
        expect(page.get_by_test_id("analytics-models")).to_contain_text("browser-v2")
        page.screenshot(path=screenshots / f"analytics-{name}.png", full_page=True)
