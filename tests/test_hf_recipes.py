"""HF-format recipes end to end through the queue: quantize, save, reload, evaluate on the same
tokens as the base; the studio's perplexity checked against an independent transformers loop."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from studio import recipes
from studio.recipes import formats
from tests.conftest import HF_RECIPES_TINY, run_snippets

E2M1 = {0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0}


def by_recipe(rows: list[dict]) -> dict[str, dict]:
    return {r["recipe"]: r for r in rows}


def test_every_recipe_runs_on_the_tiny_model(tiny_hf_run):
    rows = tiny_hf_run["rows"]
    assert [r["status"] for r in rows] == ["done"] * len(rows), [r.get("error") for r in rows]
    assert sorted({r["recipe"] for r in rows}) == sorted(HF_RECIPES_TINY)
    for r in rows:
        assert r["base"] == "hf:base (checkpoint)" and r["family"] == "hf"
        assert Path(r["artifact"]).is_dir() and r["size_bytes"] > 0
        assert r["quant_seconds"] > 0 and r["load_seconds"] > 0
        assert np.isfinite(r["ppl"]) and r["kld_mean"] >= 0 and 0 <= r["same_top_pct"] <= 100
        assert r["emulated"] == (r["recipe"] in {"int8-rtn", "fp8", "nvfp4", "mxfp4"})


def test_sizes_follow_the_bit_widths(tiny_hf_run):
    rows = by_recipe(tiny_hf_run["rows"][:len(HF_RECIPES_TINY)])
    # Embeddings stay 16-bit, so bits/weight sit above the nominal width, but the order holds.
    assert rows["mxfp4"]["size_bytes"] < rows["nvfp4"]["size_bytes"] < rows["int8-rtn"]["size_bytes"]
    assert rows["bnb-nf4"]["size_bytes"] < rows["bnb-int8"]["size_bytes"]
    for r in rows.values():
        files = [p for p in Path(r["artifact"]).iterdir() if p.suffix == ".safetensors"]
        assert r["size_bytes"] == sum(p.stat().st_size for p in files)
        assert r["bpw"] == pytest.approx(r["size_bytes"] * 8 / r["n_params"])


def test_packed_artifacts_hold_the_formats_exactly(tiny_hf_run):
    rows = by_recipe(tiny_hf_run["rows"][:len(HF_RECIPES_TINY)])
    name = "model.layers.0.mlp.down_proj.weight"
    with safe_open(str(Path(rows["nvfp4"]["artifact"]) / "model.safetensors"), framework="pt") as f:
        parts = {k: f.get_tensor(f"{name}.{k}") for k in ("qweight", "block_scale", "tensor_scale", "in_features")}
        assert ("model.embed_tokens.weight" in f.keys()
                and f.get_tensor("model.embed_tokens.weight").dtype == torch.float16)
    values = formats.dequantize_nvfp4(parts).reshape(parts["block_scale"].shape[0], -1, 16)
    unit = values / (parts["block_scale"].float() * parts["tensor_scale"]).unsqueeze(-1)
    assert set(unit.abs().flatten().round(decimals=4).tolist()) <= E2M1
    with safe_open(str(Path(rows["mxfp4"]["artifact"]) / "model.safetensors"), framework="pt") as f:
        assert f.get_tensor(f"{name}.scale_e8m0").dtype == torch.uint8
    fp8 = Path(rows["fp8"]["artifact"])
    with safe_open(str(fp8 / "model.safetensors"), framework="pt") as f:  # transformers' own FP8 layout
        assert f.get_tensor(name).dtype == torch.float8_e4m3fn
        assert f.get_tensor(name.replace(".weight", ".weight_scale_inv")).numel() == 1  # per-tensor by default
    assert json.loads((fp8 / "config.json").read_text())["quantization_config"]["quant_method"] == "fp8"


def test_fp8_loads_with_plain_transformers(tiny_hf_run):
    from transformers import AutoModelForCausalLM
    row = by_recipe(tiny_hf_run["rows"][:len(HF_RECIPES_TINY)])["fp8"]
    model = AutoModelForCausalLM.from_pretrained(row["artifact"], dtype=torch.float32, device_map="cpu").float()
    with safe_open(str(Path(row["artifact"]) / "model.safetensors"), framework="pt") as f:
        name = "model.layers.1.self_attn.k_proj"
        expected = f.get_tensor(f"{name}.weight").float() * f.get_tensor(f"{name}.weight_scale_inv").float()
    # On a CPU transformers expands the FP8 weights: exactly q x scale.
    assert torch.equal(model.get_submodule(name).weight.float(), expected)


def test_w8a8_runs_fp8_matmuls(tiny_hf_run):
    w8a8 = [r for r in tiny_hf_run["rows"] if r["recipe"] == "fp8"][1]
    model = recipes.get("fp8").load(Path(w8a8["artifact"]), "cpu")
    layer = model.model.layers[0].self_attn.q_proj
    assert type(layer).__name__ == "FP8Linear"
    x = torch.randn(3, layer.qweight_t.shape[0])
    xs = x.abs().amax(dim=1, keepdim=True) / 448
    reference = ((x / xs).to(torch.float8_e4m3fn).float() * xs) @ (layer.qweight_t.float() * layer.scale_b)
    assert torch.allclose(layer(x), reference, rtol=1e-4, atol=1e-5)


# -- the real model ------------------------------------------------------------------------------

def independent_ppl(model, tokenizer_dir: Path, text: str, n_ctx: int, n_chunks: int) -> float:
    """llama-perplexity's scoring written out again: each chunk from scratch, second half scored."""
    from transformers import AutoTokenizer
    ids = AutoTokenizer.from_pretrained(str(tokenizer_dir))(text).input_ids
    nll = []
    for i in range(n_chunks):
        chunk = torch.tensor([ids[i * n_ctx:(i + 1) * n_ctx]])
        with torch.no_grad():
            logp = torch.log_softmax(model(chunk).logits[0].double(), dim=-1)
        first = n_ctx // 2
        targets = chunk[0, first + 1:]
        nll.append(-logp[first:n_ctx - 1].gather(1, targets.unsqueeze(1)).squeeze(1))
    return float(torch.exp(torch.cat(nll).mean()))


