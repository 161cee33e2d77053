"""Private notes: stored apart from the messages, with their author, oldest first."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from chatbot.db import conversations as store
from chatbot.db import notes, privacy
from chatbot.db.models import ConversationNote, Role, User


def test_notes_are_kept_apart_from_the_messages(db_session: Session) -> None:
    sam = User(email="sam@staff.example", name="Sam", password_hash="not used here")
    db_session.add(sam)
    conversation, _token = store.start_conversation(db_session)
    store.add_message(db_session, conversation, Role.CUSTOMER, "my parcel is late")
    first = notes.add_note(db_session, conversation, sam, "  Customer since 2019, be kind  ")
    second = notes.add_note(db_session, conversation, sam, "Refund approved by Olga")
    listed = notes.list_notes(db_session, conversation.id)
    assert [(note.id, note.text, author) for note, author in listed] == [
        (first.id, "Customer since 2019, be kind", sam),
        (second.id, "Refund approved by Olga", sam),
    ]
    assert [m.text for m in store.list_messages(db_session, conversation.id)] == [
        "my parcel is late"
    ]
    assert conversation.message_count == 1


@pytest.mark.parametrize("text", ["", "   ", "x" * (notes.MAX_NOTE_CHARS + 1), "nul\x00byte"])
def test_an_empty_or_overlong_note_is_refused(db_session: Session, text: str) -> None:
    sam = User(email="sam@staff.example", password_hash="not used here")
    db_session.add(sam)
    conversation, _token = store.start_conversation(db_session)
    with pytest.raises(notes.NoteError, match=r"^text: "):
        notes.add_note(db_session, conversation, sam, text)
    assert notes.list_notes(db_session, conversation.id) == []


def test_erasing_a_conversation_erases_its_notes(db_session: Session) -> None:
    sam = User(email="sam@staff.example", password_hash="not used here")
    db_session.add(sam)
    conversation, _token = store.start_conversation(db_session)
    notes.add_note(db_session, conversation, sam, "private")
    privacy.erase_conversation(db_session, conversation.id, None)
    assert db_session.query(ConversationNote).count() == 0
