"""`python -m tests.progress_writer JOB_ID COUNTER_JOB_ID SECONDS OUT.json`: one of the concurrent
writers of the soak test, a stand-in for a job process.

For SECONDS it alternates the runner's own progress write on its job row (JobRunner._update, the code
path every job uses) with a read-modify-write increment of a counter shared by all writers (the pattern
that loses updates under deferred transactions). It counts what it committed and every error, and
writes the counts to OUT.json for the test to check against the database.
"""
from __future__ import annotations

import json
import sys
import time

from jobs.runner import JobRunner
from studio.config import Settings
from studio.storage import Job, session


def increment(settings: Settings, counter_id: int) -> None:
    with session(settings.db_url) as s:
        counter = s.get(Job, counter_id)
        counter.progress += 1
        s.add(counter)
        s.commit()


def main() -> None:
    job_id, counter_id, seconds, out = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    settings = Settings.from_env()
    runner = JobRunner(settings, job_id)
    updates = increments = 0
    errors: list[str] = []
    slowest = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            runner._update(progress=(updates + 1) / 1e6, eta_seconds=float(updates + 1))
            updates += 1
            increment(settings, counter_id)
            increments += 1
        except Exception as exc:  # counted, never hidden: the test expects none
            errors.append(f"{type(exc).__name__}: {exc}")
        slowest = max(slowest, time.monotonic() - started)
    with open(out, "w") as f:
        json.dump({"updates": updates, "increments": increments, "errors": errors, "slowest_s": slowest}, f)


if __name__ == "__main__":
    main()
