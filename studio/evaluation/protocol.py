"""llama-perplexity's protocol, shared by every backend so all rows score the same tokens.

The text is tokenized once; it is cut into chunks of n_ctx tokens (a partial last chunk is
dropped); each chunk is evaluated from an empty cache, with its first token replaced by BOS when
the vocabulary adds BOS; the logits at positions n_ctx/2 .. n_ctx-2 score the next token, so each
chunk scores n_ctx - 1 - n_ctx/2 tokens.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np


MAX_CTX = 16384

# The first look at a pass (the row shown while the rest runs) comes after a quarter of its chunks, and at least
# this many; a pass of fewer than twice as many chunks has none (a second store would gain a few seconds).
FIRST_LOOK_MIN_CHUNKS = 4


class ProtocolError(ValueError):
    pass


@dataclass(frozen=True)
class Protocol:
    n_ctx: int = 512
    max_chunks: int | None = None
    # the share of each chunk that is context only: llama-perplexity's half for every evaluation; a sensitivity map
    # scores more of each forward pass (studio.sensitivity.map_protocol)
    context_share: float = 0.5

    def __post_init__(self):
        if self.n_ctx < 16:
            raise ProtocolError(f"context length {self.n_ctx} is too small (minimum 16)")
        if self.n_ctx > MAX_CTX:
            raise ProtocolError(f"context length {self.n_ctx} is too large (maximum {MAX_CTX}: the logits of one "
                                "chunk are held in memory)")
        if self.max_chunks is not None and self.max_chunks < 1:
            raise ProtocolError(f"max chunks must be at least 1 (got {self.max_chunks})")

    @property
    def first_scored(self) -> int:
        return int(self.n_ctx * self.context_share)

    @property
    def scored_per_chunk(self) -> int:
        return self.n_ctx - 1 - self.first_scored

    def n_chunks(self, n_tokens: int) -> int:
        available = n_tokens // self.n_ctx
        if available < 2:  # llama-perplexity refuses fewer than 2 * n_ctx tokens
            raise ProtocolError(f"the evaluation text has {n_tokens} tokens; {2 * self.n_ctx} are needed "
                                f"for context {self.n_ctx} (use a longer text or a smaller context)")
        return available if self.max_chunks is None else min(available, self.max_chunks)

    def first_look_after(self, n_tokens: int) -> int | None:
        """After how many chunks a pass over the text shows its scores so far, or None for none."""
        n_chunks = self.n_chunks(n_tokens)
        after = max(FIRST_LOOK_MIN_CHUNKS, -(-n_chunks // 4))
        return after if 2 * after <= n_chunks else None

    def chunk_input(self, tokens: np.ndarray, index: int, bos: int | None) -> list[int]:
        chunk = [int(t) for t in tokens[index * self.n_ctx:(index + 1) * self.n_ctx]]
        if bos is not None:
            chunk[0] = bos
        return chunk

    def targets(self, tokens: np.ndarray, index: int) -> np.ndarray:
        """The tokens a chunk scores: each predicted from the logits one position earlier."""
        start = index * self.n_ctx
        return np.asarray(tokens[start + self.first_scored + 1:start + self.n_ctx])

    @property
    def scored_positions(self) -> range:
        """The positions whose logits score a token: the only ones a backend needs to compute."""
        return range(self.first_scored, self.n_ctx - 1)

    def chunk_nll(self, logits: np.ndarray, tokens: np.ndarray, index: int, block: int = 32) -> np.ndarray:
        """Negative log-likelihoods of the scored tokens of one chunk, from the logits at the scored
        positions (one row per position), with llama-perplexity's arithmetic: exponentials of
        (logit - max) in float32, their sum and its log in float64.

        Rows go a block at a time, so the extra memory is block x vocabulary, not n_ctx x vocabulary.
        """
        targets = self.targets(tokens, index)
        out = np.empty(len(targets), dtype=np.float64)
        for b in range(0, len(targets), block):
            n = min(block, len(targets) - b)
            rows = np.asarray(logits[b:b + n], dtype=np.float32)
            peak = rows.max(axis=1, keepdims=True)
            sum_exp = np.exp(rows - peak).sum(axis=1, dtype=np.float64)
            out[b:b + n] = np.log(sum_exp) - (rows[np.arange(n), targets[b:b + n]] - peak[:, 0])
        return out


def _log_softmax(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    peak = rows.max(axis=1, keepdims=True)
    return rows - (peak + np.log(np.exp(rows - peak).sum(axis=1, keepdims=True)))


def divergence(logits: np.ndarray, base_logits: np.ndarray, targets: np.ndarray, block: int = 32) -> dict:
    """Per-token statistics of a model against its base on the same positions (llama-perplexity's
    --kl-divergence definitions): KL(base || model), same top token, and Δp of the correct token."""
    n = len(targets)
    kld, same_top, dp = np.empty(n), np.empty(n, dtype=bool), np.empty(n)
    for b in range(0, n, block):
        m = min(block, n - b)
        lq, lb = _log_softmax(logits[b:b + m]), _log_softmax(base_logits[b:b + m])
        pb = np.exp(lb)
        kld[b:b + m] = (pb * (lb - lq)).sum(axis=1)
        same_top[b:b + m] = lq.argmax(axis=1) == lb.argmax(axis=1)
        idx = np.arange(m), targets[b:b + m]
        dp[b:b + m] = np.exp(lq[idx]) - pb[idx]
    return {"kld": kld, "same_top": same_top, "dp": dp}


def summarize_divergence(kld: np.ndarray, same_top: np.ndarray, dp: np.ndarray) -> dict:
    return {"kld_mean": float(kld.mean()), "kld_median": float(np.median(kld)),
            "kld_p99": float(np.percentile(kld, 99)), "kld_max": float(kld.max()),
            "same_top_pct": float(100 * same_top.mean()), "rms_dp_pct": float(100 * np.sqrt((dp ** 2).mean()))}


# What summarize_divergence gives for a model against itself (a test checks it): a base row's own figures.
IDENTICAL = {"kld_mean": 0.0, "kld_median": 0.0, "kld_p99": 0.0, "kld_max": 0.0, "same_top_pct": 100.0,
             "rms_dp_pct": 0.0}


# A chunk's logits at its scored positions (Protocol.scored_positions), from an empty cache.
Logits = Callable[[list[int]], np.ndarray]


def _opened(open_base: Callable[[], Logits]) -> Logits:
    return open_base()


@dataclass(frozen=True)
class PassHooks:
    """What a pass over the chunks reports to, and where its base's logits come from: one object from the job's
    evaluation process through the families to the backends."""
    progress: Callable[[float], None] = lambda fraction: None
    before_base: Callable[[], None] = lambda: None  # just before the base is opened: the model's own peak is taken
    first_look: Callable[[Scores], None] | None = None  # the scores of the first chunks, while the rest run
    base_source: Callable[[Callable[[], Logits]], Logits] = _opened  # the base opened, or its logits kept on disk

    def opener(self, open_base: Callable[[], Logits]) -> Callable[[], Logits]:
        """How the pass gets its base: `before_base`, then `base_source`, which opens it or needs not."""
        def opened() -> Logits:
            self.before_base()
            return self.base_source(open_base)
        return opened


class Scores(NamedTuple):
    nll: np.ndarray                # of every scored token
    divergence: dict | None        # statistics against the base, when one ran alongside
    forward_seconds: list[float]   # each chunk's forward pass of the model (not of its base)
    base: Scores | None = None     # the base's own scores, when one ran alongside: its row needs no pass of its own
    forward_cpu_seconds: tuple = ()  # the process's CPU time over each of those passes (all its threads)

    def cpu_share(self, threads: int) -> float | None:
        """How much of the CPU its threads asked for the forward passes got: near 1 on a quiet machine (the
        backends' threads compute or spin), lower when other processes took the cores (then every speed of the
        row was measured on a busy machine)."""
        wall = sum(self.forward_seconds)
        return sum(self.forward_cpu_seconds) / (wall * threads) if wall and self.forward_cpu_seconds else None

    def prefill_tok_s(self, n_ctx: int) -> float:
        """Prefill speed from the chunks themselves: each is n_ctx tokens from an empty cache. The
        median chunk, leaving out the first (it warms the caches) when there are others."""
        timed = self.forward_seconds[1:] or self.forward_seconds
        return n_ctx / float(np.median(timed))


def score_chunks(protocol: Protocol, tokens: np.ndarray, bos: int | None, logits_of: Logits,
                 progress: Callable[[float], None], open_base: Callable[[], Logits] | None = None,
                 first_look: Callable[[Scores], None] | None = None) -> Scores:
    """NLL of every scored token of a model and, with a base, the divergence statistics against it.

    `logits_of(chunk)` returns a chunk's scored logits, whatever the backend. The base
    is opened (`open_base()`) only once the model has run its first chunk, so that what the process
    used until then is the model's own peak; from there on both run chunk by chunk in lockstep, and
    no more than one chunk's logits of each is ever held. The base's own scores come with the divergence, from
    the same logits: its row is the same arithmetic on the same tokens, so it needs no pass of its own.
    `first_look` gets the scores of the first chunks (`Protocol.first_look_after`) while the rest still run.
    """
    n_chunks = protocol.n_chunks(len(tokens))
    look_after = protocol.first_look_after(len(tokens)) if first_look else None
    model, base = _Tally(), _Tally()
    parts = []
    base_logits_of = None
    for i in range(n_chunks):
        chunk = protocol.chunk_input(tokens, i, bos)
        logits = model.forward(logits_of, chunk)
        model.nll.append(protocol.chunk_nll(logits, tokens, i))
        if open_base is not None:
            base_logits_of = base_logits_of or open_base()
            base_logits = base.forward(base_logits_of, chunk)
            base.nll.append(protocol.chunk_nll(base_logits, tokens, i))
            parts.append(divergence(logits, base_logits, protocol.targets(tokens, i)))
        progress((i + 1) / n_chunks)
        if i + 1 == look_after:
            first_look(model.scores(parts, base))
    return model.scores(parts, base)


class _Tally:
    """One model's per-chunk figures as a pass goes."""

    def __init__(self):
        self.nll, self.seconds, self.cpu = [], [], []

    def forward(self, logits_of: Logits, chunk: list[int]) -> np.ndarray:
        t0, c0 = time.perf_counter(), time.process_time()
        logits = logits_of(chunk)
        self.seconds.append(time.perf_counter() - t0)
        self.cpu.append(time.process_time() - c0)
        return logits

    def scores(self, parts: list[dict] = (), base: _Tally | None = None) -> Scores:
        """The scores so far; with the divergence parts, the base's own too."""
        own = Scores(np.concatenate(self.nll), None, list(self.seconds), forward_cpu_seconds=tuple(self.cpu))
        if not parts:
            return own
        stats = summarize_divergence(*(np.concatenate([p[k] for p in parts]) for k in ("kld", "same_top", "dp")))
        return own._replace(divergence=stats, base=base.scores())
