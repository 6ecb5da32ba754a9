"""A GGUF job against the bare library calls it makes (bench/bare_gguf_job.py), both starting from
the cached F16 GGUF, cached token ids and the stored base row:

- end-to-end: `python -m studio quantize --recipe gguf:Q4_K_M … --wait` (CLI, queue, runner, two
  evaluation processes, database) against the bare script's wall time. Goal ≤ 1.10×; the fixed cost
  in seconds is what a user pays per job whatever the model size.
- quantize: the job's own quantize stage (`quant_seconds`, timed by the runner around
  recipe.quantize) against the bare `llama_model_quantize` call, timed in the script. Goal ≤ 1.05×.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.fixtures import ONE_PROMPT
from bench.measure import Figure, Pairs, alternate, median, run_measured, value_range

BARE_SCRIPT = Path(__file__).with_name("bare_gguf_job.py")


def benchmark(ws, sizes, log) -> list[Figure]:
    tokens, bos = ws.tokens("gguf")
    f16 = ws.base_gguf()
    bare_cmd = [sys.executable, str(BARE_SCRIPT), str(f16), str(ws.root / "bare-Q4_K_M.gguf"), str(tokens),
                "none" if bos is None else str(bos), str(sizes.job_chunks), ONE_PROMPT, str(sizes.max_new_tokens)]
    studio_quant, bare_quant, studio_ppl, bare_ppl = [], [], [], []

    def studio() -> float:
        seconds, row = ws.quantize_job("gguf:Q4_K_M", sizes.job_chunks, sizes.max_new_tokens)
        studio_quant.append(row["quant_seconds"])
        studio_ppl.append(row["ppl"])
        return seconds

    def bare() -> float:
        run = run_measured(bare_cmd, env=ws.env)
        result = json.loads(run.stdout.strip().splitlines()[-1])
        bare_quant.append(result["quantize_s"])
        bare_ppl.append(result["ppl"])
        return run.seconds

    jobs = alternate(studio, bare, sizes.repetitions, log, "gguf job")
    quant = Pairs(studio_quant, bare_quant)
    fixed = median([a - b for a, b in zip(jobs.a, jobs.b)])
    workload = f"SmolLM2-135M → Q4_K_M from the cached F16, {sizes.job_chunks} chunks of 512, 1 prompt × {sizes.max_new_tokens} tokens"
    return [
        Figure(name="GGUF quantize",
               a=f"studio quantize stage: {median(quant.a):.2f} s (range {value_range(quant.a)})",
               b=f"bare llama_model_quantize: {median(quant.b):.2f} s (range {value_range(quant.b)})",
               ratio=quant.ratio, goal="≤ 1.05×", met=quant.ratio <= 1.05, spread=quant.spread(),
               note=workload, details={"a_seconds": quant.a, "b_seconds": quant.b}),
        Figure(name="end-to-end job overhead",
               a=f"python -m studio quantize … --wait: {median(jobs.a):.2f} s (range {value_range(jobs.a)})",
               b=f"bare script, same library calls: {median(jobs.b):.2f} s (range {value_range(jobs.b)})",
               ratio=jobs.ratio, goal="≤ 1.10× wall; report the fixed cost", met=jobs.ratio <= 1.10,
               spread=jobs.spread(),
               note=(f"{workload}. Fixed cost of the studio: {fixed:.1f} s per job (median of per-repetition "
                     f"differences). PPL studio {studio_ppl[0]:.4f}, bare {bare_ppl[0]:.4f}."),
               details={"a_seconds": jobs.a, "b_seconds": jobs.b, "fixed_cost_s": fixed,
                        "studio_ppl": studio_ppl, "bare_ppl": bare_ppl}),
    ]
