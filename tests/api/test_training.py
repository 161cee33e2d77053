"""Training runs over the JSON API: who may use the admin API, refusing to train, and runs
started and cancelled over HTTP.

Tests about access and refusals use the fake encoder; those that train use the real one, on a
knowledge base of three one-phrasing intents (a step is quick).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from chatbot.db.training_runs import create_run
from chatbot.nlu.encoder import SentenceEncoder
from tests.api.conftest import KNOWLEDGE, in_database, start_conversation, store_knowledge
from tests.api.model_admin import (
    ADMIN,
    STAFF_TOKEN,
    TOKEN,
    admin_settings,
    client_for,
    models,
)
from tests.factories import SINGLE
from tests.fakes import HashingEncoder

# Both routers of the admin API (training runs and model versions) are guarded the same way;
# these refusals are checked here for all their routes.
ENDPOINTS = [
    ("GET", "/api/v1/admin/training"),
    ("POST", "/api/v1/admin/training"),
    ("GET", "/api/v1/admin/training/1"),
    ("POST", "/api/v1/admin/training/1/cancel"),
    ("GET", "/api/v1/admin/models"),
    ("POST", "/api/v1/admin/models/base-x/activate"),
]
PROGRESS_KEYS = {"step", "total_steps", "epoch", "loss", "elapsed_seconds", "eta_seconds"}


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The app with the fake encoder, a knowledge base and the admin API enabled."""
    store_knowledge(db_url, KNOWLEDGE)
    with client_for(admin_settings(db_url, tmp_path), HashingEncoder()) as client:
        yield client


@pytest.fixture
def model_client(
    db_url: str, tmp_path: Path, real_encoder: SentenceEncoder
) -> Iterator[TestClient]:
    """The app with the real encoder, which it trains from, and one-phrasing intents."""
    store_knowledge(db_url, SINGLE)
    with client_for(admin_settings(db_url, tmp_path), real_encoder) as client:
        yield client


