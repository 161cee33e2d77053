"""The live page (chatbot/console/staff/live.py), where staff take conversations over."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import (
    Staff,
)


def test_pages_send_anonymous_visitors_to_sign_in(client: TestClient) -> None:
    for path in ("/staff/live", "/staff/canned"):
        response = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def test_the_live_page_carries_its_strings(client: TestClient, staff: Staff) -> None:
    page = client.get("/staff/live?conversation=abc")
    assert page.status_code == 200
    assert 'id="live-strings"' in page.text and 'data-selected="abc"' in page.text


def test_the_live_page_offers_more_than_one_page(client: TestClient, staff: Staff) -> None:
    page = client.get("/staff/live")
    assert 'data-testid="live-queue-show-more"' in page.text
    assert '"more": "{n} more in the queue"' in page.text
