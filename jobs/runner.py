"""`python -m jobs.runner JOB_ID`: walk one job's stages in this process.

preflight -> (convert) -> quantize -> evaluate -> evaluate base (cached) -> store.
Progress and stage go straight to the job row; log lines go to stdout, which the supervising task
appends to the job log. Everything is written under the job's temp folder; the artifact is renamed
into the outputs folder only once the result is stored.
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

from jobs.process import die_with_parent, disk_full_note, exit_reason, spawn
from studio import recipes
from studio.config import REPO_ROOT, Settings
from studio.evaluation.process import PROGRESS_PREFIX
from studio.evaluation.texts import TextError, load_text, text_sha
from studio.evaluation.tokens import ensure_tokens
from studio.evaluation.vocab import vocabulary_mismatch
from studio.gguf_census import gguf_census
from studio.llamacpp import file_lock, llama_cpp_version
from studio.models import ModelError, read_model_facts
from studio.outputs import artifact_path
from studio.preflight import recheck_job
from studio.recipes.base import StageContext
from studio.recipes.hf import hf_census
from studio.storage import Generation, Job, JobState, Result, reading, session
from studio.storage.tables import utcnow


class Cancelled(BaseException):
    """Raised by SIGTERM or a cancel flag; a BaseException so no `except Exception` swallows it."""


class JobRunner:
    def __init__(self, settings: Settings, job_id: int):
        self.settings = settings
        self.job_id = job_id
        with session(settings.db_url) as s:
            self.job = s.get(Job, job_id)
        self.stage_started = time.monotonic()
        self.last_write = 0.0

    # -- reporting ---------------------------------------------------------------------------
    def log(self, line: str) -> None:
        print(line, flush=True)

    def enter(self, stage: str) -> None:
        self.check_cancel()
        self.log(f"== stage: {stage}")
        self.stage_started = time.monotonic()
        self._update(stage=stage, progress=0.0, eta_seconds=None)

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
        with session(self.settings.db_url) as s:
            job = s.get(Job, self.job_id)
            for k, v in fields.items():
                setattr(job, k, v)
            s.add(job)
            s.commit()

    def check_cancel(self) -> None:
        with reading(self.settings.db_url) as s:
            if s.get(Job, self.job_id).cancel_requested:
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
        self.enter("preflight")
        model = read_model_facts(Path(job.model), settings)
        if model.key != job.model_key:
            raise ModelError("the checkpoint changed on disk since the job was queued; submit it again")
        # The label may carry extras ("gguf:Q2_K+imatrix"): the stored options are the truth.
        recipe = recipes.get(job.recipe.split(":")[0])
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

        for module in recipe.runtime_modules(options):  # torch alone takes seconds to import
            importlib.import_module(module)
        t0 = time.perf_counter()
        artifact = recipe.quantize(ctx)
        quant_seconds = time.perf_counter() - t0

        self.enter("evaluate")
        if text_sha(Path(job.eval_text_path)) != job.eval_text_sha:
            raise TextError("the evaluation text changed on disk since the job was queued; submit it again")
        base_artifact = recipe.base_artifact(ctx)
        tokenizer_source = base_artifact if recipe.family == "gguf" else model.path
        tokens_path, bos = ensure_tokens(model_cache, recipe.family, tokenizer_source,
                                         load_text(Path(job.eval_text_path)), job.eval_text_sha)
        # perplexity, divergence from the base (in lockstep), speed and generations: one process
        evaluation = self.evaluate(artifact, tokens_path, bos, tmp / "eval.json", base=base_artifact,
                                   recipe_name=recipe.name)
        if options.get("checkpoint_kld"):
            evaluation["divergence"]["vs_checkpoint"] = self.checkpoint_divergence(artifact, tmp / "cross.json")
        base_key = self.base_key(recipe.family, model.key)
        self.ensure_base_row(recipe, model, base_artifact, base_key, tokens_path, bos, tmp)

        self.enter("store")
        self.store(recipe, model, artifact, evaluation, base_key, quant_seconds)

    def evaluate(self, artifact: Path, tokens_path: Path, bos: int | None, out: Path,
                 base: Path | None = None, recipe_name: str | None = None, backend: str | None = None) -> dict:
        """Evaluate in a fresh process; recipe_name None means the unquantized base itself."""
        job = self.job
        request = {"artifact": str(artifact), "base_artifact": str(base) if base else None,
                   "backend": backend or ("llama" if self.recipe.family == "gguf" else "torch"),
                   "recipe": recipe_name, "tokenizer": str(self.model.path),
                   "tokens_path": str(tokens_path), "bos": bos,
                   "n_ctx": job.n_ctx, "max_chunks": job.max_chunks, "prompts": job.prompts,
                   "max_new_tokens": job.max_new_tokens}
        req_path = out.with_suffix(".request.json")
        req_path.write_text(json.dumps(request))
        self.run_logged([sys.executable, "-m", "studio.evaluation.process", str(req_path), str(out)])
        return json.loads(out.read_text())

    def checkpoint_divergence(self, gguf: Path, out: Path) -> dict:
        """KLD of a GGUF file against the HF checkpoint it came from (llama.cpp vs torch, on the
        checkpoint's token ids): the number that compares GGUF rows with HF-format rows."""
        self.enter("divergence vs checkpoint")
        reason = vocabulary_mismatch(gguf, self.model.path, self.settings.model_cache_dir / self.model.key)
        if reason:
            self.log(f"not compared with the checkpoint: {reason}")
            return {"refused": reason}
        job = self.job
        tokens_path, bos = ensure_tokens(self.settings.model_cache_dir / self.model.key, "hf", self.model.path,
                                         load_text(Path(job.eval_text_path)), job.eval_text_sha)
        return self.evaluate(gguf, tokens_path, bos, out, base=self.model.path, backend="cross")["divergence"]

    def base_key(self, family: str, model_key: str) -> str:
        job = self.job
        # The backend's version is part of the key: a new llama.cpp or torch gets a new base row.
        return (f"{family}:{model_key}:{job.eval_text_sha}:ctx{job.n_ctx}:chunks{job.max_chunks or 'all'}"
                f":{backend_version(family)}")

    def ensure_base_row(self, recipe, model, base_artifact: Path, base_key: str, tokens_path: Path,
                        bos: int | None, tmp: Path) -> None:
        """The unquantized base, evaluated once per (model, text, protocol) and shared by all rows."""
        with file_lock(self.settings.model_cache_dir / model.key / "base-eval.lock"):
            with reading(self.settings.db_url) as s:
                if s.exec(select(Result).where(Result.base_key == base_key, Result.is_base)).first():
                    return
            self.enter("evaluate base")
            evaluation = self.evaluate(base_artifact, tokens_path, bos, tmp / "base-eval.json")
            if self.options.get("checkpoint_kld"):
                evaluation["divergence"] = {"vs_checkpoint": self.checkpoint_divergence(base_artifact,
                                                                                        tmp / "base-cross.json")}
            label = "gguf:base (F16)" if recipe.family == "gguf" else f"{recipe.family}:base (checkpoint)"
            try:
                self._insert_result(recipe, model, base_artifact, evaluation, base_key, is_base=True, label=label)
            except IntegrityError:  # a worker on another machine (another workspace, another lock) stored it first
                self.log(f"base row {base_key} was stored meanwhile by another worker")

    def store(self, recipe, model, artifact: Path, evaluation: dict, base_key: str, quant_seconds: float) -> None:
        final = artifact_path(self.settings, model.slug, self.job_id, artifact.name)
        final.parent.mkdir(parents=True, exist_ok=True)
        self.check_cancel()
        # From here the job either finishes whole or leaves nothing: a cancel's SIGTERM waits, and a kill
        # between the move and the commit leaves an entry no row owns, which the supervisor sweeps.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        artifact.replace(final)
        try:
            self._insert_result(recipe, model, final, evaluation, base_key, is_base=False,
                                label=self.job.recipe, quant_seconds=quant_seconds, finish_job=True)
        except BaseException:
            if final.is_dir():
                shutil.rmtree(final, ignore_errors=True)
            else:
                final.unlink(missing_ok=True)
            raise

    def _insert_result(self, recipe, model, artifact: Path, evaluation: dict, base_key: str, *, is_base: bool,
                       label: str, quant_seconds: float | None = None, finish_job: bool = False) -> None:
        census = gguf_census(artifact) if artifact.is_file() else hf_census(artifact, model)
        with session(self.settings.db_url) as s:
            result = Result(
                job_id=None if is_base else self.job_id, model=str(model.path), model_key=model.key,
                recipe=label, family=recipe.family, is_base=is_base, base_key=base_key,
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
                divergence=evaluation.get("divergence") or {})
            s.add(result)
            s.flush()
            s.add_all([Generation(result_id=result.id, prompt_index=i, prompt=g["prompt"], text=g["text"],
                                  n_tokens=g["n_tokens"]) for i, g in enumerate(evaluation["generations"])])
            if finish_job:
                job = s.get(Job, self.job_id)
                job.state, job.stage, job.progress, job.finished_at = JobState.DONE, "done", 1.0, utcnow()
                s.add(job)
            s.commit()


def _program(cmd: list[str]) -> str:
    """What a failed command was, for its error: the module of `python -m MODULE`, else the script or tool."""
    if len(cmd) > 2 and cmd[1] == "-m":
        return cmd[2]
    return Path(cmd[1] if len(cmd) > 1 and cmd[1].endswith(".py") else cmd[0]).name


def backend_version(family: str) -> str:
    if family == "gguf":
        return f"llama.cpp-{llama_cpp_version()}"
    from importlib.metadata import version
    return f"transformers-{version('transformers')}+torch-{version('torch')}"


def _record_error(settings: Settings, job_id: int, message: str) -> None:
    with session(settings.db_url) as s:
        job = s.get(Job, job_id)
        job.error = message
        s.add(job)
        s.commit()


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
        message = f"{runner_stage(settings, job_id)}: {exc}"
        _record_error(settings, job_id, f"{disk_full}: {message}" if disk_full else message)
        return 1


def runner_stage(settings: Settings, job_id: int) -> str:
    with session(settings.db_url) as s:
        return s.get(Job, job_id).stage


if __name__ == "__main__":
    sys.exit(main())
