"""An automatic mix reaches the file exactly: the types chosen per tensor are the types llama.cpp wrote, and the
sizes the allocation counted are the bytes it stored."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from studio.allocation import best_within_size
from studio.architecture import Architecture
from studio.auto_mix import CANDIDATE_TYPES, groups, tensor_type_file, tensors
from studio.gguf_mix import block
from studio.llamacpp import ensure_tools


@pytest.fixture(scope="module")
def smol_f16(smol_run):
    return next(smol_run["workspace"].glob("cache/*/base-f16.gguf"))


def test_the_types_chosen_are_the_types_llama_cpp_writes(smol, smol_f16, studio_cache, tmp_path):
    from gguf import GGMLQuantizationType, GGUFReader
    arch = Architecture.from_config(json.loads((smol / "config.json").read_text()))
    rng = np.random.default_rng(0)  # costs that make every type worth choosing somewhere
    costs = {t.name: {ty: float(rng.uniform(0, 0.002) * (i + 1)) for i, ty in enumerate(CANDIDATE_TYPES)}
             for t in tensors(arch)}
    candidates = groups(arch, costs)
    smallest = sum(min(c.size_bytes for c in g.choices) for g in candidates)
    largest = sum(max(c.size_bytes for c in g.choices) for g in candidates)
    mix = best_within_size(candidates, (smallest + largest) // 2, resolution=1024)
    assert len(set(mix.types.values())) >= 4, mix.types  # a real mix, not one type everywhere
    # SmolLM2's 576-wide rows take no k-quant or IQ4_XS block: those tensors were offered the 32-wide types only.
    assert all(block(ty)[0] == 32 for name, ty in mix.types.items() if "ffn_down" not in name)
    overrides = tmp_path / "tensor-types.txt"
    overrides.write_text(tensor_type_file(mix.types))
    out = tmp_path / "auto.gguf"
    tools = ensure_tools(studio_cache, log=lambda line: None)
    subprocess.run([str(tools / "llama-quantize"), "--tensor-type-file", str(overrides), str(smol_f16), str(out),
                    "Q4_0", "2"], check=True, capture_output=True, timeout=900)
    written = {t.name: t for t in GGUFReader(out).tensors}
    assert {name: GGMLQuantizationType(written[name].tensor_type).name for name in mix.types} == mix.types
    assert sum(int(written[name].n_bytes) for name in mix.types) == mix.size_bytes
