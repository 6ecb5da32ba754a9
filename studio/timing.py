"""How long a job will take on this machine, from the jobs it has already run here.

Every job's log marks the start of each stage (`== stage: <name>`, stored with the time it arrived), so a
finished job says how long each of its stages took for its model and protocol. A new job's expectation is the
most recent finished job of the same recipe (label and all) on this machine, each stage scaled by the work it
does: the parameter count for the stages that read or write weights, parameters × evaluated tokens for the
stages that evaluate. Nothing is guessed where nothing was measured: without such a job the preflight says so.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from studio.stages import Stage
from studio.storage import Job, JobLog, JobState, Result, reading

STAGE_MARK = "== stage: "
# Stages whose work grows with the tokens evaluated (the others with the parameters alone).
EVALUATING = frozenset({Stage.EVALUATE, Stage.CHECKPOINT_DIVERGENCE, Stage.EVALUATE_BASE})


@dataclass(frozen=True)
class Expected:
    fixed_seconds: float  # the stages that do not evaluate
    seconds_per_token: float  # the evaluating stages, per token evaluated
    evaluated_tokens: int
    basis: str  # which measured job it is scaled from, for people

    @property
    def seconds(self) -> float:
        return self.fixed_seconds + self.seconds_per_token * self.evaluated_tokens

    def tokens_within(self, seconds: float) -> int:
        """How many tokens can be evaluated for the whole job to take `seconds`."""
        return max(int((seconds - self.fixed_seconds) / self.seconds_per_token), 0) if self.seconds_per_token else 0


@dataclass(frozen=True)
class Measured:
    """A finished job's stage durations and the work it did."""
    job_id: int
    stage_seconds: dict[Stage, float]
    n_params: int
    evaluated_tokens: int  # chunks x context

    def scaled(self, n_params: int) -> tuple[float, float]:
        """The stages that do not evaluate, in seconds, and the evaluating ones per token, for `n_params`."""
        weights = n_params / self.n_params
        fixed = sum(s for stage, s in self.stage_seconds.items() if stage not in EVALUATING)
        evaluating = sum(s for stage, s in self.stage_seconds.items() if stage in EVALUATING)
        return fixed * weights, evaluating * weights / self.evaluated_tokens


def stage_seconds(marks: list[tuple[datetime, str]], finished_at: datetime) -> dict[Stage, float]:
    """Each stage's duration from the log's stage marks (a stage entered twice adds up)."""
    starts = [(at, Stage(line[len(STAGE_MARK):].strip())) for at, line in marks if line.startswith(STAGE_MARK)]
    out: dict[Stage, float] = {}
    for (at, stage), (end, _) in zip(starts, [*starts[1:], (finished_at, None)]):
        out[stage] = out.get(stage, 0.0) + max((_utc(end) - _utc(at)).total_seconds(), 0.0)
    return out


def last_measured(db_url: str, label: str, model_key: str | None = None) -> Measured | None:
    """The most recent job of `label` finished on this machine, with what it measured."""
    host = socket.gethostname()
    with reading(db_url) as s:
        jobs = s.exec(select(Job).where(Job.recipe == label, Job.state == JobState.DONE)
                      .order_by(Job.finished_at.desc()).limit(50)).all()
        for job in jobs:
            if (job.worker or "").rpartition(":")[0] != host or job.finished_at is None:
                continue
            result = s.exec(select(Result).where(Result.job_id == job.id, Result.is_base == False)).first()  # noqa: E712
            if result is None:
                continue
            marks = s.exec(select(JobLog.at, JobLog.line).where(JobLog.job_id == job.id,
                                                                 JobLog.line.startswith(STAGE_MARK))
                           .order_by(JobLog.id)).all()
            seconds = stage_seconds(list(marks), job.finished_at)
            if seconds:
                return Measured(job.id, seconds, result.n_params, result.n_chunks * result.n_ctx)
    return None


def expected(db_url: str, label: str, n_params: int, evaluated_tokens: int) -> Expected | None:
    measured = last_measured(db_url, label)
    if measured is None:
        return None
    return Expected(*measured.scaled(n_params), evaluated_tokens,
                    f"scaled from job #{measured.job_id} on this machine ({measured.n_params / 1e6:.0f} M parameters, "
                    f"{measured.evaluated_tokens} tokens evaluated)")


def spoken(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _utc(at: datetime) -> datetime:
    """SQLite hands back naive datetimes for the UTC times stored."""
    from datetime import timezone
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)
