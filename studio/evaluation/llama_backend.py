"""Evaluation of GGUF files through llama-cpp-python: tokens, perplexity chunks, generations."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from studio.evaluation.protocol import Logits, PassHooks, Protocol, Scores, score_chunks

# Generations run in a context of this many prompt tokens plus the new tokens (preflight refuses longer prompts).
PROMPT_TOKENS = 512


def threads() -> int:
    return int(os.environ.get("STUDIO_THREADS") or os.cpu_count() or 1)


def _llama(path: Path, n_ctx: int, vocab_only: bool = False):
    from llama_cpp import Llama
    return Llama(str(path), n_ctx=n_ctx, n_batch=min(n_ctx, 512), n_ubatch=min(n_ctx, 512),
                 vocab_only=vocab_only, n_threads=threads(), n_threads_batch=threads(), verbose=False)


def open_for_logits(path: Path, n_ctx: int):
    """A model for perplexity chunks (`chunk_logits`)."""
    return _llama(path, n_ctx)


def bos_if_added(llm) -> int | None:
    """The BOS id when the vocabulary asks for BOS (as llama-perplexity decides), else None."""
    import llama_cpp
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    return llm.token_bos() if llama_cpp.llama_vocab_get_add_bos(vocab) else None


def vocabulary_only(path: Path):
    """The file's vocabulary and metadata, no tensors: milliseconds, whatever the model's size."""
    return _llama(path, 512, vocab_only=True)


def tokenize(gguf: Path, text: str) -> tuple[np.ndarray, int | None]:
    """Token ids of the whole text, as llama-perplexity makes them, and the BOS to use per chunk."""
    llm = vocabulary_only(gguf)
    ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    return np.asarray(ids, dtype=np.int32), bos_if_added(llm)


def perplexity_nll(gguf: Path, tokens: np.ndarray, bos: int | None, protocol: Protocol,
                   hooks: PassHooks = PassHooks(), base: Path | None = None) -> tuple[Scores, float]:
    """The scores of every chunk (with a base model, the divergence against it too: see `score_chunks` and
    `PassHooks`) and the seconds it took to load the model."""
    t0 = time.perf_counter()
    llm = open_for_logits(gguf, protocol.n_ctx)
    load_seconds = time.perf_counter() - t0

    def open_base() -> Logits:
        base_llm = open_for_logits(base, protocol.n_ctx)
        return lambda chunk: chunk_logits(base_llm, chunk, protocol)

    scores = score_chunks(protocol, tokens, bos, lambda chunk: chunk_logits(llm, chunk, protocol), hooks.progress,
                          hooks.opener(open_base) if base else None, hooks.first_look)
    return scores, load_seconds


def chunk_logits(llm, chunk: list[int], protocol: Protocol) -> np.ndarray:
    """The logits at the chunk's scored positions, decoded from an empty cache. As in
    llama-perplexity, only those positions ask for logits, so the output layer runs on half the
    rows and nothing else is copied out."""
    import llama_cpp
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
    wanted, n_vocab = protocol.scored_positions, llm.n_vocab()
    rows = []
    batch = llama_cpp.llama_batch_init(llm.n_batch, 0, 1)
    try:
        for start in range(0, len(chunk), llm.n_batch):
            part = chunk[start:start + llm.n_batch]
            batch.n_tokens = len(part)
            for j, token in enumerate(part):
                batch.token[j], batch.pos[j], batch.n_seq_id[j] = token, start + j, 1
                batch.seq_id[j][0] = 0
                batch.logits[j] = (start + j) in wanted
            if llama_cpp.llama_decode(llm.ctx, batch) != 0:
                raise RuntimeError(f"llama_decode failed on a chunk of {len(chunk)} tokens")
            n_out = sum(p in wanted for p in range(start, start + len(part)))
            if n_out:
                logits = llama_cpp.llama_get_logits(llm.ctx)
                rows.append(np.ctypeslib.as_array(logits, shape=(n_out * n_vocab,)).reshape(n_out, n_vocab).copy())
    finally:
        llama_cpp.llama_batch_free(batch)
    return np.concatenate(rows)


def load_seconds(gguf: Path) -> float:
    """How long the model takes to open for generating."""
    t0 = time.perf_counter()
    _llama(gguf, PROMPT_TOKENS)
    return time.perf_counter() - t0


def generations(gguf: Path, prompts: list[str], max_new_tokens: int) -> tuple[dict, float | None]:
    """Greedy generations of the prompts and the decode tokens/s over them (prefill excluded), and the seconds
    the model took to load (None when there was nothing to generate, so nothing was loaded)."""
    if not prompts or max_new_tokens < 1:
        return {"decode_tok_s": 0.0, "generations": []}, None
    t0 = time.perf_counter()
    llm = _llama(gguf, PROMPT_TOKENS + max_new_tokens)
    load_seconds = time.perf_counter() - t0
    out, decode_tokens, decode_seconds = [], 0, 0.0
    for text in prompts:
        generated, decoded, seconds, n_new = _generate(llm, text, max_new_tokens)
        out.append({"prompt": text, "text": generated, "n_tokens": n_new})
        decode_tokens += decoded
        decode_seconds += seconds
    return {"decode_tok_s": decode_tokens / decode_seconds if decode_seconds else 0.0, "generations": out}, load_seconds


def _generate(llm, prompt: str, max_new_tokens: int) -> tuple[str, int, float]:
    """Greedy generation with the model's chat template when it has one.

    Returns the text, the tokens decoded after the first new one, the seconds that took (pure
    decode: the prompt's prefill is excluded), and the number of new tokens kept.
    """
    import llama_cpp
    if llm.metadata.get("tokenizer.chat_template"):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        formatter = Jinja2ChatFormatter(template=llm.metadata["tokenizer.chat_template"],
                                        eos_token=llm.detokenize([llm.token_eos()]).decode(errors="ignore"),
                                        bos_token=llm.detokenize([llm.token_bos()]).decode(errors="ignore"))
        rendered = formatter(messages=[{"role": "user", "content": prompt}]).prompt
        ids = llm.tokenize(rendered.encode("utf-8"), add_bos=False, special=True)
    else:
        ids = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
    llm.reset()
    new: list[int] = []
    t_first = None
    decoded = 0  # tokens evaluated after the first one was sampled: what the timer covers
    for tok in llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
        if t_first is None:
            t_first = time.perf_counter()
        else:
            decoded += 1
        if llama_cpp.llama_vocab_is_eog(llm._model.vocab, tok):
            break
        new.append(tok)
        if len(new) >= max_new_tokens:
            break
    seconds = time.perf_counter() - t_first if t_first else 0.0
    return llm.detokenize(new).decode("utf-8", errors="replace"), decoded, seconds, len(new)
