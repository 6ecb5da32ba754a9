"""The library calls a warm GGUF job makes, in one plain script, importing nothing of the studio:
quantize the cached F16, perplexity chunks, prefill speed, a greedy generation, the divergence pass
against the F16, and the tensor census. The reference for the end-to-end and quantize benchmarks.

python bench/bare_gguf_job.py F16 OUT TOKENS.npy BOS CHUNKS PROMPT MAX_NEW_TOKENS  → JSON on stdout
"""
import ctypes
import json
import os
import sys
import time

import llama_cpp
import numpy as np
from gguf import GGUFReader

N_CTX = 512
Q4_K_M = 15  # llama_ftype


def quantize(f16: str, out: str) -> float:
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = Q4_K_M
    t0 = time.perf_counter()
    if llama_cpp.llama_model_quantize(f16.encode(), out.encode(), ctypes.byref(params)) != 0:
        raise SystemExit("llama_model_quantize failed")
    return time.perf_counter() - t0


def load(path: str, n_ctx: int = N_CTX, logits_all: bool = True) -> llama_cpp.Llama:
    cores = os.cpu_count()
    return llama_cpp.Llama(path, n_ctx=n_ctx, n_batch=N_CTX, n_ubatch=N_CTX, logits_all=logits_all,
                           n_threads=cores, n_threads_batch=cores, verbose=False)


def chunk_logprobs(llm, tokens: np.ndarray, chunk: int, bos) -> np.ndarray:
    """Log-probabilities at the scored positions (the second half) of one chunk, from an empty cache."""
    ids = tokens[chunk * N_CTX:(chunk + 1) * N_CTX].tolist()
    if bos is not None:
        ids[0] = bos
    llm.reset()
    llm.eval(ids)
    logits = np.asarray(llm.scores[N_CTX // 2:N_CTX - 1], dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def targets(tokens: np.ndarray, chunk: int) -> np.ndarray:
    return tokens[chunk * N_CTX + N_CTX // 2 + 1:(chunk + 1) * N_CTX]


def perplexity(path: str, tokens, bos, chunks: int) -> float:
    llm = load(path)
    nll = [-chunk_logprobs(llm, tokens, c, bos)[np.arange(N_CTX // 2 - 1), targets(tokens, c)] for c in range(chunks)]
    return float(np.exp(np.concatenate(nll).mean()))


def prefill_and_generate(path: str, tokens, prompt: str, max_new: int) -> float:
    llm = load(path, N_CTX + max_new, logits_all=False)
    seconds = []
    for _ in range(4):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(tokens[:N_CTX].tolist())
        seconds.append(time.perf_counter() - t0)
    llm.reset()
    llm.create_chat_completion([{"role": "user", "content": prompt}], max_tokens=max_new, temperature=0.0)
    return N_CTX / float(np.median(seconds[1:]))


def mean_kld(path: str, base: str, tokens, bos, chunks: int) -> float:
    llm, base_llm = load(path), load(base)
    kld = []
    for c in range(chunks):
        q, p = chunk_logprobs(llm, tokens, c, bos), chunk_logprobs(base_llm, tokens, c, bos)
        kld.append((np.exp(p) * (p - q)).sum(axis=1))
    return float(np.concatenate(kld).mean())


def main() -> None:
    f16, out, tokens_path, bos, chunks, prompt, max_new = sys.argv[1:8]
    tokens, bos, chunks = np.load(tokens_path), None if bos == "none" else int(bos), int(chunks)
    quantize_s = quantize(f16, out)
    result = {"quantize_s": quantize_s, "ppl": perplexity(out, tokens, bos, chunks),
              "prefill_tok_s": prefill_and_generate(out, tokens, prompt, int(max_new)),
              "kld_mean": mean_kld(out, f16, tokens, bos, chunks),
              "tensor_types": len({t.tensor_type.name for t in GGUFReader(out).tensors})}
    os.remove(out)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
