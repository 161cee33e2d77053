"""The knowledge base's JSON API: intents per language, uploads with preview, downloads.

Driven as an integration would drive it: an admin's API token and no cookie (so no CSRF token),
and checked against what the console's forms write (the same audit records, the same stored
intents). A browser session's cookie still needs its CSRF token.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from chatbot.cli import main as cli_main
from chatbot.config import Settings, get_settings
from chatbot.db.audit import list_entries
from chatbot.knowledge.spec import IntentSpec
from chatbot.main import create_app
from tests.api.conftest import (
    PASSWORD,
    STAFF_EMAIL,
    XSS,
    Staff,
    add_account,
    another_browser,
    audit_actions,
    committed,
    revision,
    stored_intents,
)
from tests.factories import SINGLE, tiny_bert
from tests.knowledge.test_actions import ORDER_ACTION
from tests.servers import serving

API = "/api/v1/admin/knowledge"
# A label BANKING77 carries: the `?` would end a URL's path unless quoted.
BANKING_KEY = "reverted_card_payment?"
GIFTS: dict[str, Any] = {
    "key": "gifts",
    "language": "en",
    "category": "Extras",
    "phrasings": ["Do you wrap gifts?", "Can you gift wrap my order?"],
    "answer": "Yes, **free** gift wrapping.",
    "follow_ups": ["returns"],
}


@pytest.fixture
def api(client: TestClient, admin: Staff) -> TestClient:
    """A client holding only the admin's API token: no session cookie, no CSRF token."""
    integration = another_browser(client)
    integration.headers["Authorization"] = f"Bearer {admin.api_token}"
    return integration


def intent_url(key: str) -> str:
    return f"{API}/intents/{quote(key, safe='')}"


