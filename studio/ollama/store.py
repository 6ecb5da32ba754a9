"""One row per finished Ollama import (what was sent, the smoke-test answer, what `show` reported), and one
per import under way between `create` and its end (what a killed import would leave on the server)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, delete
from sqlmodel import Field, SQLModel, select

from studio.config import Settings
from studio.storage import session
from studio.storage.jobs import mark_done
from studio.storage.tables import utcnow

# The recipe (Job.recipe and Job.recipe_name) of an import job: the queue runs it with jobs.ollama_job.
IMPORT_RECIPE = "ollama:import"


class OllamaImport(SQLModel, table=True):
    __tablename__ = "ollama_import"
    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(index=True, foreign_key="job.id")
    result_id: int = Field(index=True, foreign_key="result.id")
    name: str
    host: str
    server_version: str
    digest: str
    uploaded: bool
    modelfile: str  # exactly the text the import used
    smoke_prompt: str
    smoke_answer: str
    show: dict = Field(default_factory=dict, sa_column=Column(JSON))  # parameters, template, details, model_info
    seconds: float
    created_at: datetime = Field(default_factory=utcnow)


class PendingImport(SQLModel, table=True):
    """Written before an import sends `create`; removed with the same commit that stores the import, or
    once its own undo is done. A row that outlives its job's process is what the process left behind:
    the job's supervisor (or the reaper at start) undoes it (studio/ollama/recovery.py)."""
    __tablename__ = "ollama_pending"
    job_id: int = Field(primary_key=True, foreign_key="job.id")
    host: str
    name: str
    existed: bool  # the name was taken before this import (an overwrite): never delete it
    created_at: datetime = Field(default_factory=utcnow)


def record_import(settings: Settings, job_id: int, result_id: int, modelfile: str, outcome) -> OllamaImport:
    """Store the import, forget it as pending and mark its job done, in one transaction."""
    with session(settings.db_url) as s:
        row = OllamaImport(job_id=job_id, result_id=result_id, name=outcome.name, host=outcome.host,
                           server_version=outcome.server_version, digest=outcome.digest, uploaded=outcome.uploaded,
                           modelfile=modelfile, smoke_prompt=outcome.smoke_prompt,
                           smoke_answer=outcome.smoke_answer, show=outcome.show, seconds=outcome.seconds)
        s.add(row)
        if (pending := s.get(PendingImport, job_id)) is not None:
            s.delete(pending)
        mark_done(s, job_id)
        s.commit()
        return row


def import_for_job(settings: Settings, job_id: int) -> OllamaImport | None:
    with session(settings.db_url) as s:
        return s.exec(select(OllamaImport).where(OllamaImport.job_id == job_id)).first()


def note_pending(settings: Settings, job_id: int, host: str, name: str, existed: bool) -> None:
    """Committed before `create` is sent: a process killed after that leaves this row behind."""
    with session(settings.db_url) as s:
        s.merge(PendingImport(job_id=job_id, host=host, name=name, existed=existed))
        s.commit()


def clear_pending(settings: Settings, job_id: int) -> None:
    with session(settings.db_url) as s:
        s.execute(delete(PendingImport).where(PendingImport.job_id == job_id))
        s.commit()
