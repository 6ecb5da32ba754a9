"""How long a job will take on this machine, from the jobs it has already run here.

Every job's log marks the start of each stage (`== stage: <name>`, stored with the time it arrived), so a
finished job says how long each of its stages took for its model and protocol. A new job's expectation is the
most recent finished job of the same recipe (label and all) on this machine, each stage scaled by the work it
does: the parameter count for the stages that read or write weights, parameters × evaluated tokens for the
stages that evaluate.

Before a recipe has run here, its `Prior` (figures measured on this project's 2-core machines) is scaled by how
fast this machine multiplies matrices against the machine they were measured on: a coarse figure, said to be
one, good enough to tell minutes from hours and to choose the automatic protocol for a big model's first job.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlmodel import select

from studio.stages import Stage
from studio.storage import Job, JobLog, JobState, Result, reading

STAGE_MARK = "== stage: "
# Stages whose work grows with the tokens evaluated (the others with the parameters alone). The base row's own
# stage loads and generates only: its scores come from the evaluate stage's lockstep pass.
EVALUATING = frozenset({Stage.EVALUATE, Stage.CHECKPOINT_DIVERGENCE})


@dataclass(frozen=True)
class Expected:
    fixed_seconds: float  # the stages that do not evaluate
    seconds_per_token: float  # the evaluating stages, per token evaluated
    evaluated_tokens: int
    basis: str  # which measured job it is scaled from, for people
    stage_seconds: dict = field(default_factory=dict)  # Stage -> seconds, when scaled from a measured job

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
    visits: dict = field(default_factory=dict)  # Stage -> how many times the job entered it

    def scaled(self, n_params: int) -> tuple[float, float]:
        """The stages that do not evaluate, in seconds, and the evaluating ones per token, for `n_params`."""
        weights = n_params / self.n_params
        fixed = sum(s for stage, s in self.stage_seconds.items() if stage not in EVALUATING)
        evaluating = sum(s for stage, s in self.stage_seconds.items() if stage in EVALUATING)
        return fixed * weights, evaluating * weights / self.evaluated_tokens

    def scaled_stages(self, n_params: int, evaluated_tokens: int) -> dict[Stage, float]:
        """Each stage's seconds a visit (a stage entered twice, as the divergence pass is for a job that also
        stores the base row, counts half each time) for `n_params` and `evaluated_tokens`: what the whole-job ETA
        counts down over the stages a job will walk."""
        weights = n_params / self.n_params
        return {stage: s * weights * (evaluated_tokens / self.evaluated_tokens if stage in EVALUATING else 1)
                / self.visits.get(stage, 1) for stage, s in self.stage_seconds.items()}


def _stage_starts(marks: list[tuple[datetime, str]]) -> list[tuple[datetime, Stage]]:
    return [(at, Stage(line[len(STAGE_MARK):].strip())) for at, line in marks if line.startswith(STAGE_MARK)]


def stage_visits(marks: list[tuple[datetime, str]]) -> dict[Stage, int]:
    """How many times each stage was entered, from the log's stage marks."""
    out: dict[Stage, int] = {}
    for _, stage in _stage_starts(marks):
        out[stage] = out.get(stage, 0) + 1
    return out


def stage_seconds(marks: list[tuple[datetime, str]], finished_at: datetime) -> dict[Stage, float]:
    """Each stage's duration from the log's stage marks (a stage entered twice adds up)."""
    starts = _stage_starts(marks)
    out: dict[Stage, float] = {}
    for (at, stage), (end, _) in zip(starts, [*starts[1:], (finished_at, None)]):
        out[stage] = out.get(stage, 0.0) + max((as_utc(end) - as_utc(at)).total_seconds(), 0.0)
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
                return Measured(job.id, seconds, result.n_params, result.n_chunks * result.n_ctx,
                                stage_visits(list(marks)))
    return None


def expected(db_url: str, label: str, n_params: int, evaluated_tokens: int) -> Expected | None:
    measured = last_measured(db_url, label)
    if measured is None:
        return None
    return Expected(*measured.scaled(n_params), evaluated_tokens,
                    f"scaled from job #{measured.job_id} on this machine ({measured.n_params / 1e6:.0f} M parameters, "
                    f"{measured.evaluated_tokens} tokens evaluated)",
                    measured.scaled_stages(n_params, evaluated_tokens))


