"""`chatbot train` and `chatbot models list|activate`: making model versions and choosing one."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from chatbot.cli.base import UserError, figure, session_factory
from chatbot.config import Settings


def add_commands(commands: Any) -> None:
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


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {value!r}")
    return number


def train_command(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.db.training_runs import RunInProgress
    from chatbot.nlu.pipeline import TrainingDataError
    from chatbot.runtime import load_encoder
    from chatbot.training import execute_run, start_run
    from chatbot.worker import heartbeat

    device = args.device or settings.device
    factory = session_factory(settings)
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
            print(f"{key:>18}: {figure(value)}")
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

    with session_factory(settings)() as session:
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

    with session_factory(settings)() as session:
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
