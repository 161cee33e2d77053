"""The webhooks page (chatbot/console/admin/webhooks.py): adding, testing, saving and deleting
a webhook through its forms, against the same app, receiver and helpers as the JSON API's tests
in tests/api/test_webhooks.py."""

from __future__ import annotations

import json
import re
import time

from fastapi.testclient import TestClient

from tests.api import test_webhooks as webhook_tests
from tests.api.conftest import ADMIN_EMAIL, sign_in
from tests.api.test_webhooks import ADMIN, API, verified
from tests.receiver import Receiver

# The JSON API tests' fixtures, bound here by name so that pytest finds them for this module.
settings = webhook_tests.settings
app = webhook_tests.app
receiver = webhook_tests.receiver


def test_the_console_adds_a_webhook_and_its_test_event_button_delivers(
    client: TestClient, receiver: Receiver, db_url: str
) -> None:
    csrf = sign_in(client, ADMIN_EMAIL)
    page = client.get("/admin/webhooks")
    assert page.status_code == 200 and "Nothing sent yet." in page.text
    refused = client.post(
        "/admin/webhooks",
        data={"csrf_token": csrf, "url": "ftp://x.example/", "events": ["message.created"]},
    )
    assert refused.status_code == 422 and "Check the address" in refused.text
    created = client.post(
        "/admin/webhooks",
        data={
            "csrf_token": csrf,
            "url": receiver.url,
            "description": "CRM",
            "events": ["conversation.closed", "feedback.given"],
        },
    )
    assert created.status_code == 200, created.text
    secret = re.search(r'data-testid="webhook-secret-value">([^<]+)<', created.text)
    assert secret, "the new secret is not shown"
    webhook_id = client.get(API, headers=ADMIN).json()[0]["id"]
    assert client.get(API, headers=ADMIN).json()[0]["events"] == [
        "conversation.closed",
        "feedback.given",
    ]
    assert secret.group(1) not in client.get("/admin/webhooks").text  # masked from now on

    without_csrf = client.post(f"/admin/webhooks/{webhook_id}/test")
    assert without_csrf.status_code == 403
    tested = client.post(
        f"/admin/webhooks/{webhook_id}/test", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert tested.status_code == 303
    [request] = receiver.wait_for(lambda seen: len(seen) >= 1)
    assert json.loads(request.body)["type"] == "webhook.test"
    assert verified(secret.group(1), request)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = client.get(f"/admin/webhooks?webhook={webhook_id}")
        if 'data-status="delivered"' in page.text:
            break
        time.sleep(0.05)
    assert 'data-status="delivered" data-event="webhook.test"' in page.text

    saved = client.post(
        f"/admin/webhooks/{webhook_id}",
        data={"csrf_token": csrf, "url": receiver.url, "events": ["model.activated"]},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    after = client.get(f"{API}/{webhook_id}", headers=ADMIN).json()
    assert (after["events"], after["enabled"], after["description"]) == (
        ["model.activated"],
        False,  # the box was left unticked
        "",
    )
    deleted = client.post(
        f"/admin/webhooks/{webhook_id}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert deleted.status_code == 303
    assert client.get(API, headers=ADMIN).json() == []
