"""Attachment files: what a file is, judged by its first bytes; where it lives on disk.

A file is accepted only when its first bytes are those of a PNG, JPEG, GIF, WebP or PDF: the
name and Content-Type a sender gives are never believed (an HTML page or an SVG renamed .png is
refused), and a file is always served back with the type found here. Files live under
``CHATBOT_DATA_DIR/attachments`` with random names of their own, so nothing a sender chose
reaches a path. No web framework and no database here: the API streams a body in, the
database functions keep the rows, and erasure and retention remove files by their stored names.
"""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatbot.config import Settings

# The longest signature below, plus the WebP brand at offset 8.
SNIFF_BYTES = 16
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
ACCEPTED = "PNG, JPEG, GIF, WebP or PDF"
MAX_NAME_CHARS = 200
_STORED_NAME = re.compile(r"^[0-9a-f]{32}$")
_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
}


class RefusedFile(Exception):
    """The file is not one we take: the message says why, for the sender."""


class TooLarge(RefusedFile):
    """The file is larger than the limit."""


def sniff(head: bytes) -> str | None:
    """The content type that ``head`` (a file's first bytes) starts, if it is one we accept.

    >>> sniff(b"\\x89PNG\\r\\n\\x1a\\n....")
    'image/png'
    >>> sniff(b"RIFF\\x10\\x00\\x00\\x00WEBPVP8 ")
    'image/webp'
    >>> sniff(b"<svg xmlns='http://www.w3.org/2000/svg'>") is None
    True
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def is_image(content_type: str) -> bool:
    return content_type in IMAGE_TYPES


def display_name(sent: str | None, content_type: str) -> str:
    """The name to show and download a file under: the sender's base name without control
    characters or path, cut to MAX_NAME_CHARS, and ending as its real type does.

    >>> display_name("../../etc/passwd", "image/png")
    'passwd.png'
    >>> display_name("  ", "application/pdf")
    'attachment.pdf'
    >>> display_name("scan.PDF", "application/pdf")
    'scan.PDF'
    """
    base = (sent or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip(" .")
    extension = _EXTENSIONS[content_type]
    endings = (".jpg", ".jpeg") if extension == ".jpg" else (extension,)
    base = base or "attachment"
    if not base.lower().endswith(endings):
        base += extension
    if len(base) > MAX_NAME_CHARS:
        base = base[: MAX_NAME_CHARS - len(extension)] + extension
    return base


@dataclass(frozen=True)
class StoredFile:
    """A file written under the attachments directory."""

    stored_name: str
    content_type: str
    size: int


class AttachmentFiles:
    """The attachments directory: files written under random names, found and removed by them.

    Args:
        directory: ``CHATBOT_DATA_DIR/attachments``; created on the first write.
        max_bytes: the largest file taken (CHATBOT_MAX_ATTACHMENT_BYTES).
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    @classmethod
    def of(cls, settings: Settings) -> AttachmentFiles:
        return cls(settings.attachments_dir, settings.max_attachment_bytes)

    def path(self, stored_name: str) -> Path:
        if not _STORED_NAME.match(stored_name):  # a row never holds another, but be sure
            raise ValueError(f"not a stored attachment name: {stored_name!r}")
        return self.directory / stored_name

    async def write(self, chunks: AsyncIterator[bytes]) -> StoredFile:
        """Write the file ``chunks`` carry, checking its type from its first bytes and its size
        as it comes; RefusedFile (TooLarge) leaves nothing behind and stops reading there."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stored_name = secrets.token_hex(16)
        final = self.path(stored_name)
        partial = final.with_name(f".{stored_name}.part")
        size, head, content_type = 0, b"", None
        try:
            with partial.open("xb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise TooLarge(f"file: at most {self.max_bytes} bytes")
                    if content_type is None:
                        head += chunk
                        if len(head) < SNIFF_BYTES:
                            continue
                        content_type = _type_of(head)
                        chunk, head = head, b""
                    out.write(chunk)
                if content_type is None:  # shorter than SNIFF_BYTES
                    content_type = _type_of(head)
                    out.write(head)
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        return StoredFile(stored_name, content_type, size)

    def remove(self, stored_names: Iterable[str]) -> int:
        """Delete these files (erasure, retention, a row that was never committed); how many
        were there."""
        removed = 0
        for name in stored_names:
            try:
                self.path(name).unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed


def _type_of(head: bytes) -> str:
    if not head:
        raise RefusedFile("file: the file is empty")
    content_type = sniff(head)
    if content_type is None:
        raise RefusedFile(f"file: only {ACCEPTED} files can be attached")
    return content_type
