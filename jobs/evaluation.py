"""One evaluation in a fresh process: `python -m jobs.evaluation REQUEST.json RESULT.json`.

A fresh process makes "peak RAM while loaded" mean exactly that: its own peak RSS, not the
quantizer's leftovers. Progress goes to stdout as `@progress <fraction>` lines the runner relays.
The request names the artifact's format family (which evaluates it) and, for a recipe's artifact, the
recipe (whose loader opens it). With `base_family` different from `family` it measures only the
divergence of the artifact from a base of the other family, on the same token ids (a GGUF file against
the HF checkpoint). With `perplexity` false it measures the load, generations and decode speed alone: the base
row's scores come from a lockstep pass, whose result carries them as `base_scores`. A long pass prints the scores of
its first chunks as one `@first-look <json>` line (the same fields), so the row can be shown while the rest run.
"""
from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path

import numpy as np

from studio import families, recipes
from studio.evaluation import base_cache
from studio.evaluation.protocol import PassHooks, Protocol, Scores, score_chunks
from studio.families.base import Family, Loader

PROGRESS_PREFIX = "@progress "
FIRST_LOOK_PREFIX = "@first-look "


def _progress(f: float) -> None:
    print(f"{PROGRESS_PREFIX}{f:.4f}", flush=True)


def evaluate(request: dict) -> dict:
    """Perplexity, speed and generations of one model and, when the request names a base artifact,
    its divergence from that base, all in one pass over the chunks. Prefill speed comes from the
    chunks' forward passes, decode speed from the generations. Peak RSS is the process's before the
    base is opened: the model's own, with one chunk's logits and the generation context."""
    tokens = np.load(request["tokens_path"])
    protocol = Protocol(request["n_ctx"], request.get("max_chunks"))
    family = families.get(request["family"])
    load = recipes.get(request["recipe"]).loader() if request.get("recipe") else None
    artifact = Path(request["artifact"])
    base = Path(request["base_artifact"]) if request.get("base_artifact") else None
    if request.get("base_family", family.name) != family.name:
        return {"divergence": _cross_divergence(family, artifact, load, families.get(request["base_family"]), base,
                                                request.get("bos"), tokens, protocol)}
    peak = PeakRSS()
    scored = request.get("perplexity", True)
    threads = family.compute_threads()
    kept = request.get("base_logits") or {}
    recorder = base_cache.Recorder(Path(kept["keep"]), Path(kept["partial"]), kept["base_key"],
                                   protocol.n_chunks(len(tokens)), kept["budget"]) if "keep" in kept else None
    base_ran = "read" not in kept  # kept logits give the base's scores, not its speed

    def first_look(scores: Scores) -> None:
        print(FIRST_LOOK_PREFIX + json.dumps(_scored(scores, protocol, threads, base_ran)), flush=True)

    hooks = PassHooks(_progress, peak.take, first_look, _base_source(kept, recorder))
    done = family.evaluate(artifact, base, load, request, tokens, protocol if scored else None, hooks)
    if recorder is not None:
        recorder.finish()
    _progress(1.0)
    measured = {"load_seconds": done.load_seconds, "peak_rss_bytes": peak.bytes, "peak_vram_bytes": peak.vram_bytes,
                **done.decoding}
    if not scored:  # a base whose scores came with a lockstep pass ("base_scores")
        return measured
    return {**_scored(done.scores, protocol, threads, base_ran), **measured}


def _base_source(kept: dict, recorder: base_cache.Recorder | None):
    """The base's logits: read from an earlier pass's (`read`), or from the base, kept for later passes (`keep`)."""
    if "read" in kept:
        return lambda open_base: base_cache.reader(Path(kept["read"]))
    if recorder is not None:
        return lambda open_base: recorder.wrap(open_base())
    return PassHooks.base_source


def _scored(scores: Scores, protocol: Protocol, threads: int, base_ran: bool) -> dict:
    """A pass's figures (so far): the model's, its divergence from the base, and the base's own when the base ran
    (its row needs them: logits read from disk say nothing of its speed)."""
    if scores.base is None:
        return {**_score_fields(scores, protocol, threads), "divergence": scores.divergence}
    base = _score_fields(scores.base, protocol, threads)
    return {**_score_fields(scores, protocol, threads), "divergence": {**scores.divergence, "base_ppl": base["ppl"]},
            **({"base_scores": base} if base_ran else {})}


def _score_fields(scores: Scores, protocol: Protocol, threads: int) -> dict:
    return {
        "cpu_share": scores.cpu_share(threads),
        "load_average": os.getloadavg()[0],
        "ppl": float(np.exp(scores.nll.mean())),
        "nll_sum": float(scores.nll.sum()),
        "n_tokens_scored": int(scores.nll.size),
        "n_chunks": int(scores.nll.size // protocol.scored_per_chunk),
        "prefill_tok_s": scores.prefill_tok_s(protocol.n_ctx),
        "forward_seconds": float(sum(scores.forward_seconds)),  # this model's forward passes, not its base's
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


def _cross_divergence(family: Family, artifact: Path, load: Loader | None, base_family: Family, base: Path,
                      bos: int | None, tokens: np.ndarray, protocol: Protocol) -> dict:
    """The artifact (its family's backend) against a base of another family (that family's backend), in
    lockstep on the same token ids: the divergence of a GGUF result from the checkpoint the user started from."""
    logits = family.open_logits(artifact, protocol, load)
    return score_chunks(protocol, tokens, bos, logits, _progress,
                        lambda: base_family.open_logits(base, protocol)).divergence


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
