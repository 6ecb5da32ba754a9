"""Several machines: two `python -m jobs.worker` processes, each with its own workspace as on its own
machine, take jobs from a real Redis broker and report into one shared database. Six jobs split
across them and every result (and the shared base row) is stored once."""
from __future__ import annotations

import json
import socket
from collections import Counter
from pathlib import Path

import pytest

from studio.config import Settings
from tests.conftest import make_env
from tests.fleet import Studio, redis_url, results_of, running, submit, wait_finished  # noqa: F401

GGUF_TYPES = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q6_K")


@pytest.fixture
def cluster(tmp_path, studio_cache, tiny, redis_url, monkeypatch):
    """The studio's settings (submits only) and the environment of each worker machine."""
    db_url = f"sqlite:///{tmp_path / 'shared' / 'studio.db'}"
    (tmp_path / "shared").mkdir()

    def machine(name: str) -> dict:
        return {**make_env(tmp_path / name, studio_cache, [tiny.parent]), "STUDIO_DB_URL": db_url,
                "STUDIO_QUEUE_URL": redis_url}

    studio_env = machine("studio")
    for key in ("STUDIO_WORKSPACE", "STUDIO_DB_URL", "STUDIO_QUEUE_URL", "STUDIO_MODEL_DIRS", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(key, studio_env[key])
    return Settings.from_env(), machine("worker-a"), machine("worker-b")


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