def runs(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/api/v1/admin/training", headers=ADMIN)
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


def wait_for_run(
    client: TestClient, run_id: int, done: Callable[[dict[str, Any]], bool], timeout: float = 180
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Poll the run until ``done``; returns it and every state seen on the way."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/v1/admin/training/{run_id}", headers=ADMIN)
        assert response.status_code == 200, response.text
        seen.append(response.json())
        if done(seen[-1]):
            return seen[-1], seen
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not get there in {timeout} s: {seen[-1]}")


def finished(run: dict[str, Any]) -> bool:
    return run["status"] in ("succeeded", "failed", "cancelled")


def reply_version(client: TestClient, customer: Any, text: str) -> str:
    response = client.post(customer.messages_url, json={"text": text}, headers=customer.headers)
    assert response.status_code == 200, response.text
    reply = response.json()["reply"]
    assert reply is not None and reply["action"] == "answer", reply
    version: str = reply["model_version"]
    return version


# Who may use it


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_wrong_token_is_refused(client: TestClient, method: str, path: str) -> None:
    for token in ("wrong", TOKEN + "x", TOKEN[:-1]):
        response = client.request(
            method, path, headers={"Authorization": f"Bearer {token}"}, json={}
        )
        assert response.status_code == 401, token
    assert runs(client) == []  # nothing was started


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_staff_members_token_is_refused(client: TestClient, method: str, path: str) -> None:
    headers = {"Authorization": f"Bearer {STAFF_TOKEN}"}
    response = client.request(method, path, headers=headers, json={})
    assert response.status_code == 403
    assert response.json()["detail"] == "this needs an admin account"
    assert runs(client) == []


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_missing_token_is_refused(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, json={})
    assert response.status_code in (401, 403)
    assert runs(client) == []


def test_the_customer_api_does_not_take_the_admin_token(client: TestClient) -> None:
    response = client.get("/api/v1/conversations/nope/messages", headers=ADMIN)
    assert response.status_code == 404


# Refusing to train


def test_training_on_an_empty_knowledge_base_is_422(db_url: str, tmp_path: Path) -> None:
    with client_for(admin_settings(db_url, tmp_path), HashingEncoder()) as client:
        response = client.post("/api/v1/admin/training", json={}, headers=ADMIN)
        assert response.status_code == 422
        assert "the knowledge base is empty" in response.json()["detail"]
        assert runs(client) == []


def test_a_second_run_is_409_while_one_is_active(client: TestClient, db_url: str) -> None:
    in_database(db_url, lambda session: create_run(session, config={}, device="cpu"))
    (queued,) = runs(client)
    response = client.post("/api/v1/admin/training", json={"epochs": 1}, headers=ADMIN)
    assert response.status_code == 409
    assert f"training run {queued['id']} is still queued" in response.json()["detail"]
    assert [r["id"] for r in runs(client)] == [queued["id"]]


@pytest.mark.parametrize(
    "body", [{"epochs": 0}, {"epochs": 51}, {"epochs": "many"}, {"device": "tpu"}]
)
def test_bad_training_settings_are_422(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/api/v1/admin/training", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert runs(client) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_one_is_422(client: TestClient) -> None:
    response = client.post("/api/v1/admin/training", json={"device": "cuda"}, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("device: ")
    assert "no CUDA device" in response.json()["detail"]
    assert runs(client) == []


def test_unknown_runs_are_404(client: TestClient) -> None:
    assert client.get("/api/v1/admin/training/999", headers=ADMIN).status_code == 404
    response = client.post("/api/v1/admin/training/999/cancel", headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["detail"] == "training run 999 not found"


def test_cancelling_a_queued_run_ends_it_at_once(client: TestClient, db_url: str) -> None:
    in_database(db_url, lambda session: create_run(session, config={}, device="cpu"))
    (queued,) = runs(client)
    response = client.post(f"/api/v1/admin/training/{queued['id']}/cancel", headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["error"] == "cancelled before it started"
    assert response.json()["finished_at"] is not None


# Training over HTTP (the real encoder)


@pytest.mark.model
def test_a_run_started_over_http_trains_and_its_version_can_be_served(
    model_client: TestClient,
) -> None:
    client = model_client
    (base,) = models(client)
    response = client.post("/api/v1/admin/training", json={"epochs": 2}, headers=ADMIN)
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] == "queued"
    assert started["device"] == ("cuda" if torch.cuda.is_available() else "cpu")

    run, seen = wait_for_run(client, started["id"], finished)

    assert run["status"] == "succeeded", run["error"]
    assert {s["status"] for s in seen} <= {"queued", "running", "succeeded"}
    assert set(run["progress"]) == PROGRESS_KEYS
    # Two epochs over the phrasings and the background negatives.
    assert run["progress"]["step"] == run["progress"]["total_steps"] > 2
    assert run["progress"]["epoch"] == 2
    assert run["losses"] and run["started_at"] and run["finished_at"]
    version = run["model_version"]
    listed = {m["version"]: m for m in models(client)}
    assert listed[version]["kind"] == "fine-tuned"
    assert listed[version]["active"] is False and listed[base["version"]]["active"] is True
    assert {"accuracy", "macro_f1", "training_seconds"} <= set(listed[version]["metrics"])
    assert runs(client)[0]["id"] == started["id"]

    response = client.post(f"/api/v1/admin/models/{version}/activate", headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["active"] is True
    assert [m["version"] for m in models(client) if m["active"]] == [version]

    customer = start_conversation(client)
    deadline = time.monotonic() + 120
    answered_by = reply_version(client, customer, "How long does delivery take?")
    while answered_by != version and time.monotonic() < deadline:
        answered_by = reply_version(client, customer, "How long does delivery take?")
    assert answered_by == version


@pytest.mark.model
def test_a_running_run_can_be_cancelled_over_http(model_client: TestClient) -> None:
    client = model_client
    before = models(client)
    response = client.post(
        "/api/v1/admin/training", json={"epochs": 50, "activate": True}, headers=ADMIN
    )
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    # Cancel once the run has recorded a step, as an admin watching its progress would.
    wait_for_run(client, run_id, lambda run: bool(run["progress"]) or finished(run))

    response = client.post(f"/api/v1/admin/training/{run_id}/cancel", headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["status"] in ("running", "cancelled")

    run, _ = wait_for_run(client, run_id, finished)
    assert (run["status"], run["error"], run["model_version"]) == ("cancelled", "cancelled", None)
    assert run["progress"]["step"] < run["progress"]["total_steps"]
    assert models(client) == before  # nothing registered, the active model unchanged
