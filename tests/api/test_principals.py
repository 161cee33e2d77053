"""Who may call what (chatbot/api/principals.py): every staff and admin route's guard, CSRF, roles,
and where an anonymous visitor is sent."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI, status
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.api.conftest import (
    ADMIN_EMAIL,
    JSON,
    STAFF_EMAIL,
    Customer,
    Staff,
    add_account,
    another_browser,
    sign_in,
)

# Routes anyone may call; everything else must refuse anonymous callers and customers.
PUBLIC = {
    "/",
    "/chat",
    "/widget.js",
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/login",
    "/language/{language}",
    "/api/v1/widget/config",
    "/api/v1/messages/{message_id}/feedback",
}


CUSTOMER_PREFIX = "/api/v1/conversations"  # guarded by each conversation's own bearer token


ADMIN_PREFIXES = ("/admin", "/api/v1/admin")


UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def all_routes(app: FastAPI) -> list[tuple[type, str, set[str]]]:
    """(route class, full path, methods) of every route, inside included routers too."""
    return [
        (type(context.original_route), context.path or "", set(context.methods or ()))
        for context in iter_route_contexts(app.routes)
    ]


def guarded_routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for kind, path, methods in all_routes(app):
        if kind is APIRoute and path not in PUBLIC and not path.startswith(CUSTOMER_PREFIX):
            found.extend((method, path) for method in sorted(methods - {"HEAD"}))
    return found


def test_the_consoles_have_routes_to_guard(app: FastAPI) -> None:
    paths = {path for _, path in guarded_routes(app)}
    assert {"/account", "/logout", "/api/v1/admin/models"} <= paths


def test_every_staff_and_admin_route_refuses_anonymous_callers_and_customers(
    client: TestClient, app: FastAPI, customer: Customer
) -> None:
    routes = guarded_routes(app)
    assert routes
    for method, path in routes:
        url = concrete(path)
        anonymous = client.request(method, url, headers=JSON)
        assert anonymous.status_code == 401, (method, path, anonymous.status_code)
        as_customer = client.request(method, url, headers={**JSON, **customer.headers})
        assert as_customer.status_code == 401, (method, path, as_customer.status_code)


def test_admin_routes_refuse_staff_members(client: TestClient, app: FastAPI, staff: Staff) -> None:
    admin_routes = [(m, p) for m, p in guarded_routes(app) if p.startswith(ADMIN_PREFIXES)]
    assert admin_routes
    for method, path in admin_routes:
        headers = {**JSON, **staff.headers}
        by_session = client.request(method, concrete(path), headers=headers)
        assert by_session.status_code == 403, (method, path, by_session.status_code)
        by_token = client.request(method, concrete(path), headers={**JSON, **staff.token_headers})
        assert by_token.status_code == 403, (method, path, by_token.status_code)


def test_state_changing_calls_without_the_csrf_token_are_refused(
    client: TestClient, app: FastAPI, admin: Staff
) -> None:
    unsafe = [(m, p) for m, p in guarded_routes(app) if m in UNSAFE]
    assert unsafe
    for method, path in unsafe:
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            response = client.request(method, concrete(path), headers={**JSON, **headers})
            assert response.status_code == 403, (method, path, response.status_code)
            assert "CSRF" in response.json()["detail"]
    form = client.post("/account/tokens", data={"name": "x", "csrf_token": "forged"})
    assert form.status_code == 403


def test_staff_websockets_refuse_anonymous_callers(client: TestClient, app: FastAPI) -> None:
    sockets = [
        path
        for kind, path, _ in all_routes(app)
        if kind is APIWebSocketRoute and not path.startswith(CUSTOMER_PREFIX)
    ]
    assert "/api/v1/staff/ws" in sockets  # the search finds the sockets it must check
    for path in sockets:
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect(concrete(path)) as ws,
        ):
            ws.receive_json()
        # 1008 (policy violation) tells the console to sign in rather than to reconnect.
        assert refused.value.code == status.WS_1008_POLICY_VIOLATION, (path, refused.value)


def test_a_page_sends_anonymous_visitors_to_the_sign_in_form(client: TestClient) -> None:
    response = client.get("/account", headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account"


def test_staff_cannot_reach_admin_pages_but_admins_can(
    client: TestClient, app: FastAPI, db_url: str
) -> None:
    add_account(db_url, STAFF_EMAIL, "staff")
    add_account(db_url, ADMIN_EMAIL, "admin")
    sign_in(client, STAFF_EMAIL)
    assert client.get("/api/v1/admin/models", headers=JSON).status_code == 403
    other = another_browser(client)
    sign_in(other, ADMIN_EMAIL)
    assert other.get("/api/v1/admin/models", headers=JSON).status_code == 200
