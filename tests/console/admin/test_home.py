"""The admin console's landing page (chatbot/console/admin/home.py)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import (
    Staff,
)


def test_the_landing_page_links_every_admin_area(client: TestClient, admin: Staff) -> None:
    page = client.get("/admin")
    assert page.status_code == 200
    for path in ("knowledge", "training", "models", "settings", "users", "audit"):
        assert f'href="/admin/{path}"' in page.text
