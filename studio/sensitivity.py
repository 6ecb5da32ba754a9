"""How much each tensor hurts when it alone is stored at a low type: the sensitivity map behind automatic mixes.

The model at a high type (Q8_0) is the reference point; for each tensor, a file with that tensor alone at the
low type (spliced from the model quantized to it, studio.gguf_splice: no quantization per candidate) is scored
against the F16 base on a calibration text, and the map keeps the mean KLD it adds over the high file's. The
base's logits are computed once and held (a few chunks), so each candidate costs its own forward passes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from studio.evaluation import llama_backend
from studio.evaluation.protocol import Protocol, divergence
from studio.gguf_header import read_layout
from studio.gguf_splice import splice

# The low type a tensor is measured at: the lowest k-quant when its rows take 256-wide blocks, else the 32-wide
# 4-bit type (llama.cpp's own fallback for such rows).
LOW_TYPES = {256: "Q2_K", 32: "Q4_0"}


def low_type(row_width: int) -> str:
    return LOW_TYPES[256] if row_width % 256 == 0 else LOW_TYPES[32]


@dataclass(frozen=True)
class Sensitivity:
    baseline_kld: float  # the high file's mean KLD against the base
    added_kld: dict[str, float]  # tensor name -> mean KLD added when it alone is at its low type
    tokens_scored: int
    seconds: float


def measure(f16: Path, high: Path, low: Path, tokens: np.ndarray, bos: int | None, protocol: Protocol,
            names: list[str], workdir: Path, progress: Callable[[float], None] = lambda f: None) -> Sensitivity:
    """The map over `names` (tensors present in both files), on the protocol's chunks of `tokens`."""
    t0 = time.perf_counter()
    chunks = [protocol.chunk_input(tokens, i, bos) for i in range(protocol.n_chunks(len(tokens)))]
    targets = [protocol.targets(tokens, i) for i in range(len(chunks))]
    base = _logits(f16, chunks, protocol)
    baseline = _mean_kld(_logits(high, chunks, protocol), base, targets)
    layouts = (read_layout(high), read_layout(low))
    candidate = workdir / "candidate.gguf"
    added = {}
    for i, name in enumerate(names):
        splice(high, low, {name}, candidate, layouts)
        added[name] = _mean_kld(_logits(candidate, chunks, protocol), base, targets) - baseline
        progress((i + 1) / len(names))
    candidate.unlink(missing_ok=True)
    scored = sum(len(t) for t in targets)
    return Sensitivity(baseline, added, scored, time.perf_counter() - t0)


def _logits(gguf: Path, chunks: list[list[int]], protocol: Protocol) -> list[np.ndarray]:
    llm = llama_backend.open_for_logits(gguf, protocol.n_ctx)
    try:
        return [llama_backend.chunk_logits(llm, chunk, protocol) for chunk in chunks]
    finally:
        llm.close()


def _mean_kld(logits: list[np.ndarray], base: list[np.ndarray], targets: list[np.ndarray]) -> float:
    klds = [divergence(m, b, t)["kld"] for m, b, t in zip(logits, base, targets)]
    return float(np.concatenate(klds).mean())
