"""An import killed outright (kill -9 of its process, or of the worker supervising it) leaves no model on the
server: what it was about to create is recorded before `create`, and the job's supervisor, or the reaper at
the next start, deletes it and says so in the job's error. And a result that was imported can be deleted:
its import records go with it, the model stays, and the message says how to remove it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from sqlmodel import select

import jobs.queue
from jobs.queue import reap, start_consumer
from studio import service as studio_service
from studio.config import REPO_ROOT, Settings
from studio.ollama import service
from studio.ollama.client import OllamaServer
from studio.ollama.importer import plan_import, run_import
from studio.ollama.store import OllamaImport, PendingImport
from studio.storage import Job, JobState, Result, reading, session
from tests.conftest import make_env
from tests.models import smollm2_gguf
from tests.ollama_standin import smollm2_q4_k_m, store_gguf_result
from tests.test_ollama_import import Steps

BOUND = 300  # seconds: generous, for a busy 2-core machine


@pytest.fixture
def ws(tmp_path, studio_cache):
    """A fresh workspace (the reaper looks at every job in it) holding a real SmolLM2 Q4_K_M result."""
    settings = Settings.from_env(tmp_path / "ws")
    settings.ensure_dirs()
    gguf = smollm2_q4_k_m(studio_cache / "test-models")
    result_id = store_gguf_result(settings, gguf, base_artifact=smollm2_gguf())
    return {"settings": settings, "result_id": result_id, "gguf": gguf,
            "env": make_env(tmp_path / "ws", studio_cache, [])}


def _wait(what: str, check, bound: float = BOUND):
    deadline = time.monotonic() + bound
    while not (value := check()):
        assert time.monotonic() < deadline, f"waited {bound} s for {what}"
        time.sleep(0.1)
    return value


def _job(settings, job_id) -> Job:
    with reading(settings.db_url) as s:
        return s.get(Job, job_id)


def _finished(settings, job_id) -> Job | None:
    job = _job(settings, job_id)
    return job if job.state in JobState.FINISHED else None


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # dead, its parent not yet told
    except psutil.NoSuchProcess:
        return True


def _pending(settings, job_id) -> PendingImport | None:
    with session(settings.db_url) as s:
        return s.get(PendingImport, job_id)


def _submit(ws, standin, name: str, overwrite: bool = False) -> int:
    preview = service.preview_modelfile(ws["settings"], ws["result_id"])
    return service.submit_import(ws["settings"], service.ImportRequest(ws["result_id"], name, standin.url,
                                                                       preview.text, overwrite), jobs.queue.enqueue)


def _import_directly(ws, standin, name: str) -> None:
    preview = service.preview_modelfile(ws["settings"], ws["result_id"])
    run_import(OllamaServer(standin.url), plan_import(preview.artifact, name, preview.text), False, Steps())


def _kill_in_smoke_test(ws, standin, job_id: int, victim) -> None:
    """Wait until the job's smoke chat is being answered (the model exists), then SIGKILL `victim(job)`."""
    assert standin.chat_started.wait(BOUND), "the import never reached its smoke chat"
    job = _job(ws["settings"], job_id)
    assert job.stage == "smoke test" and _pending(ws["settings"], job_id) is not None
    os.kill(victim(job), signal.SIGKILL)


@pytest.mark.parametrize("existed", [False, True])
def test_the_supervisor_undoes_an_import_whose_process_was_killed(ws, standin, existed):
    settings, name = ws["settings"], "smol:killed"
    if existed:
        _import_directly(ws, standin, name)  # a model of that name is there before; the import overwrites it
    standin.faults.add("hold_chat")
    consumer = start_consumer(settings)
    try:
        job_id = _submit(ws, standin, name, overwrite=existed)
        _kill_in_smoke_test(ws, standin, job_id, victim=lambda job: job.pid)
        job = _wait("the supervisor to settle the job", lambda: _finished(settings, job_id))
    finally:
        standin.release_chat.set()
        consumer.stop(graceful=False)
    log = "\n".join(studio_service.job_log(settings, job_id))
    assert job.state == "failed" and "deleted the partly imported model" not in log  # the process's own undo never ran
    assert job.error.startswith("the import did not finish (it stopped in stage smoke test): ")
    if existed:
        assert job.error.endswith(f"the model {name!r} on {standin.url} existed before it and is left as the server "
                                  "has it (possibly replaced)")
        assert [m["name"] for m in standin.tags()["models"]] == [name]
        assert ("DELETE", "/api/delete") not in standin.requests
    else:
        assert job.error.endswith(f"deleted the model {name!r} on {standin.url} it had created")
        assert standin.tags() == {"models": []}
    assert job.error in log and _pending(settings, job_id) is None


@pytest.mark.parametrize("server_up", [True, False])
def test_the_reaper_undoes_an_import_whose_worker_was_killed(ws, standin, server_up):
    settings, name = ws["settings"], "smol:orphan"
    standin.faults.add("hold_chat")
    worker = subprocess.Popen([sys.executable, "-m", "jobs.worker"], env=ws["env"], cwd=REPO_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        job_id = _submit(ws, standin, name)
        _kill_in_smoke_test(ws, standin, job_id, victim=lambda job: worker.pid)  # the whole supervising process
        worker.wait(timeout=30)
        runner = _job(settings, job_id).pid
        _wait("the import's process to die with its worker", lambda: _gone(runner), bound=30)
    finally:
        worker.kill()
        worker.wait()
    assert _job(settings, job_id).state == "running"  # nobody settled it: its supervisor is gone
    if not server_up:
        standin.stop()
    assert reap(settings) == [job_id]
    job = _job(settings, job_id)
    assert job.state == "failed" and job.error.startswith("interrupted in stage smoke test: ")
    if server_up:
        assert job.error.endswith(f"deleted the model {name!r} on {standin.url} it had created")
        assert standin.tags() == {"models": []}
    else:
        assert job.error.endswith(f"the model {name!r} on {standin.url} it may have created could not be deleted "
                                  f"(the server does not answer); remove it with "
                                  f"`OLLAMA_HOST={standin.url} ollama rm {name}`")
    assert _pending(settings, job_id) is None


def test_an_imported_result_can_be_deleted_and_the_message_says_the_model_stays(ws, standin):
    settings, name = ws["settings"], "smol:kept"
    consumer = start_consumer(settings)
    try:
        job_id = _submit(ws, standin, name)
        job = _wait("the import", lambda: _finished(settings, job_id))
    finally:
        consumer.stop(graceful=False)
    assert job.state == "done", job.error
    removed = studio_service.delete_result(settings, ws["result_id"])
    assert removed == [f"the record of its Ollama import as {name!r} into {standin.url}; the model itself stays on "
                       f"that server: remove it there with `OLLAMA_HOST={standin.url} ollama rm {name}`"]
    with session(settings.db_url) as s:
        assert s.get(Result, ws["result_id"]) is None
        assert s.exec(select(OllamaImport).where(OllamaImport.result_id == ws["result_id"])).all() == []
    assert [m["name"] for m in standin.tags()["models"]] == [name]
    assert ws["gguf"].exists()  # a file outside the outputs folder is never deleted


def test_a_result_cannot_be_deleted_while_an_import_of_it_is_queued(ws, standin):
    job_id = _submit(ws, standin, "smol:later")  # no consumer: it stays queued
    with pytest.raises(studio_service.DeleteError, match=rf"being imported into Ollama by job #{job_id} \(queued\)"):
        studio_service.delete_result(ws["settings"], ws["result_id"])
    studio_service.cancel(ws["settings"], job_id)
