"""What every benchmark starts from, prepared once per invocation: a fresh studio workspace, the real
model (SmolLM2-135M), the shared WikiText-2 text, and one warm-up job that leaves the F16 GGUF, the
token ids and the base row cached, as they are for any job after a model's first."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.measure import Run, run_measured
from studio import families
from studio.config import REPO_ROOT

SHARED_TEXT = REPO_ROOT.parent / "shared" / "data" / "wikitext-2-raw-test.txt"
ONE_PROMPT = "What is the capital of France, and what is it known for?"
# The CLI's progress line while it waits: "  job #3 gguf:Q4_K_M: running / quantize 40%".
PROGRESS_LINE = re.compile(r"job #\d+ \S+: (\w+) / (.+) \d+%")


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

    def quantize_job(self, recipe: str, max_chunks: int, max_new_tokens: int) -> tuple[Run, dict]:
        """`python -m studio quantize … --wait --json`: the run (wall seconds, output) and its result row."""
        run = run_measured(self.cli("quantize", "--model", str(self.model), "--recipe", recipe,
                                    "--eval-text", str(self.text), "--max-chunks", str(max_chunks),
                                    "--prompt", ONE_PROMPT, "--max-new-tokens", str(max_new_tokens),
                                    "--wait", "--json"), env=self.env, cwd=str(REPO_ROOT))
        rows = json.loads(run.stdout[run.stdout.index("\n[") + 1:])  # progress lines come first
        if rows[0].get("status") != "done":
            raise RuntimeError(f"studio job {recipe} failed: {rows[0]}")
        return run, rows[0]

    def model_cache(self) -> Path:
        return next((self.root / "cache").iterdir())

    def base_gguf(self) -> Path:
        return self.model_cache() / "base-f16.gguf"

    def tokens(self, family: str) -> tuple[Path, int | None]:
        """The cached token ids of the shared text, as the family's backend made them (stem: tokens…-TEXT_SHA)."""
        named = families.get(family).token_stem
        ids = next(p for p in self.model_cache().glob("tokens-*.npy") if p.stem == named(p.stem.rsplit("-", 1)[-1]))
        return ids, json.loads(ids.with_suffix(".json").read_text())["bos"]


def stage_seconds(run: Run) -> dict[str, float]:
    """Seconds per stage of a `quantize --wait` run, from the progress lines the CLI prints when a
    job's state or stage changes (it polls every 0.5 s): "CLI, queue" until the job runs, "CLI exit"
    after it is done."""
    marks: list[tuple[float, str]] = [(0.0, "CLI, queue")]
    for at, line in run.lines:
        match = PROGRESS_LINE.search(line)
        stage = match and ("CLI exit" if match.group(1) == "done" else match.group(2))
        if stage and stage != marks[-1][1] and match.group(1) in ("running", "done"):
            marks.append((at, stage))
    seconds: dict[str, float] = {}
    for (at, stage), (next_at, _) in zip(marks, [*marks[1:], (run.seconds, None)]):
        seconds[stage] = seconds.get(stage, 0.0) + next_at - at
    return seconds


def in_child(code: str, *args: str) -> str:
    """Run Python code in a child process and return its last line of output. Whatever loads a model
    runs there: a child's peak RSS (wait4) starts at its parent's, so the bench process stays small."""
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=str(REPO_ROOT), check=True,
                          capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


def smollm2_checkpoint(cache_dir: Path) -> Path:
    return Path(in_child("import sys; from pathlib import Path; from tests.models import build_smollm2_checkpoint; "
                         "print(build_smollm2_checkpoint(Path(sys.argv[1])))", str(cache_dir / "test-models")))


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
