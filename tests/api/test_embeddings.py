"""Embeddings and similarity as a service: the serving model's vectors, for staff and admins."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from chatbot.api.embeddings import MAX_TEXT_CHARS, MAX_TEXTS
from chatbot.config import Settings
from chatbot.main import create_app
from chatbot.nlu.encoder import SentenceEncoder
from tests.api.conftest import ADMIN_EMAIL, KNOWLEDGE, Customer, Staff, add_account, store_knowledge
from tests.fakes import HashingEncoder

TEXTS = ["Where is my order?", "How do I return an item?", "where is my order", "hello"]


def test_vectors_are_the_serving_models(client: TestClient, admin: Staff) -> None:
    response = client.post("/api/v1/embeddings", json={"texts": TEXTS}, headers=admin.token_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = HashingEncoder().encode(TEXTS)
    assert body["dimensions"] == expected.shape[1] == len(body["vectors"][0])
    assert torch.allclose(torch.tensor(body["vectors"]), expected, atol=1e-5)
    assert body["model"] == client.app.state.manager.engine.version  # type: ignore[attr-defined]


def test_similarity_is_the_cosine_of_the_vectors(client: TestClient, staff: Staff) -> None:
    pairs = [[TEXTS[0], TEXTS[2]], [TEXTS[0], TEXTS[1]], [TEXTS[3], TEXTS[3]]]
    response = client.post("/api/v1/similarity", json={"pairs": pairs}, headers=staff.token_headers)
    assert response.status_code == 200, response.text
    scores = response.json()["scores"]
    vectors = HashingEncoder().encode([text for pair in pairs for text in pair])
    expected = [float(vectors[2 * i] @ vectors[2 * i + 1]) for i in range(len(pairs))]
    assert scores == pytest.approx(expected, abs=1e-5)
    assert math.isclose(scores[2], 1.0, abs_tol=1e-6)
    assert scores[0] > scores[1]  # the same words rank above other words


def test_a_signed_in_browser_needs_its_csrf_token(client: TestClient, staff: Staff) -> None:
    body = {"texts": ["hello"]}
    assert client.post("/api/v1/embeddings", json=body).status_code == 403
    assert client.post("/api/v1/embeddings", json=body, headers=staff.headers).status_code == 200


@pytest.mark.parametrize("route", ["/api/v1/embeddings", "/api/v1/similarity"])
def test_customers_and_strangers_are_refused(
    client: TestClient, customer: Customer, route: str
) -> None:
    body = {"texts": ["hello"]} if route.endswith("embeddings") else {"pairs": [["a", "b"]]}
    assert client.post(route, json=body).status_code == 401
    assert client.post(route, json=body, headers=customer.headers).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"texts": []},
        {"texts": ["a"] * (MAX_TEXTS + 1)},
        {"texts": [""]},
        {"texts": ["a" * (MAX_TEXT_CHARS + 1)]},
        {"texts": "hello"},
        {"pairs": [["a", "b"]]},
    ],
    ids=["none", "too-many", "empty", "too-long", "not-a-list", "wrong-field"],
)
def test_bad_batches_are_422(client: TestClient, admin: Staff, body: dict[str, object]) -> None:
    response = client.post("/api/v1/embeddings", json=body, headers=admin.token_headers)
    assert response.status_code == 422, response.text


def test_bad_pairs_are_422(client: TestClient, admin: Staff) -> None:
    for pairs in ([], [["only one"]], [["a", "b", "c"]], [["a", "b"]] * (MAX_TEXTS + 1)):
        response = client.post(
            "/api/v1/similarity", json={"pairs": pairs}, headers=admin.token_headers
        )
        assert response.status_code == 422, (pairs, response.text)


@pytest.mark.model
@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_the_real_model_gives_the_vectors_it_computes_in_process(
    real_encoder: SentenceEncoder, tmp_path: Path, db_url: str, admin_token: str, precision: str
) -> None:
    texts = ["my parcel has not arrived", "我想退货", "a" * 400, "refund"]
    store_knowledge(db_url, KNOWLEDGE)
    settings = Settings(database_url=db_url, data_dir=tmp_path, inference_precision=precision)
    with TestClient(create_app(settings, encoder=real_encoder)) as client:
        # Batched with another text, in another order: still each text's own vector.
        response = client.post(
            "/api/v1/embeddings",
            json={"texts": [*reversed(texts), "hello there"]},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        # The serving encoder, alone (fp32: the packaged model itself; auto: int8 or bf16
        # where measured to cost nothing).
        serving = client.app.state.manager.engine.encoder  # type: ignore[attr-defined]
        expected = serving.encode(texts)
    assert response.status_code == 200, response.text
    got = torch.tensor(response.json()["vectors"][: len(texts)]).flip(0)
    if serving.precision == "fp32":
        assert torch.allclose(got, expected, atol=1e-5)
        assert torch.allclose(got, real_encoder.encode(texts), atol=1e-5)
    else:
        # int8 scales each batch's activations by the batch's range, bf16 rounds sums whose
        # order follows the batch's shape: a text's vector moves a little with the texts it is
        # batched with (README: embeddings), and stays that text's vector.
        same = torch.nn.functional.cosine_similarity(got, expected, dim=1)
        assert bool((same > 0.99).all()), same


@pytest.fixture
def admin_token(db_url: str) -> str:
    return add_account(db_url, ADMIN_EMAIL, "admin")
