"""Unanswered questions over HTTP: who may see them, the groups, each action and bad input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from chatbot import training
from chatbot.config import Settings
from chatbot.db.knowledge import find_intent
from chatbot.db.models import AuditEntry, Correction, UnansweredReview
from chatbot.db.session import make_engine, make_session_factory
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.pipeline import TrainingDataError
from chatbot.nlu.validation import Example
from tests.api.conftest import Staff, committed, start_conversation

URL = "/api/v1/admin/unanswered"
LOST = ["zebra quantum tambourine", "do you offer gift wrapping", "can you gift wrap my order"]


def _ask(client: TestClient, texts: Sequence[str]) -> None:
    for text in texts:
        customer = start_conversation(client)
        answer = client.post(customer.messages_url, json={"text": text}, headers=customer.headers)
        assert answer.status_code == 200, answer.text


def _groups(client: TestClient, admin: Staff) -> list[dict[str, Any]]:
    answer = client.get(URL, headers=admin.token_headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["groups"])


def _ids(groups: list[dict[str, Any]]) -> list[int]:
    return [i for group in groups for i in group["message_ids"]]


def test_admins_only(client: TestClient, staff: Staff) -> None:
    assert client.get(URL, headers=staff.token_headers).status_code == 403
    assert client.get("/admin/unanswered").status_code in (303, 403)


def test_groups_list_every_unanswered_message(client: TestClient, admin: Staff) -> None:
    _ask(client, [*LOST, "How do I return an item?"])
    groups = _groups(client, admin)
    texts = sorted(e["text"] for g in groups for e in g["examples"])
    assert texts == sorted(LOST)  # the answered question is not there
    for group in groups:
        assert group["size"] == len(group["message_ids"])
        assert group["reasons"] and group["language"] == "en"
        nearest = group["nearest_intent"]
        assert nearest is None or set(nearest) == {"intent", "score", "confidence"}


def test_add_as_phrasings_reaches_the_knowledge_base_and_the_next_training_run(
    client: TestClient,
    admin: Staff,
    db_url: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _ask(client, LOST[1:])
    ids = _ids(_groups(client, admin))
    answer = client.post(
        f"{URL}/phrasings",
        json={"message_ids": ids, "intent": "returns"},
        headers=admin.token_headers,
    )
    assert answer.status_code == 200, answer.text
    assert _groups(client, admin) == []  # settled: they do not come back
    with committed(db_url) as session:
        returns = find_intent(session, "returns")
        assert returns is not None and set(LOST[1:]) <= set(returns.phrasings)
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "intent.update")
        ).one()
        assert entry.target == "returns" and entry.actor is not None
        run = training.start_run(session, settings, epochs=1, device="cpu", activate=False)
        run_id = run.id

    seen: dict[str, Any] = {}

    def capture(
        base: object, intents: Sequence[IntentSpec], corrections: Sequence[Example], **_: object
    ) -> None:
        seen["examples"] = {(p, i.key) for i in intents for p in i.phrasings}
        raise TrainingDataError("captured")

    monkeypatch.setattr(training, "train_model", capture)
    engine = make_engine(db_url)
    try:
        with pytest.raises(TrainingDataError):
            training.execute_run(
                settings,
                make_session_factory(engine),
                run_id,
                load_base=lambda device: object(),  # type: ignore[arg-type,return-value]
            )
    finally:
        engine.dispose()
    assert {(text, "returns") for text in LOST[1:]} <= seen["examples"]


def test_an_added_phrasing_keeps_its_language_and_the_intent_the_rest(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    chinese = "寄回去的东西怎么处理"
    with committed(db_url) as session:
        before = find_intent(session, "returns")
    assert before is not None
    _ask(client, [chinese])
    answer = client.post(
        f"{URL}/phrasings",
        json={"message_ids": _ids(_groups(client, admin)), "intent": "returns"},
        headers=admin.token_headers,
    )
    assert answer.status_code == 200, answer.text
    with committed(db_url) as session:
        after = find_intent(session, "returns")
    assert after is not None and chinese in after.phrasings
    assert after.language_of(chinese) == "zh"  # not the intent's English
    assert after.phrasings_in(before.language) == before.phrasings_in(before.language)
    assert (after.answer, after.answers, after.category, after.follow_ups, after.action) == (
        before.answer,
        before.answers,
        before.category,
        before.follow_ups,
        before.action,
    )


def test_new_intent_out_of_scope_and_dismiss(client: TestClient, admin: Staff, db_url: str) -> None:
    _ask(client, LOST)
    ids = _ids(_groups(client, admin))
    created = client.post(
        f"{URL}/intents",
        json={"message_ids": ids[:1], "key": "gift_wrap", "answer": "Yes, for 2 euros."},
        headers=admin.token_headers,
    )
    assert created.status_code == 201, created.text
    out = client.post(
        f"{URL}/out_of_scope", json={"message_ids": ids[1:2]}, headers=admin.token_headers
    )
    assert out.status_code == 200, out.text
    gone = client.post(f"{URL}/dismiss", json={"message_ids": ids[2:]}, headers=admin.token_headers)
    assert gone.status_code == 200, gone.text
    assert _groups(client, admin) == []
    with committed(db_url) as session:
        assert find_intent(session, "gift_wrap") is not None
        corrections = session.scalars(select(Correction)).all()
        assert [(c.intent, c.created_by is not None) for c in corrections] == [(None, True)]
        outcomes = {r.message_id: r.outcome for r in session.scalars(select(UnansweredReview))}
        assert outcomes == {ids[0]: "new_intent", ids[1]: "out_of_scope", ids[2]: "dismissed"}
        actions = sorted(e.action for e in session.scalars(select(AuditEntry)))
        assert actions == ["intent.create", "unanswered.dismiss", "unanswered.out_of_scope"]


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("phrasings", {"message_ids": [], "intent": "returns"}, "message_ids"),
        ("phrasings", {"message_ids": ["x"], "intent": "returns"}, "message_ids"),
        ("phrasings", {"message_ids": [999999], "intent": "returns"}, "message_ids"),
        ("dismiss", {"message_ids": [2**63]}, "message_ids"),  # past any database's integer
        ("phrasings", {"message_ids": "MESSAGE", "intent": "no_such_intent"}, "intent"),
        ("intents", {"message_ids": "MESSAGE", "key": "has space", "answer": "A."}, "key"),
        ("intents", {"message_ids": "MESSAGE", "key": "returns", "answer": "A."}, "key"),
        ("dismiss", {}, "message_ids"),
    ],
)
def test_bad_input_is_422_and_changes_nothing(
    client: TestClient, admin: Staff, db_url: str, path: str, body: dict[str, Any], where: str
) -> None:
    _ask(client, LOST[:1])
    ids = _ids(_groups(client, admin))
    if body.get("message_ids") == "MESSAGE":
        body = {**body, "message_ids": ids}
    answer = client.post(f"{URL}/{path}", json=body, headers=admin.token_headers)
    assert answer.status_code == 422, answer.text
    assert where in str(answer.json()["detail"])
    assert _ids(_groups(client, admin)) == ids
    bad_period = client.get(URL, params={"since": "yesterday"}, headers=admin.token_headers)
    assert bad_period.status_code == 422 and "since" in bad_period.json()["detail"]
