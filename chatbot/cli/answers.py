"""`chatbot ask` and `chatbot evaluate`: a model's answers, in-process, nothing stored."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from chatbot.cli.base import UserError, figure, session_factory
from chatbot.config import Settings


def add_commands(commands: Any) -> None:
    ask = commands.add_parser("ask", help="answer one message with the active model")
    ask.add_argument("text")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.set_defaults(handler=ask_command)

    evaluate = commands.add_parser("evaluate", help="score a model on a labelled file")
    evaluate.add_argument("file", type=Path, help="CSV or JSONL with text and intent")
    evaluate.add_argument("--model", help="model version (default: the active one)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=evaluate_command)


def _manager(settings: Settings) -> tuple[Any, Any]:
    from chatbot.runtime import build_manager, load_encoder

    factory = session_factory(settings)
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
            print(f"{key:>18}: {figure(value)}")
        # One line a language, so a language's misses are not averaged away by another's.
        for language, figures in languages.items():
            shown = ", ".join(f"{key} {figure(value)}" for key, value in figures.items())
            print(f"{'language ' + language:>18}: {shown}")
    return 0
