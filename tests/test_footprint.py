"""What a model weighs in each format, before it is made: the per-tensor GGUF type mix against llama.cpp's own
choices (`llama-quantize --dry-run`, on SmolLM2's real F16 file and on header-only files of real shapes up to
405 B), and every estimate against the files the studio wrote."""
from __future__ import annotations

import collections
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from studio import gguf_mix, planner, recipes
from studio.architecture import KNOWN, Architecture
from studio.config import Settings
from studio.llamacpp import convert_command, ensure_tools
from studio.recipes.gguf import NEEDS_IMATRIX
from studio.models import read_model_facts
from studio.stages import StageContext
from tests.conftest import HF_RECIPES_TINY
from tests.gguf_headers import write_flat_imatrix, write_header_only_gguf

FILE_TYPES = [t for t in gguf_mix.DEFAULT_TYPE if t not in ("F16", "BF16")]
# llama-quantize's line per tensor: "[  3/272] blk.0.attn_k.weight - [576, 192, 1, 1], type = f16, size = … (q5_0)"
TENSOR_LINE = re.compile(r"\]\s+(\S+)\s+- \[.*?\], type =\s+(\w+), size =.*?(?:\((\w+)\))?$")
QUANT_SIZE = re.compile(r"quant size\s*=\s*([\d.]+) MiB")
SHAPES = {
    "Llama-3.2-1B": KNOWN["Llama-3.2-1B"],
    "Llama-2-7B": KNOWN["Llama-2-7B"],  # one KV head per query head: attn_v gets no GQA bump
    "Llama-3.1-8B": KNOWN["Llama-3.1-8B"],
    "Llama-3.1-70B": KNOWN["Llama-3.1-70B"],  # llama.cpp's own 70 B rule for attn_v
    "Mixtral-8x7B": Architecture(32, 4096, 14336, 32, 8, 128, 32000, False, experts=8),
    "Qwen2-0.5B": Architecture(24, 896, 4864, 14, 2, 64, 151936, True, qkv_bias=True),
}


def dry_run(tools: Path, f16: Path, file_type: str, imatrix: Path | None = None) -> tuple[dict[str, str], float]:
    extra = ["--imatrix", str(imatrix)] if imatrix else []
    proc = subprocess.run([str(tools / "llama-quantize"), "--dry-run", *extra, str(f16), file_type],
                          capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    types = {m.group(1): (m.group(3) or m.group(2)).upper() for m in map(TENSOR_LINE.search, log.splitlines()) if m}
    assert types and proc.returncode == 0, log[-2000:]
    return types, float(QUANT_SIZE.search(log).group(1)) * 2**20


def by_category(types: dict[str, str]) -> collections.Counter:
    """llama.cpp numbers attn_v and ffn_down in its file's order (blk.10 before blk.2): compare how many tensors
    of each kind get each type, which fixes the size, rather than which layer gets which."""
    return collections.Counter((re.sub(r"^blk\.\d+\.", "", name), t) for name, t in types.items())


@pytest.fixture(scope="module")
def tools(studio_cache) -> Path:
    return ensure_tools(studio_cache, log=lambda line: None)


@pytest.fixture(scope="module")
def smol_f16(tmp_path_factory, studio_cache, smol) -> Path:
    out = tmp_path_factory.mktemp("footprint") / "smol-f16.gguf"
    cmd, env = convert_command(studio_cache, smol, out)
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=900)
    return out


@pytest.fixture(scope="module")
def smol_facts(smol, monkeypatch_module):
    monkeypatch_module.setenv("STUDIO_MODEL_DIRS", str(smol.parent))
    return read_model_facts(smol, Settings.from_env())


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.mark.parametrize("imatrix", [False, True], ids=["plain", "imatrix"])
def test_every_file_type_on_smollm2_gets_llama_cpps_own_mix(tools, smol_f16, smol_facts, tmp_path, imatrix):
    matrix = write_flat_imatrix(tmp_path / "flat.imatrix", smol_facts.shape) if imatrix else None
    for file_type in FILE_TYPES:
        types, quant_bytes = dry_run(tools, smol_f16, file_type, matrix)
        predicted = gguf_mix.tensor_types(smol_facts.shape, file_type, gguf_mix.Overrides(imatrix=imatrix))
        assert by_category(predicted) == by_category(types), file_type
        size = gguf_mix.gguf_size(smol_facts.shape, file_type, gguf_mix.Overrides(imatrix=imatrix))
        assert size.tensor_bytes == pytest.approx(quant_bytes, rel=1e-3, abs=0.01 * 2**20), file_type


