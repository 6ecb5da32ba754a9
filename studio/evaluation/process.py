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
    """Perplexity, speed and generations of one model and, when the request names a base artifact,
    its divergence from that base, all in one pass over the chunks. Prefill speed comes from the
    chunks' forward passes, decode speed from the generations. Peak RSS is the process's before the
    base is opened: the model's own, with one chunk's logits and the generation context."""
    tokens = np.load(request["tokens_path"])
    protocol = Protocol(request["n_ctx"], request.get("max_chunks"))
    if request.get("backend") == "cross":
        return {"divergence": _cross_divergence(request, tokens, protocol)}
    run = _evaluate_torch if request.get("backend") == "torch" else _evaluate_llama
    peak = PeakRSS()
    t0 = time.perf_counter()
    scores, load_seconds, decoding = run(request, tokens, protocol, peak.take)
    print(f"{PROGRESS_PREFIX}1.0", flush=True)
    return {
        "ppl": float(np.exp(scores.nll.mean())),
        "nll_sum": float(scores.nll.sum()),
        "n_tokens_scored": int(scores.nll.size),
        "n_chunks": int(scores.nll.size // protocol.scored_per_chunk),
        "eval_seconds": time.perf_counter() - t0,
        "load_seconds": load_seconds,
        "peak_rss_bytes": peak.bytes,
        "peak_vram_bytes": peak.vram_bytes,
        "prefill_tok_s": scores.prefill_tok_s(protocol.n_ctx),
        "forward_seconds": float(sum(scores.forward_seconds)),  # of eval_seconds: the model's forward passes
        "divergence": scores.divergence,
        **decoding,
    }


class PeakRSS:
    """The process's peak memory, taken once (before a base model adds its own) or else at the end."""

    def __init__(self):
        self._taken: tuple[int, int | None] | None = None

    def take(self) -> None:
        self._taken = self._taken or (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, _peak_vram())

    @property
    def bytes(self) -> int:
        self.take()
        return self._taken[0]

    @property
    def vram_bytes(self) -> int | None:
        self.take()
        return self._taken[1]


def _evaluate_llama(request: dict, tokens: np.ndarray, protocol: Protocol, before_base):
    from studio.evaluation import llama_backend as backend
    artifact = Path(request["artifact"])
    base = Path(request["base_artifact"]) if request.get("base_artifact") else None
    decoding = backend.generations(artifact, request["prompts"], request["max_new_tokens"])
    scores, load_seconds = backend.perplexity_nll(artifact, tokens, request.get("bos"), protocol, _progress(1.0),
                                                  base=base, before_base=before_base)
    return scores, load_seconds, decoding


def _evaluate_torch(request: dict, tokens: np.ndarray, protocol: Protocol, before_base):
    from studio.evaluation import torch_backend as backend
    from studio.recipes.hf import compute_device, load_checkpoint
    device = compute_device()
    t0 = time.perf_counter()
    model = _load_torch(request["recipe"], Path(request["artifact"]), device)
    load_seconds = time.perf_counter() - t0
    decoding = backend.generations(model, Path(request["tokenizer"]), request["prompts"], request["max_new_tokens"])

    def open_base():
        before_base()
        return load_checkpoint(Path(request["base_artifact"]), device=device)

    scores = backend.perplexity_nll(model, tokens, request.get("bos"), protocol, _progress(1.0),
                                    open_base if request.get("base_artifact") else None)
    return scores, load_seconds, decoding


def _cross_divergence(request: dict, tokens: np.ndarray, protocol: Protocol) -> dict:
    """A GGUF file (llama.cpp) against the HF checkpoint (torch), in lockstep on the same token ids:
    the divergence of a GGUF result from the model the user started from."""
    from studio.evaluation import llama_backend, torch_backend
    from studio.evaluation.protocol import score_chunks
    from studio.recipes.hf import load_checkpoint
    llm = llama_backend.open_for_logits(Path(request["artifact"]), protocol.n_ctx)

    def open_base():
        base = load_checkpoint(Path(request["base_artifact"]), device="cpu")
        return lambda chunk: torch_backend.chunk_logits(base, chunk, protocol)

    return score_chunks(protocol, tokens, request.get("bos"),
                        lambda chunk: llama_backend.chunk_logits(llm, chunk, protocol), _progress(1.0),
                        open_base).divergence


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
