"""Hardware gating and shape checks of the recipes: refused with the reason, alternatives offered."""
from __future__ import annotations

import pytest

from studio import hardware, recipes
from studio.hardware import CudaDevice, Hardware
from studio.memory import Budget
from studio.stages import Stage
from tests.conftest import run_cli


def machine(*capabilities: float) -> Hardware:
    gpus = tuple(CudaDevice(i, f"GPU{i}", cc, 80 * 2**30) for i, cc in enumerate(capabilities))
    return Hardware(cpu="test", cores=2, ram_bytes=24 * 2**30, ram_available_bytes=20 * 2**30,
                    disk_free_bytes=100 * 2**30, cuda=gpus)


def reason(spec: str, hw: Hardware, **overrides) -> str | None:
    recipe, options = recipes.parse_recipe_spec(spec, {f"{spec}.{k}": v for k, v in overrides.items()})
    return hardware.check(recipe.requirements_for(options), hw)


@pytest.mark.parametrize("spec, overrides, cc, expected", [
    ("fp8", {"execution": "native"}, None,
     "needs an NVIDIA GPU with CUDA; none detected; run fp8 with execution=emulated"),
    ("fp8", {"execution": "native"}, 8.0, "needs compute capability ≥ 8.9; the best GPU here has 8.0"),
    ("fp8", {"execution": "native"}, 9.0, None),
    ("fp8", {"execution": "emulated"}, None, None),
    ("nvfp4", {"execution": "native"}, 9.0, "needs compute capability ≥ 10.0; the best GPU here has 9.0; run nvfp4 "
                                            "with execution=emulated"),
    ("mxfp4", {"execution": "native"}, None, "run mxfp4 with execution=emulated"),
    ("nvfp4", {"execution": "native"}, 10.0, "does not drive native NVFP4 kernels yet (same weights, float matmul in "
                                             "emulation); run nvfp4 with execution=emulated"),
    ("nvfp4", {}, None, None),
    ("bnb-int8", {}, 7.0, "its CUDA kernels need compute capability ≥ 7.5; the GPU here has 7.0"),
    ("bnb-int8", {}, None, None),  # bitsandbytes' CPU backend
    ("bnb-nf4", {}, 6.1, None),
    ("awq", {}, 6.1, "need compute capability ≥ 7.5"),
])
def test_capability_rules(spec, overrides, cc, expected):
    got = reason(spec, machine(cc) if cc else machine(), **overrides)
    if expected is None:
        assert got is None
    else:
        assert got is not None and expected in got


def test_support_matrix_lists_native_and_emulated_modes():
    rows = {(r.recipe, r.mode): r.reason for r in hardware.support_matrix(machine())}
    assert rows[("fp8", "emulated")] is None and "none detected" in rows[("fp8", "native")]
    assert rows[("nvfp4", "emulated")] is None and rows[("nvfp4", "native")] is not None
    assert rows[("gptq", "")] is None and rows[("bnb-nf4", "")] is None
    blackwell = {(r.recipe, r.mode): r.reason for r in hardware.support_matrix(machine(10.0))}
    assert blackwell[("fp8", "native")] is None and "does not drive" in blackwell[("nvfp4", "native")]


def test_every_recipe_names_the_libraries_its_quantize_imports():
    """The runner imports them before it times the quantization: a wrong name fails every job of the recipe."""
    import importlib.util

    for name, entry in recipes.entries().items():
        for mode, options in entry.recipe.execution_modes():
            modules = entry.recipe.runtime_modules(options)
            assert all(importlib.util.find_spec(m) for m in modules), (name, mode, modules)
            assert ("torch" in modules) == (entry.recipe.family.name == "hf"), (name, modules)


@pytest.mark.parametrize("cc, dtype, expected", [(8.0, "fp16", "compute_dtype=bf16"), (8.0, "bf16", None),
                                                 (7.5, "fp16", None), (None, "fp16", None)])
def test_compute_dtype_advice(cc, dtype, expected):
    recipe, options = recipes.parse_recipe_spec("bnb-nf4", {"bnb-nf4.compute_dtype": dtype})
    notes = recipe.advice(options, machine(cc) if cc else machine())
    assert (expected in notes[0]) if expected else notes == []


def facts(n_params: int, hidden: int):
    from pathlib import Path

    from studio.models import ModelFacts
    return ModelFacts(Path("/m"), "k", "LlamaForCausalLM", "llama", n_params, hidden, 32000, n_params * 2, False)


