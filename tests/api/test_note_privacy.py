"""A private note (and a label) never reaches the customer: not through any customer route, not
through the customer's WebSocket, not in the transcript the customer fetches.

The routes are enumerated from the app, so a new customer route fails here until it is read too.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute
from fastapi.testclient import TestClient

from tests.api.conftest import Staff, add_account, another_browser
from tests.api.test_attachments import png, upload
from tests.api.test_chat import transcript, wait_for_subscribers
from tests.api.test_principals import CUSTOMER_PREFIX, PUBLIC, all_routes
from tests.api.test_takeover import OTHER_EMAIL, events_until, post, url, waiting_customer

NOTE = "NOTE-7f3a: refund fraud suspected, do not tell the customer"
LABEL = "suspect-7f3a"
SECRETS = ("7f3a", "fraud suspected")


def customer_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every HTTP route a customer or anonymous visitor may call."""
    return sorted(
        (method, path)
        for kind, path, methods in all_routes(app)
        # The customer routes have a route class of their own (a subclass of APIRoute); the
        # documentation's routes are Starlette's.
        if kind is not APIWebSocketRoute and (path in PUBLIC or path.startswith(CUSTOMER_PREFIX))
        for method in methods - {"HEAD"}
    )


def assert_private(where: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} reached the customer through {where}"


def test_notes_and_labels_never_reach_the_customer(
    client: TestClient, app: FastAPI, staff: Staff, db_url: str
) -> None:
    olga = add_account(db_url, OTHER_EMAIL)
    browser = another_browser(client)  # the customer's: no staff cookie in it
    customer = waiting_customer(browser)
    bot_message = transcript(browser, customer)["messages"][-1]["id"]
    socket_url = f"/api/v1/conversations/{customer.id}/ws"
    assert (APIWebSocketRoute, socket_url.replace(customer.id, "{conversation_id}"), set()) in [
        (kind, path, methods) for kind, path, methods in all_routes(app)
    ]
    with browser.websocket_connect(socket_url) as widget:
        widget.send_json({"token": customer.token})
        wait_for_subscribers(client, customer, 1)
        post(client, staff, url(customer, "claim"))
        note = client.post(url(customer, "notes"), json={"text": NOTE}, headers=staff.headers)
        assert note.status_code == 201
        post(client, staff, url(customer, "labels"), {"label": LABEL})
        colleague = [
            p
            for p in client.get("/api/v1/staff/colleagues", headers=staff.headers).json()
            if p["name"] == OTHER_EMAIL
        ]
        post(client, staff, url(customer, "transfer"), {"to": colleague[0]["id"]})
        olga_headers = {"Authorization": f"Bearer {olga}"}
        replied = client.post(url(customer, "reply"), json={"text": "Done"}, headers=olga_headers)
        assert replied.status_code == 200
        events = events_until(widget, lambda e: e.get("message", {}).get("text") == "Done")
    # The widget heard the transfer and the reply, and nothing of the note or the label.
    assert {"type": "status", "status": "with_staff", "agent": "olga"} in events
    assert_private("the customer WebSocket", json.dumps(events))

    # Every customer and public route, with this customer's id and token where it takes them.
    sent = upload(browser, customer, "photo.png", png())
    assert sent.status_code == 201, sent.text
    attachment = sent.json()["attachment"]["id"]
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/v1/conversations"): None,
        ("POST", "/api/v1/conversations/{conversation_id}/messages"): {"text": "and now?"},
        ("POST", "/api/v1/conversations/{conversation_id}/handoff"): None,
        ("POST", "/api/v1/conversations/{conversation_id}/offline"): {
            "email": "ada@example.org",
            "text": "hello",
        },
        ("POST", "/api/v1/conversations/{conversation_id}/satisfaction"): {"rating": 5},
        ("POST", "/api/v1/messages/{message_id}/feedback"): {"helpful": True},
        ("POST", "/login"): None,
        # An attachment's body is the file itself (bytes), not JSON.
        ("POST", "/api/v1/conversations/{conversation_id}/attachments"): png(),
    }
    read = []
    for method, path in customer_routes(app):
        concrete = (
            path.replace("{conversation_id}", customer.id)
            .replace("{message_id}", str(bot_message))
            .replace("{language}", "en")
            .replace("{attachment_id}", str(attachment))
        )
        assert "{" not in concrete, f"no value for a parameter of {path}: add it here"
        assert method == "GET" or (method, path) in bodies, f"no body for {method} {path}"
        body = bodies.get((method, path))
        if isinstance(body, bytes):
            response = upload(browser, customer, "again.png", body)
        else:
            response = browser.request(method, concrete, json=body, headers=customer.headers)
        assert response.status_code < 500, (method, path, response.text)
        assert_private(f"{method} {path}", response.text)
        read.append((method, path))
    assert ("GET", "/api/v1/conversations/{conversation_id}/messages") in read
    assert ("GET", "/api/v1/widget/config") in read and ("GET", "/chat") in read
    assert len(read) == len(set(read)) >= len(PUBLIC) + 5
    assert_private("the transcript", json.dumps(transcript(browser, customer)))
    # The note is there for staff: what is checked above could have leaked.
    staff_view = client.get(url(customer, "notes"), headers=staff.headers).text
    assert NOTE in staff_view
    assert LABEL in client.get(url(customer, "labels"), headers=staff.headers).text
