"""Latency of one customer message at each layer, and the encoder's batch throughput, on the CPU.

In one process, with the packaged all-MiniLM-L6-v2 and the sample knowledge base
(chatbot/sample/knowledge_base.jsonl), after a warm-up for each part:

    encoder  SentenceEncoder.encode([message]) on single BANKING77 test texts,     p50 / p95
             and on the shop questions below (the same texts as the next rows)
    engine   IntentEngine.predict([message]) against the sample knowledge base      p50 / p95
    turn     ConversationManager.handle_message in a fresh session, then commit,   p50 / p95
             on a temporary SQLite database (stores the message and the reply)
    http     POST /api/v1/conversations/{id}/messages through the real app served  p50 / p95
             by uvicorn on a free localhost port, with an httpx client
    batch    SentenceEncoder.encode(all BANKING77 test texts), length-sorted       sentences/s
             batches of 64

The turn and HTTP messages are shop-style paraphrases written for this benchmark, not phrasings
stored in the knowledge base. Prints a Markdown table and writes bench/out/latency.json.

    .venv/bin/python bench/latency.py [--messages 200] [--dataset ../shared/datasets/banking77]

Run it alone: a second busy process on a small machine slows torch several times over.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
from banking77_base import cpu_model, read_dataset

from chatbot.nlu.encoder import SentenceEncoder, configure_threads

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SAMPLE_KB = ROOT / "chatbot" / "sample" / "knowledge_base.jsonl"
WARM_UP = 20

# Paraphrases of the sample shop's intents, none a stored phrasing or a built-in (checked at start).
SHOP_QUESTIONS: list[tuple[str, str]] = [
    ("any idea when my package will get here?", "track_order"),
    ("I'd like to follow my shipment online", "track_order"),
    ("I changed my mind, please stop my order from going out", "cancel_order"),
    ("can I still call off the purchase I made this morning", "cancel_order"),
    ("I need to add another cushion to the order I placed", "modify_order"),
    ("I moved house, can the parcel go to my new address instead", "change_delivery_address"),
    ("never got an email confirming my purchase", "order_confirmation_missing"),
    ("one of the lamps I bought wasn't in the box", "missing_item"),
    ("my company needs a proper tax invoice for this purchase", "invoice_vat"),
    ("how many days until my sofa arrives if I order today", "delivery_times"),
    ("what do you charge for postage", "shipping_costs"),
    ("is there a minimum spend for free delivery", "shipping_costs"),
    ("can I get it tomorrow if I pay extra", "express_delivery"),
    ("do you deliver to Canada", "international_shipping"),
    ("will there be import tax if I order from Switzerland", "customs_duties"),
    ("the tracking says delivered but nothing arrived and it is a week late", "delayed_delivery"),
    ("the courier came while I was at work, what now", "missed_delivery"),
    ("how do you deliver a wardrobe, do you carry it upstairs", "large_item_delivery"),
    ("I want to send back a rug I don't like", "return_item"),
    ("do I have to pay for the return postage", "return_costs"),
    ("I sent my return two weeks ago and still have no money back", "refund_status"),
    ("could I swap the duvet cover for a king size one", "exchange_item"),
    ("the vase came broken in pieces", "damaged_item"),
    ("can I try the mattress at home and return it if it's too firm", "mattress_trial"),
    ("the bed frame came without the screws", "missing_parts"),
    ("how long is the guarantee on a dining table", "warranty"),
    ("can someone build the bookcase for me", "assembly_service"),
    ("the linen throw is sold out, will you restock it", "stock_notification"),
    ("can I put the wool blanket in the washing machine", "care_instructions"),
    ("do your sheets fit a super king bed", "bedding_sizes"),
    ("I'd like to see the velvet colours before buying a sofa", "fabric_swatches"),
    ("do you take PayPal or Apple Pay", "payment_methods"),
    ("can I split the payment into instalments", "klarna_pay_later"),
    ("my card keeps getting rejected at checkout", "payment_declined"),
    ("the money was taken from my account two times", "charged_twice"),
    ("I found the same chair cheaper elsewhere, will you match it", "price_match"),
    ("the promo code says invalid", "discount_code"),
    ("I'm at university, is there a reduction for me", "student_discount"),
    ("how much credit is left on my voucher", "gift_card_balance"),
    ("how do I earn loyalty points", "pine_points"),
    ("I can't log in, I don't remember my password", "reset_password"),
    ("can I order without signing up", "create_account"),
    ("please erase all my personal data", "delete_account"),
    ("I no longer want your promotional newsletters", "newsletter_unsubscribe"),
    ("what number do I ring for your customer service team", "contact_details"),
    ("can I see your furniture in person somewhere before buying", "physical_store"),
]


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return {
        "p50_ms": round(statistics.median(samples_ms), 2),
        "p95_ms": round(cuts[94], 2),
        "mean_ms": round(statistics.fmean(samples_ms), 2),
        "n": len(samples_ms),
    }


def time_each(
    messages: list[str],
    call: Callable[[str], object],
    after_warm_up: Callable[[], object] | None = None,
) -> list[float]:
    """Milliseconds per call, after WARM_UP untimed calls."""
    for message in messages[:WARM_UP]:
        call(message)
    if after_warm_up is not None:
        after_warm_up()
    samples = []
    for message in messages:
        started = time.perf_counter()
        call(message)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def cycle(items: list[str], n: int) -> list[str]:
    return [items[i % len(items)] for i in range(n)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_turns(
    settings: Any, encoder: SentenceEncoder, messages: list[str]
) -> tuple[list[float], Counter[str]]:
    """Full turns through the manager, one session and one commit per turn, as the API does."""
    from chatbot.db import conversations as store
    from chatbot.db.models import ConversationStatus
    from chatbot.db.session import make_engine, make_session_factory
    from chatbot.runtime import build_manager

    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    manager = build_manager(settings, encoder, factory)
    actions: Counter[str] = Counter()
    conversation_id: str | None = None

    def new_conversation() -> str:
        with factory() as session:
            conversation, _ = store.start_conversation(session)
            session.commit()
            return conversation.id

    def turn(text: str) -> None:
        nonlocal conversation_id
        if conversation_id is None:
            conversation_id = new_conversation()
        with factory() as session:
            conversation = store.get_conversation(session, conversation_id)
            assert conversation is not None
            result = manager.handle_message(session, conversation, text)
            session.commit()
            actions[str(result.reply.action) if result.reply else "silent"] += 1
            # A handed-off conversation stays silent: later turns start a new one.
            if conversation.status is not ConversationStatus.BOT:
                conversation_id = None

    try:
        samples = time_each(messages, turn, actions.clear)
    finally:
        engine.dispose()
    return samples, actions


def bench_http(
    settings: Any, encoder: SentenceEncoder, messages: list[str]
) -> tuple[list[float], Counter[str]]:
    """POST /api/v1/conversations/{id}/messages through uvicorn on localhost."""
    import httpx
    import uvicorn

    from chatbot.main import create_app

    app = create_app(settings, encoder=encoder)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="bench-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise SystemExit("the app did not start")
        time.sleep(0.05)

    actions: Counter[str] = Counter()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            conversation: dict[str, str] | None = None

            def send(text: str) -> None:
                nonlocal conversation
                if conversation is None:
                    created = client.post("/api/v1/conversations")
                    created.raise_for_status()
                    conversation = created.json()
                response = client.post(
                    f"/api/v1/conversations/{conversation['id']}/messages",
                    json={"text": text},
                    headers={"Authorization": f"Bearer {conversation['token']}"},
                )
                response.raise_for_status()
                reply = response.json()["reply"]
                actions[reply["action"] if reply else "silent"] += 1
                if reply is None or reply["handoff"]:
                    conversation = None

            samples = time_each(messages, send, actions.clear)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    return samples, actions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200, help="timed messages per part")
    parser.add_argument(
        "--dataset",
        type=Path,
        default=ROOT.parent / "shared" / "datasets" / "banking77",
        help="folder holding BANKING77's test.csv (default: ../shared/datasets/banking77)",
    )
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    test_csv: Path = args.dataset / "test.csv"
    if not test_csv.is_file():
        parser.error(f"--dataset: {test_csv} not found")

    from transformers.utils import logging as hf_logging

    from chatbot.config import Settings
    from chatbot.conversation.builtins import match_builtin
    from chatbot.db.knowledge import import_intents
    from chatbot.db.migrate import upgrade
    from chatbot.db.session import make_engine, make_session_factory, transaction
    from chatbot.knowledge.files import read_faq_file
    from chatbot.nlu.engine import IntentEngine

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    configure_threads()
    encoder = SentenceEncoder.from_pretrained(device=args.device)
    intents = read_faq_file(SAMPLE_KB, max_bytes=10**8)
    stored = {p.casefold() for intent in intents for p in intent.phrasings}
    known = {intent.key for intent in intents}
    for text, key in SHOP_QUESTIONS:
        assert text.casefold() not in stored, f"stored phrasing, not a paraphrase: {text}"
        assert key in known, f"unknown intent {key}"
        assert match_builtin(text) is None, f"a built-in (greeting, person...), not an FAQ: {text}"

    banking = [text for text, _ in read_dataset(test_csv)]
    # Spread over the file (it is grouped by intent) for varied lengths and topics.
    step = max(1, len(banking) // args.messages)
    single_texts = banking[::step][: args.messages]
    shop_texts = cycle([text for text, _ in SHOP_QUESTIONS], args.messages)
    results: dict[str, Any] = {}

    print("encoder: single messages...", file=sys.stderr)
    results["encoder"] = percentiles(time_each(single_texts, lambda t: encoder.encode([t])))
    results["encoder_shop"] = percentiles(time_each(shop_texts, lambda t: encoder.encode([t])))

    print("engine: predict...", file=sys.stderr)
    engine = IntentEngine(encoder, version="bench")
    engine.load_knowledge(intents, revision=1)
    labels = dict(SHOP_QUESTIONS)
    results["engine"] = percentiles(time_each(shop_texts, lambda t: engine.predict([t])))
    hits = sum(engine.predict([t])[0].intent == labels[t] for t in labels)
    results["engine"]["shop_top1"] = f"{hits}/{len(labels)}"

    with tempfile.TemporaryDirectory(prefix="chatbot-bench-") as data_dir:
        database_url = f"sqlite:///{Path(data_dir) / 'chatbot.db'}"
        upgrade(database_url)
        db_engine = make_engine(database_url)
        with transaction(make_session_factory(db_engine)) as session:
            import_intents(session, intents, replace=True)
        db_engine.dispose()
        # One client sending as fast as it can is what the rate limits exist to stop.
        settings = Settings(
            database_url=database_url, data_dir=Path(data_dir), rate_limits_enabled=False
        )

        print("turn: handle_message + commit...", file=sys.stderr)
        samples, actions = bench_turns(settings, encoder, shop_texts)
        results["turn"] = {**percentiles(samples), "actions": dict(actions)}

        print("http: POST messages...", file=sys.stderr)
        samples, actions = bench_http(settings, encoder, shop_texts)
        results["http"] = {**percentiles(samples), "actions": dict(actions)}

    print("batch: encoder throughput...", file=sys.stderr)
    encoder.encode(banking[:256], batch_size=64)
    started = time.perf_counter()
    encoder.encode(banking, batch_size=64)
    elapsed = time.perf_counter() - started
    results["batch"] = {
        "sentences": len(banking),
        "batch_size": 64,
        "seconds": round(elapsed, 2),
        "sentences_per_s": round(len(banking) / elapsed, 1),
    }

    report = {
        **results,
        "date": dt.date.today().isoformat(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(encoder.device),
        "python": platform.python_version(),
        "knowledge_base": f"{SAMPLE_KB.relative_to(ROOT)} ({len(intents)} intents, "
        f"{len(stored)} phrasings)",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "latency.json").write_text(json.dumps(report, indent=2) + "\n")

    print(f"CPU: {report['cpu']}, {report['cores']} cores, torch threads {report['torch_threads']}")
    print()
    print("| what | p50 ms | p95 ms | n |")
    print("| --- | ---: | ---: | ---: |")
    for key, label in (
        ("encoder", "encoder.encode([msg]), BANKING77 test texts"),
        ("encoder_shop", "encoder.encode([msg]), shop questions"),
        ("engine", "engine.predict([msg])"),
        ("turn", "manager.handle_message + commit (SQLite)"),
        ("http", "POST /api/v1/conversations/{id}/messages"),
    ):
        row = results[key]
        print(f"| {label} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | {row['n']} |")
    batch = results["batch"]
    print(
        f"\nbatch throughput: {batch['sentences_per_s']:.0f} sentences/s "
        f"({batch['sentences']} BANKING77 test texts, batches of 64, {batch['seconds']} s)"
    )
    print(f"written {(OUT / 'latency.json').relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
