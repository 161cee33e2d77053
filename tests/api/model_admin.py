"""What the tests of training runs and model versions share, over the JSON API
(tests/api/test_training.py, tests/api/test_models.py) and on the console's pages
(tests/console/admin/test_models.py): an admin's API token, versions registered as another
process would, and reports as a training run writes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from chatbot.config import Settings
from chatbot.db.model_versions import register_version
from chatbot.evaluation.report import build_report, write_report_images
from chatbot.main import create_app
from chatbot.nlu.engine import Encoder
from tests.api.conftest import add_account, in_database
from tests.fakes import HashingEncoder

BASE = f"base-{HashingEncoder.weights_sha256[:12]}"
PNG = b"\x89PNG\r\n\x1a\n"
TOKEN = "cbt_test-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
STAFF_TOKEN = "cbt_test-staff-token"


def admin_settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings of a database with an admin (API token TOKEN) and a staff member (STAFF_TOKEN)."""
    add_account(db_url, "ada@admin.example", "admin", token=TOKEN)
    add_account(db_url, "sam@staff.example", "staff", token=STAFF_TOKEN)
    return Settings(database_url=db_url, data_dir=tmp_path / "data")


@contextmanager
def client_for(settings: Settings, encoder: Encoder) -> Iterator[TestClient]:
    """A client of a started app (the lifespan has run: the manager is built)."""
    with TestClient(create_app(settings, encoder=encoder)) as client:
        yield client


def models(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/api/v1/admin/models", headers=ADMIN)
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


def register(db_url: str, version: str, path: Path | None = None, **fields: Any) -> None:
    """Register a fine-tuned version and commit, as a training run in another process would."""
    in_database(
        db_url,
        lambda session: register_version(
            session,
            version=version,
            kind="fine-tuned",
            base_model="packaged",
            path=str(path) if path else None,
            **fields,
        ),
    )


def write_report(
    directory: Path,
    truth: list[str | None],
    predicted: list[str | None],
    languages: list[str] | None = None,
) -> None:
    """A version's report directory as chatbot/training.py writes it."""
    n = len(truth)
    answered = [p is not None for p in predicted]
    report = build_report(truth, predicted, [0.9] * n, answered, languages=languages)
    report["images"] = write_report_images(report, truth, predicted, directory / "report")
    report["validated"] = True
    (directory / "report" / "report.json").write_text(json.dumps(report), encoding="utf-8")
