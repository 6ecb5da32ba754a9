"""Jobs run in their own process group: cancel stops them without leftovers, a killed job fails
with the reason, and the queue goes on."""
from __future__ import annotations

import os
import signal
import time

import pytest

import jobs.queue
from jobs.process import group_alive
from jobs.queue import start_consumer
from studio import service
from studio.storage import Job, session
from tests.fleet import CANCEL_CEILING_S


def _job(settings, job_id) -> Job:
    with session(settings.db_url) as s:
        return s.get(Job, job_id)


def _wait(settings, job_id, predicate, timeout=300.0) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(settings, job_id)
        if predicate(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} stuck: {job.state}/{job.stage} {job.error}")


def _submit(settings, model, recipe, **kw) -> int:
    request = service.JobRequest(model=str(model), recipes=(recipe,),
                                 overrides=(("gguf.checkpoint_kld", "false"),), **kw)
    return service.submit(settings, request, jobs.queue.enqueue)[0]


@pytest.fixture
def consumer(settings):
    c = start_consumer(settings, workers=1)
    yield c
    c.stop(graceful=False)


def _outputs(settings) -> list:
    return [p for p in settings.outputs_dir.rglob("*") if p.is_file()]


def test_cancel_a_running_job_leaves_nothing(settings, smol, consumer):
    job_id = _submit(settings, smol, "gguf:Q8_0")  # the whole built-in sample: ~30 chunks to evaluate
    job = _wait(settings, job_id, lambda j: j.stage == "evaluate" and j.progress > 0)
    pgid = job.pid
    t0 = time.monotonic()
    print(service.cancel(settings, job_id))
    while group_alive(pgid) and time.monotonic() - t0 < 120:
        time.sleep(0.02)
    stopped = time.monotonic() - t0
    print(f"process group gone {stopped:.2f} s after cancel")
    assert stopped < CANCEL_CEILING_S
    job = _wait(settings, job_id, lambda j: j.state == "cancelled", timeout=120)
    assert _outputs(settings) == []
    assert not settings.job_tmp_dir(job_id).exists()


def test_killed_job_fails_with_the_signal_and_the_queue_goes_on(settings, smol, tiny, consumer):
    victim = _submit(settings, smol, "mxfp4")  # quantizes for tens of seconds, in the runner itself
    survivor = _submit(settings, tiny, "gguf:Q8_0", max_chunks=2)
    never = _submit(settings, tiny, "gguf:Q4_0", max_chunks=2)
    assert service.cancel(settings, never) == f"job #{never} cancelled"
    job = _wait(settings, victim, lambda j: j.stage == "quantize" and j.progress > 0 and j.pid)
    os.kill(job.pid, signal.SIGKILL)
    job = _wait(settings, victim, lambda j: j.state == "failed")
    assert "killed (signal 9)" in job.error and job.stage == "quantize"
    assert not settings.job_tmp_dir(victim).exists()
    assert not any(part.startswith(f"job{victim}-") for p in _outputs(settings)
                   for part in p.relative_to(settings.outputs_dir).parts)
    assert _wait(settings, survivor, lambda j: j.state in ("done", "failed")).state == "done"
    never_job = _job(settings, never)
    assert never_job.state == "cancelled" and never_job.started_at is None


@pytest.mark.both_databases
def test_the_same_job_twice_while_pending_is_refused(settings, tiny):
    from studio.preflight import PreflightError

    first = _submit(settings, tiny, "gguf:Q8_0", max_chunks=2)
    with pytest.raises(PreflightError, match=f"already queued as job #{first}"):
        _submit(settings, tiny, "gguf:Q8_0", max_chunks=2)


@pytest.mark.both_databases
def test_reaper_fails_jobs_left_running_by_a_dead_process(settings, tiny):
    from jobs.queue import reap

    job_id = _submit(settings, tiny, "gguf:Q8_0", max_chunks=2)
    with session(settings.db_url) as s:
        job = s.get(Job, job_id)
        job.state, job.pid = "running", 2**22 + 12345  # no such process
        s.add(job)
        s.commit()
    settings.job_tmp_dir(job_id).mkdir(parents=True)
    assert reap(settings) == [job_id]
    job = _job(settings, job_id)
    assert job.state == "failed" and "interrupted" in job.error
    assert not settings.job_tmp_dir(job_id).exists()
