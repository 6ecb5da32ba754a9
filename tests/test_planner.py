"""The memory planner against the reference table, and the recommendations against the decision table."""
from __future__ import annotations

import json

import pytest

from studio import architecture, planner, recommend
from studio.hardware import CudaDevice, Hardware
from tests.conftest import run_cli

REFERENCE_70B = {"fp32": 280, "bf16": 140}  # quantization-overview.md: 70 B at 32 and 16 bits


def test_cli_reproduces_the_reference_table_for_70b(workspace_env):
    proc = run_cli(["plan", "--params", "70B", "--context", "8192", "--batch", "1", "--memory-gb", "80", "--json"],
                   workspace_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = {r["format"]: r for r in json.loads(proc.stdout)}
    assert {k: rows[k]["weights_gb"] for k in REFERENCE_70B} == REFERENCE_70B
    # Llama-3-70B's KV cache: 2 x 80 layers x 8 KV heads x 128 x 8192 tokens x 2 bytes.
    assert rows["bf16"]["kv_cache_gb"] == pytest.approx(2 * 80 * 8 * 128 * 8192 * 2 / 1e9, abs=1e-3)
    assert (rows["bf16"]["fits"], rows["bf16"]["gpus_needed"], rows["fp32"]["gpus_needed"]) == (False, 2, 4)
    # Real widths, not nominal ones: 8-bit formats carry scales and 16-bit embeddings, and llama.cpp's Q4_K_M
    # keeps attn_v, a third of ffn_down and the output at Q6_K. Published 70 B Q4_K_M files weigh 42.5 GB
    # for 70.6 B parameters (the typed 70 B scales it to 42.2).
    assert 8.1 < rows["int8-rtn"]["bits_per_weight"] < 8.4 and 4.7 < rows["gguf:Q4_K_M"]["bits_per_weight"] < 4.9
    assert rows["gguf:Q4_K_M"]["weights_gb"] == pytest.approx(42.5 * 70 / 70.55, rel=0.01)
    assert [r["bits_per_weight"] for r in rows.values()] == sorted((r["bits_per_weight"] for r in rows.values()),
                                                                    reverse=True)


def test_kv_cache_scales_with_context_batch_and_type():
    model = planner.Model.typed(8e9, architecture.nearest(8e9))
    one = planner.plan(model, context=4096, batch=1)[0].kv_cache_gb
    assert planner.plan(model, context=8192, batch=4)[0].kv_cache_gb == pytest.approx(8 * one, rel=1e-3)
    f16 = planner.kv_cache_bytes(model.shape, 4096)
    assert planner.kv_cache_bytes(model.shape, 4096, kv_type="q8_0") == f16 * 34 // 64  # 34 bytes a block of 32
    assert planner.kv_cache_bytes(model.shape, 4096, kv_type="fp8") == f16 // 2


def test_sliding_window_layers_keep_their_window():
    """Gemma 2 (2 B): 13 of 26 layers attend to 4,096 tokens; at 32 k they hold 4,096 + a 512-token batch."""
    config = {"model_type": "gemma2", "hidden_size": 2304, "num_hidden_layers": 26, "num_attention_heads": 8,
              "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 256000, "sliding_window": 4096,
              "intermediate_size": 9216, "tie_word_embeddings": True}
    shape = architecture.Architecture.from_config(config)
    per_cell_layer = 2 * 4 * 256 * 2
    assert planner.kv_cache_bytes(shape, 32768) == per_cell_layer * (13 * 32768 + 13 * 4608)
    assert planner.kv_cache_bytes(shape, 32768, windowed=False) == per_cell_layer * 26 * 32768
    assert planner.kv_cache_bytes(shape, 2000) == per_cell_layer * 26 * 2048  # cells padded to 256


def test_a_checkpoint_gives_its_own_shape(settings, smol):
    from studio import service
    model = service.plan_model(settings, None, str(smol))
    assert model.params == 134_515_008
    assert (model.shape.layers, model.shape.kv_heads, model.shape.head_dim) == (30, 3, 64)


def test_the_planner_and_the_preflight_say_the_same_weights(settings, smol, eval_text):
    """One figure: the planner's row for a checkpoint is the disk figure the preflight gives the job."""
    from studio import service
    from studio.preflight import run_preflight
    model = service.plan_model(settings, None, str(smol))
    rows = {r.format: r for r in planner.plan(model)}
    specs = [f for f in planner.FORMATS if f not in planner.REFERENCE_BITS and not f.startswith(("bnb", "gptq", "awq"))]
    plan = run_preflight(settings, str(smol), specs, eval_text, 512, 4)
    assert len(plan.jobs) == len(specs)
    for spec, job in zip(specs, plan.jobs):
        assert rows[spec].weights_gb == pytest.approx(job.output_bytes / 1e9, abs=1e-3), job.label


@pytest.mark.parametrize("args, message", [
    (["--params", "seventy"], "write a number with an optional K/M/B/T suffix"),
    (["--params", "0B"], "must be positive"),
    (["--params", "7B", "--context", "0"], "context and batch must be at least 1"),
    ([], "give --params"),
])
def test_bad_planner_input_is_refused(workspace_env, args, message):
    proc = run_cli(["plan", *args], workspace_env, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr


def hw(cc: float | None) -> Hardware:
    gpus = (CudaDevice(0, "gpu", cc, 80 * 2**30),) if cc else ()
    return Hardware("cpu", 2, 24 * 2**30, 20 * 2**30, 100 * 2**30, gpus)


@pytest.mark.parametrize("goal, cc, first", [
    ("fine-tuning", None, "bnb-nf4"), ("quality", 8.0, "awq"), ("fast-quantization", 8.0, "gptq"),
    ("ollama", None, "gguf:Q4_K_M"), ("vllm", 9.0, "fp8"), ("vllm", 8.0, "awq"), ("smallest", 10.0, "nvfp4"),
    ("smallest", None, "gguf:Q3_K_M"),
])
def test_recommendations_follow_the_decision_table(goal, cc, first):
    from studio import recipes
    rec = recommend.recommend(goal, hw(cc))
    assert rec.recipes[0] == first and rec.why
    for spec in rec.recipes:  # every preset is a recipe the New-job form can queue
        recipes.parse_recipe_spec(spec)
    if cc is None and goal in {"fine-tuning", "quality", "fast-quantization"}:
        assert "CPU" in rec.caveat


def test_fits_with_under_ten_percent_free_is_tight():
    """70 B at 8 K tokens on an 80 GB card: every row says fits, tight (under 10 % free) or needs more cards, as
    its own figures give it."""
    model = planner.Model.typed(70e9, architecture.KNOWN["Llama-3.1-70B"])
    rows = planner.plan(model, 8192, 1, 80.0)
    for r in rows:
        free = 1 - r.total_gb / 80.0
        assert r.fits == (free >= 0) and r.tight == (0 <= free < planner.HEADROOM), r
    assert any(r.tight for r in rows) and any(r.fits and not r.tight for r in rows)


def test_recommendations_come_from_measured_results_when_there_are_some():
    measured = [recommend.Measured("gguf:Q4_K_M", "gguf:Q4_K_M", 4.9, 0.031, 6.0),
                recommend.Measured("awq", "awq", 4.6, 0.052, 900.0),
                recommend.Measured("gptq", "gptq", 4.4, 0.047, 300.0),
                recommend.Measured("gguf:Q8_0", "gguf:Q8_0", 8.5, 0.002, 4.0)]
    quality = recommend.recommend("quality", hw(8.0), measured)
    assert quality.measured and quality.recipes == ("gguf:Q4_K_M", "gptq") and "0.0310" in quality.why
    fast = recommend.recommend("fast-quantization", hw(None), measured)
    assert fast.recipes == ("gguf:Q8_0", "gguf:Q4_K_M") and fast.measured
    # Without results, on a CPU: the table's answer agrees with its own caveat.
    table = recommend.recommend("fast-quantization", hw(None))
    assert not table.measured and table.recipes[0] != "gptq" and "GPTQ" in table.caveat


# Gemma 3 270M's config.json (transformers 5 writes `layer_types`; older ones `sliding_window_pattern: 6`).
GEMMA3_270M = {"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "hidden_size": 640,
               "intermediate_size": 2048, "num_hidden_layers": 18, "num_attention_heads": 4, "num_key_value_heads": 1,
               "head_dim": 256, "vocab_size": 262144, "sliding_window": 512, "tie_word_embeddings": True,
               "layer_types": (["sliding_attention"] * 5 + ["full_attention"]) * 3}


@pytest.mark.parametrize("config", [
    GEMMA3_270M,
    {**{k: v for k, v in GEMMA3_270M.items() if k != "layer_types"}, "sliding_window_pattern": 6},
    {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "text_config": GEMMA3_270M},
])
def test_gemma3_has_its_four_extra_norms_and_five_windowed_layers_in_six(config):
    """llama.cpp's file of Gemma 3 270M: 236 tensors, 268,098,176 parameters (the checkpoint's safetensors count),
    each layer with attn_q_norm and attn_k_norm (head_dim wide) and post_attention_norm and post_ffw_norm."""
    shape = architecture.Architecture.from_config(config)
    names = {t.name: t.ne for t in shape.tensors()}
    assert len(names) == 236 and shape.n_params == 268_098_176
    assert names["blk.17.attn_q_norm.weight"] == names["blk.17.attn_k_norm.weight"] == (256,)
    assert names["blk.0.post_attention_norm.weight"] == names["blk.0.post_ffw_norm.weight"] == (640,)
    assert "output.weight" not in names  # tied
    assert (shape.sliding_window, shape.sliding_layers) == (512, 15)


def test_gemma2_has_its_post_norms_but_no_qk_norms():
    config = {"model_type": "gemma2", "hidden_size": 2304, "num_hidden_layers": 26, "num_attention_heads": 8,
              "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 256000, "sliding_window": 4096,
              "intermediate_size": 9216, "tie_word_embeddings": True}
    names = {t.name for t in architecture.Architecture.from_config(config).tensors()}
    assert "blk.25.post_ffw_norm.weight" in names and not any("attn_q_norm" in n for n in names)
