"""The transcript export (chatbot/api/export.py, /staff/export.csv and /staff/export.jsonl):
a row per message of the filtered conversations, streamed in keyset batches."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from fastapi.testclient import TestClient

from tests.api import transcript_data
from tests.api.conftest import Staff
from tests.api.transcript_data import add_conversation, asks

# The shared fixtures, bound here by name so that pytest finds them for this module.
settings = transcript_data.settings
conversations = transcript_data.conversations


def export_csv(client: TestClient, query: str = "") -> list[dict[str, str]]:
    response = client.get(f"/staff/export.csv{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.text)))


def test_the_csv_export_has_a_row_per_message_of_the_filtered_conversations(
    client: TestClient, conversations: dict[str, str]
) -> None:
    rows = export_csv(client, "?status=closed")
    assert [row["conversation_id"] for row in rows] == [conversations["unsure"]] * 2
    customer_row, bot_row = rows
    assert customer_row["role"] == "customer" and customer_row["text"] == "how long will it take"
    assert bot_row["intent"] == "refund_time" and float(bot_row["confidence"]) == 0.41
    assert bot_row["action"] == "clarify" and bot_row["helpful"] == "False"
    assert bot_row["conversation_status"] == "closed"
    assert int(bot_row["message_id"]) > int(customer_row["message_id"])
    everything = export_csv(client)
    assert len(everything) == 10  # five conversations of two messages, one empty
    assert list(everything[0]) == [
        "conversation_id",
        "conversation_status",
        "satisfaction",
        "labels",
        "message_id",
        "time",
        "role",
        "text",
        "intent",
        "confidence",
        "action",
        "model_version",
        "latency_ms",
        "helpful",
        "sentiment",
        "sentiment_score",
    ]
    assert everything[0]["satisfaction"] == "5"


def test_the_csv_export_defuses_spreadsheet_formulas(
    client: TestClient, staff: Staff, db_url: str
) -> None:
    formulas = ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "fine = ok"]
    add_conversation(db_url, [asks(text) for text in formulas])
    texts = [row["text"] for row in export_csv(client)]
    assert texts == ['\'=HYPERLINK("http://evil")', "'+1+1", "'-2+3", "'@SUM(A1)", "fine = ok"]


def test_the_jsonl_export_streams_every_message_with_the_search_applied(
    client: TestClient, conversations: dict[str, str]
) -> None:
    response = client.get("/staff/export.jsonl?q=退货")
    assert response.status_code == 200
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert [row["text"] for row in rows] == ["我想退货，可以吗？", "可以"]
    assert rows[1]["intent"] == "returns" and rows[1]["confidence"] == 0.88
    assert rows[0]["conversation_id"] == conversations["chinese"]
    assert rows[0]["helpful"] is None and rows[0]["role"] == "customer"


def test_the_export_pages_through_many_conversations(
    client: TestClient, staff: Staff, db_url: str
) -> None:
    # More conversations than one export batch, so the keyset paging runs.
    ids = [add_conversation(db_url, [asks(f"q{n}")], age=timedelta(minutes=n)) for n in range(230)]
    rows = [json.loads(line) for line in client.get("/staff/export.jsonl").text.splitlines()]
    assert [row["conversation_id"] for row in rows] == ids


def test_a_bad_export_filter_is_422(client: TestClient, staff: Staff) -> None:
    response = client.get("/staff/export.csv?status=lost")
    assert response.status_code == 422 and "status" in response.json()["detail"]
    # A NUL would reach PostgreSQL, which refuses it in any string: named, never a 500.
    for field in ("q", "intent", "language"):
        response = client.get(f"/staff/export.csv?{field}=sofa%00")
        assert response.status_code == 422, response.text
        assert f"{field}: control characters" in response.json()["detail"]
    page = client.get("/staff?q=a%00b")
    assert page.status_code == 200 and "q: control characters are not allowed" in page.text
