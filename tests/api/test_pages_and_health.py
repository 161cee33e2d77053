"""Pages, the widget script and its configuration, probes, metrics and the API documentation."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from chatbot.config import Settings
from chatbot.main import create_app
from tests.api.conftest import KNOWLEDGE, Customer, store_knowledge
from tests.fakes import HashingEncoder

WIDGET_TAG = '<script src="/widget.js"'


def replies_total(client: TestClient, action: str) -> float:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    match = re.search(
        rf'^chatbot_replies_total\{{action="{action}"\}} (\S+)$', response.text, re.MULTILINE
    )
    return float(match.group(1)) if match else 0.0


def test_the_demo_page_embeds_the_widget(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert WIDGET_TAG in response.text
    assert "Harbor &amp; Pine" in response.text  # the company name, escaped


def test_the_chat_page_embeds_the_widget_inline(client: TestClient) -> None:
    response = client.get("/chat")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f'{WIDGET_TAG} data-mode="inline"' in response.text
    assert "Chat with us" in response.text


def test_the_widget_script(client: TestClient) -> None:
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "/api/v1" in response.text
    assert response.text.lstrip().startswith("/*")  # JavaScript, not an HTML error page
    assert client.get("/static/site.css").status_code == 200


def test_the_widget_configuration(client: TestClient) -> None:
    response = client.get("/api/v1/widget/config")
    assert response.status_code == 200
    config = response.json()
    assert {key: config[key] for key in config if key != "languages"} == {
        "title": "Chat with us",
        "color": "#1f6f5c",
        "company": "Harbor & Pine",
        "greeting": "Hello! How can I help you today?",
        "placeholder": "Type your question…",
        "rating": "How satisfied are you with this conversation?",
        "language": "en",
        # No opening hours set: a person can always be asked for (the request queues).
        "person_available": True,
        "available_by_language": {"en": True, "zh": True},
    }
    assert set(config["languages"]) == {"en", "zh"}  # tests/api/test_customer_i18n.py
    chinese = client.get("/api/v1/widget/config", params={"lang": "zh-CN"}).json()
    assert chinese["language"] == "zh"
    assert chinese["greeting"] == "您好！请问有什么可以帮您？"
    assert client.get("/api/v1/widget/config", params={"lang": "fr"}).json()["language"] == "en"


def test_health_and_readiness(client: TestClient) -> None:
    health = client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "database": "ok",
        "model": "base-ffffffffffff",
        "precision": "fp32",  # the hashing stand-in has no other mode
    }


def test_not_ready_without_a_model(client: TestClient) -> None:
    client.app.state.manager = None  # type: ignore[attr-defined]  # as while shutting down
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not ready"
    assert client.get("/healthz").status_code == 200


def test_metrics_count_replies(client: TestClient, customer: Customer) -> None:
    before = replies_total(client, "answer")
    response = client.post(
        customer.messages_url,
        json={"text": "how long does delivery take"},
        headers=customer.headers,
    )
    assert response.json()["reply"]["action"] == "answer"
    assert replies_total(client, "answer") == before + 1
    assert "chatbot_reply_latency_seconds_count" in client.get("/metrics").text


def test_the_api_documentation(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/conversations",
        "/api/v1/conversations/{conversation_id}/messages",
        "/api/v1/conversations/{conversation_id}/handoff",
        "/api/v1/messages/{message_id}/feedback",
    ):
        assert path in paths
    assert "/" not in paths and "/widget.js" not in paths  # pages are not API


def test_the_widget_configuration_is_documented(client: TestClient) -> None:
    assert "/api/v1/widget/config" in client.get("/openapi.json").json()["paths"]


def test_cross_origin_calls_are_allowed(client: TestClient) -> None:
    response = client.options(
        "/api/v1/conversations",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in {"*", "https://shop.example"}


def test_a_configured_origin_list_admits_those_origins_only(
    settings: Settings, db_url: str
) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    settings = settings.model_copy(update={"cors_origins": ["https://shop.example"]})
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    }
    with TestClient(create_app(settings, encoder=HashingEncoder())) as client:
        allowed = client.options(
            "/api/v1/conversations", headers={"Origin": "https://shop.example", **preflight}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
        refused = client.options(
            "/api/v1/conversations", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in refused.headers
        assert refused.status_code == 400

        # Simple requests too: the browser shows the answer only to the listed origin.
        config = "/api/v1/widget/config"
        listed = client.get(config, headers={"Origin": "https://shop.example"})
        assert listed.headers["access-control-allow-origin"] == "https://shop.example"
        other = client.get(config, headers={"Origin": "https://evil.example"})
        assert other.status_code == 200
        assert "access-control-allow-origin" not in other.headers
