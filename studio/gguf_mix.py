"""The ggml type llama.cpp gives each tensor when it quantizes to a file type, and the file's size.

A GGUF "type" such as Q4_K_M is a mix: llama.cpp keeps the output matrix at Q6_K, gives attn_v and part of
ffn_down more bits, and falls back to a 32-wide type for rows whose width is not a multiple of the 256 a
k-quant block needs (SmolLM2's 576 columns). This module states those rules per tensor, for the file types
the studio offers, so a size is known before anything is converted: Q4_K_M is ~4.9 bits per weight on an
8 B model and 6.2 on SmolLM2, not 4. `tests/test_footprint.py` holds it to llama.cpp's own choices
(`llama-quantize --dry-run`) on real and synthetic models, and to the files the studio writes.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from studio.architecture import Architecture, Tensor

# file type -> the ggml type its tensors get unless a rule or a fallback says otherwise
DEFAULT_TYPE = {
    "Q2_K": "Q2_K", "Q3_K_S": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_L": "Q3_K", "Q4_K_S": "Q4_K", "Q4_K_M": "Q4_K",
    "Q5_K_S": "Q5_K", "Q5_K_M": "Q5_K", "Q6_K": "Q6_K", "Q4_0": "Q4_0", "Q4_1": "Q4_1", "Q5_0": "Q5_0",
    "Q5_1": "Q5_1", "Q8_0": "Q8_0", "IQ1_S": "IQ1_S", "IQ1_M": "IQ1_M", "IQ2_XXS": "IQ2_XXS", "IQ2_XS": "IQ2_XS",
    "IQ2_S": "IQ2_XS", "IQ2_M": "IQ2_S", "IQ3_XXS": "IQ3_XXS", "IQ3_S": "IQ3_S", "IQ3_M": "IQ3_S",
    "IQ4_XS": "IQ4_XS", "IQ4_NL": "IQ4_NL", "F16": "F16", "BF16": "BF16",
}
# The file types that spend their bits below 2.5 per weight and protect a few tensors more than the others.
VERY_LOW = frozenset({"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M"})
# A type whose block does not divide a row falls back to one that does (then to F16).
FALLBACK = {**{t: "IQ4_NL" for t in ("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ4_XS")},
            "Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}
ALIGNMENT = 32  # GGUF's default: every tensor's data starts on a multiple of it
# llama.cpp gives a 70 B Llama's attn_v (80 layers, grouped KV heads) Q5_K where it would be Q3_K or Q4_K.
LLAMA_70B_LAYERS = 80
# Metadata per token when the tokenizer is not at hand: SmolLM2's 49,152 tokens and 48,900 merges take 1.77 MB.
METADATA_PER_TOKEN = 36
METADATA_FIXED = 16 * 1024  # general.*, the architecture's hyper-parameters and the tensor infos' fixed part


def block(ggml_type: str) -> tuple[int, int]:
    """(elements per block, bytes per block) of a ggml type."""
    return GGML_QUANT_SIZES[GGMLQuantizationType[ggml_type]]


def tensor_bytes(ggml_type: str, elements: int) -> int:
    size, nbytes = block(ggml_type)
    return elements // size * nbytes


@dataclass(frozen=True)
class Overrides:
    """The user's choices that come before the mix: output and embedding types, and PATTERN=TYPE pairs
    (llama-quantize --tensor-type; the first pattern found in a tensor's name wins)."""
    output: str | None = None
    embedding: str | None = None
    patterns: tuple[tuple[str, str], ...] = ()
    imatrix: bool = False


@dataclass
class _Counters:
    """llama.cpp numbers attn_v and ffn_down tensors as it meets them: some rules depend on the position."""
    attn_v: int = 0
    ffn_down: int = 0


def tensor_types(arch: Architecture, file_type: str, overrides: Overrides = Overrides()) -> dict[str, str]:
    """Tensor name -> ggml type in the quantized file."""
    tensors = arch.tensors()
    n_attn_v = sum(1 for t in tensors if _category(t.name) == "attn_v")
    counters, chosen = _Counters(), {}
    for t in tensors:
        chosen[t.name] = _type_for(t, arch, file_type, overrides, counters, n_attn_v)
    return chosen


def base_type(t: Tensor) -> str:
    """The F16 file llama.cpp's converter writes: matrices in 16 bits, vectors (norms, biases) in 32."""
    return "F16" if t.is_matrix else "F32"


def _type_for(t: Tensor, arch: Architecture, file_type: str, o: Overrides, counters: _Counters, n_attn_v: int) -> str:
    if not quantizable(t):
        return base_type(t)
    category = _category(t.name)
    if category == "token_embd" and o.embedding:
        return o.embedding
    if category == "output" and o.output:
        return o.output
    default = DEFAULT_TYPE[file_type]
    manual = next((typ for pattern, typ in o.patterns if re.search(pattern, t.name)), None)
    # A manual type skips the mix, and with it the mix's count of attn_v and ffn_down tensors.
    chosen = manual or _mix(t, category, arch, file_type, default, o.imatrix, counters, n_attn_v) or default
    return _fallback(chosen, t.ne[0])


def quantizable(t: Tensor) -> bool:
    return t.is_matrix and t.name.endswith("weight") and "_norm" not in t.name and "ffn_gate_inp" not in t.name


def _category(name: str) -> str:
    if name == "output.weight":
        return "output"
    if name == "token_embd.weight":
        return "token_embd"
    for part in ("attn_v", "attn_k", "attn_q", "attn_output", "ffn_up", "ffn_gate", "ffn_down"):
        if f"{part}." in name or f"{part}_" in name:
            return part
    return "other"


def _fallback(ggml_type: str, width: int) -> str:
    if width % block(ggml_type)[0] == 0:
        return ggml_type
    wider = FALLBACK.get(ggml_type, "F16")
    return wider if width % block(wider)[0] == 0 else "F16"


def _more_bits(i: int, n: int) -> bool:
    """The layers llama.cpp's mixes favour: the first and last eighth, and every third one between."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _mix(t: Tensor, category: str, arch: Architecture, ft: str, default: str, imatrix: bool, counters: _Counters,
         n_attn_v: int) -> str | None:
    """The file type's choice for a tensor, before the fallback; None keeps the default type."""
    if category == "output" or (category == "token_embd" and arch.tied_embeddings):
        return _output(ft, default, t.ne[0])
    if category == "token_embd":
        return {"IQ2_XXS": "Q2_K", "IQ2_XS": "Q2_K", "IQ1_S": "Q2_K", "IQ1_M": "Q2_K", "IQ2_S": "IQ3_S",
                "IQ2_M": "IQ3_S", "IQ3_XXS": "IQ3_S"}.get(ft)
    if category == "attn_v":
        i = counters.attn_v
        counters.attn_v += 1
        return _attn_v(ft, arch, imatrix, i, n_attn_v)
    if category == "ffn_down":
        i = _layer(t.name) if arch.experts > 1 else counters.ffn_down
        counters.ffn_down += 1
        return (_very_low_ffn_down(ft, i, arch.layers) if ft in VERY_LOW
                else _ffn_down(ft, arch, imatrix, i, arch.layers))
    if category == "attn_output":
        return _attn_output(ft, arch)
    if category in ("attn_k", "attn_q"):
        return _attn_qk(ft, arch, category)
    return None


def _output(ft: str, default: str, width: int) -> str:
    if width % block(default)[0]:
        return "Q8_0"
    if ft in VERY_LOW or ft == "IQ3_XXS":
        return "Q5_K"
    return "Q8_0" if default == "Q8_0" else "Q6_K"


def _attn_v(ft: str, arch: Architecture, imatrix: bool, i: int, n: int) -> str | None:
    shared = arch.gqa >= 4
    if ft in VERY_LOW:
        return "Q4_K" if shared or arch.experts >= 4 else ("IQ3_S" if ft in ("IQ2_S", "IQ2_M") else "Q2_K")
    chosen = {
        "Q2_K": "Q4_K" if shared else "Q3_K",
        "IQ3_XXS": "Q4_K" if shared else ("IQ3_XXS" if imatrix else "IQ3_S"),
        "IQ3_S": "Q4_K" if shared else None,
        "IQ3_M": "Q4_K",
        "Q3_K_M": "Q5_K" if i < 2 else "Q4_K",
        "Q3_K_L": "Q5_K",
        "IQ4_NL": "Q5_K" if shared else None,
        "IQ4_XS": "Q5_K" if shared else None,
        "Q4_K_M": "Q6_K" if _more_bits(i, n) else None,
        "Q5_K_M": "Q6_K" if _more_bits(i, n) else None,
        "Q4_K_S": "Q5_K" if i < 4 else None,
    }.get(ft)
    if arch.layers == LLAMA_70B_LAYERS and arch.gqa > 1 and (chosen or DEFAULT_TYPE[ft]) in ("Q3_K", "Q4_K"):
        chosen = "Q5_K"
    return "Q8_0" if arch.experts == 8 else chosen


def _attn_qk(ft: str, arch: Architecture, category: str) -> str | None:
    if ft in VERY_LOW:
        return "Q4_K" if category == "attn_k" and arch.experts == 8 else None
    if category == "attn_k" and arch.experts == 8:
        return "Q8_0"
    return "IQ2_S" if ft == "IQ3_XXS" else None


def _very_low_ffn_down(ft: str, i: int, n: int) -> str | None:
    if i < n // 8:
        return "IQ3_S" if ft in ("IQ2_S", "IQ2_M") else "Q2_K"
    return None


def _ffn_down(ft: str, arch: Architecture, imatrix: bool, i: int, n: int) -> str | None:
    first_eighth = i < n // 8
    rules = {
        "Q2_K": "Q3_K",
        "IQ3_XXS": None if imatrix else ("Q4_K" if first_eighth else "Q3_K"),
        "Q3_K_M": "Q5_K" if i < n // 16 else "Q4_K",
        "IQ3_M": "Q4_K" if first_eighth or (arch.experts == 8 and _more_bits(i, n)) else None,
        "Q3_K_L": "Q5_K",
        "Q4_K_M": "Q6_K" if _more_bits(i, n) else None,
        "IQ4_NL": "Q5_K" if first_eighth and not imatrix else None,
        "IQ4_XS": "Q5_K" if first_eighth and not imatrix else None,
        "Q5_K_M": "Q6_K" if _more_bits(i, n) else None,
        "Q4_K_S": "Q5_K" if first_eighth else None,
        "Q4_0": "Q4_1" if imatrix and first_eighth else None,
        "Q5_0": "Q5_1" if imatrix and first_eighth else None,
    }
    return rules.get(ft)


def _attn_output(ft: str, arch: Architecture) -> str | None:
    if arch.experts == 8:
        protected = (*VERY_LOW, "Q2_K", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ3_S", "IQ3_M",
                     "IQ4_XS")
        return "Q5_K" if ft in protected else None
    if ft in VERY_LOW:
        return {"IQ1_S": "IQ2_XXS", "IQ1_M": "IQ2_XXS", "IQ2_S": "IQ3_S", "IQ2_M": "IQ3_S"}.get(ft)
    return {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K", "IQ3_M": "Q4_K"}.get(ft)


def _layer(name: str) -> int:
    return int(name.split(".")[1])


@dataclass(frozen=True)
class GGUFSize:
    tensor_bytes: int  # the tensors' data, as llama-quantize reports it
    file_bytes: int  # with the metadata, the tensor infos and the alignment padding


def gguf_size(arch: Architecture, file_type: str, overrides: Overrides = Overrides(),
              tokenizer: Path | None = None) -> GGUFSize:
    """The quantized file's size (file_type "F16" gives the converter's base file)."""
    tensors = arch.tensors()
    types = ({t.name: base_type(t) for t in tensors} if file_type in ("F16", "BF16")
             else tensor_types(arch, file_type, overrides))
    data = [tensor_bytes(types[t.name], t.elements) for t in tensors]
    padded = sum(-(-d // ALIGNMENT) * ALIGNMENT for d in data)
    infos = sum(8 + len(t.name) + 4 + 8 * len(t.ne) + 4 + 8 for t in tensors)
    file_bytes = METADATA_FIXED + tokenizer_metadata_bytes(arch.vocab, tokenizer) + infos + padded
    return GGUFSize(sum(data), file_bytes)


def tokenizer_metadata_bytes(vocab: int, tokenizer: Path | None) -> int:
    """The vocabulary as GGUF stores it: each token and merge as a length-prefixed string, a type per token
    (and a score, for SentencePiece vocabularies)."""
    if tokenizer is None or not tokenizer.is_file():
        return METADATA_PER_TOKEN * vocab
    model = json.loads(tokenizer.read_text(encoding="utf-8")).get("model", {})
    tokens = model.get("vocab") or {}
    merges = model.get("merges") or []
    names = tokens.keys() if isinstance(tokens, dict) else [entry[0] for entry in tokens]
    per_token = 12 if isinstance(tokens, dict) else 16  # length and type; SentencePiece adds a float score
    token_bytes = sum(len(n.encode("utf-8")) for n in names) + per_token * max(len(tokens), vocab)
    merge_bytes = sum(8 + len((m if isinstance(m, str) else " ".join(m)).encode("utf-8")) for m in merges)
    return token_bytes + merge_bytes
