"""Training runs end to end: database in, model version out, and every way a run can end.

Runs train the real encoder for two or three short steps with only its top layer learning; the
subject is the run's bookkeeping (status, files, registry, the serving model), not model quality.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from sqlalchemy.orm import Session, sessionmaker

from chatbot import training
from chatbot.config import Settings
from chatbot.db.audit import list_entries
from chatbot.db.conversations import start_conversation
from chatbot.db.corrections import add_correction
from chatbot.db.knowledge import import_intents
from chatbot.db.model_versions import (
    activate,
    active_version_name,
    ensure_base_version,
    get_version,
    list_versions,
    register_version,
)
from chatbot.db.models import ModelVersion, RunStatus, TrainingRun
from chatbot.db.session import make_engine, make_session_factory, transaction
from chatbot.db.training_runs import (
    RunInProgress,
    get_run,
    list_runs,
    mark_running,
    request_cancel,
)
from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.encoder import WEIGHTS_FILE, ModelLoadError, SentenceEncoder, file_sha256
from chatbot.nlu.model import CARD_FILE, PROTOTYPES_FILE, ModelCard
from chatbot.nlu.pipeline import TrainingDataError
from chatbot.nlu.precision import MODES
from chatbot.nlu.trainer import Progress, TrainingConfig
from chatbot.runtime import build_manager, engine_for_version
from chatbot.training import IF_BETTER, beats_base, execute_run, first_run, start_run
from tests.factories import SINGLE, save_tuned_model

VALIDATED = [
    IntentSpec(
        "delivery", "3-5 working days.", ("How long does delivery take?", "When will it arrive?")
    ),
    IntentSpec("returns", "Within 30 days.", ("How do I return an item?", "Can I send it back?")),
    IntentSpec("hours", "9:00-17:00.", ("What are your opening hours?", "When are you open?")),
]
METRICS = {"n", "accuracy", "macro_f1", "oos_precision", "oos_recall", "ece"}
PROGRESS_KEYS = {"step", "total_steps", "epoch", "loss", "elapsed_seconds", "eta_seconds"}


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path / "data", device="cpu")


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def base_version(factory: sessionmaker[Session], real_encoder: SentenceEncoder) -> str:
    """The untuned encoder registered and active, as the app's start does."""
    version = f"base-{real_encoder.weights_sha256[:12]}"
    with transaction(factory) as session:
        ensure_base_version(
            session,
            version=version,
            base_model=str(real_encoder.path),
            weights_sha256=real_encoder.weights_sha256,
        )
    return version


