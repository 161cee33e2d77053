"""Signing, what admins may register, and the backoff: chatbot/webhooks.py without a server."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from chatbot.config import Settings
from chatbot.webhooks import (
    EVENTS,
    WebhookInvalid,
    check_events,
    check_secret,
    check_url,
    headers,
    masked,
    new_secret,
    retry_delay,
    sign,
)
from tests.receiver import documented_verify


def test_the_signature_is_an_hmac_of_timestamp_dot_body() -> None:
    body = b'{"id":"e1","type":"webhook.test"}'
    expected = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("whsec_k", 1700000000, body) == f"sha256={expected}"


def test_the_readme_snippet_accepts_our_signature_and_refuses_forgeries() -> None:
    verify = documented_verify()
    body = '{"data":{"text":"退款"}}'.encode()
    sent = headers("whsec_k", "message.created", "e1", body, now=time.time())
    timestamp, signature = sent["X-Chatbot-Timestamp"], sent["X-Chatbot-Signature"]
    assert verify("whsec_k", timestamp, signature, body)
    assert not verify("whsec_other", timestamp, signature, body)
    assert not verify("whsec_k", timestamp, signature, body + b" ")
    assert not verify("whsec_k", str(int(timestamp) + 1), signature, body)
    assert not verify("whsec_k", "yesterday", signature, body)
    old = headers("whsec_k", "message.created", "e1", body, now=1_000_000_000)
    assert not verify("whsec_k", old["X-Chatbot-Timestamp"], old["X-Chatbot-Signature"], body)


@pytest.mark.parametrize(
    "url",
    [
        "https://crm.example/hook",
        "http://127.0.0.1:8080/x?token=abc",
        "https://[::1]/h",
        "http://hooks.internal",
    ],
)
def test_http_and_https_urls_with_a_host_are_accepted(url: str) -> None:
    assert check_url(f"  {url} ") == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://files.example/hook",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https://",
        "https:///path",
        "https://user:pass@crm.example/hook",
        "https://crm.example/a b",
        "https://crm.example/\x00",
        "not a url",
        "http://bad host/",
        "http://bad_host!/",
        "https://crm.example:99999/",
        "https://crm.example:0/",
        "https://" + "a" * 2000 + ".example/",
    ],
)
def test_bad_urls_are_refused_naming_the_field(url: str) -> None:
    with pytest.raises(WebhookInvalid, match=r"^url: "):
        check_url(url)


def test_events_must_be_known_and_come_back_in_the_documented_order() -> None:
    assert check_events(["model.activated", "message.created"]) == [
        "message.created",
        "model.activated",
    ]
    for events in ([], ["message.deleted"]):
        with pytest.raises(WebhookInvalid, match=r"^events: "):
            check_events(events)
    assert check_events(list(EVENTS)) == list(EVENTS)


def test_secrets_are_long_random_and_shown_masked() -> None:
    made = {new_secret() for _ in range(3)}
    assert len(made) == 3 and all(s.startswith("whsec_") and len(s) > 40 for s in made)
    assert masked("whsec_abcdefgh1234") == "…1234"
    with pytest.raises(WebhookInvalid, match=r"^secret: "):
        check_secret("short")
    with pytest.raises(WebhookInvalid, match=r"^secret: "):
        check_secret("a secret with spaces in it")


def test_the_wait_doubles_from_the_configured_backoff() -> None:
    settings = Settings(webhook_backoff_seconds=30)
    assert [retry_delay(n, settings).total_seconds() for n in (1, 2, 3, 4, 5)] == [
        30,
        60,
        120,
        240,
        480,
    ]
