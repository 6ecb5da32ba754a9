"""The queue: huey on SQLite by default, on Redis when STUDIO_QUEUE_URL=redis://… is set.

A huey task only supervises: the job's work runs in `python -m jobs.runner JOB_ID`, a subprocess in
its own process group. The task relays its output to the job log, stops it on cancel, and records
how it ended.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import sys
import threading
import time
from pathlib import Path

from huey import RedisHuey, SqliteHuey
from huey.consumer import Consumer
from sqlmodel import select

from jobs.process import exit_reason, spawn, stop_group
from studio.config import Settings, REPO_ROOT
from studio.storage import Job, JobLog, JobState, session
from studio.storage.tables import utcnow

_queues: dict[tuple, tuple] = {}


def _queue(settings: Settings) -> tuple:
    """(huey, run_job task) for these settings; the task carries the settings it was made with."""
    key = (settings.queue_url, str(settings.workspace), settings.db_url)
    if key not in _queues:
        if settings.queue_url:
            huey = RedisHuey("studio", url=settings.queue_url)
        else:
            settings.ensure_dirs()
            huey = SqliteHuey("studio", filename=str(settings.workspace / "queue.db"))
        task = huey.task(name="run_job")(lambda job_id: supervise(settings, job_id))
        _queues[key] = (huey, task)
    return _queues[key]


def get_huey(settings: Settings):
    return _queue(settings)[0]


def enqueue(settings: Settings, job_id: int) -> None:
    _queue(settings)[1](job_id)


def claim(settings: Settings, job_id: int) -> bool:
    """queued -> running, atomically: a job runs once even if two consumers see it."""
    with session(settings.db_url) as s:
        job = s.get(Job, job_id)
        if job is None or job.state != JobState.QUEUED:
            return False
        job.state, job.stage, job.started_at = JobState.RUNNING, "starting", utcnow()
        s.add(job)
        s.commit()
        return True


RUNNER_MODULES = ("jobs.runner", "jobs.ollama_job")


def runner_module(recipe: str) -> str:
    """Ollama imports (recipe "ollama:…") have their own runner; every other job quantizes."""
    return "jobs.ollama_job" if recipe.startswith("ollama:") else "jobs.runner"


def supervise(settings: Settings, job_id: int) -> None:
    if not claim(settings, job_id):
        return
    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    proc, cancelled, failure = None, False, None
    try:
        with session(settings.db_url) as s:
            module = runner_module(s.get(Job, job_id).recipe)
        proc = spawn([sys.executable, "-m", module, str(job_id)], new_group=True, env=env,
                     cwd=str(REPO_ROOT), from_threaded_parent=True)
        with session(settings.db_url) as s:
            job = s.get(Job, job_id)
            job.pid = proc.pid
            s.add(job)
            s.commit()
        relay = threading.Thread(target=_relay_log, args=(settings, job_id, proc), daemon=True)
        relay.start()
        cancelled = _wait_or_cancel(settings, job_id, proc)
        relay.join(timeout=10)
    except Exception as exc:  # the supervisor itself failed: stop the job rather than orphan it
        failure = f"supervisor error: {type(exc).__name__}: {exc}"
        if proc is not None:
            stop_group(proc)
    finally:
        _finish(settings, job_id, proc.returncode if proc else None, cancelled, failure)


def _wait_or_cancel(settings: Settings, job_id: int, proc) -> bool:
    while proc.poll() is None:
        with session(settings.db_url) as s:
            job = s.get(Job, job_id)
        # Once storing has begun the job finishes whole: stopping it there could orphan its artifact.
        if job.cancel_requested and job.stage != "store":
            stop_group(proc)
            return True
        time.sleep(0.25)
    return False


def _relay_log(settings: Settings, job_id: int, proc) -> None:
    """Append the runner's output to the job log, a batch at a time."""
    batch: list[str] = []
    last = time.monotonic()
    for line in proc.stdout:
        batch.append(line.rstrip("\n"))
        if time.monotonic() - last > 0.5 or len(batch) >= 200:
            _append_log(settings, job_id, batch)
            batch, last = [], time.monotonic()
    _append_log(settings, job_id, batch)


def _append_log(settings: Settings, job_id: int, lines: list[str]) -> None:
    """Store log lines; a failed write loses those lines, never the pipe (a full pipe would block the job)."""
    if not lines:
        return
    try:
        with session(settings.db_url) as s:
            s.add_all([JobLog(job_id=job_id, line=line) for line in lines])
            s.commit()
    except Exception as exc:
        print(f"job {job_id}: could not store {len(lines)} log line(s): {exc}", file=sys.stderr)


def _finish(settings: Settings, job_id: int, returncode: int | None, cancelled: bool, failure: str | None) -> None:
    shutil.rmtree(settings.job_tmp_dir(job_id), ignore_errors=True)
    with session(settings.db_url) as s:
        job = s.get(Job, job_id)
        if job.state == JobState.RUNNING:  # the runner marks success itself
            if cancelled or job.cancel_requested:
                job.state, job.error = JobState.CANCELLED, "cancelled by the user"
            else:
                job.state = JobState.FAILED
                job.error = failure or job.error or exit_reason(returncode)
            job.finished_at = utcnow()
        job.pid = None
        s.add(job)
        s.commit()


def reap(settings: Settings) -> list[int]:
    """Mark jobs left 'running' by a process that is gone as failed, and clean their temp files."""
    reaped = []
    with session(settings.db_url) as s:
        for job in s.exec(select(Job).where(Job.state == JobState.RUNNING)).all():
            if job.pid and _is_runner(job.pid, job.id):
                continue
            job.state, job.finished_at = JobState.FAILED, utcnow()
            job.error = "interrupted: the process running it stopped (studio or worker restarted)"
            s.add(job)
            reaped.append(job.id)
            shutil.rmtree(settings.job_tmp_dir(job.id), ignore_errors=True)
        s.commit()
    return reaped


def _is_runner(pid: int, job_id: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(m.encode() in cmdline for m in RUNNER_MODULES) and str(job_id).encode() in cmdline


def requeue_pending(settings: Settings) -> int:
    """The job table is the truth: re-enqueue every queued job (embedded queue only)."""
    huey = get_huey(settings)
    huey.flush()
    with session(settings.db_url) as s:
        pending = s.exec(select(Job.id).where(Job.state == JobState.QUEUED).order_by(Job.id)).all()
    for job_id in pending:
        enqueue(settings, job_id)
    return len(pending)


class QuietConsumer(Consumer):
    """A consumer whose threads live inside another program: it leaves signal handling alone."""

    def _set_signal_handlers(self):
        pass


def consumer_lock_path(settings: Settings) -> Path:
    return settings.workspace / "consumer.lock"


def start_consumer(settings: Settings, workers: int = 1) -> QuietConsumer:
    """Run consumer threads in this process; holds a shared lock that says 'a consumer is alive'."""
    settings.ensure_dirs()
    handle = open(consumer_lock_path(settings), "a")
    fcntl.flock(handle, fcntl.LOCK_SH)
    consumer = QuietConsumer(get_huey(settings), workers=workers, worker_type="thread",
                             periodic=False, initial_delay=0.1, max_delay=1.0, check_worker_health=False)
    consumer._alive_lock = handle
    consumer.start()
    return consumer


def consumer_alive(settings: Settings) -> bool:
    path = consumer_lock_path(settings)
    if not path.exists():
        return False
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
