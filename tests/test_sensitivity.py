"""The sensitivity map's engine on SmolLM2: a spliced file holds exactly the bytes llama.cpp writes for the same
types, and the KLD a tensor adds is what a direct loop over llama.cpp's logits gives for llama.cpp's own file."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from studio.architecture import Architecture
from studio.auto_mix import CANDIDATE_TYPES, groups, tensor_type_file, tensors
from studio.evaluation import llama_backend
from studio.evaluation.protocol import Protocol
from studio.gguf_splice import splice
from studio.llamacpp import ensure_tools
from studio.sensitivity import low_type, map_protocol, measure

CALIBRATION_CHARS = 12_000


@pytest.fixture(scope="module")
def files(smol, smol_run, studio_cache, tmp_path_factory):
    """SmolLM2's F16, the model at Q8_0, every tensor at its low type, and llama.cpp's own Q8_0 file with one
    tensor at its low type (what the splice must reproduce)."""
    where = tmp_path_factory.mktemp("sensitivity")
    f16 = next(smol_run["workspace"].glob("cache/*/base-f16.gguf"))
    arch = Architecture.from_config(json.loads((smol / "config.json").read_text()))
    quantize = str(ensure_tools(studio_cache, log=lambda line: None) / "llama-quantize")
    every_low = {t.name: low_type(t.ne[0]) for t in tensors(arch)}
    one = "blk.3.ffn_down.weight"
    for name, types in (("low", every_low), ("reference", {one: low_type(1536)})):
        (where / f"{name}.txt").write_text(tensor_type_file(types))
        subprocess.run([quantize, "--tensor-type-file", str(where / f"{name}.txt"), str(f16),
                        str(where / f"{name}.gguf"), "Q8_0", "2"], check=True, capture_output=True, timeout=900)
    subprocess.run([quantize, str(f16), str(where / "high.gguf"), "Q8_0", "2"], check=True, capture_output=True,
                   timeout=900)
    return {"f16": f16, "high": where / "high.gguf", "low": where / "low.gguf", "reference": where / "reference.gguf",
            "one": one, "where": where}


def test_a_spliced_file_holds_the_bytes_llama_cpp_writes(files):
    from gguf import GGUFReader
    spliced = files["where"] / "spliced.gguf"
    splice(files["high"], files["low"], {files["one"]}, spliced)
    theirs = {t.name: (int(t.tensor_type), t.data.tobytes()) for t in GGUFReader(files["reference"]).tensors}
    ours = {t.name: (int(t.tensor_type), t.data.tobytes()) for t in GGUFReader(spliced).tensors}
    assert list(ours) == list(theirs) and [n for n in ours if ours[n] != theirs[n]] == []
    assert ours[files["one"]][0] != theirs["blk.3.ffn_up.weight"][0]  # the spliced tensor really is another type


def test_the_added_kld_is_a_direct_loop_s_on_llama_cpp_s_own_file(files, smol):
    from studio.recipes.calibration import calibration_path
    text = calibration_path("builtin").read_text(encoding="utf-8")[:CALIBRATION_CHARS]
    tokens, bos = llama_backend.tokenize(files["f16"], text)
    protocol = Protocol(512, 2)
    names = [files["one"], "blk.0.attn_q.weight"]
    found = measure(files["f16"], files["high"], files["low"], tokens, bos, protocol, names, files["where"])
    assert set(found.added_kld) == set(names) and found.tokens_scored == 2 * protocol.scored_per_chunk
    direct = _direct_kld(files["reference"], files["f16"], tokens, bos) - _direct_kld(files["high"], files["f16"],
                                                                                       tokens, bos)
    assert found.added_kld[files["one"]] == pytest.approx(direct, abs=2e-5)  # all-row logits vs the scored rows
    assert found.added_kld[files["one"]] > 0  # Q2_K in place of Q8_0 loses something


def _direct_kld(model, base, tokens, bos) -> float:
    """Mean KL(base ‖ model) over the scored positions of two 512-token chunks: llama.cpp's logits of every
    position (logits_all), a plain float64 log-softmax."""
    from llama_cpp import Llama
    total, count = 0.0, 0
    llms = [Llama(str(p), n_ctx=512, n_batch=512, logits_all=True, verbose=False) for p in (model, base)]
    for i in range(2):
        chunk = [int(t) for t in tokens[i * 512:(i + 1) * 512]]
        if bos is not None:
            chunk[0] = bos
        rows = []
        for llm in llms:
            llm.reset()
            llm.eval(chunk)
            logits = np.asarray(llm.scores[256:511], dtype=np.float64)
            rows.append(logits - np.logaddexp.reduce(logits, axis=1, keepdims=True))
        q, p = rows
        total += float((np.exp(p) * (p - q)).sum())
        count += len(p)
    return total / count


@pytest.fixture(scope="module")
def tiny_map(tmp_path_factory, studio_cache, tiny):
    """The tiny model's map, measured by the job through the CLI, in a workspace the mixes below use."""
    from tests.conftest import make_env, run_cli
    env = make_env(tmp_path_factory.mktemp("tiny-map") / "ws", studio_cache, [tiny.parent])
    proc = run_cli(["sensitivity", "--model", str(tiny), "--ctx", "128", "--chunks", "2", "--wait", "--json"], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return env, json.loads(proc.stdout)


def test_the_sensitivity_job_maps_every_tensor_of_the_model(tiny_map, tiny):
    from tests.conftest import run_cli
    env, found = tiny_map
    arch = Architecture.from_config(json.loads((tiny / "config.json").read_text()))
    # 2 layers x 7 and the (tied) embedding
    assert {t["name"] for t in found["tensors"]} == {t.name for t in tensors(arch)}
    assert all(t["low_type"] == "Q2_K" for t in found["tensors"])  # 256-wide rows take the lowest k-quant
    klds = [t["added_kld"] for t in found["tensors"]]
    assert klds == sorted(klds, reverse=True) and all(np.isfinite(klds)) and klds[0] > 0
    assert found["tokens_scored"] == 2 * map_protocol(128, 2).scored_per_chunk == 2 * 111
    log = run_cli(["log", str(found["sensitivity_job"])], env).stdout
    assert "== stage: sensitivity" in log and f"{len(tensors(arch))} tensors, each alone at its low type" in log
    refused = run_cli(["sensitivity", "--model", str(tiny), "--chunks", "0"], env)
    assert refused.returncode == 2 and "max chunks must be at least 1" in refused.stderr


@pytest.mark.parametrize("target_bpw,imatrix", [(5.0, "on"), (3.5, "off")])
def test_an_automatic_mix_is_the_allocation_s_choice_within_its_budget(tiny_map, tiny, target_bpw, imatrix,
                                                                      tmp_path, studio_cache):
    """gguf-auto at a bits-per-weight budget: llama.cpp wrote the types the allocation chose from the map, and the
    matrices take no more than the budget."""
    from gguf import GGMLQuantizationType, GGUFReader

    from studio.config import Settings
    from studio.models import read_model_facts
    from studio.recipes.gguf_auto import choose, costs, matrices_budget, read_type_errors
    from studio.sensitivity import read_map_file
    from tests.conftest import run_cli
    env, found = tiny_map
    proc = run_cli(["quantize", "--model", str(tiny), "--recipe", "gguf-auto", "--option",
                    f"gguf-auto.target_bpw={target_bpw}", "--option", "gguf-auto.checkpoint_kld=false", "--option",
                    f"gguf-auto.imatrix={imatrix}", "--ctx", "128",
                    "--max-chunks", "2", "--prompt", "Hi", "--max-new-tokens", "4", "--wait", "--json"], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [row] = json.loads(proc.stdout)
    settings = Settings.from_env(env["STUDIO_WORKSPACE"])
    model = read_model_facts(tiny, settings)
    options = {"target_bpw": target_bpw, "max_kld": 0.0, "imatrix": imatrix, "imatrix_text": "builtin"}
    cache_dir = settings.model_cache_dir / model.key
    errors = read_type_errors(cache_dir, options)  # measured by the job, checked below
    mix = choose(model, options, read_map_file(cache_dir), errors)
    written = {t.name: t for t in GGUFReader(row["artifact"]).tensors}
    assert {n: GGMLQuantizationType(written[n].tensor_type).name for n in mix.types} == mix.types
    bits = 8 * sum(int(t.n_bytes) for t in written.values()) / sum(int(t.n_elements) for t in written.values())
    assert row["bpw"] == pytest.approx(bits) and bits <= target_bpw  # the file's, as rows count them
    left = matrices_budget(model.shape, target_bpw) - mix.size_bytes  # and no better type for any tensor fits in it
    candidates = {g.name: g.choices for g in groups(model.shape, costs(read_map_file(cache_dir), errors))}
    chosen = {name: next(c for c in choices if c.type_name == mix.types[name]) for name, choices in candidates.items()}
    assert not [c for name, choices in candidates.items() for c in choices
                if c.cost < chosen[name].cost and c.size_bytes - chosen[name].size_bytes <= left]
    assert row["recipe"] == f"gguf:auto@{target_bpw:g}bpw" + ("+imatrix" if imatrix == "on" else "")
    assert row["kld_mean"] > 0
    log = run_cli(["log", str(row["job_id"])], env).stdout
    assert ("== stage: imatrix" in log) == ("load_imatrix: loaded" in log) == (imatrix == "on")
    made_with = row["made_with"]  # the row says what it was made from: the map's job and every tensor's type
    assert made_with["sensitivity_job"] == found["sensitivity_job"] and made_with["tensor_types"] == mix.types
    assert made_with["predicted_kld"] == pytest.approx(mix.cost)
    n_tensors = len(tensors(model.shape))  # 256-wide rows: every type holds every matrix
    assert set(errors) == {"low", *CANDIDATE_TYPES} and all(len(e) == n_tensors for e in errors.values())
    imatrix_file = next(cache_dir.glob("imatrix-*.gguf")) if imatrix == "on" else None
    weights = _column_weights(imatrix_file)
    low = _energies(cache_dir / "base-f16.gguf", cache_dir / "sensitivity-low.gguf", weights)  # the map's own file
    assert errors["low"] == pytest.approx(low, rel=1e-6)
    assert all(errors["Q8_0"][n] < errors["Q4_K"][n] < errors["Q2_K"][n] for n in low)
    # a candidate's entries, from a file this test has llama-quantize write (with the job's matrix, if any)
    overrides, q4k = tmp_path / "q4k.txt", tmp_path / "q4k.gguf"
    overrides.write_text(tensor_type_file(dict.fromkeys(low, "Q4_K")))
    matrix = ["--imatrix", str(imatrix_file)] if imatrix_file else []
    subprocess.run([str(ensure_tools(studio_cache, log=lambda line: None) / "llama-quantize"), *matrix,
                    "--tensor-type-file", str(overrides), str(cache_dir / "base-f16.gguf"), str(q4k), "Q8_0", "2"],
                   check=True, capture_output=True, timeout=900)
    assert errors["Q4_K"] == pytest.approx(_energies(cache_dir / "base-f16.gguf", q4k, weights), rel=1e-6)


def _column_weights(imatrix: Path | None) -> dict:
    """The importance matrix's mean squared activation per column, read with gguf-py (uniform: none)."""
    from gguf import GGUFReader
    if imatrix is None:
        return {}
    found = {t.name: np.array(t.data, dtype=np.float64) for t in GGUFReader(imatrix).tensors}
    return {k.removesuffix(".in_sum2"): v / found[k.removesuffix("in_sum2") + "counts"].sum()
            for k, v in found.items() if k.endswith(".in_sum2")}


def _energies(base: Path, quantized: Path, weights: dict) -> dict:
    """Each quantized matrix's weighted squared error per element against the base: whole tensors, gguf-py's
    reader and dequantizer (the studio reads rows in slices from its own header reader)."""
    from gguf import GGMLQuantizationType, GGUFReader
    from gguf.quants import dequantize
    reference = {t.name: np.array(t.data, dtype=np.float64) for t in GGUFReader(base).tensors}
    out = {}
    for t in GGUFReader(quantized).tensors:
        if t.tensor_type in (GGMLQuantizationType.F32, GGMLQuantizationType.F16, GGMLQuantizationType.Q8_0):
            continue  # norms, and the high type the rest of the file holds
        error = (dequantize(t.data, t.tensor_type).astype(np.float64) - reference[t.name]) ** 2
        w = weights.get(t.name, np.ones(error.shape[-1]))
        out[t.name] = float((error * w).sum() / error.size)
    return out


def test_an_automatic_mix_is_refused_without_a_map_or_a_single_budget(tmp_path, studio_cache, tiny, tiny_map):
    from tests.conftest import make_env, run_cli
    fresh = make_env(tmp_path / "ws", studio_cache, [tiny.parent])
    cases = [(fresh, ["--option", "gguf-auto.target_bpw=5"], "no sensitivity map for this model yet"),
             (tiny_map[0], [], "give one budget"),
             (tiny_map[0], ["--option", "gguf-auto.target_bpw=5", "--option", "gguf-auto.max_kld=0.01"],
              "give one budget"),
             (tiny_map[0], ["--option", "gguf-auto.target_bpw=1"], "no mix fits")]
    for env, options, expected in cases:
        proc = run_cli(["quantize", "--model", str(tiny), "--recipe", "gguf-auto", *options], env)
        assert proc.returncode == 2 and expected in proc.stderr, (options, proc.stderr)


def test_an_hf_map_of_a_model_too_big_to_hold_is_refused_with_its_numbers(tmp_path, studio_cache, smol):
    """The HF map holds the checkpoint in float32: at the 8 B shape that is ~30 GiB, refused on a machine with less
    (the figure checked against the shape's own count), while the GGUF map, which streams, is not refused for it."""
    import psutil

    from tests.conftest import make_env, run_cli
    from tests.models import LLAMA_8B, SMOL_VOCAB, build_sparse_checkpoint
    model = build_sparse_checkpoint(tmp_path / "models" / "llama-8b-shape", LLAMA_8B, smol)
    env = make_env(tmp_path / "ws", studio_cache, [model.parent])
    need = 4 * LLAMA_8B.n_params(SMOL_VOCAB) + 4 * 32 * 512 * 4096 + 512 * 2**20
    if need < psutil.virtual_memory().available:
        pytest.skip("this machine holds an 8 B model in float32")
    refused = run_cli(["sensitivity", "--family", "hf", "--model", str(model)], env)
    assert refused.returncode == 2, refused.stderr
    assert f"holds the checkpoint in float32: about {need / 2**30:.1f} GiB" in refused.stderr
    assert run_cli(["sensitivity", "--model", str(model)], env).returncode == 0  # queued: llama.cpp streams it


def test_the_heatmap_shows_every_tensor_with_its_numbers_and_the_overrides_keep_the_worst():
    from components.sensitivity_view import heatmap_html
    from studio.sensitivity import keep_high
    from studio.storage import SensitivityMap
    added = {f"blk.{i}.{g}.weight": (i + 1) * 1e-4 * (k + 1) for i in range(3)
             for k, g in enumerate(("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"))}
    added["token_embd.weight"] = 0.05
    found = SensitivityMap(job_id=1, model="/m/smol", model_key="k", calibration_sha="c", n_ctx=512, n_chunks=2,
                           tokens_scored=510, high_type="Q8_0", low_types={n: "Q4_0" for n in added},
                           added_kld=added, baseline_kld=0.004, seconds=60.0)
    html = heatmap_html(found)
    assert html.count("<td style=") == len(added) and "blk.2.ffn_down.weight alone at Q4_0" in html
    assert "+0.00210 mean KLD over 510 tokens" in html  # layer 2's ffn_down: 3 x 7 x 1e-4
    assert "background:#ff6914' title='token_embd.weight" in html  # the most sensitive, the deepest colour
    assert "background:#ffffff' title='blk.0.attn_q.weight" in html  # the least, white
    kept = keep_high(found.added_kld, 3)
    assert kept.gguf == r"token_embd=Q8_0,blk\.2\.ffn_down=Q8_0,blk\.2\.ffn_up=Q8_0"
    assert kept.hf == "model.layers.2.mlp.down_proj,model.layers.2.mlp.up_proj"  # HF keeps the embedding anyway
