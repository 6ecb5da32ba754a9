"""The serving check for real: vLLM's CPU build (its own environment, built once per machine into the shared cache)
loads what the studio made and scores it on the studio's own chunks.

On SmolLM2-135M: INT8 W8A8 (the studio's int8 with per-token int8 activations, exported as compressed-tensors) and
GPTQ W4A16 (GPTQModel's folder as it is) load and agree with the studio's perplexity; NVFP4 is refused by vLLM's CPU
build, in vLLM's own words, with what a GPU needs. The Compare tab shows both, in a real browser.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from studio import memory
from studio.config import Settings
from studio.models import read_model_facts
from studio.serving import check as serving_check
from studio.serving import vllm_env
from tests.browser import launch_chromium, new_page, studio_server
from tests.conftest import ARTIFACTS, make_env, run_cli


@pytest.fixture(scope="module")
def vllm_python(studio_cache):
    """The environment, built here on a machine that has none (about 90 s and 3.5 GB; the log says)."""
    t0 = time.monotonic()
    python = vllm_env.ensure(studio_cache)
    print(f"vLLM's environment ready in {time.monotonic() - t0:.0f} s")
    return python


@pytest.fixture(scope="module")
def checked(tmp_path_factory, studio_cache, smol, eval_text, vllm_python):
    ws = tmp_path_factory.mktemp("serving")
    env = make_env(ws, studio_cache, [smol.parent])
    proc = run_cli(["quantize", "--model", str(smol), "--recipe", "int8-rtn", "--recipe", "gptq", "--recipe", "nvfp4",
                    "--option", "int8-rtn.activations=w8a8", "--option", "gptq.bits=4",
                    "--option", "gptq.group_size=64", "--option", "gptq.samples=4", "--option", "gptq.seq_len=128",
                    *[arg for r in ("int8-rtn", "gptq", "nvfp4") for arg in ("--option", f"{r}.vllm_check=true")],
                    "--eval-text", str(eval_text), "--ctx", "512", "--max-chunks", "4", "--max-new-tokens", "8",
                    "--wait", "--json"], env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = {r["recipe"]: r for r in json.loads(run_cli(["results", "--json"], env).stdout)}
    with pytest.MonkeyPatch.context() as mp:  # the facts as the jobs' processes read them
        for name in ("STUDIO_WORKSPACE", "STUDIO_CACHE", "STUDIO_MODEL_DIRS"):
            mp.setenv(name, env[name])
        model = read_model_facts(smol, Settings.from_env())
    return {"env": env, "ws": ws, "rows": rows, "model": model}


def _serving(checked, recipe: str) -> dict:
    row = checked["rows"][recipe]
    assert row["pending"] == [], row["pending"]
    return row["serving"]


def test_int8_w8a8_loads_and_scores(checked):
    """vLLM runs its int8 GEMM on the export, in bfloat16 (its CPU kernel takes no float16). On these 1,020 tokens
    bfloat16 alone moves the checkpoint's perplexity by up to 0.2 % from one batch shape to another, so this checks
    the figures are vLLM's on the same tokens and near; the 1 % agreement is measured over 20 chunks
    (test_agreement_over_twenty_chunks, slow)."""
    check = _serving(checked, "int8-rtn:w8a8")
    assert check["loads"], check["reason"]
    assert check["scheme"].startswith("compressed-tensors INT8 W8A8")
    assert check["dtype"] == "bfloat16"
    assert check["n_tokens_scored"] == checked["rows"]["int8-rtn:w8a8"]["n_tokens_scored"]
    assert check["base_ppl"] is not None and check["studio_base_ppl"] is not None
    assert abs(check["format_gap_pct"]) < 2.0, check
    assert abs(check["ppl_gap_pct"]) < 2.0, check
    assert all(n == 8 for n in check["generations_compared"]), check
    assert all(agree >= 3 for agree in check["generations_agree"]), check
    assert (checked["ws"] / "outputs").exists() and check["served"].endswith("/compressed-tensors")
    assert "--dtype bfloat16" in check["command"]
    _memory_as_said(checked, "int8-rtn:w8a8")


def test_gptq_loads_as_it_is_and_agrees(checked):
    """GPTQModel's folder is read by vLLM as it is (its CPU 4-bit kernel), in the checkpoint's float16: perplexity
    within 1 % of the studio's and the same greedy tokens."""
    check = _serving(checked, "gptq")
    assert check["loads"], check["reason"]
    assert check["served"] == checked["rows"]["gptq"]["artifact"]
    assert check["dtype"] == "float16"
    assert abs(check["ppl_gap_pct"]) < 0.5, check  # measured: -0.03 %
    assert abs(check["format_gap_pct"]) < 0.5, check
    assert all(agree >= 4 for agree in check["generations_agree"]), check
    _memory_as_said(checked, "gptq")


def _memory_as_said(checked, recipe: str) -> None:
    """vLLM's processes' measured peak against the memory model's figure for the stage (on the artifact's size),
    within the ±25 % the memory model holds itself to."""
    row = checked["rows"][recipe]
    said = memory.vllm_check_bytes(checked["model"], row["size_bytes"])
    assert abs(row["serving"]["peak_bytes"] / said - 1) < 0.25, (row["serving"]["peak_bytes"], said)


def test_nvfp4_is_refused_by_vllm_itself(checked):
    """vLLM's CPU build has no FP4 kernel: the export is written and tried, and vLLM's own reason is kept with what a
    GPU needs; no figures are made up."""
    check = _serving(checked, "nvfp4")
    assert not check["loads"] and check["ppl"] is None
    assert "NVFP4" in check["reason"] or "FP4" in check["reason"], check["reason"]
    assert "Engine core initialization failed" not in check["reason"]
    assert "10.0" in check["gpu_needs"]
    assert check["scheme"].startswith("compressed-tensors NVFP4A16")


