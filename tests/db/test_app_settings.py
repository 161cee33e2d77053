"""Runtime settings: validation in one place, overrides stored per field, a revision to follow."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from chatbot.config import Settings
from chatbot.db import app_settings
from chatbot.db.app_settings import RuntimeSettings, SettingsInvalid
from chatbot.db.models import AppSetting

ENV = Settings(answer_threshold=0.6, widget_title="Help desk", company_name="Oak Ltd")
DEFAULTS = RuntimeSettings.from_settings(ENV)


def test_the_defaults_are_the_environments_values() -> None:
    assert (DEFAULTS.answer_threshold, DEFAULTS.clarify_threshold) == (0.6, 0.3)
    assert (DEFAULTS.widget_title, DEFAULTS.company_name) == ("Help desk", "Oak Ltd")
    assert DEFAULTS.greeting_en == "" and DEFAULTS.text("fallback", "zh") == ""


def test_nothing_stored_means_the_defaults(db_session: Session) -> None:
    assert app_settings.effective(db_session, DEFAULTS) == DEFAULTS
    assert app_settings.settings_revision(db_session) == 0


def test_an_update_stores_only_what_changed_and_counts_a_revision(db_session: Session) -> None:
    before, after = app_settings.update(
        db_session,
        DEFAULTS,
        {"answer_threshold": "0.8", "widget_title": "Help desk", "greeting_zh": " 欢迎 "},
        "ada@admin.example",
    )
    assert before == {"answer_threshold": 0.6, "greeting_zh": ""}
    assert after == {"answer_threshold": 0.8, "greeting_zh": "欢迎"}
    assert app_settings.stored(db_session) == {"answer_threshold": 0.8, "greeting_zh": "欢迎"}
    assert db_session.get(AppSetting, "greeting_zh").updated_by == "ada@admin.example"
    assert app_settings.settings_revision(db_session) == 1
    assert app_settings.effective(db_session, DEFAULTS).answer_threshold == 0.8
    assert app_settings.update(db_session, DEFAULTS, {"answer_threshold": "0.8"}, None) == ({}, {})
    assert app_settings.settings_revision(db_session) == 1  # no change, no revision


def test_a_value_set_back_to_its_default_follows_the_environment_again(
    db_session: Session,
) -> None:
    app_settings.update(db_session, DEFAULTS, {"company_name": "Elm Ltd"}, None)
    app_settings.update(db_session, DEFAULTS, {"company_name": "Oak Ltd"}, None)
    assert app_settings.stored(db_session) == {}
    assert app_settings.settings_revision(db_session) == 2
    moved = RuntimeSettings.from_settings(Settings(company_name="Ash Ltd"))
    assert app_settings.effective(db_session, moved).company_name == "Ash Ltd"


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        ({"answer_threshold": "1.5"}, {"answer_threshold": app_settings.NOT_A_FRACTION}),
        ({"clarify_margin": "-0.1"}, {"clarify_margin": app_settings.NOT_A_FRACTION}),
        ({"clarify_threshold": "nan"}, {"clarify_threshold": app_settings.NOT_A_FRACTION}),
        ({"clarify_threshold": "0.7"}, {"clarify_threshold": app_settings.CLARIFY_ABOVE_ANSWER}),
        ({"widget_color": "#12345"}, {"widget_color": app_settings.NOT_A_COLOUR}),
        ({"company_name": ""}, {"company_name": app_settings.EMPTY}),
        ({"widget_title": "x" * 101}, {"widget_title": app_settings.NAME_TOO_LONG}),
        ({"handoff_en": "x" * 1001}, {"handoff_en": app_settings.TEXT_TOO_LONG}),
        ({"max_suggestions": "9"}, {"max_suggestions": app_settings.UNKNOWN}),
    ],
)
def test_refused_values_name_their_field_and_write_nothing(
    db_session: Session, changes: dict[str, str], problems: dict[str, str]
) -> None:
    with pytest.raises(SettingsInvalid) as refused:
        app_settings.update(db_session, DEFAULTS, {"greeting_en": "Hi!", **changes}, None)
    assert refused.value.problems == problems
    assert set(refused.value.problems) <= set(str(refused.value).replace(":", " ").split())
    assert app_settings.stored(db_session) == {}
    assert app_settings.settings_revision(db_session) == 0


def test_thresholds_may_move_together(db_session: Session) -> None:
    changes = {"answer_threshold": "0.2", "clarify_threshold": "0.1"}
    app_settings.update(db_session, DEFAULTS, changes, None)
    current = app_settings.effective(db_session, DEFAULTS)
    assert (current.answer_threshold, current.clarify_threshold) == (0.2, 0.1)


def test_a_stored_value_that_became_invalid_is_skipped_not_fatal(db_session: Session) -> None:
    app_settings.update(
        db_session, DEFAULTS, {"clarify_threshold": "0.5", "fallback_en": "Sorry!"}, None
    )
    lower = RuntimeSettings.from_settings(Settings(answer_threshold=0.4))  # the env changed
    current = app_settings.effective(db_session, lower)
    assert (current.answer_threshold, current.clarify_threshold) == (0.4, 0.3)
    assert current.fallback_en == "Sorry!"
