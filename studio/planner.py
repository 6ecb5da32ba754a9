"""Memory-fit planner: a model's weights in each format, its KV cache and the runtime's buffers, against a
memory target.

Weights are counted tensor by tensor with the same code the preflight uses for a job's disk figure
(studio.gguf_mix for GGUF's per-tensor type mixes, each Hugging Face recipe's stored parts): scales, zero
points, 16-bit embeddings and output matrices included, so Q4_K_M is ~4.9 bits a weight on an 8 B model,
not 4. The KV cache follows the attention shape (grouped KV heads, sliding-window layers) and the KV type;
`tests/test_footprint.py` holds it to the buffers llama.cpp allocates. Sizes are decimal GB (10^9 bytes), as
model cards write them: a 70 B model is 140 GB at 16 bits.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from studio import memory, recipes
from studio.architecture import Architecture
from studio.gguf_mix import tensor_bytes
from studio.models import ModelFacts

GB = 1e9
CELL_PAD = 256  # llama.cpp allocates KV cells in multiples of 256
UBATCH = 512  # tokens a forward pass takes at once (llama.cpp's n_ubatch, a prefill chunk)


class PlanError(ValueError):
    pass


# KV element types: llama.cpp's (ggml types, K and V alike) and vLLM's fp8.
KV_TYPES = {"f16": "F16", "q8_0": "Q8_0", "q4_0": "Q4_0", "fp8": "fp8"}
# Formats the table shows (the studio's recipe names with their default options, and two references), sorted
# by bits per weight in the table.
FORMATS = ("fp32", "bf16", "int8-rtn", "bnb-int8", "fp8", "gguf:Q8_0", "gguf:Q6_K", "gguf:Q5_K_M", "gptq", "awq",
           "bnb-nf4", "nvfp4", "mxfp4", "gguf:Q4_K_M", "gguf:IQ4_XS", "gguf:Q3_K_M", "gguf:IQ3_M", "gguf:Q2_K",
           "gguf:IQ2_M")
REFERENCE_BITS = {"fp32": 32, "bf16": 16}

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


@dataclass(frozen=True)
class Model:
    """What is planned for: a checkpoint's facts (its own config), or a typed parameter count with the nearest
    known shape (its weights scaled to the count)."""
    facts: ModelFacts
    params: float

    @property
    def shape(self) -> Architecture:
        return self.facts.shape

    @classmethod
    def typed(cls, params: float, shape: Architecture) -> Model:
        n = shape.n_params
        facts = ModelFacts(path=Path(shape.source), key="", architecture="LlamaForCausalLM", model_type="llama",
                           n_params=n, hidden_size=shape.hidden, vocab_size=shape.vocab, weight_bytes=2 * n,
                           has_chat_template=False, intermediate_size=shape.intermediate, shape=shape)
        return cls(facts, params)


def weight_bytes(model: Model, fmt: str) -> float:
    """The format's bytes for the model, from the recipe's own size estimate (what the preflight says of a job)."""
    if fmt in REFERENCE_BITS:
        return model.params * REFERENCE_BITS[fmt] / 8
    recipe, options = recipes.parse_recipe_spec(fmt)
    return recipe.estimate_output_bytes(model.facts, options) * model.params / model.facts.n_params


def kv_cache_bytes(shape: Architecture, context: int, batch: int = 1, kv_type: str = "f16",
                   windowed: bool = True) -> int:
    """K and V for every layer and cell. llama.cpp pads the cells to a multiple of 256; a sliding-window layer
    keeps its window plus a batch of cells (when `windowed`: llama-server, Ollama and vLLM; llama.cpp's library
    keeps them full by default)."""
    cells = _pad(context * batch)
    window = min(cells, _pad(shape.sliding_window * batch + UBATCH)) if shape.sliding_window and windowed else cells
    per_cell = 2 * _row_bytes(kv_type, shape.kv_heads * shape.head_dim)
    full = shape.layers - shape.sliding_layers
    return per_cell * (full * cells + shape.sliding_layers * window)


def runtime_bytes(shape: Architecture) -> int:
    """llama.cpp's compute buffer (studio.memory's figure, the one the preflight's memory model counts)."""
    return memory.llama_compute_buffer_bytes(shape.vocab, shape.hidden)


def _row_bytes(kv_type: str, elements: int) -> int:
    if kv_type not in KV_TYPES:
        raise PlanError(f"KV type {kv_type!r}: choose one of {', '.join(KV_TYPES)}")
    ggml = KV_TYPES[kv_type]
    return elements if ggml == "fp8" else tensor_bytes(ggml, elements)


def _pad(cells: int) -> int:
    return -(-cells // CELL_PAD) * CELL_PAD


@dataclass(frozen=True)
class PlanRow:
    format: str
    bits_per_weight: float
    weights_gb: float
    kv_cache_gb: float
    runtime_gb: float
    total_gb: float
    memory_gb: float | None
    fits: bool | None
    gpus_needed: int | None

    @property
    def free_share(self) -> float | None:
        """The share of the memory target left over (negative when it does not fit)."""
        return None if not self.memory_gb else 1 - self.total_gb / self.memory_gb

    @property
    def tight(self) -> bool:
        """It fits, with less than HEADROOM of the memory left for what the figures do not count."""
        return bool(self.fits) and self.free_share < HEADROOM

    def as_dict(self) -> dict:
        return {**asdict(self), "free_share": self.free_share, "tight": self.tight}


# Below this share of the memory left free, "fits" comes with a warning: the CUDA context, the serving engine's
# own allocations and fragmentation are not in the figures.
HEADROOM = 0.10


def plan(model: Model, context: int = 8192, batch: int = 1, memory_gb: float | None = None, kv_type: str = "f16",
         windowed: bool = True) -> list[PlanRow]:
    if context < 1 or batch < 1:
        raise PlanError("context and batch must be at least 1")
    if memory_gb is not None and memory_gb <= 0:
        raise PlanError(f"memory must be positive (got {memory_gb} GB)")
    kv = kv_cache_bytes(model.shape, context, batch, kv_type, windowed) / GB
    runtime = runtime_bytes(model.shape) / GB
    rows = []
    for fmt in FORMATS:
        weights = weight_bytes(model, fmt)
        total = weights / GB + kv + runtime
        fits = None if memory_gb is None else total <= memory_gb
        gpus = None if memory_gb is None else max(1, math.ceil(total / memory_gb))
        rows.append(PlanRow(fmt, round(8 * weights / model.params, 2), round(weights / GB, 3), round(kv, 3),
                            round(runtime, 3), round(total, 3), memory_gb, fits, gpus))
    return sorted(rows, key=lambda r: -r.bits_per_weight)


def describe(model: Model, context: int, batch: int, kv_type: str, windowed: bool) -> str:
    """One line on what the figures assume."""
    s = model.shape
    sliding = (f", {s.sliding_layers} of them with a {s.sliding_window}-token window"
               + ("" if windowed else " (kept full)") if s.sliding_window else "")
    return (f"{model.params / 1e9:.3g} B parameters; {s.layers} layers × {s.kv_heads} KV heads × {s.head_dim}"
            f"{sliding} ({s.source}); context {context}, batch {batch}, KV {kv_type}; runtime buffers for "
            f"{UBATCH}-token batches with flash attention")

