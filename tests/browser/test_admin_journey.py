"""The admin console end to end, as the issue describes it: sign in, upload a file with one bad row
and see its problem with nothing written, fix it, preview and confirm, train and watch the bar reach
done, open the new version's report, activate it and ask the test pane a question.

The live server is shared with the other browser tests: the intent added here is deleted and the
previously active model restored afterwards, whatever happens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from playwright.sync_api import expect

from chatbot.db.knowledge import delete_intent
from chatbot.db.model_versions import activate, active_version_name, get_version
from chatbot.db.session import make_engine, make_session_factory, transaction
from tests.browser.conftest import LiveServer, sign_in
from tests.browser.test_admin_knowledge import ORIGINAL_KEYS, stored_keys, upload_csv
from tests.browser.test_admin_models import TRAINING_TIMEOUT_MS, _activate, _images_loaded

# The live server loads the real model.
pytestmark = [pytest.mark.browser, pytest.mark.model]

KEY = "journey_gift_wrap"
GOOD_ROWS = (
    "intent,question,alternates,answer,category\n"
    f'{KEY},Do you offer gift wrapping?,"Can you wrap my order as a present?|'
    'Is gift wrap available?|Could you gift wrap this for me?",'
    '"Yes: add **gift wrap** at checkout for £3.",Gifts\n'
)
BAD_FILE = GOOD_ROWS + f"{KEY},,,,\n"  # row 3: a row without its question


@pytest.fixture
def shared_server_restored(live_server: LiveServer) -> Iterator[None]:
    engine = make_engine(live_server.database_url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        active_before = active_version_name(session)
    yield
    with transaction(factory) as session:
        delete_intent(session, KEY)
        row = get_version(session, active_before) if active_before else None
        if row is not None and not row.is_active:
            activate(session, row)
    engine.dispose()
    if active_before:
        live_server.wait_until_serving(active_before)


def test_an_admin_uploads_trains_reviews_activates_and_tries_a_model(
    new_page, accounts_on_server, live_server: LiveServer, shared_server_restored
) -> None:
    page = new_page(1280, 800)
    sign_in(page, accounts_on_server["admin"], next_path="/admin/knowledge")

    # A file with one bad row: its problem is listed and nothing is written.
    upload_csv(page, BAD_FILE)
    problems = page.get_by_test_id("kb-upload-problems").locator("li")
    expect(problems).to_have_count(1)
    expect(problems.first).to_contain_text("row 3")
    expect(page.get_by_test_id("kb-upload-confirm")).to_have_count(0)
    assert stored_keys(live_server) == ORIGINAL_KEYS

    # Fixed: the preview lists the new intent; confirming writes it.
    upload_csv(page, GOOD_ROWS)
    expect(page.get_by_test_id("kb-upload-diff").get_by_test_id("kb-diff-added")).to_contain_text(
        KEY
    )
    assert stored_keys(live_server) == ORIGINAL_KEYS
    page.get_by_test_id("kb-upload-confirm").click()
    expect(page.get_by_test_id("kb-upload-done")).to_be_visible()
    assert stored_keys(live_server) == [*ORIGINAL_KEYS, KEY]

    # Train and watch the bar move to done.
    page.goto("/admin/training")
    page.get_by_label(re.compile("Epochs")).fill("1")
    page.get_by_test_id("training-start").click()
    bar = page.get_by_test_id("training-progress")
    expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^[1-9]\d*$"), timeout=60_000)
    expect(page.get_by_test_id("training-status")).to_have_text(
        "succeeded", timeout=TRAINING_TIMEOUT_MS
    )
    expect(bar).to_have_attribute("aria-valuenow", "100")

    # The new version's report, with its images.
    link = page.get_by_test_id("training-version-link")
    version = unquote((link.get_attribute("href") or "").rsplit("/", 1)[1])
    link.click()
    page.wait_for_url(f"**/admin/models/{version}")
    _images_loaded(page)
    expect(page.locator(f'[data-testid="per-intent-row"]:has-text("{KEY}")')).to_have_count(1)

    # Activate it, then ask the test pane.
    page.goto("/admin/models")
    _activate(page, version)
    page.goto(f"/admin/models/{version}")
    page.get_by_test_id("test-pane-input").fill("can you wrap my present as a gift")
    page.get_by_test_id("test-pane-ask").click()
    result = page.get_by_test_id("test-pane-result")
    # The pane loads the version first: seconds on a busy machine.
    expect(result.get_by_test_id("test-pane-intent")).to_have_text(KEY, timeout=60_000)
    expect(result.get_by_test_id("test-pane-answer")).to_contain_text("gift wrap at checkout")
    expect(result.get_by_test_id("test-pane-answer").locator("strong")).to_have_text("gift wrap")
