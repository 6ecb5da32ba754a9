"""One evaluation in a fresh process: `python -m studio.evaluation.process REQUEST.json RESULT.json`.

A fresh process makes "peak RAM while loaded" mean exactly that: its own peak RSS, not the
quantizer's leftovers. Progress goes to stdout as `@progress <fraction>` lines the runner relays.
The request names the backend: llama.cpp for GGUF files, torch for Hugging Face folders.
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


def _progress(share: float):
    return lambda f: print(f"{PROGRESS_PREFIX}{share * f:.4f}", flush=True)


def evaluate(request: dict) -> dict:
    """Perplexity, speed and generations of one model alone; or, when the request names a base
    artifact, only the divergence against that base (a second pass, so that the first pass's peak
    RSS is the model's own, not the model's plus its base's)."""
    tokens = np.load(request["tokens_path"])
    protocol = Protocol(request["n_ctx"], request.get("max_chunks"))
    if request.get("backend") == "cross":
        return {"divergence": _cross_divergence(request, tokens, protocol)}
    run = _evaluate_torch if request.get("backend") == "torch" else _evaluate_llama
    t0 = time.perf_counter()
    nll, load_seconds, divergence, speed = run(request, tokens, protocol)
    if request.get("base_artifact"):
        return {"divergence": divergence, "ppl": float(np.exp(nll.mean()))}
    print(f"{PROGRESS_PREFIX}1.0", flush=True)
    return {
        "ppl": float(np.exp(nll.mean())),
        "nll_sum": float(nll.sum()),
        "n_tokens_scored": int(nll.size),
        "n_chunks": int(nll.size // protocol.scored_per_chunk),
        "eval_seconds": time.perf_counter() - t0,
        "load_seconds": load_seconds,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_vram_bytes": _peak_vram(),
        **speed,
    }


def _evaluate_llama(request: dict, tokens: np.ndarray, protocol: Protocol):
    from studio.evaluation import llama_backend as backend
    artifact = Path(request["artifact"])
    base = Path(request["base_artifact"]) if request.get("base_artifact") else None
    nll, load_seconds, divergence = backend.perplexity_nll(
        artifact, tokens, request.get("bos"), protocol, _progress(1.0 if base else 0.8), base=base)
    if base:
        return nll, load_seconds, divergence, {}
    return nll, load_seconds, None, backend.speed_and_generations(artifact, tokens, request["prompts"],
                                                                   request["max_new_tokens"])


def _evaluate_torch(request: dict, tokens: np.ndarray, protocol: Protocol):
    from studio.evaluation import torch_backend as backend
    from studio.recipes.hf import compute_device, load_checkpoint
    device = compute_device()
    t0 = time.perf_counter()
    model = _load_torch(request["recipe"], Path(request["artifact"]), device)
    load_seconds = time.perf_counter() - t0
    base = load_checkpoint(Path(request["base_artifact"]), device=device) if request.get("base_artifact") else None
    nll, divergence = backend.perplexity_nll(model, tokens, request.get("bos"), protocol,
                                             _progress(1.0 if base is not None else 0.8), base=base)
    if base is not None:
        return nll, load_seconds, divergence, {}
    return nll, load_seconds, None, backend.speed_and_generations(
        model, Path(request["tokenizer"]), tokens, request["prompts"], request["max_new_tokens"])


def _cross_divergence(request: dict, tokens: np.ndarray, protocol: Protocol) -> dict:
    """A GGUF file (llama.cpp) against the HF checkpoint (torch), in lockstep on the same token ids:
    the divergence of a GGUF result from the model the user started from."""
    from studio.evaluation import llama_backend, torch_backend
    from studio.evaluation.protocol import score_chunks
    from studio.recipes.hf import load_checkpoint
    llm = llama_backend.open_for_logits(Path(request["artifact"]), protocol.n_ctx)
    base = load_checkpoint(Path(request["base_artifact"]), device="cpu")
    _, stats = score_chunks(protocol, tokens, request.get("bos"),
                            lambda chunk: llama_backend.chunk_logits(llm, chunk, protocol), _progress(1.0),
                            lambda chunk: torch_backend.chunk_logits(base, chunk))
    return stats


def _load_torch(recipe_name: str | None, artifact: Path, device: str):
    """The base checkpoint (no recipe) or a recipe's artifact, through the recipe's own loader."""
    from studio import recipes
    from studio.recipes.hf import load_checkpoint
    if recipe_name is None:
        return load_checkpoint(artifact, device=device)
    return recipes.get(recipe_name).load(artifact, device)


def _peak_vram() -> int | None:
    if "torch" not in sys.modules:
        return None
    import torch
    return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None


def main() -> None:
    request = json.loads(Path(sys.argv[1]).read_text())
    result = evaluate(request)
    out = Path(sys.argv[2])
    tmp = out.with_suffix(".partial")
    tmp.write_text(json.dumps(result))
    tmp.replace(out)


if __name__ == "__main__":
    main()