def test_compare_shows_the_vllm_column(checked, tmp_path):
    """The Compare tab: ✓ with vLLM's perplexity beside the studio's, ✗ with vLLM's reason one click away."""
    from playwright.sync_api import sync_playwright
    with studio_server(checked["env"], tmp_path / "server.log") as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = new_page(browser)
        page.goto(url)
        page.get_by_role("tab", name="Compare").click()
        table = page.locator("#compare-table")
        table.wait_for()
        yes = table.locator("tr[data-recipe='gptq'] td.qs-serving-yes")
        assert yes.inner_text().startswith("✓ ")
        assert f"{_serving(checked, 'gptq')['ppl']:.4f}" in yes.inner_text()
        assert "vllm serve" in yes.get_attribute("title")
        no = table.locator("tr[data-recipe='nvfp4'] td.qs-serving-no")
        no.locator("summary").click()
        assert "FP4" in no.inner_text() and "Needs" in no.inner_text()
        table.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "compare-vllm.png"), full_page=True)
        page.locator(".qs-scroll").first.screenshot(path=str(ARTIFACTS / "compare-vllm-table.png"))
        browser.close()


def test_export_command(checked):
    """`python -m studio export ID`: the studio's own formats get their compressed-tensors folder (here already written
    by the check) and the serve command; a GPTQ row is served as it is, and an unknown row is named."""
    rows, env = checked["rows"], checked["env"]
    done = run_cli(["export", str(rows["int8-rtn:w8a8"]["id"])], env)
    assert done.returncode == 0, done.stderr
    folder = done.stdout.splitlines()[0]
    assert folder == rows["int8-rtn:w8a8"]["serving"]["served"]
    assert json.loads((Path(folder) / "config.json").read_text())["quantization_config"]["format"] == "int-quantized"
    assert f"vllm serve {folder}" in done.stdout
    as_is = run_cli(["export", str(rows["gptq"]["id"])], env)
    assert as_is.returncode == 2 and "as it is" in as_is.stderr and "vllm serve" in as_is.stderr
    unknown = run_cli(["export", "9999"], env)
    assert unknown.returncode == 2 and "no result #9999" in unknown.stderr


@pytest.mark.slow
def test_agreement_over_twenty_chunks(tmp_path, studio_cache, smol, eval_text, vllm_python):
    """The agreement table (README, "Serve it"): INT8 W8A8, GPTQ W4A16 and AWQ W4A16 on 20 chunks of 512 (10,200
    tokens): vLLM's perplexity within 1 % of the studio's, raw and against each engine's own checkpoint."""
    env = make_env(tmp_path / "ws", studio_cache, [smol.parent])
    recipes = ("int8-rtn", "gptq", "awq")
    proc = run_cli(["quantize", "--model", str(smol), *[arg for r in recipes for arg in ("--recipe", r)],
                    "--option", "int8-rtn.activations=w8a8", "--option", "gptq.group_size=64",
                    "--option", "awq.group_size=64", "--option", "gptq.samples=16", "--option", "awq.samples=8",
                    "--option", "gptq.seq_len=256", "--option", "awq.seq_len=256",
                    *[arg for r in recipes for arg in ("--option", f"{r}.vllm_check=true")],
                    "--eval-text", str(eval_text), "--ctx", "512", "--max-chunks", "20", "--max-new-tokens", "32",
                    "--wait", "--json"], env, timeout=7200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = [r for r in json.loads(run_cli(["results", "--json"], env).stdout) if not r["is_base"]]
    for row in rows:
        check = row["serving"]
        print(f"{row['recipe']}: studio {check['studio_ppl']:.4f}, vLLM {check['ppl']:.4f} ({check['dtype']}), "
              f"{check['ppl_gap_pct']:+.3f} %; checkpoint studio {check['studio_base_ppl']:.4f}, vLLM "
              f"{check['base_ppl']:.4f}; format {check['format_gap_pct']:+.3f} %; first tokens equal "
              f"{check['generations_agree']} of {check['generations_compared']}")
        assert check["n_tokens_scored"] == 10200
        assert abs(check["ppl_gap_pct"]) < 1.0 and abs(check["format_gap_pct"]) < 1.0, check


# Lines vLLM 0.32's CPU build printed here when it refused (its engine's and worker's logs, interleaved).
REFUSALS = {
    "nvfp4": ["(Worker pid=484) ERROR 12-03 22:16:54 [multiproc_executor.py:953] ValueError: Forced NVFP4 kernel "
              "MarlinNvFp4LinearKernel is not supported: Marlin FP4 not available",
              "Exception: WorkerProc initialization failed due to an exception in a background process. See stack "
              "trace for root cause.",
              "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}"],
    "w8a8 in float16": ["terminate called after throwing an instance of 'c10::Error'",
                        "  what():  scale_C: scalar path not implemented!",
                        "vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue. See stack "
                        "trace (above) for the root cause."],
}


@pytest.mark.parametrize("case", REFUSALS)
def test_the_reason_kept_is_vllms_root_cause(case):
    """The first specific error wins over the generic lines that unwind it (a kernel's abort included)."""
    errors: list[str] = []
    for line in REFUSALS[case]:
        serving_check._keep_error(line, errors)
    reason = serving_check._reason(errors, "vllm_probe.py exited with status 1", 600)
    assert reason == {"nvfp4": "ValueError: Forced NVFP4 kernel MarlinNvFp4LinearKernel is not supported: Marlin "
                               "FP4 not available",
                      "w8a8 in float16": "vLLM's kernel aborted: scale_C: scalar path not implemented!"}[case]
    assert serving_check._reason([], "timeout exited with status 124", 600).startswith("did not finish in 600 s")
