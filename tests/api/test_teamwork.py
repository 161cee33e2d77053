"""Sharing the work through the API: automatic assignment, transfer, reminders, private notes and
labels; staff only, audited, announced to the consoles."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from chatbot.config import Settings
from chatbot.db import accounts, labels, notes, presence
from chatbot.db.models import Conversation, PresenceStatus
from tests.api.conftest import (
    STAFF_EMAIL,
    Customer,
    Staff,
    add_account,
    audit_log,
    in_database,
    start_conversation,
)
from tests.api.test_chat import say, transcript
from tests.api.test_takeover import (
    API,
    ASK_FOR_A_PERSON,
    OTHER_EMAIL,
    events_until,
    post,
    staff_socket,
    url,
    waiting_customer,
)

THIRD_EMAIL = "tom@staff.example"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    # Automatic assignment on; reminders after a second, looked for five times a second.
    return Settings(
        database_url=db_url,
        data_dir=tmp_path,
        auto_assign=True,
        max_open_conversations=1,
        reply_reminder_seconds=1,
        model_check_seconds=0.2,
    )


def user_id(db_url: str, email: str) -> int:
    found = in_database(db_url, lambda session: accounts.get_user_by_email(session, email))
    assert found is not None
    return found.id


def make_available(db_url: str, email: str) -> None:
    """The staff member chose 'available' and has a console tab open (as its socket would)."""

    def work(session: Session) -> None:
        user = accounts.get_user_by_email(session, email)
        assert user is not None
        presence.set_status(session, user.id, PresenceStatus.AVAILABLE)
        presence.connect(session, user.id)

    in_database(db_url, work)


def stored(db_url: str, conversation_id: str) -> dict[str, Any]:
    def read(session: Session) -> dict[str, Any]:
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None
        return {
            "status": conversation.status.value,
            "assigned_to_id": conversation.assigned_to_id,
            "labels": labels.labels_of(session, conversation_id),
            "notes": [note.text for note, _ in notes.list_notes(session, conversation_id)],
        }

    return in_database(db_url, read)


@pytest.fixture
def olga(db_url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {add_account(db_url, OTHER_EMAIL)}"}


# ---- automatic assignment and reminders


def test_a_handoff_goes_to_the_available_staff_member_and_their_console_hears(
    client: TestClient, staff: Staff, db_url: str, olga: dict[str, str]
) -> None:
    make_available(db_url, STAFF_EMAIL)  # Olga is away
    sam = user_id(db_url, STAFF_EMAIL)
    with staff_socket(client) as console:
        assert console.receive_json() == {"type": "ready"}
        customer = start_conversation(client)
        say(client, customer, ASK_FOR_A_PERSON)
        assert transcript(client, customer)["conversation"]["status"] == "with_staff"
        seen = events_until(console, lambda e: e["type"] == "assigned")
        assigned = seen[-1]
        assert assigned["assignee_id"] == sam and assigned["by"] is None
        assert assigned["conversation"]["id"] == customer.id
        assert assigned["conversation"]["assignee_id"] == sam
        # The queue never showed it waiting: nobody else was called for it.
        assert not [e for e in seen if e.get("conversation", {}).get("status") == "waiting"]
        # Sam holds one, the cap: the next customer waits in the queue.
        second = start_conversation(client)
        response = client.post(f"/api/v1/conversations/{second.id}/handoff", headers=second.headers)
        assert response.json()["status"] == "waiting"
        assert stored(db_url, second.id)["assigned_to_id"] is None
        # Sam closes the first: the upkeep gives him the second.
        post(client, staff, url(customer, "close"))
        later = events_until(console, lambda e: e["type"] == "assigned")
        assert later[-1]["conversation"]["id"] == second.id
    assert stored(db_url, second.id) == {
        "status": "with_staff",
        "assigned_to_id": sam,
        "labels": [],
        "notes": [],
    }


def test_a_customer_waiting_for_a_reply_reminds_the_assignee_once(
    client: TestClient, staff: Staff, db_url: str
) -> None:
    make_available(db_url, STAFF_EMAIL)
    with staff_socket(client) as console:
        assert console.receive_json() == {"type": "ready"}
        customer = waiting_customer(client)
        seen = events_until(console, lambda e: e["type"] == "reminder", limit=50)
        reminder = seen[-1]
        assert reminder["conversation"]["id"] == customer.id
        assert reminder["assignee_id"] == user_id(db_url, STAFF_EMAIL)
        # The reply ends the wait; a new question starts another, reminded once more.
        post(client, staff, url(customer, "reply"), {"text": "Hello, I am here"})
        say(client, customer, "Great, one more question")
        again = events_until(console, lambda e: e["type"] == "reminder", limit=50)
        assert again[-1]["waiting_since"] > reminder["waiting_since"]
        assert [e for e in again if e["type"] == "reminder"] == [again[-1]]


# ---- transfer


def test_transferring_to_a_colleague_is_audited_and_announced(
    client: TestClient, staff: Staff, db_url: str, olga: dict[str, str]
) -> None:
    customer = waiting_customer(client)  # nobody is available: it waits
    post(client, staff, url(customer, "claim"))
    to_olga = {"to": user_id(db_url, OTHER_EMAIL)}
    with staff_socket(client) as console:
        assert console.receive_json() == {"type": "ready"}
        entry = post(client, staff, url(customer, "transfer"), to_olga)
        assert entry["assignee"] == OTHER_EMAIL and entry["status"] == "with_staff"
        assigned = events_until(console, lambda e: e["type"] == "assigned")[-1]
        assert assigned["assignee_id"] == to_olga["to"] and assigned["by"] == STAFF_EMAIL
    queue = client.get(f"{API}/queue", headers=olga).json()["conversations"]
    assert [(e["id"], e["assignee_id"]) for e in queue] == [(customer.id, to_olga["to"])]
    [entry] = audit_log(db_url, "conversation.transfer")
    assert entry == {
        "actor": STAFF_EMAIL,
        "action": "conversation.transfer",
        "target": customer.id,
        "before": {"assignee": STAFF_EMAIL},
        "after": {"assignee": OTHER_EMAIL},
    }
    # Olga holds it now: Sam can no longer move it.
    refused = client.post(url(customer, "transfer"), json=to_olga, headers=staff.headers)
    assert refused.status_code == 409 and OTHER_EMAIL in refused.json()["detail"]


def test_a_bad_transfer_changes_nothing(
    client: TestClient, staff: Staff, db_url: str, olga: dict[str, str]
) -> None:
    customer = waiting_customer(client)
    post(client, staff, url(customer, "claim"))
    before = stored(db_url, customer.id)
    sam = user_id(db_url, STAFF_EMAIL)
    for body, status, detail in (
        ({"to": sam}, 422, "not yourself"),
        ({"to": 999_999}, 422, "no such active staff member"),
        ({"to": "olga"}, 422, "to"),
        ({}, 422, "to"),
        ({"to": 0}, 422, "to"),
    ):
        response = client.post(url(customer, "transfer"), json=body, headers=staff.headers)
        assert response.status_code == status, (body, response.text)
        assert detail in str(response.json()["detail"])
    missing = client.post(
        f"{API}/conversations/nope/transfer", json={"to": 1}, headers=staff.headers
    )
    assert missing.status_code == 404
    with_bot = start_conversation(client)
    response = client.post(
        url(with_bot, "transfer"), json={"to": user_id(db_url, OTHER_EMAIL)}, headers=staff.headers
    )
    assert response.status_code == 409
    assert stored(db_url, customer.id) == before
    assert audit_log(db_url, "conversation.transfer") == []


def test_colleagues_are_listed_with_who_is_available(
    client: TestClient, staff: Staff, db_url: str, olga: dict[str, str]
) -> None:
    make_available(db_url, OTHER_EMAIL)
    people = client.get(f"{API}/colleagues", headers=staff.headers).json()
    assert {(p["name"], p["available"], p["open_conversations"]) for p in people} == {
        (STAFF_EMAIL, False, 0),
        (OTHER_EMAIL, True, 0),
    }


# ---- notes and labels


def test_notes_are_for_staff_audited_without_their_words(
    client: TestClient, staff: Staff, db_url: str, olga: dict[str, str]
) -> None:
    customer = waiting_customer(client)
    with staff_socket(client) as console:
        assert console.receive_json() == {"type": "ready"}
        response = client.post(
            url(customer, "notes"), json={"text": "  Loyal customer  "}, headers=staff.headers
        )
        assert response.status_code == 201, response.text
        note = response.json()
        assert (note["text"], note["author"]) == ("Loyal customer", STAFF_EMAIL)
        event = events_until(console, lambda e: e["type"] == "note")[-1]
        assert event == {"type": "note", "conversation_id": customer.id, "note": note}
    listed = client.get(url(customer, "notes"), headers=olga).json()
    assert [n["text"] for n in listed] == ["Loyal customer"]
    [entry] = audit_log(db_url, "conversation.note")
    assert entry["target"] == customer.id and entry["after"] == {"note": note["id"]}
    assert "Loyal" not in str(entry)
    for text in ("", "   ", "x" * (notes.MAX_NOTE_CHARS + 1)):
        refused = client.post(url(customer, "notes"), json={"text": text}, headers=staff.headers)
        assert refused.status_code == 422 and "text" in str(refused.json()["detail"])
    assert stored(db_url, customer.id)["notes"] == ["Loyal customer"]
    assert client.get(f"{API}/conversations/nope/notes", headers=staff.headers).status_code == 404


def test_labels_are_added_removed_audited_and_refused_when_bad(
    client: TestClient, staff: Staff, db_url: str
) -> None:
    customer = waiting_customer(client)
    added = post(client, staff, url(customer, "labels"), {"label": " Refund "})
    assert added == {"conversation_id": customer.id, "labels": ["refund"]}
    again = post(client, staff, url(customer, "labels"), {"label": "REFUND"})
    assert again["labels"] == ["refund"]
    post(client, staff, url(customer, "labels"), {"label": "vip"})
    for bad in ("", "a,b", "x" * 41):
        refused = client.post(url(customer, "labels"), json={"label": bad}, headers=staff.headers)
        assert refused.status_code == 422 and "label" in refused.json()["detail"]
    removed = client.delete(url(customer, "labels/VIP"), headers=staff.headers)
    assert removed.status_code == 200 and removed.json()["labels"] == ["refund"]
    gone = client.delete(url(customer, "labels/vip"), headers=staff.headers)
    assert gone.status_code == 404
    assert stored(db_url, customer.id)["labels"] == ["refund"]
    actions = [(e["action"], e["after"] or e["before"]) for e in audit_log(db_url, "conversation.")]
    assert actions == [  # newest first
        ("conversation.unlabel", {"label": "vip"}),
        ("conversation.label", {"label": "vip"}),
        ("conversation.label", {"label": "refund"}),
    ]


def test_the_transcript_list_filters_by_label_and_the_export_carries_them(
    client: TestClient, staff: Staff
) -> None:
    labelled, plain = waiting_customer(client), waiting_customer(client)
    post(client, staff, url(labelled, "labels"), {"label": "vip"})
    post(client, staff, url(labelled, "labels"), {"label": "refund"})
    refused = client.get("/staff?label=a,b")
    assert "label: no commas" in refused.text  # shown in the form; the list is not filtered
    page = client.get("/staff?label=VIP").text
    assert labelled.id in page and plain.id not in page
    assert 'data-testid="row-label">vip<' in page
    rows = list(csv.DictReader(io.StringIO(client.get("/staff/export.csv").text)))
    by_conversation = {row["conversation_id"]: row["labels"] for row in rows}
    assert by_conversation == {labelled.id: "refund,vip", plain.id: ""}
    bad = client.get("/staff/export.csv?label=%00")
    assert bad.status_code == 422 and "label" in bad.json()["detail"]
    only = client.get("/staff/export.jsonl?label=vip").text.splitlines()
    assert only and all(f'"conversation_id": "{labelled.id}"' in line for line in only)
    assert '"labels": ["refund", "vip"]' in only[0]


def test_the_transcript_and_live_pages_carry_the_teamwork_panel(
    client: TestClient, staff: Staff
) -> None:
    customer = waiting_customer(client)
    page = client.get(f"/staff/conversations/{customer.id}").text
    assert f'data-conversation="{customer.id}"' in page
    assert 'data-testid="transfer-form"' not in page  # transfer is a live-queue action
    live = client.get(f"/staff/live?conversation={customer.id}").text
    assert 'data-testid="transfer-form"' in live and "/static/teamwork.js" in live


def test_customers_cannot_reach_the_teamwork_routes(client: TestClient, customer: Customer) -> None:
    for method, path, body in (
        ("GET", "notes", None),
        ("POST", "notes", {"text": "x"}),
        ("POST", "labels", {"label": "x"}),
        ("DELETE", "labels/x", None),
        ("POST", "transfer", {"to": 1}),
    ):
        response = client.request(method, url(customer, path), json=body, headers=customer.headers)
        assert response.status_code == 401, (method, path)
