"""Security headers on every response: CSP without inline script, framing, nosniff, referrer,
no-store for consoles and JSON."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response

from chatbot.config import Settings
from chatbot.main import create_app
from tests.api.conftest import KNOWLEDGE, Customer, Staff, store_knowledge
from tests.fakes import HashingEncoder

HTML = {"Accept": "text/html"}
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
STYLE_TAG = re.compile(r"<style\b([^>]*)>", re.IGNORECASE)


def csp(response: Response) -> dict[str, str]:
    """The Content-Security-Policy as {directive: sources}."""
    policy = response.headers["content-security-policy"]
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";"))


def page_paths(app: FastAPI) -> list[str]:
    """Every GET route without path parameters: the pages and the parameterless JSON reads."""
    return sorted(
        {
            context.path
            for context in iter_route_contexts(app.routes)
            if isinstance(context.original_route, APIRoute)
            and "GET" in (context.methods or ())
            and context.path
            and "{" not in context.path
        }
    )


def assert_common_headers(response: Response, path: str) -> None:
    assert response.headers["x-content-type-options"] == "nosniff", path
    assert response.headers["referrer-policy"] == "same-origin", path
    policy = csp(response)
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'", path


def test_every_page_and_json_read_has_the_headers(
    client: TestClient, app: FastAPI, admin: Staff, customer: Customer
) -> None:
    paths = page_paths(app)
    assert {"/", "/chat", "/staff", "/admin/users", "/account", "/login"} <= set(paths)
    for path in paths:
        response = client.get(path, headers=HTML, follow_redirects=False)
        assert response.status_code < 500, (path, response.status_code)
        assert_common_headers(response, path)
        policy = csp(response)
        if path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            continue  # FastAPI's Swagger UI / ReDoc: their CDN and inline script, nothing else
        assert policy["script-src"] == "'self'", path  # no inline script, no other origin
        if path in ("/", "/chat"):
            assert policy["frame-ancestors"] == "'self'", path
            assert "x-frame-options" not in response.headers
        else:
            assert policy["frame-ancestors"] == "'none'", path
            assert response.headers["x-frame-options"] == "DENY", path
            if path != "/widget.js":  # a public script (see below)
                assert response.headers["cache-control"] == "no-store", path


def test_pages_carry_no_inline_script_and_only_nonced_styles(
    client: TestClient, app: FastAPI, admin: Staff
) -> None:
    for path in page_paths(app):
        response = client.get(path, headers=HTML)
        if not response.headers["content-type"].startswith("text/html") or "/docs" in path:
            continue
        nonce = csp(response)["style-src"].split("'nonce-")[1].rstrip("'")
        for attributes in SCRIPT_TAG.findall(response.text):
            # Only external scripts, or data blocks (JSON) that never run.
            assert "src=" in attributes or 'type="application/json"' in attributes, path
        for attributes in STYLE_TAG.findall(response.text):
            assert f'nonce="{nonce}"' in attributes, path
        assert not re.search(r"\son[a-z]+=", response.text), f"inline event handler on {path}"
        assert not re.search(r"\sstyle=", response.text), f"inline style attribute on {path}"


def test_each_response_gets_a_fresh_nonce(client: TestClient) -> None:
    first, second = client.get("/"), client.get("/")
    nonces = [csp(r)["style-src"] for r in (first, second)]
    assert nonces[0] != nonces[1]
    widget_tag = re.search(r'<script src="/widget.js" nonce="([^"]+)"', first.text)
    assert widget_tag and f"'nonce-{widget_tag.group(1)}'" in nonces[0]


def test_json_answers_are_not_stored(client: TestClient, customer: Customer, staff: Staff) -> None:
    transcript = client.get(customer.messages_url, headers=customer.headers)
    api = client.get("/api/v1/staff/canned", headers=staff.token_headers)
    refused = client.get("/api/v1/admin/models")
    for response in (transcript, api, refused):
        assert response.headers["cache-control"] == "no-store"
        assert csp(response)["frame-ancestors"] == "'none'"


def test_static_files_and_the_widget_stay_cacheable(client: TestClient) -> None:
    widget = client.get("/widget.js")
    assert widget.headers["cache-control"] == "public, max-age=300"  # the route's own value
    assert widget.headers["x-content-type-options"] == "nosniff"
    css = client.get("/static/console.css")
    assert css.status_code == 200 and "cache-control" not in css.headers


def test_framing_the_chat_page_follows_the_setting(db_url: str, tmp_path: Path) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    settings = Settings(
        database_url=db_url,
        data_dir=tmp_path,
        frame_ancestors=["'self'", "https://shop.example"],
        trusted_proxies=["10.0.0.1"],
    )
    app = create_app(settings, encoder=HashingEncoder())
    with TestClient(app, client=("10.0.0.1", 1)) as client:
        chat = client.get("/chat")
        assert csp(chat)["frame-ancestors"] == "'self' https://shop.example"
        assert csp(client.get("/login"))["frame-ancestors"] == "'none'"
        assert "strict-transport-security" not in chat.headers
        secure = client.get("/chat", headers={"X-Forwarded-Proto": "https"})
        assert secure.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize("source", ["*; script-src *", "https://a.example b", "javascript:"])
def test_frame_ancestors_refuses_anything_but_sources(source: str) -> None:
    with pytest.raises(ValueError, match="frame-ancestors source"):
        Settings(frame_ancestors=[source])
