"""Evaluation of GGUF files through llama-cpp-python: tokens, perplexity chunks, speed, generations."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from studio.evaluation.protocol import Protocol, score_chunks


def threads() -> int:
    return int(os.environ.get("STUDIO_THREADS") or os.cpu_count() or 1)


def _llama(path: Path, n_ctx: int, logits_all: bool = False, vocab_only: bool = False):
    from llama_cpp import Llama
    return Llama(str(path), n_ctx=n_ctx, n_batch=min(n_ctx, 512), n_ubatch=min(n_ctx, 512), logits_all=logits_all,
                 vocab_only=vocab_only, n_threads=threads(), n_threads_batch=threads(), verbose=False)


def open_for_logits(path: Path, n_ctx: int):
    """A model that keeps the logits of every position of a chunk."""
    return _llama(path, n_ctx, logits_all=True)


def bos_if_added(llm) -> int | None:
    """The BOS id when the vocabulary asks for BOS (as llama-perplexity decides), else None."""
    import llama_cpp
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    return llm.token_bos() if llama_cpp.llama_vocab_get_add_bos(vocab) else None


def tokenize(gguf: Path, text: str) -> tuple[np.ndarray, int | None]:
    """Token ids of the whole text, as llama-perplexity makes them, and the BOS to use per chunk."""
    llm = _llama(gguf, 512, vocab_only=True)
    ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    return np.asarray(ids, dtype=np.int32), bos_if_added(llm)


def perplexity_nll(gguf: Path, tokens: np.ndarray, bos: int | None, protocol: Protocol,
                   progress: Callable[[float], None], base: Path | None = None) -> tuple[np.ndarray, float, dict | None]:
    """NLL of every scored token, the seconds it took to load the model, and, when a base model is
    given, the divergence statistics against it (both run chunk by chunk in lockstep, so no more
    than one chunk's logits of each is ever held)."""
    t0 = time.perf_counter()
    llm = _llama(gguf, protocol.n_ctx, logits_all=True)
    load_seconds = time.perf_counter() - t0
    base_llm = _llama(base, protocol.n_ctx, logits_all=True) if base else None
    nll, stats = score_chunks(protocol, tokens, bos, lambda chunk: chunk_logits(llm, chunk, protocol), progress,
                              (lambda chunk: chunk_logits(base_llm, chunk, protocol)) if base_llm else None)
    return nll, load_seconds, stats


def chunk_logits(llm, chunk: list[int], protocol: Protocol) -> np.ndarray:
    llm.reset()  # each chunk starts from an empty KV cache
    llm.eval(chunk)
    return llm.scores[:protocol.n_ctx]


def speed_and_generations(gguf: Path, tokens: np.ndarray, prompts: list[str], max_new_tokens: int,
                          prefill_tokens: int = 512, repeats: int = 3) -> dict:
    """Prefill tokens/s on a slice of the eval text, decode tokens/s and greedy generations."""
    llm = _llama(gguf, max(prefill_tokens, 512) + max_new_tokens)
    prompt = [int(t) for t in tokens[:prefill_tokens]]
    prefill_times = []
    for _ in range(repeats + 1):  # first run warms caches and is not counted
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(prompt)
        prefill_times.append(time.perf_counter() - t0)
    generations, decode_tokens, decode_seconds = [], 0, 0.0
    for text in prompts:
        out, decoded, seconds, n_new = _generate(llm, text, max_new_tokens)
        generations.append({"prompt": text, "text": out, "n_tokens": n_new})
        decode_tokens += decoded
        decode_seconds += seconds
    return {
        "prefill_tok_s": len(prompt) / float(np.median(prefill_times[1:])),
        "decode_tok_s": decode_tokens / decode_seconds if decode_seconds else 0.0,
        "generations": generations,
    }


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
