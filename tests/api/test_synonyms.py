"""Synonym groups over the JSON API (chatbot/api/synonyms.py); the page and file uploads are in
tests/console/admin/test_synonyms.py.

A saved change is audited and reaches the serving engine at the next message (the knowledge
base's revision), without a restart.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from chatbot.db.knowledge import knowledge_revision, load_synonyms
from chatbot.knowledge.spec import IntentSpec
from tests.api.conftest import (
    Staff,
    audit_actions,
    database,
    start_conversation,
    store_knowledge,
)

GROUPS = [["退款", "返现", "money back"], ["快递", "包裹"]]
ZH_KNOWLEDGE = [
    IntentSpec("zh_refund", "7天内可以退款。", ("怎么申请退款",), language="zh"),
    IntentSpec("zh_shipping", "满99元包邮。", ("运费怎么算",), language="zh"),
]


def stored(db_url: str) -> tuple[list[tuple[str, ...]], int]:
    with database(db_url) as session:
        return load_synonyms(session), knowledge_revision(session)


def test_the_api_replaces_the_groups_with_a_token_and_audits_it(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    assert client.get("/api/v1/admin/synonyms", headers=admin.token_headers).json()["groups"] == []
    response = client.put(
        "/api/v1/admin/synonyms", json={"groups": GROUPS}, headers=admin.token_headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["groups"] == GROUPS
    assert stored(db_url)[0] == [tuple(group) for group in GROUPS]
    [entry] = [e for e in audit_actions(db_url) if e[0] == "synonyms.update"]
    assert entry[2] == {"groups": []} and entry[3]["groups"] == GROUPS

    again = client.put("/api/v1/admin/synonyms", json={"groups": GROUPS}, headers=admin.headers)
    assert again.status_code == 200  # the signed-in session with its CSRF header works too
    assert len([e for e in audit_actions(db_url) if e[0] == "synonyms.update"]) == 1


def test_bad_groups_get_422_naming_each_group_and_change_nothing(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    client.put("/api/v1/admin/synonyms", json={"groups": GROUPS}, headers=admin.token_headers)
    before = stored(db_url)
    response = client.put(
        "/api/v1/admin/synonyms",
        json={"groups": [["退款", "退钱"], ["退钱", "钱退回"], ["运费"]]},
        headers=admin.token_headers,
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        "group 2: '退钱' is in two synonym groups (group 1 and group 2)",
        "group 3: a synonym group needs at least two different terms",
    ]
    wrong_type = client.put(
        "/api/v1/admin/synonyms", json={"groups": "退款/退钱"}, headers=admin.token_headers
    )
    assert wrong_type.status_code == 422
    assert stored(db_url) == before


def test_staff_and_customers_cannot_read_or_change_them(
    client: TestClient, staff: Staff, db_url: str
) -> None:
    customer = start_conversation(client)
    for headers in (staff.token_headers, customer.headers, {}):
        assert client.get("/api/v1/admin/synonyms", headers=headers).status_code in (401, 403)
        put = client.put("/api/v1/admin/synonyms", json={"groups": GROUPS}, headers=headers)
        assert put.status_code in (401, 403)
    assert stored(db_url)[0] == []


def test_a_change_reaches_the_running_bot_at_the_next_message(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    store_knowledge(db_url, ZH_KNOWLEDGE)

    def ask(text: str) -> dict[str, object]:
        # A new conversation each time: a second fallback in a row would hand over to a person.
        customer = start_conversation(client)
        response = client.post(customer.messages_url, json={"text": text}, headers=customer.headers)
        assert response.status_code == 200, response.text
        return response.json()["reply"]

    before = ask("可以返现吗")
    client.put("/api/v1/admin/synonyms", json={"groups": GROUPS}, headers=admin.token_headers)
    after = ask("可以返现吗")
    assert after["intent"] == "zh_refund"
    assert after["confidence"] > before["confidence"]
