"""The real app in headless Chromium: refuse a bad path, quantize SmolLM2 to Q4_K_M, watch the job
finish, compare it with the base, read two generations side by side."""
from __future__ import annotations

import time

import pytest

from tests.browser import launch_chromium, new_page, studio_server
from tests.conftest import ARTIFACTS, make_env

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path, studio_cache, smol):
    with studio_server(make_env(tmp_path / "ws", studio_cache, [smol.parent]), tmp_path / "server.log") as url:
        yield url


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        pg = new_page(browser)
        pg.goto(server)
        yield pg
        browser.close()


def _fill(page, elem_id: str, value: str) -> None:
    page.locator(f"#{elem_id} textarea, #{elem_id} input").first.fill(value)


def _in_view(page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]


def _wait_until(condition, seconds: float = 120) -> None:
    """A value that Gradio's event sets: polled until it holds (bounded generously for a busy machine)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the page never reached the state waited for"
        time.sleep(0.2)


def test_quantize_watch_and_compare_in_a_real_browser(page, smol):
    page.get_by_role("tab", name="Hardware").click()
    page.locator("#recipes-table tr[data-recipe=gguf]").get_by_text("available", exact=True).wait_for()
    native_fp8 = page.locator("#recipes-table tr[data-recipe=fp8][data-mode=native]")
    assert "unavailable" in native_fp8.inner_text() and "execution=emulated" in native_fp8.inner_text()

    page.get_by_role("tab", name="New job").click()
    # The short form: the buttons are in view without scrolling, and so is what they answer.
    assert _in_view(page, "#quantize-btn")
    _fill(page, "model-input", str(smol.parent / "no-such-model"))
    page.locator("#preflight-btn").click()
    page.locator("#new-job-status").get_by_text("does not exist").wait_for()
    assert _in_view(page, "#new-job-status .qs-msg")
    assert page.locator("#options-int8-rtn").is_hidden()  # options only for the recipes chosen

    _fill(page, "model-input", str(smol))
    page.locator("#hf-recipes").get_by_text("int8-rtn", exact=True).click()
    page.locator("#advanced").get_by_text("Advanced").first.click()
    assert page.locator("#max-chunks input, #max-chunks textarea").first.input_value() == ""  # empty, not 0
    _fill(page, "max-chunks", "2")
    page.locator("#options-int8-rtn").click()  # the form generated from the recipe's schema
    page.locator("#opt-int8-rtn-scheme").wait_for()
    page.locator("#quantize-btn").click()
    page.locator("#new-job-status").get_by_text("Queued jobs #1, #2").wait_for()
    # The row is on Compare once its perplexity and KLD are stored, without a click on Refresh (the slower
    # figures follow it); the jobs may still be running then.
    page.get_by_role("tab", name="Compare").click()
    page.locator("#compare-table tr[data-recipe='gguf:Q4_K_M']").wait_for(timeout=600_000)
    page.get_by_role("tab", name="New job").click()
    page.locator("#open-jobs").click()  # straight to the job it started, its log open

    page.locator("#job-log").get_by_text("Log of job #1").wait_for()
    page.locator("#job-log .qs-at").first.wait_for()  # each line with the time it arrived
    page.locator("#jobs-table tr[data-job-id='2']").click()  # a click on a row opens that job's log
    page.locator("#job-log").get_by_text("Log of job #2").wait_for()
    for job in (1, 2):
        page.locator(f"#jobs-table tr[data-job-id='{job}'][data-state='done']").wait_for(timeout=600_000)
    assert page.locator("#jobs-table tr[data-job-id='1'] .qs-elapsed").inner_text().strip()  # how long it took
    # The same request again is not run again: the results that measured it are named, one click from a rerun.
    page.get_by_role("tab", name="New job").click()
    page.locator("#quantize-btn").click()
    page.locator("#new-job-status").get_by_text("already measured as result #").first.wait_for()
    assert page.locator("#run-again").is_visible() and not page.locator("#open-jobs").is_visible()
    page.get_by_role("tab", name="Jobs").click()

    page.get_by_role("tab", name="Compare").click()
    rows = page.locator("#compare-table tbody tr")
    rows.nth(3).wait_for()
    assert rows.count() == 4  # two bases (llama.cpp F16, the checkpoint in torch) and two results
    assert "base" in rows.nth(0).inner_text() and "base" in rows.nth(1).inner_text()
    rtn = page.locator("#compare-table tr[data-recipe='int8-rtn']")
    assert "emulated" in rtn.inner_text() and "hf:base (checkpoint)" in rtn.inner_text()
    q4 = page.locator("#compare-table tr[data-recipe='gguf:Q4_K_M']")
    assert float(q4.locator(".qs-ppl").inner_text()) > 1
    assert "fallback" in q4.inner_text()
    first_prompt = page.locator("#generations .qs-prompt").first
    first_prompt.wait_for()
    assert first_prompt.locator(".qs-gen").count() == 4
    assert all(t.strip() for t in first_prompt.locator(".qs-gen pre").all_inner_texts())
    # The Pareto plot: one point per row, the frontier drawn, hover text naming the recipe.
    points = page.locator("#pareto-plot g.qs-point")
    assert points.count() == 4
    assert "int8-rtn" in page.locator("#pareto-plot g.qs-point[data-recipe='int8-rtn'] title").text_content()
    assert page.locator("#pareto-plot polyline.qs-frontier").count() == 1
    assert page.locator("#speed-plot g.qs-point").count() == 4
    # Generations: differences from each row's own base are highlighted.
    q4_gens = page.locator("#generations .qs-gen[data-recipe='gguf:Q4_K_M'] pre")
    base_gens = page.locator("#generations .qs-gen[data-recipe='gguf:base (F16)'] pre")
    differs = [q.inner_text() != b.inner_text() for q, b in zip(q4_gens.all(), base_gens.all())]
    marks = page.locator("#generations .qs-gen[data-recipe='gguf:Q4_K_M'] ins").count()
    assert (marks > 0) == any(differs)
    assert page.locator("#generations .qs-gen[data-recipe='gguf:base (F16)'] ins").count() == 0
    # Sorting and filtering re-render the table from the same rows.
    query = page.locator("#filter-query textarea, #filter-query input").first
    query.fill("rtn")
    query.press("Enter")
    page.wait_for_function("document.querySelectorAll('#compare-table tbody tr').length === 3")  # two bases + int8-rtn
    assert page.locator("#reference-card").get_by_text("0.031").count() == 1
    # Every header says what it measures; the table scrolls inside its frame with the recipe pinned.
    headers = page.locator("#compare-table thead th")
    assert all(headers.nth(i).get_attribute("title") for i in range(headers.count()))
    frame = page.locator("#compare-html .qs-scroll")
    assert frame.evaluate("e => getComputedStyle(e).overflowX") == "auto"
    assert page.locator("#compare-table td.qs-pin").first.evaluate("e => getComputedStyle(e).position") == "sticky"
    assert page.locator("#pareto-plot .qs-plot-legend").count() == 1
    # Delete: a base others are compared to is not offered; no tick, no delete, and the choice stays.
    picker = page.locator("#delete-pick")
    page.locator("#delete-panel").get_by_text("Delete a result").click()
    picker.locator("input").click()
    options = page.get_by_role("option").all_inner_texts()
    assert not any("base" in o for o in options) and any("int8-rtn" in o for o in options), options
    page.get_by_role("option", name=next(o for o in options if "int8-rtn" in o)).click()
    page.locator("#delete-btn").click()
    page.locator("#delete-status").get_by_text("tick the confirmation box first").wait_for()
    assert "int8-rtn" in picker.locator("input").input_value()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)


def test_planner_and_recommendation_preset(page):
    page.get_by_role("tab", name="Planner").click()
    page.locator("#plan-btn").click()
    fp16 = page.locator("#plan-table tr[data-format='bf16']")
    fp16.wait_for()
    assert "140.00" in fp16.inner_text() and "needs 2 × 80 GB" in fp16.inner_text()
    # llama.cpp's Q4_K_M mix on the 70 B shape: 4.82 bits a weight, not 4.
    q4 = page.locator("#plan-table tr[data-format='gguf:Q4_K_M']").inner_text()
    assert "4.82" in q4 and "42.18" in q4
    page.screenshot(path=str(ARTIFACTS / "planner.png"), full_page=True)
    page.locator("#goal").get_by_text("Fine-tune (QLoRA)").click()
    page.locator("#recommendation-html").get_by_text("bnb-nf4").wait_for()
    page.locator("#use-recommendation").click()
    nf4 = page.locator("#hf-recipes").get_by_role("checkbox", name="bnb-nf4")
    nf4.wait_for()  # the preset switched to the New job tab
    _wait_until(nf4.is_checked)
    assert not page.locator("#gguf-types").get_by_role("checkbox", name="Q4_K_M").is_checked()


def test_the_sensitivity_map_on_compare(tmp_path, studio_cache, tiny):
    """A map measured headless shows on Compare: a cell per tensor with its numbers on hover, and the overrides
    that keep the most sensitive tensors high."""
    from playwright.sync_api import sync_playwright

    from tests.conftest import run_cli
    env = make_env(tmp_path / "ws", studio_cache, [tiny.parent])
    measured = run_cli(["sensitivity", "--model", str(tiny), "--ctx", "128", "--chunks", "2", "--wait", "--json"], env)
    assert measured.returncode == 0, measured.stderr[-3000:]
    with studio_server(env, tmp_path / "server.log") as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = new_page(browser)
        page.goto(url)
        page.get_by_role("tab", name="Compare").click()
        page.locator("#sensitivity-panel").get_by_text("Sensitivity map").first.click()
        page.locator("#sensitivity-map").wait_for()
        assert page.locator("#sensitivity-map td[style]").count() == 15  # 2 layers x 7, the tied embedding
        assert "alone at Q2_K" in page.locator("#sensitivity-map td[title]").first.get_attribute("title")
        keep = page.locator("#sensitivity-keep textarea, #sensitivity-keep input").first.input_value()
        assert keep.count("=Q8_0") == 8
        page.locator("#sensitivity-panel").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "sensitivity.png"), full_page=True)
        # "keep these high": the New-job form on the map's model with the same overrides, for GGUF and HF alike
        page.locator("#sensitivity-keep-btn").click()
        overrides = page.locator("#opt-gguf-tensor_types textarea, #opt-gguf-tensor_types input").first
        overrides.wait_for()
        _wait_until(lambda: overrides.input_value() == keep)
        model = page.locator("#model-input input").first
        assert model.input_value() == str(tiny)
        page.locator("#hf-recipes").get_by_role("checkbox", name="int8-rtn").check()  # shows its options, folded
        page.locator("#options-int8-rtn").get_by_text("INT8 round-to-nearest options").click()
        hf_keep = page.locator("#opt-int8-rtn-keep textarea, #opt-int8-rtn-keep input").first.input_value()
        assert hf_keep.count("model.layers.") == sum(1 for part in keep.split(",") if part.startswith("blk"))
        overrides.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "sensitivity-keep.png"))
        browser.close()


# Every recipe on SmolLM2-135M, as the README's table and screenshot show them (AWQ alone takes
# ~20 min of CPU: `make test-slow`).
EVERY_RECIPE = ("gguf:Q8_0", "gguf:Q4_K_M", "gguf:Q3_K_S", "gguf:Q2_K", "int8-rtn", "fp8", "bnb-int8", "nvfp4",
                "mxfp4", "bnb-nf4", "gptq", "awq")


@pytest.mark.slow
@pytest.mark.timeout(5400)
def test_compare_every_recipe_on_smollm2(tmp_path, studio_cache, smol, eval_text):
    import json

    import torch
    from playwright.sync_api import sync_playwright
    from transformers import AutoModelForCausalLM

    from tests.conftest import run_cli
    from tests.test_hf_recipes import independent_ppl
    env = make_env(tmp_path / "ws", studio_cache, [smol.parent])
    common = ["--model", str(smol), "--eval-text", str(eval_text), "--ctx", "512", "--max-chunks", "8",
              "--max-new-tokens", "32", "--wait", "--json"]
    every = run_cli(["quantize", *common, *(a for r in EVERY_RECIPE for a in ("--recipe", r)),
                     "--option", "awq.samples=8"], env, timeout=4800)
    assert every.returncode == 0, every.stderr[-4000:]
    plain = run_cli(["quantize", *common, "--recipe", "gguf:Q2_K", "--recipe", "gguf:Q3_K_S",
                     "--option", "gguf.imatrix=off"], env)  # the same low-bit types without an importance matrix
    assert plain.returncode == 0, plain.stderr[-4000:]
    rows = json.loads(run_cli(["results", "--json"], env).stdout)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "compare-every-recipe.json").write_text(json.dumps(rows, indent=1))
    recipes_done = {r["recipe"] for r in rows}
    assert {"gguf:Q2_K+imatrix", "gguf:Q3_K_S+imatrix", "gguf:Q2_K", "gguf:Q3_K_S", "awq"} <= recipes_done
    assert len(rows) == len(EVERY_RECIPE) + 2 + 2  # two bases, two types again without the matrix

    awq = next(r for r in rows if r["recipe"] == "awq")
    model = AutoModelForCausalLM.from_pretrained(awq["artifact"], device_map="cpu", dtype=torch.float32).eval()
    assert awq["ppl"] == pytest.approx(independent_ppl(model, smol, eval_text.read_text(encoding="utf-8"), 512, 8),
                                       rel=1e-4)
    assert awq["kld_mean"] > 0 and awq["bpw"] < 9

    with studio_server(env, tmp_path / "server.log") as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = new_page(browser)
        page.goto(url)
        page.get_by_role("tab", name="Compare").click()
        table = page.locator("#compare-table tbody tr")
        table.nth(len(rows) - 1).wait_for()
        assert table.count() == len(rows)
        assert page.locator("#pareto-plot g.qs-point").count() == len(rows)
        assert page.locator("#speed-plot g.qs-point").count() == len(rows)
        assert page.locator("#pareto-plot polyline.qs-frontier").count() == 1
        page.locator("#generations .qs-prompt").first.wait_for()
        page.screenshot(path=str(ARTIFACTS / "compare-every-recipe.png"), full_page=True)
        browser.close()
