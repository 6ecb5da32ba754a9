"""Importing a SmolLM2 result into a (stand-in) Ollama server: one job from the result to a model that
chats with the right template, and every failure a clear message with no model left behind."""
from __future__ import annotations

import json
import socket

import pytest

import jobs.queue
from studio.config import Settings
from studio.ollama import service
from studio.ollama.client import DigestMismatch, ModelExists, OllamaServer, ServerError
from studio.ollama.importer import SMOKE_PROMPT, plan_import, run_import
from studio.ollama.names import InvalidModelName
from studio.ollama.store import OllamaImport
from studio.storage import session
from tests.conftest import run_cli
from tests.ollama_standin import store_gguf_result

CHATML_PROMPT = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
                 f"<|im_start|>user\n{SMOKE_PROMPT}<|im_end|>\n<|im_start|>assistant\n")


class Steps:
    """The job runner's reporting, recorded."""

    def __init__(self):
        self.stages, self.lines, self.undo_records = [], [], []

    def enter(self, stage):
        self.stages.append(stage)

    def report(self, fraction, line=None):
        if line:
            self.lines.append(line)

    def log(self, line):
        self.lines.append(line)

    def creating(self, host, name, existed):
        self.undo_records.append(("creating", host, name, existed))

    def settled(self):
        self.undo_records.append(("settled",))


def _plan(results_ws, recipe="gguf:Q4_K_M", name="smol:q4"):
    preview = service.preview_modelfile(results_ws["settings"], results_ws["rows"][recipe]["id"])
    return plan_import(preview.artifact, name, preview.text)


