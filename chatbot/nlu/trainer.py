"""Fine-tuning the encoder on a knowledge base's phrasings (no web or database imports).

Objective: a cosine-softmax classifier over intents (NormFace) trained jointly with the
encoder's top layers. It pulls each phrasing towards its intent's prototype and away from every
other prototype in one forward pass per example, where pair losses need two, which matters on
two CPU cores; the embedding space it shapes is the one the retriever searches, so intents added
after training still work by nearest phrasing.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor

from chatbot.nlu.encoder import SentenceEncoder


@dataclass
class TrainingConfig:
    """How to fine-tune; stored with each model version."""

    # None: 5 passes for small data (few examples per intent need more steps), 3 from 3000 up.
    epochs: int | None = None
    batch_size: int = 32
    learning_rate: float = 5e-5
    head_learning_rate: float = 5e-3
    scale: float = 20.0  # cosine-softmax temperature: logits are scale * cos(embedding, prototype)
    # 0.1 cost 2.5 points at 10 phrasings per intent (BANKING77, seed 0): it blunts the margins
    # the retriever relies on.
    label_smoothing: float = 0.0
    trainable_layers: int = 6  # the encoder's top layers that learn; the rest stay frozen
    max_length: int = 64
    warmup_fraction: float = 0.1
    seed: int = 0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Progress:
    """Reported after every optimisation step."""

    step: int
    total_steps: int
    epoch: int
    loss: float
    elapsed_seconds: float

    @property
    def eta_seconds(self) -> float:
        if not self.step:
            return float("nan")
        return self.elapsed_seconds / self.step * (self.total_steps - self.step)


class TrainingCancelled(Exception):
    """``should_stop`` asked the run to end; nothing it trained is kept."""


@dataclass
class TrainingResult:
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    # The learnt unit-length intent prototypes, one row per label.
    prototypes: Tensor | None = None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def fine_tune(
    encoder: SentenceEncoder,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    config: TrainingConfig | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainingResult:
    """Fine-tune ``encoder`` in place so that texts of one label embed close together.

    Args:
        encoder: the encoder to train (its model's weights change).
        texts: training phrasings.
        labels: intent index of each phrasing (0..n-1).
        config: hyper-parameters; deterministic for a given ``seed``.
        on_progress: called after each step.
        should_stop: polled after each step; returning True raises TrainingCancelled.

    Example:
        >>> encoder = SentenceEncoder.from_pretrained()  # the packaged base model
        >>> quick = TrainingConfig(epochs=1, trainable_layers=1)
        >>> result = fine_tune(encoder, ["where is my parcel", "refunds"], [0, 1], config=quick)
        >>> result.steps, tuple(result.prototypes.shape)
        (1, (2, 384))
    """
    config = config or TrainingConfig()
    if len(texts) != len(labels) or not texts:
        raise ValueError("need as many labels as texts, and at least one text")
    seed_everything(config.seed)
    n_classes = max(labels) + 1
    model = encoder.model
    trainable = _unfreeze_top_layers(model, config.trainable_layers)
    prototypes = torch.nn.Parameter(_initial_prototypes(encoder, texts, labels, n_classes))
    optimizer = torch.optim.AdamW(
        [
            {"params": trainable, "lr": config.learning_rate, "weight_decay": 0.01},
            {"params": [prototypes], "lr": config.head_learning_rate, "weight_decay": 0.0},
        ],
        # One kernel for every parameter, on CPU as on CUDA: 7 ms a step instead of 19 on two
        # cores, a tenth of a step of a small knowledge base's short phrasings.
        fused=True,
    )
    epochs = config.epochs or (5 if len(texts) < 3000 else 3)
    batches_per_epoch = math.ceil(len(texts) / config.batch_size)
    total_steps = batches_per_epoch * epochs
    warmup = max(1, int(total_steps * config.warmup_fraction))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(
            (step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup))
        ),
    )
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    target = torch.as_tensor(list(labels), dtype=torch.long)
    generator = random.Random(config.seed)
    result = TrainingResult()
    started = time.perf_counter()
    model.train()
    try:
        for epoch in range(epochs):
            for batch in _length_bucketed_batches(texts, config.batch_size, generator):
                embeddings = encoder.forward(
                    [texts[i] for i in batch], max_length=config.max_length
                )
                logits = (
                    config.scale
                    * embeddings
                    @ torch.nn.functional.normalize(prototypes.to(embeddings.device), dim=1).T
                )
                loss = loss_fn(logits, target[batch].to(embeddings.device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                scheduler.step()
                result.steps += 1
                result.losses.append(loss.item())
                if on_progress is not None:
                    on_progress(
                        Progress(
                            result.steps,
                            total_steps,
                            epoch + 1,
                            result.losses[-1],
                            time.perf_counter() - started,
                        )
                    )
                if should_stop is not None and should_stop():
                    raise TrainingCancelled()
    finally:
        model.eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
    result.seconds = time.perf_counter() - started
    result.prototypes = torch.nn.functional.normalize(prototypes.detach().cpu(), dim=1)
    return result


def _unfreeze_top_layers(model: torch.nn.Module, count: int) -> list[torch.nn.Parameter]:
    """Freeze everything, then let the top ``count`` transformer layers learn."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    layers = _transformer_layers(model)
    chosen = layers[len(layers) - min(count, len(layers)) :] if count > 0 else []
    trainable = [p for layer in chosen for p in layer.parameters()]
    for parameter in trainable:
        parameter.requires_grad_(True)
    return trainable


def _transformer_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    # The usual homes of the layer stack in Hugging Face encoders (BERT, RoBERTa, MPNet, E5 ...).
    for path in ("encoder.layer", "encoder.layers", "layers", "transformer.layer"):
        node: object = model
        for name in path.split("."):
            node = getattr(node, name, None)
            if node is None:
                break
        if isinstance(node, torch.nn.ModuleList):
            return list(node)
    return [model]


def _initial_prototypes(
    encoder: SentenceEncoder, texts: Sequence[str], labels: Sequence[int], n_classes: int
) -> Tensor:
    """Start each prototype at its intent's centroid, so training refines rather than discovers."""
    vectors = encoder.encode(texts).clone()  # a plain tensor: it seeds a trainable parameter
    sums = torch.zeros(n_classes, vectors.shape[1]).index_add_(
        0, torch.as_tensor(list(labels), dtype=torch.long), vectors
    )
    return torch.nn.functional.normalize(sums, dim=1).clone()


def _length_bucketed_batches(
    texts: Sequence[str], batch_size: int, generator: random.Random
) -> list[list[int]]:
    """Shuffled batches of texts of similar length: less padding, same randomness per epoch."""
    order = list(range(len(texts)))
    generator.shuffle(order)
    # Sort within windows of 50 batches: batches stay random across the epoch.
    window = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: len(texts[i]))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    generator.shuffle(batches)
    return batches
