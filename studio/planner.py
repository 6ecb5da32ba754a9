"""Memory-fit planner: weights at each precision plus the KV cache, against a memory target.

Sizes are decimal GB (10^9 bytes), as model cards and the reference notes write them: a 70B model
is 140 GB at 16 bits. Weights = parameters x bits / 8; KV cache = 2 (K and V) x layers x KV heads x
head dim x context x batch x bytes per KV element.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

GB = 1e9


class PlanError(ValueError):
    pass


@dataclass(frozen=True)
class Precision:
    name: str
    bits: float
    note: str = ""


# The reference table's four rows, then formats whose scales add to the nominal width.
PRECISIONS = (
    Precision("FP32", 32),
    Precision("FP16/BF16", 16),
    Precision("INT8/FP8", 8),
    Precision("INT4", 4, "nominal 4 bits; group scales add ~0.25"),
    Precision("NVFP4", 4.5, "4 bits + an E4M3 scale per 16"),
    Precision("GGUF Q4_K_M", 4.89, "llama.cpp's figure for a 7B model"),
)


@dataclass(frozen=True)
class Shape:
    """What the KV cache depends on."""
    layers: int
    kv_heads: int
    head_dim: int
    source: str


# Llama-family shapes for parameter counts typed without a config (nearest is used, and named).
KNOWN_SHAPES = {
    0.135e9: Shape(30, 3, 64, "SmolLM2-135M"),
    1e9: Shape(16, 8, 64, "Llama-3.2-1B"),
    3e9: Shape(28, 8, 128, "Llama-3.2-3B"),
    7e9: Shape(32, 32, 128, "Llama-2-7B"),
    8e9: Shape(32, 8, 128, "Llama-3-8B"),
    13e9: Shape(40, 40, 128, "Llama-2-13B"),
    70e9: Shape(80, 8, 128, "Llama-3-70B"),
    405e9: Shape(126, 8, 128, "Llama-3.1-405B"),
}

# Memory targets people plan for (decimal GB as sold).
TARGETS = {
    "DGX Spark 128 GB unified": 128,
    "H200 141 GB": 141,
    "H100 80 GB": 80,
    "A100 40 GB": 40,
    "L40S 48 GB": 48,
    "RTX 4090 24 GB": 24,
    "RTX 3090 24 GB": 24,
    "RTX 4060 Ti 16 GB": 16,
}


def parse_params(text: str) -> float:
    """'70B', '8b', '135M', '1.5e9', '7000000000' -> a parameter count."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmbt]?)\s*", str(text).lower())
    if not m:
        raise PlanError(f"parameters {text!r}: write a number with an optional K/M/B/T suffix, e.g. 70B or 135M")
    value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}[m.group(2)]
    if value <= 0:
        raise PlanError(f"parameters must be positive (got {text!r})")
    return value


def shape_from_config(config: dict) -> Shape:
    heads = config.get("num_attention_heads") or 1
    head_dim = config.get("head_dim") or (config.get("hidden_size", 0) // heads)
    return Shape(config.get("num_hidden_layers", 0), config.get("num_key_value_heads") or heads, head_dim,
                 "the model's config.json")


def nearest_shape(params: float) -> Shape:
    key = min(KNOWN_SHAPES, key=lambda p: abs(math.log(p / params)))
    s = KNOWN_SHAPES[key]
    return Shape(s.layers, s.kv_heads, s.head_dim, f"assumed like {s.source}")


def kv_cache_bytes(shape: Shape, context: int, batch: int, kv_bytes: float = 2) -> float:
    return 2 * shape.layers * shape.kv_heads * shape.head_dim * context * batch * kv_bytes


@dataclass(frozen=True)
class PlanRow:
    precision: str
    bits: float
    weights_gb: float
    kv_cache_gb: float
    total_gb: float
    memory_gb: float | None
    fits: bool | None
    gpus_needed: int | None
    note: str

    def as_dict(self) -> dict:
        return asdict(self)


def plan(params: float, shape: Shape, context: int = 8192, batch: int = 1, memory_gb: float | None = None,
         kv_bytes: float = 2) -> list[PlanRow]:
    if context < 1 or batch < 1:
        raise PlanError("context and batch must be at least 1")
    if memory_gb is not None and memory_gb <= 0:
        raise PlanError(f"memory must be positive (got {memory_gb} GB)")
    kv = kv_cache_bytes(shape, context, batch, kv_bytes) / GB
    rows = []
    for p in PRECISIONS:
        weights = params * p.bits / 8 / GB
        total = weights + kv
        fits = None if memory_gb is None else total <= memory_gb
        gpus = None if memory_gb is None else max(1, math.ceil(total / memory_gb))
        rows.append(PlanRow(p.name, p.bits, round(weights, 3), round(kv, 3), round(total, 3), memory_gb, fits,
                            gpus, p.note))
    return rows