def test_q4_k_m_imports_with_one_command_and_chats_with_the_chatml_template(results_ws, standin):
    q4 = results_ws["rows"]["gguf:Q4_K_M"]
    preview = service.preview_modelfile(results_ws["settings"], q4["id"])
    assert preview.family == "chatml" and preview.warnings == ()
    proc = run_cli(["ollama", "import", str(q4["id"]), "--name", "smollm2-135m:q4_k_m", "--host", standin.url,
                    "--wait", "--json"], results_ws["env"], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = json.loads(proc.stdout)
    print(f"smoke answer: {outcome['smoke_answer']!r}; import took {outcome['seconds']:.2f} s")
    assert "Paris" in outcome["smoke_answer"]
    # The Modelfile shown for review is the one used, and the server got exactly its template and stops.
    assert outcome["modelfile"] == preview.text
    parsed = plan_import(preview.artifact, "x", preview.text).modelfile
    assert outcome["show"]["template"] == parsed.template
    assert outcome["show"]["parameters"].splitlines() == [f'{"stop":<30} "<|im_start|>"', f'{"stop":<30} "<|im_end|>"']
    assert outcome["show"]["details"]["quantization_level"] == "Q4_K_M"
    assert outcome["show"]["model_info"]["general.architecture"] == "llama"
    assert standin.prompts == [CHATML_PROMPT]
    assert ("POST", f"/api/blobs/{outcome['digest']}") in standin.requests
    assert [m["name"] for m in standin.tags()["models"]] == ["smollm2-135m:q4_k_m"]
    with session(results_ws["settings"].db_url) as s:
        assert s.get(OllamaImport, outcome["id"]).smoke_answer == outcome["smoke_answer"]
    log = run_cli(["log", str(outcome["job_id"])], results_ws["env"]).stdout
    assert "ollama: writing manifest" in log and "ollama: success" in log


def test_a_second_import_skips_the_upload_and_overwrite_must_be_confirmed(results_ws, standin):
    server, steps = OllamaServer(standin.url), Steps()
    first = run_import(server, _plan(results_ws), overwrite=False, steps=steps)
    assert first.uploaded
    with pytest.raises(ModelExists, match="already exists.*confirm overwrite"):
        run_import(server, _plan(results_ws), overwrite=False, steps=Steps())
    assert standin.show("smol:q4")[0] == 200  # refused, not deleted
    again = run_import(server, _plan(results_ws), overwrite=True, steps=Steps())
    assert not again.uploaded and again.digest == first.digest
    assert sum(1 for method, path in standin.requests if method == "POST" and "/api/blobs/" in path) == 1


def test_server_down_says_how_to_start_ollama_and_the_job_fails_with_it(results_ws):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    q4 = results_ws["rows"]["gguf:Q4_K_M"]
    proc = run_cli(["ollama", "import", str(q4["id"]), "--name", "smol:down", "--host", dead, "--wait"],
                   results_ws["env"], timeout=300)
    assert proc.returncode == 1
    assert f"no Ollama server answers at {dead}" in proc.stderr and "ollama serve" in proc.stderr
    print(proc.stderr.strip().splitlines()[-1])


def test_digest_mismatch_is_reported_and_nothing_is_created(results_ws, standin):
    standin.faults.add("corrupt_upload")
    steps = Steps()
    with pytest.raises(DigestMismatch, match="digest mismatch.*Nothing was created"):
        run_import(OllamaServer(standin.url), _plan(results_ws), overwrite=False, steps=steps)
    assert "create" not in steps.stages
    assert standin.tags() == {"models": []} and not list(standin.blobs.iterdir())


@pytest.mark.parametrize("fault", ["fail_mid_create", "fail_after_manifest"])
def test_a_server_error_mid_stream_deletes_the_partial_model(results_ws, standin, fault):
    standin.faults.add(fault)
    steps = Steps()
    with pytest.raises(ServerError, match="create failed: the Ollama server at .* reported an error during "
                                          "POST /api/create: (write|remove) "):
        run_import(OllamaServer(standin.url), _plan(results_ws), overwrite=False, steps=steps)
    assert standin.tags() == {"models": []}
    # recorded before `create`, and undone in-process: nothing is left for the supervisor
    assert steps.undo_records == [("creating", standin.url, "smol:q4", False), ("settled",)]
    assert any(line.startswith(("deleted the partly imported model", "no model")) for line in steps.lines)
    assert ("DELETE", "/api/delete") in standin.requests


def test_an_invalid_name_is_refused_before_a_job_is_queued(results_ws, standin):
    q4 = results_ws["rows"]["gguf:Q4_K_M"]
    with pytest.raises(InvalidModelName, match="may only hold"):
        service.submit_import(results_ws["settings"], service.ImportRequest(q4["id"], "my model", standin.url, ""),
                              jobs.queue.enqueue)
    proc = run_cli(["ollama", "import", str(q4["id"]), "--name", "bad name!", "--host", standin.url],
                   results_ws["env"])
    assert proc.returncode == 2 and "invalid model name 'bad name!'" in proc.stderr
    assert standin.requests == []


def test_cancelling_an_import_mid_create_deletes_the_model(results_ws, standin):
    import time

    from jobs.queue import start_consumer
    from studio import service as studio_service

    standin.faults.add("slow_create")
    settings = results_ws["settings"]
    preview = service.preview_modelfile(settings, results_ws["rows"]["gguf:Q4_K_M"]["id"])
    consumer = start_consumer(settings)
    try:
        job_id = service.submit_import(settings, service.ImportRequest(preview.result_id, "smol:cancel", standin.url,
                                                                       preview.text), jobs.queue.enqueue)
        deadline = time.monotonic() + 120
        while "smol:cancel" not in str(standin.tags()) and time.monotonic() < deadline:
            time.sleep(0.1)  # the manifest is written; the create stream is still open
        print(studio_service.cancel(settings, job_id))
        job = studio_service.wait_for(settings, [job_id])[0]
    finally:
        consumer.stop(graceful=False)
    assert job.state == "cancelled"
    assert standin.tags() == {"models": []}
    log = "\n".join(studio_service.job_log(settings, job_id))
    assert "deleted the partly imported model 'smol:cancel'" in log


@pytest.mark.parametrize("among_outputs", [True, False])
def test_download_offers_the_modelfile_as_edited_and_the_gguf(tmp_path, among_outputs):
    from studio.ollama.service import download_files
    settings = Settings.from_env(tmp_path / "ws")
    settings.ensure_dirs()
    gguf = (settings.outputs_dir / "smol" if among_outputs else tmp_path / "elsewhere") / "job1-smol-Q4_K_M.gguf"
    gguf.parent.mkdir(parents=True)
    gguf.write_bytes(b"GGUF" + bytes(60))
    result_id = store_gguf_result(settings, gguf, base_artifact=gguf)
    text = 'FROM ./job1-smol-Q4_K_M.gguf\nTEMPLATE """{{ .Prompt }}"""\nPARAMETER stop "<|im_end|>"\n'
    files, note = download_files(settings, result_id, text)
    assert files[0].name == "Modelfile" and files[0].read_text(encoding="utf-8") == text
    assert files[0].resolve().is_relative_to(settings.outputs_dir.resolve())  # servable by the UI
    if among_outputs:
        assert files[1:] == [gguf] and note is None
    else:
        assert files[1:] == [] and str(gguf) in note
