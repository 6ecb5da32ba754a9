"""The automatic mix of the studio's HF formats on the tiny model: the HF sensitivity map's figures are a direct
loop's (a fresh transformers model, one weight rounded by the format's own functions, a float64 KLD), the mix
stores each linear layer in the format the allocation chose, within its budget, and loads back to exactly
those round trips."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from studio.architecture import Architecture
from studio.evaluation.protocol import Protocol
from studio.sensitivity import map_protocol
from studio.recipes import formats


@pytest.fixture(scope="module")
def hf_map(tmp_path_factory, studio_cache, tiny):
    """The tiny model's HF map, measured by the job through the CLI, in a workspace the mixes below use."""
    from tests.conftest import make_env, run_cli
    env = make_env(tmp_path_factory.mktemp("hf-map") / "ws", studio_cache, [tiny.parent])
    proc = run_cli(["sensitivity", "--family", "hf", "--model", str(tiny), "--ctx", "128", "--chunks", "2", "--wait",
                    "--json"], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return env, json.loads(proc.stdout)


def _direct_kld(tiny, layer: str, tokens: np.ndarray, bos: int | None, protocol: Protocol) -> float:
    """Mean KL(checkpoint ‖ checkpoint with `layer` at MXFP4) over the scored positions: every position's logits
    from a plain forward, a float64 log-softmax."""
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(str(tiny), dtype=torch.float32).eval()
    rows = []
    for rounded in (False, True):
        if rounded:
            weight = model.get_submodule(layer).weight
            weight.data = formats.dequantize_mxfp4(formats.quantize_mxfp4(weight.data)).to(torch.float32)
        per_chunk = []
        for i in range(2):
            with torch.inference_mode():
                logits = model(torch.tensor([protocol.chunk_input(tokens, i, bos)])).logits[0].double()
            per_chunk.append(torch.log_softmax(logits[protocol.scored_positions.start:protocol.n_ctx - 1], -1))
        rows.append(torch.cat(per_chunk))
    p, q = rows
    return float((p.exp() * (p - q)).sum(-1).mean())


def test_the_hf_map_measures_every_linear_layer_as_a_direct_loop_does(hf_map, tiny):
    import torch

    from studio.evaluation.torch_backend import tokenize
    from studio.recipes.calibration import calibration_path
    env, found = hf_map
    arch = Architecture.from_config(json.loads((tiny / "config.json").read_text()))
    assert found["family"] == "hf" and {t["name"] for t in found["tensors"]} == {n for n, _, _ in arch.linears()}
    assert all(t["low_type"] == "mxfp4" for t in found["tensors"])
    top = found["tensors"][0]["name"]
    measured = {t["name"]: t["added_kld"] for t in found["tensors"]}
    tokens, bos = tokenize(tiny, calibration_path("builtin").read_bytes().decode("utf-8"))  # CRLF kept, as the job
    # the first layer's and the last layer's (the map reran only the layers from there on)
    for layer in ("model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj"):
        direct = _direct_kld(tiny, layer, tokens, bos, map_protocol(128, 2))
        assert measured[layer] == pytest.approx(direct, rel=1e-3, abs=1e-7) and direct > 0, layer
    from transformers import AutoModelForCausalLM
    weight = AutoModelForCausalLM.from_pretrained(str(tiny), dtype=torch.float32).get_submodule(top).weight.data
    energy = {fmt: float(((back - weight) ** 2).sum()) for fmt, back in (
        ("mxfp4", formats.dequantize_mxfp4(formats.quantize_mxfp4(weight))),
        ("int8-rtn", formats.dequantize_int8(formats.quantize_int8(weight, True, None), None)))}
    assert found["relative_error"][top]["int8-rtn"] == pytest.approx(energy["int8-rtn"] / energy["mxfp4"], rel=1e-4)
    assert found["relative_error"][top]["mxfp4"] == 1.0


def test_an_hf_mix_stores_each_layer_in_the_format_chosen_within_its_budget(hf_map, tiny):
    import torch
    from safetensors import safe_open

    from studio.config import Settings
    from studio.models import read_model_facts
    from studio.recipes import get, packed
    from studio.recipes.hf_auto import choose
    from studio.sensitivity import read_map_file
    from tests.conftest import run_cli
    env, found = hf_map
    proc = run_cli(["quantize", "--model", str(tiny), "--recipe", "hf-auto", "--option", "hf-auto.target_bpw=10",
                    "--ctx", "128", "--max-chunks", "2", "--prompt", "Hi", "--max-new-tokens", "4", "--wait",
                    "--json"], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [row] = json.loads(proc.stdout)
    settings = Settings.from_env(env["STUDIO_WORKSPACE"])
    model = read_model_facts(tiny, settings)
    mix = choose(model, {"target_bpw": 10.0, "max_kld": 0.0}, read_map_file(settings.model_cache_dir / model.key, "hf"))
    assert len(set(mix.types.values())) >= 2, mix.types  # a real mix, not one format everywhere
    assert row["recipe"] == "hf:auto@10bpw" and row["kld_mean"] > 0 and row["family"] == "hf"
    assert row["made_with"]["tensor_types"] == mix.types and row["made_with"]["sensitivity_job"] == found[
        "sensitivity_job"]
    artifact = packed.read_metadata(Path(row["artifact"]))
    assert artifact["mix"] == {layer: fmt for layer, fmt in mix.types.items() if fmt != "16-bit"}
    with safe_open(f"{row['artifact']}/model.safetensors", framework="pt") as stored:
        linear_bytes = sum(stored.get_tensor(n).nbytes for n in stored.keys()
                           if any(n.startswith(layer + ".weight") for layer in mix.types))
    elements = sum(rows * cols for _, rows, cols in model.shape.linears())
    assert linear_bytes == mix.size_bytes <= elements * 10 / 8
    loaded = get("hf-auto").load(Path(row["artifact"]), "cpu")
    from transformers import AutoModelForCausalLM
    original = AutoModelForCausalLM.from_pretrained(str(tiny), dtype=torch.float16)
    round_trip = {"int8-rtn": lambda w: formats.dequantize_int8(formats.quantize_int8(w, True, None), None),
                  "fp8": lambda w: formats.dequantize_fp8(formats.quantize_fp8(w, "e4m3", False)),
                  "nvfp4": lambda w: formats.dequantize_nvfp4(formats.quantize_nvfp4(w)),
                  "mxfp4": lambda w: formats.dequantize_mxfp4(formats.quantize_mxfp4(w)),
                  "16-bit": lambda w: w}
    for layer, fmt in mix.types.items():
        expected = round_trip[fmt](original.get_submodule(layer).weight.data).float()
        assert torch.equal(loaded.get_submodule(layer).weight.data, expected), (layer, fmt)
