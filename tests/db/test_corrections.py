"""Staff corrections: listed in the order given, one verdict per bot reply."""

from __future__ import annotations

from sqlalchemy.orm import Session

from chatbot.db.corrections import add_correction, list_corrections


def test_corrections_are_listed_in_the_order_given(db_session: Session) -> None:
    first = add_correction(db_session, "where's my stuff", "track_order", created_by="ana")
    second = add_correction(db_session, "what's the weather", None)
    assert [(c.text, c.intent) for c in list_corrections(db_session)] == [
        ("where's my stuff", "track_order"),
        ("what's the weather", None),
    ]
    assert (first.created_by, second.message_id) == ("ana", None)
