"""The memory planner against the reference table, and the recommendations against the decision table."""
from __future__ import annotations

import json

import pytest

from studio import planner, recommend
from studio.hardware import CudaDevice, Hardware
from tests.conftest import run_cli

REFERENCE_70B = {"FP32": 280, "FP16/BF16": 140, "INT8/FP8": 70, "INT4": 35}  # quantization-overview.md


def test_cli_reproduces_the_reference_table_for_70b(workspace_env):
    proc = run_cli(["plan", "--params", "70B", "--context", "8192", "--batch", "1", "--memory-gb", "80", "--json"],
                   workspace_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = {r["precision"]: r for r in json.loads(proc.stdout)}
    assert {k: rows[k]["weights_gb"] for k in REFERENCE_70B} == REFERENCE_70B
    assert {k: rows[k]["bits"] for k in REFERENCE_70B} == {"FP32": 32, "FP16/BF16": 16, "INT8/FP8": 8, "INT4": 4}
    # Llama-3-70B's KV cache: 2 x 80 layers x 8 KV heads x 128 x 8192 tokens x 2 bytes.
    assert rows["INT4"]["kv_cache_gb"] == pytest.approx(2 * 80 * 8 * 128 * 8192 * 2 / 1e9, abs=1e-3)
    assert (rows["FP16/BF16"]["fits"], rows["FP16/BF16"]["gpus_needed"]) == (False, 2)
    assert (rows["INT8/FP8"]["fits"], rows["INT4"]["fits"], rows["FP32"]["gpus_needed"]) == (True, True, 4)


def test_kv_cache_scales_with_context_and_batch():
    shape = planner.nearest_shape(8e9)
    one = planner.plan(8e9, shape, context=4096, batch=1)[0].kv_cache_gb
    assert planner.plan(8e9, shape, context=8192, batch=4)[0].kv_cache_gb == pytest.approx(8 * one, rel=1e-3)


def test_a_checkpoint_gives_its_own_shape(settings, smol):
    from studio import service
    params, shape = service.plan_inputs(settings, None, str(smol))
    assert params == 134_515_008
    assert (shape.layers, shape.kv_heads, shape.head_dim) == (30, 3, 64)


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
