"""`chatbot import-faq` and `chatbot knowledge merge-languages`: the knowledge base."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from chatbot.cli.base import UserError, session_factory
from chatbot.config import Settings


def add_commands(commands: Any) -> None:
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


def knowledge_merge_languages(args: argparse.Namespace, settings: Settings) -> int:
    from chatbot.db import audit
    from chatbot.db.languages import merge_language_copies

    factory = session_factory(settings)
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
    factory = session_factory(settings)
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
