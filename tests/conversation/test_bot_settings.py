from sqlalchemy.orm import Session

from chatbot.conversation.bot_settings import BotSettings
from chatbot.conversation.policies import Thresholds
from chatbot.db import app_settings, revisions
from tests.statements import statements


def _admin_saves(session: Session, **changes: object) -> None:
    app_settings.update(session, app_settings.RuntimeSettings(), changes, "ada@admin.example")


def test_settings_follow_a_change_by_its_revision_and_read_nothing_per_message(
    db_session: Session,
) -> None:
    settings = BotSettings(Thresholds(answer=0.6))
    settings.follow(db_session)
    # The revisions a turn reads anyway say nothing changed: no statement of its own.
    current = revisions.current(db_session)
    assert not settings.behind(current)
    assert statements(db_session, lambda: settings.behind(current)) == []

    _admin_saves(db_session, answer_threshold=0.8, greeting_en="Ahoy!")
    current = revisions.current(db_session)
    assert settings.behind(current)
    settings.follow(db_session)
    assert not settings.behind(revisions.current(db_session))
    assert settings.thresholds.answer == 0.8
    assert settings.texts.small_talk("greeting", "en") == "Ahoy!"


def test_following_unchanged_settings_reads_only_their_revision(db_session: Session) -> None:
    settings = BotSettings()
    _admin_saves(db_session, answer_threshold=0.7)
    settings.follow(db_session)
    assert len(statements(db_session, lambda: settings.follow(db_session))) == 1


def test_the_environments_defaults_stand_until_an_admin_changes_them(db_session: Session) -> None:
    settings = BotSettings(
        Thresholds(answer=0.65), fallbacks_before_handoff=3, offer_person_when_frustrated=False
    )
    settings.follow(db_session)
    assert settings.thresholds.answer == 0.65
    assert settings.fallbacks_before_handoff == 3
    assert settings.offer_person_when_frustrated is False
    defaults = app_settings.RuntimeSettings(offer_person_when_frustrated=False)
    app_settings.update(db_session, defaults, {"offer_person_when_frustrated": "on"}, None)
    settings.follow(db_session)
    assert settings.offer_person_when_frustrated is True
