"""Prometheus metrics of the conversation layer."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from chatbot.db.models import Message

REPLIES = Counter("chatbot_replies_total", "Bot replies by action taken", ["action"])
REPLY_LATENCY = Histogram(
    "chatbot_reply_latency_seconds",
    "Time from receiving a customer message to the stored bot reply",
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)

router = APIRouter(tags=["operations"])


def observe_reply(reply: Message) -> None:
    REPLIES.labels(action=reply.action or "none").inc()
    if reply.latency_ms is not None:
        REPLY_LATENCY.observe(reply.latency_ms / 1000)


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
