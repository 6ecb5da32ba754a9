"""The real app in headless Chromium: on the Compare tab, import a SmolLM2 Q4_K_M result into a
(stand-in) Ollama server with one click and read the smoke-test answer."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from studio.config import Settings
from studio.ollama.store import OllamaImport
from studio.storage import session
from tests.browser import launch_chromium, new_page, studio_server
from tests.conftest import ARTIFACTS, make_env
from tests.models import smollm2_gguf
from tests.ollama_standin import smollm2_q4_k_m, store_gguf_result

pytestmark = pytest.mark.browser


@pytest.fixture
def app_url(tmp_path, studio_cache, smol, standin):
    ws = tmp_path / "ws"
    settings = Settings.from_env(ws)
    settings.ensure_dirs()
    store_gguf_result(settings, smollm2_q4_k_m(studio_cache / "test-models"), base_artifact=smollm2_gguf())
    env = {**make_env(ws, studio_cache, [smol.parent]), "OLLAMA_HOST": standin.url}
    with studio_server(env, tmp_path / "server.log") as url:
        yield url, settings


def _field(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def test_import_a_result_into_ollama_with_one_click(app_url, standin):
    from playwright.sync_api import sync_playwright

    url, settings = app_url
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = new_page(browser, height=1400)
        page.goto(url)
        page.get_by_role("tab", name="Compare").click()
        modelfile = page.locator("#ollama-modelfile textarea")
        page.wait_for_function("() => document.querySelector('#ollama-modelfile textarea')?.value.includes('TEMPLATE')")
        assert "chatml" in page.locator("#ollama-warnings").inner_text()
        assert _field(page, "ollama-host").input_value() == standin.url
        _field(page, "ollama-name").fill("smollm2-135m:q4_k_m")
        # The user's edit survives leaving the tab and coming back (the panel refreshes its list, nothing else).
        modelfile.fill(modelfile.input_value() + "PARAMETER num_ctx 2048\n")
        page.get_by_role("tab", name="Jobs").click()
        page.get_by_role("tab", name="Compare").click()
        page.locator("#compare-table").wait_for()
        page.wait_for_function("() => !document.querySelector('#ollama-panel .pending')")
        assert modelfile.input_value().endswith("PARAMETER num_ctx 2048\n")
        assert _field(page, "ollama-name").input_value() == "smollm2-135m:q4_k_m"
        commands = page.locator("#ollama-commands").inner_text()
        assert "ollama create" in commands and "llama-server -m" in commands and ".gguf" in commands
        shown = modelfile.input_value()
        page.locator("#ollama-import-btn").click()
        answer = page.locator("#ollama-smoke-answer")
        answer.wait_for(timeout=180_000)
        print(f"smoke answer in the browser: {answer.inner_text()!r}")
        assert "Paris" in answer.inner_text()
        assert "Q4_K_M" in page.locator("#ollama-outcome").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ollama-import.png"), full_page=True)
        # For importing by hand: the Modelfile as shown; this GGUF lives outside the outputs the UI
        # serves, so the panel says where to copy it from (test_ollama_import checks the other case).
        page.locator("#ollama-download-btn").click()
        link = page.locator("#ollama-files a[download='Modelfile']")
        link.wait_for(timeout=30_000)
        with page.expect_download() as download:
            link.click()
        assert Path(download.value.path()).read_text(encoding="utf-8") == shown
        assert "copy it from" in page.locator("#ollama-files").inner_text()
        browser.close()
    with session(settings.db_url) as s:
        stored = s.exec(select(OllamaImport)).one()
    assert stored.modelfile == shown  # the Modelfile shown is the one used
    assert [m["name"] for m in standin.tags()["models"]] == ["smollm2-135m:q4_k_m"]