def test_an_intent_is_created_read_updated_and_deleted_with_a_token(
    api: TestClient, db_url: str
) -> None:
    created = api.post(f"{API}/intents", json=GIFTS)
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in GIFTS} == GIFTS
    assert body["translations"] == [] and len(body["version"]) == 16

    assert api.get(intent_url("gifts")).json() == body
    assert [i["key"] for i in api.get(f"{API}/intents", params={"q": "GIFT"}).json()] == ["gifts"]

    changed = api.put(
        intent_url("gifts"), json=GIFTS | {"answer": "Yes.", "version": body["version"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["answer"] == "Yes." and changed.json()["version"] != body["version"]

    deleted = api.delete(intent_url("gifts"))
    assert deleted.json() == {"key": "gifts", "removed_from_follow_ups_of": []}
    assert api.get(intent_url("gifts")).status_code == 404
    actions = audit_actions(db_url)
    assert [(action, target) for action, target, _, _ in actions] == [
        ("intent.create", "gifts"),
        ("intent.update", "gifts"),
        ("intent.delete", "gifts"),
    ]
    # The same snapshots the console's forms record.
    assert actions[1][2]["answer"] == GIFTS["answer"] and actions[1][3]["answer"] == "Yes."
    assert actions[2][3] == {"removed_from_follow_ups_of": []}


def test_the_api_and_the_form_store_the_same_intent(
    api: TestClient, client: TestClient, admin: Staff, db_url: str
) -> None:
    api.post(f"{API}/intents", json=GIFTS)
    through_api = stored_intents(db_url)[-1]
    api.delete(intent_url("gifts"))
    form = GIFTS | {"phrasings": "\n".join(GIFTS["phrasings"]), "csrf_token": admin.csrf}
    client.post("/admin/knowledge/new", data=form, follow_redirects=False)
    assert stored_intents(db_url)[-1] == through_api


def test_a_label_with_a_question_mark_works_by_its_quoted_key(
    api: TestClient, client: TestClient, admin: Staff, db_url: str
) -> None:
    created = api.post(f"{API}/intents", json=GIFTS | {"key": BANKING_KEY, "phrasings": ["x?"]})
    assert created.status_code == 201, created.text
    assert api.get(intent_url(BANKING_KEY)).json()["key"] == BANKING_KEY
    # Unquoted, the `?` starts the query string: another (missing) intent.
    assert api.get(f"{API}/intents/{BANKING_KEY}").status_code == 404

    updated = api.put(intent_url(BANKING_KEY), json=GIFTS | {"phrasings": ["x?"], "answer": "B"})
    assert updated.status_code == 200 and updated.json()["answer"] == "B"

    # The console links to it quoted, and its form opens and saves.
    listing = client.get("/admin/knowledge").text
    assert f'href="/admin/knowledge/{quote(BANKING_KEY, safe="")}"' in listing
    page = client.get(f"/admin/knowledge/{quote(BANKING_KEY, safe='')}")
    assert page.status_code == 200 and 'action="/admin/knowledge/reverted_card_payment%3F"' in (
        page.text
    )
    saved = client.post(
        f"/admin/knowledge/{quote(BANKING_KEY, safe='')}",
        data={"csrf_token": admin.csrf, "phrasings": "x?", "answer": "C", "language": "en"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    assert api.get(intent_url(BANKING_KEY)).json()["answer"] == "C"

    assert api.delete(intent_url(BANKING_KEY)).status_code == 200
    assert BANKING_KEY not in [intent.key for intent in stored_intents(db_url)]


def test_refused_fields_are_422_naming_each_field_as_the_form_does(
    api: TestClient, db_url: str
) -> None:
    before, start = stored_intents(db_url), revision(db_url)
    body = GIFTS | {
        "key": "bad key",
        "answer": " ",
        "phrasings": ["How do I return an item?"],  # a phrasing of `returns`
        "follow_ups": ["nowhere"],
    }
    response = api.post(f"{API}/intents", json=body)
    assert response.status_code == 422
    problems = [(p["loc"][-1], p["msg"]) for p in response.json()["detail"]]
    assert problems == [
        ("key", "key: Use 1-200 printable characters without spaces, ',', '|' or '/'."),
        ("answer", "answer: Write the answer."),
    ]
    # Once the intent itself is well formed, the checks against the rest of the knowledge base.
    response = api.post(f"{API}/intents", json=body | {"key": "gifts", "answer": "Yes."})
    problems = [(p["loc"][-1], p["msg"]) for p in response.json()["detail"]]
    assert problems == [
        ("follow_ups", "follow_ups: No intent is called 'nowhere'."),
        ("phrasings", "phrasings: 'How do I return an item?' is already a phrasing of 'returns'."),
    ]
    taken = api.post(f"{API}/intents", json=GIFTS | {"key": "returns", "phrasings": ["a?"]})
    assert taken.status_code == 422
    assert taken.json()["detail"][0]["msg"] == "key: An intent called 'returns' already exists."
    assert stored_intents(db_url) == before and revision(db_url) == start
    assert audit_actions(db_url) == []


def test_an_edit_made_meanwhile_is_a_409_and_stays(api: TestClient, db_url: str) -> None:
    read = api.get(intent_url("returns")).json()
    first = api.put(intent_url("returns"), json=_editable(read) | {"answer": "Within 60 days."})
    assert first.status_code == 200

    stale = api.put(intent_url("returns"), json=_editable(read) | {"answer": "Never."})
    assert stale.status_code == 409
    assert "changed by someone else" in stale.json()["detail"]
    assert api.delete(intent_url("returns"), params={"version": read["version"]}).status_code == 409
    assert api.get(intent_url("returns")).json()["answer"] == "Within 60 days."
    assert [a for a, *_ in audit_actions(db_url)] == ["intent.update"]


def _editable(read: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in read.items() if k != "key"}


def test_other_languages_are_read_and_written_per_language(api: TestClient, db_url: str) -> None:
    body = GIFTS | {
        "translations": [
            {"language": "zh", "answer": "可以免费包装。", "phrasings": ["可以包装礼物吗"]},
            {"language": "de", "answer": None, "phrasings": ["Verpacken Sie Geschenke?"]},
        ]
    }
    created = api.post(f"{API}/intents", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["translations"] == body["translations"]
    stored = stored_intents(db_url)[-1]
    assert stored.answer_in("zh") == ("可以免费包装。", "zh")
    assert stored.answer_in("de") == (GIFTS["answer"], "en")  # no German answer of its own
    assert stored.language_of("Verpacken Sie Geschenke?") == "de"

    # Without translations an update keeps them, as the console's form does.
    version = created.json()["version"]
    kept = api.put(intent_url("gifts"), json=GIFTS | {"answer": "Yes.", "version": version})
    assert kept.json()["translations"] == body["translations"]

    twice = api.put(
        intent_url("gifts"),
        json=GIFTS
        | {
            "translations": [body["translations"][0]] * 2
            + [{"language": "x!", "answer": "a", "phrasings": []}]
        },
    )
    assert twice.status_code == 422
    assert [p["loc"][-1] for p in twice.json()["detail"]] == [
        "translations[1].language",
        "translations[2].phrasings",
        "translations[2].language",
    ]


def test_an_upload_is_previewed_then_confirmed_once(api: TestClient, db_url: str) -> None:
    data = (
        "intent,question,answer\n"
        f"{BANKING_KEY},Why was my card payment reverted?,It was refunded to you.\n"
        "returns,How do I return an item?,Within 60 days.\n"
    ).encode()
    preview = api.post(f"{API}/uploads", files={"file": ("faq.csv", data)})
    assert preview.status_code == 200, preview.text
    shown = preview.json()
    assert (shown["added"], [c["key"] for c in shown["changed"]], shown["applied"]) == (
        [BANKING_KEY],
        ["returns"],
        False,
    )
    assert BANKING_KEY not in [i.key for i in stored_intents(db_url)]  # nothing written yet

    applied = api.post(f"{API}/uploads/confirm", json={"token": shown["token"]})
    assert applied.status_code == 200, applied.text
    assert applied.json()["applied"] is True and applied.json()["token"] is None
    assert api.get(intent_url(BANKING_KEY)).json()["answer"] == "It was refunded to you."
    ((action, target, _before, after),) = audit_actions(db_url)
    assert (action, target, after["added"]) == ("knowledge.import", "faq.csv", [BANKING_KEY])

    again = api.post(f"{API}/uploads/confirm", json={"token": shown["token"]})
    assert again.status_code == 410


def test_a_bad_file_is_422_naming_row_and_column(api: TestClient, db_url: str) -> None:
    before = stored_intents(db_url)
    data = b"intent,question,answer\na/b,Hi?,Hello.\n"
    response = api.post(f"{API}/uploads", files={"file": ("faq.csv", data)})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "file", 2, "intent"]
    assert problem["msg"].startswith("faq.csv, row 2, column 'intent': invalid intent key 'a/b'")
    assert stored_intents(db_url) == before


def test_the_knowledge_base_downloads_in_each_format(api: TestClient) -> None:
    response = api.get(f"{API}/export", params={"format": "jsonl"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert b'"intent": "returns"' in response.content
    assert api.get(f"{API}/export", params={"format": "pdf"}).status_code == 422


def test_a_session_cookie_still_needs_its_csrf_token(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    refused = client.post(f"{API}/intents", json=GIFTS)
    assert refused.status_code == 403
    assert client.delete(intent_url("returns")).status_code == 403
    assert client.post(f"{API}/intents", json=GIFTS, headers=admin.headers).status_code == 201
    assert [a for a, *_ in audit_actions(db_url)] == ["intent.create"]


def test_staff_and_strangers_are_refused(client: TestClient, db_url: str) -> None:
    token = add_account(db_url, STAFF_EMAIL, "staff")
    staff = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{API}/intents", headers=staff).status_code == 403
    assert client.post(f"{API}/intents", json=GIFTS, headers=staff).status_code == 403
    assert client.get(f"{API}/intents").status_code == 401
    wrong = {"Authorization": "Bearer cbt_wrong"}
    assert client.delete(intent_url("returns"), headers=wrong).status_code == 401
    assert audit_actions(db_url) == []


def test_the_routes_are_documented_with_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operations = {
        (method.upper(), path): operation
        for path, methods in schema["paths"].items()
        if path.startswith(API)
        for method, operation in methods.items()
    }
    assert {("POST", f"{API}/intents"), ("PUT", f"{API}/intents/{{key}}")} <= set(operations)
    assert all(op["tags"] == ["knowledge"] for op in operations.values())
    put = operations[("PUT", f"{API}/intents/{{key}}")]
    assert {"409", "422"} <= set(put["responses"])
    assert schema["components"]["schemas"]["IntentCreate"]["examples"][0]["key"] == "refunds"


# ---- the whole loop, as an integration would run it


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[Callable[..., str]]:
    """`chatbot ARGV...` in-process on the test's database; returns what it printed."""
    monkeypatch.setenv("CHATBOT_DATABASE_URL", db_url)
    get_settings.cache_clear()

    def run(*argv: str, stdin: str = "") -> str:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli_main(list(argv)) == 0, argv
        return out.getvalue()

    yield run
    get_settings.cache_clear()


def test_an_integration_builds_trains_and_serves_with_only_an_api_token(
    cli: Callable[..., str], db_url: str, tmp_path: Path
) -> None:
    # The admin and their token, made the way a person would: with the command line.
    cli(
        "users", "create", "ops@shop.example", "--role", "admin", "--password-stdin", stdin=PASSWORD
    )
    token = cli("tokens", "create", "ops@shop.example", "--name", "ci").strip()
    assert token.startswith("cbt_")
    # A tiny random BERT as the base model: real training, in seconds, without the packaged one.
    vocabulary = [*SINGLE, IntentSpec("x", "x", tuple(UPLOADED.splitlines()))]
    settings = Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        base_model=tiny_bert(tmp_path / "tiny-bert", vocabulary),
        device="cpu",
        torch_threads=1,
    )
    with (
        serving(create_app(settings)) as base_url,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as api,
    ):
        intent = SINGLE[0]
        created = api.post(
            f"{API}/intents",
            json={"key": intent.key, "phrasings": list(intent.phrasings), "answer": intent.answer},
        )
        assert created.status_code == 201, created.text

        preview = api.post(f"{API}/uploads", files={"file": ("faq.csv", UPLOADED.encode())})
        assert preview.status_code == 200, preview.text
        assert preview.json()["added"] == ["returns", "hours", BANKING_KEY]
        applied = api.post(f"{API}/uploads/confirm", json={"token": preview.json()["token"]})
        assert applied.status_code == 200 and applied.json()["applied"], applied.text

        started = api.post("/api/v1/admin/training", json={"epochs": 1, "device": "cpu"})
        assert started.status_code == 202, started.text
        run = _finished_run(api, started.json()["id"])
        assert run["status"] == "succeeded", run["error"]
        version = run["model_version"]

        activated = api.post(f"/api/v1/admin/models/{quote(version, safe='')}/activate")
        assert activated.status_code == 200, activated.text
        assert activated.json()["active"] is True
        deadline = time.monotonic() + 60
        while api.get("/readyz").json().get("model") != version:
            assert time.monotonic() < deadline, "the activated version is not served"
            time.sleep(0.2)
        assert api.get(intent_url(BANKING_KEY)).json()["answer"] == "It was refunded to you."

    with committed(db_url) as session:
        actions = [(entry.action, entry.actor) for entry in reversed(list_entries(session))]
    assert actions == [
        ("user.create", None),  # the command line acts as nobody in particular
        ("token.create", None),
        ("intent.create", "ops@shop.example"),
        ("knowledge.import", "ops@shop.example"),
        ("training.start", "ops@shop.example"),
        ("model.activate", "ops@shop.example"),
    ]


UPLOADED = (
    "intent,question,answer\n"
    "returns,How do I return an item?,Within 30 days.\n"
    "hours,What are your opening hours?,9:00-17:00.\n"
    f"{BANKING_KEY},Why was my card payment reverted?,It was refunded to you.\n"
)


def _finished_run(api: httpx.Client, run_id: int, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = api.get(f"/api/v1/admin/training/{run_id}").json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"training run {run_id} did not finish in {timeout} s")


def test_an_intent_carries_its_action_through_the_api(api: TestClient, db_url: str) -> None:
    created = api.post(
        f"{API}/intents", json=GIFTS | {"key": "order_status", "action": ORDER_ACTION}
    )
    assert created.status_code == 201, created.text
    assert created.json()["action"] == ORDER_ACTION
    [stored] = [i for i in stored_intents(db_url) if i.key == "order_status"]
    assert stored.action is not None and stored.action.to_json() == ORDER_ACTION

    broken = {**ORDER_ACTION, "call": {**ORDER_ACTION["call"], "method": "TELEPORT"}}
    refused = api.put(intent_url("order_status"), json=GIFTS | {"action": broken})
    assert refused.status_code == 422
    assert any(
        str(problem["loc"][1]).startswith("action") and "TELEPORT" in problem["msg"]
        for problem in refused.json()["detail"]
    ), refused.text
    # Null takes the action away: the intent answers with its text again.
    plain = api.put(intent_url("order_status"), json=GIFTS | {"action": None})
    assert plain.status_code == 200 and plain.json()["action"] is None


def test_the_markdown_preview_is_sanitised(client: TestClient, admin: Staff) -> None:
    response = client.post(
        "/api/v1/admin/knowledge/preview",
        json={"markdown": f"**Bold** | a |\n{XSS} [x](javascript:alert(1))"},
        headers=admin.headers,
    )

    assert response.status_code == 200
    preview = response.json()["html"]
    assert "<strong>Bold</strong>" in preview
    assert "&lt;script&gt;" in preview  # shown as text, never as markup
    assert "<script" not in preview
    assert "<img" not in preview
    assert 'href="javascript' not in preview


def test_the_preview_takes_api_tokens_and_refuses_others(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    body = {"markdown": "*hi*"}
    by_token = client.post(
        "/api/v1/admin/knowledge/preview", json=body, headers=admin.token_headers
    )
    assert by_token.json() == {"html": "<p><em>hi</em></p>"}
    client.cookies.clear()
    assert client.post("/api/v1/admin/knowledge/preview", json=body).status_code == 401
    too_long = client.post(
        "/api/v1/admin/knowledge/preview",
        json={"markdown": "x" * 20_001},
        headers=admin.token_headers,
    )
    assert too_long.status_code == 422
