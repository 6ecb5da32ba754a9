"""What every benchmark starts from, prepared once per invocation: a fresh studio workspace, the real
model (SmolLM2-135M), the shared WikiText-2 text, and one warm-up job that leaves the F16 GGUF, the
token ids and the base row cached, as they are for any job after a model's first."""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.measure import run_measured
from studio.config import REPO_ROOT

SHARED_TEXT = REPO_ROOT.parent / "shared" / "data" / "wikitext-2-raw-test.txt"
ONE_PROMPT = "What is the capital of France, and what is it known for?"
STAGE_PREFIX = "== stage: "  # how jobs.runner marks a stage in the job log


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does: full for `make bench`, small for --quick."""
    repetitions: int
    ppl_chunks: int        # GGUF perplexity: chunks of 512 tokens
    job_chunks: int        # end-to-end jobs
    hf_chunks: int         # HF perplexity + KLD (torch on CPU is slow)
    max_new_tokens: int    # generations in the end-to-end jobs
    scaling_tokens: tuple[int, ...]
    ui_requests: int       # per window (idle or busy)

    @classmethod
    def pick(cls, quick: bool) -> "Sizes":
        if quick:
            return cls(2, 2, 2, 2, 4, (1024, 2048, 4096, 8192), 5)
        return cls(5, 8, 2, 2, 16, (8192, 16384, 32768, 65536), 15)


@dataclass(frozen=True)
class Workspace:
    """A studio workspace of the bench's own, and the environment studio processes run with."""
    root: Path
    model: Path
    text: Path
    env: dict

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "studio", *args]

    def quantize_job(self, recipe: str, max_chunks: int, max_new_tokens: int) -> tuple[float, dict]:
        """`python -m studio quantize … --wait --json`: its wall seconds and its result row."""
        run = run_measured(self.cli("quantize", "--model", str(self.model), "--recipe", recipe,
                                    "--eval-text", str(self.text), "--max-chunks", str(max_chunks),
                                    "--prompt", ONE_PROMPT, "--max-new-tokens", str(max_new_tokens),
                                    "--wait", "--json"), env=self.env, cwd=str(REPO_ROOT))
        rows = json.loads(run.stdout[run.stdout.index("\n[") + 1:])  # progress lines come first
        if rows[0].get("status") != "done":
            raise RuntimeError(f"studio job {recipe} failed: {rows[0]}")
        return run.seconds, rows[0]

    def stage_seconds(self, job_id: int) -> dict[str, float]:
        """Seconds per stage of a finished job, from its log's stage lines (stored by the supervisor
        in batches, so each boundary is late by up to half a second); "runner start" is the time from
        the claim to the first stage."""
        from sqlmodel import select

        from studio.storage import Job, JobLog, session
        with session(f"sqlite:///{self.root / 'studio.db'}") as s:
            job = s.get(Job, job_id)
            marks = [(log.at, log.line.removeprefix(STAGE_PREFIX)) for log in s.exec(
                select(JobLog).where(JobLog.job_id == job_id, JobLog.line.startswith(STAGE_PREFIX))
                .order_by(JobLog.id)).all()]
            started, finished = job.started_at, job.finished_at
        bounds = [(started, "runner start"), *marks, (finished, None)]
        seconds: dict[str, float] = {}
        for (at, stage), (next_at, _) in zip(bounds, bounds[1:]):
            seconds[stage] = seconds.get(stage, 0.0) + (next_at - at).total_seconds()
        return seconds

    def model_cache(self) -> Path:
        return next((self.root / "cache").iterdir())

    def base_gguf(self) -> Path:
        return self.model_cache() / "base-f16.gguf"

    def tokens(self, family: str) -> tuple[Path, int | None]:
        """The cached token ids of the shared text (llama.cpp's for GGUF, the checkpoint's for HF)."""
        stem = "tokens-" if family == "gguf" else f"tokens-{family}-"
        ids = next(p for p in self.model_cache().glob(f"{stem}*.npy")
                   if family != "gguf" or not p.name.startswith("tokens-hf-"))
        return ids, json.loads(ids.with_suffix(".json").read_text())["bos"]


def smollm2_checkpoint(cache_dir: Path) -> Path:
    from tests.models import build_smollm2_checkpoint
    return build_smollm2_checkpoint(cache_dir / "test-models")


def make_workspace(cache_dir: Path) -> Workspace:
    model = smollm2_checkpoint(cache_dir)
    root = Path(tempfile.mkdtemp(prefix="workspace-", dir=_bench_dir(cache_dir)))
    env = dict(os.environ, STUDIO_WORKSPACE=str(root), STUDIO_CACHE=str(cache_dir),
               STUDIO_MODEL_DIRS=str(model.parent), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT))
    for name in ("STUDIO_DB_URL", "STUDIO_QUEUE_URL", "STUDIO_THREADS"):
        env.pop(name, None)  # the bench's own embedded queue and database; all cores
    return Workspace(root, model, SHARED_TEXT, env)


def remove_workspace(ws: Workspace) -> None:
    shutil.rmtree(ws.root, ignore_errors=True)


def _bench_dir(cache_dir: Path) -> Path:
    path = cache_dir / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path