def textbook_reload(artifact: Path, base: Path):
    """The base model filled from the artifact, each packed layer with the textbook dequantization, written
    here independently of the studio's loader (the other tensors as stored: 16-bit)."""
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    with safe_open(str(artifact / "model.safetensors"), framework="pt") as f:
        meta = f.metadata()
        options = json.loads(meta["studio_options"])
        layers = json.loads(meta["studio_layers"])
        for name in f.keys():
            if not any(name.startswith(f"{layer}.weight") for layer in layers):
                model.get_parameter(name).data.copy_(f.get_tensor(name).float())
        for name in layers:
            packed = f"{name}.weight.qweight" in f.keys()
            q = f.get_tensor(f"{name}.weight.qweight" if packed else f"{name}.weight").float()
            scale = f.get_tensor(f"{name}.weight.scale" if packed else f"{name}.weight_scale_inv").float().reshape(-1)
            if meta["studio_recipe"] == "int8-rtn":
                assert options["granularity"] == "per-channel" and options["scheme"] == "symmetric"
                weight = q * scale[:, None]
            else:
                weight = q * (scale[:, None] if scale.numel() > 1 else scale)
            model.get_submodule(name).weight.data.copy_(weight)
    return model.eval()


def independent_reload(recipe: str, artifact: Path, base: Path):
    """The artifact loaded without the studio: the textbook dequantization for the studio's own formats,
    plain transformers for the formats it reads (bitsandbytes, GPTQ)."""
    from transformers import AutoModelForCausalLM
    if recipe in ("int8-rtn", "fp8"):
        return textbook_reload(artifact, base)
    return AutoModelForCausalLM.from_pretrained(str(artifact), device_map="cpu", dtype=torch.float32).eval()


@pytest.mark.parametrize("recipe", ["bnb-nf4", "bnb-int8", "gptq", "int8-rtn", "fp8"])
def test_tiny_model_ppl_matches_an_independent_loop(tiny_hf_run, tiny, eval_text, recipe):
    """The same check as on SmolLM2 below (slow), on the tiny model's 2 chunks of 128: the studio's
    perplexity is the one an independent loop computes from the artifact."""
    row = by_recipe(tiny_hf_run["rows"][:len(HF_RECIPES_TINY)])[recipe]
    assert row["status"] == "done" and row["n_chunks"] == 2
    model = independent_reload(recipe, Path(row["artifact"]), tiny)
    ppl = independent_ppl(model, tiny, eval_text.read_text(encoding="utf-8"), 128, 2)
    assert row["ppl"] == pytest.approx(ppl, rel=1e-4)


# SmolLM2 through the HF recipes takes ~9 min of the fixture and ~5 min of independent loops on 2 cores:
# `make test-slow` runs it; the tiny model above keeps every recipe and the independent check in `make test`.
@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["bnb-nf4", "bnb-int8", "gptq", "int8-rtn", "fp8"])
def test_real_model_ppl_matches_an_independent_loop(smol_hf_run, smol, eval_text, recipe):
    row = by_recipe(smol_hf_run["rows"])[recipe]
    assert row["status"] == "done" and row["n_chunks"] == 4
    model = independent_reload(recipe, Path(row["artifact"]), smol)
    ppl = independent_ppl(model, smol, eval_text.read_text(encoding="utf-8"), 512, 4)
    assert row["ppl"] == pytest.approx(ppl, rel=1e-4)


@pytest.mark.slow
def test_real_model_base_and_quality_order(smol_hf_run, smol, eval_text):
    from transformers import AutoModelForCausalLM
    base = [r for r in smol_hf_run["all"] if r["is_base"] and r["family"] == "hf"]
    assert len(base) == 1
    model = AutoModelForCausalLM.from_pretrained(str(smol), dtype=torch.float32).eval()
    assert base[0]["ppl"] == pytest.approx(independent_ppl(model, smol, eval_text.read_text(encoding="utf-8"), 512, 4),
                                           rel=1e-4)
    rows = by_recipe(smol_hf_run["rows"])
    # 8-bit formats stay close to the base; 4-bit ones move further (KLD measures it directly).
    for eight in ("int8-rtn", "bnb-int8", "fp8"):
        assert abs(rows[eight]["ppl_delta_pct"]) < 5
        assert rows[eight]["kld_mean"] < rows["bnb-nf4"]["kld_mean"]
    assert rows["gptq"]["bpw"] < rows["int8-rtn"]["bpw"]


def test_every_load_snippet_runs_as_shown(tiny_hf_run):
    """Compare's "Load …" snippet of every HF-format result, pasted as it is into a Python started in the studio's
    folder, loads the artifact."""
    rows = [r for r in tiny_hf_run["rows"] if r["status"] == "done"]
    assert {r["recipe"].split(":")[0] for r in rows} >= {"int8-rtn", "fp8", "nvfp4", "mxfp4", "bnb-nf4", "gptq"}
    run_snippets([r["load_snippet"] for r in rows], tiny_hf_run["env"])
