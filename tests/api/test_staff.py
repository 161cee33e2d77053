"""The staff console's transcripts: list, filters, search, keyset pages, transcript page,
corrections and export."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chatbot.config import Settings
from chatbot.db import conversations as store
from chatbot.db.models import ConversationStatus, Correction, Role, User
from tests.api.conftest import XSS, Customer, Staff, committed

ROW_ID = re.compile(r'data-conversation-id="([^"]+)"')
OLDER_LINK = re.compile(r'href="(/staff\?[^"]*before_id=[^"]*)"')
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
Turn = tuple[Role, str, dict[str, Any]]


def asks(text: str) -> Turn:
    return (Role.CUSTOMER, text, {})


def answers(text: str, intent: str | None, confidence: float, action: str = "answer") -> Turn:
    return (Role.BOT, text, {"intent": intent, "confidence": confidence, "action": action})


def add_conversation(
    db_url: str,
    turns: list[Turn],
    *,
    age: timedelta = timedelta(0),
    status: ConversationStatus = ConversationStatus.BOT,
    language: str | None = "en",
    satisfaction: int | None = None,
    helpful: bool | None = None,
    updated_at: datetime | None = None,
) -> str:
    """A stored conversation, started ``age`` before NOW; returns its id."""
    with committed(db_url) as session:
        conversation, _token = store.start_conversation(session, language=language)
        last = None
        for role, text, fields in turns:
            last = store.add_message(session, conversation, role, text, **fields)
        if helpful is not None and last is not None:
            store.set_feedback(session, last, helpful)
        conversation.status = status
        conversation.satisfaction = satisfaction
        conversation.created_at = NOW - age
        conversation.updated_at = updated_at or NOW - age + timedelta(minutes=5)
        return conversation.id


def listed(client: TestClient, url: str = "/staff") -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return ROW_ID.findall(response.text)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """The stored transcripts below are days old and some still open: idle closing is off, so
    that each keeps the status it was given."""
    return Settings(database_url=db_url, data_dir=tmp_path, conversation_idle_minutes=0)


# ---- the list and its filters


@pytest.fixture
def conversations(client: TestClient, staff: Staff, db_url: str) -> dict[str, str]:
    """Six conversations that differ in one attribute each; name -> id."""
    return {
        "delivery": add_conversation(
            db_url,
            [asks("When will my sofa arrive?"), answers("3-5 days", "delivery_time", 0.92)],
            age=timedelta(days=1),
            satisfaction=5,
        ),
        "unsure": add_conversation(
            db_url,
            [
                asks("how long will it take"),
                answers("Did you mean?", "refund_time", 0.41, "clarify"),
            ],
            age=timedelta(days=2),
            status=ConversationStatus.CLOSED,
            helpful=False,
        ),
        "fallback": add_conversation(
            db_url,
            [asks("do you offer gift wrapping"), answers("Sorry", "returns", 0.12, "fallback")],
            age=timedelta(days=3),
            status=ConversationStatus.WAITING,
        ),
        "chinese": add_conversation(
            db_url,
            [asks("我想退货，可以吗？"), answers("可以", "returns", 0.88)],
            age=timedelta(days=10),
            language="zh",
            status=ConversationStatus.WITH_STAFF,
        ),
        "british": add_conversation(
            db_url,
            [asks("How do I care for oiled oak?"), answers("Oil it", "wood_care", 0.75)],
            age=timedelta(days=20),
            language="en-GB",
        ),
        "silent": add_conversation(db_url, [], age=timedelta(days=30), language=None),
    }


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    for path in ("/staff", "/staff/conversations/x", "/staff/export.csv"):
        response = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.get("/staff/export.jsonl").status_code == 401


def test_the_list_shows_newest_activity_first_with_its_columns(
    client: TestClient, conversations: dict[str, str]
) -> None:
    response = client.get("/staff")
    assert ROW_ID.findall(response.text) == list(conversations.values())
    page = response.text
    assert "When will my sofa arrive?" in page
    assert "5/5" in page  # satisfaction
    assert 'class="badge badge--waiting"' in page
    assert "2026-11-19 12:00" in page  # started: NOW - 1 day
    assert "👎 1" in page  # the thumbs-down on "unsure"
    assert "(no customer message)" in page
    assert "Export CSV" in page and 'href="/staff/export.jsonl"' in page


def test_a_long_first_message_is_cut_in_the_preview(
    client: TestClient, staff: Staff, db_url: str
) -> None:
    add_conversation(db_url, [asks("word " * 100 + "TAIL")])
    page = client.get("/staff").text
    assert "word word" in page and "…" in page and "TAIL" not in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=waiting", ["fallback"]),
        ("status=with_staff", ["chinese"]),
        ("status=closed", ["unsure"]),
        ("intent=returns", ["fallback", "chinese"]),
        ("intent=wood_care", ["british"]),
        ("min_confidence=0.8", ["delivery", "chinese"]),
        ("max_confidence=0.5", ["unsure", "fallback"]),
        ("min_confidence=0.4&max_confidence=0.8", ["unsure", "british"]),
        ("fallback=yes", ["fallback"]),
        ("fallback=no", ["delivery", "unsure", "chinese", "british", "silent"]),
        ("feedback=yes", ["delivery", "unsure"]),  # satisfaction, thumbs
        ("feedback=no", ["fallback", "chinese", "british", "silent"]),
        ("language=zh", ["chinese"]),
        ("language=en", ["delivery", "unsure", "fallback", "british"]),  # en-GB too
        ("from=2026-11-10&to=2026-11-18", ["unsure", "fallback", "chinese"]),
        ("to=2026-11-01", ["british", "silent"]),
        ("q=sofa", ["delivery"]),
        ("q=SOFA+arrive", ["delivery"]),  # a phrase, any case
        ("q=退货", ["chinese"]),  # two characters: shorter than a trigram
        ("q=退货，可以", ["chinese"]),
        ("q=oak", ["british"]),
        ("q=Did+you+mean", ["unsure"]),  # bot text counts too
        ("status=bot&language=en", ["delivery", "british"]),
        ("q=nothing+like+this", []),
    ],
)
def test_each_filter(
    client: TestClient, conversations: dict[str, str], query: str, expected: list[str]
) -> None:
    assert listed(client, f"/staff?{query}") == [conversations[name] for name in expected]


@pytest.mark.parametrize(
    "query",
    ['q="', 'q=a"b"c', "q=%25", "q=_", "q=*", "q=NEAR(a b)", "q=a OR b", "q=\\"],
)
def test_search_syntax_is_taken_literally(
    client: TestClient, staff: Staff, db_url: str, query: str
) -> None:
    add_conversation(db_url, [asks("plain words")])
    assert listed(client, f"/staff?{query}") == []


def test_odd_characters_are_found_literally(client: TestClient, staff: Staff, db_url: str) -> None:
    target = add_conversation(db_url, [asks('my code is "50% off_now"')])
    add_conversation(db_url, [asks("50 percent off now")])
    assert listed(client, "/staff?q=%2250%25+off_now%22") == [target]
    assert listed(client, "/staff?q=%25") == [target]
    assert listed(client, "/staff?q=_n") == [target]


def test_the_form_keeps_its_values_and_reports_bad_ones(
    client: TestClient, conversations: dict[str, str]
) -> None:
    page = client.get("/staff?q=sofa&status=bot&min_confidence=2&from=yesterday").text
    assert 'name="q" value="sofa"' in page
    assert '<option value="bot" selected>' in page
    assert "min_confidence: expected a number from 0 to 1" in page
    assert "from: expected a date" in page
    # The readable filters still apply; the export links carry them.
    assert ROW_ID.findall(page) == [conversations["delivery"]]
    assert 'href="/staff/export.csv?status=bot&amp;q=sofa"' in page


def test_keyset_pages_miss_nothing_and_repeat_nothing(
    client: TestClient, staff: Staff, db_url: str
) -> None:
    # 120 conversations over 40 distinct times: ties on updated_at are broken by id.
    ids = [
        add_conversation(db_url, [asks(f"question {n}")], updated_at=NOW - timedelta(hours=n // 3))
        for n in range(120)
    ]
    seen: list[str] = []
    url: str | None = "/staff"
    pages = 0
    while url:
        page = client.get(url.replace("&amp;", "&")).text
        seen += ROW_ID.findall(page)
        older = OLDER_LINK.search(page)
        url = older.group(1) if older else None
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 120
    assert set(seen) == set(ids)
    # Newest first: every later row is no newer than the one before it.
    hours = {conversation_id: n // 3 for n, conversation_id in enumerate(ids)}
    assert [hours[i] for i in seen] == sorted(hours[i] for i in seen)


def test_keyset_pages_keep_the_filters(client: TestClient, staff: Staff, db_url: str) -> None:
    waiting = [
        add_conversation(db_url, [asks("hello")], age=timedelta(minutes=n), status=status)
        for n, status in enumerate([ConversationStatus.WAITING, ConversationStatus.BOT] * 30)
    ][::2]
    first = client.get("/staff?status=waiting").text
    assert ROW_ID.findall(first) == waiting
    assert OLDER_LINK.search(first) is None  # 30 rows fit one page
    more = [
        add_conversation(db_url, [asks("hi")], age=timedelta(days=1, minutes=n), status=s)
        for n, s in enumerate([ConversationStatus.WAITING] * 25)
    ]
    first = client.get("/staff?status=waiting").text
    older = OLDER_LINK.search(first)
    assert older and "status=waiting" in older.group(1)
    second = ROW_ID.findall(client.get(older.group(1).replace("&amp;", "&")).text)
    assert ROW_ID.findall(first) + second == waiting + more


# ---- one transcript


def test_the_transcript_shows_every_turn_and_escapes_customer_text(
    client: TestClient, staff: Staff, db_url: str
) -> None:
    with committed(db_url) as session:
        colleague = session.scalar(select(User).where(User.email == "sam@staff.example"))
        assert colleague is not None
        conversation, _token = store.start_conversation(session, language="en")
        store.add_message(session, conversation, Role.CUSTOMER, XSS)
        store.add_message(
            session,
            conversation,
            Role.BOT,
            "Did you mean one of these?",
            intent="refund_time",
            confidence=0.47,
            action="clarify",
            suggestions=[{"intent": "refund_time", "question": "When will I get my refund?"}],
            model_version="base-v1",
            latency_ms=12.4,
            helpful=False,
        )
        store.add_message(session, conversation, Role.SYSTEM, "Handed over to a person")
        store.add_message(
            session, conversation, Role.STAFF, "Let me check that.", author_id=colleague.id
        )
        conversation.status = ConversationStatus.WITH_STAFF
        conversation.assigned_to_id = colleague.id
        conversation.satisfaction = 4
        conversation_id = conversation.id
    response = client.get(f"/staff/conversations/{conversation_id}")
    assert response.status_code == 200
    page = response.text
    assert "<script>window.pwned" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in page
    for shown in (
        "refund_time",
        "0.47",
        "clarify",
        "base-v1",
        "12 ms",
        "not helpful",
        "When will I get my refund?",
        "Handed over to a person",
        "Staff · sam@staff.example",
        "4/5",
    ):
        assert shown in page, shown
    assert re.search(r'data-testid="assignee">sam@staff.example<', page)
    assert f'href="/staff/live?conversation={conversation_id}"' in page
    assert page.count('data-testid="correction"') == 1  # only the bot turn


def test_no_live_queue_link_for_a_conversation_the_bot_holds(
    client: TestClient, staff: Staff, db_url: str
) -> None:
    conversation_id = add_conversation(db_url, [asks("hi")])
    page = client.get(f"/staff/conversations/{conversation_id}").text
    assert "Open in live queue" not in page


def test_an_unknown_transcript_is_404(client: TestClient, staff: Staff) -> None:
    assert client.get("/staff/conversations/nope").status_code == 404


# ---- corrections


def bot_turn(client: TestClient, customer: Customer, text: str) -> dict[str, Any]:
    response = client.post(customer.messages_url, json={"text": text}, headers=customer.headers)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()["reply"]
    return reply


def correct(client: TestClient, staff: Staff, message_id: int, **body: Any) -> Any:
    return client.post(
        f"/api/v1/staff/messages/{message_id}/correction", json=body, headers=staff.headers
    )


def stored_corrections(db_url: str) -> list[tuple[int | None, str, str | None, str | None]]:
    with committed(db_url) as session:
        rows = session.scalars(select(Correction).order_by(Correction.id))
        return [(c.message_id, c.text, c.intent, c.created_by) for c in rows]


def test_marking_a_bot_turn_right_stores_the_customer_message_and_the_bots_intent(
    client: TestClient, customer: Customer, staff: Staff, db_url: str
) -> None:
    reply = bot_turn(client, customer, "How do I return an item?")
    assert reply["intent"] == "returns" and reply["action"] == "answer"
    response = correct(client, staff, reply["id"], verdict="right")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "message_id": reply["id"],
        "verdict": "right",
        "intent": "returns",
        "text": "How do I return an item?",
        "created_by": "sam@staff.example",
    }
    assert stored_corrections(db_url) == [
        (reply["id"], "How do I return an item?", "returns", "sam@staff.example")
    ]
    page = client.get(f"/staff/conversations/{customer.id}").text
    assert "Marked right" in page


def test_marking_wrong_with_an_intent_or_out_of_scope_and_a_second_verdict_replaces_the_first(
    client: TestClient, customer: Customer, staff: Staff, db_url: str
) -> None:
    bot_turn(client, customer, "hello there")  # an earlier customer message: not the one answered
    reply = bot_turn(client, customer, "How do I return an item?")
    response = correct(client, staff, reply["id"], verdict="wrong", intent="refund_time")
    assert response.status_code == 200 and response.json()["verdict"] == "wrong"
    assert stored_corrections(db_url) == [
        (reply["id"], "How do I return an item?", "refund_time", "sam@staff.example")
    ]
    page = client.get(f"/staff/conversations/{customer.id}").text
    assert "Marked wrong: refund_time" in page
    assert '<option value="refund_time" selected>' in page

    response = correct(client, staff, reply["id"], verdict="wrong", intent=None)
    assert response.status_code == 200 and response.json()["intent"] is None
    assert stored_corrections(db_url) == [
        (reply["id"], "How do I return an item?", None, "sam@staff.example")
    ]
    assert "Marked wrong: out of scope" in client.get(f"/staff/conversations/{customer.id}").text


def test_a_fallback_marked_right_means_out_of_scope(
    client: TestClient, customer: Customer, staff: Staff, db_url: str
) -> None:
    reply = bot_turn(client, customer, "do you offer gift wrapping")
    assert reply["action"] == "fallback"
    response = correct(client, staff, reply["id"], verdict="right")
    assert response.status_code == 200 and response.json()["intent"] is None
    assert stored_corrections(db_url)[0][2] is None


def test_an_api_token_may_correct_without_csrf(
    client: TestClient, customer: Customer, staff: Staff
) -> None:
    reply = bot_turn(client, customer, "How do I return an item?")
    client.cookies.clear()
    response = client.post(
        f"/api/v1/staff/messages/{reply['id']}/correction",
        json={"verdict": "right"},
        headers=staff.token_headers,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "status_code", "names"),
    [
        ({"verdict": "wrong", "intent": "no_such_intent"}, 422, "intent"),
        ({"verdict": "wrong"}, 422, "intent"),
        ({"verdict": "maybe"}, 422, "verdict"),
    ],
)
def test_bad_corrections_are_refused_and_store_nothing(
    client: TestClient,
    customer: Customer,
    staff: Staff,
    db_url: str,
    body: dict[str, Any],
    status_code: int,
    names: str,
) -> None:
    reply = bot_turn(client, customer, "How do I return an item?")
    response = correct(client, staff, reply["id"], **body)
    assert response.status_code == status_code
    assert names in json.dumps(response.json()["detail"])
    assert stored_corrections(db_url) == []


def test_only_bot_turns_take_a_verdict(
    client: TestClient, customer: Customer, staff: Staff, db_url: str
) -> None:
    turn = client.post(
        customer.messages_url, json={"text": "How do I return an item?"}, headers=customer.headers
    ).json()
    response = correct(client, staff, turn["message"]["id"], verdict="right")
    assert response.status_code == 422 and "message_id" in response.json()["detail"]
    assert correct(client, staff, 999_999, verdict="right").status_code == 404
    assert stored_corrections(db_url) == []


def test_corrections_need_the_csrf_token_and_a_signed_in_caller(
    client: TestClient, customer: Customer, staff: Staff
) -> None:
    reply = bot_turn(client, customer, "How do I return an item?")
    url = f"/api/v1/staff/messages/{reply['id']}/correction"
    assert client.post(url, json={"verdict": "right"}).status_code == 403
    client.cookies.clear()
    assert client.post(url, json={"verdict": "right"}, headers=staff.headers).status_code == 401


# ---- export


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
