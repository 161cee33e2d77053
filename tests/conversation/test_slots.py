"""Slot filling: the bot asks for what an intent's action needs, over several turns, then calls.

The manager runs here as the CLI runs it (``handle_message``), with the hashing encoder and a
real order service on a local port.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from chatbot.conversation import slots
from chatbot.conversation.active_model import ActiveModel
from chatbot.conversation.manager import ConversationManager
from chatbot.db import conversations as store
from chatbot.db.base import utcnow
from chatbot.db.knowledge import import_intents
from chatbot.db.models import Conversation, ConversationStatus
from chatbot.knowledge.actions import action_from_json
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.engine import IntentEngine
from tests.fakes import HashingEncoder
from tests.order_api import FAILING, SLOW, TOKEN, OrderApi, order_action, order_api

QUANTITY = action_from_json(
    {
        "slots": [
            {"name": "size", "prompt": {"en": "Which size?"}, "validator": {"choice": ["S", "M"]}},
            {"name": "count", "prompt": {"en": "How many?"}, "validator": "number"},
            {"name": "email", "prompt": {"en": "Your e-mail?"}, "validator": "email"},
        ],
        "call": {"method": "POST", "url": "https://shop.example/reserve"},
        "answer": {"en": "Reserved."},
    }
)


# ---- the slot logic alone


def test_a_message_giving_every_slot_calls_at_once() -> None:
    step = slots.begin("reserve", QUANTITY, "2 in size m please, to ada@example.com", utcnow())

    assert step.kind == "call"
    assert dict(step.values) == {"size": "M", "count": "2", "email": "ada@example.com"}


def test_the_first_missing_slot_is_asked_and_the_values_kept() -> None:
    step = slots.begin("reserve", QUANTITY, "size S", utcnow())

    assert (step.kind, step.slot and step.slot.name) == ("ask", "count")
    assert step.filling is not None and dict(step.filling.values) == {"size": "S"}


def test_an_invalid_value_asks_again_then_gives_up() -> None:
    now = utcnow()
    filling = slots.begin("reserve", QUANTITY, "size S", now).filling
    assert filling is not None
    for tries in range(1, slots.MAX_TRIES):
        step = slots.advance(filling, QUANTITY, "lots", now)
        assert (step.kind, step.retry) == ("ask", True)
        assert step.filling is not None and step.filling.tries == tries
        filling = step.filling

    assert slots.advance(filling, QUANTITY, "lots", now).kind == "gave_up"


@pytest.mark.parametrize("text", ["never mind", "Cancel!", "算了", "取消", "forget it"])
def test_the_customer_can_call_it_off(text: str) -> None:
    filling = slots.Filling("reserve", "count", {"size": "S"})

    assert slots.advance(filling, QUANTITY, text, utcnow()).kind == "cancelled"


def test_a_filling_expires() -> None:
    stored = slots.Filling("reserve", "count", since=utcnow() - timedelta(hours=1)).to_json()

    assert slots.active(stored, utcnow()) is None
    assert slots.active(stored, utcnow() - timedelta(minutes=50)) is not None
    assert slots.active({"intent": "reserve"}, utcnow()) is None  # unreadable: forgotten


def test_the_built_in_invalid_messages_name_the_choices() -> None:
    size = QUANTITY.slots[0]

    assert slots.invalid_message(size, "en") == "Please choose one of: S, M."
    assert slots.invalid_message(size, "zh") == "请从以下选项中选择：S, M。"


# ---- as the manager runs it


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[OrderApi]:
    monkeypatch.setenv("CHATBOT_ACTION_SECRET_ORDERS_TOKEN", TOKEN)
    with order_api() as running:
        yield running


@pytest.fixture
def manager(db_session: Session, api: OrderApi) -> ConversationManager:
    intents = [
        IntentSpec(
            "order_status",
            "I can look up your order.",
            ("Where is my order?", "Track my order", "订单在哪里"),
            action=order_action(api.url),
        ),
        IntentSpec("opening_hours", "9 to 5.", ("When are you open?", "Opening hours")),
    ]
    import_intents(db_session, intents, replace=True)
    return ConversationManager(ActiveModel(IntentEngine(HashingEncoder(), version="v-test")))


@pytest.fixture
def conversation(db_session: Session) -> Conversation:
    return store.start_conversation(db_session)[0]


def say(
    manager: ConversationManager, session: Session, conversation: Conversation, text: str
) -> tuple[str, str, str | None]:
    turn = manager.handle_message(session, conversation, text)
    assert turn.reply is not None
    return turn.reply.action or "", turn.reply.text, turn.reply.intent


def test_two_turns_ask_for_the_order_then_answer_from_the_service(
    manager: ConversationManager, db_session: Session, conversation: Conversation, api: OrderApi
) -> None:
    asked = say(manager, db_session, conversation, "where is my order?")
    assert asked == ("slot", "What is your order number?", "order_status")
    assert conversation.slot_filling is not None
    assert conversation.slot_filling["asking"] == "order_number"

    answered = say(manager, db_session, conversation, "AB1234")

    assert answered == ("answer", "Order AB1234 is **shipped** (DHL).", "order_status")
    assert conversation.slot_filling is None
    assert [path for _, path, _ in api.requests] == ["/orders/AB1234"]


def test_an_order_number_in_the_first_message_is_used_at_once(
    manager: ConversationManager, db_session: Session, conversation: Conversation
) -> None:
    reply = say(manager, db_session, conversation, "where is my order AB1234?")

    assert reply == ("answer", "Order AB1234 is **shipped** (DHL).", "order_status")


def test_while_a_slot_is_asked_the_message_is_its_value_not_a_question(
    manager: ConversationManager, db_session: Session, conversation: Conversation
) -> None:
    say(manager, db_session, conversation, "where is my order?")

    # "Opening hours" would be an intent of its own: while the number is asked, it is not one.
    action, text, _ = say(manager, db_session, conversation, "Opening hours")

    assert (action, text) == ("slot", "Order numbers look like AB1234. What is your order number?")


def test_too_many_invalid_values_give_up_and_offer_a_person(
    manager: ConversationManager, db_session: Session, conversation: Conversation
) -> None:
    say(manager, db_session, conversation, "where is my order?")
    say(manager, db_session, conversation, "no idea")
    say(manager, db_session, conversation, "12")
    turn = manager.handle_message(db_session, conversation, "the blue one")

    assert turn.reply is not None and turn.reply.action == "action_failed"
    assert turn.reply.suggestions == [{"intent": "human", "question": "Talk to a person"}]
    assert conversation.slot_filling is None


def test_never_mind_calls_it_off_and_the_next_message_is_a_question_again(
    manager: ConversationManager, db_session: Session, conversation: Conversation, api: OrderApi
) -> None:
    say(manager, db_session, conversation, "订单在哪里")
    assert say(manager, db_session, conversation, "算了") == (
        "slot",
        "好的，已取消。还有什么可以帮您的吗？",
        "order_status",
    )

    action, text, intent = say(manager, db_session, conversation, "Opening hours")
    assert (action, intent) == ("answer", "opening_hours") and text.endswith("9 to 5.")
    assert api.requests == []


def test_asking_for_a_person_wins_over_the_slot(
    manager: ConversationManager, db_session: Session, conversation: Conversation
) -> None:
    say(manager, db_session, conversation, "where is my order?")

    action, _, _ = say(manager, db_session, conversation, "I want to talk to a human")

    assert action in ("handoff", "offline")
    assert conversation.slot_filling is None


@pytest.mark.parametrize(("number", "failure"), [(SLOW, "timeout"), (FAILING, "500")])
def test_a_failed_call_apologises_and_offers_a_person(
    manager: ConversationManager,
    db_session: Session,
    conversation: Conversation,
    number: str,
    failure: str,
) -> None:
    say(manager, db_session, conversation, "where is my order?")
    turn = manager.handle_message(db_session, conversation, number)

    assert turn.reply is not None and turn.reply.action == "action_failed"
    assert turn.reply.text.startswith("Sorry, I couldn't look that up just now.")
    assert turn.reply.suggestions == [{"intent": "human", "question": "Talk to a person"}]
    assert conversation.status is ConversationStatus.BOT and conversation.slot_filling is None


def test_the_filling_is_stored_with_the_conversation(
    manager: ConversationManager, db_session: Session, conversation: Conversation, api: OrderApi
) -> None:
    say(manager, db_session, conversation, "where is my order?")
    db_session.flush()
    db_session.expire_all()

    # Another replica's manager, knowing nothing of the first turn, takes the second.
    other = ConversationManager(ActiveModel(IntentEngine(HashingEncoder(), version="v-test")))
    reloaded = store.get_conversation(db_session, conversation.id)
    assert reloaded is not None
    turn = other.handle_message(db_session, reloaded, "ZZ9999")

    assert turn.reply is not None and turn.reply.text == "I can't find order ZZ9999."


def test_a_person_taking_over_ends_the_asking(
    manager: ConversationManager, db_session: Session, conversation: Conversation
) -> None:
    say(manager, db_session, conversation, "where is my order?")
    store.set_status(db_session, conversation, ConversationStatus.WITH_STAFF)
    store.set_status(db_session, conversation, ConversationStatus.BOT)  # handed back

    action, _, intent = say(manager, db_session, conversation, "Opening hours")

    assert (action, intent) == ("answer", "opening_hours")
