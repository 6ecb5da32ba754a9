"""The library calls a warm GGUF job makes, in one plain script, importing nothing of the studio:
quantize the cached F16, a greedy generation (decode speed), the perplexity chunks with the F16 in
lockstep (divergence; prefill speed from the chunks' timing), the divergence against the HF
checkpoint (llama.cpp vs torch on the checkpoint's token ids) and the tensor census. The reference
for the end-to-end and quantize benchmarks.

python bench/bare_gguf_job.py --f16 F16 --out OUT --tokens T.npy [--bos N] --hf-tokens T.npy [--hf-bos N]
    --checkpoint DIR --chunks N --prompt TEXT --max-new-tokens N   → one JSON line on stdout
"""
import argparse
import ctypes
import json
import os
import time
from pathlib import Path

import llama_cpp
import numpy as np
from gguf import GGMLQuantizationType
from llama_cpp._ctypes_extensions import load_shared_library

N_CTX = 512
FIRST = N_CTX // 2  # the second half of each chunk is scored
Q4_K_M = 15  # llama_ftype


def quantize(f16: str, out: str) -> float:
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = Q4_K_M
    t0 = time.perf_counter()
    if llama_cpp.llama_model_quantize(f16.encode(), out.encode(), ctypes.byref(params)) != 0:
        raise SystemExit("llama_model_quantize failed")
    return time.perf_counter() - t0


def load(path: str, n_ctx: int = N_CTX) -> llama_cpp.Llama:
    cores = os.cpu_count()
    return llama_cpp.Llama(path, n_ctx=n_ctx, n_batch=N_CTX, n_ubatch=N_CTX, n_threads=cores,
                           n_threads_batch=cores, verbose=False)


def chunk_ids(tokens: np.ndarray, chunk: int, bos) -> list[int]:
    ids = tokens[chunk * N_CTX:(chunk + 1) * N_CTX].tolist()
    if bos is not None:
        ids[0] = bos
    return ids


def log_softmax(logits) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def scored_logits(llm, ids: list[int]) -> np.ndarray:
    """One chunk decoded from an empty cache in one batch that asks for logits at the scored
    positions only (llama-perplexity's way)."""
    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
    batch = llama_cpp.llama_batch_init(len(ids), 0, 1)
    try:
        batch.n_tokens = len(ids)
        for pos, token in enumerate(ids):
            batch.token[pos], batch.pos[pos], batch.n_seq_id[pos], batch.seq_id[pos][0] = token, pos, 1, 0
            batch.logits[pos] = FIRST <= pos < N_CTX - 1
        if llama_cpp.llama_decode(llm.ctx, batch) != 0:
            raise SystemExit("llama_decode failed")
        n_vocab = llm.n_vocab()
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx),
                                     shape=((N_CTX - 1 - FIRST) * n_vocab,)).reshape(-1, n_vocab).copy()
    finally:
        llama_cpp.llama_batch_free(batch)


def llama_logprobs(llm, tokens: np.ndarray, chunk: int, bos) -> np.ndarray:
    """Log-probabilities at the scored positions of one chunk, from an empty cache."""
    return log_softmax(scored_logits(llm, chunk_ids(tokens, chunk, bos)))


def targets(tokens: np.ndarray, chunk: int) -> np.ndarray:
    return tokens[chunk * N_CTX + FIRST + 1:(chunk + 1) * N_CTX]


def generate(path: str, prompt: str, max_new: int) -> str:
    llm = load(path, N_CTX + max_new)
    out = llm.create_chat_completion([{"role": "user", "content": prompt}], max_tokens=max_new, temperature=0.0)
    return out["choices"][0]["message"]["content"]


def mean_kld(logprobs_pairs) -> float:
    """KL(base || model) per scored token, averaged; pairs of (model, base) log-probabilities."""
    return float(np.concatenate([(np.exp(p) * (p - q)).sum(axis=1) for q, p in logprobs_pairs]).mean())


