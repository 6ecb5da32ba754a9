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


def _tiny(kind: str, dest):
    from transformers import AutoModelForCausalLM, MixtralConfig, Qwen2Config
    torch.manual_seed(0)
    shape = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, vocab_size=512)
    config = Qwen2Config(**shape) if kind == "qwen2" else MixtralConfig(**shape, num_local_experts=2)
    AutoModelForCausalLM.from_config(config).to(torch.bfloat16).save_pretrained(str(dest))
    return dest


@pytest.mark.parametrize("scales, activations", [("per-tensor", "weight-only"), ("block-128", "weight-only"),
                                                 ("per-channel", "w8a8")])
def test_fp8_of_a_model_with_biased_linears_loads_held_and_streamed(scales, activations, tmp_path, monkeypatch):
    """Qwen2's q/k/v projections have biases: in transformers' FP8 layout `<layer>.bias` sits beside the
    layer's parts and must stay a plain tensor; W8A8 layers of a streamed model read theirs."""
    from studio import recipes
    from studio.stages import StageContext
    from studio.models import read_model_facts
    from studio.config import Settings
    checkpoint = _tiny("qwen2", tmp_path / "qwen2")
    recipe = recipes.get("fp8")
    options = {**recipe.defaults(), "scales": scales, "activations": activations}
    facts = read_model_facts(checkpoint, Settings.from_env(tmp_path / "ws"))
    ctx = StageContext(1, facts, options, tmp_path, tmp_path, tmp_path, lambda f, line: None, None, None)
    artifact = recipe.quantize(ctx)
    if scales != "per-channel":  # transformers' own layout: the checkpoint's config, its dtype kept
        config = json.loads((artifact / "config.json").read_text())
        assert config["quantization_config"]["quant_method"] == "fp8" and config["dtype"] == "bfloat16"
    tokens = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.inference_mode():
        held = recipe.load(artifact, "cpu")(tokens).logits
        monkeypatch.setattr(packed, "must_stream", lambda float32_bytes: True)
        streamed = recipe.load(artifact, "cpu")
        assert streamed.studio_streamed
        torch.testing.assert_close(streamed(tokens).logits, held, rtol=0, atol=1e-5)


def test_a_checkpoint_whose_names_the_model_maps_is_loaded_whole_to_quantize(tmp_path, capsys):
    """transformers 5 fuses Mixtral's experts (`block_sparse_moe.experts.N.w1` on disk, `mlp.experts.gate_up_proj`
    in the model): streaming the file's tensors would write names the model does not have."""
    checkpoint = _tiny("mixtral", tmp_path / "mixtral")
    layers, _ = _write(checkpoint, tmp_path / "out")
    assert "loaded whole to quantize: its tensor names are not the model's" in capsys.readouterr().out
    model = packed.load_packed(tmp_path / "out", DEQUANTIZE, "cpu", torch.float32)
    assert layers and all(type(model.get_submodule(n)).__name__ == "Linear" for n in layers)


def test_an_artifact_from_before_the_layout_was_recorded_still_loads(tmp_path):
    from safetensors.torch import load_file, save_file

    from studio import recipes
    from studio.stages import StageContext
    from studio.models import read_model_facts
    from studio.config import Settings
    checkpoint = _tiny("qwen2", tmp_path / "qwen2")
    recipe = recipes.get("fp8")
    facts = read_model_facts(checkpoint, Settings.from_env(tmp_path / "ws"))
    ctx = StageContext(1, facts, recipe.defaults(), tmp_path, tmp_path, tmp_path, lambda f, line: None, None, None)
    artifact = recipe.quantize(ctx)
    from safetensors import safe_open
    with safe_open(str(artifact / "model.safetensors"), framework="pt") as f:
        metadata = f.metadata()
    del metadata["studio_layout"]
    save_file(load_file(str(artifact / "model.safetensors")), str(artifact / "model.safetensors"), metadata=metadata)
    assert packed.read_metadata(artifact)["layout"] == "transformers"
    recipe.load(artifact, "cpu")(torch.tensor([[1, 2, 3]]))
