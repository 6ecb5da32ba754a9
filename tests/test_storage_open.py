"""Opening the database: any number of processes may start at the same instant on a fresh database, SQLite file
or PostgreSQL database (two workers, or a worker and the studio, started together): one of them migrates it."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from studio.config import REPO_ROOT

PROCESSES = 8
ROUNDS = 20


def _wait_for_files(paths, procs, timeout: float = 300.0) -> None:
    """Until every process has written its file; one that exited without writing it is a failure."""
    deadline = time.monotonic() + timeout
    while missing := [i for i, path in enumerate(paths) if not path.exists()]:
        dead = [procs[i].args for i in missing if procs[i].poll() is not None and not paths[i].exists()]
        assert not dead and time.monotonic() < deadline, f"openers stopped or stuck: {dead}"
        time.sleep(0.01)


@pytest.mark.both_databases
def test_eight_processes_open_a_fresh_database_at_the_same_instant(tmp_path, database, request):
    if database == "sqlite":
        urls = [f"sqlite:///{tmp_path / f'r{r}.db'}" for r in range(ROUNDS)]
    else:
        urls = [request.getfixturevalue("postgres").create_database() for _ in range(ROUNDS)]
    procs = [subprocess.Popen([sys.executable, "-m", "tests.db_opener", str(tmp_path), str(i), *urls],
                              cwd=REPO_ROOT) for i in range(PROCESSES)]
    try:
        failures = []
        for r in range(ROUNDS):
            _wait_for_files([tmp_path / f"r{r}-{i}.ready" for i in range(PROCESSES)], procs)
            (tmp_path / f"r{r}.go").touch()
            outs = [tmp_path / f"r{r}-{i}.out" for i in range(PROCESSES)]
            _wait_for_files(outs, procs)
            failures += [f"round {r}, process {i}: {o.read_text()}" for i, o in enumerate(outs)
                         if o.read_text() != "ok"]
        assert failures == [], "\n".join(failures)
        assert [p.wait(timeout=60) for p in procs] == [0] * PROCESSES
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=60)