@pytest.fixture(scope="module")
def tuned_model(real_encoder: SentenceEncoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fine-tuned version's directory, for tests about serving one rather than making one."""
    return save_tuned_model(real_encoder, tmp_path_factory.mktemp("tuned") / "ft-tuned")


def store(factory: sessionmaker[Session], intents: list[IntentSpec]) -> None:
    with transaction(factory) as session:
        import_intents(session, intents, replace=True)


def queue(
    factory: sessionmaker[Session], settings: Settings, *, epochs: int = 2, activate: bool = False
) -> int:
    with transaction(factory) as session:
        run = start_run(session, settings, epochs=epochs, device="cpu", activate=activate)
        # Only the top layer learns: quick steps, the same bookkeeping.
        run.config = {**run.config, "training": {**run.config["training"], "trainable_layers": 1}}
        return run.id


def train(
    settings: Settings,
    factory: sessionmaker[Session],
    run_id: int,
    base: SentenceEncoder,
    on_progress: Callable[[Progress], None] | None = None,
) -> ModelVersion | None:
    """Execute the run, starting from the shared base encoder (training works on copies)."""
    return execute_run(
        settings, factory, run_id, load_base=lambda device: base, on_progress=on_progress
    )


def run_row(factory: sessionmaker[Session], run_id: int) -> TrainingRun:
    with factory() as session:
        run = get_run(session, run_id)
        assert run is not None
        return run


def versions(factory: sessionmaker[Session]) -> list[tuple[str, bool]]:
    with factory() as session:
        return [(v.version, v.is_active) for v in list_versions(session)]


def register_and_activate(factory: sessionmaker[Session], version: str, path: Path) -> None:
    """As `chatbot models activate` would, from another process."""
    with transaction(factory) as session:
        row = register_version(
            session, version=version, kind="fine-tuned", base_model="packaged", path=str(path)
        )
        activate(session, row)


def leftovers(settings: Settings) -> list[str]:
    """What lies in the models directory (hidden staging directories included)."""
    directory = settings.models_dir
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.mark.model
def test_a_run_trains_validates_saves_and_registers_a_version(
    settings: Settings,
    factory: sessionmaker[Session],
    real_encoder: SentenceEncoder,
    base_version: str,
) -> None:
    store(factory, VALIDATED)
    with transaction(factory) as session:
        add_correction(session, "what is the capital of France", None)
        add_correction(session, "can I pay in bitcoin", "crypto_payments")  # no such intent
    run_id = queue(factory, settings)
    seen: list[Progress] = []

    created = train(settings, factory, run_id, real_encoder, on_progress=seen.append)

    assert created is not None and created.version.startswith("ft-")
    version = created.version
    run = run_row(factory, run_id)
    assert (run.status, run.model_version, run.error) == (RunStatus.SUCCEEDED, version, None)
    assert run.started_at is not None and run.finished_at is not None
    # Two folds and the final fit, two epochs each over the phrasings and the background
    # negatives: one progress bar across all.
    steps = len(seen)
    assert [p.step for p in seen] == list(range(1, steps + 1))
    assert {p.total_steps for p in seen} == {steps}
    assert steps % 3 == 0 and steps > 6
    assert set(run.progress) == PROGRESS_KEYS
    assert run.progress["step"] == run.progress["total_steps"] == steps
    assert 1 <= len(run.losses) <= steps

    with factory() as session:
        row = get_version(session, version)
        assert row is not None
        assert (row.kind, row.status, row.is_active) == ("fine-tuned", "ready", False)
        assert active_version_name(session) == base_version  # not activated: the base serves
        assert list_entries(session, action="model.") == []
        assert row.path == str(settings.models_dir / version)
        assert set(row.metrics) == METRICS | {"training_seconds", "device", "precision"}
        assert row.metrics["device"] == "cpu"
        assert row.metrics["precision"] in MODES
        assert row.config["epochs"] == 2 and row.config["final_fit"] is True
        assert row.config["steps"] == steps

    directory = settings.models_dir / version
    assert leftovers(settings) == [version]  # no staging directory left behind
    for name in (WEIGHTS_FILE, CARD_FILE, PROTOTYPES_FILE, "config.json", "report/report.json"):
        assert (directory / name).is_file(), name
    for chart in ("confusion.png", "calibration.png", "confidence.png"):
        assert (directory / "report" / chart).stat().st_size > 0
    assert row.weights_sha256 == file_sha256(directory / WEIGHTS_FILE)

    card = ModelCard.read(directory)
    assert card.version == version
    assert card.weights_sha256 == row.weights_sha256
    assert card.base_weights_sha256 == real_encoder.weights_sha256
    assert card.intents == card.prototype_intents == ["delivery", "returns", "hours"]
    assert card.scoring.fallback_threshold is not None  # the out-of-scope correction tuned it
    assert len(card.data_fingerprint) == 64 and version.endswith(card.data_fingerprint[:6])
    report = json.loads((directory / "report" / "report.json").read_text(encoding="utf-8"))
    assert report["validated"] is True
    # Judged: each phrasing held out once; per fold, the correction and the held-out background.
    used = report["background"]
    assert used["negatives"] == 256 and used["evaluate"] > 300
    assert row.metrics["n"] == 6 + 2 * (1 + used["evaluate"])
    assert report["base"]["n"] == row.metrics["n"]  # the base model, on the same messages
    # An English knowledge base, English corrections and the English background: one language.
    for figures in (report["by_language"], report["base"]["by_language"]):
        assert list(figures) == ["en"]
        assert figures["en"]["n"] == row.metrics["n"]
        assert figures["en"]["n_in_scope"] == 6 and figures["en"]["n_out_of_scope"] > 600
    assert report["by_language"]["en"]["accuracy"] == report["accuracy"]
    assert [point[0] for point in report["oos_curve"]][:3] == [0.0, 0.01, 0.02]
    assert card.scoring.oos_curve is not None
    assert card.scoring.oos_curve.to_list() == report["oos_curve"]
    # Named by id: no file or row of the version keeps a customer's words.
    [skipped] = report["skipped_corrections"]
    assert skipped["intent"] == "crypto_payments" and isinstance(skipped["correction"], int)
    for name in ("report/report.json", CARD_FILE):
        assert "bitcoin" not in (directory / name).read_text(encoding="utf-8"), name
    assert "bitcoin" not in json.dumps(row.config)
    assert report["images"] == {
        "confusion": "confusion.png",
        "calibration": "calibration.png",
        "confidence": "confidence.png",
    }

    with factory() as session:
        engine = engine_for_version(settings, session, real_encoder, version)
    assert engine.version == version
    assert engine.scoring == card.scoring  # carried whole
    assert list(engine.prototypes) == card.prototype_intents
    for intent in VALIDATED:
        assert engine.predict([intent.phrasings[0]])[0].intent == intent.key


@pytest.mark.model
def test_single_phrasing_intents_train_and_serve_when_activated(
    settings: Settings,
    factory: sessionmaker[Session],
    real_encoder: SentenceEncoder,
    base_version: str,
) -> None:
    store(factory, SINGLE)
    run_id = queue(factory, settings, activate=True)

    created = train(settings, factory, run_id, real_encoder)

    assert created is not None
    assert versions(factory) == [(base_version, False), (created.version, True)]
    with factory() as session:  # the change of the serving model is audited, by the run
        entries = [(e.actor, e.target, e.before, e.after) for e in list_entries(session)]
    assert entries == [
        (
            f"training run {run_id}",
            created.version,
            {"active": base_version},
            {"active": created.version, "activate": True},
        )
    ]
    report = json.loads(
        (settings.models_dir / created.version / "report" / "report.json").read_text("utf-8")
    )
    assert report["validated"] is False  # nothing could be held out
    manager = build_manager(settings, real_encoder, factory)  # a restart serves the new version
    assert manager.engine.version == created.version
    for intent in SINGLE:
        assert manager.engine.predict([intent.phrasings[0]])[0].intent == intent.key


@pytest.mark.model
def test_a_cancelled_run_keeps_nothing_and_the_active_model_stays(
    settings: Settings,
    factory: sessionmaker[Session],
    real_encoder: SentenceEncoder,
    base_version: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(training, "PROGRESS_EVERY_SECONDS", 0.0)  # every step is recorded
    store(factory, SINGLE)
    run_id = queue(factory, settings, epochs=3)

    def cancel_at_step_two(progress: Progress) -> None:
        if progress.step == 2:  # as the admin API would, from another session
            with transaction(factory) as other:
                run = get_run(other, run_id)
                assert run is not None
                request_cancel(other, run)

    assert train(settings, factory, run_id, real_encoder, on_progress=cancel_at_step_two) is None

    run = run_row(factory, run_id)
    assert (run.status, run.error, run.model_version) == (RunStatus.CANCELLED, "cancelled", None)
    assert run.cancel_requested and run.finished_at is not None
    assert run.progress["step"] == 2  # it stopped at the step that saw the request
    assert versions(factory) == [(base_version, True)]
    assert leftovers(settings) == []


@pytest.mark.parametrize("write", ["cancel", "customer message"])
@pytest.mark.model
def test_a_write_from_elsewhere_during_the_first_step_does_not_break_the_run(
    settings: Settings,
    factory: sessionmaker[Session],
    real_encoder: SentenceEncoder,
    base_version: str,
    write: str,
) -> None:
    store(factory, SINGLE)
    run_id = queue(factory, settings)

    def write_at_step_one(progress: Progress) -> None:
        if progress.step != 1:
            return
        with transaction(factory) as other:
            if write == "cancel":
                run = get_run(other, run_id)
                assert run is not None
                request_cancel(other, run)
            else:
                start_conversation(other)

    # Any error (such as "database is locked") propagates and fails the test with its traceback.
    version = train(settings, factory, run_id, real_encoder, on_progress=write_at_step_one)
    run = run_row(factory, run_id)
    if write == "cancel":
        assert version is None
        assert run.status is RunStatus.CANCELLED, run.error
    else:
        assert version is not None and run.model_version == version.version
        assert run.status is RunStatus.SUCCEEDED, run.error


@pytest.mark.model
def test_a_crash_mid_training_marks_the_run_failed_and_keeps_the_active_model(
    settings: Settings,
    factory: sessionmaker[Session],
    real_encoder: SentenceEncoder,
    base_version: str,
) -> None:
    store(factory, SINGLE)
    run_id = queue(factory, settings, activate=True)

    def crash(progress: Progress) -> None:
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        train(settings, factory, run_id, real_encoder, on_progress=crash)

    run = run_row(factory, run_id)
    assert (run.status, run.error) == (RunStatus.FAILED, "RuntimeError: CUDA out of memory")
    assert run.model_version is None and run.finished_at is not None
    assert versions(factory) == [(base_version, True)]
    assert leftovers(settings) == []


@pytest.mark.model
def test_a_crash_while_saving_leaves_no_partial_version(
    settings: Settings,
    factory: sessionmaker[Session],
    real_encoder: SentenceEncoder,
    base_version: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def disk_full(*args: object, **kwargs: object) -> dict[str, str]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(training, "write_report_images", disk_full)
    store(factory, SINGLE)
    run_id = queue(factory, settings, activate=True)

    with pytest.raises(OSError, match="No space left on device"):
        train(settings, factory, run_id, real_encoder)

    run = run_row(factory, run_id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None and "No space left on device" in run.error
    assert versions(factory) == [(base_version, True)]
    assert leftovers(settings) == []


@pytest.mark.parametrize(
    ("intents", "message"),
    [
        ([], "the knowledge base is empty: import a FAQ file before training"),
        (SINGLE[:1], "training needs at least two intents to tell apart"),
    ],
    ids=["empty", "one intent"],
)
@pytest.mark.model
def test_data_that_cannot_train_fails_the_run_with_the_reason(
    settings: Settings,
    factory: sessionmaker[Session],
    real_encoder: SentenceEncoder,
    intents: list[IntentSpec],
    message: str,
) -> None:
    store(factory, intents)
    run_id = queue(factory, settings)
    with pytest.raises(TrainingDataError, match=message):
        train(settings, factory, run_id, real_encoder)
    run = run_row(factory, run_id)
    assert (run.status, run.error) == (RunStatus.FAILED, message)
    assert leftovers(settings) == []


def test_a_run_that_is_not_queued_is_left_alone(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    store(factory, SINGLE)
    run_id = queue(factory, settings)
    with transaction(factory) as session:
        run = get_run(session, run_id)
        assert run is not None
        request_cancel(session, run)
    loaded: list[str] = []

    def load_base(device: str) -> SentenceEncoder:
        loaded.append(device)
        raise AssertionError("a run that is not queued must not load a model")

    assert execute_run(settings, factory, run_id, load_base=load_base) is None
    assert execute_run(settings, factory, run_id + 1000, load_base=load_base) is None
    assert loaded == []
    assert run_row(factory, run_id).status is RunStatus.CANCELLED


def test_start_run_stores_what_to_train(settings: Settings, factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        run = start_run(session, settings, epochs=None, device="auto", activate=True)
        assert run.status is RunStatus.QUEUED
        assert run.config == {
            "training": TrainingConfig().to_dict(),
            "activate": True,
            "device": "auto",
        }
        expected_device = "cuda" if torch.cuda.is_available() else "cpu"
        assert run.device == expected_device  # what "auto" resolved to
        request_cancel(session, run)
        again = start_run(session, settings, epochs=7, device="cpu", activate=False)
        assert again.config["training"]["epochs"] == 7


def test_start_run_refuses_a_second_run(settings: Settings, factory: sessionmaker[Session]) -> None:
    first = queue(factory, settings)
    with factory() as session, pytest.raises(RunInProgress, match=f"run {first} is still queued"):
        start_run(session, settings, epochs=1, device="cpu", activate=False)
    with factory() as session:
        assert [r.id for r in list_runs(session)] == [first]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_start_run_refuses_cuda_where_there_is_none(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    with factory() as session, pytest.raises(ModelLoadError, match="no CUDA device"):
        start_run(session, settings, epochs=1, device="cuda", activate=False)
    with factory() as session:
        assert list_runs(session) == []


@pytest.mark.model
def test_a_run_whose_process_died_is_marked_failed_when_the_app_starts(
    settings: Settings, factory: sessionmaker[Session], real_encoder: SentenceEncoder
) -> None:
    run_id = queue(factory, settings)
    with transaction(factory) as session:
        run = get_run(session, run_id)
        assert run is not None
        mark_running(session, run)
        child = subprocess.Popen(["true"])
        child.wait()
        run.pid = child.pid  # a process that has ended
    build_manager(settings, real_encoder, factory)
    run = run_row(factory, run_id)
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error.startswith("interrupted")


@pytest.mark.model
def test_a_training_process_killed_with_sigkill_is_marked_failed_on_restart(
    settings: Settings,
    factory: sessionmaker[Session],
    real_encoder: SentenceEncoder,
    db_url: str,
    tmp_path: Path,
) -> None:
    store(factory, SINGLE)
    base = build_manager(settings, real_encoder, factory).engine.version
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    environment.update(
        CHATBOT_DATABASE_URL=db_url,
        CHATBOT_DATA_DIR=str(settings.data_dir),
        CHATBOT_DEVICE="cpu",
        CHATBOT_TORCH_THREADS="1",
    )
    log = tmp_path / "train.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "chatbot.cli", "train", "--epochs", "50"],
            env=environment,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        run_id = wait_for_progress(factory, process, log)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    killed = run_row(factory, run_id)
    assert (killed.status, killed.pid) == (RunStatus.RUNNING, process.pid)  # it could not say

    manager = build_manager(settings, real_encoder, factory)  # the next start of the app
    run = run_row(factory, run_id)
    assert run.status is RunStatus.FAILED
    assert run.error == "interrupted: the training process ended before finishing"
    assert manager.engine.version == base
    assert versions(factory) == [(base, True)]
    assert leftovers(settings) == []


def wait_for_progress(
    factory: sessionmaker[Session], process: subprocess.Popen[bytes], log: Path
) -> int:
    """The id of the run once it has recorded a step (the process must still be training)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, f"training ended early:\n{log.read_text()[-2000:]}"
        with factory() as session:
            latest = list_runs(session, limit=1)
            if latest and latest[0].status is RunStatus.RUNNING and latest[0].progress:
                return latest[0].id
        time.sleep(0.25)
    raise AssertionError(f"no progress within 180 s:\n{log.read_text()[-2000:]}")


@pytest.mark.model
def test_the_manager_follows_an_activated_version(
    settings: Settings,
    factory: sessionmaker[Session],
    real_encoder: SentenceEncoder,
    tuned_model: Path,
) -> None:
    store(factory, SINGLE)
    manager = build_manager(settings, real_encoder, factory)
    base = manager.engine.version
    assert base.startswith("base-")
    register_and_activate(factory, "ft-tuned", tuned_model)

    with factory() as session:
        manager.model.follow(session, wait=True)

    assert manager.engine.version == "ft-tuned"
    assert manager.engine.revision == 1  # the new model indexed the knowledge base
    for intent in SINGLE:
        assert manager.engine.predict([intent.phrasings[0]])[0].intent == intent.key


@pytest.mark.model
def test_turns_go_on_while_an_activated_version_loads_in_the_background(
    settings: Settings,
    factory: sessionmaker[Session],
    real_encoder: SentenceEncoder,
    tuned_model: Path,
) -> None:
    store(factory, SINGLE)
    manager = build_manager(settings, real_encoder, factory)
    base = manager.engine.version
    register_and_activate(factory, "ft-tuned", tuned_model)
    answered_by: list[str | None] = []
    deadline = time.monotonic() + 120
    with factory() as session:
        conversation, _ = start_conversation(session)
        while time.monotonic() < deadline and "ft-tuned" not in answered_by:
            turn = manager.handle_message(session, conversation, "How long does delivery take?")
            session.commit()
            assert turn.reply is not None
            assert (turn.reply.action, turn.reply.intent) == ("answer", "delivery")
            answered_by.append(turn.reply.model_version)
    # The first turn started the switch and was answered at once by the model already loaded.
    assert answered_by[0] == base
    assert answered_by[-1] == "ft-tuned"
    assert set(answered_by) == {base, "ft-tuned"}


@pytest.mark.model
def test_a_version_that_cannot_load_never_replaces_the_serving_one(
    settings: Settings,
    factory: sessionmaker[Session],
    real_encoder: SentenceEncoder,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store(factory, SINGLE)
    manager = build_manager(settings, real_encoder, factory)
    base = manager.engine.version
    register_and_activate(factory, "ft-missing", tmp_path / "deleted")

    with factory() as session:
        manager.model.follow(session, wait=True)
        assert manager.engine.version == base
        manager.model.follow(session, wait=True)  # not retried at every message
        manager.model.follow(session)
        prediction = manager.engine.predict(["How do I return an item?"])[0]

    assert manager.engine.version == base
    assert prediction.intent == "returns"
    assert caplog.text.count("cannot load model ft-missing") == 1


def test_the_first_start_queues_one_run_that_activates_only_if_it_beats_the_base(
    settings: Settings, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as session:
        assert first_run(session, settings) is None  # switched off by default
    enabled = settings.model_copy(update={"first_run_training": True})
    with transaction(factory) as session:
        assert first_run(session, enabled) is None  # nothing to train yet
    store(factory, VALIDATED)
    with transaction(factory) as session:
        run = first_run(session, enabled)
        assert run is not None
        assert run.config["activate"] == IF_BETTER
    with transaction(factory) as session:
        assert first_run(session, enabled) is None  # a run was started once: never again
        assert len(list_runs(session)) == 1


def _language(n_in_scope: int, accuracy: float, oos_recall: float | None = None) -> dict[str, Any]:
    return {"n_in_scope": n_in_scope, "accuracy": accuracy, "oos_recall": oos_recall}


@pytest.mark.parametrize(
    ("zh_tuned", "zh_base", "expected"),
    [
        (_language(30, 0.70), _language(30, 0.80), False),  # Chinese lost 10 points
        (_language(10, 0.70), _language(10, 0.80), True),  # too few Chinese messages to tell
        (_language(30, 0.79), _language(30, 0.80), True),  # within the noise allowed
        (_language(30, 0.85, 0.40), _language(30, 0.80, 0.60), False),  # answers what it should not
        (_language(30, 0.85, 0.60), _language(30, 0.80, 0.60), True),
    ],
)
def test_a_version_that_helps_one_language_and_costs_another_does_not_beat_the_base(
    zh_tuned: dict[str, Any], zh_base: dict[str, Any], expected: bool
) -> None:
    # Overall and in English the tuned version is better: only Chinese can hold it back.
    report = {
        "accuracy": 0.92,
        "oos_recall": 0.9,
        "by_language": {"en": _language(60, 0.99, 0.9), "zh": zh_tuned},
        "base": {
            "accuracy": 0.88,
            "oos_recall": 0.9,
            "by_language": {"en": _language(60, 0.90, 0.9), "zh": zh_base},
        },
    }
    assert beats_base(report) is expected
