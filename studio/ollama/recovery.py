"""Undo what an import left on its server when the job's process ended before the import was stored.

The import undoes its own `create` when a later step fails (importer._undo), but only inside its process:
a kill -9, the OOM killer or a crash skips that. So the import records what it is about to create
(store.PendingImport) before sending `create`, and whoever learns that the process is gone settles the
record: the job's supervisor once the process exits, the reaper at start for jobs whose supervisor is
gone too (jobs/queue.py).
"""
from __future__ import annotations

from studio.config import Settings
from studio.ollama.client import OllamaServer, ServerDown
from studio.ollama.store import PendingImport
from studio.storage import Job, JobLog, session

# The supervisor waits for the delete; a server that does not answer within this is reported, not awaited.
SETTLE_TIMEOUT_SECONDS = 30.0


def settle_unfinished_import(settings: Settings, job_id: int) -> str | None:
    """If job `job_id` left an import unfinished, undo it: delete the model it created (never one that existed
    before), add what happened to the job's error and log, and drop the record. Returns that note, or None
    when the job left nothing to undo. Call it only once the job's process is gone."""
    with session(settings.db_url) as s:
        pending, stage = s.get(PendingImport, job_id), s.get(Job, job_id).stage
    if pending is None:
        return None
    note = f"the import did not finish (it stopped in stage {stage}): {_undo(pending)}"
    with session(settings.db_url) as s:
        job = s.get(Job, job_id)
        job.error = f"{job.error}; {note}" if job.error else note
        s.add_all([job, JobLog(job_id=job_id, line=note)])
        s.delete(s.get(PendingImport, job_id))
        s.commit()
    return note


def _undo(pending: PendingImport) -> str:
    where = f"{pending.name!r} on {pending.host}"
    if pending.existed:
        return f"the model {where} existed before it and is left as the server has it (possibly replaced)"
    try:
        deleted = OllamaServer(pending.host, timeout=SETTLE_TIMEOUT_SECONDS).delete(pending.name)
    except Exception as exc:  # down or failing: the user must remove it, so say exactly how
        reason = "the server does not answer" if isinstance(exc, ServerDown) else str(exc)
        return (f"the model {where} it may have created could not be deleted ({reason}); remove it with "
                f"`OLLAMA_HOST={pending.host} ollama rm {pending.name}`")
    return f"deleted the model {where} it had created" if deleted else f"no model {where} was left behind"
