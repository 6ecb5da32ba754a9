"""The studio's API: what the UI, the CLI and tests call. No Gradio here."""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Protocol

from sqlalchemy import String, cast, func
from sqlmodel import select

from studio import families, recipes, recommend, timing
from studio.families import BaseKey
from studio.config import Settings
from studio.evaluation.protocol import IDENTICAL
from studio.evaluation.texts import BUILTIN_SAMPLE, DEFAULT_PROMPTS, TextError, store_upload
from studio.models import local_checkpoints
from studio.preflight import Plan, PreflightError, run_preflight
from studio.serving.forms import EXPORT_FOLDER, serve_command
from studio.storage import Generation, Job, JobLog, JobState, Pending, Result, reading, session
from studio.storage.jobs import finished_duplicate, pending_duplicate
from studio.storage.tables import utcnow

# Puts a stored job on the work queue: jobs.queue.enqueue, handed in by whoever runs the service (the studio,
# the CLI, a test), so this layer never imports the one that runs jobs.
Enqueue = Callable[[Settings, int], None]


class Queue(Protocol):
    """What the front ends need of the layer that runs jobs; the module jobs.queue is one."""
    def enqueue(self, settings: Settings, job_id: int) -> None: ...

    def consumer_alive(self, settings: Settings) -> bool: ...

    def start_consumer(self, settings: Settings, workers: int = 1): ...

    def cancel_here(self, settings: Settings, job_ids: list[int]) -> None: ...


@dataclass(frozen=True)
class JobRequest:
    model: str
    recipes: tuple[str, ...]
    eval_text: Path = BUILTIN_SAMPLE
    n_ctx: int = 512
    max_chunks: int | None = None  # None: automatic (all, unless that takes long here; see studio.preflight)
    whole_text: bool = False  # every chunk, however long it takes
    again: bool = False  # measure again what an identical finished job measured already
    prompts: tuple[str, ...] = DEFAULT_PROMPTS
    max_new_tokens: int = 64
    overrides: tuple[tuple[str, str], ...] = ()


def preflight(settings: Settings, req: JobRequest) -> Plan:
    return run_preflight(settings, req.model, list(req.recipes), Path(req.eval_text).expanduser().resolve(),
                         req.n_ctx, req.max_chunks, dict(req.overrides), req.max_new_tokens, req.prompts,
                         req.whole_text)


def model_choices(settings: Settings) -> list[str]:
    """Checkpoint folders under the allowed model folders: what the New-job picker offers."""
    return [str(p) for p in local_checkpoints(settings.model_dirs)]


@dataclass(frozen=True)
class Repeat:
    """A recipe of a request that an identical finished job measured already (not queued unless asked again)."""
    label: str
    job_id: int
    result_id: int
    finished_at: datetime | None

    def line(self) -> str:
        when = f", {self.finished_at:%Y-%m-%d %H:%M} UTC" if self.finished_at else ""
        return (f"{self.label}: already measured as result #{self.result_id} (job #{self.job_id}{when}); "
                "not run again — ask to run it again to measure it anew")