def test_memory_estimate_refuses_with_numbers():
    from studio.preflight import _memory_problems
    recipe, options = recipes.parse_recipe_spec("gptq", {"gptq.samples": "128", "gptq.seq_len": "2048"})
    small = Hardware(cpu="test", cores=2, ram_bytes=24 * 2**30, ram_available_bytes=20 * 2**30,
                     disk_free_bytes=100 * 2**30)
    seven_b = facts(7_000_000_000, 4096)
    need = recipe.estimate_memory_bytes(seven_b, options, Budget(small.ram_available_bytes))
    # GPTQModel's layer loop holds 128 x 2048 calibration activations (16 GiB); the model loaded in transformers
    # to be evaluated holds its float32 weights (28 GB): the heavier of the two stages is what is refused
    assert need > max(128 * 2048 * 4096 * 4 * 4, 7e9 * 4)
    [why] = _memory_problems(recipe, seven_b, options, small)
    assert why == (f"needs about {need / 2**30:.1f} GiB of available RAM at its evaluate stage (7.00 B parameters), "
                   "20.0 GiB here")
    assert _memory_problems(recipe, facts(135_000_000, 576), options, small) == []
    fewer = recipes.parse_recipe_spec("gptq", {"gptq.samples": "16", "gptq.seq_len": "256"})[1]
    budget = Budget(small.ram_available_bytes)
    quantize = recipe.memory_by_stage(seven_b, options, budget)[Stage.QUANTIZE]
    assert recipe.memory_by_stage(seven_b, fewer, budget)[Stage.QUANTIZE] < quantize  # calibration counts
    assert _memory_problems(recipe, seven_b, options, machine(9.0)) == []  # 80 GB of GPU memory


@pytest.mark.parametrize("args, expected", [
    (["--recipe", "gptq", "--option", "gptq.group_size=128"], "group_size 128 does not divide the hidden size 576; "
                                                               "use group_size=64"),
    (["--recipe", "gptq", "--option", "gptq.bits=5"], "bits: '5' is not one of 2, 3, 4, 8"),
    (["--recipe", "gptq", "--option", "gptq.group_size=7"], "group_size: '7' is not one of 32, 64, 128, -1"),
    (["--recipe", "bnb-int8", "--option", "bnb-int8.threshold=-1"], "threshold: -1.0 is below the minimum 0.0"),
    (["--recipe", "fp8", "--option", "fp8.execution=native"], "run fp8 with execution=emulated"),
    (["--recipe", "nvfp4", "--option", "nvfp4.execution=native"], "run nvfp4 with execution=emulated"),
    (["--recipe", "fp8", "--option", "fp8.activations=w8a8", "--option", "fp8.format=e5m2"], "use format=e4m3"),
    (["--recipe", "awq", "--option", "awq.calibration=/etc/passwd"], "outside the allowed folders"),
])
def test_cli_refuses_bad_recipe_options(workspace_env, smol, args, expected):
    proc = run_cli(["quantize", "--model", str(smol), *args], workspace_env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert "queued" not in proc.stderr


def test_an_uploaded_calibration_text_feeds_every_recipe_that_calibrates(settings, tmp_path):
    from pathlib import Path

    from components.new_job import BUILTIN, _request
    source = tmp_path / "my calibration.txt"
    source.write_text("The quick brown fox jumps over the lazy dog. " * 400, encoding="utf-8")
    keys = [("gguf", "imatrix_text"), ("gptq", "calibration"), ("gptq", "samples"), ("awq", "calibration")]
    req = _request(settings, keys, "model", ["Q2_K"], ["gptq", "awq"], True, " /a/file.gguf \n\n", BUILTIN, None,
                   str(source), 512, 2, False, "Hi", 8, "builtin", "builtin", 16, "/typed/by/hand.txt")
    assert req.recipes == ("gguf:Q2_K", "gptq", "awq", "gguf-auto", "gguf-file:/a/file.gguf")  # a job per file
    overrides = dict(req.overrides)
    saved = Path(overrides["gptq.calibration"])
    assert overrides["gguf.imatrix_text"] == str(saved) and saved.parent == settings.uploads_dir
    assert saved.read_text(encoding="utf-8") == source.read_text(encoding="utf-8") and " " not in saved.name
    assert overrides["awq.calibration"] == "/typed/by/hand.txt"  # a path the user typed stays
    assert overrides["gptq.samples"] == 16
    recipe, options = recipes.parse_recipe_spec("gptq", overrides)
    assert recipe.preflight(facts(135_000_000, 576), options, settings) == []
