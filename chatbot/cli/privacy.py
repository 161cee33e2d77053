"""`chatbot conversations erase` and `chatbot retention run`: deleting customers' data."""

from __future__ import annotations

import argparse
from typing import Any

from chatbot.cli.base import UserError, accounts_session
from chatbot.config import Settings


def add_commands(commands: Any) -> None:
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


def conversations_erase(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.attachments import AttachmentFiles
    from chatbot.db import privacy

    with accounts_session(settings) as session:
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

    with accounts_session(settings) as session:
        erased = retention.run(session, settings)
        closed = retention.close_idle(session, settings)
        session.commit()
    retention.remove_files(settings, erased)
    print(
        ", ".join(f"{count} {what}" for what, count in erased.as_dict().items())
        + f" deleted; {closed.count} idle conversations closed"
    )
    return 0
