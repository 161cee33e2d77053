"""The web application: create_app() wires routers; the lifespan loads the model once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, cast

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import chatbot
from chatbot import console, mail, retention
from chatbot.api import (
    account,
    analytics,
    attachments,
    canned,
    chat,
    corrections,
    embeddings,
    errors,
    export,
    headers,
    health,
    knowledge,
    knowledge_files,
    metrics,
    models,
    pages,
    presence,
    principals,
    privacy,
    ratelimit,
    schemas,
    synonyms,
    takeover,
    teamwork,
    transcripts,
    unanswered,
    users,
    webhooks,
)
from chatbot.api import settings as settings_api
from chatbot.api import training as training_api
from chatbot.api.views import WEB_DIR
from chatbot.config import Settings, get_settings
from chatbot.conversation.service import ChatService
from chatbot.db.session import Database
from chatbot.events import make_event_bus
from chatbot.jobs import JobContext, JobRunner, make_job_runner
from chatbot.logs import RequestIds
from chatbot.nlu.batching import MicroBatcher, model_thread
from chatbot.nlu.encoder import configure_threads, resolve_device, serving_threads
from chatbot.nlu.engine import Encoder
from chatbot.runtime import build_manager, load_encoder
from chatbot.training import first_run
from chatbot.upkeep import Upkeep
from chatbot.webhooks import Dispatcher
from chatbot.worker import training

log = logging.getLogger(__name__)
# Request bodies are refused with 413 before they are read past these sizes.
CONSOLE_BODY_LIMIT = 1_000_000  # the consoles' forms and JSON
UPLOAD_OVERHEAD = 1_000_000  # multipart framing and form fields around a knowledge base file


class _App(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # Outermost, so that it also sees the body limit's own 413 (answered as JSON).
        stack: ASGIApp = errors.JsonTooLarge(super().build_middleware_stack())
        # Security headers on every response, the 413 above included (chatbot/api/headers.py).
        stack = headers.SecurityHeaders(stack, self.state.settings.frame_ancestors)
        # The client's address and scheme, as only a trusted proxy may tell them (uvicorn's own
        # proxy handling is off in `chatbot serve`: it would believe 127.0.0.1 by default).
        proxied = ProxyHeadersMiddleware(
            cast(Any, stack), trusted_hosts=self.state.settings.trusted_proxies
        )
        return cast(ASGIApp, proxied)  # uvicorn types ASGI apps its own way


def customer_body_limit(settings: Settings) -> int:
    """A customer's largest JSON body: the longest message, every character escaped (\\uXXXX)."""
    return 4096 + 6 * settings.max_message_chars


def _start_first_training(
    settings: Settings, sessions: sessionmaker[Session], jobs: JobRunner
) -> None:
    """A fresh installation fine-tunes its knowledge base while the base model serves."""
    with sessions() as session:
        run = first_run(session, settings)
        if run is None:
            return
        session.commit()
        log.info("first start: fine-tuning the knowledge base as training run %s", run.id)
    jobs.submit(training, run_id=run.id)


