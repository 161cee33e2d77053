"""The knowledge base pages in a real browser: search, live preview, upload with preview, download.

The live server's knowledge base is shared with the other browser tests, which expect its five
intents to keep their answers: these tests add an intent of their own and delete it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from chatbot.db.knowledge import delete_intent, load_intents
from chatbot.db.session import make_engine, make_session_factory, transaction
from tests.browser.conftest import TINY_KNOWLEDGE_BASE, LiveServer, sign_in

# The live server loads the real model.
pytestmark = [pytest.mark.browser, pytest.mark.model]

NEW_KEY = "kb_console_gift_cards"
BAD_CSV = (
    "intent,question,alternates,answer,category\n"
    f"{NEW_KEY},Do you sell gift cards?,Can I buy a gift voucher?,"
    '"Yes: from **£10**, by email.",Gifts\n'
    f"{NEW_KEY},,,,\n"  # row 3: no question
)
FIXED_CSV = BAD_CSV.rsplit(f"{NEW_KEY},,,,\n", 1)[0]
ORIGINAL_KEYS = [row["intent"] for row in TINY_KNOWLEDGE_BASE]
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def stored_keys(live_server: LiveServer) -> list[str]:
    engine = make_engine(live_server.database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            return [intent.key for intent in load_intents(session)]
    finally:
        engine.dispose()


@pytest.fixture
def own_intent_removed(live_server: LiveServer) -> Iterator[None]:
    """Whatever happens in the test, the shared knowledge base ends as it began."""
    yield
    engine = make_engine(live_server.database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            delete_intent(session, NEW_KEY)
    finally:
        engine.dispose()


def admin_page(
    new_page, accounts_on_server, size: str = "desktop", path: str = "/admin/knowledge"
) -> Page:
    width, height = SIZES[size]
    page = new_page(width, height)
    sign_in(page, accounts_on_server["admin"], next_path=path)
    return page


def rows(page: Page):
    return page.get_by_test_id("kb-intent-row")


def upload_csv(page: Page, content: str, name: str = "faq.csv") -> None:
    page.goto("/admin/knowledge/upload")
    page.get_by_test_id("kb-upload-file").set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": content.encode()}
    )
    page.get_by_test_id("kb-upload-preview").click()


def test_search_narrows_the_list(new_page, accounts_on_server, screenshots: Path) -> None:
    page = admin_page(new_page, accounts_on_server)
    expect(rows(page)).to_have_count(len(ORIGINAL_KEYS))
    expect(rows(page).first).to_contain_text("How do I return an item?")
    page.screenshot(path=screenshots / "admin-knowledge-list-desktop.png", full_page=True)

    page.get_by_test_id("kb-search").fill("REFUND")
    page.get_by_test_id("kb-search-submit").click()

    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_have_attribute("data-key", "refund_time")
    phone = admin_page(new_page, accounts_on_server, "phone")
    expect(rows(phone)).to_have_count(len(ORIGINAL_KEYS))
    phone.screenshot(path=screenshots / "admin-knowledge-list-phone.png", full_page=True)


def test_the_answer_preview_follows_typing(new_page, accounts_on_server, screenshots: Path) -> None:
    for size in SIZES:
        page = admin_page(new_page, accounts_on_server, size, "/admin/knowledge/contact")
        preview = page.get_by_test_id("kb-answer-preview")
        expect(preview).to_contain_text("Call us on")

        # Typed, not saved: the shared `contact` intent keeps its answer.
        page.get_by_test_id("kb-answer").fill("We answer **within one hour**.\n\n- phone\n- email")

        expect(preview.locator("strong")).to_have_text("within one hour")
        expect(preview.locator("li")).to_have_count(2)
        page.screenshot(path=screenshots / f"admin-knowledge-edit-{size}.png", full_page=True)


def test_upload_problems_then_preview_confirm_edit_and_delete(
    new_page, accounts_on_server, live_server: LiveServer, screenshots: Path, own_intent_removed
) -> None:
    page = admin_page(new_page, accounts_on_server)

    upload_csv(page, BAD_CSV)

    problems = page.get_by_test_id("kb-upload-problems").locator("li")
    expect(problems).to_have_count(1)
    expect(problems.first).to_contain_text("row 3")
    expect(problems.first).to_contain_text("missing question")
    expect(page.get_by_test_id("kb-upload-confirm")).to_have_count(0)
    page.screenshot(
        path=screenshots / "admin-knowledge-upload-problems-desktop.png", full_page=True
    )
    assert stored_keys(live_server) == ORIGINAL_KEYS  # nothing written
    page.goto("/admin/knowledge")
    expect(rows(page)).to_have_count(len(ORIGINAL_KEYS))

    upload_csv(page, FIXED_CSV)

    diff = page.get_by_test_id("kb-upload-diff")
    expect(diff.get_by_test_id("kb-diff-added")).to_contain_text(NEW_KEY)
    expect(diff).to_have_attribute("data-removed", "0")
    page.screenshot(path=screenshots / "admin-knowledge-upload-preview-desktop.png", full_page=True)
    assert stored_keys(live_server) == ORIGINAL_KEYS  # a preview writes nothing

    page.get_by_test_id("kb-upload-confirm").click()

    expect(page.get_by_test_id("kb-upload-done")).to_be_visible()
    page.goto("/admin/knowledge")
    expect(page.locator(f'[data-testid="kb-intent-row"][data-key="{NEW_KEY}"]')).to_contain_text(
        "Do you sell gift cards?"
    )

    # Edit the new intent's answer: the preview renders bold text, and it saves.
    page.locator(f'[data-testid="kb-intent-row"][data-key="{NEW_KEY}"] a').click()
    page.get_by_test_id("kb-answer").fill("Gift cards from **£20**.")
    expect(page.get_by_test_id("kb-answer-preview").locator("strong")).to_have_text("£20")
    page.get_by_test_id("kb-save").click()
    expect(page.get_by_test_id("kb-saved")).to_contain_text(NEW_KEY)

    # Delete it, through the confirmation step.
    page.locator(f'[data-testid="kb-intent-row"][data-key="{NEW_KEY}"] a').click()
    page.get_by_test_id("kb-delete").click()
    page.get_by_test_id("kb-delete-confirm").click()
    expect(page.get_by_test_id("kb-deleted")).to_be_visible()
    expect(rows(page)).to_have_count(len(ORIGINAL_KEYS))
    assert stored_keys(live_server) == ORIGINAL_KEYS


def test_upload_pages_on_a_phone(new_page, accounts_on_server, screenshots: Path) -> None:
    page = admin_page(new_page, accounts_on_server, "phone")
    upload_csv(page, BAD_CSV)
    expect(page.get_by_test_id("kb-upload-problems").locator("li")).to_have_count(1)
    page.screenshot(path=screenshots / "admin-knowledge-upload-problems-phone.png", full_page=True)

    upload_csv(page, FIXED_CSV)  # previewed only, never confirmed
    expect(page.get_by_test_id("kb-upload-confirm")).to_be_visible()
    page.screenshot(path=screenshots / "admin-knowledge-upload-preview-phone.png", full_page=True)


def test_a_downloaded_csv_uploads_back_without_changes(
    new_page, accounts_on_server, tmp_path: Path
) -> None:
    page = admin_page(new_page, accounts_on_server)
    with page.expect_download() as download_info:
        page.get_by_test_id("kb-download-csv").click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.name == "knowledge-base.csv"

    page.goto("/admin/knowledge/upload")
    page.get_by_test_id("kb-upload-file").set_input_files(saved)
    page.get_by_test_id("kb-upload-replace").check()
    page.get_by_test_id("kb-upload-preview").click()

    diff = page.get_by_test_id("kb-upload-diff")
    expect(page.get_by_test_id("kb-upload-no-changes")).to_be_visible()
    for kind in ("added", "changed", "removed"):
        expect(diff).to_have_attribute(f"data-{kind}", "0")
    expect(diff).to_have_attribute("data-unchanged", str(len(ORIGINAL_KEYS)))
    expect(page.get_by_test_id("kb-upload-confirm")).to_have_count(0)
