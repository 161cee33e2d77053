"""The `chatbot` command. Exit status: 0 success, 2 bad usage or input, 1 anything else."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from chatbot.config import Settings, get_settings


class UserError(Exception):
    """The user's mistake: reported in one line, exit status 2, no traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    from pydantic import ValidationError

    from chatbot.knowledge.spec import ImportRejected
    from chatbot.nlu.encoder import ModelLoadError
    from chatbot.runtime import DatabaseNotReady

    try:
        return handler(args, get_settings())
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "settings"
            print(f"chatbot: setting CHATBOT_{field.upper()}: {error['msg']}", file=sys.stderr)
        return 2
    except ImportRejected as exc:
        for problem in exc.problems:
            print(f"chatbot: {problem}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"chatbot: {exc}", file=sys.stderr)
        return 2
    except (ModelLoadError, DatabaseNotReady) as exc:
        print(f"chatbot: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatbot", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply the migrations").set_defaults(handler=db_upgrade)

    faq = commands.add_parser("import-faq", help="import a knowledge base file (all or nothing)")
    faq.add_argument("file", type=Path, help="CSV, JSON, JSONL or XLSX")
    faq.add_argument("--dry-run", action="store_true", help="show the changes, write nothing")
    faq.add_argument(
        "--replace", action="store_true", help="remove stored intents that the file does not have"
    )
    faq.add_argument(
        "--if-empty", action="store_true", help="import only if the knowledge base is empty"
    )
    faq.set_defaults(handler=import_faq)

    ask = commands.add_parser("ask", help="answer one message with the active model")
    ask.add_argument("text")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.set_defaults(handler=ask_command)

    evaluate = commands.add_parser("evaluate", help="score a model on a labelled file")
    evaluate.add_argument("file", type=Path, help="CSV or JSONL with text and intent")
    evaluate.add_argument("--model", help="model version (default: the active one)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=evaluate_command)

    serve = commands.add_parser("serve", help="run the web app")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.set_defaults(handler=serve_command)
    return parser


def db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.db.migrate import upgrade

    upgrade(settings.resolved_database_url)
    print(f"database at {settings.resolved_database_url} is up to date")
    return 0


def _session_factory(settings: Settings) -> Any:
    from chatbot.db.session import make_engine, make_session_factory

    return make_session_factory(make_engine(settings.resolved_database_url))


def import_faq(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.db.knowledge import import_intents, load_intents
    from chatbot.knowledge.files import read_faq_file

    if not args.file.is_file():
        raise UserError(f"{args.file}: no such file")
    intents = read_faq_file(args.file, max_bytes=settings.max_import_bytes)
    factory = _session_factory(settings)
    with factory() as session:
        if args.if_empty and load_intents(session):
            print("knowledge base already has intents: nothing imported")
            return 0
        diff = import_intents(
            session, intents, replace=args.replace, dry_run=args.dry_run, source=args.file.name
        )
        if not args.dry_run:
            session.commit()
    verb = "would be" if args.dry_run else "were"
    for label, keys in (
        ("added", diff.added),
        ("changed", diff.changed),
        ("removed", diff.removed),
    ):
        print(f"{len(keys)} intents {verb} {label}" + (f": {', '.join(keys)}" if keys else ""))
    print(f"{len(diff.unchanged)} intents unchanged")
    return 0


def _manager(settings: Settings) -> tuple[Any, Any]:
    from chatbot.runtime import build_manager, load_encoder

    factory = _session_factory(settings)
    return build_manager(settings, load_encoder(settings), factory), factory


def ask_command(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.api.schemas import MessagePublic
    from chatbot.db.conversations import start_conversation

    text = args.text.strip()
    if not text:
        raise UserError("TEXT: the message is empty")
    manager, factory = _manager(settings)
    with factory() as session:
        # A real turn, rolled back: the answer is exactly what a customer would get, and the
        # transcripts stay free of command-line questions.
        conversation, _ = start_conversation(session)
        turn = manager.handle_message(session, conversation, text)
        reply = MessagePublic.of(turn.reply) if turn.reply else None
        session.rollback()
    assert reply is not None
    if args.json:
        print(
            json.dumps(
                {
                    "answer": reply.text,
                    "intent": reply.intent,
                    "confidence": reply.confidence,
                    "action": reply.action,
                    "handoff": reply.handoff,
                    "suggestions": [s.model_dump() for s in reply.suggestions],
                    "follow_ups": [f.model_dump() for f in reply.follow_ups],
                    "model": reply.model_version,
                    "latency_ms": turn.reply.latency_ms if turn.reply else None,
                },
                ensure_ascii=False,
            )
        )
    else:
        print(reply.text)
        for button in reply.suggestions or reply.follow_ups:
            print(f"  [{button.question}]")
        print(
            f"({reply.action}: {reply.intent}, confidence {reply.confidence:.2f})", file=sys.stderr
        )
    return 0


def evaluate_command(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.conversation.policies import Action, decide
    from chatbot.evaluation import Outcome, read_labelled_file, score

    if not args.file.is_file():
        raise UserError(f"{args.file}: no such file")
    examples = read_labelled_file(args.file)
    manager, factory = _manager(settings)
    if args.model and args.model != manager.engine.version:
        raise UserError(
            f"--model: unknown model version '{args.model}' (available: {manager.engine.version})"
        )
    with factory() as session:
        manager.refresh(session)
    if manager.engine.revision in (None, 0):
        raise UserError("the knowledge base is empty: import one with `chatbot import-faq FILE`")
    outcomes = []
    for example in examples:
        started = time.perf_counter()
        prediction = manager.engine.predict([example.text])[0]
        decision = decide(prediction, manager.thresholds)
        latency = (time.perf_counter() - started) * 1000
        outcomes.append(Outcome(prediction.intent, decision.action is not Action.FALLBACK, latency))
    report = {"model": manager.engine.version, **score(examples, outcomes)}
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            shown = f"{value:.4f}" if isinstance(value, float) else value
            print(f"{key:>18}: {shown}")
    return 0


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from chatbot.main import create_app

    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
