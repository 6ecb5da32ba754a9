"""The sensitivity map of SmolLM2-135M (`python -m studio sensitivity`, its defaults: the built-in calibration
slice, one chunk of 512, 7/8 of it scored), the whole job from the CLI, against its floor measured in the same
invocation: one scoring pass of the Q8_0 file over the same chunk, times the passes the map needs (one per
tensor, the high file's and the base's). Goal: the map within 10 minutes on this machine, and within 1.5× its
floor (what is left is splicing a file per candidate, loading it, and quantizing the high and low files once
per model).

How it grows: one pass per quantized matrix (7 per layer, the embedding and the output), each a forward pass of
the whole model over the calibration chunk, so the cost is about layers × 7 × one pass of the model.
"""
from __future__ import annotations

import json

from bench.fixtures import in_child
from bench.measure import Figure, run_measured
from studio.config import REPO_ROOT

GOAL_SECONDS = 600.0
GOAL_RATIO = 1.5

ONE_PASS = """
import sys, time
from pathlib import Path
from studio.evaluation import llama_backend
from studio.evaluation.texts import load_text
from studio.recipes.calibration import calibration_path
from studio.sensitivity import map_protocol, pass_logits
high, f16 = Path(sys.argv[1]), Path(sys.argv[2])
tokens, bos = llama_backend.tokenize(f16, load_text(calibration_path("builtin")))
protocol = map_protocol(512, 1)
chunks = [protocol.chunk_input(tokens, i, bos) for i in range(protocol.n_chunks(len(tokens)))]
t0 = time.perf_counter()
pass_logits(high, chunks, protocol)
print(time.perf_counter() - t0)
"""


def benchmark(ws, sizes, log) -> list[Figure]:
    log("  sensitivity map: the job")
    run = run_measured(ws.cli("sensitivity", "--model", str(ws.model), "--wait", "--json"), env=ws.env,
                       cwd=str(REPO_ROOT))
    found = json.loads(run.stdout[run.stdout.index("{"):])
    high = ws.model_cache() / "sensitivity-Q8_0.gguf"
    log("  sensitivity map: one scoring pass of the Q8_0 file")
    passes = [float(in_child(ONE_PASS, str(high), str(ws.base_gguf()))) for _ in range(sizes.repetitions)]
    one_pass = sorted(passes)[len(passes) // 2]
    needed = len(found["tensors"]) + 2
    floor = needed * one_pass
    return [Figure("sensitivity map, SmolLM2-135M (1 chunk of 512)",
                   f"the map job from the CLI: {run.seconds:.0f} s (its measuring stage {found['seconds']:.0f} s)",
                   f"{needed} scoring passes of {one_pass:.2f} s (median of {len(passes)}): {floor:.0f} s",
                   run.seconds / floor, f"≤ {GOAL_SECONDS:.0f} s and ≤ {GOAL_RATIO}× the passes",
                   run.seconds <= GOAL_SECONDS and run.seconds / floor <= GOAL_RATIO,
                   note=f"{len(found['tensors'])} tensors; per layer 7 passes of the whole model",
                   details={"job_s": run.seconds, "measure_s": found["seconds"], "one_pass_s": passes,
                            "tensors": len(found["tensors"])})]
