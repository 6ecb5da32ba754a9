"""Reads and writes of job rows, in one place: the runner, the queue, the service and the Ollama service all
go through these, so a job's life (queued, claimed, staged, cancelled, finished) has one vocabulary."""
from __future__ import annotations

from sqlmodel import Session, select, update

from studio.stages import Stage
from studio.storage import reading, session
from studio.storage.tables import Job, JobState, utcnow


def get_job(url: str, job_id: int) -> Job | None:
    with reading(url) as s:
        return s.get(Job, job_id)


def update_job(url: str, job_id: int, **fields) -> None:
    """Set fields of one job row in a write transaction of its own."""
    with session(url) as s:
        s.execute(update(Job).where(Job.id == job_id).values(**fields))
        s.commit()


def job_stage(url: str, job_id: int) -> str:
    with reading(url) as s:
        return s.get(Job, job_id).stage


def cancel_requested(url: str, job_id: int) -> bool:
    with reading(url) as s:
        return bool(s.get(Job, job_id).cancel_requested)


def pending_duplicate(s: Session, dedupe_key: str) -> Job | None:
    """A queued or running job asked with the same key: the same work, not to be queued twice."""
    return s.exec(select(Job).where(Job.dedupe_key == dedupe_key,
                                    Job.state.in_([JobState.QUEUED, JobState.RUNNING]))).first()


def finished_duplicate(s: Session, dedupe_key: str) -> Job | None:
    """The latest job asked with the same key that finished with a result: the same work, measured already."""
    return s.exec(select(Job).where(Job.dedupe_key == dedupe_key, Job.state == JobState.DONE)
                  .order_by(Job.id.desc())).first()


def mark_done(s: Session, job_id: int) -> None:
    """In the caller's transaction, the one that stores what the job made: done and stored are one commit."""
    job = s.get(Job, job_id)
    job.state, job.stage, job.progress, job.finished_at = JobState.DONE, Stage.DONE, 1.0, utcnow()
    s.add(job)


def claim(url: str, job_id: int, worker: str) -> bool:
    """queued -> running in one conditional UPDATE: a job runs once even if two consumers (on any
    database) get its message."""
    now = utcnow()
    with session(url) as s:
        claimed = s.execute(update(Job).where(Job.id == job_id, Job.state == JobState.QUEUED).values(
            state=JobState.RUNNING, stage=Stage.STARTING, started_at=now, heartbeat_at=now, worker=worker)).rowcount
        s.commit()
    return claimed == 1
