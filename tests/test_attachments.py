"""Attachment files: written under random names, refused by content or size, and removed with
their conversation by erasure (API and CLI) and by retention (CLI and the server's own run)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chatbot.attachments import AttachmentFiles, RefusedFile, StoredFile, TooLarge
from chatbot.cli import main
from chatbot.config import Settings, get_settings
from chatbot.db import attachments as rows
from chatbot.db import conversations as store
from chatbot.db.base import utcnow
from chatbot.db.models import Role
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.main import create_app
from tests.api.conftest import KNOWLEDGE, store_knowledge
from tests.api.test_attachments import PDF, png
from tests.fakes import HashingEncoder


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def write(files: AttachmentFiles, *parts: bytes) -> StoredFile:
    return asyncio.run(files.write(_chunks(*parts)))


def test_a_file_is_written_whole_under_a_random_name(tmp_path: Path) -> None:
    files = AttachmentFiles(tmp_path / "attachments", max_bytes=1000)
    image = png()
    # Split inside the signature: the type is judged on the first bytes, however they come.
    first = write(files, image[:3], image[3:10], image[10:])
    second = write(files, image)
    assert first.content_type == "image/png" and first.size == len(image)
    assert first.stored_name != second.stored_name
    assert files.path(first.stored_name).read_bytes() == image
    assert sorted(p.name for p in files.directory.iterdir()) == sorted(
        [first.stored_name, second.stored_name]
    )


@pytest.mark.parametrize(
    ("parts", "error"),
    [
        ((b"<html><body>hi</body></html>",), RefusedFile),
        ((b"",), RefusedFile),
        ((png(), b"\x00" * 2000), TooLarge),
    ],
)
def test_a_refused_file_leaves_nothing_behind(
    tmp_path: Path, parts: tuple[bytes, ...], error: type[Exception]
) -> None:
    files = AttachmentFiles(tmp_path / "attachments", max_bytes=1000)
    with pytest.raises(error):
        write(files, *parts)
    assert list(files.directory.iterdir()) == []


def test_only_stored_names_make_paths(tmp_path: Path) -> None:
    files = AttachmentFiles(tmp_path, max_bytes=10)
    for name in ("../chatbot.db", "a" * 32 + "/x", ""):
        with pytest.raises(ValueError):
            files.path(name)
    assert files.remove(["0" * 32]) == 0  # already gone: nothing to do


def _conversation_with_a_file(db_url: str, settings: Settings, *, age_days: int = 0) -> str:
    """A conversation holding one PDF attachment, committed; returns its id."""
    stored = write(AttachmentFiles.of(settings), PDF)
    engine = make_engine(db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            conversation, _token = store.start_conversation(session)
            attachment = rows.add_attachment(
                session,
                conversation,
                stored_name=stored.stored_name,
                name="receipt.pdf",
                content_type=stored.content_type,
                size=stored.size,
            )
            store.add_message(
                session, conversation, Role.CUSTOMER, "receipt.pdf", attachment_id=attachment.id
            )
            conversation.updated_at = utcnow() - timedelta(days=age_days)
            return conversation.id
    finally:
        engine.dispose()


def _files(settings: Settings) -> list[str]:
    directory = settings.attachments_dir
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.fixture
def cli_settings(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CHATBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CHATBOT_CONVERSATION_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    yield Settings(database_url=db_url, data_dir=tmp_path)
    get_settings.cache_clear()


def test_the_cli_erasure_removes_the_conversations_files(
    cli_settings: Settings, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    erased = _conversation_with_a_file(db_url, cli_settings)
    _conversation_with_a_file(db_url, cli_settings)
    kept = _files(cli_settings)
    assert len(kept) == 2
    assert main(["conversations", "erase", erased]) == 0
    assert "1 attachments" in capsys.readouterr().out
    assert len(_files(cli_settings)) == 1


def test_the_cli_retention_run_removes_expired_files(cli_settings: Settings, db_url: str) -> None:
    _conversation_with_a_file(db_url, cli_settings, age_days=31)
    _conversation_with_a_file(db_url, cli_settings)
    recent = _files(cli_settings)
    assert main(["retention", "run"]) == 0
    assert len(_files(cli_settings)) == 1 and _files(cli_settings)[0] in recent


def test_the_servers_retention_removes_expired_files(db_url: str, tmp_path: Path) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    settings = Settings(database_url=db_url, data_dir=tmp_path, conversation_retention_days=30)
    _conversation_with_a_file(db_url, settings, age_days=31)
    _conversation_with_a_file(db_url, settings)
    with TestClient(create_app(settings, encoder=HashingEncoder())):
        deadline = time.monotonic() + 10
        while len(_files(settings)) != 1:
            assert time.monotonic() < deadline, "the expired conversation's file is still there"
            time.sleep(0.05)
