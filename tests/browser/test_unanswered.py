"""The unanswered questions page in a real browser: groups of what the bot missed, under the
strict CSP with no console error; dismissing a group removes it; a screenshot."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from chatbot.db.models import Conversation, ConversationStatus, Message, Role
from chatbot.db.session import make_engine, make_session_factory, transaction
from tests.browser.conftest import LiveServer, sign_in
from tests.nlu.unanswered_topics import TOPICS

# The live server loads the real model.
pytestmark = [pytest.mark.browser, pytest.mark.model]


def _seed_fallbacks(database_url: str) -> int:
    """Three English and three Chinese messages of each topic, each one the bot fell back on."""
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    seeded = 0
    try:
        with transaction(make_session_factory(engine)) as session:
            for languages in TOPICS.values():
                for language, texts in languages.items():
                    for text in texts[:3]:
                        conversation = Conversation(
                            id=str(uuid.uuid4()),
                            token_hash="0" * 64,
                            status=ConversationStatus.BOT,
                            language=language,
                            created_at=now,
                            updated_at=now,
                        )
                        customer = Message(role=Role.CUSTOMER, text=text, created_at=now)
                        conversation.messages.append(customer)
                        session.add(conversation)
                        session.flush()
                        conversation.messages.append(
                            Message(
                                role=Role.BOT,
                                text="…",
                                created_at=now,
                                action="fallback",
                                reply_to_id=customer.id,
                            )
                        )
                        seeded += 1
    finally:
        engine.dispose()
    return seeded


def test_the_unanswered_page_groups_and_dismisses(
    new_page, live_server: LiveServer, accounts_on_server: dict[str, str], screenshots
) -> None:
    _seed_fallbacks(live_server.database_url)
    page = new_page(1280, 900)
    sign_in(page, accounts_on_server["admin"], next_path="/admin/unanswered")
    expect(page.get_by_role("heading", name="Unanswered questions", exact=True)).to_be_visible()
    groups = page.get_by_test_id("unanswered-group")
    expect(groups.first).to_be_visible()
    before = groups.count()
    assert before >= 5, before
    expect(page.get_by_role("listitem").filter(has_text="bring my dog into")).to_be_visible()
    page.screenshot(path=screenshots / "unanswered-desktop.png", full_page=True)
    dismissed = groups.first.locator("li").all_inner_texts()
    groups.first.get_by_test_id("unanswered-dismiss").click()
    expect(page.get_by_test_id("unanswered-done")).to_be_visible()
    # The rest are grouped again: the number of groups may change, the dismissed ones are gone.
    left = page.locator(".unanswered-examples li").all_inner_texts()
    assert dismissed and not set(dismissed) & set(left)
