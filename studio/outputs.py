"""The outputs folder's rule: `outputs/<model>/job<N>-<name>` exists only while a result row owns it.

A job moves its artifact in just before it commits its row, and a deleted result's row goes just before
its files; a process killed between the two leaves an entry no row owns. Whoever learns that such a
process is gone (the job's supervisor when its runner exits, the reaper at start) sweeps those entries.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from sqlmodel import select

from studio.config import Settings
from studio.storage import Result, reading

_JOB_ENTRY = re.compile(r"job(\d+)-")


def artifact_path(settings: Settings, model_slug: str, job_id: int, name: str) -> Path:
    return settings.outputs_dir / model_slug / f"job{job_id}-{name}"


def _job_entries(settings: Settings) -> list[tuple[int, Path]]:
    if not settings.outputs_dir.is_dir():
        return []
    return [(int(m[1]), entry) for folder in settings.outputs_dir.iterdir() if folder.is_dir()
            for entry in folder.iterdir() if (m := _JOB_ENTRY.match(entry.name))]


def sweep_unowned(settings: Settings, job_ids: set[int] | None = None, keep: set[int] = frozenset()) -> list[Path]:
    """Remove the entries that no result row owns: of `job_ids` (None: every job but those in `keep`,
    whose processes may be between moving their artifact in and committing). Returns what went."""
    with reading(settings.db_url) as s:
        owned = {Path(a).resolve() for a in s.exec(select(Result.artifact).where(Result.job_id.is_not(None))).all()}
    removed = []
    for job_id, entry in _job_entries(settings):
        if job_id in keep or (job_ids is not None and job_id not in job_ids) or entry.resolve() in owned:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
