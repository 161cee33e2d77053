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

from chatbot.config import Settings, UnsafeForProduction, get_settings


class UserError(Exception):
    """The user's mistake: reported in one line, exit status 2, no traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    from pydantic import ValidationError

    from chatbot.events import BackendUnavailable
    from chatbot.knowledge.spec import ImportRejected
    from chatbot.nlu.encoder import ModelLoadError
    from chatbot.runtime import DatabaseNotReady

    try:
        return handler(args, get_settings())
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            where = f"setting CHATBOT_{field.upper()}" if field else "settings"
            print(f"chatbot: {where}: {error['msg']}", file=sys.stderr)
        return 2
    except ImportRejected as exc:
        for problem in exc.problems:
            print(f"chatbot: {problem}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"chatbot: {exc}", file=sys.stderr)
        return 2
    except UnsafeForProduction as exc:
        for reason in exc.problems:
            print(
                f"chatbot: refusing to start with CHATBOT_ENV=production: {reason}", file=sys.stderr
            )
        return 2
    except (ModelLoadError, DatabaseNotReady, BackendUnavailable) as exc:
        print(f"chatbot: {exc}", file=sys.stderr)
        return 1
    finally:
        while _opened:
            _opened.pop().dispose()


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

    knowledge = commands.add_parser("knowledge", help="the knowledge base")
    knowledge_commands = knowledge.add_subparsers(required=True, metavar="ACTION")
    merge = knowledge_commands.add_parser(
        "merge-languages",
        help="merge intents kept per language (track_order + track_order_zh) into one intent",
    )
    merge.add_argument("--dry-run", action="store_true", help="show the pairs; change nothing")
    merge.set_defaults(handler=knowledge_merge_languages)

    ask = commands.add_parser("ask", help="answer one message with the active model")
    ask.add_argument("text")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.set_defaults(handler=ask_command)

    evaluate = commands.add_parser("evaluate", help="score a model on a labelled file")
    evaluate.add_argument("file", type=Path, help="CSV or JSONL with text and intent")
    evaluate.add_argument("--model", help="model version (default: the active one)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=evaluate_command)

    train = commands.add_parser("train", help="fine-tune a model on the knowledge base")
    train.add_argument(
        "--epochs",
        type=_positive_int,
        help="passes over the data (default: 5 below 3000 phrasings, else 3)",
    )
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    train.add_argument("--activate", action="store_true", help="serve the new version at once")
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.set_defaults(handler=train_command)

    models = commands.add_parser("models", help="the model registry")
    models_commands = models.add_subparsers(required=True, metavar="ACTION")
    listing = models_commands.add_parser("list", help="every model version")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=models_list)
    activate = models_commands.add_parser("activate", help="serve this version")
    activate.add_argument("version")
    activate.add_argument(
        "--force",
        action="store_true",
        help="activate even if it catches far fewer out-of-scope questions than the active one",
    )
    activate.set_defaults(handler=models_activate)

    users = commands.add_parser("users", help="staff and admin accounts")
    users_commands = users.add_subparsers(required=True, metavar="ACTION")
    create = users_commands.add_parser("create", help="create a staff or admin account")
    create.add_argument("email")
    create.add_argument("--role", choices=["staff", "admin"], required=True)
    create.add_argument("--name", help="display name")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.set_defaults(handler=users_create)
    password = users_commands.add_parser("set-password", help="set an account's password")
    password.add_argument("email")
    password.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    password.set_defaults(handler=users_set_password)
    users_commands.add_parser("list", help="every account").set_defaults(handler=users_list)
    tokens = commands.add_parser("tokens", help="API tokens for integrations")
    tokens_commands = tokens.add_subparsers(required=True, metavar="ACTION")
    token = tokens_commands.add_parser("create", help="create an API token for an account")
    token.add_argument("email")
    token.add_argument("--name", required=True, help="what the token is for")
    token.set_defaults(handler=tokens_create)
    conversations = commands.add_parser("conversations", help="customers' conversations")
    conversations_commands = conversations.add_subparsers(required=True, metavar="ACTION")
    erase = conversations_commands.add_parser(
        "erase", help="erase one conversation and every copy of its text (audited)"
    )
    erase.add_argument("id")
    erase.set_defaults(handler=conversations_erase)
    retention = commands.add_parser("retention", help="data retention")
    retention_commands = retention.add_subparsers(required=True, metavar="ACTION")
    retention_commands.add_parser(
        "run",
        help="delete what is older than the configured retention periods and close "
        "conversations idle longer than CHATBOT_CONVERSATION_IDLE_MINUTES",
    ).set_defaults(handler=retention_run)

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
    return parser


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {value!r}")
    return number


def db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.db.migrate import upgrade

    upgrade(settings.resolved_database_url)
    print(f"database at {settings.resolved_database_url} is up to date")
    return 0


# Engines a command opened, closed when it ends (tests run many commands in one process).
_opened: list[Any] = []


def _session_factory(settings: Settings) -> Any:
    from chatbot.db.session import make_engine, make_session_factory

    engine = make_engine(settings.resolved_database_url)
    _opened.append(engine)
    return make_session_factory(engine)


def knowledge_merge_languages(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.db import audit
    from chatbot.db.languages import merge_language_copies

    factory = _session_factory(settings)
    with factory() as session:
        merged = merge_language_copies(session, dry_run=args.dry_run)
        pairs = merged.plan.pairs
        if pairs and not args.dry_run:
            audit.record(
                session,
                None,
                "knowledge.merge_languages",
                after={"merged": merged.plan.renamed},
            )
            session.commit()
    verb = "would merge" if args.dry_run else "merged"
    for pair in pairs:
        print(
            f"{verb} {pair.copy} into {pair.into} "
            f"({pair.language}: the answer and {pair.phrasings} phrasings)"
        )
    print(f"{len(pairs)} pair{'' if len(pairs) == 1 else 's'} {verb}")
    if pairs and not args.dry_run:
        print(
            f"{merged.corrections} corrections and {merged.messages} replies now name the merged "
            "intents; train a new model version so its labels follow"
        )
    return 0


def import_faq(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.db import audit
    from chatbot.db.knowledge import import_intents, load_intents
    from chatbot.knowledge.files import read_knowledge_file

    if not args.file.is_file():
        raise UserError(f"{args.file}: no such file")
    knowledge = read_knowledge_file(args.file, max_bytes=settings.max_import_bytes)
    factory = _session_factory(settings)
    with factory() as session:
        if args.if_empty and load_intents(session):
            print("knowledge base already has intents: nothing imported")
            return 0
        diff = import_intents(
            session,
            knowledge.intents,
            replace=args.replace,
            dry_run=args.dry_run,
            source=args.file.name,
            synonyms=knowledge.synonyms,
        )
        if not args.dry_run:
            if not diff.is_empty:  # the same record as an upload in the admin console
                audit.record(
                    session,
                    None,
                    "knowledge.import",
                    args.file.name,
                    after={
                        "file": args.file.name,
                        "replace": args.replace,
                        "added": diff.added,
                        "changed": diff.changed,
                        "removed": diff.removed,
                        "synonyms_replaced": diff.synonyms_replaced,
                    },
                )
            session.commit()
    for label, keys in (
        ("added", diff.added),
        ("changed", diff.changed),
        ("removed", diff.removed),
    ):
        listed = f": {', '.join(keys)}" if keys else ""
        verb = "would be" if args.dry_run else ("was" if len(keys) == 1 else "were")
        print(f"{_intents(len(keys))} {verb} {label}{listed}")
    print(f"{_intents(len(diff.unchanged))} unchanged")
    if diff.synonyms_replaced:
        verb = "would be" if args.dry_run else "were"
        print(f"synonyms {verb} replaced by the file's {len(knowledge.synonyms or [])} groups")
    return 0


def _intents(count: int) -> str:
    return f"{count} intent" if count == 1 else f"{count} intents"


def _manager(settings: Settings) -> tuple[Any, Any]:
    from chatbot.runtime import build_manager, load_encoder

    factory = _session_factory(settings)
    return build_manager(settings, load_encoder(settings), factory), factory


def ask_command(args: argparse.Namespace, settings: Settings) -> int:

    text = args.text.strip()
    if not text:
        raise UserError("TEXT: the message is empty")
    manager, factory = _manager(settings)
    with factory() as session:
        manager.settings.follow(session)  # the admin's texts and thresholds
    started = time.perf_counter()
    # Exactly what a customer's first message would get, and nothing is stored.
    preview = manager.preview(text)
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    reply = preview.reply
    if args.json:
        print(
            json.dumps(
                {
                    "answer": reply.text,
                    "intent": reply.intent,
                    "confidence": reply.confidence,
                    "action": reply.action.value,
                    "handoff": reply.action.value == "handoff",
                    "suggestions": reply.suggestions,
                    "follow_ups": reply.follow_ups,
                    "model": preview.version,
                    "latency_ms": latency_ms,
                },
                ensure_ascii=False,
            )
        )
    else:
        print(reply.text)
        for button in reply.suggestions or reply.follow_ups:
            print(f"  [{button['question']}]")
        print(
            f"({reply.action.value}: {reply.intent}, confidence {reply.confidence:.2f})",
            file=sys.stderr,
        )
    return 0


def evaluate_command(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.conversation.policies import Action, decide
    from chatbot.evaluation.scoring import Outcome, read_labelled_file, score

    if not args.file.is_file():
        raise UserError(f"{args.file}: no such file")
    examples = read_labelled_file(args.file)
    from chatbot.runtime import UnknownModelVersion, engine_for_version, load_encoder

    manager, factory = _manager(settings)
    engine = manager.engine
    if args.model and args.model != engine.version:
        try:
            with factory() as session:
                engine = engine_for_version(settings, session, load_encoder(settings), args.model)
        except UnknownModelVersion as exc:
            raise UserError(f"--model: {exc}") from exc
    if not engine.revision:
        raise UserError("the knowledge base is empty: import one with `chatbot import-faq FILE`")
    thresholds = manager.settings.thresholds_for(engine)
    outcomes = []
    for example in examples:
        started = time.perf_counter()
        prediction = engine.predict([example.text])[0]
        decision = decide(prediction, thresholds)
        latency = (time.perf_counter() - started) * 1000
        answered = decision.action is not Action.FALLBACK
        outcomes.append(Outcome(prediction.intent, answered, latency, prediction.confidence))
    report = {"model": engine.version, **score(examples, outcomes)}
    if args.json:
        print(json.dumps(report))
    else:
        languages = report.pop("by_language")
        for key, value in report.items():
            print(f"{key:>18}: {_figure(value)}")
        # One line a language, so a language's misses are not averaged away by another's.
        for language, figures in languages.items():
            shown = ", ".join(f"{key} {_figure(value)}" for key, value in figures.items())
            print(f"{'language ' + language:>18}: {shown}")
    return 0


def _figure(value: object) -> object:
    return f"{value:.4f}" if isinstance(value, float) else value


def train_command(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.db.training_runs import RunInProgress
    from chatbot.nlu.pipeline import TrainingDataError
    from chatbot.runtime import load_encoder
    from chatbot.training import execute_run, start_run
    from chatbot.worker import heartbeat

    device = args.device or settings.device
    factory = _session_factory(settings)
    with factory() as session:
        try:
            run = start_run(
                session, settings, epochs=args.epochs, device=device, activate=args.activate
            )
        except RunInProgress as exc:
            raise UserError(str(exc)) from exc
        session.commit()
        run_id = run.id
    bar = _ProgressBar()

    def load_base(device: str) -> Any:
        return load_encoder(settings, device)

    try:
        with heartbeat(factory, run_id, settings.job_heartbeat_seconds):
            version = execute_run(
                settings, factory, run_id, load_base=load_base, on_progress=bar.update
            )
    except TrainingDataError as exc:
        raise UserError(str(exc)) from exc
    finally:
        bar.close()
    if version is None:
        print(f"chatbot: training run {run_id} was cancelled", file=sys.stderr)
        return 1
    for skipped in version.config.get("skipped_corrections", []):
        print(
            f"chatbot: warning: correction {skipped.get('correction')} names intent "
            f"'{skipped['intent']}', which the knowledge base no longer has: not used",
            file=sys.stderr,
        )
    summary = {
        "version": version.version,
        "run": run_id,
        "activated": version.is_active,
        "path": version.path,
        **version.metrics,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            shown = f"{value:.4f}" if isinstance(value, float) else value
            print(f"{key:>18}: {shown}")
        if not version.is_active:
            print(f"serve it with: chatbot models activate {version.version}")
    return 0


class _ProgressBar:
    """Training progress on stderr: a live bar on a terminal, a line per 10% elsewhere."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def update(self, progress: Any) -> None:
        share = progress.step / max(1, progress.total_steps)
        eta = progress.eta_seconds
        eta_text = "--" if eta != eta else f"{int(eta) // 60}m{int(eta) % 60:02d}s"
        line = (
            f"[{'#' * int(share * 30):<30}] {share:4.0%} step {progress.step}/"
            f"{progress.total_steps} epoch {progress.epoch} loss {progress.loss:.3f} "
            f"ETA {eta_text}"
        )
        if self.tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif int(share * 10) > self.shown:
            self.shown = int(share * 10)
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def models_list(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.db.model_versions import list_versions

    with _session_factory(settings)() as session:
        rows = [
            {
                "version": v.version,
                "kind": v.kind,
                "active": v.is_active,
                "created_at": v.created_at.isoformat(timespec="seconds"),
                "accuracy": v.metrics.get("accuracy"),
                "macro_f1": v.metrics.get("macro_f1"),
                "training_seconds": v.metrics.get("training_seconds"),
            }
            for v in list_versions(session)
        ]
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'':2}{'version':32} {'kind':11} {'created':26} {'accuracy':>8} {'macro_f1':>8}")
    for row in rows:
        accuracy = "" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
        macro_f1 = "" if row["macro_f1"] is None else f"{row['macro_f1']:.4f}"
        print(
            f"{'*' if row['active'] else '':2}{row['version']:32} {row['kind']:11} "
            f"{row['created_at']:26} {accuracy:>8} {macro_f1:>8}"
        )
    return 0


