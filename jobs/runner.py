"""`python -m jobs.runner JOB_ID`: walk one job's stages in this process.

preflight -> (the recipe's own: convert, imatrix) -> quantize -> evaluate -> store (the row, and the base's row
from the same pass) -> (divergence vs checkpoint) -> (evaluate base: its generations, when this job stored it).
Progress and stage go straight to the job row; log lines go to stdout, which the supervising task
appends to the job log. Everything is written under the job's temp folder; the artifact is renamed into the
outputs folder as its evaluation starts. Its row is stored at the evaluation's first look at the scores (or its end),
and holds what the later stages fill in (Result.pending).
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from jobs.evaluation import FIRST_LOOK_PREFIX, PROGRESS_PREFIX
from jobs.process import die_with_parent, disk_full_note, exit_reason, spawn
from studio import families, recipes
from studio.config import REPO_ROOT, Settings
from studio.evaluation import base_cache
from studio.evaluation.protocol import Protocol
from studio.evaluation.texts import TextError, load_text, text_sha
from studio.evaluation.tokens import ensure_tokens
from studio.families import BaseKey, Family
from studio.llamacpp import file_lock
from studio.models import ModelError, read_model_facts
from studio.outputs import artifact_path
from studio.preflight import recheck_job
from studio.serving.check import CheckRequest, run_check
from studio.stages import Stage, StageContext
from studio.storage import Generation, Pending, Result, reading, session
from studio.storage.tables import utcnow
from studio.storage.jobs import cancel_requested, get_job, job_stage, mark_done, update_job


class Cancelled(BaseException):
    """Raised by SIGTERM or a cancel flag; a BaseException so no `except Exception` swallows it."""


class JobRunner:
    def __init__(self, settings: Settings, job_id: int):
        self.settings = settings
        self.job_id = job_id
        self.job = get_job(settings.db_url, job_id)
        self.stage_started = time.monotonic()
        self.last_write = 0.0
        self.planned: list[Stage] = []
        self.stage_number = 0  # the position in `planned` of the stage running now (1-based)

    # -- reporting ---------------------------------------------------------------------------
    def log(self, line: str) -> None:
        print(line, flush=True)

    def plan(self, stages: list[Stage]) -> None:
        """The stages this job will walk, for "stage 3 of 7"; the one running now is the first."""
        self.planned, self.stage_number = stages, 1
        self._update(stages=[str(s) for s in stages], stage_number=1)

    def enter(self, stage: Stage) -> None:
        self.check_cancel()
        self.log(f"== stage: {stage}")
        self.stage_started = time.monotonic()
        if stage in self.planned[self.stage_number:]:  # a planned stage whose work was cached is passed over
            self.stage_number = self.planned.index(stage, self.stage_number) + 1
        self._update(stage=stage, stage_number=self.stage_number, stage_started_at=utcnow(), progress=0.0,
                     eta_seconds=None)

    def report(self, fraction: float, line: str | None = None) -> None:
        if line:
            self.log(line)
        now = time.monotonic()
        if now - self.last_write < 0.5 and fraction < 1.0:
            return
        self.last_write = now
        elapsed = now - self.stage_started
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else None
        self._update(progress=min(max(fraction, 0.0), 1.0), eta_seconds=eta)
        self.check_cancel()

    def _update(self, **fields) -> None:
        update_job(self.settings.db_url, self.job_id, **fields)

    def check_cancel(self) -> None:
        if cancel_requested(self.settings.db_url, self.job_id):
            raise Cancelled()

    def run_logged(self, cmd: list[str], env: dict | None = None, progress=None,
                   on_line: Callable[[str], bool] | None = None) -> None:
        """Run a subprocess, relaying its output; `@progress f` lines update the stage's progress, and
        so does `progress(line)` when it returns a fraction (for tools with their own progress text);
        a line `on_line` takes (returns True for) is not logged.
        Redraws of a progress bar (lines starting like the previous one, less than 2 s apart) are
        dropped, so a tool that animates its bars does not flood the job log."""
        proc = spawn(cmd, new_group=False, env=env, cwd=str(REPO_ROOT))
        try:
            self._relay(proc, progress, on_line)
        except BaseException:  # cancelled or failed: reap the child, or its zombie (reparented to
            proc.kill()        # init, which may reap late) keeps the job's process group alive
            proc.wait()
            raise
        if proc.wait() != 0:
            raise RuntimeError(f"{_program(cmd)} {exit_reason(proc.returncode)}")

    def _relay(self, proc, progress, on_line) -> None:
        last_prefix, last_time = "", 0.0
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(PROGRESS_PREFIX):
                self.report(float(line[len(PROGRESS_PREFIX):]))
                continue
            if on_line and on_line(line):
                continue
            if progress and (fraction := progress(line)) is not None:
                self.report(fraction)
            prefix, now = line[:24], time.monotonic()
            if line.strip() and prefix == last_prefix and now - last_time < 2.0:
                continue
            last_prefix, last_time = prefix, now
            self.log(line)

    # -- the stages --------------------------------------------------------------------------
    def run(self) -> None:
        job, settings = self.job, self.settings
        self.enter(Stage.PREFLIGHT)
        model = read_model_facts(Path(job.model), settings)
        if model.key != job.model_key:
            raise ModelError("the checkpoint changed on disk since the job was queued; submit it again")
        recipe = recipes.get(job.recipe_name)
        options = recipe.resolve_options(None, job.options)
        options = recheck_job(settings, model, recipe, options, job.prompts, job.max_new_tokens)
        tmp = settings.job_tmp_dir(job.id)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model_cache = settings.model_cache_dir / model.key
        model_cache.mkdir(parents=True, exist_ok=True)
        self.options = options
        ctx = StageContext(job.id, model, options, tmp, model_cache, settings.cache_dir,
                           self.report, self.run_logged, self.enter)
        self.recipe, self.model = recipe, model
        self.plan(self.stages_ahead(recipe, model, ctx))

        for module in recipe.runtime_modules(options):  # torch alone takes seconds to import
            importlib.import_module(module)
        recipe.prepare(ctx)
        self.enter(Stage.QUANTIZE)
        t0 = time.perf_counter()
        artifact = recipe.quantize(ctx)
        quant_seconds = time.perf_counter() - t0

        self.enter(Stage.EVALUATE)
        if text_sha(Path(job.eval_text_path)) != job.eval_text_sha:
            raise TextError("the evaluation text changed on disk since the job was queued; submit it again")
        family = recipe.family
        base_artifact = family.base_artifact(ctx)
        tokens_path, bos = self.tokens(family, family.tokenizer_source(model, base_artifact))
        final = self.move_in(artifact)
        rows = _Rows(final, base_artifact, family.base_key(model.key, job.eval_text_sha, job.n_ctx, job.max_chunks),
                     quant_seconds, bool(options.get("checkpoint_kld")), ctx.made_with,
                     serving_check=bool(options.get("vllm_check")))
        # perplexity, divergence from the base (in lockstep), speed and generations: one process. The rows go in at
        # the pass's first look (or its end, for a short pass) and are completed as it ends; the slower figures
        # fill in afterwards, marked pending until they do.
        evaluation = self.evaluate(family, final, tokens_path, bos, tmp / "eval.json", base=base_artifact,
                                   recipe_name=recipe.name, first_look=lambda scored: self.store(rows, scored, False),
                                   base_logits=self.base_logits(rows.base_key))
        self.enter(Stage.STORE)
        self.store(rows, evaluation, True)
        if rows.checkpoint_kld:
            self.fill_in(rows.result_id, vs_checkpoint=self.checkpoint_divergence(family, final, tmp / "cross.json"))
        if rows.serving_check:
            self.fill_in(rows.result_id, serving=self.serving_check(rows.result_id, final, tokens_path, bos))
        if rows.base_id is not None:
            self.enter(Stage.EVALUATE_BASE)
            measured = self.evaluate(family, base_artifact, tokens_path, bos, tmp / "base-eval.json", perplexity=False)
            cross = self.checkpoint_divergence(family, base_artifact, tmp / "base-cross.json") \
                if rows.checkpoint_kld else None
            self.fill_in(rows.base_id, measured=measured, vs_checkpoint=cross)
        with session(self.settings.db_url) as s:
            mark_done(s, self.job_id)
            s.commit()

    def stages_ahead(self, recipe, model, ctx: StageContext) -> list[Stage]:
        job = self.job
        divergence = [Stage.CHECKPOINT_DIVERGENCE] if ctx.options.get("checkpoint_kld") else []
        serving = [Stage.SERVING_CHECK] if ctx.options.get("vllm_check") else []
        base_key = recipe.family.base_key(model.key, job.eval_text_sha, job.n_ctx, job.max_chunks)
        with reading(self.settings.db_url) as s:
            has_base = s.exec(select(Result.id).where(Result.base_key == str(base_key), Result.is_base)).first()
        base = [] if has_base else [Stage.EVALUATE_BASE, *divergence]
        return [Stage.PREFLIGHT, *recipe.own_stages(ctx), Stage.QUANTIZE, Stage.EVALUATE, Stage.STORE, *divergence,
                *serving, *base]

    def tokens(self, family: Family, source: Path) -> tuple[Path, int | None]:
        """The evaluation text's token ids as the family's backend makes them (cached per model)."""
        job = self.job
        return ensure_tokens(self.settings.model_cache_dir / self.model.key, family.token_stem(job.eval_text_sha),
                             lambda: family.tokenize(source, load_text(Path(job.eval_text_path))))

    def evaluate(self, family: Family, artifact: Path, tokens_path: Path, bos: int | None, out: Path,
                 base: Path | None = None, recipe_name: str | None = None, base_family: Family | None = None,
                 perplexity: bool = True, first_look: Callable[[dict], None] | None = None,
                 base_logits: dict | None = None) -> dict:
        """Evaluate in a fresh process; recipe_name None means the unquantized base itself; without perplexity,
        its load, generations and decode speed only. `first_look` gets the scores of a long pass's first chunks."""
        job = self.job
        request = {"artifact": str(artifact), "base_artifact": str(base) if base else None,
                   "family": family.name, "base_family": (base_family or family).name, "perplexity": perplexity,
                   "recipe": recipe_name, "tokenizer": str(self.model.path),
                   "tokens_path": str(tokens_path), "bos": bos,
                   "n_ctx": job.n_ctx, "max_chunks": job.max_chunks, "prompts": job.prompts,
                   "max_new_tokens": job.max_new_tokens, "base_logits": base_logits}
        req_path = out.with_suffix(".request.json")
        req_path.write_text(json.dumps(request))
        self.run_logged([sys.executable, "-m", "jobs.evaluation", str(req_path), str(out)],
                        on_line=_first_look_reader(first_look) if first_look else None)
        return json.loads(out.read_text())

    def base_logits(self, base_key: BaseKey) -> dict:
        """Where the pass gets its base's logits: kept by an earlier job on this comparison once its base row is
        stored (the row needs the base's own speed, which only running it measures), else from the base, kept
        for the next jobs (studio.evaluation.base_cache). A budget of 0 turns this off: the base runs every time."""
        if self.settings.base_cache_bytes <= 0:
            return {}
        entry = base_cache.entry_dir(self.settings.model_cache_dir / self.model.key, str(base_key))
        with reading(self.settings.db_url) as s:
            has_base = s.exec(select(Result.id).where(Result.base_key == str(base_key), Result.is_base)).first()
        if has_base and base_cache.is_complete(entry):
            self.log(f"the base's logits come from an earlier job on this comparison ({entry.name}): not run again")
            return {"read": str(entry)}
        return {"keep": str(entry), "partial": str(self.settings.job_tmp_dir(self.job_id) / "base-logits.partial"),
                "budget": self.settings.base_cache_bytes, "base_key": str(base_key)}

    def checkpoint_divergence(self, family: Family, artifact: Path, out: Path) -> dict:
        """KLD of an artifact against the HF checkpoint it came from (its family's backend against the
        checkpoint's, on the checkpoint's token ids): the number that puts every family on one scale."""
        self.enter(Stage.CHECKPOINT_DIVERGENCE)
        reason = family.vocabulary_mismatch(artifact, self.model, self.settings.model_cache_dir / self.model.key)
        if reason:
            self.log(f"not compared with the checkpoint: {reason}")
            return {"refused": reason}
        checkpoint = families.checkpoint_family()
        tokens_path, bos = self.tokens(checkpoint, self.model.path)
        return self.evaluate(family, artifact, tokens_path, bos, out, base=self.model.path,
                             recipe_name=None, base_family=checkpoint)["divergence"]

    def serving_check(self, result_id: int, artifact: Path, tokens_path: Path, bos: int | None) -> dict:
        """The row's artifact loaded and scored in vLLM on the job's chunks and prompts (studio.serving.check)."""
        self.enter(Stage.SERVING_CHECK)
        job = self.job
        with reading(self.settings.db_url) as s:
            row = s.get(Result, result_id)
            generations = s.exec(select(Generation.text).where(Generation.result_id == result_id)
                                 .order_by(Generation.prompt_index)).all()
        request = CheckRequest(
            artifact=artifact, form=self.recipe.serving_form(self.options), tokenizer=self.model.path,
            tokens_path=tokens_path, bos=bos, protocol=Protocol(job.n_ctx, job.max_chunks), prompts=job.prompts,
            max_new_tokens=job.max_new_tokens, studio_ppl=row.ppl, studio_base_ppl=row.divergence.get("base_ppl"),
            studio_generations=list(generations), checkpoint=self.model.path,
            model_cache=self.settings.model_cache_dir / self.model.key, n_params=self.model.n_params,
            work_dir=self.settings.job_tmp_dir(self.job_id))
        return run_check(request, self.settings.cache_dir, self.run_logged, self.log).as_dict()

    def move_in(self, artifact: Path) -> Path:
        """Move the artifact into outputs, where its row will own it; until then it is its running job's, and the
        supervisor sweeps it if the job ends without a row (`studio.outputs`)."""
        final = artifact_path(self.settings, self.model.slug, self.job_id, artifact.name)
        final.parent.mkdir(parents=True, exist_ok=True)
        artifact.replace(final)
        return final

    def store(self, rows: _Rows, scored: dict, whole: bool) -> None:
        """The job's row and its base's from a pass's scores: inserted at its first look (figures of its first chunks,
        the rest pending) or, for a short pass, at its end; completed with the whole pass's scores."""
        later = [] if whole else [Pending.FULL_PASS, Pending.GENERATIONS]
        checkpoint = [Pending.CHECKPOINT] if rows.checkpoint_kld else []
        serving = [Pending.SERVING] if rows.serving_check else []
        if rows.result_id is None:
            rows.result_id = self._insert_result(self.recipe, self.model, rows.artifact, scored, rows.base_key,
                                                 is_base=False, label=self.job.recipe,
                                                 quant_seconds=rows.quant_seconds,
                                                 pending=later + checkpoint + serving,
                                                 made_with=rows.made_with)
        else:
            self.fill_in(rows.result_id, scores=scored, measured=scored)
        if "base_scores" in scored:  # absent when the base's logits were read from an earlier pass: its row exists
            base_id = self.store_base_row(rows.base_artifact, rows.base_key, scored["base_scores"], whole,
                                          pending=[Pending.GENERATIONS, *checkpoint])
            rows.base_id = base_id or rows.base_id

    def store_base_row(self, base_artifact: Path, base_key: BaseKey, base_scores: dict, whole: bool,
                       pending: list[str]) -> int | None:
        """The unquantized base's row, once per (model, text, protocol): its scores are the lockstep pass's (the
        same logits, already computed: at 8 B a pass of its own would add a fifth to the job), its generations,
        load and memory still `pending` for this job to fill in. A row stored from a first look is completed by
        the first whole pass on its key, this job's or another's. Returns its id when this job fills it in."""
        family, model = self.recipe.family, self.model
        with file_lock(self.settings.model_cache_dir / model.key / "base-eval.lock"):
            with reading(self.settings.db_url) as s:
                row = s.exec(select(Result).where(Result.base_key == str(base_key), Result.is_base)).first()
            if row is not None:
                if whole and Pending.FULL_PASS in (row.pending or []):
                    self.fill_in(row.id, scores=base_scores)
                return row.id if row.filled_by == self.job_id else None
            try:
                return self._insert_result(self.recipe, model, base_artifact, base_scores, base_key, is_base=True,
                                           label=family.base_label,
                                           pending=pending if whole else [Pending.FULL_PASS, *pending])
            except IntegrityError:  # a worker on another machine (another workspace, another lock) stored it first
                self.log(f"base row {base_key} was stored meanwhile by another worker")
                return None

    def fill_in(self, result_id: int, *, scores: dict | None = None, measured: dict | None = None,
                vs_checkpoint: dict | None = None, serving: dict | None = None) -> None:
        """A stored row's pending figures: the whole pass's scores, the generations with their decode speed, load
        time and memory, the divergence from the checkpoint, or the serving check."""
        with session(self.settings.db_url) as s:
            row = s.get(Result, result_id)
            done = set()
            if scores is not None:
                for column, value in _score_columns(scores).items():
                    setattr(row, column, value)
                row.divergence = {**row.divergence, **(scores.get("divergence") or {})}
                done.add(Pending.FULL_PASS)
            if measured is not None:
                for column, value in _measured_columns(measured).items():
                    setattr(row, column, value)
                s.add_all(_generations(result_id, measured["generations"]))
                done.add(Pending.GENERATIONS)
            if vs_checkpoint is not None:
                row.divergence = {**row.divergence, "vs_checkpoint": vs_checkpoint}
                done.add(Pending.CHECKPOINT)
            if serving is not None:
                row.serving = serving
                done.add(Pending.SERVING)
            row.pending = [p for p in row.pending or [] if p not in done]
            s.add(row)
            s.commit()

    def _insert_result(self, recipe, model, artifact: Path, evaluation: dict, base_key: BaseKey, *, is_base: bool,
                       label: str, pending: list[str], quant_seconds: float | None = None,
                       made_with: dict | None = None) -> int:
        """A row from a pass's scores and, when they came with them, the measured load, memory and generations
        (else left unmeasured, `pending`)."""
        census = recipe.family.census(artifact, model)
        with session(self.settings.db_url) as s:
            result = Result(
                job_id=None if is_base else self.job_id, model=str(model.path), model_key=model.key,
                recipe=label, recipe_name=None if is_base else recipe.name, family=recipe.family.name,
                is_base=is_base, base_key=str(base_key),
                artifact=str(artifact), size_bytes=census.get("size_bytes") or artifact.stat().st_size,
                n_params=census["n_params"],
                emulated=False if is_base else recipe.is_emulated(self.options),
                bpw=census["bpw"], tensor_types=census["tensor_types"], made_with=made_with or None,
                fallback_tensors=0 if is_base else recipe.fallback_tensors(self.options, census),
                n_ctx=self.job.n_ctx, quant_seconds=quant_seconds, eval_text_sha=self.job.eval_text_sha,
                divergence=evaluation.get("divergence") or {}, pending=pending, filled_by=self.job_id,
                **_score_columns(evaluation), **_measured_columns({**UNMEASURED, **evaluation}))
            s.add(result)
            s.flush()
            s.add_all(_generations(result.id, evaluation.get("generations", [])))
            s.commit()
            return result.id


