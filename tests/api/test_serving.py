"""The customer path under concurrency: nothing lost, nothing twice, 503 (never 500) when full;
a staff claim in the middle of a customer's messages is never overwritten."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from torch import Tensor

from chatbot.config import Settings
from chatbot.conversation.service import ORDER_WAIT_MAX_S
from chatbot.db import conversations as store
from chatbot.db.models import Conversation, Message, Role
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.main import create_app
from tests.api.conftest import (
    KNOWLEDGE,
    STAFF_EMAIL,
    Customer,
    add_account,
    start_conversation,
    store_knowledge,
)
from tests.fakes import HashingEncoder
from tests.servers import serving

QUESTIONS = ["How long does delivery take?", "How do I return an item?", "do you sell gift cards"]


class GatedEncoder(HashingEncoder):
    """Encodes like the hashing encoder; once armed, fails or waits for a gate, as told."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False
        self.gate: threading.Event | None = None
        self.waiting = threading.Event()

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Tensor:
        if self.failing:
            raise RuntimeError("the model broke")
        if self.gate is not None:
            self.waiting.set()
            self.gate.wait(timeout=60)
        return super().encode(texts, batch_size=batch_size)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "db_url" if request.param == "sqlite" else "postgres_schema_url"
    url: str = request.getfixturevalue(fixture)
    return url


async def _customers_send_at_once(base_url: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        started = await asyncio.gather(
            *(client.post("/api/v1/conversations") for _ in range(count))
        )
        assert all(r.status_code == 201 for r in started), {r.status_code for r in started}
        return list(
            await asyncio.gather(
                *(
                    client.post(
                        f"/api/v1/conversations/{r.json()['id']}/messages",
                        json={"text": QUESTIONS[i % len(QUESTIONS)], "client_id": f"m{i}"},
                        headers={"Authorization": f"Bearer {r.json()['token']}"},
                    )
                    for i, r in enumerate(started)
                )
            )
        )


def test_a_hundred_customers_at_once_each_get_one_reply(database_url: str, tmp_path: Path) -> None:
    # Fewer threads and connections than customers: the old design deadlocked here.
    store_knowledge(database_url, KNOWLEDGE)
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        http_threads=8,
        db_pool_size=2,
        rate_limits_enabled=False,  # a hundred customers on one loopback address
    )
    with serving(create_app(settings, encoder=HashingEncoder())) as url:
        responses = asyncio.run(_customers_send_at_once(url, 100))

    assert [r.status_code for r in responses] == [200] * 100, responses[0].text
    assert all(r.json()["reply"] is not None for r in responses)
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            customer_ids = set(
                session.scalars(select(Message.id).where(Message.role == Role.CUSTOMER))
            )
            answered = list(
                session.scalars(select(Message.reply_to_id).where(Message.role == Role.BOT))
            )
            assert session.scalar(select(func.count()).select_from(Message)) == 200
    finally:
        engine.dispose()
    assert customer_ids == {r.json()["message"]["id"] for r in responses}
    assert sorted(answered) == sorted(customer_ids)  # exactly one reply each


