"""How much each tensor hurts when it alone is stored at a low type: the sensitivity map behind automatic mixes.

The model at a high type (Q8_0) is the reference point; for each tensor, a file with that tensor alone at the
low type (spliced from the model quantized to it, studio.gguf_splice: no quantization per candidate) is scored
against the F16 base on a calibration text, and the map keeps the mean KLD it adds over the high file's. The
base's logits are computed once and held (a few chunks), so each candidate costs its own forward passes.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from sqlmodel import select

from studio.architecture import gguf_tensor, hf_module
from studio.evaluation import llama_backend
from studio.evaluation.protocol import Protocol, ProtocolError, divergence
from studio.evaluation.texts import TextError, text_sha
from studio.gguf_header import read_layout
from studio.gguf_splice import splice
from studio.models import CAUSAL_LM_SUFFIXES, ModelError, confine, read_model_facts, resolve_model
from studio.preflight import PreflightError
from studio.recipes.calibration import calibration_path
from studio.recipes.gguf import CONVERTIBLE_SUFFIXES
from studio.storage import Job, SensitivityMap, reading, session
from studio.storage.jobs import pending_duplicate

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
    base = pass_logits(f16, chunks, protocol)
    baseline = _mean_kld(pass_logits(high, chunks, protocol), base, targets)
    layouts = (read_layout(high), read_layout(low))
    candidate = workdir / "candidate.gguf"
    added = {}
    for i, name in enumerate(names):
        splice(high, low, {name}, candidate, layouts)
        added[name] = _mean_kld(pass_logits(candidate, chunks, protocol), base, targets) - baseline
        progress((i + 1) / len(names))
    candidate.unlink(missing_ok=True)
    scored = sum(len(t) for t in targets)
    return Sensitivity(baseline, added, scored, time.perf_counter() - t0)


def pass_logits(gguf: Path, chunks: list[list[int]], protocol: Protocol) -> list[np.ndarray]:
    llm = llama_backend.open_for_logits(gguf, protocol.n_ctx)
    try:
        return [llama_backend.chunk_logits(llm, chunk, protocol) for chunk in chunks]
    finally:
        llm.close()


def _mean_kld(logits: list[np.ndarray], base: list[np.ndarray], targets: list[np.ndarray]) -> float:
    klds = [divergence(m, b, t)["kld"] for m, b, t in zip(logits, base, targets)]
    return float(np.concatenate(klds).mean())


# -- what a map recommends ---------------------------------------------------------------------------------------

KEEP_TYPE = "Q8_0"  # the type "keep these high" asks for
KEEP_TOP = 8


@dataclass(frozen=True)
class KeepHigh:
    """The most sensitive tensors, as each family's override option spells them."""
    tensors: list[str]
    gguf: str  # the GGUF recipe's tensor_types: PATTERN=TYPE, comma-separated
    hf: str  # the HF recipes' keep: module-name patterns (embeddings and output are kept there anyway)


def keep_high(added_kld: dict[str, float], top: int = KEEP_TOP) -> KeepHigh:
    """From a map of either family: its names are GGUF tensors or transformers modules."""
    ranked = [name for name, _ in sorted(added_kld.items(), key=lambda kv: -kv[1])[:top]]
    as_gguf = [gguf_tensor(name) or name for name in ranked]
    gguf = ",".join(f"{re.escape(name.removesuffix('.weight'))}={KEEP_TYPE}" for name in as_gguf)
    return KeepHigh(ranked, gguf, ",".join(m for name in as_gguf if (m := hf_module(name)) is not None))


# -- the job that measures a map, and where maps are kept -------------------------------------------------------

JOB_KIND = "sensitivity"  # Job.recipe_name of a sensitivity job (jobs.sensitivity_job runs it)
# A map scores 7/8 of each forward pass (an evaluation: the second half, as llama-perplexity): a sensitivity ranking
# needs the tokens more than their long contexts, and one chunk then scores about what two would (447 of 512).
MAP_CONTEXT_SHARE = 0.125


def map_protocol(n_ctx: int, chunks: int) -> Protocol:
    return Protocol(n_ctx, chunks, MAP_CONTEXT_SHARE)