@dataclass
class _Rows:
    """What a job stores: its artifact's row (and maybe its base's), known once the first scores are."""
    artifact: Path
    base_artifact: Path
    base_key: BaseKey
    quant_seconds: float
    checkpoint_kld: bool
    made_with: dict  # studio.stages.StageContext.made_with
    serving_check: bool = False  # the job checks its artifact in vLLM (the vllm_check option)
    result_id: int | None = None
    base_id: int | None = None  # the base row this job stored, whose generations it fills in


_SCORE_COLUMNS = ("ppl", "nll_sum", "n_chunks", "n_tokens_scored", "prefill_tok_s", "cpu_share", "load_average")
_MEASURED_COLUMNS = ("decode_tok_s", "load_seconds", "peak_rss_bytes", "peak_vram_bytes", "generations_skipped")
# A row's load, memory and generations before they are measured (a base row, a first look)
UNMEASURED = {"load_seconds": None, "peak_rss_bytes": 0, "decode_tok_s": 0.0, "generations": []}


def _score_columns(scored: dict) -> dict:
    return {k: scored.get(k) for k in _SCORE_COLUMNS}


def _measured_columns(measured: dict) -> dict:
    return {k: measured.get(k) for k in _MEASURED_COLUMNS}


def _first_look_reader(first_look: Callable[[dict], None]) -> Callable[[str], bool]:
    """A relay hook that hands a `@first-look` line's scores on (and keeps the line out of the log)."""
    def read(line: str) -> bool:
        if not line.startswith(FIRST_LOOK_PREFIX):
            return False
        first_look(json.loads(line[len(FIRST_LOOK_PREFIX):]))
        return True
    return read