def models_activate(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.db import audit
    from chatbot.db.model_versions import (
        activate,
        active_version_name,
        get_version,
        list_versions,
        scope_regression,
    )

    with _session_factory(settings)() as session:
        row = get_version(session, args.version)
        if row is None:
            known = ", ".join(v.version for v in list_versions(session)) or "none"
            raise UserError(f"unknown model version '{args.version}' (known: {known})")
        if row.status != "ready":
            raise UserError(f"model version '{args.version}' is {row.status}, not ready")
        regression = scope_regression(session, row)
        if regression is not None and not args.force:
            raise UserError(f"{regression}; nothing changed (add --force to activate it anyway)")
        previous = active_version_name(session)
        activate(session, row)
        # actor None: the command line has no signed-in user
        audit.record(
            session,
            None,
            "model.activate",
            args.version,
            before={"active": previous},
            after={"active": args.version},
        )
        session.commit()
    from chatbot.upkeep import announce_activation_once

    announce_activation_once(settings, args.version)
    print(f"{args.version} is now active; running servers switch to it within seconds")
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    if not sys.stdin.isatty():
        raise UserError("no terminal to ask for the password: pass --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise UserError("the two passwords differ")
    return first


def _accounts_session(settings: Settings) -> Any:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from chatbot.db.accounts import count_users
    from chatbot.runtime import DatabaseNotReady

    session = _session_factory(settings)()
    try:
        count_users(session)
    except (OperationalError, ProgrammingError) as exc:
        session.close()
        raise DatabaseNotReady(
            f"the database at {settings.resolved_database_url} has no accounts table: "
            "run `chatbot db upgrade` first"
        ) from exc
    return session


def users_create(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot import accounts as account_changes
    from chatbot.db import accounts

    with _accounts_session(settings) as session:
        if accounts.get_user_by_email(session, args.email) is not None:
            raise UserError(f"email: an account for {accounts.normalise_email(args.email)} exists")
        try:
            accounts.check_email(args.email)
            user = account_changes.create_user(
                session,
                None,
                args.email,
                _read_password(args.password_stdin),
                account_changes.role(args.role),
                name=args.name,
            )
        except accounts.AccountError as exc:
            raise UserError(str(exc)) from exc
        session.commit()
        print(f"created {args.role} account {user.email}")
    return 0


def users_set_password(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot import accounts as account_changes
    from chatbot.db import accounts

    with _accounts_session(settings) as session:
        user = accounts.get_user_by_email(session, args.email)
        if user is None:
            raise UserError(f"email: no account for {accounts.normalise_email(args.email)}")
        try:
            revoked = account_changes.set_password(
                session, None, user, _read_password(args.password_stdin)
            )
        except accounts.AccountError as exc:
            raise UserError(str(exc)) from exc
        session.commit()
    print(f"password set for {user.email}; signed out everywhere, {revoked} API token(s) revoked")
    return 0


def users_list(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.db import accounts

    with _accounts_session(settings) as session:
        for user in accounts.list_users(session):
            state = "" if user.is_active else " (disabled)"
            print(f"{user.email}\t{user.role.value}{state}")
    return 0


def conversations_erase(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.attachments import AttachmentFiles
    from chatbot.db import privacy

    with _accounts_session(settings) as session:
        erased = privacy.erase_conversation(session, args.id, None)
        if erased is None:
            raise UserError(f"id: no conversation {args.id}")
        session.commit()
    AttachmentFiles.of(settings).remove(erased.files)
    print(
        f"erased conversation {args.id}: {erased.messages} messages, "
        f"{erased.corrections} corrections, {len(erased.files)} attachments, "
        f"{erased.model_versions} model versions' copies"
    )
    return 0


def retention_run(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot import retention

    with _accounts_session(settings) as session:
        erased = retention.run(session, settings)
        closed = retention.close_idle(session, settings)
        session.commit()
    retention.remove_files(settings, erased)
    print(
        ", ".join(f"{count} {what}" for what, count in erased.as_dict().items())
        + f" deleted; {closed.count} idle conversations closed"
    )
    return 0


def tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot import accounts as account_changes
    from chatbot.db import accounts

    with _accounts_session(settings) as session:
        user = accounts.get_user_by_email(session, args.email)
        if user is None:
            raise UserError(f"email: no account for {accounts.normalise_email(args.email)}")
        try:
            _row, token = account_changes.create_token(session, None, user, args.name)
        except accounts.AccountError as exc:
            raise UserError(str(exc)) from exc
        session.commit()
    print(token)
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


if __name__ == "__main__":
    raise SystemExit(main())
