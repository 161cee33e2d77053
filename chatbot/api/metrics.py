"""Prometheus metrics of the conversation layer."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from chatbot.db.models import Message
from chatbot.nlu.batching import BatchStats

REPLIES = Counter("chatbot_replies_total", "Bot replies by action taken", ["action"])
REPLY_LATENCY = Histogram(
    "chatbot_reply_latency_seconds",
    "Time from receiving a customer message to the stored bot reply",
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
BATCH_SIZE = Histogram(
    "chatbot_inference_batch_size",
    "Customer messages encoded together in one forward pass",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
BATCH_WAIT = Histogram(
    "chatbot_inference_wait_seconds",
    "Longest wait of a message in a batch before the forward pass started",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1),
)
INFERENCE_TIME = Histogram(
    "chatbot_inference_seconds",
    "Time of one batched forward pass with scoring",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1),
)
OVERLOADED = Counter(
    "chatbot_overloaded_total", "Requests answered 503 because the server was at capacity"
)

router = APIRouter(tags=["operations"])


def observe_batch(stats: BatchStats) -> None:
    BATCH_SIZE.observe(stats.size)
    BATCH_WAIT.observe(stats.waited_s)
    INFERENCE_TIME.observe(stats.ran_s)


def observe_reply(reply: Message) -> None:
    REPLIES.labels(action=reply.action or "none").inc()
    if reply.latency_ms is not None:
        REPLY_LATENCY.observe(reply.latency_ms / 1000)


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