def perplexity_and_kld(path: str, f16: str, tokens, bos, chunks: int) -> dict:
    """Both models chunk by chunk: PPL of the quantized one, its KLD from the F16, and prefill tok/s
    from its forward passes (median after the first)."""
    llm, base = load(path), load(f16)
    nll, kld, seconds = [], [], []
    for c in range(chunks):
        t0 = time.perf_counter()
        logits = scored_logits(llm, chunk_ids(tokens, c, bos))
        seconds.append(time.perf_counter() - t0)
        q = log_softmax(logits)
        p = llama_logprobs(base, tokens, c, bos)
        nll.append(-q[np.arange(N_CTX - 1 - FIRST), targets(tokens, c)])
        kld.append(mean_kld([(q, p)]))
    return {"ppl": float(np.exp(np.concatenate(nll).mean())), "kld": float(np.mean(kld)),
            "prefill_tok_s": N_CTX / float(np.median(seconds[1:] or seconds))}


def kld_vs_checkpoint(path: str, checkpoint: str, tokens, bos, chunks: int) -> float:
    import torch
    from transformers import AutoModelForCausalLM
    llm = load(path)
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()

    def torch_logprobs(c: int) -> np.ndarray:
        with torch.inference_mode():
            logits = model(torch.tensor([chunk_ids(tokens, c, bos)]), use_cache=False).logits[0]
        return log_softmax(logits[FIRST:N_CTX - 1].numpy())

    return mean_kld((llama_logprobs(llm, tokens, c, bos), torch_logprobs(c)) for c in range(chunks))


class InitParams(ctypes.Structure):
    _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.c_void_p)]


def tensor_types(path: str) -> set[str]:
    """The file's tensor types, read with llama.cpp's gguf parser (libggml-base, shipped with the wheel)."""
    lib = load_shared_library("ggml-base", Path(llama_cpp.__file__).parent / "lib")
    lib.gguf_init_from_file.restype = ctypes.c_void_p
    lib.gguf_init_from_file.argtypes = [ctypes.c_char_p, InitParams]
    lib.gguf_get_n_tensors.argtypes = lib.gguf_free.argtypes = [ctypes.c_void_p]
    lib.gguf_get_tensor_type.argtypes = [ctypes.c_void_p, ctypes.c_int64]
    gguf = lib.gguf_init_from_file(path.encode(), InitParams(True, None))
    types = {GGMLQuantizationType(lib.gguf_get_tensor_type(gguf, i)).name for i in range(lib.gguf_get_n_tensors(gguf))}
    lib.gguf_free(gguf)
    return types


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("--f16", "--out", "--tokens", "--hf-tokens", "--checkpoint", "--prompt"):
        p.add_argument(name, required=True)
    for name in ("--chunks", "--max-new-tokens"):
        p.add_argument(name, type=int, required=True)
    p.add_argument("--bos", type=int)
    p.add_argument("--hf-bos", type=int)
    a = p.parse_args()
    tokens, hf_tokens = np.load(a.tokens), np.load(a.hf_tokens)
    seconds, result = {}, {}

    def stage(name: str, key: str, work) -> None:
        """Time one step, named after the job stage that does the same work."""
        t0 = time.perf_counter()
        result[key] = work()
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0

    stage("quantize", "quantize_s", lambda: quantize(a.f16, a.out))
    stage("evaluate", "generation", lambda: generate(a.out, a.prompt, a.max_new_tokens))
    stage("evaluate", "evaluation", lambda: perplexity_and_kld(a.out, a.f16, tokens, a.bos, a.chunks))
    stage("divergence vs checkpoint", "kld_vs_checkpoint",
          lambda: kld_vs_checkpoint(a.out, a.checkpoint, hf_tokens, a.hf_bos, a.chunks))
    stage("store", "tensor_types", lambda: len(tensor_types(a.out)))
    result["ppl"] = result["evaluation"]["ppl"]
    result["seconds"] = seconds
    os.remove(a.out)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
