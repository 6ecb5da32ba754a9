"""`python -m jobs.runner JOB_ID`: walk one job's stages in this process.

preflight -> (the recipe's own: convert, imatrix) -> quantize -> evaluate -> store (the row, and the base's row
from the same pass) -> (divergence vs checkpoint) -> (evaluate base: its generations, when this job stored it).
Progress and stage go straight to the job row; log lines go to stdout, which the supervising task
appends to the job log. Everything is written under the job's temp folder; the artifact is renamed
into the outputs folder as its row is stored, which holds what the later stages fill in (Result.pending).
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
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from jobs.evaluation import PROGRESS_PREFIX
from jobs.process import die_with_parent, disk_full_note, exit_reason, spawn
from studio import families, recipes
from studio.config import REPO_ROOT, Settings
from studio.evaluation.texts import TextError, load_text, text_sha
from studio.evaluation.tokens import ensure_tokens
from studio.families import BaseKey, Family
from studio.llamacpp import file_lock
from studio.models import ModelError, read_model_facts
from studio.outputs import artifact_path
from studio.preflight import recheck_job
from studio.stages import Stage, StageContext
from studio.storage import Generation, Result, reading, session
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

    def run_logged(self, cmd: list[str], env: dict | None = None, progress=None) -> None:
        """Run a subprocess, relaying its output; `@progress f` lines update the stage's progress, and
        so does `progress(line)` when it returns a fraction (for tools with their own progress text).
        Redraws of a progress bar (lines starting like the previous one, less than 2 s apart) are
        dropped, so a tool that animates its bars does not flood the job log."""
        proc = spawn(cmd, new_group=False, env=env, cwd=str(REPO_ROOT))
        try:
            self._relay(proc, progress)
        except BaseException:  # cancelled or failed: reap the child, or its zombie (reparented to
            proc.kill()        # init, which may reap late) keeps the job's process group alive
            proc.wait()
            raise
        if proc.wait() != 0:
            raise RuntimeError(f"{_program(cmd)} {exit_reason(proc.returncode)}")

    def _relay(self, proc, progress) -> None:
        last_prefix, last_time = "", 0.0
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(PROGRESS_PREFIX):
                self.report(float(line[len(PROGRESS_PREFIX):]))
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
        # perplexity, divergence from the base (in lockstep), speed and generations: one process
        evaluation = self.evaluate(family, artifact, tokens_path, bos, tmp / "eval.json", base=base_artifact,
                                   recipe_name=recipe.name)
        base_key = family.base_key(model.key, job.eval_text_sha, job.n_ctx, job.max_chunks)
        checkpoint_kld = bool(options.get("checkpoint_kld"))

        # The row goes in as soon as its perplexity and divergence from the base are known (the base row too,
        # from the same pass); the slower figures fill in afterwards, marked pending until they do.
        self.enter(Stage.STORE)
        final, result_id = self.store(recipe, model, artifact, evaluation, base_key, quant_seconds,
                                      pending=[PENDING_CHECKPOINT] if checkpoint_kld else [])
        base_row = self.store_base_row(recipe, model, base_artifact, base_key, evaluation["base_scores"],
                                       pending=[PENDING_GENERATIONS, *([PENDING_CHECKPOINT] if checkpoint_kld else [])])
        if checkpoint_kld:
            self.fill_in(result_id, {"vs_checkpoint": self.checkpoint_divergence(family, final, tmp / "cross.json")})
        if base_row is not None:
            self.enter(Stage.EVALUATE_BASE)
            measured = self.evaluate(family, base_artifact, tokens_path, bos, tmp / "base-eval.json", perplexity=False)
            cross = self.checkpoint_divergence(family, base_artifact, tmp / "base-cross.json") if checkpoint_kld \
                else None
            self.fill_in(base_row, {"vs_checkpoint": cross} if cross else {}, measured)
        with session(self.settings.db_url) as s:
            mark_done(s, self.job_id)
            s.commit()

    def stages_ahead(self, recipe, model, ctx: StageContext) -> list[Stage]:
        job = self.job
        divergence = [Stage.CHECKPOINT_DIVERGENCE] if ctx.options.get("checkpoint_kld") else []
        base_key = recipe.family.base_key(model.key, job.eval_text_sha, job.n_ctx, job.max_chunks)
        with reading(self.settings.db_url) as s:
            has_base = s.exec(select(Result.id).where(Result.base_key == str(base_key), Result.is_base)).first()
        base = [] if has_base else [Stage.EVALUATE_BASE, *divergence]
        return [Stage.PREFLIGHT, *recipe.own_stages(ctx), Stage.QUANTIZE, Stage.EVALUATE, Stage.STORE, *divergence,
                *base]

    def tokens(self, family: Family, source: Path) -> tuple[Path, int | None]:
        """The evaluation text's token ids as the family's backend makes them (cached per model)."""
        job = self.job
        return ensure_tokens(self.settings.model_cache_dir / self.model.key, family.token_stem(job.eval_text_sha),
                             lambda: family.tokenize(source, load_text(Path(job.eval_text_path))))

    def evaluate(self, family: Family, artifact: Path, tokens_path: Path, bos: int | None, out: Path,
                 base: Path | None = None, recipe_name: str | None = None, base_family: Family | None = None,
                 perplexity: bool = True) -> dict:
        """Evaluate in a fresh process; recipe_name None means the unquantized base itself; without perplexity,
        its load, generations and decode speed only."""
        job = self.job
        request = {"artifact": str(artifact), "base_artifact": str(base) if base else None,
                   "family": family.name, "base_family": (base_family or family).name, "perplexity": perplexity,
                   "recipe": recipe_name, "tokenizer": str(self.model.path),
                   "tokens_path": str(tokens_path), "bos": bos,
                   "n_ctx": job.n_ctx, "max_chunks": job.max_chunks, "prompts": job.prompts,
                   "max_new_tokens": job.max_new_tokens}
        req_path = out.with_suffix(".request.json")
        req_path.write_text(json.dumps(request))
        self.run_logged([sys.executable, "-m", "jobs.evaluation", str(req_path), str(out)])
        return json.loads(out.read_text())

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

    def store_base_row(self, recipe, model, base_artifact: Path, base_key: BaseKey, base_scores: dict,
                       pending: list[str]) -> int | None:
        """The unquantized base's row, once per (model, text, protocol): its scores are the lockstep pass's (the
        same logits, already computed: at 8 B a pass of its own would add a fifth to the job), its generations,
        load and memory still `pending` for this job to fill in. Returns its id, or None when a row existed."""
        family = recipe.family
        with file_lock(self.settings.model_cache_dir / model.key / "base-eval.lock"):
            with reading(self.settings.db_url) as s:
                if s.exec(select(Result).where(Result.base_key == str(base_key), Result.is_base)).first():
                    return None
            unmeasured = {"load_seconds": None, "peak_rss_bytes": 0, "decode_tok_s": 0.0, "generations": []}
            try:
                return self._insert_result(recipe, model, base_artifact, {**unmeasured, **base_scores}, base_key,
                                           is_base=True, label=family.base_label, pending=pending)
            except IntegrityError:  # a worker on another machine (another workspace, another lock) stored it first
                self.log(f"base row {base_key} was stored meanwhile by another worker")
                return None

    def store(self, recipe, model, artifact: Path, evaluation: dict, base_key: BaseKey, quant_seconds: float,
              pending: list[str]) -> tuple[Path, int]:
        """Move the artifact into outputs and insert its row; returns where the artifact now is, and the row's id."""
        final = artifact_path(self.settings, model.slug, self.job_id, artifact.name)
        final.parent.mkdir(parents=True, exist_ok=True)
        self.check_cancel()
        # From here the row is stored whole or the artifact removed: a cancel's SIGTERM waits, and a kill between
        # the move and the commit leaves an entry no row owns, which the supervisor sweeps.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        artifact.replace(final)
        try:
            result_id = self._insert_result(recipe, model, final, evaluation, base_key, is_base=False,
                                            label=self.job.recipe, quant_seconds=quant_seconds, pending=pending)
        except BaseException:
            if final.is_dir():
                shutil.rmtree(final, ignore_errors=True)
            else:
                final.unlink(missing_ok=True)
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        return final, result_id

    def fill_in(self, result_id: int, divergence: dict, measured: dict | None = None) -> None:
        """A stored row's pending figures: divergence statistics to add, and (for a base row) its generations,
        decode speed, load time and memory."""
        with session(self.settings.db_url) as s:
            row = s.get(Result, result_id)
            row.divergence = {**row.divergence, **divergence}
            done = {PENDING_CHECKPOINT} if "vs_checkpoint" in divergence else set()
            if measured is not None:
                row.decode_tok_s, row.load_seconds = measured["decode_tok_s"], measured.get("load_seconds")
                row.peak_rss_bytes, row.peak_vram_bytes = measured["peak_rss_bytes"], measured.get("peak_vram_bytes")
                row.generations_skipped = measured.get("generations_skipped")
                s.add_all(_generations(result_id, measured["generations"]))
                done.add(PENDING_GENERATIONS)
            row.pending = [p for p in row.pending or [] if p not in done]
            s.add(row)
            s.commit()

    def _insert_result(self, recipe, model, artifact: Path, evaluation: dict, base_key: BaseKey, *, is_base: bool,
                       label: str, pending: list[str], quant_seconds: float | None = None) -> int:
        census = recipe.family.census(artifact, model)
        with session(self.settings.db_url) as s:
            result = Result(
                job_id=None if is_base else self.job_id, model=str(model.path), model_key=model.key,
                recipe=label, recipe_name=None if is_base else recipe.name, family=recipe.family.name,
                is_base=is_base, base_key=str(base_key),
                artifact=str(artifact), size_bytes=census.get("size_bytes") or artifact.stat().st_size,
                n_params=census["n_params"],
                emulated=False if is_base else recipe.is_emulated(self.options),
                peak_vram_bytes=evaluation.get("peak_vram_bytes"),
                bpw=census["bpw"], tensor_types=census["tensor_types"],
                fallback_tensors=0 if is_base else recipe.fallback_tensors(self.options, census),
                ppl=evaluation["ppl"], nll_sum=evaluation["nll_sum"], n_ctx=self.job.n_ctx,
                n_chunks=evaluation["n_chunks"], n_tokens_scored=evaluation["n_tokens_scored"],
                prefill_tok_s=evaluation["prefill_tok_s"], decode_tok_s=evaluation["decode_tok_s"],
                peak_rss_bytes=evaluation["peak_rss_bytes"], quant_seconds=quant_seconds,
                load_seconds=evaluation.get("load_seconds"), eval_text_sha=self.job.eval_text_sha,
                cpu_share=evaluation.get("cpu_share"), load_average=evaluation.get("load_average"),
                divergence=evaluation.get("divergence") or {},
                generations_skipped=evaluation.get("generations_skipped"), pending=pending, filled_by=self.job_id)
            s.add(result)
            s.flush()
            s.add_all(_generations(result.id, evaluation["generations"]))
            s.commit()
            return result.id


# What a stored row may still wait for (Result.pending), filled in by the job that stored it (Result.filled_by).
PENDING_CHECKPOINT = "vs_checkpoint"
PENDING_GENERATIONS = "generations"


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
