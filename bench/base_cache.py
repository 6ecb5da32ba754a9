"""The base's logits kept on disk (studio.evaluation.base_cache) against the lockstep pass that runs the base beside
each candidate: the evaluate stage of the same job on SmolLM2-135M, in a workspace whose base row (and kept
logits) the warm-up made, with the cache on and with it off (STUDIO_BASE_CACHE_GIB=0), alternately. Goal: the
stage at most 0.6× (a candidate costs its own forward passes, not its base's too; what is left is loading and
the divergence arithmetic). The figures of both must be equal.
"""
from __future__ import annotations

import json

from bench.fixtures import ONE_PROMPT, stage_seconds
from bench.measure import Figure, alternate, run_measured
from studio.config import REPO_ROOT


def benchmark(ws, sizes, log) -> list[Figure]:
    chunks = max(sizes.job_chunks, 8)
    kld: dict[str, list[float]] = {"kept": [], "lockstep": []}

    def job(name: str, env: dict) -> float:
        run = run_measured(ws.cli("quantize", "--model", str(ws.model), "--recipe", "gguf:Q4_0", "--again",
                                  "--option", "gguf.checkpoint_kld=false", "--eval-text", str(ws.text),
                                  "--max-chunks", str(chunks), "--prompt", ONE_PROMPT, "--max-new-tokens",
                                  str(sizes.max_new_tokens), "--wait", "--json"), env=env, cwd=str(REPO_ROOT))
        row = json.loads(run.stdout[run.stdout.index("\n[") + 1:])[0]
        kld[name].append(row["kld_mean"])
        return stage_seconds(run)["evaluate"]

    job("kept", ws.env)  # the first job on this protocol runs its base and keeps its logits
    kld["kept"].clear()
    pairs = alternate(lambda: job("kept", ws.env), lambda: job("lockstep", {**ws.env, "STUDIO_BASE_CACHE_GIB": "0"}),
                      sizes.repetitions, log, "base cache")
    same = len(set(kld["kept"] + kld["lockstep"])) == 1
    return [pairs.figure("evaluate stage with the base's logits kept", "logits read from disk",
                         "the base run in lockstep", "≤ 0.6×", 0.6,
                         note=(f"SmolLM2-135M → Q4_0, {chunks} chunks of 512 with the F16 base; mean KLD "
                               f"{'identical' if same else 'DIFFERENT'} in every run ({kld['kept'][0]:.6f})"),
                         details={"kld": kld})]