def test_gemma3_s_file_is_the_tensors_counted_and_gets_llama_cpps_own_mix(tools, gemma3, studio_cache, tmp_path):
    """A second real architecture, converted by llama.cpp: every tensor's name and shape as counted from its
    config (q/k norms and post-norms included), and each plain file type's mix and size as llama-quantize chooses
    them (640-wide rows: the k-quants fall back to 32-wide types)."""
    from studio.gguf_header import read_layout
    f16 = tmp_path / "gemma3-f16.gguf"
    cmd, env = convert_command(studio_cache, gemma3, f16)
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=900)
    shape = Architecture.from_config(json.loads((gemma3 / "config.json").read_text()))
    written = {t.name: t.dims for t in read_layout(f16).tensors}
    assert written == {t.name: tuple(t.ne) for t in shape.tensors()}
    for file_type in ("Q4_K_M", "Q3_K_S", "Q5_K_S", "Q6_K", "Q8_0", "Q4_0"):
        types, quant_bytes = dry_run(tools, f16, file_type)
        assert by_category(gguf_mix.tensor_types(shape, file_type, gguf_mix.Overrides())) == by_category(types)
        size = gguf_mix.gguf_size(shape, file_type, gguf_mix.Overrides())
        assert size.tensor_bytes == pytest.approx(quant_bytes, rel=1e-3, abs=0.01 * 2**20), file_type


@pytest.mark.parametrize("name", SHAPES)
def test_real_shapes_get_llama_cpps_own_mix(tools, tmp_path, name):
    """The rules that only show at size: Q4_K_M's attn_v and ffn_down at Q6_K on 1 of 3 layers, GQA-dependent
    attn_v types, the 70 B rule, eight experts' Q8_0 attn_k and attn_v, Qwen2's biases left alone."""
    arch = SHAPES[name]
    header = write_header_only_gguf(tmp_path / "f16.gguf", arch, "qwen2" if arch.qkv_bias else "llama")
    matrix = write_flat_imatrix(tmp_path / "flat.imatrix", arch)
    for file_type in FILE_TYPES:
        for imatrix in (None, matrix) if name == "Llama-3.1-8B" else (None,):
            types, quant_bytes = dry_run(tools, header, file_type, imatrix)
            overrides = gguf_mix.Overrides(imatrix=imatrix is not None)
            assert by_category(gguf_mix.tensor_types(arch, file_type, overrides)) == by_category(types), file_type
            tensor_bytes = gguf_mix.gguf_size(arch, file_type, overrides).tensor_bytes
            assert tensor_bytes == pytest.approx(quant_bytes, rel=1e-3), file_type


def test_user_types_come_before_the_mix(tools, smol_f16, smol_facts, tmp_path):
    recipe = recipes.get("gguf")
    options = recipe.resolve_options(None, {"type": "Q4_K_M", "output_type": "Q8_0", "embedding_type": "Q6_K",
                                            "tensor_types": "attn_v=Q8_0,ffn_down=Q4_0", "imatrix": "off"})
    overrides = recipe.mix_overrides(options)
    cmd = [str(tools / "llama-quantize"), "--dry-run", "--output-tensor-type", "q8_0", "--token-embedding-type",
           "q6_k", "--tensor-type", "attn_v=q8_0", "--tensor-type", "ffn_down=q4_0", str(smol_f16), "Q4_K_M"]
    log = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    types = {m.group(1): (m.group(3) or m.group(2)).upper()
             for m in map(TENSOR_LINE.search, (log.stdout + log.stderr).splitlines()) if m}
    assert by_category(gguf_mix.tensor_types(smol_facts.shape, "Q4_K_M", overrides)) == by_category(types)


