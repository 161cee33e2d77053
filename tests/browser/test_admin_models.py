"""The training and model pages in a real browser: train, watch, read the report, try the new
version, activate it and roll back (see conftest.py for the live server)."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, sign_in

# The live server loads the real model.
pytestmark = [pytest.mark.browser, pytest.mark.model]

TRAINING_TIMEOUT_MS = 240_000  # one epoch on the 5-intent knowledge base: 10-40 s on 2 cores
DELIVERY_PARAPHRASE = "how quickly will my package be delivered"
PHONE = {"width": 390, "height": 844, "is_mobile": True, "has_touch": True}


def _row(page: Page, version: str):
    return page.locator(f'[data-testid="model-row"][data-version="{version}"]')


def _active_version(page: Page) -> str:
    active = page.locator('[data-testid="model-row"]:has([data-testid="model-active"])')
    expect(active).to_have_count(1)
    version = active.get_attribute("data-version")
    assert version
    return version


def _activate(page: Page, version: str) -> None:
    _row(page, version).get_by_test_id("model-activate").click()
    expect(_row(page, version).get_by_test_id("model-active")).to_be_visible()
    expect(page.get_by_test_id("model-active")).to_have_count(1)
    expect(page.get_by_role("status")).to_contain_text(version)


def _images_loaded(page: Page) -> None:
    images = page.get_by_test_id("report-image")
    expect(images.first).to_be_visible()
    assert images.count() >= 3
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=report-image]')]"
        ".every((img) => img.complete && img.naturalWidth > 0)"
    )
    for index in range(images.count()):
        assert images.nth(index).get_attribute("alt")


def _phone_screenshot(new_page, admin: str, path: str, file) -> None:
    phone = new_page(**PHONE)
    sign_in(phone, admin, next_path="/admin/models")
    phone.goto(path)
    phone.wait_for_load_state("networkidle")
    phone.screenshot(path=file, full_page=True)


def test_train_watch_report_try_activate_and_roll_back(
    new_page, accounts_on_server, screenshots, live_server: LiveServer
) -> None:
    admin = accounts_on_server["admin"]
    page = new_page(1280, 800)
    sign_in(page, admin, next_path="/admin/training")
    status = page.get_by_test_id("training-status")
    bar = page.get_by_test_id("training-progress")

    page.get_by_label(re.compile("Epochs")).fill("1")
    page.get_by_test_id("training-start").click()
    expect(status).to_have_text(re.compile("queued|running"))
    expect(page.get_by_test_id("training-start")).to_be_disabled()

    # A reload mid-run finds the run again and keeps following it.
    expect(status).to_have_text("running", timeout=60_000)
    expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^[1-9]\d*$"), timeout=60_000)
    page.reload()
    expect(status).to_have_text(re.compile("running|succeeded"))
    expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^[1-9]\d*$"))

    expect(status).to_have_text("succeeded", timeout=TRAINING_TIMEOUT_MS)
    expect(bar).to_have_attribute("aria-valuenow", "100")
    assert page.locator("#loss-curve polyline.loss-curve__line").count() == 1
    expect(page.get_by_test_id("training-cancel")).to_be_hidden()
    expect(page.locator("#training-runs tr").first).to_contain_text("succeeded")
    page.screenshot(path=screenshots / "admin-training-desktop.png", full_page=True)
    _phone_screenshot(new_page, admin, "/admin/training", screenshots / "admin-training-phone.png")

    link = page.get_by_test_id("training-version-link")
    new_version = unquote(link.get_attribute("href").rsplit("/", 1)[1])
    assert new_version.startswith("ft-")
    link.click()
    page.wait_for_url(f"**/admin/models/{new_version}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(new_version)
    expect(page.get_by_test_id("per-intent-row").first).to_be_visible()
    _images_loaded(page)

    # The per-intent table sorts by any column, from the keyboard too.
    intent_header = page.get_by_role("button", name="Intent")
    intent_header.focus()
    page.keyboard.press("Enter")
    intents = page.locator('[data-testid="per-intent-row"] td[data-key="intent"]')
    names = intents.all_text_contents()
    assert names == sorted(names)
    page.keyboard.press("Enter")
    assert intents.all_text_contents() == sorted(names, reverse=True)

    page.get_by_test_id("test-pane-input").fill(DELIVERY_PARAPHRASE)
    page.get_by_test_id("test-pane-ask").click()
    result = page.get_by_test_id("test-pane-result")
    expect(result.get_by_test_id("test-pane-intent")).to_have_text("delivery_time")
    decision = result.get_by_test_id("test-pane-decision")
    expect(decision).to_have_attribute("data-decision", re.compile("answer|clarify"))
    expect(decision).to_have_text(decision.get_attribute("data-decision"))
    expect(result).to_contain_text("%")
    page.screenshot(path=screenshots / "admin-report-desktop.png", full_page=True)
    _phone_screenshot(
        new_page, admin, f"/admin/models/{new_version}", screenshots / "admin-report-phone.png"
    )

    page.goto("/admin/models")
    previous = _active_version(page)
    assert previous != new_version
    expect(_row(page, new_version).get_by_test_id("model-activate")).to_have_text("Activate")
    page.screenshot(path=screenshots / "admin-models-desktop.png", full_page=True)
    _phone_screenshot(new_page, admin, "/admin/models", screenshots / "admin-models-phone.png")

    _activate(page, new_version)
    expect(_row(page, previous).get_by_test_id("model-activate")).to_have_text("Roll back")
    page.reload()
    assert _active_version(page) == new_version
    # Roll back, so the other browser tests keep the model they expect.
    _activate(page, previous)
    page.reload()
    assert _active_version(page) == previous
    live_server.wait_until_serving(previous)

    page.get_by_label("Before").select_option(previous)
    page.get_by_label("After").select_option(new_version)
    page.get_by_test_id("compare-submit").click()
    page.wait_for_url("**/admin/models/compare?**")
    expect(page.get_by_test_id("compare-metrics")).to_be_visible()
    expect(page.get_by_test_id("compare-missing-report")).to_contain_text(previous)
    expect(page.get_by_test_id("compare-intent-row").first).to_be_visible()
    page.screenshot(path=screenshots / "admin-compare-desktop.png", full_page=True)
    _phone_screenshot(
        new_page,
        admin,
        f"/admin/models/compare?a={previous}&b={new_version}",
        screenshots / "admin-compare-phone.png",
    )


def test_a_run_can_be_cancelled_from_the_page(new_page, accounts_on_server) -> None:
    page = new_page(1280, 800)
    sign_in(page, accounts_on_server["admin"], next_path="/admin/models")
    active = _active_version(page)
    page.goto("/admin/training")
    page.get_by_label(re.compile("Epochs")).fill("50")
    page.get_by_test_id("training-start").click()
    status = page.get_by_test_id("training-status")
    expect(status).to_have_text(re.compile("queued|running"))
    page.get_by_test_id("training-cancel").click()
    expect(status).to_have_text("cancelled", timeout=120_000)
    expect(page.get_by_test_id("training-cancel")).to_be_hidden()
    expect(page.get_by_test_id("training-start")).to_be_enabled()
    expect(page.get_by_test_id("training-version-link")).to_have_count(0)
    page.goto("/admin/models")
    assert _active_version(page) == active  # a cancelled run never replaces the model
