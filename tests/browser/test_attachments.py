"""Attachments in two real browsers: a customer and a staff member exchange images (each sees the
other's as a drawn thumbnail) and a PDF (a download), under the pages' Content-Security-Policy
(new_page fails the test on any refusal); the transcript page shows them too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.api.test_attachments import PDF, png
from tests.browser.conftest import LiveServer, sign_in
from tests.browser.test_takeover import _conversation_id
from tests.browser.test_widget import _ask

# The live server loads the real model.
pytestmark = [pytest.mark.browser, pytest.mark.model]

CUSTOMER_IMAGE = png(12, 8, (220, 30, 30))
STAFF_IMAGE = png(8, 12, (30, 90, 220))


def _drawn(page: Page, image: Locator) -> None:
    """Waits until the image has loaded and has pixels (a broken image has no natural width)."""
    expect(image).to_be_visible()
    page.wait_for_function(
        "image => image.complete && image.naturalWidth > 0", arg=image.element_handle()
    )


def _file(name: str, content: bytes, mime_type: str) -> dict[str, Any]:
    return {"name": name, "mimeType": mime_type, "buffer": content}


def test_a_customer_and_a_staff_member_exchange_images_and_a_pdf(
    new_page, live_server: LiveServer, accounts_on_server: dict[str, str], screenshots
) -> None:
    staff = new_page()
    sign_in(staff, accounts_on_server["staff"], next_path="/staff/live")
    customer = new_page()
    customer.goto("/chat")
    _ask(customer, "I want to talk to a person")
    expect(customer.get_by_test_id("chatbot-status")).to_have_text("Waiting for a person…")
    conversation_id = _conversation_id(customer)
    staff.locator(f'[data-testid="live-queue-item"][data-id="{conversation_id}"]').click()
    staff.get_by_test_id("live-claim").click()
    expect(customer.get_by_test_id("chatbot-status")).to_have_text("You are talking to sam.")

    # The customer sends a photo: a thumbnail in the widget and, live, in the console.
    customer.get_by_test_id("chatbot-attach-input").set_input_files(
        _file("damaged-box.png", CUSTOMER_IMAGE, "image/png")
    )
    _drawn(customer, customer.get_by_test_id("chatbot-attachment-thumbnail").first)
    _drawn(staff, staff.get_by_test_id("live-attachment-thumbnail").first)
    expect(staff.get_by_test_id("live-attachment-thumbnail").first).to_have_attribute(
        "alt", "Image: damaged-box.png"
    )

    # The staff member sends an image and a PDF back.
    staff.get_by_test_id("live-attach").set_input_files(
        _file("label.png", STAFF_IMAGE, "image/png")
    )
    expect(staff.get_by_test_id("live-attachment-thumbnail")).to_have_count(2)
    _drawn(staff, staff.get_by_test_id("live-attachment-thumbnail").last)
    staff_message = '[data-testid="chatbot-message"][data-role="staff"]'
    _drawn(customer, customer.locator(staff_message).get_by_test_id("chatbot-attachment-thumbnail"))
    staff.get_by_test_id("live-attach").set_input_files(
        _file("return-label.pdf", PDF, "application/pdf")
    )
    expect(staff.get_by_test_id("live-attachment-file")).to_have_text("Download return-label.pdf")
    pdf = customer.get_by_test_id("chatbot-attachment-file")
    expect(pdf).to_have_text("Download return-label.pdf")
    with customer.expect_download() as download:
        pdf.click()
    assert download.value.suggested_filename == "return-label.pdf"
    assert Path(download.value.path()).read_bytes() == PDF
    customer.screenshot(path=screenshots / "widget-attachments.png")
    staff.screenshot(path=screenshots / "live-attachments.png")

    # A file that is not an image or PDF is refused, and the customer is told why.
    customer.get_by_test_id("chatbot-attach-input").set_input_files(
        _file("page.png", b"<html><script>alert(1)</script></html>", "image/png")
    )
    expect(customer.get_by_role("alert").first).to_contain_text(
        "Only images (PNG, JPEG, GIF, WebP) and PDF files can be sent."
    )
    expect(customer.get_by_test_id("chatbot-attachment-thumbnail")).to_have_count(2)

    # The transcript page shows both images as thumbnails and the PDF as a download.
    staff.goto(f"/staff/conversations/{conversation_id}")
    thumbnails = staff.get_by_test_id("attachment-thumbnail")
    expect(thumbnails).to_have_count(2)
    for index in range(2):
        _drawn(staff, thumbnails.nth(index))
    expect(staff.get_by_test_id("attachment").last).to_have_text("Download return-label.pdf")
    staff.screenshot(path=screenshots / "transcript-attachments.png")

    # A reload of the widget shows the exchange again (fetched with the token, not a URL).
    customer.reload()
    expect(customer.get_by_test_id("chatbot-attachment-thumbnail")).to_have_count(2)
    _drawn(customer, customer.get_by_test_id("chatbot-attachment-thumbnail").last)
