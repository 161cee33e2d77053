"""Prometheus metrics: requests by route, live WebSockets, the conversation layer, the model's
batches, turns and jobs waiting. Job durations are recorded where jobs run (chatbot.jobs)."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from chatbot.api.deps import SessionDep, SettingsDep
from chatbot.api.principals import LoginRequired, find_principal
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

REQUEST_SECONDS = Histogram(
    "chatbot_http_request_seconds",
    "Time to answer an HTTP request, by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBSOCKETS = Gauge("chatbot_websockets_active", "Open WebSockets, by route", ["route"])
TURNS_IN_PROGRESS = Gauge(
    "chatbot_turns_in_progress",
    "Customer turns being answered (503 past CHATBOT_MAX_PENDING_TURNS)",
)
JOBS_QUEUED = Gauge(
    "chatbot_jobs_queued", "Jobs waiting to run (in Redis for the workers, or for the job thread)"
)

router = APIRouter(tags=["operations"])


class RequestMetrics:
    """Times every HTTP request by its route template (not its path: ids would make every
    conversation a series of its own) and counts open WebSockets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            started = time.perf_counter()
            try:
                await self.app(scope, receive, send)
            finally:
                REQUEST_SECONDS.labels(scope["method"], _route(scope)).observe(
                    time.perf_counter() - started
                )
        elif scope["type"] == "websocket":
            opened: list[str] = []

            async def counting(message: AsgiMessage) -> None:
                if message["type"] == "websocket.accept" and not opened:
                    opened.append(_route(scope))
                    WEBSOCKETS.labels(opened[0]).inc()
                await send(message)

            try:
                await self.app(scope, receive, counting)
            finally:
                if opened:
                    WEBSOCKETS.labels(opened[0]).dec()
        else:
            await self.app(scope, receive, send)


def _route(scope: Scope) -> str:
    return str(getattr(scope.get("route"), "path", "unmatched"))


def track(turns: Callable[[], int], jobs: Callable[[], int]) -> None:
    """Read the turns in progress and jobs waiting when Prometheus scrapes."""
    TURNS_IN_PROGRESS.set_function(turns)
    JOBS_QUEUED.set_function(jobs)


def observe_batch(stats: BatchStats) -> None:
    BATCH_SIZE.observe(stats.size)
    BATCH_WAIT.observe(stats.waited_s)
    INFERENCE_TIME.observe(stats.ran_s)


def observe_reply(reply: Message) -> None:
    REPLIES.labels(action=reply.action or "none").inc()
    if reply.latency_ms is not None:
        REPLY_LATENCY.observe(reply.latency_ms / 1000)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Prometheus metrics: open, or for a staff or admin API token (CHATBOT_METRICS_PUBLIC)."""
    if not settings.metrics_open:
        principal = find_principal(request, session)
        session.commit()  # the token's last use
        if principal is None:
            raise LoginRequired()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
