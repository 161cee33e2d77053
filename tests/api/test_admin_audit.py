"""Audit records of the admin API (chatbot/api/training.py, models.py) and of the command line:
model activations and training runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chatbot.cli import main
from chatbot.config import get_settings
from chatbot.db.model_versions import register_version
from chatbot.db.models import AuditEntry
from chatbot.db.training_runs import create_run
from tests.api.conftest import (
    ADMIN_EMAIL,
    Staff,
    audit_log,
    in_database,
)


def test_activating_a_model_over_the_api_is_audited_with_the_previous_version(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    previous = client.get("/api/v1/admin/models", headers=admin.token_headers).json()[0]
    in_database(
        db_url,
        lambda session: register_version(
            session, version="ft-next", kind="fine-tuned", base_model="x", status="ready"
        ),
    )
    response = client.post("/api/v1/admin/models/ft-next/activate", headers=admin.token_headers)
    assert response.status_code == 200
    (entry,) = audit_log(db_url, "model.")
    assert entry == {
        "actor": ADMIN_EMAIL,
        "action": "model.activate",
        "target": "ft-next",
        "before": {"active": previous["version"]},
        "after": {"active": "ft-next"},
    }


@pytest.mark.model
def test_starting_training_over_the_api_is_audited(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    started = client.post(
        "/api/v1/admin/training", json={"epochs": 1, "device": "cpu"}, headers=admin.token_headers
    )
    assert started.status_code == 202
    run_id = started.json()["id"]
    # Stop it at once: this test is about the record, not the training.
    client.post(f"/api/v1/admin/training/{run_id}/cancel", headers=admin.token_headers)
    (entry,) = audit_log(db_url, "training.start")
    assert entry == {
        "actor": ADMIN_EMAIL,
        "action": "training.start",
        "target": f"training run {run_id}",
        "before": None,
        "after": {"epochs": 1, "device": "cpu", "activate": False},
    }
    deadline = time.monotonic() + 120
    while client.get(f"/api/v1/admin/training/{run_id}", headers=admin.token_headers).json()[
        "status"
    ] not in ("cancelled", "failed", "succeeded"):
        assert time.monotonic() < deadline, "the cancelled run did not stop"
        time.sleep(0.1)


def test_cancelling_a_training_run_is_audited(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    run_id = in_database(db_url, lambda session: create_run(session, config={}, device="cpu").id)
    response = client.post(f"/api/v1/admin/training/{run_id}/cancel", headers=admin.headers)
    assert response.status_code == 200
    (entry,) = audit_log(db_url, "training.")
    assert (entry["action"], entry["target"], entry["actor"]) == (
        "training.cancel",
        f"training run {run_id}",
        ADMIN_EMAIL,
    )
    assert (entry["before"]["status"], entry["after"]["status"]) == ("queued", "cancelled")


def test_a_refused_api_call_leaves_no_audit_record(
    client: TestClient, admin: Staff, db_url: str
) -> None:
    response = client.post("/api/v1/admin/models/ft-nope/activate", headers=admin.token_headers)
    assert response.status_code == 404
    assert in_database(db_url, lambda session: session.query(AuditEntry).count()) == 0


def test_activating_a_model_from_the_command_line_is_audited_without_an_actor(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    in_database(
        db_url,
        lambda session: register_version(
            session, version="ft-cli", kind="fine-tuned", base_model="x", status="ready"
        ),
    )
    try:
        assert main(["models", "activate", "ft-cli"]) == 0
    finally:
        get_settings.cache_clear()
    assert "ft-cli is now active" in capsys.readouterr().out
    (entry,) = audit_log(db_url, "model.")
    assert (entry["actor"], entry["target"], entry["after"]) == (
        None,
        "ft-cli",
        {"active": "ft-cli"},
    )
