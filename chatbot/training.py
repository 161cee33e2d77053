"""Training runs end to end: data from the database, the nlu pipeline, the registry on disk.

The CLI runs this in its own process; the web app hands it to a background job.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from chatbot.config import Settings
from chatbot.db import audit
from chatbot.db import corrections as correction_store
from chatbot.db import model_versions as registry
from chatbot.db import training_runs as runs
from chatbot.db.knowledge import load_intents
from chatbot.db.models import ModelVersion, RunStatus, TrainingRun
from chatbot.evaluation.report import build_report, write_report_images
from chatbot.nlu.encoder import SentenceEncoder, all_threads, file_sha256, resolve_device
from chatbot.nlu.model import ModelCard, save_model
from chatbot.nlu.pipeline import PipelineConfig, TrainingDataError, data_fingerprint, train_model
from chatbot.nlu.precision import choose_for
from chatbot.nlu.trainer import Progress, TrainingCancelled, TrainingConfig
from chatbot.nlu.validation import Example

log = logging.getLogger(__name__)
# A run's "activate" value that activates the new version only if it beats the base model.
IF_BETTER = "if_better"
PROGRESS_EVERY_SECONDS = 1.0


def start_run(
    session: Session,
    settings: Settings,
    *,
    epochs: int | None,
    device: str,
    activate: bool | str,
) -> TrainingRun:
    """Queue a run for the current knowledge base (refused while another one is active).

    ``activate``: True serves the new version when it is built; ``IF_BETTER`` only when it
    beats the base model on the same held-out messages (``beats_base``).
    """
    training = TrainingConfig()
    if epochs is not None:
        training.epochs = epochs
    resolved = resolve_device(device).type  # fails now, not in the background, without CUDA
    return runs.create_run(
        session,
        config={"training": training.to_dict(), "activate": activate, "device": device},
        device=resolved,
    )


def execute_run(
    settings: Settings,
    session_factory: sessionmaker[Session],
    run_id: int,
    *,
    load_base: Callable[[str], SentenceEncoder],
    on_progress: Callable[[Progress], None] | None = None,
) -> ModelVersion | None:
    """Train, evaluate, save and register; the run row says how it ended, whatever happens."""
    with session_factory() as session:
        run = runs.get_run(session, run_id)
        # Claimed atomically: of two workers handed the same run, one runs it.
        if run is None or not runs.claim(session, run):
            session.rollback()
            return None
        session.commit()
        try:
            with all_threads(settings.torch_threads):
                version = _train(settings, session, run, load_base, on_progress)
        except TrainingCancelled:
            session.rollback()
            runs.finish_run(session, run, RunStatus.CANCELLED, error="cancelled")
            session.commit()
            return None
        except TrainingDataError as exc:
            session.rollback()
            runs.finish_run(session, run, RunStatus.FAILED, error=str(exc))
            session.commit()
            raise
        except BaseException as exc:
            session.rollback()
            runs.finish_run(session, run, RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
            session.commit()
            raise
        session.commit()
        return version


def _train(
    settings: Settings,
    session: Session,
    run: TrainingRun,
    load_base: Callable[[str], SentenceEncoder],
    on_progress: Callable[[Progress], None] | None,
) -> ModelVersion:
    intents = load_intents(session)
    stored = correction_store.list_corrections(session)
    corrections = [Example(c.text, c.intent) for c in stored]
    # Reports name a skipped correction by its id: its text is a customer's words, which no
    # file of the version should keep (erasure and retention could not reach them there).
    correction_ids = {id(example): c.id for example, c in zip(corrections, stored, strict=True)}
    session.commit()  # hold no transaction (and, on SQLite, no lock) through minutes of training
    training = TrainingConfig(**run.config.get("training", {}))
    base = load_base(run.config.get("device", "auto"))
    last_write = 0.0
    cancelled = False

    def progress(p: Progress) -> None:
        nonlocal last_write, cancelled
        if on_progress is not None:
            on_progress(p)
        now = time.monotonic()
        if now - last_write >= PROGRESS_EVERY_SECONDS or p.step == p.total_steps:
            last_write = now
            cancelled = runs.record_progress(session, run, _progress_dict(p))
            session.commit()

    trained = train_model(
        base,
        intents,
        corrections,
        config=PipelineConfig(training=training),
        clarify_threshold=settings.clarify_threshold,
        on_progress=progress,
        should_stop=lambda: cancelled,
    )
    fingerprint = data_fingerprint(intents, corrections)
    version = "ft-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + f"-{fingerprint[:6]}"
    final = settings.models_dir / version
    staging = settings.models_dir / f".{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    validation = trained.validation
    report = build_report(
        validation.truth,
        validation.predicted,
        validation.confidence,
        validation.answered,
        languages=validation.language,
    )
    skipped = [
        {"correction": correction_ids.get(id(c)), "intent": c.intent}
        for c in trained.skipped_corrections
    ]
    report["skipped_corrections"] = skipped
    report["background"] = trained.background
    by_base = trained.base_validation
    report["base"] = None
    if by_base.truth:
        base_report = build_report(
            by_base.truth,
            by_base.predicted,
            by_base.confidence,
            by_base.answered,
            languages=by_base.language,
        )
        # Per language too: fine-tuning can help one language and cost another.
        report["base"] = {**_summary(base_report), "by_language": base_report["by_language"]}
    if trained.scoring.oos_curve is not None:
        report["oos_curve"] = trained.scoring.oos_curve.to_list()
        report["fallback_threshold"] = trained.scoring.fallback_threshold
    report["validated"] = bool(validation.truth)
    serving = choose_for(trained.encoder, intents)
    report["precision"] = serving.as_dict()
    card = ModelCard(
        version=version,
        base_model=str(base.path),
        base_weights_sha256=base.weights_sha256,
        intents=[i.key for i in intents],
        scoring=trained.scoring,
        metrics=_summary(report),
        training={
            **training.to_dict(),
            "final_fit": trained.final_fit,
            "steps": trained.steps,
            "skipped_corrections": skipped,
        },
        data_fingerprint=fingerprint,
        seconds=round(trained.seconds, 1),
        device=str(base.device),
        precision=serving.as_dict(),
    )
    try:
        save_model(trained.encoder, card, staging, trained.prototypes)
        images = write_report_images(
            report, validation.truth, validation.predicted, staging / "report"
        )
        report["images"] = images
        (staging / "report" / "report.json").write_text(_json(report), encoding="utf-8")
        card.weights_sha256 = file_sha256(staging / "model.safetensors")
        card.write(staging)
        staging.rename(final)  # the version appears whole or not at all
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    row = registry.register_version(
        session,
        version=version,
        kind="fine-tuned",
        base_model=card.base_model,
        path=str(final),
        weights_sha256=card.weights_sha256,
        status="ready",
        metrics={
            **card.metrics,
            "training_seconds": card.seconds,
            "device": card.device,
            "precision": serving.mode,
        },
        config=card.training,
    )
    runs.finish_run(session, run, RunStatus.SUCCEEDED, model_version=version)
    wanted = run.config.get("activate")
    if wanted == IF_BETTER:
        wanted = beats_base(report)
        log.info(
            "version %s %s the base model on held-out messages",
            version,
            "beats" if wanted else "does not beat",
        )
    if wanted:
        previous = registry.active_version_name(session)
        registry.activate(session, row)
        # Committed with the version and the run's end, or not at all.
        audit.record(
            session,
            f"training run {run.id}",
            "model.activate",
            version,
            before={"active": previous},
            after={"active": version, "activate": run.config.get("activate")},
        )
    return row


def first_run(session: Session, settings: Settings) -> TrainingRun | None:
    """On a fresh installation, queue the first fine-tuning of its knowledge base (if_better).

    Only when ``settings.first_run_training`` is on, the knowledge base has intents, and no run
    was ever started; the caller submits the run as a job. Returns None otherwise.
    """
    if not settings.first_run_training or runs.list_runs(session) or not load_intents(session):
        return None
    try:
        return start_run(session, settings, epochs=None, device=settings.device, activate=IF_BETTER)
    except runs.RunInProgress:
        return None  # another replica queued it first


# A language needs this many held-out in-scope messages to veto an activation by itself, and may
# lose this much accuracy to noise: one message of twenty is five points.
MIN_LANGUAGE_MESSAGES = 20
LANGUAGE_ACCURACY_SLACK = 0.02


def beats_base(report: dict[str, Any]) -> bool:
    """Whether a version did at least as well as the base model on the same held-out messages:
    in-scope accuracy no lower, out-of-scope recall at most 5 points lower; and in each language
    with ``MIN_LANGUAGE_MESSAGES`` held-out in-scope messages, accuracy at most 2 points lower and
    out-of-scope recall at most 5 points lower. A version that helps English and costs Chinese is
    not activated by itself (measured on the bilingual sample: bench/README.md).

    Example:
        >>> beats_base({"accuracy": 0.95, "oos_recall": 0.9,
        ...             "base": {"accuracy": 0.9, "oos_recall": 0.93}})
        True
        >>> beats_base({"accuracy": 0.95, "oos_recall": 0.8,
        ...             "base": {"accuracy": 0.9, "oos_recall": 0.93}})
        False
        >>> zh = {"n_in_scope": 40, "accuracy": 0.80, "oos_recall": None}
        >>> beats_base({"accuracy": 0.95, "oos_recall": None, "by_language": {"zh": zh},
        ...             "base": {"accuracy": 0.9, "oos_recall": None,
        ...                      "by_language": {"zh": {**zh, "accuracy": 0.85}}}})
        False
    """
    base = report.get("base") or {}
    if report.get("accuracy") is None or base.get("accuracy") is None:
        return False  # nothing was held out: no evidence either way
    if not _no_worse(report, base, slack=0.0):
        return False
    mine, theirs = report.get("by_language") or {}, base.get("by_language") or {}
    return all(
        _no_worse(mine[language], theirs[language], slack=LANGUAGE_ACCURACY_SLACK)
        for language in sorted(mine.keys() & theirs.keys())
        if (mine[language].get("n_in_scope") or 0) >= MIN_LANGUAGE_MESSAGES
    )


def _no_worse(figures: dict[str, Any], base: dict[str, Any], *, slack: float) -> bool:
    accuracy, base_accuracy = figures.get("accuracy"), base.get("accuracy")
    if accuracy is not None and base_accuracy is not None and accuracy < base_accuracy - slack:
        return False
    recall, base_recall = figures.get("oos_recall"), base.get("oos_recall")
    return recall is None or base_recall is None or recall >= base_recall - 0.05


def _progress_dict(p: Progress) -> dict[str, Any]:
    return {
        "step": p.step,
        "total_steps": p.total_steps,
        "epoch": p.epoch,
        "loss": round(p.loss, 5),
        "elapsed_seconds": round(p.elapsed_seconds, 1),
        "eta_seconds": None if p.eta_seconds != p.eta_seconds else round(p.eta_seconds, 1),
    }


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("n", "accuracy", "macro_f1", "oos_precision", "oos_recall", "ece")
    return {k: report.get(k) for k in keys}


def _json(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, indent=2, ensure_ascii=False)