HIGH_TYPE = "Q8_0"


FAMILIES = ("gguf", "hf")  # llama.cpp's types on the GGUF (this module), the studio's formats (studio.sensitivity_hf)


@dataclass(frozen=True)
class MapRequest:
    model: str
    calibration: str = "builtin"  # the built-in WikiText-2 slice, disjoint from the evaluation sample, or a file
    n_ctx: int = 512
    chunks: int = 1
    family: str = "gguf"


def submit(settings, req: MapRequest, enqueue) -> int:
    """Check the model, the text and the protocol, then queue the measurement; returns the job id."""
    try:
        model = read_model_facts(resolve_model(req.model, settings), settings)
        text = calibration_path(req.calibration)
        if req.calibration != "builtin":
            text = confine(text.expanduser().absolute(), (settings.workspace, *settings.model_dirs), "calibration")
        map_protocol(req.n_ctx, req.chunks)
        sha = text_sha(text)
    except (ModelError, TextError, ProtocolError, OSError) as exc:
        raise PreflightError([str(exc)]) from exc
    if req.family not in FAMILIES:
        raise PreflightError([f"family {req.family!r}: a map is measured for one of {', '.join(FAMILIES)}"])
    suffixes = CONVERTIBLE_SUFFIXES if req.family == "gguf" else CAUSAL_LM_SUFFIXES
    if not model.architecture.endswith(suffixes) or model.shape is None:
        where = "llama.cpp's GGUF" if req.family == "gguf" else "the checkpoint's linear layers"
        raise PreflightError([f"{model.architecture}: the sensitivity map is measured on {where} of a causal "
                              "language model with a known shape"])
    if req.family == "hf":
        _check_memory(model, map_protocol(req.n_ctx, req.chunks))
    key = hashlib.sha256(f"{JOB_KIND}|{req.family}|{model.key}|{sha}|{req.n_ctx}|{req.chunks}".encode()
                         ).hexdigest()[:24]
    with session(settings.db_url) as s:
        if (dup := pending_duplicate(s, key)) is not None:
            raise PreflightError([f"this sensitivity map is already being measured: job #{dup.id} ({dup.state})"])
        job = Job(model=str(model.path), model_key=model.key, recipe=JOB_KIND, recipe_name=JOB_KIND,
                  eval_text_path=str(text), eval_text_sha=sha, n_ctx=req.n_ctx, max_chunks=req.chunks, prompts=[],
                  dedupe_key=key, options={"family": req.family})
        s.add(job)
        s.commit()
    enqueue(settings, job.id)
    return job.id


# In the model's cache, per family: the latest map, for recipes (which see no database)
def _check_memory(model, protocol: Protocol) -> None:
    import psutil

    from studio.sensitivity_hf import memory_bytes
    need = memory_bytes(model.n_params, model.shape.layers, model.shape.hidden, protocol)
    available = psutil.virtual_memory().available
    if need > available:
        raise PreflightError([f"the HF sensitivity map holds the checkpoint in float32: about {need / 2**30:.1f} GiB, "
                              f"{available / 2**30:.1f} GiB available here (the GGUF map, --family gguf, streams)"])


MAP_FILES = {"gguf": "sensitivity-map.json", "hf": "sensitivity-map-hf.json"}


def write_map_file(cache_dir: Path, found: SensitivityMap) -> None:
    name = MAP_FILES[found.family]
    partial = cache_dir / (name + ".partial")
    partial.write_text(json.dumps({"job_id": found.job_id, "low_types": found.low_types,
                                   "added_kld": found.added_kld, "relative_error": found.relative_error}))
    partial.replace(cache_dir / name)


def read_map_file(cache_dir: Path, family: str = "gguf") -> dict | None:
    path = cache_dir / MAP_FILES[family]
    return json.loads(path.read_text()) if path.is_file() else None


def maps(settings, model_key: str | None = None) -> list:
    """Stored maps, newest first (of one model, when given)."""
    with reading(settings.db_url) as s:
        query = select(SensitivityMap).order_by(SensitivityMap.id.desc())
        if model_key is not None:
            query = query.where(SensitivityMap.model_key == model_key)
        return list(s.exec(query).all())
