"""The analytics dashboard's page (chatbot/console/admin/analytics.py): its charts, drawn
from the same customers as the JSON API's tests in tests/api/test_analytics.py."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import Staff
from tests.api.test_analytics import WEEK, _talk


def test_the_page_draws_its_charts_in_the_chosen_language(client: TestClient, admin: Staff) -> None:
    _talk(client)
    page = client.get("/admin/analytics", params={**WEEK, "language": "en"})
    assert page.status_code == 200
    for chart in ("volume", "rates", "feedback", "satisfaction", "versions", "hours"):
        assert f'data-testid="chart-{chart}"' in page.text
    assert "<polyline" in page.text and "<rect" in page.text and "<script>" not in page.text
    assert 'href="/api/v1/admin/analytics/daily.csv?since=' in page.text
    chinese = client.get("/admin/analytics", params={**WEEK, "language": "zh"})
    assert chinese.status_code == 200 and 'value="zh" selected' in chinese.text
