"""The canned replies page (chatbot/console/staff/canned.py): add, edit, delete, with the
form's checks."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.api.conftest import (
    Staff,
)
from tests.api.test_takeover import API


def test_canned_replies_crud_and_validation(client: TestClient, staff: Staff) -> None:
    form = {"csrf_token": staff.csrf}
    created = client.post(
        "/staff/canned",
        data={**form, "title": "Refund delay", "text": "Refunds take 3-5 days.", "language": "en"},
    )
    assert created.status_code == 200 and created.url.path == "/staff/canned"
    assert "Refund delay" in created.text
    [reply] = client.get(f"{API}/canned", headers=staff.headers).json()
    assert (reply["title"], reply["text"], reply["language"]) == (
        "Refund delay",
        "Refunds take 3-5 days.",
        "en",
    )

    too_long = client.post("/staff/canned", data={**form, "title": "x" * 101, "text": "ok"})
    assert too_long.status_code == 422
    assert re.search(r"Title.*1 to 100 characters", too_long.text, re.S)
    empty_text = client.post(
        f"/staff/canned/{reply['id']}", data={**form, "title": "T", "text": " "}
    )
    assert empty_text.status_code == 422 and "1 to 2000 characters" in empty_text.text

    edited = client.post(
        f"/staff/canned/{reply['id']}", data={**form, "title": "Refunds", "text": "3-5 days."}
    )
    assert edited.status_code == 200
    [reply] = client.get(f"{API}/canned", headers=staff.headers).json()
    assert (reply["title"], reply["language"]) == ("Refunds", None)

    no_csrf = client.post(f"/staff/canned/{reply['id']}/delete")
    assert no_csrf.status_code == 403
    assert client.post("/staff/canned/9999/delete", data=form).status_code == 404
    deleted = client.post(f"/staff/canned/{reply['id']}/delete", data=form)
    assert deleted.status_code == 200
    assert client.get(f"{API}/canned", headers=staff.headers).json() == []
