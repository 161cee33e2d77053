"""The staff console's transcripts (chatbot/console/staff/transcripts.py): the list at /staff,
its filters, search and keyset pages, and one transcript's page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chatbot.db import conversations as store
from chatbot.db.models import ConversationStatus, Role, User
from tests.api import transcript_data
from tests.api.conftest import XSS, Staff, committed
from tests.api.transcript_data import NOW, add_conversation, asks

# The shared fixtures, bound here by name so that pytest finds them for this module.
settings = transcript_data.settings
conversations = transcript_data.conversations

ROW_ID = re.compile(r'data-conversation-id="([^"]+)"')
OLDER_LINK = re.compile(r'href="(/staff\?[^"]*before_id=[^"]*)"')


def listed(client: TestClient, url: str = "/staff") -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return ROW_ID.findall(response.text)


# ---- the list and its filters


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
        unhelpful = store.add_message(
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
        )
        store.set_feedback(session, unhelpful, helpful=False)  # the customer's thumbs-down
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
