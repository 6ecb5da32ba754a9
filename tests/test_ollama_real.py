"""Opt-in: the same import against a real Ollama server. Set OLLAMA_TEST_HOST (e.g.
http://127.0.0.1:11434) to run it; the model it creates is deleted afterwards."""
from __future__ import annotations

import os

import pytest

from studio.config import Settings
from studio.ollama import service
from studio.ollama.client import OllamaServer
from studio.ollama.importer import plan_import, run_import
from tests.models import smollm2_gguf
from tests.ollama_standin import smollm2_q4_k_m, store_gguf_result

HOST = os.environ.get("OLLAMA_TEST_HOST")
pytestmark = pytest.mark.skipif(not HOST, reason="set OLLAMA_TEST_HOST=http://HOST:11434 to test against a real Ollama")
NAME = "quantization-studio-test:smollm2-q4_k_m"


class PrintSteps:
    def enter(self, stage):
        print(f"== {stage}")

    def report(self, fraction, line=None):
        if line:
            print(line)

    def log(self, line):
        print(line)


def test_real_ollama_imports_smollm2_and_answers(tmp_path, studio_cache):
    settings = Settings.from_env(tmp_path / "ws")
    settings.ensure_dirs()
    result_id = store_gguf_result(settings, smollm2_q4_k_m(studio_cache / "test-models"), smollm2_gguf())
    preview = service.preview_modelfile(settings, result_id)
    server = OllamaServer(HOST)
    try:
        outcome = run_import(server, plan_import(preview.artifact, NAME, preview.text), overwrite=True,
                             steps=PrintSteps())
        print(f"Ollama {outcome.server_version}: {outcome.smoke_answer!r} in {outcome.seconds:.1f} s")
        assert "Paris" in outcome.smoke_answer
        assert outcome.show["details"]["quantization_level"] == "Q4_K_M"
        assert outcome.show["template"] == plan_import(preview.artifact, NAME, preview.text).modelfile.template
    finally:
        server.delete(NAME)