def submit(settings: Settings, req: JobRequest, enqueue: Enqueue, notes: list[str] | None = None,
           repeats: list[Repeat] | None = None) -> list[int]:
    """Preflight, then create one job per recipe and put it on the queue. Returns the job ids; the
    preflight's warnings go to `notes` when given. A recipe an identical finished job measured already is not
    queued (unless `req.again`): it goes to `repeats` (and a line of it to `notes`)."""
    plan = preflight(settings, req)
    if notes is not None:
        notes += plan.notes
    prompts = [p for p in req.prompts if p.strip()]
    jobs = []
    with session(settings.db_url) as s:
        for planned in plan.jobs:
            key = _dedupe_key(plan, planned.label, planned.options, prompts, req.max_new_tokens)
            if (dup := pending_duplicate(s, key)) is not None:
                raise PreflightError([f"{planned.label} on this model and text is already {dup.state} "
                                      f"as job #{dup.id}"])
            done = None if req.again else finished_duplicate(s, key)
            result = s.exec(select(Result.id).where(Result.job_id == done.id)).first() if done else None
            if result is not None:  # (a result deleted since is measured anew)
                repeat = Repeat(planned.label, done.id, result, done.finished_at)
                (repeats if repeats is not None else []).append(repeat)
                (notes if notes is not None else []).append(repeat.line())
                continue
            job = Job(model=str(plan.model.path), model_key=plan.model.key, recipe=planned.label,
                      recipe_name=planned.recipe.name, options=planned.options, eval_text_path=str(plan.text_path),
                      eval_text_sha=plan.text_sha,
                      n_ctx=plan.protocol.n_ctx, max_chunks=plan.protocol.max_chunks, prompts=prompts,
                      max_new_tokens=req.max_new_tokens, dedupe_key=key,
                      expected_seconds=planned.expected.seconds if planned.expected else None,
                      stage_plan={str(k): v for k, v in planned.expected.stage_seconds.items()}
                      if planned.expected else {})
            s.add(job)
            jobs.append(job)
        s.commit()
    for job in jobs:
        enqueue(settings, job.id)
    return [job.id for job in jobs]


