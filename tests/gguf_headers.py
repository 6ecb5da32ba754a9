"""GGUF files that are all header: an F16 model's metadata and tensor infos for any architecture, its data a
hole in a sparse file. llama.cpp's own `llama-quantize --dry-run` reads such a file and says which type it
would give each tensor, so its rules can be checked at 8 B and 70 B without 16 or 140 GB of weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter

from studio.architecture import Architecture
from studio.gguf_mix import ALIGNMENT, base_type, tensor_bytes


def write_header_only_gguf(path: Path, arch: Architecture, gguf_arch: str = "llama",
                           vocabulary_from: Path | None = None) -> Path:
    """`vocabulary_from`: a GGUF whose tokenizer to copy (its vocabulary must be arch.vocab tokens), so that
    llama.cpp can also make a context on the model (and say what its KV cache and buffers take)."""
    writer = GGUFWriter(path, gguf_arch)
    writer.add_context_length(131072)
    writer.add_embedding_length(arch.hidden)
    writer.add_block_count(arch.layers)
    writer.add_feed_forward_length(arch.intermediate)
    writer.add_head_count(arch.heads)
    writer.add_head_count_kv(arch.kv_heads)
    writer.add_rope_dimension_count(arch.head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(arch.vocab)
    writer.add_file_type(1)  # MOSTLY_F16
    if arch.experts > 1:
        writer.add_expert_count(arch.experts)
        writer.add_expert_used_count(2)
    tensors = arch.tensors()
    if gguf_arch == "gemma2":
        writer.add_sliding_window(arch.sliding_window)
        writer.add_key_length(arch.head_dim)
        writer.add_value_length(arch.head_dim)
    if vocabulary_from:
        _copy_vocabulary(writer, vocabulary_from)
    data = 0
    for t in tensors:
        kind = base_type(t)
        nbytes = tensor_bytes(kind, t.elements)
        writer.add_tensor_info(t.name, tuple(reversed(t.ne)), np.dtype(np.float16 if kind == "F16" else np.float32),
                               nbytes, raw_dtype=GGMLQuantizationType[kind])
        data += -(-nbytes // ALIGNMENT) * ALIGNMENT
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    start = -(-path.stat().st_size // ALIGNMENT) * ALIGNMENT  # the data section begins aligned
    with path.open("r+b") as f:  # the data: a hole, no disk used
        f.truncate(start + data)
    return path


def write_flat_imatrix(path: Path, arch: Architecture) -> Path:
    """An importance matrix of ones in llama.cpp's legacy format: its values do not matter to the type mix, only
    that there is one (some file types pick other types with it, the lowest refuse to run without)."""
    with path.open("wb") as f:
        matrices = [t for t in arch.tensors() if t.is_matrix and "_norm" not in t.name]
        f.write(np.int32(len(matrices)).tobytes())
        for t in matrices:
            name = t.name.encode()
            values = t.ne[0] * (t.ne[2] if len(t.ne) > 2 else 1)
            f.write(np.int32(len(name)).tobytes() + name + np.array([1, values], np.int32).tobytes())
            f.write(np.ones(values, np.float32).tobytes())
    return path


def _copy_vocabulary(writer: GGUFWriter, source: Path) -> None:
    for key, field in GGUFReader(source).fields.items():
        if key.startswith("tokenizer."):
            sub_type = field.types[1] if len(field.types) > 1 else None
            writer.add_key_value(key, field.contents(), field.types[0], sub_type)
