"""Tiny knowledge bases for tests."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizer

from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.encoder import SentenceEncoder
from chatbot.nlu.model import ModelCard, save_model
from chatbot.nlu.pipeline import PipelineConfig, train_model
from chatbot.nlu.scoring import Mix, Scoring
from chatbot.nlu.trainer import TrainingConfig

# Three intents of one phrasing each: the smallest knowledge base that trains.
SINGLE = [
    IntentSpec("delivery", "3-5 working days.", ("How long does delivery take?",)),
    IntentSpec("returns", "Within 30 days.", ("How do I return an item?",)),
    IntentSpec("hours", "9:00-17:00.", ("What are your opening hours?",)),
]


def save_tuned_model(encoder: SentenceEncoder, directory: Path) -> Path:
    """Fine-tune quickly on SINGLE and save it as version 'ft-tuned' in ``directory``."""
    trained = train_model(
        encoder,
        SINGLE,
        config=PipelineConfig(training=TrainingConfig(epochs=2, trainable_layers=1)),
    )
    card = ModelCard(
        version="ft-tuned",
        base_model=str(encoder.path),
        base_weights_sha256=encoder.weights_sha256,
        intents=[intent.key for intent in SINGLE],
        scoring=Scoring(mix=Mix(prototype=0.5)),
    )
    save_model(trained.encoder, card, directory, trained.prototypes)
    return directory


def shop_intents() -> list[IntentSpec]:
    """Five English and two Chinese intents of a small shop."""
    return [
        IntentSpec(
            "track_order",
            "Follow your parcel with the **tracking link** in your confirmation email.",
            (
                "Where is my order?",
                "How can I track my parcel?",
                "my package hasn't arrived",
                "when will my delivery come",
                "is my order on its way",
            ),
            category="Orders",
            follow_ups=("cancel_order",),
        ),
        IntentSpec(
            "cancel_order",
            "You can cancel within one hour of ordering from your account page.",
            (
                "How do I cancel my order?",
                "I want to cancel an order",
                "can I stop my purchase",
                "cancel what I just bought",
                "undo my order please",
            ),
            category="Orders",
        ),
        IntentSpec(
            "return_item",
            "Returns are free within 30 days: start one in the returns portal.",
            (
                "How do I return an item?",
                "I want to send something back",
                "what is your return policy",
                "can I return a product I don't like",
                "returning a purchase",
            ),
            category="Returns",
        ),
        IntentSpec(
            "payment_methods",
            "We accept cards, PayPal and Klarna.",
            (
                "What payment methods do you accept?",
                "can I pay with PayPal",
                "do you take credit cards",
                "which ways can I pay",
                "is Klarna available",
            ),
            category="Payments",
        ),
        IntentSpec(
            "reset_password",
            "Use *Forgot password* on the sign-in page to get a reset link.",
            (
                "How do I reset my password?",
                "I forgot my password",
                "can't log in to my account",
                "change my login password",
                "password reset link",
            ),
            category="Account",
        ),
        IntentSpec(
            "return_item_zh",
            "收货后30天内可免费退货。",
            ("怎么退货？", "我想退货", "退货流程是什么", "可以退货吗", "如何申请退货"),
            language="zh",
        ),
        IntentSpec(
            "invoice_zh",
            "订单完成后可在账户中下载发票。",
            ("可以开发票吗？", "怎么开发票", "我需要发票", "发票在哪里下载", "如何获取发票"),
            language="zh",
        ),
    ]


def tiny_bert(
    directory: Path, intents: list[IntentSpec], extra_words: tuple[str, ...] = ()
) -> Path:
    """A BERT directory as `save_pretrained` writes it, its vocabulary the words of ``intents``'
    phrasings: small enough (well under a million parameters) to train in seconds."""
    words = sorted({w for i in intents for p in i.phrasings for w in p.lower().split()})
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens = dict.fromkeys(special + words + list(extra_words))
    vocabulary = {token: n for n, token in enumerate(tokens)}
    tokenizer = BertTokenizer(vocab=vocabulary, do_lower_case=True)
    tokenizer.save_pretrained(directory)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(directory, safe_serialization=True)
    return directory
