"""Any local Hugging Face encoder directory can be the base model (CHATBOT_BASE_MODEL): here a
tiny random-weight BERT written by the test, with a vocabulary of Chinese characters, as a
company's downloaded multilingual model would be. Loading it takes milliseconds, so these tests
need no ``model`` marker and never touch the packaged encoder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from transformers import BertConfig, BertModel, BertTokenizer

from chatbot.config import Settings
from chatbot.knowledge.spec import IntentSpec
from chatbot.main import create_app
from chatbot.nlu.engine import IntentEngine
from chatbot.runtime import load_encoder
from tests.api.conftest import store_knowledge

KNOWLEDGE = [
    IntentSpec("zh_refund", "7天内可以退款。", ("怎么申请退款",), language="zh"),
    IntentSpec("zh_shipping", "满99元包邮。", ("运费怎么算",), language="zh"),
    IntentSpec("opening_hours", "9 to 5.", ("when are you open",)),
]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BERT directory as `save_pretrained` writes it: config, model.safetensors, tokenizer."""
    directory = tmp_path_factory.mktemp("tiny-multilingual-bert")
    characters = sorted({c for intent in KNOWLEDGE for p in intent.phrasings for c in p} - {" "})
    words = ["when", "are", "you", "open", "where", "is", "my", "order"]
    tokens = SPECIAL + characters + list("我想退钱吗") + words
    vocabulary = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    tokenizer = BertTokenizer(vocab=vocabulary, do_lower_case=True)
    tokenizer.save_pretrained(directory)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(directory, safe_serialization=True)
    return directory


def test_the_configured_directory_is_loaded_as_the_base_encoder(tiny_bert: Path) -> None:
    encoder = load_encoder(Settings(base_model=tiny_bert, device="cpu"))
    assert encoder.path == tiny_bert and encoder.dimension == 32
    vectors = encoder.encode(["怎么申请退款", "when are you open"])
    assert vectors.shape == (2, 32)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(2))
    # Its own tokenizer reads Chinese characters as themselves, not as unknown tokens.
    ids = encoder.tokenizer("退款")["input_ids"]  # type: ignore[operator]
    assert tokenizer_unknown_id(encoder.tokenizer) not in ids


def tokenizer_unknown_id(tokenizer: object) -> int:
    return int(tokenizer.unk_token_id)  # type: ignore[attr-defined]


def test_the_engine_answers_with_it(tiny_bert: Path) -> None:
    engine = IntentEngine(load_encoder(Settings(base_model=tiny_bert, device="cpu")), version="b")
    engine.load_knowledge(KNOWLEDGE, revision=1, synonyms=[("退款", "退钱")])
    predictions = engine.predict(["怎么申请退款", "运费怎么算", "when are you open", "我想退钱"])
    assert [p.intent for p in predictions] == [
        "zh_refund",
        "zh_shipping",
        "opening_hours",
        "zh_refund",
    ]


def test_the_app_serves_customers_with_it(tiny_bert: Path, db_url: str, tmp_path: Path) -> None:
    store_knowledge(db_url, KNOWLEDGE)
    settings = Settings(database_url=db_url, data_dir=tmp_path, base_model=tiny_bert, device="cpu")
    with TestClient(create_app(settings)) as client:  # no encoder given: the lifespan loads it
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        created = client.post("/api/v1/conversations").json()
        reply = client.post(
            f"/api/v1/conversations/{created['id']}/messages",
            json={"text": "运费怎么算"},
            headers={"Authorization": f"Bearer {created['token']}"},
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["reply"]["intent"] == "zh_shipping"
