"""Attachments through the API: what is accepted (by content), what is refused and left unread,
who may read a file, how it is served, and that the bot never answers one."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from chatbot.config import Settings
from chatbot.main import create_app
from tests.api.conftest import (
    KNOWLEDGE,
    Customer,
    Staff,
    add_account,
    another_browser,
    sign_in,
    start_conversation,
    store_knowledge,
)
from tests.api.test_chat import say, transcript, wait_for_subscribers
from tests.fakes import HashingEncoder


def png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A real PNG of one colour (browsers draw it; nothing here decodes it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00" + b"\x00" * 32
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

ACCEPTED = [
    ("photo.png", png(), "image/png"),
    ("photo.jpg", JPEG, "image/jpeg"),
    ("anim.gif", GIF, "image/gif"),
    ("pic.webp", WEBP, "image/webp"),
    ("receipt.pdf", PDF, "application/pdf"),
]
REFUSED = [
    ("page.png", b"<!doctype html><script>alert(1)</script>"),
    ("logo.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ("notes.pdf", b"just some text, not a PDF at all"),
    ("tiny.png", b"\x89PN"),  # the start of a signature only
    ("empty.png", b""),
]


def upload_url(customer: Customer) -> str:
    return f"/api/v1/conversations/{customer.id}/attachments"


def upload(
    client: TestClient, customer: Customer, name: str, content: bytes, **headers: str
) -> httpx.Response:
    return client.post(
        upload_url(customer),
        params={"name": name},
        content=content,
        headers={**customer.headers, "Content-Type": "application/octet-stream", **headers},
    )


def download_url(customer: Customer, attachment_id: int) -> str:
    return f"{upload_url(customer)}/{attachment_id}"


def stored_files(settings: Settings) -> list[Path]:
    directory = settings.attachments_dir
    return sorted(directory.iterdir()) if directory.exists() else []


@pytest.mark.parametrize(("name", "content", "content_type"), ACCEPTED)
def test_a_customer_attaches_an_image_or_pdf_and_gets_it_back_as_sent(
    client: TestClient,
    customer: Customer,
    settings: Settings,
    name: str,
    content: bytes,
    content_type: str,
) -> None:
    # The Content-Type the sender claims is never believed.
    sent = upload(client, customer, name, content, **{"Content-Type": "text/html"})
    assert sent.status_code == 201, sent.text
    message = sent.json()
    image = content_type.startswith("image/")
    assert message["role"] == "customer" and message["text"] == name
    assert message["attachment"] == {
        "id": message["attachment"]["id"],
        "name": name,
        "content_type": content_type,
        "size": len(content),
        "image": image,
    }
    # The bot does not answer an attachment: it is the only message.
    assert [m["id"] for m in transcript(client, customer)["messages"]] == [message["id"]]
    files = stored_files(settings)
    assert len(files) == 1 and files[0].read_bytes() == content
    assert name.rsplit(".", 1)[0] not in files[0].name  # a random name, not the sender's

    got = client.get(download_url(customer, message["attachment"]["id"]), headers=customer.headers)
    assert got.status_code == 200
    assert got.content == content
    assert got.headers["content-type"] == content_type
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    disposition = got.headers["content-disposition"]
    assert disposition.startswith("inline;" if image else "attachment;")
    assert name in disposition


@pytest.mark.parametrize(("name", "content"), REFUSED)
def test_anything_else_is_refused_by_its_content_and_nothing_is_kept(
    client: TestClient, customer: Customer, settings: Settings, name: str, content: bytes
) -> None:
    sent = upload(client, customer, name, content, **{"Content-Type": "image/png"})
    assert sent.status_code == 422, sent.text
    assert sent.json()["detail"].startswith("file:")
    assert transcript(client, customer)["messages"] == []
    assert stored_files(settings) == []


def test_a_form_upload_is_refused_with_a_clear_message(
    client: TestClient, customer: Customer
) -> None:
    sent = client.post(
        upload_url(customer),
        files={"file": ("a.png", png(), "image/png")},
        headers=customer.headers,
    )
    assert sent.status_code == 415
    assert "not a form" in sent.json()["detail"]


def test_the_name_is_only_a_name(
    client: TestClient, customer: Customer, settings: Settings
) -> None:
    sent = upload(client, customer, "../../secret\x00\n.png", png())
    assert sent.status_code == 201
    assert sent.json()["attachment"]["name"] == "secret.png"
    nameless = client.post(upload_url(customer), content=PDF, headers=customer.headers)
    assert nameless.json()["attachment"]["name"] == "attachment.pdf"
    # A PDF named like an image is served as what it is: a download.
    disguised = upload(client, customer, "holiday.png", PDF).json()["attachment"]
    assert disguised == {**disguised, "name": "holiday.png.pdf", "image": False}
    got = client.get(download_url(customer, disguised["id"]), headers=customer.headers)
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("attachment;")
    # A name in another script is kept, and downloads under it (RFC 5987 in the header).
    chinese = upload(client, customer, "收据.pdf", PDF).json()["attachment"]
    assert chinese["name"] == "收据.pdf"
    got = client.get(download_url(customer, chinese["id"]), headers=customer.headers)
    assert "filename*=utf-8''%E6%94%B6%E6%8D%AE.pdf" in got.headers["content-disposition"]
    assert all(path.parent == settings.attachments_dir for path in stored_files(settings))


@pytest.fixture
def small_limit_client(db_url: str, tmp_path: Path) -> Any:
    store_knowledge(db_url, KNOWLEDGE)
    settings = Settings(database_url=db_url, data_dir=tmp_path, max_attachment_bytes=50_000)
    with TestClient(create_app(settings, encoder=HashingEncoder())) as client:
        yield client, settings


def test_a_file_over_the_limit_is_413_and_nothing_is_kept(small_limit_client: Any) -> None:
    client, settings = small_limit_client
    customer = start_conversation(client)
    assert upload(client, customer, "ok.png", png() + b"\x00" * 40_000).status_code == 201
    declared = upload(client, customer, "big.png", png() + b"\x00" * 60_000)
    assert declared.status_code == 413
    assert len(transcript(client, customer)["messages"]) == 1
    assert len(stored_files(settings)) == 1


def _streamed(client: TestClient, url: str, headers: dict[str, str], head: bytes) -> tuple:
    """POST a 1.6 MB body in 16 KB chunks with no Content-Length, through an ASGI transport
    that hands the app each chunk only when it asks (the test client reads a body whole);
    returns the response and how many chunks the app read."""
    read = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal read
        for index in range(100):
            read += 1
            yield head if index == 0 else b"\x00" * 16_384

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.post(url, content=chunks(), headers=headers)

    response = client.portal.call(post)  # type: ignore[union-attr]
    return response, read


def test_a_streamed_upload_stops_being_read_at_the_limit_or_a_bad_start(
    small_limit_client: Any,
) -> None:
    client, settings = small_limit_client
    customer = start_conversation(client)
    headers = {**customer.headers, "Content-Type": "application/octet-stream"}
    too_big, read = _streamed(client, upload_url(customer), headers, png())
    assert too_big.status_code == 413, too_big.text
    assert read <= 5  # 50 KB is in the first four chunks of 16 KB
    html, read = _streamed(client, upload_url(customer), headers, b"<html>" + b" " * 1_000)
    assert html.status_code == 422, html.text
    assert read <= 2
    no_token, read = _streamed(client, upload_url(customer), {}, png())
    assert no_token.status_code == 401
    assert read <= 1
    assert transcript(client, customer)["messages"] == []
    assert stored_files(settings) == []


def test_only_the_conversations_customer_may_upload_or_read(
    client: TestClient, customer: Customer
) -> None:
    attachment = upload(client, customer, "photo.png", png()).json()["attachment"]
    stranger = start_conversation(client)
    # Another conversation's token on this conversation, or this attachment via another one.
    assert upload(client, Customer(customer.id, stranger.token), "x.png", png()).status_code == 404
    assert (
        client.get(download_url(customer, attachment["id"]), headers=stranger.headers).status_code
        == 404
    )
    assert (
        client.get(download_url(stranger, attachment["id"]), headers=stranger.headers).status_code
        == 404
    )
    anonymous = client.get(download_url(customer, attachment["id"]))
    assert anonymous.status_code == 401
    assert upload(client, customer, "y.png", png(), Authorization="").status_code == 401
    assert len(transcript(client, customer)["messages"]) == 1


def test_staff_read_a_customers_attachment_and_customers_cannot_use_the_staff_route(
    client: TestClient, customer: Customer, staff: Staff
) -> None:
    attachment = upload(client, customer, "receipt.pdf", PDF).json()["attachment"]
    url = f"/api/v1/staff/attachments/{attachment['id']}"
    by_cookie = client.get(url)
    assert by_cookie.status_code == 200 and by_cookie.content == PDF
    assert by_cookie.headers["content-disposition"].startswith("attachment;")
    by_token = another_browser(client).get(url, headers=staff.token_headers)
    assert by_token.status_code == 200
    assert another_browser(client).get(url, headers=customer.headers).status_code == 401
    assert another_browser(client).get(url).status_code == 401
    assert client.get("/api/v1/staff/attachments/999999").status_code == 404


def test_a_staff_attachment_claims_the_conversation_and_reaches_the_customer_live(
    client: TestClient, customer: Customer, staff: Staff, settings: Settings
) -> None:
    say(client, customer, "I want to speak to a human")
    url = f"/api/v1/staff/conversations/{customer.id}/attachments"
    image = png(3, 3, (10, 120, 200))
    without_csrf = client.post(url, params={"name": "a.png"}, content=image)
    assert without_csrf.status_code == 403
    with client.websocket_connect(f"/api/v1/conversations/{customer.id}/ws") as websocket:
        websocket.send_json({"token": customer.token})
        wait_for_subscribers(client, customer, 1)
        sent = client.post(url, params={"name": "label.png"}, content=image, headers=staff.headers)
        assert sent.status_code == 201, sent.text
        events = [websocket.receive_json() for _ in range(2)]
    message = sent.json()
    assert message["role"] == "staff" and message["author"]
    assert message["html"] is None and message["attachment"]["image"] is True
    assert {"type": "status", "status": "with_staff", "agent": "sam"} in events
    live = next(event["message"] for event in events if event["type"] == "message")
    assert live["attachment"] == message["attachment"]
    got = client.get(download_url(customer, live["attachment"]["id"]), headers=customer.headers)
    assert got.content == image and got.headers["content-disposition"].startswith("inline;")
    refused = client.post(url, content=b"<svg/>", headers=staff.headers)
    assert refused.status_code == 422
    assert len(stored_files(settings)) == 1


def test_a_customer_attachment_reaches_staff_watching_and_the_queue(
    client: TestClient, customer: Customer, staff: Staff
) -> None:
    say(client, customer, "I want to speak to a human")
    with client.websocket_connect("/api/v1/staff/ws") as console:
        assert console.receive_json() == {"type": "ready"}
        console.send_json({"watch": customer.id})
        assert console.receive_json() == {"type": "watching", "conversation_id": customer.id}
        sent = upload(client, customer, "damage.jpg", JPEG).json()
        events = [console.receive_json() for _ in range(2)]
    message = next(event for event in events if event["type"] == "message")
    assert message["message"]["attachment"] == sent["attachment"]
    queue = next(event for event in events if event["type"] == "queue")
    assert queue["conversation"]["last_message"]["text"] == "damage.jpg"


def test_a_closed_conversation_takes_no_attachment(
    client: TestClient, customer: Customer, staff: Staff, settings: Settings
) -> None:
    close = client.post(f"/api/v1/staff/conversations/{customer.id}/close", headers=staff.headers)
    assert close.status_code == 200
    assert upload(client, customer, "late.png", png()).status_code == 409
    staff_url = f"/api/v1/staff/conversations/{customer.id}/attachments"
    assert client.post(staff_url, content=png(), headers=staff.headers).status_code == 409
    assert stored_files(settings) == []


def test_attachments_are_rate_limited_per_address(db_url: str, tmp_path: Path) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    settings = Settings(database_url=db_url, data_dir=tmp_path, rate_limit_attachments="2/minute")
    with TestClient(create_app(settings, encoder=HashingEncoder())) as client:
        customer = start_conversation(client)
        codes = [upload(client, customer, "p.png", png()).status_code for _ in range(3)]
    assert codes == [201, 201, 429]


def test_the_attachment_shows_in_the_staff_transcript(
    client: TestClient, customer: Customer, db_url: str
) -> None:
    attachment = upload(client, customer, "damage.png", png()).json()["attachment"]
    add_account(db_url, "tess@staff.example")
    sign_in(client, "tess@staff.example")
    page = client.get(f"/staff/conversations/{customer.id}")
    assert page.status_code == 200
    assert f'src="/api/v1/staff/attachments/{attachment["id"]}"' in page.text


def test_an_admin_erasure_removes_the_files(
    client: TestClient, admin: Staff, settings: Settings
) -> None:
    erased, kept = start_conversation(client), start_conversation(client)
    for customer in (erased, erased, kept):
        assert upload(client, customer, "photo.png", png()).status_code == 201
    assert len(stored_files(settings)) == 3
    response = client.delete(f"/api/v1/admin/conversations/{erased.id}", headers=admin.headers)
    assert response.status_code == 200
    assert len(stored_files(settings)) == 1
    assert upload(client, kept, "again.png", png()).status_code == 201  # the rest still works
