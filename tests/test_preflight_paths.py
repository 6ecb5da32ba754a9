"""A file named by a recipe option (a calibration text) is stored resolved and confined at submit, and checked
again when the job runs, before anything heavy: the job reads the file its preflight checked, or stops."""
from __future__ import annotations

import subprocess
import sys

import pytest

import jobs.queue
from studio import recipes, service
from studio.config import REPO_ROOT
from studio.models import read_model_facts
from studio.preflight import PreflightError
from studio.storage import Job, reading, session


@pytest.fixture
def calibration(settings, eval_text):
    path = settings.uploads_dir / "calib.txt"
    path.write_text(eval_text.read_text()[:20_000])
    return path


def _request(tiny, eval_text, imatrix_text: str) -> service.JobRequest:
    return service.JobRequest(model=str(tiny), recipes=("gguf:Q2_K",), eval_text=eval_text, n_ctx=128, max_chunks=2,
                              max_new_tokens=8, overrides=(("gguf.imatrix_text", imatrix_text),))


def _stored_job(settings, job_id: int) -> Job:
    with reading(settings.db_url) as s:
        return s.get(Job, job_id)


def test_a_relative_calibration_path_is_stored_resolved(settings, tiny, eval_text, calibration, monkeypatch):
    monkeypatch.chdir(calibration.parent)
    [job_id] = service.submit(settings, _request(tiny, eval_text, "calib.txt"), jobs.queue.enqueue)
    assert _stored_job(settings, job_id).options["imatrix_text"] == str(calibration)


def test_a_relative_path_leading_out_of_the_allowed_folders_is_refused_naming_the_option(
        settings, tiny, eval_text, tmp_path, monkeypatch):
    outside = tmp_path / "outside" / "calib.txt"
    outside.parent.mkdir()
    outside.write_text("text " * 1000)
    monkeypatch.chdir(settings.uploads_dir)
    with pytest.raises(PreflightError) as refused:
        service.preflight(settings, _request(tiny, eval_text, "../../outside/calib.txt"))
    [reason] = refused.value.reasons
    assert reason.startswith(f"gguf:Q2_K: gguf.imatrix_text ../../outside/calib.txt (→ {outside}) is outside the "
                             "allowed folders"), reason


def _run_job(settings, env, job_id: int) -> Job:
    proc = subprocess.run([sys.executable, "-m", "jobs.runner", str(job_id)], env=env, cwd=REPO_ROOT, text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "== stage: quantize" not in proc.stdout
    return _stored_job(settings, job_id)


def test_the_runner_stops_at_preflight_when_the_calibration_file_now_links_outside(
        settings, workspace_env, tiny, eval_text, calibration, tmp_path):
    [job_id] = service.submit(settings, _request(tiny, eval_text, str(calibration)), jobs.queue.enqueue)
    outside = tmp_path / "outside.txt"
    outside.write_text(calibration.read_text())
    calibration.unlink()
    calibration.symlink_to(outside)
    job = _run_job(settings, workspace_env, job_id)
    assert job.stage == "preflight"
    assert job.error.startswith(f"preflight: gguf.imatrix_text {calibration} (→ {outside}) is outside the allowed "
                                "folders"), job.error


def test_the_runner_stops_at_preflight_on_a_relative_path_or_a_prompt_too_long(
        settings, workspace_env, tiny, eval_text):
    """Rows stored before preflight resolved paths and counted prompts' tokens."""
    _, options = recipes.parse_recipe_spec("gguf:Q2_K", {"gguf.imatrix_text": "calib.txt"})
    long_prompt = " ".join(eval_text.read_text().split()[:3000])
    with session(settings.db_url) as s:
        job = Job(model=str(tiny), model_key=read_model_facts(tiny, settings).key, recipe="gguf:Q2_K+imatrix",
                  recipe_name="gguf", options=options, eval_text_path=str(eval_text), eval_text_sha="-", n_ctx=128,
                  max_chunks=2, prompts=["Write a haiku.", long_prompt], max_new_tokens=8, dedupe_key="legacy")
        s.add(job)
        s.commit()
        job_id = job.id
    job = _run_job(settings, workspace_env, job_id)
    reasons = job.error.removeprefix("preflight: ").splitlines()
    assert job.stage == "preflight" and len(reasons) == 2, job.error
    assert reasons[0] == "gguf.imatrix_text: 'calib.txt' is stored as a relative path, which no longer says where " \
                         "the file is: submit the job again"
    assert reasons[1].startswith("prompt 2 has ") and "at most 512 fit" in reasons[1]


def test_the_model_picker_lists_checkpoints_under_the_allowed_folders_only(tmp_path):
    """Folders with a config.json under the allowed roots (a hub-cache snapshot four levels down included);
    a linked folder is not followed, whatever it points at."""
    from studio.models import local_checkpoints
    root, outside = tmp_path / "models", tmp_path / "elsewhere"
    for folder in (root / "tiny", root / "hub" / "models--org--name" / "snapshots" / "abc123", outside / "secret"):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    (root / "notes").mkdir()
    (root / "link").symlink_to(outside)
    found = local_checkpoints((root,))
    assert found == [root / "hub" / "models--org--name" / "snapshots" / "abc123", root / "tiny"]
