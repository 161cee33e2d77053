"""The unanswered questions' page (chatbot/console/admin/unanswered.py) and its forms; the
JSON API's tests, and the helpers shared here, are in tests/api/test_unanswered.py."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import Staff
from tests.api.test_unanswered import LOST, _ask, _groups, _ids


def test_the_page_and_its_forms(client: TestClient, admin: Staff, db_url: str) -> None:
    _ask(client, LOST[:1])
    page = client.get("/admin/unanswered")
    assert page.status_code == 200 and LOST[0] in page.text
    ids = _ids(_groups(client, admin))
    form = {"csrf_token": admin.csrf, "message_ids": ",".join(map(str, ids))}
    no_csrf = client.post("/admin/unanswered/dismiss", data={"message_ids": form["message_ids"]})
    assert no_csrf.status_code == 403
    bad = client.post("/admin/unanswered/phrasings", data={**form, "intent": "nope"})
    assert bad.status_code == 422 and "nope" in bad.text
    done = client.post("/admin/unanswered/dismiss", data=form, follow_redirects=False)
    assert done.status_code == 303
    assert LOST[0] not in client.get(done.headers["location"]).text