def _generations(result_id: int, generations: list[dict]) -> list[Generation]:
    return [Generation(result_id=result_id, prompt_index=i, prompt=g["prompt"], text=g["text"], n_tokens=g["n_tokens"])
            for i, g in enumerate(generations)]


def _program(cmd: list[str]) -> str:
    """What a failed command was, for its error: the module of `python -m MODULE`, else the script or tool."""
    if len(cmd) > 2 and cmd[1] == "-m":
        return cmd[2]
    return Path(cmd[1] if len(cmd) > 1 and cmd[1].endswith(".py") else cmd[0]).name


def main() -> int:
    job_id = int(sys.argv[1])
    die_with_parent()
    settings = Settings.from_env()
    # SIGTERM (cancel) unwinds through finally blocks instead of dying mid-write.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(Cancelled()))
    runner = JobRunner(settings, job_id)
    try:
        runner.run()
        return 0
    except Cancelled:  # the finally blocks have cleaned up; interpreter teardown would only delay the stop
        print("cancelled", flush=True)
        os._exit(3)
    except Exception as exc:
        traceback.print_exc()
        disk_full = disk_full_note(settings.workspace)  # before freeing: this job's own files may have filled it
        # Free what the job wrote before storing the error: on a full disk the database can only take it then.
        shutil.rmtree(settings.job_tmp_dir(job_id), ignore_errors=True)
        message = f"{job_stage(settings.db_url, job_id)}: {exc}"
        update_job(settings.db_url, job_id, error=f"{disk_full}: {message}" if disk_full else message)
        return 1


if __name__ == "__main__":
    sys.exit(main())