def test_the_gguf_files_the_studio_wrote_weigh_what_was_said(smol_run, smol_facts):
    recipe = recipes.get("gguf")
    rows = [*smol_run["rows"], *smol_run["imatrix_rows"]]
    assert len(rows) == 5
    for row in rows:
        options = recipe.resolve_options(None, {"type": row["recipe"].split(":")[1].split("+")[0], "imatrix":
                                                "on" if row in smol_run["imatrix_rows"] else "off"})
        assert recipe.estimate_output_bytes(smol_facts, options) == pytest.approx(row["size_bytes"], rel=0.01), row


def test_the_hf_artifacts_the_studio_wrote_weigh_what_was_said(tiny_hf_run, tiny, monkeypatch):
    monkeypatch.setenv("STUDIO_MODEL_DIRS", str(tiny.parent))
    facts = read_model_facts(tiny, Settings.from_env())
    # The fixture's second submission: FP8 W8A8, asymmetric per-group INT8.
    second = [{"activations": "w8a8"}, {"scheme": "asymmetric", "granularity": "per-group"}]
    submitted = [{}] * len(HF_RECIPES_TINY) + second
    assert len(tiny_hf_run["rows"]) == len(submitted)
    for row, overrides in zip(tiny_hf_run["rows"], submitted):
        recipe = recipes.get(row["recipe"])
        estimate = recipe.estimate_output_bytes(facts, recipe.resolve_options(None, overrides))
        assert estimate == pytest.approx(row["size_bytes"], rel=0.01), row["recipe"]


@pytest.mark.parametrize("recipe_name", ["int8-rtn", "fp8", "nvfp4", "mxfp4"])
def test_the_studios_own_formats_of_smollm2_weigh_what_was_said(smol_facts, tmp_path, recipe_name):
    recipe = recipes.get(recipe_name)
    variants = [{}, {"granularity": "per-group", "scheme": "asymmetric"} if recipe_name == "int8-rtn" else
                {"scales": "block-128"} if recipe_name == "fp8" else {"keep": "*.mlp.down_proj"}]
    for i, overrides in enumerate(variants):
        options = recipe.resolve_options(None, overrides)
        work = tmp_path / str(i)
        work.mkdir()
        ctx = StageContext(1, smol_facts, options, work, work, work, lambda f, line: None, None, None)
        artifact = recipe.quantize(ctx)
        written = sum(p.stat().st_size for p in artifact.glob("*.safetensors"))
        assert recipe.estimate_output_bytes(smol_facts, options) == pytest.approx(written, rel=0.01), overrides


def test_a_config_without_sizes_falls_back_to_the_nominal_width(smol_facts):
    facts = replace(smol_facts, shape=None)
    recipe = recipes.get("gguf")
    assert recipe.estimate_output_bytes(facts, recipe.defaults()) >= facts.n_params * 8.5 / 8


# What llama.cpp says when it makes a context: each KV cache (two with sliding-window layers) and its compute buffer.
KV_SIZE = re.compile(r"llama_kv_cache: size =\s*([\d.]+) MiB")
COMPUTE = re.compile(r"CPU compute buffer size =\s*([\d.]+) MiB")
LLAMA_CONTEXT = """
import sys
from llama_cpp import Llama
path, n_ctx, kv, windowed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
Llama(path, n_ctx=n_ctx, n_batch=512, type_k=kv, type_v=kv, flash_attn=True, swa_full=not windowed, verbose=True,
      n_threads=1)
"""
GGML_TYPE_IDS = {"f16": 1, "q8_0": 8, "q4_0": 2}


