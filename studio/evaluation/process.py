"""One evaluation in a fresh process: `python -m studio.evaluation.process REQUEST.json RESULT.json`.

A fresh process makes "peak RAM while loaded" mean exactly that: its own peak RSS, not the
quantizer's leftovers. Progress goes to stdout as `@progress <fraction>` lines the runner relays.
"""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from studio.evaluation.protocol import Protocol

PROGRESS_PREFIX = "@progress "


def evaluate(request: dict) -> dict:
    """Perplexity, speed and generations of one model alone; or, when the request names a base
    artifact, only the divergence against that base (a second pass, so that the first pass's peak
    RSS is the model's own, not the model's plus its base's)."""
    from studio.evaluation import llama_backend as backend

    artifact = Path(request["artifact"])
    tokens = np.load(request["tokens_path"])
    protocol = Protocol(request["n_ctx"], request.get("max_chunks"))
    base = Path(request["base_artifact"]) if request.get("base_artifact") else None
    share = 1.0 if base else 0.8
    t0 = time.perf_counter()
    nll, load_seconds, divergence = backend.perplexity_nll(
        artifact, tokens, request.get("bos"), protocol,
        lambda f: print(f"{PROGRESS_PREFIX}{share * f:.4f}", flush=True), base=base)
    if base:
        return {"divergence": divergence, "ppl": float(np.exp(nll.mean()))}
    eval_seconds = time.perf_counter() - t0
    speed = backend.speed_and_generations(artifact, tokens, request["prompts"], request["max_new_tokens"])
    print(f"{PROGRESS_PREFIX}1.0", flush=True)
    return {
        "ppl": float(np.exp(nll.mean())),
        "nll_sum": float(nll.sum()),
        "n_tokens_scored": int(nll.size),
        "n_chunks": int(nll.size // protocol.scored_per_chunk),
        "eval_seconds": eval_seconds,
        "load_seconds": load_seconds,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        **speed,
    }


def main() -> None:
    request = json.loads(Path(sys.argv[1]).read_text())
    result = evaluate(request)
    out = Path(sys.argv[2])
    tmp = out.with_suffix(".partial")
    tmp.write_text(json.dumps(result))
    tmp.replace(out)


if __name__ == "__main__":
    main()
