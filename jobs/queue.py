"""The queue: huey on SQLite by default, on Redis when STUDIO_QUEUE_URL=redis://… is set.

A huey task only supervises: the job's work runs in `python -m jobs.runner JOB_ID`, a subprocess in
its own process group. The task relays its output to the job log, stops it on cancel, and records
how it ended. The Job table is the truth; a queue message only says "look at job N", so a lost or
duplicated message is harmless: the claim (queued -> running) succeeds once.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
from huey import RedisHuey, SqliteHuey
from huey.consumer import Consumer
from huey.registry import Message
from huey.serializer import Serializer
from sqlmodel import select

from jobs.process import SUPERVISOR_PID_ENV, disk_full_note, exit_reason, spawn, stop_group
from studio.config import Settings, REPO_ROOT
from studio.outputs import drop_first_looks, sweep_unowned
from studio.ollama.store import IMPORT_RECIPE
from studio.sensitivity import JOB_KIND as SENSITIVITY_JOB
from studio.stages import RESTARTABLE, UNCANCELLABLE, Stage
from studio.storage import Job, JobLog, JobState, reading, session
from studio.storage.jobs import claim, get_job, update_job
from studio.storage.tables import utcnow

HEARTBEAT_SECONDS = 10.0
# A job on another machine whose supervisor has not written a heartbeat for this long is presumed dead
# (generous, so clock skew between machines does not fail live jobs).
STALE_AFTER = timedelta(minutes=5)


class JsonSerializer(Serializer):
    """Queue messages as JSON instead of pickle: an entry in a shared broker can never run code."""

    def _serialize(self, message: Message) -> bytes:
        return json.dumps(message._asdict()).encode()  # a non-JSON field (e.g. an eta) fails loudly

    def _deserialize(self, data: bytes) -> Message:
        fields = json.loads(data)
        return Message(**{**fields, "args": tuple(fields["args"] or ())})


_queues: dict[tuple, tuple] = {}


def _queue(settings: Settings) -> tuple:
    """(huey, run_job task) for these settings; the task carries the settings it was made with."""
    key = (settings.queue_url, str(settings.workspace), settings.db_url)
    if key not in _queues:
        common = {"results": False, "serializer": JsonSerializer()}
        if settings.queue_url:
            huey = RedisHuey("studio", url=settings.queue_url, **common)
        else:
            settings.ensure_dirs()
            huey = SqliteHuey("studio", filename=str(settings.workspace / "queue.db"), **common)
        task = huey.task(name="run_job")(lambda job_id: supervise(settings, job_id))
        _queues[key] = (huey, task)
    return _queues[key]


def get_huey(settings: Settings):
    return _queue(settings)[0]


def enqueue(settings: Settings, job_id: int) -> None:
    _queue(settings)[1](job_id)


def worker_id() -> str:
    """Who supervises a job: this machine and this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


# Jobs that are not a recipe's quantization, by their kind (Job.recipe_name): the module that runs them.
OTHER_RUNNERS = {IMPORT_RECIPE: "jobs.ollama_job", SENSITIVITY_JOB: "jobs.sensitivity_job"}


def runner_module(job: Job) -> str:
    return OTHER_RUNNERS.get(job.recipe_name, "jobs.runner")


def supervise(settings: Settings, job_id: int) -> None:
    if not claim(settings.db_url, job_id, worker_id()):
        return
    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1", SUPERVISOR_PID_ENV: str(os.getpid())}
    proc, cancelled, failure = None, False, None
    try:
        module = runner_module(get_job(settings.db_url, job_id))
        proc = spawn([sys.executable, "-m", module, str(job_id)], new_group=True, env=env,
                     cwd=str(REPO_ROOT), from_threaded_parent=True)
        update_job(settings.db_url, job_id, pid=proc.pid)
        relay = threading.Thread(target=_relay_log, args=(settings, job_id, proc), daemon=True)
        relay.start()
        cancelled = _wait_or_cancel(settings, job_id, proc)
        relay.join(timeout=10)
    except Exception as exc:  # the supervisor itself failed: stop the job rather than orphan it
        failure = f"supervisor error: {type(exc).__name__}: {exc}"
        if proc is not None:
            stop_group(proc)
    finally:
        _cancelled_here.discard((settings.db_url, job_id))
        _finish(settings, job_id, proc.returncode if proc else None, cancelled, failure)


# How often a supervisor looks for a cancel request (a query-only read of its Job row).
CANCEL_POLL_SECONDS = 0.1


# Jobs whose cancel was asked for inside this process (a Ctrl-C of the command running them): acted on
# even when the database, which may be what failed, cannot be read.
_cancelled_here: set[tuple[str, int]] = set()


def cancel_here(settings: Settings, job_ids: list[int]) -> None:
    """Have this process's supervisors stop these jobs at their next look (within CANCEL_POLL_SECONDS)."""
    _cancelled_here.update((settings.db_url, i) for i in job_ids)