def _dedupe_key(plan: Plan, label: str, options: dict, prompts: list[str], max_new: int) -> str:
    blob = json.dumps([plan.model.key, label, options, plan.text_sha, plan.protocol.n_ctx,
                       plan.protocol.max_chunks, prompts, max_new], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def save_upload(settings: Settings, source: Path) -> Path:
    """Copy an uploaded text under a generated name: the user's file name never becomes a path."""
    settings.ensure_dirs()
    try:
        return store_upload(source, settings.uploads_dir)
    except TextError as exc:
        raise PreflightError([str(exc)]) from exc


def cancel(settings: Settings, job_id: int) -> str:
    with session(settings.db_url) as s:
        job = s.get(Job, job_id)
        if job is None:
            raise KeyError(f"no job #{job_id}")
        if job.state in JobState.FINISHED:
            return f"job #{job_id} is already {job.state}"
        job.cancel_requested = True
        if job.state == JobState.QUEUED:  # never starts: the claim refuses non-queued jobs
            job.state, job.error, job.finished_at = JobState.CANCELLED, "cancelled before it started", utcnow()
        s.add(job)
        s.commit()
        return f"job #{job_id}: cancel requested" if job.state == JobState.RUNNING else f"job #{job_id} cancelled"


def list_jobs(settings: Settings, limit: int = 500) -> list[Job]:
    with reading(settings.db_url) as s:
        return list(s.exec(select(Job).order_by(Job.id.desc()).limit(limit)).all())


@dataclass(frozen=True)
class JobView:
    """A job as the Jobs tab shows it: where it is among its stages and how long it has left."""
    job: Job
    stage_count: int
    overall: float | None  # of the whole job, 0..1 (None before it starts)
    remaining_seconds: float | None  # of the whole job
    elapsed_seconds: float | None  # running: so far; finished: its duration

    @property
    def stage_text(self) -> str:
        job = self.job
        if job.state != JobState.RUNNING or not self.stage_count:
            return job.stage
        return f"{job.stage} ({job.stage_number or 1} of {self.stage_count})"


def job_views(settings: Settings, limit: int = 500) -> list[JobView]:
    return [job_view(job) for job in list_jobs(settings, limit)]


def job_view(job: Job, now: datetime | None = None) -> JobView:
    now = now or utcnow()
    stages, number = job.stages or [], job.stage_number or 0
    count = max(len(stages), number)
    if job.started_at is None:
        return JobView(job, count, None, None, None)
    end = job.finished_at if job.state in JobState.FINISHED else now
    elapsed = (timing.as_utc(end) - timing.as_utc(job.started_at)).total_seconds()
    if job.state != JobState.RUNNING:
        return JobView(job, count, 1.0 if job.state == JobState.DONE else None, None, elapsed)
    in_stage = 0.0
    if job.stage_started_at:
        in_stage = (timing.as_utc(now) - timing.as_utc(job.stage_started_at)).total_seconds()
    left = timing.remaining_seconds(stages, number, in_stage, job.progress, job.eta_seconds, elapsed,
                                    job.stage_plan or {}, job.expected_seconds)
    if left is not None:
        overall = elapsed / (elapsed + left) if elapsed + left > 0 else 0.0
    else:
        overall = (max(number - 1, 0) + job.progress) / count if count else None
    return JobView(job, count, overall, left, elapsed)


def job_log(settings: Settings, job_id: int, tail: int = 400) -> list[str]:
    return [line for _, line in job_log_lines(settings, job_id, tail)]


def job_log_lines(settings: Settings, job_id: int, tail: int = 400) -> list[tuple[datetime, str]]:
    """The last `tail` lines of a job's log, with the time each arrived."""
    with reading(settings.db_url) as s:
        rows = s.exec(select(JobLog.at, JobLog.line).where(JobLog.job_id == job_id)
                      .order_by(JobLog.id.desc()).limit(tail)).all()
    return [(at, line) for at, line in reversed(rows)]


def wait_for(settings: Settings, job_ids: list[int], poll: float = 0.5, on_change=None) -> list[Job]:
    last = None
    while True:
        with reading(settings.db_url) as s:
            jobs = [s.get(Job, i) for i in job_ids]
        state = [(j.state, j.stage, round(j.progress, 2)) for j in jobs]
        if on_change and state != last:
            on_change(jobs)
        last = state
        if all(j.state in JobState.FINISHED for j in jobs):
            return jobs
        time.sleep(poll)


def results(settings: Settings, job_ids: list[int] | None = None) -> list[Result]:
    with reading(settings.db_url) as s:
        query = select(Result).order_by(Result.id)
        if job_ids is not None:
            query = query.where(Result.job_id.in_(job_ids))
        return list(s.exec(query).all())


def base_for(settings: Settings, base_key: str) -> Result | None:
    with reading(settings.db_url) as s:
        return s.exec(select(Result).where(Result.base_key == base_key, Result.is_base)).first()


def generations(settings: Settings, result_ids: list[int]) -> dict[int, list[Generation]]:
    with reading(settings.db_url) as s:
        rows = s.exec(select(Generation).where(Generation.result_id.in_(result_ids))
                      .order_by(Generation.prompt_index)).all()
    out: dict[int, list[Generation]] = {i: [] for i in result_ids}
    for g in rows:
        out[g.result_id].append(g)
    return out


def result_row(result: Result, base: Result | None) -> dict:
    """One result as the JSON the CLI prints and the Compare table shows. Its Δ PPL is against the base's perplexity
    on the same chunks, which its pass measured in lockstep (a first look covers only the first chunks)."""
    base_ppl = result.divergence.get("base_ppl") or (base.ppl if base else None)
    return {
        "id": result.id, "job_id": result.job_id, "recipe": result.recipe, "model": result.model,
        "family": result.family, "is_base": result.is_base, "artifact": result.artifact,
        "size_bytes": result.size_bytes, "n_params": result.n_params, "bpw": result.bpw,
        "tensor_types": result.tensor_types, "fallback_tensors": result.fallback_tensors,
        "made_with": result.made_with or {}, "automatic": "sensitivity_job" in (result.made_with or {}),
        "ppl": result.ppl, "ppl_base": base_ppl,
        "ppl_delta": result.ppl - base_ppl if base_ppl else None,
        "ppl_delta_pct": 100 * (result.ppl / base_ppl - 1) if base_ppl else None,
        "n_ctx": result.n_ctx, "n_chunks": result.n_chunks, "n_tokens_scored": result.n_tokens_scored,
        "prefill_tok_s": result.prefill_tok_s, "decode_tok_s": result.decode_tok_s,
        "peak_rss_bytes": result.peak_rss_bytes, "quant_seconds": result.quant_seconds,
        "load_seconds": result.load_seconds, "peak_vram_bytes": result.peak_vram_bytes,
        "emulated": result.emulated, "load_snippet": load_snippet(result), "serving": result.serving,
        "generations_skipped": result.generations_skipped, "measured_at": result.created_at.isoformat(),
        "cpu_share": result.cpu_share, "load_average": result.load_average, "busy": busy_note(result),
        "pending": list(result.pending or []),
        **families.get(result.family).vs_checkpoint(result.divergence, result.is_base),
        **{k: (IDENTICAL[k] if result.is_base else result.divergence.get(k)) for k in IDENTICAL},
        "base": base.recipe if base else None, "base_key": result.base_key, "status": "done",
    }


# Speeds measured while the forward passes got less than this share of the cores they asked for are flagged.
BUSY_SHARE = 0.75


def busy_note(result: Result) -> str | None:
    """Why the row's speeds are not this machine's own (None when they are, or when it was not measured)."""
    if result.cpu_share is None or result.cpu_share >= BUSY_SHARE:
        return None
    load = f", load average {result.load_average:.1f}" if result.load_average is not None else ""
    return (f"measured on a busy machine: the forward passes got {100 * result.cpu_share:.0f} % of the CPU their "
            f"threads asked for{load}; measure again on a quiet machine for this machine's own speed")


def measured_recipes(settings: Settings) -> list[recommend.Measured]:
    """The results of the latest comparison (model × text × protocol), as recommendations weigh them."""
    with reading(settings.db_url) as s:
        latest = s.exec(select(Result).order_by(Result.id.desc())).first()
        if latest is None:
            return []
        comparison = BaseKey.parse(latest.base_key).comparison
        rows = [r for r in s.exec(select(Result).where(Result.is_base == False)).all()  # noqa: E712
                if BaseKey.parse(r.base_key).comparison == comparison and r.job_id is not None
                and Pending.FULL_PASS not in (r.pending or [])]
        jobs = {j.id: j for j in s.exec(select(Job).where(Job.id.in_([r.job_id for r in rows]))).all()}
    out = []
    for r in rows:
        entry = recipes.entries().get(r.recipe_name or "")
        if entry is None or entry.recipe is None or r.job_id not in jobs:
            continue
        spec = entry.recipe.spec(entry.recipe.resolve_options(None, jobs[r.job_id].options))
        cross = (r.divergence.get("vs_checkpoint") or {}).get("kld_mean")
        out.append(recommend.Measured(spec, r.recipe, r.bpw, cross if cross is not None else r.divergence.get(
            "kld_mean"), r.quant_seconds))
    return out


def load_snippet(result: Result) -> str:
    """How to load this row's artifact outside the studio: the recipe knows its format, and a base row's
    artifact is its family's (a GGUF file, or the checkpoint itself)."""
    entry = recipes.entries().get(result.recipe_name) if result.recipe_name else None
    if entry and entry.recipe:
        return entry.recipe.load_snippet(Path(result.artifact)) + serve_snippet(result, entry.recipe)
    return families.get(result.family).load_snippet(Path(result.artifact))


def serve_snippet(result: Result, recipe) -> str:
    """How to serve an HF row with vLLM (after exporting it, for the studio's own formats), and who loads it."""
    form = recipe.serving_form(recipe.defaults())
    if form is None:
        return ""
    folder = Path(result.artifact) / EXPORT_FOLDER if form.export else Path(result.artifact)
    export = f"#   python -m studio export {result.id}  # writes {folder}\n" if form.export else ""
    # comments: the snippet stays Python that runs as pasted; the serving lines are for a shell
    return (f"\n\n# Loads in: {form.engines}.\n# Serve it (in a shell):\n{export}"
            f"#   {serve_command(folder, form)}")


def export_result(settings: Settings, result_id: int) -> tuple[Path, str]:
    """A result's compressed-tensors export, written into its artifact's folder (once): the folder and how to
    serve it. KeyError: no such row; ValueError: a row whose format engines read as it is, or none defines."""
    from studio.serving import compressed_tensors_export as ct
    with reading(settings.db_url) as s:
        result = s.get(Result, result_id)
    if result is None:
        raise KeyError(f"no result #{result_id}")
    entry = recipes.entries().get(result.recipe_name) if result.recipe_name else None
    form = entry.recipe.serving_form(entry.recipe.defaults()) if entry and entry.recipe else None
    if form is None or not form.export:
        raise ValueError(f"result #{result_id} ({result.recipe}) is not in one of the studio's own formats: serving "
                         "engines read its artifact as it is" + (f" ({serve_command(Path(result.artifact), form)})"
                                                                  if form else " (a GGUF: llama.cpp, Ollama)"))
    folder = Path(result.artifact) / EXPORT_FOLDER
    if not folder.exists():
        ct.export_compressed_tensors(Path(result.artifact), folder)  # ct.ExportError is a ValueError
    return folder, serve_command(folder, form)


def result_rows(settings: Settings, job_ids: list[int] | None = None, include_base: bool = False) -> list[dict]:
    rows = []
    bases: dict[str, Result | None] = {}
    found = [r for r in results(settings, job_ids) if include_base or not r.is_base]
    with reading(settings.db_url) as s:
        fillers = {j.id: j for j in s.exec(select(Job).where(Job.id.in_(
            [r.filled_by for r in found if r.pending and r.filled_by is not None]))).all()}
    for r in found:
        if r.base_key not in bases:
            bases[r.base_key] = base_for(settings, r.base_key)
        rows.append({**result_row(r, bases[r.base_key]), "pending_note": pending_note(r, fillers.get(r.filled_by))})
    return rows


def results_version(settings: Settings) -> tuple:
    """Changes whenever a row is stored, deleted or filled in: what Compare polls before drawing again."""
    with reading(settings.db_url) as s:  # aggregates: the UI polls this every few seconds, whatever the row count
        count, last, pending = s.exec(select(func.count(Result.id), func.max(Result.id),
                                             func.sum(func.length(cast(Result.pending, String))))).one()
        unfinished = s.exec(select(func.count(Job.id)).where(Job.state.in_([JobState.QUEUED, JobState.RUNNING]))).one()
    return count, last or 0, pending or 0, unfinished


def pending_note(result: Result, filler: Job | None) -> str | None:
    """What a row still waits for: being measured by its running job, or never to be (that job ended first)."""
    if not result.pending:
        return None
    what = " and ".join(Pending.WHAT.get(p, p) for p in result.pending)
    if filler is not None and filler.state not in JobState.FINISHED:
        return f"pending: {what}, being measured by job #{filler.id}"
    ended = f"job #{filler.id} {filler.state}" if filler is not None else "its job ended"
    return f"not measured: {ended} before {what}"


def failed_rows(jobs: list[Job]) -> list[dict]:
    return [{"job_id": j.id, "recipe": j.recipe, "model": j.model, "status": j.state, "error": j.error}
            for j in jobs if j.state != JobState.DONE]


def plan_model(settings: Settings, params: str | None, model: str | None):
    """What the planner plans for: a checkpoint's facts and shape from its config (a typed count, if given too,
    scales its weights), or a typed count with the nearest known Llama-family shape."""
    from studio import architecture, planner
    from studio.models import ModelError, read_model_facts, resolve_model
    if model:
        try:
            facts = read_model_facts(resolve_model(model, settings), settings)
        except ModelError as exc:
            raise planner.PlanError(str(exc)) from exc
        if facts.shape is None:
            raise planner.PlanError(f"{facts.path.name}'s config.json does not give the sizes the planner needs "
                                    "(hidden_size, num_hidden_layers, num_attention_heads, vocab_size)")
        return planner.Model(facts, planner.parse_params(params) if params else facts.n_params)
    if not params:
        raise planner.PlanError("give --params (e.g. 70B) or --model PATH")
    count = planner.parse_params(params)
    return planner.Model.typed(count, architecture.nearest(count))


class DeleteError(ValueError):
    pass


def delete_result(settings: Settings, result_id: int) -> list[str]:
    """Delete a result row, its generations, the records of its Ollama imports and its files under the
    outputs folder (never a user's checkpoint or a shared cache). A base row goes only when no other result
    is compared to it. Returns what was removed, one line each (the UI shows them after "removed")."""

    with session(settings.db_url) as s:
        result = s.get(Result, result_id)
        if result is None:
            raise DeleteError(f"result #{result_id} does not exist")
        if result.is_base:
            others = s.exec(select(Result).where(Result.base_key == result.base_key, Result.id != result_id)).all()
            if others:
                raise DeleteError(f"result #{result_id} is the base of {len(others)} other result(s); "
                                  "delete those first")
        _refuse_while_importing(s, result_id)
        for g in s.exec(select(Generation).where(Generation.result_id == result_id)).all():
            s.delete(g)
        imports = _delete_import_records(s, result_id)
        s.delete(result)
        s.commit()
    artifact = Path(result.artifact)
    removed = []
    if artifact.exists() and artifact.resolve().is_relative_to(settings.outputs_dir.resolve()):
        if artifact.is_dir():
            shutil.rmtree(artifact)
        else:
            artifact.unlink()
        removed.append(str(artifact))
    return removed + imports


def _refuse_while_importing(s, result_id: int) -> None:
    """An import still queued or running would upload a file about to go and store a row for a result that is gone."""
    from studio.ollama.store import IMPORT_RECIPE

    active = s.exec(select(Job).where(Job.recipe_name == IMPORT_RECIPE,
                                      Job.state.in_([JobState.QUEUED, JobState.RUNNING]))).all()
    for job in active:
        if job.options.get("result_id") == result_id:
            raise DeleteError(f"result #{result_id} is being imported into Ollama by job #{job.id} ({job.state}); "
                              "wait for it to finish or cancel it, then delete")


def _delete_import_records(s, result_id: int) -> list[str]:
    """Delete the rows recording this result's Ollama imports. The models stay on their servers (they are
    the user's now, and a server may be unreachable); the lines returned say where and how to remove them."""
    from studio.ollama.store import OllamaImport

    rows = s.exec(select(OllamaImport).where(OllamaImport.result_id == result_id)).all()
    for row in rows:
        s.delete(row)
    return [f"the record of its Ollama import as {row.name!r} into {row.host}; the model itself stays on that "
            f"server: remove it there with `OLLAMA_HOST={row.host} ollama rm {row.name}`" for row in rows]


CSV_COLUMNS = ("id", "recipe", "family", "base", "is_base", "emulated", "size_bytes", "bpw", "ppl", "ppl_base",
               "ppl_delta_pct", "kld_mean", "kld_p99", "same_top_pct", "rms_dp_pct", "prefill_tok_s",
               "decode_tok_s", "generations_skipped", "peak_rss_bytes", "quant_seconds", "load_seconds", "n_ctx",
               "n_chunks", "n_tokens_scored", "model", "artifact")


def export_csv(rows: list[dict], folder: Path) -> Path:
    """The rows as a CSV file of its own in `folder`: two exports in the same second (two browser
    sessions) never share, or overwrite, a file."""
    import csv
    import tempfile
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f"compare-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".csv", dir=folder)
    path = Path(name)
    with open(handle, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path
