"""`chatbot db upgrade`, `chatbot serve` and `chatbot worker`: deploying and running the service."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from chatbot.cli.base import UserError
from chatbot.config import Settings


def add_database_commands(commands: Any) -> None:
    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply the migrations").set_defaults(handler=db_upgrade)


def add_commands(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the web app")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.set_defaults(handler=serve_command)

    worker = commands.add_parser("worker", help="run queued jobs (needs CHATBOT_REDIS_URL)")
    worker.add_argument(
        "--burst", action="store_true", help="stop once the queue is empty instead of waiting"
    )
    worker.add_argument(
        "--check",
        action="store_true",
        help="exit 0 if a worker of this host is taking jobs, else 1 (a health check)",
    )
    worker.set_defaults(handler=worker_command)


def db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.db.migrate import upgrade

    upgrade(settings.resolved_database_url)
    print(f"database at {settings.resolved_database_url} is up to date")
    return 0


WS_MAX_FRAME_BYTES = 65_536


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from chatbot.logs import configure
    from chatbot.main import create_app

    settings.check_production()
    configure(settings.log_format)
    # The app reads forwarded headers itself, from CHATBOT_TRUSTED_PROXIES only.
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level="info",
        log_config=None,  # logging as configured above (text or JSON)
        proxy_headers=False,
        # WebSocket frames carry a token, "typing" or "watch": 64 KiB is plenty (default 16 MiB).
        ws_max_size=WS_MAX_FRAME_BYTES,
    )
    return 0


def worker_command(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.worker import run_worker, worker_alive

    if not settings.redis_url:
        raise UserError(
            "`chatbot worker` takes jobs from Redis: set CHATBOT_REDIS_URL (without it, "
            "`chatbot serve` runs jobs itself)"
        )
    if args.check:
        if worker_alive(settings):
            return 0
        print("chatbot: no worker of this host is taking jobs", file=sys.stderr)
        return 1
    run_worker(settings, burst=args.burst)
    return 0