def _wait_or_cancel(settings: Settings, job_id: int, proc) -> bool:
    last_beat = time.monotonic()
    while proc.poll() is None:
        asked_here = (settings.db_url, job_id) in _cancelled_here
        try:
            with reading(settings.db_url) as s:
                job = s.get(Job, job_id)
            asked, storing = asked_here or job.cancel_requested, job.stage in UNCANCELLABLE
        except Exception:
            if not asked_here:
                raise
            asked, storing = True, False  # asked here, and the database cannot say more: stop it
        # Once storing has begun the job finishes whole: stopping it there could orphan its artifact.
        if asked and not storing:
            stop_group(proc)
            return True
        if time.monotonic() - last_beat > HEARTBEAT_SECONDS:
            _heartbeat(settings, job_id)
            last_beat = time.monotonic()
        time.sleep(CANCEL_POLL_SECONDS)
    return False


def _heartbeat(settings: Settings, job_id: int) -> None:
    """Say 'still supervising'; a missed beat (a full disk, a busy database) must not stop the job."""
    try:
        update_job(settings.db_url, job_id, heartbeat_at=utcnow())
    except Exception as exc:
        print(f"job {job_id}: heartbeat not stored: {exc}", file=sys.stderr)


def _relay_log(settings: Settings, job_id: int, proc) -> None:
    """Append the runner's output to the job log, a batch at a time. Each line keeps the time it was read: a
    batch is stored when the next line comes, which may be minutes later (an evaluation prints nothing while it
    runs), and the stage marks' times are what studio.timing measures stages by."""
    batch: list[tuple[str, datetime]] = []
    last = time.monotonic()
    for line in proc.stdout:
        batch.append((line.rstrip("\n"), utcnow()))
        if time.monotonic() - last > 0.5 or len(batch) >= 200:
            _append_log(settings, job_id, batch)
            batch, last = [], time.monotonic()
    _append_log(settings, job_id, batch)


def _append_log(settings: Settings, job_id: int, lines: list[tuple[str, datetime]]) -> None:
    """Store log lines; a failed write loses those lines, never the pipe (a full pipe would block the job)."""
    if not lines:
        return
    try:
        with session(settings.db_url) as s:
            s.add_all([JobLog(job_id=job_id, line=line, at=at) for line, at in lines])
            s.commit()
    except Exception as exc:
        print(f"job {job_id}: could not store {len(lines)} log line(s): {exc}", file=sys.stderr)


def _finish(settings: Settings, job_id: int, returncode: int | None, cancelled: bool, failure: str | None) -> None:
    disk_note = disk_full_note(settings.workspace)  # before the temp files go: they may be what filled it
    shutil.rmtree(settings.job_tmp_dir(job_id), ignore_errors=True)
    undone = _settle_import(settings, job_id)  # an Ollama import killed mid-way: undo what it left on the server
    # The runner has exited, so nothing moves into its outputs now: clean up before the end is stored, so a job
    # shown failed or cancelled has left nothing behind.
    _sweep_outputs(settings, {job_id}, ended=True)
    with session(settings.db_url) as s:
        job = s.get(Job, job_id)
        if job.state == JobState.RUNNING:  # the runner marks success itself
            if cancelled or job.cancel_requested:
                job.state = JobState.CANCELLED
                job.error = "cancelled by the user" + (f"; {undone}" if undone else "")
            else:
                job.state = JobState.FAILED
                job.error = failure or job.error or exit_reason(returncode)
                if disk_note and "no space left" not in job.error.lower():
                    job.error = f"{disk_note}: {job.error}"
            job.finished_at = utcnow()
        job.pid = None
        s.add(job)
        s.commit()


def reap(settings: Settings) -> list[int]:
    """At start: settle jobs left 'running' by a supervisor that is gone (`settle_orphans`), and remove every
    temp folder of this workspace's jobs not running now. Returns the failed ids."""
    failed, requeued, alive = settle_orphans(settings)
    _sweep_tmp(settings, keep=alive)
    _sweep_outputs(settings, None)
    if requeued:
        print(f"re-queued interrupted job(s) {requeued}: they had not started heavy work", file=sys.stderr)
    return failed


def settle_orphans(settings: Settings) -> tuple[list[int], list[int], set[int]]:
    """Jobs left 'running' by a supervisor that is gone: a job that had not started heavy work goes back to the
    queue, any other fails. Jobs of a live supervisor, here or on another machine (recent heartbeat), are left
    alone. Returns (failed, re-queued, alive) ids."""
    failed, requeued, alive = [], [], set()
    with session(settings.db_url) as s:
        for job in s.exec(select(Job).where(Job.state == JobState.RUNNING)).all():
            if supervisor_alive(job):
                alive.add(job.id)
                continue
            if job.stage in RESTARTABLE:
                job.state, job.stage, job.started_at, job.worker = JobState.QUEUED, Stage.QUEUED, None, None
                requeued.append(job.id)
            else:
                job.state, job.finished_at = JobState.FAILED, utcnow()
                job.error = (f"interrupted in stage {job.stage}: the process running it "
                             f"({job.worker or 'unknown'}) stopped (studio or worker restarted)")
                failed.append(job.id)
            job.pid = None
            s.add(job)
        s.commit()
    for job_id in failed:  # Ollama imports among them: undo what they left on their servers
        _settle_import(settings, job_id)
    return failed, requeued, alive


