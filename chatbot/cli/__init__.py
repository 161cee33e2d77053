"""The `chatbot` command. Exit status: 0 success, 2 bad usage or input, 1 anything else."""

# One module per command group adds its commands to the parser; this one turns every failure
# into its exit status and one line on stderr, so a user's mistake never shows a traceback.

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from chatbot.cli import accounts, answers, knowledge, models, privacy, server
from chatbot.cli.base import UserError, close_opened
from chatbot.config import Settings, UnsafeForProduction, get_settings


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
        close_opened()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatbot", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    server.add_database_commands(commands)
    for group in (knowledge, answers, models, accounts, privacy, server):
        group.add_commands(commands)
    return parser
