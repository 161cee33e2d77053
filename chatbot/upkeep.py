"""What every replica does in the background besides serving.

- It follows the active model version, the knowledge base and the stored settings: at once when
  another replica (or this one) announces an activation on the event bus, and every
  CHATBOT_MODEL_CHECK_SECONDS regardless, so a lost event or a `chatbot models activate` from the
  command line costs seconds, not a customer's message. A new version loads from the shared model
  store (CHATBOT_DATA_DIR) in the background while turns go on with the current one.
- It marks failed the training runs whose process died (see chatbot.worker).
- It hands webhook deliveries to the job queue when they are due: new ones, retries, and those
  whose job was lost with a process (see chatbot.webhooks).
- It counts again what customers asked next (related questions) every
  CHATBOT_RELATED_REFRESH_SECONDS: one query off the customers' path.
- It shares the work among staff (chatbot/conversation/assignment.py): with CHATBOT_AUTO_ASSIGN
  it gives out conversations still waiting once someone has room, and it reminds whoever holds
  a conversation whose customer waited CHATBOT_REPLY_REMINDER_SECONDS for a reply. Every replica
  runs both; a conversation is locked while assigned and each reminder claimed once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from chatbot.config import Settings
from chatbot.conversation import assignment, takeover
from chatbot.conversation.manager import ConversationManager
from chatbot.db import revisions
from chatbot.db.session import Database
from chatbot.events import MODELS_CHANNEL, Event, EventBus, publish_once
from chatbot.nlu.batching import MicroBatcher

if TYPE_CHECKING:
    from chatbot.webhooks import Dispatcher

log = logging.getLogger(__name__)


def activation_event(version: str) -> Event:
    return {"type": "model.activated", "version": version}


def announce_activation(bus: EventBus, version: str) -> None:
    """Tell every replica that ``version`` is now the active one."""
    bus.publish(MODELS_CHANNEL, activation_event(version))


def announce_activation_once(settings: Settings, version: str) -> None:
    """The same from a process without an event bus (the CLI, a worker's job): through Redis
    when configured; otherwise replicas see it at their next periodic check."""
    if settings.redis_url:
        try:
            publish_once(
                settings.redis_url, settings.redis_prefix, MODELS_CHANNEL, activation_event(version)
            )
        except Exception as exc:
            log.warning(
                "activation of %s not announced (%s): replicas see it at their next check",
                version,
                exc,
            )


class Upkeep:
    """The replica's background tasks; :meth:`start` in the lifespan, :meth:`close` after."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        manager: ConversationManager,
        batcher: MicroBatcher[Any, Any],
        bus: EventBus,
        *,
        deliveries: Dispatcher | None = None,
        view: takeover.MessageView | None = None,
    ) -> None:
        self.settings = settings
        self.deliveries = deliveries
        self.db = db
        self.manager = manager
        self.batcher = batcher
        self.bus = bus
        self.view = view  # how a message looks in a live event (the API's JSON)
        self._news = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="upkeep-listen"),
            asyncio.create_task(self._loop(), name="upkeep-loop"),
        ]
        if self.deliveries is not None:
            self._tasks.append(asyncio.create_task(self.deliveries.run(), name="upkeep-webhooks"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task

    async def _listen(self) -> None:
        while True:
            try:
                async with self.bus.subscribe(MODELS_CHANNEL) as events:
                    async for event in events:
                        log.info("news: %s", event)
                        self._news.set()
            except asyncio.CancelledError:
                raise
            except Exception:  # the periodic check goes on; listen again shortly
                log.warning("not hearing model activations", exc_info=True)
                await asyncio.sleep(self.settings.model_check_seconds)

    async def _loop(self) -> None:
        last_reap = 0.0
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), self.settings.model_check_seconds)
            self._news.clear()
            try:
                await self.follow()
                if self.manager.related.due(self.settings.related_refresh_seconds):
                    await self.db.read(self.manager.related.refresh)
                if time.monotonic() - last_reap >= self.settings.job_heartbeat_seconds:
                    last_reap = time.monotonic()
                    await self.reap()
                await self.share_work()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("upkeep check failed; trying again later", exc_info=True)

    async def follow(self) -> None:
        """Catch up with the stored revisions, if they moved (one query if not)."""
        current = await self.db.read(revisions.current)
        if self.manager.settings.behind(current):
            await self.db.read(self.manager.settings.follow)
        if self.manager.model.behind(current):
            # Encoding new phrasings runs on the model's thread, like customers' messages.
            await self.batcher.run(lambda: self.db.read_now(self.manager.model.follow))

    async def share_work(self) -> None:
        """Give out waiting conversations (CHATBOT_AUTO_ASSIGN) and send due reminders."""
        if self.view is None:
            return
        view = self.view
        settings = self.settings
        threshold = timedelta(seconds=settings.reply_reminder_seconds)

        def anything_to_do(session: Session) -> bool:
            # A read first: most turns there is nothing to give out or remind of, and a write
            # transaction would take SQLite's write lock for nothing.
            if settings.auto_assign and assignment.can_assign(
                session, settings.max_open_conversations
            ):
                return True
            return bool(threshold) and assignment.reminders_due(session, threshold)

        def share(session: Session) -> list[tuple[str, Event]]:
            events: list[tuple[str, Event]] = []
            if settings.auto_assign:
                for assigned in assignment.assign_waiting(session, settings.max_open_conversations):
                    events += assignment.announcements(session, assigned, view)
            if threshold:
                for reminder in assignment.due_reminders(session, threshold):
                    entry = takeover.queue_entry(session, reminder.conversation)
                    events.append(
                        (takeover.STAFF_QUEUE, assignment.reminder_event(reminder, entry))
                    )
            return events

        if not await self.db.read(anything_to_do):
            return
        for channel, event in await self.db.write(share):
            self.bus.publish(channel, event)

    async def reap(self) -> None:
        from chatbot.worker import reap

        await asyncio.to_thread(reap, self.db.sessions, self.settings.job_heartbeat_seconds)