# Stages are paced against their expectation only once this many seconds of them are behind: shorter ones say
# more about process start-up than about the machine.
PACE_AFTER_SECONDS = 5.0


def remaining_seconds(stages: list[str], number: int, stage_elapsed: float, stage_progress: float,
                      stage_eta: float | None, elapsed: float, plan: dict[str, float],
                      expected_total: float | None) -> float | None:
    """The whole job's time left, while it runs stage `number` (1-based) of `stages`, `stage_elapsed` into it.

    With a per-stage plan (a measured job of the recipe, scaled): the stages still ahead at their planned
    length, and what is left of the current one by its progress, all at the pace the stages behind it kept
    against their plan; a stage running over its plan is taken at its own ETA (its progress extrapolated: early
    on, that overstates a stage that starts by loading a model, so it is only the fallback). With only a
    whole-job figure (a prior): what is left of it, and never less than the current stage's own ETA. None when
    nothing is known."""
    if not plan:
        if expected_total is None:
            return stage_eta
        return max(expected_total - elapsed, stage_eta or 0.0)
    behind = elapsed - stage_elapsed
    planned_behind = sum(plan.get(s, 0.0) for s in stages[:number - 1])
    pace = behind / planned_behind if planned_behind and behind >= PACE_AFTER_SECONDS else 1.0
    current = pace * plan.get(stages[number - 1], 0.0) if 0 < number <= len(stages) else 0.0
    now = current * (1 - stage_progress)
    if stage_elapsed > current and stage_eta is not None:
        now = stage_eta
    return now + pace * sum(plan.get(s, 0.0) for s in stages[number:])


@dataclass(frozen=True)
class Prior:
    """A recipe's time on the machine its figures were measured on (REFERENCE_GFLOPS): a fixed part per job
    (processes, imports, loading), seconds per billion parameters for the stages that read or write weights,
    and seconds per billion parameters per evaluated token for the evaluating ones."""
    per_job: float
    per_gparam: float
    per_gparam_token: float

    def plus(self, other: Prior) -> Prior:
        """Both: a stage that one option adds to a recipe's job."""
        return Prior(self.per_job + other.per_job, self.per_gparam + other.per_gparam,
                     self.per_gparam_token + other.per_gparam_token)


# The probe's figure on the machine the priors were measured on (a 2-core Xeon of this project: 178 GFLOP/s a core).
REFERENCE_GFLOPS = 356.0
PROBE_SECONDS = 0.3
PROBE_MAX_AGE = 24 * 3600


def from_prior(prior: Prior, n_params: int, evaluated_tokens: int, gflops: float) -> Expected:
    slower = REFERENCE_GFLOPS / gflops
    g = n_params / 1e9
    return Expected((prior.per_job + prior.per_gparam * g) * slower, prior.per_gparam_token * g * slower,
                    evaluated_tokens, f"estimated: not run here yet; figures measured on a {REFERENCE_GFLOPS:.0f} "
                                      f"GFLOP/s machine, this one multiplies matrices at {gflops:.0f} GFLOP/s")


def machine_gflops(cache_dir: Path) -> float:
    """This machine's float32 matrix-multiply speed: one core's (numpy, 0.3 s) times the cores, kept a day per host.
    One core, because a multi-threaded BLAS on a shared machine measures the neighbours more than the machine: two
    threads gave 70 to 385 GFLOP/s here as the load went from 3 to 0, one thread 170 to 182."""
    path = cache_dir / f"probe-{socket.gethostname()}.json"
    try:
        kept = json.loads(path.read_text())
        if time.time() - kept["at"] < PROBE_MAX_AGE:
            return float(kept["gflops"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    gflops = _probe()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"at": time.time(), "gflops": gflops}))
    return gflops


def _probe() -> float:
    import numpy as np
    from threadpoolctl import threadpool_limits
    a = np.ones((512, 1024), np.float32)
    b = np.ones((1024, 4096), np.float32)
    with threadpool_limits(1):
        a @ b
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < PROBE_SECONDS:
            a @ b
            n += 1
        one_core = 2 * 512 * 1024 * 4096 * n / (time.perf_counter() - t0) / 1e9
    return one_core * (os.cpu_count() or 1)


def spoken(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def as_utc(at: datetime) -> datetime:
    """SQLite hands back naive datetimes for the UTC times stored."""
    from datetime import timezone
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)
