"""Many customers at once against `chatbot serve`: throughput, reply latency, errors, and a
reconciliation read back from the database.

For each database (SQLite file, and the local PostgreSQL when reachable) and each level of
customers (1, 16, 64, 200, 500 by default, 60 s each):

- a fresh database is migrated, the sample knowledge base imported, a staff account created, and
  `chatbot serve` started as its own process on a free localhost port (the base model);
- every customer opens a conversation, then sends shop questions one after another (each with a
  client id, as the widget does; a 503 or 429 is retried after its Retry-After, counted apart);
- meanwhile a signed-in staff member loads the live queue (JSON), the transcript list and one
  transcript page every half second: their latency under the load is reported;
- afterwards every acknowledged message is looked up in the database: stored exactly once, with
  exactly one bot reply when the API returned one (none when it said a person holds the
  conversation). Lost and duplicated messages are counted.

Before any server starts, the bare encoder is measured in this process (single-query latency and
batched sentences/s, fp32 and the serving precision) and the ratios are printed.

    .venv/bin/python bench/load.py [--seconds 60] [--levels 1,16,64,200,500]
                                   [--databases sqlite,postgresql] [--profile 64]
                                   [--redis redis://127.0.0.1:6379/0 --replicas 1,2]

`--redis URL` runs the servers with CHATBOT_REDIS_URL (live events and jobs through Redis);
`--replicas 1,2` then runs each database with one and with two `chatbot serve` replicas sharing
it (PostgreSQL only), the customers spread over them in turn, as a load balancer would.

`--profile N` records the server with py-spy during the level of N customers and prints the
functions that took the most time. Run it alone: other busy processes slow torch several times.
Writes bench/out/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import aiohttp
from banking77_base import cpu_model, read_dataset
from latency import SHOP_QUESTIONS
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
VAR = ROOT / "bench" / "var"
CHATBOT = ROOT / ".venv" / "bin" / "chatbot"
SAMPLE_KB = ROOT / "chatbot" / "sample" / "knowledge_base.jsonl"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
POSTGRES_DB = "chatbot_load"
STAFF_EMAIL, STAFF_PASSWORD = "staff@bench.example", "load-benchmark-password"
CLIENT_TIMEOUT_S = 120
STAFF_EVERY_S = 0.5


# ---- the bare encoder, measured before any server runs


def bare_encoder(precision: str, dataset: Path) -> dict[str, Any]:
    from chatbot.config import Settings
    from chatbot.nlu.precision import with_precision
    from chatbot.runtime import load_encoder

    encoder = with_precision(load_encoder(Settings(device="cpu")), precision)
    questions = [q for q, _ in SHOP_QUESTIONS] * 5
    for q in questions[:20]:
        encoder.encode([q])
    single = []
    for q in questions:
        started = time.perf_counter()
        encoder.encode([q])
        single.append((time.perf_counter() - started) * 1000)
    texts = [t for t, _ in read_dataset(dataset / "test.csv")]
    encoder.encode(texts[:256])
    started = time.perf_counter()
    encoder.encode(texts)
    rate = len(texts) / (time.perf_counter() - started)
    return {
        "precision": precision,
        "single_p50_ms": round(statistics.median(single), 2),
        "single_p95_ms": round(statistics.quantiles(single, n=100)[94], 2),
        "batched_sentences_per_s": round(rate, 1),
    }


# ---- one server per database


@dataclass
class Server:
    url: str
    database_url: str
    process: subprocess.Popen[bytes]
    precision: str = "fp32"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_database(kind: str) -> str:
    if kind == "sqlite":
        path = VAR / "load" / "chatbot.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in path.parent.glob("chatbot.db*"):
            leftover.unlink()
        return f"sqlite:///{path}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {POSTGRES_DB} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {POSTGRES_DB}"))
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{POSTGRES_DB}"


def start_servers(kind: str, replicas: int = 1, redis_url: str | None = None) -> list[Server]:
    """``replicas`` servers on one fresh database (and one Redis, when given)."""
    database_url = fresh_database(kind)
    env = {
        **os.environ,
        "CHATBOT_DATABASE_URL": database_url,
        "CHATBOT_DATA_DIR": str(VAR / "load"),
        # Hundreds of simulated customers share one loopback address.
        "CHATBOT_RATE_LIMITS_ENABLED": "false",
    }
    if redis_url:
        env |= {"CHATBOT_REDIS_URL": redis_url, "CHATBOT_REDIS_PREFIX": "bench-load"}

    def chatbot(*args: str, stdin: str | None = None) -> None:
        subprocess.run(
            [str(CHATBOT), *args], env=env, check=True, input=stdin, text=True, capture_output=True
        )

    chatbot("db", "upgrade")
    chatbot("import-faq", str(SAMPLE_KB), "--replace")
    chatbot(
        "users", "create", STAFF_EMAIL, "--role", "staff", "--password-stdin", stdin=STAFF_PASSWORD
    )
    # One after another: replicas loading the model at once on two cores only slows both.
    return [start_server(kind, database_url, env, n) for n in range(replicas)]


def start_server(kind: str, database_url: str, env: dict[str, str], number: int) -> Server:
    port = free_port()
    log = VAR / "load" / f"server-{kind}-{number}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [str(CHATBOT), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),  # noqa: SIM115
    )
    server = Server(f"http://127.0.0.1:{port}", database_url, process)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped: see {log}")
        try:
            ready = asyncio.run(_get_json(f"{server.url}/readyz"))
            if ready.get("status") == "ready":
                server.precision = str(ready.get("precision", "fp32"))
                return server
        except (aiohttp.ClientError, OSError):
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit("the server did not get ready within 180 s")


async def _get_json(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return dict(await response.json())


def stop_server(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()


# ---- one level of load


@dataclass
class Level:
    customers: int
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    retried: Counter[int] = field(default_factory=Counter)  # 503 / 429 answers, retried
    acknowledged: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    staff_ms: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0


async def customer(
    session: aiohttp.ClientSession, url: str, level: Level, number: int, deadline: float
) -> None:
    rng = random.Random(number)
    async with session.post(f"{url}/api/v1/conversations") as response:
        if response.status != 201:
            level.statuses[f"start {response.status}"] += 1
            return
        created = await response.json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    messages_url = f"{url}/api/v1/conversations/{created['id']}/messages"
    sent = 0
    while time.monotonic() < deadline:
        client_id = f"c{level.customers}-{number}-{sent}"
        body = {"text": rng.choice(SHOP_QUESTIONS)[0], "client_id": client_id}
        sent += 1
        started = time.perf_counter()
        while True:
            try:
                async with session.post(messages_url, json=body, headers=headers) as response:
                    status = response.status
                    answer = await response.json() if status == 200 else None
                    retry_after = response.headers.get("Retry-After")
            except TimeoutError:
                status, answer, retry_after = 0, None, None
            except aiohttp.ClientError as exc:
                level.statuses[type(exc).__name__] += 1
                return
            if status in (429, 503) and retry_after is not None:
                level.retried[status] += 1
                await asyncio.sleep(float(retry_after))
                continue
            break
        level.statuses[str(status) if status else "timeout"] += 1
        if answer is not None:
            level.latencies_ms.append((time.perf_counter() - started) * 1000)
            reply = answer["reply"]
            level.acknowledged[client_id] = (answer["message"]["id"], reply and reply["id"])


async def reference_conversation(session: aiohttp.ClientSession, url: str) -> str:
    """A conversation of ordinary length (ten turns) for the staff member to open."""
    async with session.post(f"{url}/api/v1/conversations") as response:
        created = await response.json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    for question, _intent in SHOP_QUESTIONS[:10]:
        async with session.post(
            f"{url}/api/v1/conversations/{created['id']}/messages",
            json={"text": question},
            headers=headers,
        ) as response:
            await response.read()
    return str(created["id"])


async def staff(
    session: aiohttp.ClientSession, url: str, level: Level, deadline: float, conversation: str
) -> None:
    async with session.get(f"{url}/login") as response:
        await response.read()
    csrf = next((c.value for c in session.cookie_jar if c.key == "chatbot_login_csrf"), "")
    form = {"email": STAFF_EMAIL, "password": STAFF_PASSWORD, "csrf_token": csrf}
    async with session.post(f"{url}/login", data=form) as response:
        page = await response.text()
        if response.status != 200 or "csrf-token" not in page:
            level.statuses[f"staff sign-in {response.status}"] += 1
            return
    pages = {
        "queue (JSON)": f"{url}/api/v1/staff/queue",
        "transcripts": f"{url}/staff",
        "transcript": f"{url}/staff/conversations/{conversation}",
    }
    while time.monotonic() < deadline:
        for name, page_url in pages.items():
            started = time.perf_counter()
            async with session.get(page_url) as response:
                body = await response.text()
            level.staff_ms.setdefault(name, []).append((time.perf_counter() - started) * 1000)
            if response.status != 200 or not body:
                level.statuses[f"staff {name} {response.status}"] += 1
        await asyncio.sleep(STAFF_EVERY_S)


async def run_level(
    urls: list[str], customers: int, seconds: float, with_staff: bool = True
) -> Level:
    level = Level(customers)
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=0)
    async with (
        aiohttp.ClientSession(timeout=timeout, connector=connector) as session,
        # unsafe: keep cookies for an IP address host (127.0.0.1), as a browser would.
        aiohttp.ClientSession(
            timeout=timeout, cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as staff_session,
    ):
        url = urls[0]
        conversation = await reference_conversation(session, url)
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(
            *([staff(staff_session, url, level, deadline, conversation)] if with_staff else []),
            # Customers spread over the replicas in turn, as a load balancer would.
            *(customer(session, urls[n % len(urls)], level, n, deadline) for n in range(customers)),
        )
        level.seconds = time.monotonic() - started
    return level


# ---- reading back


def reconcile(database_url: str, level: Level) -> dict[str, int]:
    """Every acknowledged message stored once, with one bot reply exactly when one was returned."""
    prefix = f"c{level.customers}-"
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT m.client_id, m.id, count(*) OVER (PARTITION BY m.client_id), "
                "(SELECT count(*) FROM messages r WHERE r.reply_to_id = m.id), "
                "(SELECT min(r.id) FROM messages r WHERE r.reply_to_id = m.id) "
                "FROM messages m WHERE m.client_id LIKE :prefix"
            ),
            {"prefix": prefix + "%"},
        ).all()
    engine.dispose()
    stored = {
        client_id: (id_, copies, replies, reply) for client_id, id_, copies, replies, reply in rows
    }
    lost = duplicated = wrong_reply = 0
    for client_id, (message_id, reply_id) in level.acknowledged.items():
        found = stored.get(client_id)
        if found is None or found[0] != message_id:
            lost += 1
            continue
        _id, copies, replies, reply = found
        if copies != 1 or replies > 1:
            duplicated += 1
        if (reply_id is None and replies != 0) or (reply_id is not None and reply != reply_id):
            wrong_reply += 1
    return {
        "acknowledged": len(level.acknowledged),
        "stored": len(stored),
        "lost": lost,
        "duplicated": duplicated,
        "reply_mismatch": wrong_reply,
        "stored_unacknowledged": len(set(stored) - set(level.acknowledged)),
    }


# ---- profiling


def profile(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    py_spy = ROOT / ".venv" / "bin" / "py-spy"
    return subprocess.Popen(
        [
            str(py_spy),
            "record",
            "--gil",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--format",
            "raw",
            "--output",
            str(out),
            "--threads",
            "--nonblocking",
            "--rate",
            "200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def top_costs(collapsed: Path, limit: int = 15) -> list[tuple[str, float]]:
    """The functions on the most samples (inclusive), as a share of samples that did work."""
    inclusive: Counter[str] = Counter()
    busy = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():  # a frame name holding a line break, cut in two
            continue
        frames = stack.split(";")
        if any(
            idle in frames[-1]
            for idle in ("select", "epoll", "wait (threading", "_worker (concurrent")
        ):
            continue
        count = int(count_text)
        busy += count
        for name in {re.sub(r" \(.*?:\d+\)$", "", f) + f" ({_module(f)})" for f in frames}:
            inclusive[name] += count
    return (
        [(name, round(100 * n / busy, 1)) for name, n in inclusive.most_common(limit)]
        if busy
        else []
    )


def _module(frame: str) -> str:
    found = re.search(r"\(([^()]*?)(?::\d+)?\)$", frame)
    return Path(found.group(1)).name if found else "?"


# ---- the report


def percentile(samples: list[float], q: int) -> float:
    if len(samples) < 2:
        return round(samples[0], 1) if samples else float("nan")
    return round(statistics.quantiles(samples, n=100, method="inclusive")[q - 1], 1)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarise(
    kind: str, level: Level, checked: dict[str, int], replicas: int = 1
) -> dict[str, Any]:
    errors = {k: v for k, v in level.statuses.items() if k != "200"}
    staff_all = [ms for samples in level.staff_ms.values() for ms in samples]
    return {
        "database": kind,
        "replicas": replicas,
        "customers": level.customers,
        "seconds": round(level.seconds, 1),
        "messages": len(level.latencies_ms),
        "messages_per_s": round(len(level.latencies_ms) / level.seconds, 1),
        "p50_ms": percentile(level.latencies_ms, 50),
        "p95_ms": percentile(level.latencies_ms, 95),
        "p99_ms": percentile(level.latencies_ms, 99),
        "errors": errors,
        "retried": {str(k): v for k, v in level.retried.items()},
        "staff_p95_ms": percentile(staff_all, 95),
        "staff_p95_ms_by_page": {k: percentile(v, 95) for k, v in level.staff_ms.items()},
        **checked,
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| database | replicas | customers | messages/s | reply p50 / p95 / p99 ms | errors "
        "| 503/429 retried | lost | duplicated | staff p95 ms |",
        "| --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0"
        retried = sum(r["retried"].values())
        lines.append(
            f"| {r['database']} | {r.get('replicas', 1)} | {r['customers']} | "
            f"{r['messages_per_s']} | "
            f"{r['p50_ms']} / {r['p95_ms']} / {r['p99_ms']} | {errors} | {retried} | "
            f"{r['lost']} | {r['duplicated'] + r['reply_mismatch']} | {r['staff_p95_ms']} |"
        )
    return "\n".join(lines)


def postgres_reachable() -> bool:
    try:
        engine = create_engine(POSTGRES_ADMIN)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # any failure means: skip PostgreSQL
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--levels", default="1,16,64,200,500")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared/datasets/banking77")
    parser.add_argument("--profile", type=int, default=0, help="py-spy the server at this level")
    parser.add_argument("--no-staff", action="store_true", help="no staff member loads pages")
    parser.add_argument("--redis", help="CHATBOT_REDIS_URL for the servers (live events, jobs)")
    parser.add_argument("--replicas", default="1", help="replicas per database, e.g. 1,2")
    args = parser.parse_args()
    replica_counts = [int(n) for n in args.replicas.split(",")]
    if max(replica_counts) > 1 and not args.redis:
        parser.error("several replicas need --redis: their live events go through it")
    levels = [int(n) for n in args.levels.split(",")]
    databases = args.databases.split(",")
    if "postgresql" in databases and not postgres_reachable():
        print("PostgreSQL is not reachable at 127.0.0.1:5432: skipped", file=sys.stderr)
        databases.remove("postgresql")
    OUT.mkdir(parents=True, exist_ok=True)

    encoders = {"fp32": bare_encoder("fp32", args.dataset)}
    rows: list[dict[str, Any]] = []
    profiles: dict[str, Any] = {}
    runs = [
        (kind, replicas)
        for kind in databases
        for replicas in replica_counts
        if replicas == 1 or kind == "postgresql"  # SQLite is one machine's file
    ]
    for kind, replicas in runs:
        servers = start_servers(kind, replicas, args.redis)
        server = servers[0]
        label = f"{kind}+redis" if args.redis else kind
        if server.precision not in encoders:
            encoders[server.precision] = bare_encoder(server.precision, args.dataset)
        try:
            for customers in levels:
                spy = None
                if customers == args.profile:
                    collapsed = OUT / f"load-profile-{kind}.txt"
                    spy = profile(server.process.pid, int(args.seconds * 0.8), collapsed)
                pids = [s.process.pid for s in servers]
                cpu_before, client_before = sum(map(cpu_seconds, pids)), time.process_time()
                urls = [s.url for s in servers]
                level = asyncio.run(run_level(urls, customers, args.seconds, not args.no_staff))
                server_cpu = sum(map(cpu_seconds, pids)) - cpu_before
                client_cpu = time.process_time() - client_before
                if spy is not None:
                    spy.wait(timeout=60)
                    profiles[kind] = top_costs(collapsed)
                checked = reconcile(server.database_url, level)
                row = summarise(label, level, checked, replicas)
                row["server_cpu_cores"] = round(server_cpu / level.seconds, 2)
                row["client_cpu_cores"] = round(client_cpu / level.seconds, 2)
                row["server_cpu_ms_per_message"] = round(
                    1000 * server_cpu / max(1, len(level.latencies_ms)), 2
                )
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            for each in servers:
                stop_server(each)

    print()
    print(markdown(rows))
    print()
    for name, figures in encoders.items():
        print(
            f"bare encoder ({name}): single query p50 {figures['single_p50_ms']} ms, "
            f"p95 {figures['single_p95_ms']} ms; batched {figures['batched_sentences_per_s']} "
            "sentences/s"
        )
    for row in rows:
        for name, figures in encoders.items():
            if row["customers"] == 1:
                print(
                    f"{row['database']}: lone customer p50 / bare {name} p50 = "
                    f"{row['p50_ms'] / figures['single_p50_ms']:.2f}, p95 ratio "
                    f"{row['p95_ms'] / figures['single_p95_ms']:.2f}"
                )
            if row["customers"] == 64:
                print(
                    f"{row['database']}: 64 customers' messages/s / bare {name} batched = "
                    f"{row['messages_per_s'] / figures['batched_sentences_per_s']:.2f}"
                )
    for kind, costs in profiles.items():
        print(f"\nlargest costs on {kind} ({args.profile} customers), % of busy samples:")
        for name, share in costs:
            print(f"  {share:5.1f}  {name}")
    (OUT / "load.json").write_text(
        json.dumps(
            {
                "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "cpu": cpu_model(),
                "cores": os.cpu_count(),
                "seconds_per_level": args.seconds,
                "bare_encoder": encoders,
                "rows": rows,
                "profiles": profiles,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
