"""`chatbot train`, `chatbot models list|activate` and `chatbot evaluate --model`, run in-process.

The commands load the real packaged encoder and train it for two short steps on three
one-phrasing intents; one trained database is shared by the tests that only read or activate.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from chatbot.cli import main
from chatbot.config import get_settings
from chatbot.db.corrections import add_correction
from chatbot.db.knowledge import import_intents
from chatbot.db.model_versions import activate, register_version
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.db.training_runs import create_run, list_runs
from chatbot.knowledge.spec import IntentSpec

pytestmark = pytest.mark.model

SINGLE = [
    IntentSpec("delivery", "Standard delivery takes 3-5 working days.", ("delivery time?",)),
    IntentSpec("returns", "You can return anything within 30 days.", ("return an item?",)),
    IntentSpec("hours", "We are open 9:00-17:00.", ("opening hours?",)),
]
LABELLED = "text,intent\ndelivery time?,delivery\nreturn an item?,returns\nopening hours?,hours\n"
STALE = "can I pay in bitcoin?"  # a correction naming an intent that was removed since
METRICS = {"n", "accuracy", "macro_f1", "oos_precision", "oos_recall", "ece"}


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def invoke(*argv: str) -> Result:
    """Run `chatbot ARGV...` in-process, capturing its output; a traceback is a failure."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    assert "Traceback" not in err.getvalue()
    return Result(code, out.getvalue(), err.getvalue())


def clean_environment(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """No CHATBOT_* setting or .env file from the machine; settings read afresh."""
    for name in list(os.environ):
        if name.startswith("CHATBOT_") and not name.startswith("CHATBOT_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(directory)
    monkeypatch.setenv("CHATBOT_DEVICE", "cpu")
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    clean_environment(monkeypatch, tmp_path)
    yield
    get_settings.cache_clear()


def new_database(template: Path, directory: Path, intents: list[IntentSpec]) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, directory / "chatbot.db")
    url = f"sqlite:///{directory / 'chatbot.db'}"
    engine = make_engine(url)
    try:
        with transaction(make_session_factory(engine)) as session:
            import_intents(session, intents, replace=True)
    finally:
        engine.dispose()
    return url


def use(monkeypatch: pytest.MonkeyPatch, url: str, data_dir: Path) -> None:
    monkeypatch.setenv("CHATBOT_DATABASE_URL", url)
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(data_dir))
    get_settings.cache_clear()


def in_database(url: str, write: Callable[[Any], object]) -> None:
    engine = make_engine(url)
    try:
        with transaction(make_session_factory(engine)) as session:
            write(session)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Trained:
    url: str
    data_dir: Path
    result: Result


