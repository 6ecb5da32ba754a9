"""How far each tensor of a GGUF file lies from the F16 base: the weight-error energy behind automatic mixes' costs.

The sensitivity map measures one type per tensor (its low type); what the KLD would be at another type follows
from the error that type makes in that tensor. To first order the divergence a tensor adds is quadratic in its
output error, and the output error's energy over the calibration activations is sum_j E[x_j^2] * sum_i dW_ij^2:
the squared weight error per input column, weighted by that column's mean squared activation (the importance
matrix's in_sum2 / counts; uniform without one). So cost(type) = measured(low) * energy(type) / energy(low),
with every energy measured on the files llama.cpp itself wrote, not on a rule of thumb: a checkpoint that already
sits on a type's grid (one dequantized from a published GGUF) costs almost nothing at that type, and the map's
`relative_error` for the studio's own formats is the same idea (studio.sensitivity_hf).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader
from gguf.quants import dequantize

from studio.gguf_header import Layout, TensorInfo, read_layout

# Elements dequantized at once: bounds the float32 copies to a few tens of MB whatever the tensor.
ELEMENTS_PER_SLICE = 1 << 22


def column_weights(imatrix: Path | None) -> dict[str, np.ndarray]:
    """Each tensor's mean squared input activation per column, from llama-imatrix's GGUF output (none: uniform)."""
    if imatrix is None:
        return {}
    reader = GGUFReader(imatrix)
    found = {t.name: np.asarray(t.data, dtype=np.float64) for t in reader.tensors}
    weights = {}
    for key, sums in found.items():
        if key.endswith(".in_sum2") and (counts := found.get(key.removesuffix(".in_sum2") + ".counts")) is not None:
            weights[key.removesuffix(".in_sum2")] = sums.reshape(len(counts), -1).sum(0) / max(counts.sum(), 1.0)
    return weights


def energies(base: Path, quantized: Path, names: set[str], weights: dict[str, np.ndarray],
             base_layout: Layout | None = None) -> dict[str, float]:
    """For the named tensors the quantized file holds: the weighted squared error against the base, per element
    (so tensors of different sizes compare). Reads a slice of rows at a time from both files, mapped."""
    base_layout = base_layout or read_layout(base)
    reference = {t.name: t for t in base_layout.tensors}
    layout = read_layout(quantized)
    base_data = np.memmap(base, dtype=np.uint8, mode="r", offset=base_layout.data_start)
    data = np.memmap(quantized, dtype=np.uint8, mode="r", offset=layout.data_start)
    out = {}
    for info in layout.tensors:
        if info.name not in names:
            continue
        w = weights.get(info.name)
        total = 0.0
        rows = max(1, ELEMENTS_PER_SLICE // info.dims[0])
        for start in range(0, _n_rows(info), rows):
            error = (_rows(data, info, start, rows) - _rows(base_data, reference[info.name], start, rows)) ** 2
            total += float(error.sum(0) @ w) if w is not None else float(error.sum())
        out[info.name] = total / (_n_rows(info) * info.dims[0])
    return out


def _n_rows(info: TensorInfo) -> int:
    return int(np.prod(info.dims[1:], dtype=np.int64))


def _rows(data: np.memmap, info: TensorInfo, start: int, count: int) -> np.ndarray:
    """Up to `count` rows of a tensor from `start`, as float32, whatever its type."""
    row_bytes = info.n_bytes // _n_rows(info)
    stop = min(start + count, _n_rows(info))
    raw = data[info.offset + start * row_bytes: info.offset + stop * row_bytes].reshape(stop - start, row_bytes)
    kind = GGMLQuantizationType(info.ggml_type)
    if kind in _PLAIN:
        return raw.view(_PLAIN[kind]).astype(np.float32)
    return dequantize(raw, kind).astype(np.float32)


_PLAIN = {GGMLQuantizationType.F32: np.float32, GGMLQuantizationType.F16: np.float16}