def create_app(settings: Settings | None = None, *, encoder: Encoder | None = None) -> FastAPI:
    """The app. Tests may pass an encoder; otherwise the lifespan loads the configured one."""
    settings = settings or get_settings()
    settings.check_production()  # CHATBOT_ENV=production: refuse unsafe settings before serving

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The consoles' synchronous routes run on anyio's default threads; customers' turns on
        # the database's and the model's own bounded threads.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.http_threads
        # Redis pub/sub with CHATBOT_REDIS_URL, else this process; an unreachable Redis stops
        # the start here with a clear message.
        bus = make_event_bus(settings.redis_url, prefix=settings.redis_prefix)
        await bus.start()
        db = Database(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            pool_timeout=settings.db_pool_timeout,
        )
        app.state.session_factory = db.sessions
        app.state.bus = bus
        # The model is loaded, warmed up and run on one thread of its own (see MicroBatcher).
        inference = model_thread()
        loop = asyncio.get_running_loop()
        loaded: Encoder = (
            encoder
            if encoder is not None
            else await loop.run_in_executor(inference, load_encoder, settings)
        )
        await loop.run_in_executor(
            inference, partial(configure_threads, settings.torch_threads, serving=True)
        )
        manager = await loop.run_in_executor(
            inference, build_manager, settings, loaded, db.sessions
        )
        app.state.manager = manager
        # Customers' messages and embedding requests share the model's thread and its threads.
        before_batch = serving_threads(settings.torch_threads)
        batcher = MicroBatcher(
            manager.model.predict,
            max_batch_size=settings.batch_max_size,
            max_wait_s=settings.batch_wait_ms / 1000,
            on_batch=metrics.observe_batch,
            thread=inference,
            before_batch=before_batch,
        )
        # Texts of the embeddings API share the model's thread and batching with customers.
        embedder = MicroBatcher(
            manager.model.embed,
            max_batch_size=settings.batch_max_size,
            max_wait_s=settings.batch_wait_ms / 1000,
            thread=inference,
            before_batch=before_batch,
        )
        app.state.embedder = embedder
        app.state.chat = ChatService(
            db,
            manager,
            batcher,
            app.state.bus,
            schemas.message_json,
            max_pending=settings.max_pending_turns,
            auto_assign_max=settings.max_open_conversations if settings.auto_assign else None,
        )
        app.state.limiter = ratelimit.start(settings)
        expiring = asyncio.create_task(
            retention.periodically(db, settings, bus, schemas.message_json)
        )

        def load_base(device: str) -> Encoder:
            # Training starts from the base model already in memory when it sits on that device.
            if getattr(loaded, "device", None) == resolve_device(device):
                return loaded
            return load_encoder(settings, device)

        app.state.load_base = load_base
        # Jobs go to `chatbot worker` through Redis, or run on a thread of this process.
        app.state.jobs = make_job_runner(settings, JobContext(settings, db.sessions, load_base))
        await asyncio.to_thread(_start_first_training, settings, db.sessions, app.state.jobs)
        # Webhook deliveries recorded by any commit of the app's sessions go to the queue at once.
        deliveries = Dispatcher(db, app.state.jobs, settings)
        deliveries.install(db.sessions)
        upkeep = Upkeep(
            settings, db, manager, batcher, bus, deliveries=deliveries, view=schemas.message_json
        )
        upkeep.start()
        queue_mail = asyncio.create_task(mail.watch_queue(db, settings, app.state.jobs))
        chat_service = app.state.chat
        metrics.track(lambda: chat_service.pending, app.state.jobs.queued)
        log.info("ready: model %s", app.state.manager.engine.version)
        try:
            yield
        finally:
            app.state.manager = app.state.chat = None
            await upkeep.close()
            for task in (expiring, queue_mail):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if app.state.limiter is not None:
                await app.state.limiter.close()
            await batcher.close()
            await embedder.close()
            app.state.jobs.shutdown()
            await bus.close()
            db.dispose()

    app = _App(
        title="Chatbot",
        version=chatbot.__version__,
        description="Customer-service chatbot API. Customer routes take the bearer token that "
        "`POST /api/v1/conversations` returns.",
        lifespan=lifespan,
        max_body_size=CONSOLE_BODY_LIMIT,
    )
    app.state.settings = settings
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
        # The widget on another site honours Retry-After on a 503 or 429.
        expose_headers=["Retry-After"],
    )
    app.add_middleware(metrics.RequestMetrics)
    app.add_middleware(RequestIds)  # outside the metrics: their log lines carry the id too
    app.add_exception_handler(principals.LoginRequired, principals.login_required_handler)
    errors.install(app)
    ratelimit.install(app)
    # Each router documents the errors its routes answer, so the OpenAPI schema says all that
    # a client may get (the schemathesis test holds every answer to it).
    customer, signed_in = errors.CUSTOMER_ERRORS, errors.STAFF_ERRORS
    app.include_router(chat.router, max_body_size=customer_body_limit(settings), responses=customer)
    # An upload's body is the file itself, read as it comes (chatbot/api/attachments.py).
    app.include_router(
        attachments.customer, max_body_size=settings.max_attachment_bytes, responses=customer
    )
    app.include_router(
        attachments.staff, max_body_size=settings.max_attachment_bytes, responses=signed_in
    )
    app.include_router(training_api.router, responses=signed_in)
    app.include_router(models.router, responses=signed_in)
    app.include_router(pages.router, responses=customer)
    app.include_router(export.router, responses=signed_in)
    app.include_router(corrections.router, responses=signed_in)
    app.include_router(takeover.router, responses=signed_in)
    app.include_router(presence.router, responses=signed_in)
    app.include_router(teamwork.router, responses=signed_in)
    app.include_router(
        synonyms.router,
        max_body_size=settings.max_import_bytes + UPLOAD_OVERHEAD,
        responses=signed_in,
    )
    app.include_router(
        knowledge.router,
        max_body_size=settings.max_import_bytes + UPLOAD_OVERHEAD,
        responses=signed_in,
    )
    app.include_router(
        knowledge_files.router,
        max_body_size=settings.max_import_bytes + UPLOAD_OVERHEAD,
        responses=signed_in,
    )
    app.include_router(analytics.router, responses=signed_in)
    app.include_router(unanswered.router, responses=signed_in)
    app.include_router(privacy.router, responses=signed_in)
    app.include_router(embeddings.router, responses=signed_in)
    app.include_router(webhooks.router, responses=signed_in)
    app.include_router(canned.router, responses=signed_in)
    app.include_router(users.router, responses=signed_in)
    app.include_router(settings_api.router, responses=signed_in)
    app.include_router(account.router, responses=signed_in)
    app.include_router(transcripts.router, responses=signed_in)
    app.include_router(
        console.router(upload_limit=settings.max_import_bytes + UPLOAD_OVERHEAD),
        responses=signed_in,
    )
    app.include_router(health.router, responses=errors.documented(503))
    app.include_router(metrics.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    return app