def llama_cpp_buffers(gguf: Path, n_ctx: int, kv_type: str, windowed: bool) -> tuple[float, float]:
    """(KV cache bytes over all caches, compute buffer bytes) as llama.cpp reports them."""
    proc = subprocess.run([sys.executable, "-c", LLAMA_CONTEXT, str(gguf), str(n_ctx), str(GGML_TYPE_IDS[kv_type]),
                           "1" if windowed else "0"], capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    caches = [float(m) for m in KV_SIZE.findall(log)]
    assert proc.returncode == 0 and caches, log[-3000:]
    return sum(caches) * 2**20, float(COMPUTE.search(log).group(1)) * 2**20


@pytest.fixture(scope="module")
def context_models(smol_f16, smol_facts, tmp_path_factory) -> dict[str, tuple[Path, Architecture]]:
    """SmolLM2's real F16 file, and header-only files llama.cpp can make a context on (SmolLM2's vocabulary):
    the 8 B shape (8 KV heads for 32) and Gemma 2 2 B (13 of 26 layers on a 4,096-token window)."""
    folder = tmp_path_factory.mktemp("contexts")
    eight = replace(KNOWN["Llama-3.1-8B"], vocab=smol_facts.shape.vocab)
    gemma = Architecture(26, 2304, 9216, 8, 4, 256, smol_facts.shape.vocab, True, sliding_window=4096,
                         sliding_layers=13, post_norms=True)
    return {"smollm2": (smol_f16, smol_facts.shape),
            "8b": (write_header_only_gguf(folder / "8b.gguf", eight, vocabulary_from=smol_f16), eight),
            "gemma2": (write_header_only_gguf(folder / "gemma2.gguf", gemma, "gemma2", smol_f16), gemma)}


@pytest.mark.parametrize("model, n_ctx, kv_type, windowed", [
    ("smollm2", 1000, "f16", True), ("smollm2", 4096, "q8_0", True), ("smollm2", 3000, "q4_0", True),
    ("8b", 8192, "f16", True), ("8b", 20000, "q8_0", True),
    ("gemma2", 8192, "f16", True), ("gemma2", 20000, "q8_0", True), ("gemma2", 8192, "f16", False),
])
def test_the_kv_cache_is_what_llama_cpp_allocates(context_models, model, n_ctx, kv_type, windowed):
    path, shape = context_models[model]
    kv, compute = llama_cpp_buffers(path, n_ctx, kv_type, windowed)
    assert planner.kv_cache_bytes(shape, n_ctx, 1, kv_type, windowed) == pytest.approx(kv, rel=1e-3)
    assert planner.runtime_bytes(shape) == pytest.approx(compute, rel=0.07)


@pytest.mark.slow
def test_every_gguf_type_of_smollm2_written_for_real_weighs_what_was_said(tools, smol_f16, smol_facts, tmp_path):
    """Every file type quantized for real by llama-quantize (an importance matrix of ones where the type needs
    one), against the recipe's estimate: the file itself, metadata and all."""
    recipe = recipes.get("gguf")
    matrix = write_flat_imatrix(tmp_path / "flat.imatrix", smol_facts.shape)
    for file_type in FILE_TYPES:
        out = tmp_path / f"{file_type}.gguf"
        with_matrix = file_type in NEEDS_IMATRIX
        extra = ["--imatrix", str(matrix)] if with_matrix else []
        subprocess.run([str(tools / "llama-quantize"), *extra, str(smol_f16), str(out), file_type], check=True,
                       capture_output=True, timeout=1800)
        options = recipe.resolve_options(None, {"type": file_type, "imatrix": "on" if with_matrix else "off"})
        estimate = recipe.estimate_output_bytes(smol_facts, options)
        assert estimate == pytest.approx(out.stat().st_size, rel=0.01), file_type
        out.unlink()


@pytest.mark.slow
def test_the_bitsandbytes_and_gptq_artifacts_of_smollm2_weigh_what_was_said(smol_hf_run, smol_facts):
    """The slow run's SmolLM2 rows of the recipes that are not the studio's own code (GPTQ with its options)."""
    submitted = {"bnb-nf4": {}, "bnb-int8": {}, "gptq": {"bits": 4, "group_size": 64}}
    rows = {r["recipe"]: r for r in smol_hf_run["rows"]}
    for name, overrides in submitted.items():
        recipe = recipes.get(name)
        estimate = recipe.estimate_output_bytes(smol_facts, recipe.resolve_options(None, overrides))
        assert estimate == pytest.approx(rows[name]["size_bytes"], rel=0.01), name
