"""The real-size checkpoint builder, checked on a small shape: what transformers reads back is the
architecture asked for, sharded with an index as on the hub, and a rebuild gives the same bytes."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest

from tests.models import LLAMA_1B, LLAMA_8B, SMOL_VOCAB, build_llama_shape

SMALL = replace(LLAMA_1B, name="llama-small-shape", hidden=128, layers=3, heads=4, kv_heads=2, ffn=352,
                shard_bytes=16 << 20)


def test_the_published_shapes_have_their_parameter_counts():
    # Llama-3.1-8B has 8.03 B parameters with its 128k vocabulary; with SmolLM2's 49k it is 7.38 B (the issue's).
    assert LLAMA_8B.n_params(128_256) == 8_030_261_248
    assert LLAMA_8B.n_params(SMOL_VOCAB) == pytest.approx(7.38e9, rel=1e-3)
    assert LLAMA_1B.n_params(32_000) == 1_100_048_384  # TinyLlama-1.1B


def test_a_built_checkpoint_loads_in_transformers_as_the_shape_says(tmp_path, smol):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_llama_shape(tmp_path / "a", SMALL, smol)
    index = json.loads((path / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1 and all((path / s).stat().st_size <= SMALL.shard_bytes + 2**16 for s in shards)
    assert index["metadata"]["total_size"] == 2 * SMALL.n_params(SMOL_VOCAB)
    model = AutoModelForCausalLM.from_pretrained(str(path))
    assert model.dtype == torch.bfloat16
    assert sum(p.numel() for p in model.parameters()) == SMALL.n_params(SMOL_VOCAB)
    assert model.model.layers[2].self_attn.k_proj.weight.shape == (2 * 128 // 4, 128)
    weight = model.model.layers[0].mlp.down_proj.weight.float()
    assert abs(weight.std().item() - 0.02) < 0.001 and torch.equal(model.model.norm.weight.float(), torch.ones(128))
    assert AutoTokenizer.from_pretrained(str(path))("Hello").input_ids == AutoTokenizer.from_pretrained(
        str(smol))("Hello").input_ids

    again = build_llama_shape(tmp_path / "b", SMALL, smol)
    digest = [{s: hashlib.sha256((p / s).read_bytes()).hexdigest() for s in shards} for p in (path, again)]
    assert digest[0] == digest[1]
    assert build_llama_shape(tmp_path / "a", SMALL, smol) == path  # built once: the second call finds it
