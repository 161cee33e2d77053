"""Uploaded knowledge base files waiting for an admin to confirm them after the preview.

The bytes stay on the server between the preview and the confirmation, so what is applied is
exactly what was previewed; the form carries only a random token. A pending upload belongs to
whoever uploaded it, is taken (and deleted) once, and expires after an hour.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path, PurePath

MAX_AGE_S = 3600
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")


@dataclass(frozen=True)
class PendingUpload:
    """A file kept for confirmation: its name (for its format and for messages) and bytes."""

    filename: str
    replace: bool
    data: bytes


class UploadGone(LookupError):
    """The token names no pending upload of this person: expired, used, or never issued."""


class PendingUploads:
    """Pending uploads under ``folder``: ``TOKEN.json`` (who, what, how) and ``TOKEN.bin``.

    >>> uploads = PendingUploads(tmp_path / "uploads")
    >>> token = uploads.keep(b"question,answer\\n...", "faq.csv", replace=False, owner="ada@x")
    >>> uploads.take(token, owner="ada@x").filename
    'faq.csv'
    >>> uploads.take(token, owner="ada@x")  # taken once only
    Traceback (most recent call last):
    chatbot.knowledge.uploads.UploadGone: ...
    """

    def __init__(self, folder: Path, max_age_s: float = MAX_AGE_S) -> None:
        self.folder = folder
        self.max_age_s = max_age_s

    def keep(self, data: bytes, filename: str, *, replace: bool, owner: str) -> str:
        """Store a file; returns the token that takes it back."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._sweep()
        token = secrets.token_urlsafe(32)
        # Only the last part of a browser-supplied name: it never becomes a path here.
        name = PurePath(filename.replace("\\", "/")).name[-200:] or "upload"
        self._data(token).write_bytes(data)
        meta = {"filename": name, "replace": replace, "owner": owner, "at": time.time()}
        self._meta(token).write_text(json.dumps(meta), encoding="utf-8")
        return token

    def take(self, token: str, *, owner: str) -> PendingUpload:
        """The upload behind ``token``, removed from storage; ``UploadGone`` when there is none."""
        if not _TOKEN.fullmatch(token):
            raise UploadGone(token)
        try:
            meta = json.loads(self._meta(token).read_text(encoding="utf-8"))
            data = self._data(token).read_bytes()
        except (OSError, ValueError) as error:
            raise UploadGone(token) from error
        if meta.get("owner") != owner:
            # Someone else's upload is not yours to apply: it looks the same as a missing one.
            raise UploadGone(token)
        self.discard(token)
        if time.time() - float(meta.get("at", 0)) > self.max_age_s:
            raise UploadGone(token)
        return PendingUpload(str(meta["filename"]), bool(meta["replace"]), data)

    def discard(self, token: str) -> None:
        if _TOKEN.fullmatch(token):
            self._meta(token).unlink(missing_ok=True)
            self._data(token).unlink(missing_ok=True)

    def _sweep(self) -> None:
        # Previews nobody confirmed would otherwise pile up.
        cutoff = time.time() - self.max_age_s
        for path in self.folder.glob("*.json"):
            try:
                if path.stat().st_mtime < cutoff:
                    self.discard(path.stem)
            except OSError:
                continue  # another process removed it first

    def _meta(self, token: str) -> Path:
        return self.folder / f"{token}.json"

    def _data(self, token: str) -> Path:
        return self.folder / f"{token}.bin"
