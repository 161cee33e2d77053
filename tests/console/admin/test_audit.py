"""The audit log page (chatbot/console/admin/audit.py): filters, pages, escaping."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from chatbot.db import audit
from tests.api.conftest import (
    XSS,
    Staff,
    in_database,
)


def test_the_audit_log_filters_pages_and_escapes(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    def fill(session: Any) -> None:
        for n in range(55):
            audit.record(session, "bo@admin.example", "intent.update", f"intent {n}")
        audit.record(session, None, "model.activate", XSS, before={"note": XSS})

    in_database(db_url, fill)
    page = client.get("/admin/audit").text
    assert page.count('data-testid="audit-entry"') == 50
    assert "<script>window.pwned" not in page
    assert "&lt;script&gt;window.pwned" in page  # target and JSON, escaped
    assert page.index("model.activate") < page.index("intent 54")  # newest first
    older = client.get("/admin/audit", params={"action": "intent.", "before": 7}).text
    assert older.count('data-testid="audit-entry"') == 6  # intents 0-5, ids below 7
    only_model = client.get("/admin/audit", params={"action": "model."}).text
    assert only_model.count('data-testid="audit-entry"') == 1
    by_actor = client.get("/admin/audit", params={"actor": "nobody@example.com"}).text
    assert 'data-testid="audit-empty"' in by_actor
    future = client.get("/admin/audit", params={"since": "2999-01-01"}).text
    assert 'data-testid="audit-empty"' in future
    today = client.get("/admin/audit", params={"until": "2999-01-01", "action": "model."}).text
    assert today.count('data-testid="audit-entry"') == 1
    bad = client.get("/admin/audit", params={"since": "yesterday"})
    assert bad.status_code == 200 and "YYYY-MM-DD" in bad.text


def test_the_older_link_continues_where_the_page_ended(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    in_database(
        db_url,
        lambda session: [
            audit.record(session, "x@y.example", "user.role", f"u{n}") for n in range(52)
        ],
    )
    first = client.get("/admin/audit").text
    assert 'data-testid="audit-older"' in first
    second = client.get("/admin/audit", params={"before": 3}).text
    assert second.count('data-testid="audit-entry"') == 2
    assert 'data-testid="audit-older"' not in second
