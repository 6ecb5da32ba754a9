"""The census (llama.cpp's gguf parser through ctypes) against gguf-py's GGUFReader, computed
independently here, on real files: SmolLM2-135M as shipped (Q4_1 weights) and as Q4_K_M, whose
576-wide rows make llama.cpp fall back from the k-quants."""
from __future__ import annotations

import numpy as np
import pytest
from gguf import QK_K

from studio.gguf_census import gguf_census
from tests.models import smollm2_gguf
from tests.ollama_standin import smollm2_q4_k_m


def census_by_gguf_py(path) -> dict:
    from gguf import GGUFReader

    tensors = GGUFReader(str(path)).tensors
    types: dict[str, int] = {}
    for t in tensors:
        types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
    n_elements = sum(int(np.prod(t.shape)) for t in tensors)
    n_bytes = sum(int(t.n_bytes) for t in tensors)
    return {"tensor_types": types, "n_params": n_elements, "tensor_bytes": n_bytes, "bpw": 8.0 * n_bytes / n_elements,
            "rows_not_k_divisible": sum(len(t.shape) >= 2 and int(t.shape[0]) % QK_K != 0 for t in tensors)}


@pytest.mark.parametrize("which", ["as shipped", "Q4_K_M"])
def test_census_matches_gguf_py(which, studio_cache):
    path = smollm2_gguf() if which == "as shipped" else smollm2_q4_k_m(studio_cache / "test-models")
    census = gguf_census(path)
    assert census == census_by_gguf_py(path)
    assert census["n_params"] > 100e6


def test_census_refuses_a_truncated_file(studio_cache, tmp_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(smollm2_q4_k_m(studio_cache / "test-models").read_bytes()[:100_000])
    with pytest.raises(ValueError, match="not a readable GGUF file"):
        gguf_census(cut)
