"""Several machines: two `python -m jobs.worker` processes, each with its own workspace as on its own
machine, take jobs from a real Redis broker and report into one shared database, SQLite or PostgreSQL. Six
jobs split across them and every result (and the shared base row) is stored once; a worker killed with -9
mid-job has its job settled by the other, which goes on with the rest. And the reaper never fails a job another
live machine is running."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from jobs.queue import reap
from studio.config import Settings
from studio.storage import Job, session
from studio.storage.tables import utcnow
from tests.conftest import make_env
from tests.fleet import Studio, results_of, running, submit, wait_finished, wait_job

GGUF_TYPES = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q6_K")


# A killed worker's job is settled by the other within this (30 s by default).
REAP_SECONDS = 1.0


@pytest.fixture
def cluster(tmp_path, studio_cache, tiny, redis_url, db_url, monkeypatch):
    """The studio's settings (submits only) and the environment of each worker machine."""
    if db_url is None:
        db_url = f"sqlite:///{tmp_path / 'shared' / 'studio.db'}"
        (tmp_path / "shared").mkdir()

    def machine(name: str) -> dict:
        return {**make_env(tmp_path / name, studio_cache, [tiny.parent]), "STUDIO_DB_URL": db_url,
                "STUDIO_QUEUE_URL": redis_url, "STUDIO_REAP_SECONDS": str(REAP_SECONDS)}

    studio_env = machine("studio")
    for key in ("STUDIO_WORKSPACE", "STUDIO_DB_URL", "STUDIO_QUEUE_URL", "STUDIO_MODEL_DIRS", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(key, studio_env[key])
    return Settings.from_env(), machine("worker-a"), machine("worker-b")


@pytest.mark.both_databases
def test_six_jobs_split_across_two_redis_workers_and_store_once(cluster, tiny, eval_text, tmp_path):
    settings, env_a, env_b = cluster
    a = Studio.worker(env_a, tmp_path / "worker-a.log")
    b = Studio.worker(env_b, tmp_path / "worker-b.log")
    with running(a, b):
        a.wait_for_line("worker ")
        b.wait_for_line("worker ")
        ids = [submit(settings, tiny, f"gguf:{t}", eval_text) for t in GGUF_TYPES]
        jobs = wait_finished(settings, ids)
        assert [j.state for j in jobs] == ["done"] * 6, [(j.id, j.error) for j in jobs]

    host = socket.gethostname()
    ran_by = Counter(j.worker for j in jobs)
    print("jobs per worker:", json.dumps(ran_by))
    assert set(ran_by) == {f"{host}:{a.pid}", f"{host}:{b.pid}"}, "both workers took jobs"

    results = results_of(settings)
    per_job = Counter(r.job_id for r in results if not r.is_base)
    assert per_job == Counter({i: 1 for i in ids}), "one result per job"
    bases = [r for r in results if r.is_base]
    assert len(bases) == 1 and {r.base_key for r in results} == {bases[0].base_key}, "one shared base row"
    for j in jobs:  # each artifact lies in the workspace of the machine that ran the job
        artifact = Path(next(r.artifact for r in results if r.job_id == j.id))
        machine = "worker-a" if j.worker.endswith(f":{a.pid}") else "worker-b"
        assert artifact.is_relative_to(tmp_path / machine / "outputs") and artifact.is_file()


@pytest.mark.both_databases
def test_the_reaper_settles_only_jobs_whose_supervisor_is_gone(settings):
    """At start a studio or worker settles jobs left 'running'. It must not touch a job another machine
    is running (that machine's heartbeat says so) nor one a live process here supervises."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a real pid that no longer runs
    here, now = socket.gethostname(), utcnow()
    rows = {  # name: (worker, started_at, heartbeat_at, stage, expected state)
        "another machine, heartbeat fresh": ("gpu-box-7:4242", now, now, "quantize", "running"),
        "another machine, silent 10 min": ("gpu-box-7:4243", now, now - timedelta(minutes=10), "quantize", "failed"),
        "here, supervisor alive": (f"{here}:{os.getpid()}", now, now, "evaluate", "running"),
        "here, supervisor gone, heavy stage": (f"{here}:{gone.pid}", now, now, "evaluate", "failed"),
        "here, supervisor gone, light stage": (f"{here}:{gone.pid}", now, now, "preflight", "queued"),
        "here, pid reused by a younger process": (f"{here}:{os.getpid()}", now - timedelta(days=3), now,
                                                  "evaluate", "failed"),
    }
    with session(settings.db_url) as s:
        jobs = {name: Job(model="m", model_key="k", recipe="gguf:Q8_0", eval_text_path="", eval_text_sha="",
                          dedupe_key=name, state="running", worker=w, started_at=t, heartbeat_at=h, stage=stage)
                for name, (w, t, h, stage, _) in rows.items()}
        s.add_all(jobs.values())
        s.commit()
    for j in jobs.values():
        settings.job_tmp_dir(j.id).mkdir(parents=True)

    failed = reap(settings)

    with session(settings.db_url) as s:
        states = {name: s.get(Job, j.id).state for name, j in jobs.items()}
    assert states == {name: row[-1] for name, row in rows.items()}
    assert sorted(failed) == sorted(jobs[n].id for n, row in rows.items() if row[-1] == "failed")
    kept = {p.name for p in settings.tmp_dir.iterdir()}
    assert kept == {f"job-{jobs[n].id}" for n, row in rows.items() if row[-1] == "running"}


@pytest.mark.both_databases
def test_a_worker_killed_mid_job_is_settled_by_the_other_which_finishes_the_rest(cluster, tiny, eval_text,
                                                                                 tmp_path):
    """kill -9 of a worker whose job is evaluating: its runner dies with it (PDEATHSIG), the other worker's
    reaper fails that job (heavy work had started) within seconds, and the other five jobs are done, stored
    once. The killed machine, started again, sweeps its temp folder and owns nothing partial."""
    settings, env_a, env_b = cluster
    workers = {"worker-a": Studio.worker(env_a, tmp_path / "worker-a.log"),
               "worker-b": Studio.worker(env_b, tmp_path / "worker-b.log")}
    with running(*workers.values()):
        for w in workers.values():
            w.wait_for_line("worker ")
        # The first job evaluates the whole text: long enough to be caught mid-evaluation.
        ids = [submit(settings, tiny, f"gguf:{t}", eval_text, **({"max_chunks": None} if i == 0 else {}))
               for i, t in enumerate(GGUF_TYPES)]
        victim = wait_job(settings, ids[0], lambda j: j.stage == "evaluate" and j.progress > 0)
        name, killed = next((n, w) for n, w in workers.items() if victim.worker.endswith(f":{w.pid}"))
        survivor = next(w for w in workers.values() if w is not killed)
        killed.kill()
        failed = wait_job(settings, ids[0], lambda j: j.state == "failed", timeout=300)
        jobs = wait_finished(settings, ids[1:])
        survivor.wait_for_line("settled jobs whose supervisor is gone")
    print(f"killed {name} in job {ids[0]}: {failed.error}")
    assert failed.error.startswith("interrupted in stage evaluate") and f":{killed.pid}" in failed.error
    assert [j.state for j in jobs] == ["done"] * 5, [(j.id, j.error) for j in jobs]
    results = results_of(settings)
    assert Counter(r.job_id for r in results if not r.is_base) == Counter({i: 1 for i in ids[1:]})
    assert len([r for r in results if r.is_base]) == 1

    again = Studio.worker({**(env_a if name == "worker-a" else env_b)}, tmp_path / f"{name}-again.log")
    with running(again):
        again.wait_for_line("worker ")
    workspace = tmp_path / name
    assert list((workspace / "tmp").iterdir()) == [], "the killed job's temp folder is swept at the next start"
    owned = {Path(r.artifact) for r in results}
    assert {p for p in (workspace / "outputs").rglob("*") if p.is_file()} <= owned