def test_a_retried_send_is_stored_once_with_one_reply(
    client: TestClient, customer: Customer
) -> None:
    body = {"text": "How do I return an item?", "client_id": "retry-1"}
    first = client.post(customer.messages_url, json=body, headers=customer.headers)
    again = client.post(customer.messages_url, json=body, headers=customer.headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    transcript = client.get(customer.messages_url, headers=customer.headers).json()["messages"]
    assert [m["role"] for m in transcript] == ["customer", "bot"]


def test_a_model_failure_keeps_the_message_and_a_retry_answers_it(
    settings: Settings, db_url: str
) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    encoder = GatedEncoder()
    with TestClient(create_app(settings, encoder=encoder)) as client:
        customer = start_conversation(client)
        body = {"text": "How do I return an item?", "client_id": "c-1"}
        encoder.failing = True
        failed = client.post(customer.messages_url, json=body, headers=customer.headers)
        assert failed.status_code == 503
        assert failed.headers["Retry-After"] == "1"
        assert "your message is saved" in failed.json()["detail"]
        kept = client.get(customer.messages_url, headers=customer.headers).json()["messages"]
        assert [(m["role"], m["text"]) for m in kept] == [("customer", body["text"])]

        encoder.failing = False
        retried = client.post(customer.messages_url, json=body, headers=customer.headers)
        assert retried.status_code == 200
        assert retried.json()["message"]["id"] == kept[0]["id"]
        assert retried.json()["reply"]["intent"] == "returns"
        after = client.get(customer.messages_url, headers=customer.headers).json()["messages"]
        assert [m["role"] for m in after] == ["customer", "bot"]


def test_past_the_bound_a_turn_gets_503_with_retry_after(tmp_path: Path, db_url: str) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    settings = Settings(database_url=db_url, data_dir=tmp_path, max_pending_turns=1)
    encoder = GatedEncoder()
    with TestClient(create_app(settings, encoder=encoder)) as client:
        first, second = start_conversation(client), start_conversation(client)
        encoder.gate = threading.Event()
        answers: list[httpx.Response] = []
        sender = threading.Thread(
            target=lambda: answers.append(
                client.post(
                    first.messages_url,
                    json={"text": "How do I return an item?"},
                    headers=first.headers,
                )
            )
        )
        sender.start()
        assert encoder.waiting.wait(timeout=30), "the first turn never reached the model"
        refused = client.post(
            second.messages_url, json={"text": "How do I return an item?"}, headers=second.headers
        )
        encoder.gate.set()
        sender.join(timeout=30)
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert "busy" in refused.json()["detail"]
    assert [a.status_code for a in answers] == [200]


def test_an_exhausted_connection_pool_is_a_503_not_a_500(tmp_path: Path, db_url: str) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    settings = Settings(database_url=db_url, data_dir=tmp_path, db_pool_size=1, db_pool_timeout=0.1)
    with TestClient(create_app(settings, encoder=HashingEncoder())) as client:
        customer = start_conversation(client)
        engine = client.app.state.chat.db.engine  # type: ignore[attr-defined]
        # Hold every connection the pool may give (its size plus as many overflow).
        held = [engine.connect() for _ in range(2)]
        try:
            started = time.monotonic()
            busy = client.post(
                customer.messages_url, json={"text": "hello"}, headers=customer.headers
            )
        finally:
            for connection in held:
                connection.close()
        assert time.monotonic() - started < 30  # a clear answer, not a stall
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "1"
        assert (
            client.post(
                customer.messages_url, json={"text": "hello"}, headers=customer.headers
            ).status_code
            == 200
        )


def _another_replica_stores(
    database_url: str, conversation_id: str, role: Role, **fields: object
) -> int:
    """A message stored as a turn running on another replica would store it; returns its id."""
    engine = make_engine(database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            conversation = store.get_conversation(session, conversation_id)
            assert conversation is not None
            text = "When will I get my refund?" if role is Role.CUSTOMER else "In 3-5 days."
            return store.add_message(session, conversation, role, text, **fields).id
    finally:
        engine.dispose()


def test_replies_keep_the_order_of_the_customers_messages(
    client: TestClient, customer: Customer, db_url: str
) -> None:
    # The customer's first message is being answered on another replica, slowly.
    first = _another_replica_stores(db_url, customer.id, Role.CUSTOMER)
    with ThreadPoolExecutor(1) as pool:
        second = pool.submit(
            client.post,
            customer.messages_url,
            json={"text": "How do I return an item?"},
            headers=customer.headers,
        )
        time.sleep(0.5)
        assert not second.done(), "the second message was answered before the first"
        first_reply = _another_replica_stores(db_url, customer.id, Role.BOT, reply_to_id=first)
        response = second.result(timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["reply"]["id"] > first_reply
    transcript = client.get(customer.messages_url, headers=customer.headers).json()["messages"]
    reply = response.json()
    # The replies come in the order of the messages they answer.
    assert [m["id"] for m in transcript] == [
        first,
        reply["message"]["id"],
        first_reply,
        reply["reply"]["id"],
    ]


def test_a_message_left_unanswered_holds_the_next_reply_only_briefly(
    client: TestClient, customer: Customer, db_url: str
) -> None:
    _another_replica_stores(db_url, customer.id, Role.CUSTOMER)  # its turn failed for good
    started = time.monotonic()
    response = client.post(
        customer.messages_url, json={"text": "How do I return an item?"}, headers=customer.headers
    )
    waited = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["reply"]["intent"] == "returns"
    assert ORDER_WAIT_MAX_S <= waited < ORDER_WAIT_MAX_S + 10


# Phrasings the tiny knowledge base answers outright: no clarifying, no fallback, no handoff.
ANSWERED = [
    "How do I return an item?",
    "When will I get my refund?",
    "How long does delivery take?",
]
SENDERS = 8  # browser tabs of one customer, each sending as soon as its last message is answered
SENT_EACH = 6


async def _staff_replies_while_the_customer_writes(
    base_url: str, staff_token: str
) -> tuple[httpx.Response, list[httpx.Response]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        created = await client.post("/api/v1/conversations")
        assert created.status_code == 201, created.text
        conversation = created.json()
        customer = Customer(conversation["id"], conversation["token"])
        sent: list[httpx.Response] = []

        async def tab(number: int) -> None:
            for i in range(SENT_EACH):
                body = {"text": ANSWERED[i % len(ANSWERED)], "client_id": f"tab{number}-{i}"}
                sent.append(
                    await client.post(customer.messages_url, json=body, headers=customer.headers)
                )

        async def staff_member() -> httpx.Response:
            # Once every tab had one answer: the others' messages are in flight.
            while len(sent) < SENDERS:
                await asyncio.sleep(0.005)
            return await client.post(
                f"/api/v1/staff/conversations/{customer.id}/reply",
                json={"text": "Sam here, I will take it from here."},
                headers={"Authorization": f"Bearer {staff_token}"},
            )

        *_, claimed = await asyncio.gather(*(tab(n) for n in range(SENDERS)), staff_member())
        return claimed, sent


def test_a_staff_claim_amid_a_customers_messages_is_never_overwritten(
    database_url: str, tmp_path: Path
) -> None:
    # The staff reply claims the conversation and stores a message in one transaction: the
    # message's id marks the claim's place among the conversation's writes. Each customer turn
    # stores its message and its reply in two transactions, each locking the conversation row.
    store_knowledge(database_url, KNOWLEDGE)
    staff_token = add_account(database_url, STAFF_EMAIL)
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, http_threads=8, rate_limits_enabled=False
    )
    with serving(create_app(settings, encoder=HashingEncoder())) as url:
        claimed, sent = asyncio.run(_staff_replies_while_the_customer_writes(url, staff_token))

    assert claimed.status_code == 200, claimed.text
    assert [r.status_code for r in sent] == [200] * SENDERS * SENT_EACH, sent[0].text
    claim = claimed.json()["id"]
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            (conversation,) = session.scalars(select(Conversation)).all()
            messages = list(session.scalars(select(Message).order_by(Message.id)))
    finally:
        engine.dispose()
    customers = [m for m in messages if m.role is Role.CUSTOMER]
    bots = [m for m in messages if m.role is Role.BOT and m.reply_to_id is not None]
    # The race happened: the customer wrote on both sides of the claim, the bot answered before.
    assert any(m.id < claim for m in customers) and any(m.id > claim for m in customers)
    assert any(m.id < claim for m in bots)
    # No bot reply after the claim: a reply stored later would have overwritten it.
    assert [m.id for m in bots if m.id > claim] == []
    assert all(r.json()["reply"] is None for r in sent if r.json()["message"]["id"] > claim)
    assert conversation.status.value == "with_staff"
    # Every message counted: no turn's count overwrote another's.
    assert conversation.message_count == len(messages)


class RecordingEncoder(HashingEncoder):
    """Encodes like the hashing encoder and keeps every text it was given."""

    def __init__(self, watched: str) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.calls: list[list[str]] = []
        self.watched = watched
        self.read_watched = threading.Event()

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Tensor:
        self.texts += texts
        self.calls.append(list(texts))
        if self.watched in texts:
            self.read_watched.set()
        return super().encode(texts, batch_size=batch_size)


def test_the_model_reads_a_message_while_it_is_being_stored(
    settings: Settings, db_url: str
) -> None:
    # A lone reply waits for the longer of storing and reading the message, not for their sum.
    store_knowledge(db_url, KNOWLEDGE)
    text = "How do I return an item?"
    encoder = RecordingEncoder(text)
    with TestClient(create_app(settings, encoder=encoder)) as client:
        customer = start_conversation(client)
        encoder.texts.clear()  # the knowledge base's phrasings, encoded at start-up
        encoder.read_watched.clear()
        engine, reader = make_engine(db_url), make_engine(db_url, read_only=True)
        try:
            with ThreadPoolExecutor(1) as pool, engine.connect() as other:
                # Another writer holds the conversation row: the message cannot be stored yet.
                other.execute(
                    update(Conversation)
                    .where(Conversation.id == customer.id)
                    .values(language=Conversation.language)
                )
                sent = pool.submit(
                    client.post,
                    customer.messages_url,
                    json={"text": text},
                    headers=customer.headers,
                )
                assert encoder.read_watched.wait(timeout=30), "the model waited for the store"
                with make_session_factory(reader)() as session:
                    assert session.scalar(select(func.count()).select_from(Message)) == 0
                other.rollback()
                response = sent.result(timeout=60)
        finally:
            engine.dispose()
            reader.dispose()
    assert response.status_code == 200, response.text
    assert response.json()["reply"]["intent"] == "returns"
    assert encoder.texts.count(text) == 1  # read once: the stored turn added nothing to read


def test_a_follow_up_is_read_once_with_the_question_before_it(
    client: TestClient, db_url: str
) -> None:
    encoder = client.app.state.chat.manager.engine.encoder  # type: ignore[attr-defined]
    customer = start_conversation(client)
    question = "How long does delivery take?"
    first = client.post(customer.messages_url, json={"text": question}, headers=customer.headers)
    assert first.json()["reply"]["action"] == "answer"
    seen = RecordingEncoder("and express?")
    encoder.encode = seen.encode  # the app's own model, watched
    client.post(customer.messages_url, json={"text": "and express?"}, headers=customer.headers)
    # Read while it was stored, after the turn this server answered last: once, in one pass.
    assert seen.calls == [["and express?", f"{question} and express?"]]

    # Another replica answered a question of this conversation meanwhile: the stored turn is
    # the one the follow-up is read with.
    asked = _another_replica_stores(db_url, customer.id, Role.CUSTOMER)
    _another_replica_stores(
        db_url, customer.id, Role.BOT, reply_to_id=asked, action="answer", intent="refunds"
    )
    seen.calls.clear()
    client.post(customer.messages_url, json={"text": "and express?"}, headers=customer.headers)
    assert seen.calls[-1] == ["and express?", "When will I get my refund? and express?"]
    assert len(seen.calls) == 2  # the guess, read after the wrong turn, was not used

    # A long message is never a follow-up: however it was guessed, it is read once.
    seen.calls.clear()
    long = "and what about express delivery to an address in another country please"
    client.post(customer.messages_url, json={"text": long}, headers=customer.headers)
    assert seen.calls == [[long]]
