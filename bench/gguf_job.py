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

from bench.fixtures import ONE_PROMPT, stage_seconds
from bench.measure import Figure, Pairs, alternate, median, run_measured

BARE_SCRIPT = Path(__file__).with_name("bare_gguf_job.py")


def bare_command(ws, sizes) -> list[str]:
    (tokens, bos), (hf_tokens, hf_bos) = ws.tokens("gguf"), ws.tokens("hf")
    cmd = [sys.executable, str(BARE_SCRIPT), "--f16", str(ws.base_gguf()), "--out", str(ws.root / "bare-Q4_K_M.gguf"),
           "--tokens", str(tokens), "--hf-tokens", str(hf_tokens), "--checkpoint", str(ws.model),
           "--chunks", str(sizes.job_chunks), "--prompt", ONE_PROMPT, "--max-new-tokens", str(sizes.max_new_tokens)]
    return (cmd + (["--bos", str(bos)] if bos is not None else [])
            + (["--hf-bos", str(hf_bos)] if hf_bos is not None else []))


def benchmark(ws, sizes, log) -> list[Figure]:
    bare_cmd = bare_command(ws, sizes)
    studio_quant, bare_quant, studio_ppl, bare_ppl, studio_stages, bare_stages = [], [], [], [], [], []

    def studio() -> float:
        run, row = ws.quantize_job("gguf:Q4_K_M", sizes.job_chunks, sizes.max_new_tokens)
        studio_quant.append(row["quant_seconds"])
        studio_ppl.append(row["ppl"])
        studio_stages.append(stage_seconds(run))
        return run.seconds

    def bare() -> float:
        run = run_measured(bare_cmd, env=ws.env)
        result = json.loads(run.stdout.strip().splitlines()[-1])
        bare_quant.append(result["quantize_s"])
        bare_ppl.append(result["ppl"])
        bare_stages.append({"script start, imports": run.seconds - sum(result["seconds"].values()),
                            **result["seconds"]})
        return run.seconds

    jobs = alternate(studio, bare, sizes.repetitions, log, "gguf job")
    quant = Pairs(studio_quant, bare_quant)
    fixed = median([a - b for a, b in zip(jobs.a, jobs.b)])
    workload = (f"SmolLM2-135M → Q4_K_M from the cached F16, {sizes.job_chunks} chunks of 512, "
                f"1 prompt × {sizes.max_new_tokens} tokens")
    return [
        quant.figure("GGUF quantize", "studio quantize stage", "bare llama_model_quantize", "≤ 1.05×", 1.05,
                     note=workload),
        jobs.figure("end-to-end job overhead", "python -m studio quantize … --wait", "bare script, same library calls",
                    "≤ 1.10× wall; report the fixed cost", 1.10,
                    note=(f"{workload}. Fixed cost of the studio: {fixed:.1f} s per job (median of per-repetition "
                          f"differences). Median seconds per stage, studio: {_stage_line(studio_stages)}; bare: "
                          f"{_stage_line(bare_stages)}. PPL studio {studio_ppl[0]:.4f}, bare {bare_ppl[0]:.4f}."),
                    details={"fixed_cost_s": fixed, "studio_stage_s": studio_stages, "bare_stage_s": bare_stages,
                             "studio_ppl": studio_ppl, "bare_ppl": bare_ppl}),
    ]


def _stage_line(runs: list[dict[str, float]]) -> str:
    return ", ".join(f"{stage} {median([r.get(stage, 0.0) for r in runs]):.1f}" for stage in runs[0])
