"""The outputs folder's rule: `outputs/<model>/job<N>-<name>` exists only while a result row owns it.

A job moves its artifact in just before it commits its row, and a deleted result's row goes just before
its files; a process killed between the two leaves an entry no row owns. Whoever learns that such a
process is gone (the job's supervisor once its runner has exited, before it stores the job's end, so a job
shown failed or cancelled has nothing left behind; the reaper at start) sweeps those entries. It first drops the
rows a job stored from its evaluation's first look and never completed: figures of the first chunks alone,
under a key that names the whole protocol.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from sqlmodel import select

from studio.config import Settings
from studio.storage import Generation, Job, JobState, Pending, Result, reading, session

_JOB_ENTRY = re.compile(r"job(\d+)-")


def artifact_path(settings: Settings, model_slug: str, job_id: int, name: str) -> Path:
    return settings.outputs_dir / model_slug / f"job{job_id}-{name}"


def _job_entries(settings: Settings) -> list[tuple[int, Path]]:
    found = []
    for folder in _listing(settings.outputs_dir):
        found += [(int(m[1]), entry) for entry in _listing(folder) if (m := _JOB_ENTRY.match(entry.name))]
    return found


def _listing(folder: Path) -> list[Path]:
    """A folder's entries; none when it is not a folder or vanishes meanwhile (a delete running beside us)."""
    try:
        return list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def sweep_unowned(settings: Settings, job_ids: set[int] | None = None, ended: bool = False) -> list[Path]:
    """Remove the entries of finished jobs (of `job_ids`, or of any job) that no result row of that job
    owns. Ownership is by job and file name, not by full path, so a workspace moved or mounted elsewhere
    keeps its results; an entry whose job is unknown to this database, queued or running is left alone.
    `ended`: the jobs of `job_ids` have no process left (their supervisor saw the runner exit) and count as
    finished before their end is stored. Returns what went."""
    entries = [(j, e) for j, e in _job_entries(settings) if job_ids is None or j in job_ids]
    if not entries:
        return []
    ids = {j for j, _ in entries}
    with reading(settings.db_url) as s:
        finished = ids if ended else set(s.exec(select(Job.id).where(Job.id.in_(ids),
                                                                      Job.state.in_(JobState.FINISHED))).all())
        owned = {(j, Path(a).name) for j, a in s.exec(select(Result.job_id, Result.artifact)
                                                      .where(Result.job_id.in_(ids))).all()}
    removed = []
    for job_id, entry in entries:
        if job_id not in finished or (job_id, entry.name) in owned:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def drop_first_looks(settings: Settings, job_ids: set[int] | None = None, ended: bool = False) -> list[int]:
    """Delete the rows that finished jobs (of `job_ids`, or any) stored from a first look at their evaluation and
    did not complete (the job failed or was cancelled first); a later job on the same key stores its base row again.
    `ended` as for `sweep_unowned`. Returns their ids."""
    query = select(Result)
    if not ended:
        query = query.join(Job, Job.id == Result.filled_by).where(Job.state.in_(JobState.FINISHED))
    if job_ids is not None:
        query = query.where(Result.filled_by.in_(job_ids))
    with session(settings.db_url) as s:
        dropped = [r for r in s.exec(query).all() if Pending.FULL_PASS in (r.pending or [])]
        for row in dropped:
            for g in s.exec(select(Generation).where(Generation.result_id == row.id)).all():
                s.delete(g)
            s.delete(row)
        s.commit()
        return [row.id for row in dropped]
