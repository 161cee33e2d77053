"""Test doubles that behave like the real parts, for tests about something else."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence

import torch
from torch import Tensor

from chatbot.jobs import JobContext
from chatbot.nlu.lexical import tokenize


class HashingEncoder:
    """Bag-of-words vectors hashed into a fixed size: messages sharing words come out similar.

    Used by API tests through ``create_app(encoder=...)`` so they need not load the real model.
    """

    weights_sha256 = "f" * 64
    path = "hashing-encoder"

    def __init__(self, dimension: int = 256) -> None:
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Tensor:
        out = torch.zeros(len(texts), self._dimension)
        for row, text in enumerate(texts):
            for token in tokenize(text):
                bucket = int(hashlib.md5(token.encode()).hexdigest(), 16) % self._dimension
                out[row, bucket] += 1.0
        return torch.nn.functional.normalize(out, p=2, dim=1)


def slow_training(context: JobContext, run_id: int, steps: int, step_seconds: float = 0.1) -> None:
    """A training job without a model, for worker tests: it claims its run as the real job does
    (atomically, so it runs once), beats, reports progress and honours a cancel request. Each
    process that runs it appends its pid to ``ran-RUN_ID`` under the data directory."""
    from chatbot.db import training_runs as runs
    from chatbot.db.models import RunStatus
    from chatbot.worker import heartbeat

    beating = heartbeat(context.sessions, run_id, context.settings.job_heartbeat_seconds)
    with beating, context.sessions() as session:
        run = runs.get_run(session, run_id)
        if run is None or not runs.claim(session, run):
            return
        session.commit()
        with (context.settings.data_dir / f"ran-{run_id}").open("a") as ran:
            ran.write(f"{os.getpid()}\n")
        for step in range(1, steps + 1):
            time.sleep(step_seconds)
            progress = {"step": step, "total_steps": steps, "epoch": 1, "loss": 1 / step}
            if runs.record_progress(session, run, progress):
                runs.finish_run(session, run, RunStatus.CANCELLED, error="cancelled")
                session.commit()
                return
            session.commit()
        runs.finish_run(session, run, RunStatus.SUCCEEDED, model_version="ft-fake")
        session.commit()
