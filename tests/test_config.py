"""Settings: documented, read from CHATBOT_* variables, checked."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from chatbot.config import DEFAULT_SECRET_KEY, Settings, UnsafeForProduction, get_settings

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No CHATBOT_* variable or .env file from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("CHATBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def readme_configuration_rows() -> dict[str, str]:
    """`CHATBOT_X` -> the row's default column, from README's configuration table."""
    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ")[0]
    rows = re.findall(r"^\| `(CHATBOT_[A-Z0-9_]+)` \| ([^|]+) \|", section, flags=re.MULTILINE)
    return {name: default.strip() for name, default in rows}


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_has_a_description(name: str) -> None:
    description = Settings.model_fields[name].description
    assert description and description.strip(), f"Settings.{name} has no description"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme_table(name: str) -> None:
    assert f"CHATBOT_{name.upper()}" in readme_configuration_rows()


def test_the_readme_table_lists_no_setting_that_does_not_exist() -> None:
    documented = set(readme_configuration_rows())
    assert documented == {f"CHATBOT_{name.upper()}" for name in Settings.model_fields}


def test_defaults_put_sqlite_under_the_data_directory(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.data_dir == Path("var")
    assert settings.resolved_database_url == f"sqlite:///{Path('var') / 'chatbot.db'}"
    assert settings.models_dir == Path("var") / "models"
    assert (settings.device, settings.answer_threshold, settings.clarify_threshold) == (
        "auto",
        0.55,
        0.3,
    )
    assert settings.cors_origins == ["*"]
    moved = Settings(data_dir=tmp_path / "data")
    assert moved.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'chatbot.db'}"
    explicit = Settings(database_url="postgresql+psycopg://u@h/db", data_dir=tmp_path)
    assert explicit.resolved_database_url == "postgresql+psycopg://u@h/db"


def test_readme_defaults_agree_with_the_code() -> None:
    rows = readme_configuration_rows()
    defaults = Settings()
    for name in ("max_message_chars", "max_suggestions", "answer_threshold", "clarify_margin"):
        assert rows[f"CHATBOT_{name.upper()}"] == f"`{getattr(defaults, name)}`"


def test_variables_with_the_prefix_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBOT_MAX_SUGGESTIONS", "5")
    monkeypatch.setenv("CHATBOT_DATA_DIR", "/srv/chatbot")
    monkeypatch.setenv("CHATBOT_CORS_ORIGINS", '["https://shop.example"]')
    monkeypatch.setenv("MAX_MESSAGE_CHARS", "50")  # no prefix: not ours
    settings = Settings()
    assert settings.max_suggestions == 5
    assert settings.resolved_database_url == "sqlite:////srv/chatbot/chatbot.db"
    assert settings.cors_origins == ["https://shop.example"]
    assert settings.max_message_chars == 2000


def test_a_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("CHATBOT_COMPANY_NAME=Acme\nCHATBOT_MAX_SUGGESTIONS=4\n")
    monkeypatch.setenv("CHATBOT_MAX_SUGGESTIONS", "2")  # the environment wins over the file
    settings = Settings()
    assert (settings.company_name, settings.max_suggestions) == ("Acme", 2)


def test_get_settings_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBOT_COMPANY_NAME", "First")
    first = get_settings()
    monkeypatch.setenv("CHATBOT_COMPANY_NAME", "Second")
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().company_name == "Second"


def test_clarify_threshold_above_answer_threshold_is_rejected() -> None:
    with pytest.raises(
        ValidationError, match="CHATBOT_CLARIFY_THRESHOLD must not exceed CHATBOT_ANSWER_THRESHOLD"
    ):
        Settings(answer_threshold=0.4, clarify_threshold=0.5)
    equal = Settings(answer_threshold=0.5, clarify_threshold=0.5)
    assert equal.clarify_threshold == equal.answer_threshold


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHATBOT_ANSWER_THRESHOLD", "2"),
        ("CHATBOT_CLARIFY_MARGIN", "-0.1"),
        ("CHATBOT_DEVICE", "tpu"),
        ("CHATBOT_WIDGET_COLOR", "red"),
        ("CHATBOT_MAX_SUGGESTIONS", "9"),
        ("CHATBOT_TORCH_THREADS", "-1"),
        ("CHATBOT_RATE_LIMIT_LOGIN", "lots"),
        ("CHATBOT_RATE_LIMIT_CONVERSATIONS", "30 per fortnight"),
        ("CHATBOT_TRUSTED_PROXIES", "10.0.0.1,proxy.internal"),
        ("CHATBOT_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("CHATBOT_TRUSTED_PROXIES", "[not json"),
    ],
)
def test_out_of_range_values_are_rejected_naming_the_field(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    [error] = caught.value.errors()
    assert error["loc"] == (variable.removeprefix("CHATBOT_").lower(),)


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("", []),
        ("10.0.0.0/8", ["10.0.0.0/8"]),
        (" 10.0.0.0/8 , 192.0.2.7 ", ["10.0.0.0/8", "192.0.2.7"]),
        ('["::1", "fd00::/8"]', ["::1", "fd00::/8"]),
    ],
)
def test_trusted_proxies_are_a_comma_or_json_list(
    value: str, parsed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_TRUSTED_PROXIES", value)
    assert Settings().trusted_proxies == parsed


STRONG_KEY = "k" * 48


def test_development_starts_with_any_settings() -> None:
    assert Settings().unsafe_for_production() == []
    Settings(secret_key="short").check_production()  # development: no refusal
    assert Settings().metrics_open


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"secret_key": DEFAULT_SECRET_KEY}, "CHATBOT_SECRET_KEY is the default"),
        ({"secret_key": "k" * 31}, "CHATBOT_SECRET_KEY has 31 characters"),
        ({"trusted_proxies": []}, "CHATBOT_ALLOW_PLAIN_HTTP"),
        ({"metrics_public": None}, "CHATBOT_METRICS_PUBLIC is unset"),
    ],
)
def test_production_refuses_each_unsafe_setting(settings: dict[str, Any], named: str) -> None:
    safe = {
        "env": "production",
        "secret_key": STRONG_KEY,
        "trusted_proxies": ["10.0.0.1"],
        "metrics_public": False,
    }
    unsafe = Settings(**{**safe, **settings})
    [problem] = unsafe.unsafe_for_production()
    assert named in problem
    with pytest.raises(UnsafeForProduction):
        unsafe.check_production()
    Settings(**safe).check_production()  # the same, made safe


def test_production_may_serve_plain_http_or_public_metrics_when_told_so() -> None:
    told = Settings(
        env="production", secret_key=STRONG_KEY, allow_plain_http=True, metrics_public=True
    )
    assert told.unsafe_for_production() == [] and told.metrics_open


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(ValidationError, match="production"):
        Settings(env="prod")  # type: ignore[arg-type]
