"""Faster numeric modes for serving, each used only where it is measured to cost no accuracy.

``int8`` is dynamic quantisation of every Linear layer with per-channel weight scales (CPU);
``bf16`` is autocast, which pays only on CPUs with native bf16 (avx512_bf16 / AMX) and on CUDA,
where the encoder always runs in bf16; ``onnx`` is the fp32 model exported to ONNX and run by
ONNX Runtime (CPU), whose fused kernels encoded one message 1.8x faster than the TorchScript
trace on a 2-core AMD EPYC, to the same vector. :func:`choose` measures each candidate
on the knowledge base's own phrasings and keeps the fastest whose accuracy is within
``max_cost`` of fp32, whose vectors stay put when a text is batched with others
(``MIN_STABILITY``), and that is not slower than fp32 for one message alone: a lone customer's
reply waits for exactly that.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import random
import statistics
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from chatbot.knowledge.spec import IntentSpec
from chatbot.nlu.encoder import SentenceEncoder

log = logging.getLogger(__name__)
MODES = ("fp32", "bf16", "int8", "onnx")
MAX_COST = 0.003  # 0.3 points of accuracy
SAMPLE = 2000  # phrasings the check encodes at most, per mode
MIN_SPEED_UP = 1.1  # a mode must be this much faster than fp32 to be worth any risk
# torch's TorchScript exporter keeps "an export is running" in a process-wide flag and refuses a
# second export while it is set: a version loading in the background and the admin's test pane
# exported at the same moment and one of them failed to load.
_EXPORT_LOCK = threading.Lock()
# A text's vector in a batch of others against its vector alone, lowest cosine allowed. Per-tensor
# int8 activations take their scale from the whole batch: with this encoder's outlier dimensions a
# text's vector moved to cosine 0.86 beside a long one, so a customer's answer would depend on who
# else typed at that moment. bf16 measured 1.0000.
MIN_STABILITY = 0.99
STABILITY_SAMPLE = 12  # texts encoded alone for the check


def with_precision(encoder: SentenceEncoder, mode: str) -> SentenceEncoder:
    """A serving copy of ``encoder`` in ``mode``; the original (training's base) is unchanged.

    On a CPU the copy runs a TorchScript trace of the model (``onnx``: an ONNX Runtime session):
    the same numbers, but one call that does not fight the web threads for Python's lock at every
    operation (under load, the eager model was several times slower).

    Example:
        >>> encoder = SentenceEncoder.from_pretrained(device="cpu")  # the packaged base model
        >>> with_precision(encoder, "int8").precision
        'int8'
    """
    if mode not in MODES:
        raise ValueError(f"unknown precision '{mode}' (known: {', '.join(MODES)})")
    if mode == encoder.precision and (encoder.runner is not None or encoder.device.type != "cpu"):
        return encoder
    model = encoder.model
    if mode in ("int8", "onnx") and encoder.device.type != "cpu":
        raise ValueError(f"{mode} serves on the CPU only")
    if mode == "int8":
        with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
            warnings.simplefilter("ignore")
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            model = quantize_dynamic(
                copy.deepcopy(model),
                {torch.nn.Linear: per_channel_dynamic_qconfig},
                dtype=torch.qint8,
            )
    serving = copy.copy(encoder)
    serving.model = model
    serving.precision = mode
    if encoder.device.type == "cpu":
        serving.runner = OnnxRunner(serving) if mode == "onnx" else _trace(serving)
    return serving


class _LastHiddenState(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def _sample_batch(encoder: SentenceEncoder) -> tuple[torch.Tensor, torch.Tensor]:
    """A small padded batch (input ids, attention mask) to trace or export the model on."""
    sample = encoder.tokenizer(  # type: ignore[operator]
        ["a sample to trace", "another, somewhat longer sample to trace the model with"],
        padding=True,
        return_tensors="pt",
    )
    return sample["input_ids"], sample["attention_mask"]


def _trace(encoder: SentenceEncoder) -> torch.jit.ScriptModule:
    """Trace the model on a small batch; batch size and length stay free (shape-generic ops)."""
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # TracerWarning about Python values in the graph
        traced = torch.jit.trace(
            _LastHiddenState(encoder.model).eval(), _sample_batch(encoder), check_trace=False
        )
    return traced


class OnnxRunner:
    """The encoder's model exported to ONNX, run by ONNX Runtime: the serving call of ``onnx``.

    A session's thread pool is fixed when it is made, and the serving thread uses every core for
    a lone message and one less under load (``chatbot.nlu.encoder.serving_threads``): so one
    session per torch thread count, each made when first needed. Its threads sleep between
    calls rather than spin: spinning would take the web threads' core.
    """

    def __init__(self, encoder: SentenceEncoder) -> None:
        if not _onnx_runtime():
            raise ValueError("precision 'onnx' needs the onnx and onnxruntime packages")
        with (
            _EXPORT_LOCK,
            tempfile.TemporaryDirectory() as directory,
            warnings.catch_warnings(),
            torch.inference_mode(),
        ):
            exported = Path(directory) / "encoder.onnx"
            warnings.simplefilter("ignore")  # the exporter's tracer warns as the tracer does
            torch.onnx.export(
                _LastHiddenState(encoder.model).eval(),
                _sample_batch(encoder),
                exported,
                input_names=["input_ids", "attention_mask"],
                output_names=["hidden"],
                dynamic_axes={
                    name: {0: "batch", 1: "tokens"}
                    for name in ("input_ids", "attention_mask", "hidden")
                },
                opset_version=17,
                dynamo=False,
            )
            self.model = exported.read_bytes()
        self._sessions: dict[int, Any] = {}

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        threads = torch.get_num_threads()
        session = self._sessions.get(threads) or self._session(threads)
        (hidden,) = session.run(
            None,
            {"input_ids": input_ids.cpu().numpy(), "attention_mask": attention_mask.cpu().numpy()},
        )
        return torch.from_numpy(hidden)

    def _session(self, threads: int) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(
            self.model, options, providers=["CPUExecutionProvider"]
        )
        self._sessions[threads] = session
        return session


@dataclass(frozen=True)
class ModeCheck:
    """How one mode did on the knowledge base's phrasings."""

    mode: str
    accuracy: float  # each phrasing matched to its nearest other phrasing's intent
    ms_per_text: float  # in one batch of the whole sample
    stability: float  # lowest cosine of a text's vector in the batch to its vector alone
    ms_alone: float  # median time to encode one text on its own

    def as_dict(self) -> dict[str, float | str]:
        return asdict(self)


@dataclass(frozen=True)
class PrecisionChoice:
    mode: str
    checks: tuple[ModeCheck, ...]

    def as_dict(self) -> dict[str, object]:
        return {"mode": self.mode, "checks": [c.as_dict() for c in self.checks]}


def candidates(device: torch.device) -> list[str]:
    """The modes worth measuring on this device."""
    if device.type == "cuda":
        return ["fp32"]  # already bf16 autocast; no int8 kernels
    modes = ["fp32", "int8"] if _dynamic_int8() else ["fp32"]
    if _native_bf16():
        modes.insert(1, "bf16")
    if _onnx_runtime():
        modes.append("onnx")
    return modes


def choose(
    encoder: SentenceEncoder,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    max_cost: float = MAX_COST,
    seed: int = 0,
) -> PrecisionChoice:
    """The fastest mode whose nearest-phrasing accuracy is within ``max_cost`` of fp32's and
    whose vectors do not move with their batch (``MIN_STABILITY``).

    Fastest counts both speeds that customers wait for: one text alone (a lone customer) and a
    batch (a busy server), as their product. A mode must be ``MIN_SPEED_UP`` faster than fp32 at
    one of them, never slower alone (bf16 autocast was 2.4x slower than fp32 alone on an
    avx512_bf16 Xeon while 1.3x faster in batches: every lone reply would have waited for it),
    and in batches slower by no more than that margin, this host's noise between two runs
    (ONNX Runtime: 1.8x faster alone, 1.1x in batches).

    Args:
        texts: the knowledge base's phrasings; ``labels`` their intents. Only intents with two
            or more phrasings take part (a phrasing is matched against the others).
    """
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    pairs = [(t, lab) for t, lab in zip(texts, labels, strict=True) if counts[lab] > 1]
    if len(pairs) > SAMPLE:
        pairs = random.Random(seed).sample(pairs, SAMPLE)
    modes = candidates(encoder.device)
    if len(pairs) < 10 or modes == ["fp32"]:
        return PrecisionChoice("fp32", ())
    sample = [t for t, _ in pairs]
    truth = [lab for _, lab in pairs]
    checks = []
    for mode in modes:
        try:
            serving = with_precision(encoder, mode)
        except Exception as exc:  # e.g. a base model the ONNX exporter cannot take
            if mode == "fp32":
                raise
            log.warning("serving precision %s is not available for this model: %s", mode, exc)
            continue
        checks.append(_check(serving, sample, truth))
    reference = checks[0]
    acceptable = [c for c in checks[1:] if qualifies(c, reference, max_cost)]
    best = min(acceptable, key=lambda c: c.ms_per_text * c.ms_alone, default=reference)
    log.info(
        "serving precision %s (%s)",
        best.mode,
        ", ".join(
            f"{c.mode}: acc {c.accuracy:.4f}, {c.ms_per_text:.2f} ms batched, "
            f"{c.ms_alone:.2f} ms alone, stability {c.stability:.4f}"
            for c in checks
        ),
    )
    return PrecisionChoice(best.mode, tuple(checks))


def qualifies(check: ModeCheck, fp32: ModeCheck, max_cost: float = MAX_COST) -> bool:
    """Whether a mode may serve instead of fp32 (see :func:`choose`).

    >>> fp32 = ModeCheck("fp32", 0.90, ms_per_text=2.0, stability=1.0, ms_alone=8.0)
    >>> onnx = ModeCheck("onnx", 0.90, ms_per_text=2.1, stability=1.0, ms_alone=3.5)
    >>> qualifies(onnx, fp32)  # much faster alone, within the margin in batches
    True
    >>> bf16 = ModeCheck("bf16", 0.90, ms_per_text=1.5, stability=1.0, ms_alone=11.0)
    >>> qualifies(bf16, fp32)  # faster in batches, slower alone
    False
    >>> from dataclasses import replace
    >>> qualifies(replace(onnx, ms_per_text=2.5), fp32)  # 25 % slower in batches
    False
    >>> qualifies(replace(onnx, accuracy=0.89), fp32)  # costs a point
    False
    >>> qualifies(replace(onnx, stability=0.95), fp32)  # moves with its batch
    False
    >>> qualifies(replace(onnx, ms_alone=7.9), fp32)  # not worth any risk
    False
    """
    return (
        fp32.accuracy - check.accuracy <= max_cost
        and check.stability >= MIN_STABILITY
        and check.ms_alone <= fp32.ms_alone
        and check.ms_per_text <= fp32.ms_per_text * MIN_SPEED_UP
        and (
            check.ms_per_text * MIN_SPEED_UP <= fp32.ms_per_text
            or check.ms_alone * MIN_SPEED_UP <= fp32.ms_alone
        )
    )


def choose_for(encoder: SentenceEncoder, intents: Sequence[IntentSpec]) -> PrecisionChoice:
    """:func:`choose`, measured on a knowledge base's phrasings."""
    return choose(
        encoder,
        [p for intent in intents for p in intent.phrasings],
        [intent.key for intent in intents for _ in intent.phrasings],
    )


def _check(encoder: SentenceEncoder, texts: list[str], truth: list[str]) -> ModeCheck:
    encoder.encode(texts[:8])  # the first pass through a model is slow: not measured
    started = time.perf_counter()
    vectors = encoder.encode(texts)
    ms = (time.perf_counter() - started) * 1000 / len(texts)
    similarity = vectors @ vectors.T
    similarity.fill_diagonal_(float("-inf"))
    nearest = similarity.argmax(dim=1).tolist()
    right = sum(truth[n] == t for n, t in zip(nearest, truth, strict=True))
    stability, ms_alone = _alone(encoder, texts, vectors)
    return ModeCheck(encoder.precision, right / len(truth), round(ms, 3), stability, ms_alone)


def _alone(
    encoder: SentenceEncoder, texts: list[str], batched: torch.Tensor
) -> tuple[float, float]:
    """Some texts encoded one at a time: the lowest cosine between a text's vector alone and in
    ``batched``, and the median milliseconds one took.

    The texts are the longest and shortest of the batch and a spread between: the longest set
    the batch's padded length and, in int8, its activation range.
    """
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    step = max(1, len(order) // STABILITY_SAMPLE)
    picked = sorted({*order[::step][:STABILITY_SAMPLE], order[0], order[-1]})
    vectors, times = [], []
    for i in picked:
        started = time.perf_counter()
        vectors.append(encoder.encode([texts[i]]))
        times.append((time.perf_counter() - started) * 1000)
    same = torch.nn.functional.cosine_similarity(torch.cat(vectors), batched[picked], dim=1)
    return round(float(same.min()), 4), round(statistics.median(times), 3)


def _dynamic_int8() -> bool:
    # torch.ao.quantization is moving to torchao: a torch without it serves fp32.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from torch.ao.quantization import quantize_dynamic  # noqa: F401
        except ImportError:
            return False
    return True


def _onnx_runtime() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def _native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            flags = cpuinfo.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
