"""Erasing a conversation from the console (chatbot/console/admin/conversations.py): the
button on the transcript page and the confirmed form behind it; the JSON API's erasure is in
tests/api/test_privacy.py."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from chatbot.db.models import AuditEntry
from chatbot.db.session import make_engine, make_session_factory
from tests.api.conftest import Customer, Staff


def test_the_transcript_page_erases_for_admins(
    client: TestClient, customer: Customer, admin: Staff, db_url: str
) -> None:
    client.post(customer.messages_url, json={"text": "hello"}, headers=customer.headers)
    page = client.get(f"/staff/conversations/{customer.id}")
    assert 'data-testid="erase-conversation"' in page.text
    erase = f"/admin/conversations/{customer.id}/erase"
    unconfirmed = client.post(erase, data={"csrf_token": admin.csrf}, follow_redirects=False)
    assert unconfirmed.status_code == 422
    assert client.get(f"/staff/conversations/{customer.id}").status_code == 200
    form = {"csrf_token": admin.csrf, "confirm": "yes"}
    done = client.post(erase, data=form, follow_redirects=False)
    assert done.status_code == 303
    assert client.get(f"/staff/conversations/{customer.id}").status_code == 404
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "conversation.erase")
        )
        assert (entry.actor, entry.target) == ("ada@admin.example", customer.id)
    engine.dispose()
