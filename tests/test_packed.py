"""The studio's packed checkpoint written and read a tensor at a time: shards and index like the hub's, the
kept tensors in 16 bits, and a model too big to hold run layer by layer with the same logits."""
from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import torch

from studio.evaluation import torch_backend
from studio.evaluation.protocol import Protocol
from studio.evaluation.streamed import SafetensorsWeights, empty_model
from studio.recipes import formats, packed
from studio.recipes.hf import copy_side_files, quantizable_linears
from tests.models import build_llama_shape
from tests.test_model_builder import SMALL

INT8 = partial(formats.quantize_int8, symmetric=True, group_size=None)
DEQUANTIZE = partial(formats.dequantize_int8, group_size=None)


@pytest.fixture(scope="module")
def small(tmp_path_factory, smol):
    return build_llama_shape(tmp_path_factory.mktemp("small"), SMALL, smol)


def _write(source, out, **kwargs):
    fractions = []
    layers = packed.write_packed(source, out, "int8-rtn", {"scheme": "symmetric"}, INT8, [], fractions.append, **kwargs)
    return layers, fractions


def test_written_in_shards_with_an_index_when_over_the_shard_size(small, tmp_path, monkeypatch):
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    layers, fractions = _write(small, whole)
    assert (whole / "model.safetensors").exists() and not (whole / "model.safetensors.index.json").exists()
    assert fractions[-1] == 1.0 and len(fractions) == len(layers)
    monkeypatch.setattr(packed, "SHARD_BYTES", 2**20)
    _write(small, sharded)
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    files = sorted(set(index["weight_map"].values()))
    assert len(files) > 2 and files[0] == f"model-00001-of-{len(files):05d}.safetensors"
    assert sorted(p.name for p in sharded.glob("*.safetensors")) == files and not list(sharded.glob("*.partial"))
    assert index["metadata"]["total_size"] == sum((sharded / f).stat().st_size for f in files) - sum(
        _header_bytes(sharded / f) for f in files)
    one, many = SafetensorsWeights(whole), SafetensorsWeights(sharded)
    assert sorted(one.names()) == sorted(many.names())
    for name in one.names():
        assert torch.equal(one.read(name), many.read(name)), name
    assert packed.read_metadata(sharded) == packed.read_metadata(whole)


def _header_bytes(path) -> int:
    return 8 + int.from_bytes(path.read_bytes()[:8], "little")


def test_kept_tensors_are_16_bit_and_the_linears_are_the_formats(small, tmp_path):
    source = SafetensorsWeights(small)
    as_f32 = tmp_path / "f32"
    copy_side_files(small, as_f32)
    from safetensors.torch import save_file
    save_file({n: source.read(n, torch.float32) for n in source.names()}, str(as_f32 / "model.safetensors"))
    layers, _ = _write(as_f32, tmp_path / "out")
    assert layers == quantizable_linears(empty_model(small), [])
    stored = SafetensorsWeights(tmp_path / "out")
    assert stored.read("model.embed_tokens.weight").dtype == torch.bfloat16
    assert stored.read("model.norm.weight").dtype == torch.bfloat16
    weight = source.read(f"{layers[0]}.weight", torch.float32)
    assert torch.equal(stored.read(f"{layers[0]}.weight.qweight"), INT8(weight)["qweight"])


def test_a_packed_model_streamed_gives_the_logits_of_the_one_held(small, tmp_path, monkeypatch):
    _write(small, tmp_path / "out")
    resident = packed.load_packed(tmp_path / "out", DEQUANTIZE, "cpu", torch.float32)
    assert not getattr(resident, "studio_streamed", False)
    monkeypatch.setattr(packed, "must_stream", lambda float32_bytes: True)
    streamed = packed.load_packed(tmp_path / "out", DEQUANTIZE, "cpu", torch.float32)
    assert streamed.studio_streamed and all(p.device.type == "meta" for p in streamed.parameters())
    protocol = Protocol(64, 2)
    tokens = np.random.default_rng(1).integers(0, 49152, 128).astype(np.int32)
    for i in range(2):
        chunk = protocol.chunk_input(tokens, i, None)
        np.testing.assert_allclose(torch_backend.chunk_logits(streamed, chunk, protocol),
                                   torch_backend.chunk_logits(resident, chunk, protocol), rtol=0, atol=1e-5)
    skipped = torch_backend.generations(streamed, small, ["Hello"], 4)
    assert skipped["generations"] == [] and "streamed weight by weight" in skipped["generations_skipped"]