# How often a running consumer looks for jobs whose supervisor died (another worker killed, a machine gone):
# a job is settled by whoever is still running, not only at the next start.
REAP_SECONDS = float(os.environ.get("STUDIO_REAP_SECONDS") or 30)


def _reap_while_running(settings: Settings, stop: threading.Event) -> None:
    """Settle other supervisors' orphans while this consumer runs; re-queued jobs get a message again. (Temp
    folders are left to the start of each machine's own consumer: a job this process claims meanwhile has one.)"""
    while not stop.wait(REAP_SECONDS):
        try:
            failed, requeued, _ = settle_orphans(settings)
        except Exception as exc:  # a database that is down now may be back at the next look
            print(f"reaper: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        for job_id in requeued:
            enqueue(settings, job_id)
        if failed or requeued:
            print(f"worker {worker_id()}: settled jobs whose supervisor is gone: failed {failed}, "
                  f"re-queued {requeued}", file=sys.stderr, flush=True)


def _sweep_outputs(settings: Settings, job_ids: set[int] | None, ended: bool = False) -> None:
    """Clean-up after a job (`ended` as for `sweep_unowned`): a failure here is reported, never allowed to stop the
    supervisor or the reaper."""
    try:
        for row in drop_first_looks(settings, job_ids, ended):
            print(f"removed result #{row}: its job ended before its evaluation's full pass", file=sys.stderr)
        for entry in sweep_unowned(settings, job_ids, ended):
            print(f"removed {entry}: its job has finished and no result row owns it", file=sys.stderr)
    except Exception as exc:
        print(f"outputs not swept ({type(exc).__name__}: {exc}); the next start tries again", file=sys.stderr)


def _settle_import(settings: Settings, job_id: int) -> str | None:
    from studio.ollama.recovery import settle_unfinished_import  # the Ollama client: only when needed
    try:
        return settle_unfinished_import(settings, job_id)
    except Exception as exc:
        print(f"job {job_id}: unfinished Ollama import not settled ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None


def _sweep_tmp(settings: Settings, keep: set[int]) -> None:
    """Remove the temp folders of jobs not running now: interrupted ones, and those of finished jobs
    whose supervisor was stopped between the job's end and its clean-up."""
    for folder in settings.tmp_dir.glob("job-*"):
        job_id = folder.name.removeprefix("job-")
        if job_id.isdigit() and int(job_id) not in keep:
            shutil.rmtree(folder, ignore_errors=True)


def supervisor_alive(job: Job) -> bool:
    host, _, pid = (job.worker or "").rpartition(":")
    if host != socket.gethostname():  # another machine's job: only its heartbeat can tell
        return job.heartbeat_at is not None and utcnow() - _as_utc(job.heartbeat_at) < STALE_AFTER
    return pid.isdigit() and job.started_at is not None and _started_before(int(pid), _as_utc(job.started_at))


def _started_before(pid: int, moment: datetime) -> bool:
    """Process `pid` exists and is older than `moment` (a reused pid belongs to a younger process)."""
    try:
        return psutil.Process(pid).create_time() <= moment.timestamp() + 1.0
    except psutil.Error:
        return False


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # SQLite returns naive UTC


def requeue_pending(settings: Settings) -> int:
    """The job table is the truth: replace the queue's messages with one per queued job. (Messages
    enqueued meanwhile are duplicates at worst, and a duplicate's claim fails.)"""
    huey = get_huey(settings)
    huey.flush()
    with reading(settings.db_url) as s:
        pending = s.exec(select(Job.id).where(Job.state == JobState.QUEUED).order_by(Job.id)).all()
    for job_id in pending:
        enqueue(settings, job_id)
    return len(pending)


class QuietConsumer(Consumer):
    """A consumer whose threads live inside another program: it leaves signal handling alone. Beside its
    workers a thread settles the jobs of supervisors that died (`_reap_while_running`)."""

    def _set_signal_handlers(self):
        pass

    def start_reaper(self, settings: Settings) -> None:
        self._reaper_stop = threading.Event()
        threading.Thread(target=_reap_while_running, args=(settings, self._reaper_stop), daemon=True,
                         name="studio-reaper").start()

    def stop(self, graceful=False):
        self._reaper_stop.set()
        super().stop(graceful=graceful)


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
    consumer.start_reaper(settings)
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