@pytest.fixture(scope="module")
def trained(migrated_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """`chatbot train --epochs 2 --json` once, on a database of this module's own.

    A staff correction names an intent the knowledge base no longer has.
    """
    directory = tmp_path_factory.mktemp("cli-train")
    url = new_database(migrated_sqlite_template, directory, SINGLE)
    in_database(url, lambda session: add_correction(session, STALE, "crypto_payments"))
    with pytest.MonkeyPatch.context() as monkeypatch:
        clean_environment(monkeypatch, directory)
        use(monkeypatch, url, directory / "data")
        result = invoke("train", "--epochs", "2", "--json")
    get_settings.cache_clear()
    return Trained(url, directory / "data", result)


def test_train_json_prints_one_object_with_the_version_and_its_metrics(trained: Trained) -> None:
    result = trained.result
    assert result.code == 0, result.err
    assert len(result.out.strip().splitlines()) == 1
    summary = json.loads(result.out)
    assert summary["version"].startswith("ft-")
    assert summary["activated"] is False
    assert summary["path"] == str(trained.data_dir / "models" / summary["version"])
    assert Path(summary["path"], "model.safetensors").is_file()
    assert METRICS | {"training_seconds", "device"} <= set(summary)
    assert summary["device"] == "cpu"
    assert isinstance(summary["run"], int)
    # Progress went to stderr, not into the JSON.
    # The bar reaches its end: the last step is the total (phrasings and background negatives).
    assert re.search(r"step (\d+)/\1 ", result.err) and "ETA" in result.err


def test_train_tells_about_a_correction_naming_a_removed_intent(trained: Trained) -> None:
    assert trained.result.code == 0
    said = trained.result.out + trained.result.err
    # Named by its id: the customer's words stay out of logs and reports.
    assert re.search(r"correction \d+ names intent 'crypto_payments'", said), said
    assert STALE not in said


def test_a_trained_version_can_be_listed_evaluated_and_activated(
    trained: Trained, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use(monkeypatch, trained.url, trained.data_dir)
    version = json.loads(trained.result.out)["version"]
    labelled = tmp_path / "labelled.csv"
    labelled.write_text(LABELLED, encoding="utf-8")

    evaluated = invoke("evaluate", str(labelled), "--model", version, "--json")
    assert evaluated.code == 0, evaluated.err
    report = json.loads(evaluated.out)
    assert report["model"] == version
    assert report["n"] == 3 and report["accuracy"] == 1.0

    listed = invoke("models", "list", "--json")
    assert listed.code == 0, listed.err
    rows = {row["version"]: row for row in json.loads(listed.out)}
    assert rows[version]["kind"] == "fine-tuned"
    assert rows[version]["active"] is False
    (base,) = [name for name, row in rows.items() if row["kind"] == "base"]
    assert rows[base]["active"] is True  # registered by the first command that served

    activated = invoke("models", "activate", version)
    assert activated.code == 0, activated.err
    assert f"{version} is now active" in activated.out

    table = invoke("models", "list")
    assert table.code == 0
    starred = [line for line in table.out.splitlines() if line.startswith("*")]
    assert len(starred) == 1 and version in starred[0]

    asked = invoke("ask", "delivery time?", "--json")
    assert asked.code == 0, asked.err
    assert json.loads(asked.out)["model"] == version


def test_train_activate_serves_the_new_version_and_prints_a_summary(
    migrated_sqlite_template: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = new_database(migrated_sqlite_template, tmp_path / "db", SINGLE)
    use(monkeypatch, url, tmp_path / "data")
    in_database(url, lambda session: add_correction(session, STALE, "crypto_payments"))

    result = invoke("train", "--epochs", "2", "--device", "cpu", "--activate")

    assert result.code == 0, result.err
    lines = dict(line.strip().split(": ", 1) for line in result.out.splitlines() if ": " in line)
    version = lines["version"]
    assert version.startswith("ft-")
    assert lines["activated"] == "True"
    assert "chatbot models activate" not in result.out  # nothing left to do
    listed = json.loads(invoke("models", "list", "--json").out)
    assert [row["version"] for row in listed if row["active"]] == [version]
    report_file = tmp_path / "data" / "models" / version / "report" / "report.json"
    report = json.loads(report_file.read_text(encoding="utf-8"))
    [skipped] = report["skipped_corrections"]
    assert skipped["intent"] == "crypto_payments" and STALE not in report_file.read_text()
    assert f"correction {skipped['correction']} names intent 'crypto_payments'" in result.err


@pytest.mark.parametrize(
    ("intents", "message"),
    [
        ([], "the knowledge base is empty: import a FAQ file before training"),
        (SINGLE[:1], "training needs at least two intents to tell apart"),
    ],
    ids=["empty", "one intent"],
)
def test_train_on_data_that_cannot_train_exits_2_naming_the_problem(
    migrated_sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    intents: list[IntentSpec],
    message: str,
) -> None:
    url = new_database(migrated_sqlite_template, tmp_path / "db", intents)
    use(monkeypatch, url, tmp_path / "data")
    result = invoke("train", "--epochs", "2", "--json")
    assert result.code == 2
    assert result.err.strip().endswith(f"chatbot: {message}")
    assert result.out == ""
    assert not (tmp_path / "data" / "models").exists()
    assert json.loads(invoke("models", "list", "--json").out) == []


def test_train_while_a_run_is_active_exits_2(
    migrated_sqlite_template: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = new_database(migrated_sqlite_template, tmp_path / "db", SINGLE)
    use(monkeypatch, url, tmp_path / "data")
    in_database(url, lambda session: create_run(session, config={}, device="cpu"))
    result = invoke("train", "--epochs", "2")
    assert result.code == 2
    assert "is still queued: one at a time" in result.err
    assert result.out == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_train_on_cuda_without_one_fails_before_queueing_a_run(
    migrated_sqlite_template: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = new_database(migrated_sqlite_template, tmp_path / "db", SINGLE)
    use(monkeypatch, url, tmp_path / "data")
    result = invoke("train", "--device", "cuda")
    assert result.code == 1
    assert "no CUDA device is available" in result.err
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            assert list_runs(session) == []
    finally:
        engine.dispose()


def test_activating_an_unknown_version_exits_2_listing_the_known_ones(
    trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, trained.url, trained.data_dir)
    result = invoke("models", "activate", "ft-nope")
    assert result.code == 2
    assert "unknown model version 'ft-nope' (known: " in result.err
    assert json.loads(trained.result.out)["version"] in result.err


def test_models_list_on_an_empty_registry(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use(monkeypatch, db_url, tmp_path / "data")
    assert json.loads(invoke("models", "list", "--json").out) == []
    table = invoke("models", "list")
    assert table.code == 0
    assert table.out.split() == ["version", "kind", "created", "accuracy", "macro_f1"]


@pytest.mark.parametrize("epochs", ["0", "-1", "two"])
def test_train_refuses_a_bad_epoch_count(epochs: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["train", "--epochs", epochs])
    assert caught.value.code == 2
    assert "must be a whole number of at least 1" in capsys.readouterr().err


def test_activating_a_version_that_catches_far_less_out_of_scope_needs_force(
    migrated_sqlite_template: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = new_database(migrated_sqlite_template, tmp_path, SINGLE)

    def versions(session: Any) -> None:
        careful = register_version(
            session,
            version="ft-careful",
            kind="fine-tuned",
            base_model="b",
            status="ready",
            metrics={"oos_recall": 0.9},
        )
        register_version(
            session,
            version="ft-eager",
            kind="fine-tuned",
            base_model="b",
            status="ready",
            metrics={"oos_recall": 0.3},
        )
        activate(session, careful)

    in_database(url, versions)
    use(monkeypatch, url, tmp_path / "data")
    refused = invoke("models", "activate", "ft-eager")
    assert refused.code == 2
    assert "60 points less than the active ft-careful" in refused.err
    assert "--force" in refused.err
    listed = json.loads(invoke("models", "list", "--json").out)
    assert [v["version"] for v in listed if v["active"]] == ["ft-careful"]

    forced = invoke("models", "activate", "ft-eager", "--force")
    assert forced.code == 0, forced.err
    listed = json.loads(invoke("models", "list", "--json").out)
    assert [v["version"] for v in listed if v["active"]] == ["ft-eager"]
