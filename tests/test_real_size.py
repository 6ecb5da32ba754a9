"""Real-size checkpoints through the studio (slow: `make test-slow`): the 8 B Llama shape quantized to
GGUF Q4_K_M on a 24 GB, 2-core machine, conversion, quantization and evaluation streaming or mapping,
the checkpoint pass streamed weight by weight."""
from __future__ import annotations

import json
import time

import pytest

from tests.conftest import make_env, run_cli
from tests.models import LLAMA_8B, build_llama_shape

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def eight_b(studio_cache, smol):
    return build_llama_shape(studio_cache / "test-models", LLAMA_8B, smol)


@pytest.mark.timeout(3 * 3600)
def test_an_8b_checkpoint_goes_through_gguf_q4_k_m(eight_b, studio_cache, eval_text, tmp_path):
    env = make_env(tmp_path / "ws", studio_cache, [eight_b.parent])
    started = time.monotonic()
    proc = run_cli(["quantize", "--model", str(eight_b), "--recipe", "gguf:Q4_K_M", "--eval-text", str(eval_text),
                    "--ctx", "512", "--max-chunks", "2", "--max-new-tokens", "8", "--wait", "--json"], env,
                   timeout=3 * 3600)
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-4000:]
    [row] = json.loads(proc.stdout)
    log = run_cli(["log", str(row["job_id"])], env).stdout
    print(f"8 B GGUF Q4_K_M: {wall:.0f} s wall; quantize {row['quant_seconds']:.0f} s; evaluation peak RSS "
          f"{row['peak_rss_bytes'] / 2**30:.2f} GiB; size {row['size_bytes'] / 2**30:.2f} GiB, {row['bpw']:.2f} bpw")
    assert row["status"] == "done" and row["n_chunks"] == 2
    assert 4.5 < row["bpw"] < 5.2
    assert "the checkpoint is streamed weight by weight" in log
    assert row["kld_vs_checkpoint"] is not None and row["kld_vs_checkpoint"] >= 0
