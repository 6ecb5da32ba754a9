"""GGUF perplexity: the studio's evaluation process against llama.cpp's own `llama-perplexity`, on
the same GGUF, text, context and chunks. Goal: the same PPL to 4 decimals, time ≤ 1.10×.

A is the process a job runs (`python -m jobs.evaluation`), with generations off
(llama-perplexity has none); its prefill speed comes from the chunks, at no extra cost.
B runs with flash attention off, as llama-cpp-python's Llama does by default (the studio's setting);
one extra run with llama-perplexity's own default (flash attention auto, i.e. on for CPU) shows how
much that choice moves the PPL. B tokenizes the whole text on every run; the studio reads its cached
token ids.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from bench.measure import Figure, alternate, median, run_measured, value_range
from bench.reference_build import ensure_llama_perplexity
from jobs.evaluation import PROGRESS_PREFIX

N_CTX = 512
FINAL_PPL = re.compile(r"Final estimate: PPL = ([0-9.]+)")
TOKENIZE_MS = re.compile(r"tokenization took ([0-9.]+) ms")


def studio_request(gguf: Path, tokens: Path, bos: int | None, model: Path, chunks: int) -> dict:
    return {"artifact": str(gguf), "base_artifact": None, "family": "gguf", "recipe": "gguf",
            "tokenizer": str(model), "tokens_path": str(tokens), "bos": bos, "n_ctx": N_CTX,
            "max_chunks": chunks, "prompts": [], "max_new_tokens": 0}


def run_studio_evaluation(request: dict, scratch: Path, env: dict):
    """One evaluation process as a job runs it; returns the run and its result JSON."""
    req, out = scratch / "eval.request.json", scratch / "eval.json"
    req.write_text(json.dumps(request))
    run = run_measured([sys.executable, "-m", "jobs.evaluation", str(req), str(out)], env=env)
    return run, json.loads(out.read_text())


def run_llama_perplexity(binary: Path, gguf: Path, text: Path, chunks: int, flash_attn: str = "off"):
    threads = str(os.cpu_count() or 1)  # the studio uses every core, llama.cpp's default may not
    run = run_measured([str(binary), "-m", str(gguf), "-f", str(text), "-c", str(N_CTX), "--chunks", str(chunks),
                        "-t", threads, "-tb", threads, "-fa", flash_attn])
    return run, float(FINAL_PPL.search(run.stdout).group(1))


def time_split(run) -> dict:
    """Seconds to the first perplexity chunk (start, imports, load, chunk 1), in the chunks, after them."""
    progress = [(t, float(line[len(PROGRESS_PREFIX):])) for t, line in run.lines if line.startswith(PROGRESS_PREFIX)]
    chunks_done = min(t for t, f in progress if f >= 1.0)
    return {"to_first_chunk_s": progress[0][0], "chunks_s": chunks_done - progress[0][0],
            "after_chunks_s": run.seconds - chunks_done}


def benchmark(ws, sizes, gguf: Path, cache_dir: Path, log) -> Figure:
    binary = ensure_llama_perplexity(cache_dir, log)
    tokens, bos = ws.tokens("gguf")
    request = studio_request(gguf, tokens, bos, ws.model, sizes.ppl_chunks)
    studio_ppl, reference_ppl, splits, tokenize_s = [], [], [], []

    def studio() -> float:
        run, result = run_studio_evaluation(request, ws.root, ws.env)
        studio_ppl.append(result["ppl"])
        splits.append(time_split(run))
        return run.seconds

    def reference() -> float:
        run, ppl = run_llama_perplexity(binary, gguf, ws.text, sizes.ppl_chunks)
        reference_ppl.append(ppl)
        tokenize_s.append(float(TOKENIZE_MS.search(run.stdout).group(1)) / 1000)
        return run.seconds

    pairs = alternate(studio, reference, sizes.repetitions, log, "gguf perplexity")
    _, default_fa_ppl = run_llama_perplexity(binary, gguf, ws.text, sizes.ppl_chunks, flash_attn="auto")
    same_ppl = {f"{p:.4f}" for p in studio_ppl} == {f"{p:.4f}" for p in reference_ppl}
    split = {k: round(median([s[k] for s in splits]), 2) for k in splits[0]}
    return Figure(
        name="GGUF perplexity",
        a=f"studio evaluation process: {median(pairs.a):.2f} s (range {value_range(pairs.a)}), PPL {studio_ppl[0]:.4f}",
        b=f"llama-perplexity: {median(pairs.b):.2f} s (range {value_range(pairs.b)}), PPL {reference_ppl[0]:.4f}",
        ratio=pairs.ratio, goal="same PPL to 4 decimals; time ≤ 1.10×", met=same_ppl and pairs.ratio <= 1.10,
        spread=pairs.spread(),
        note=(f"SmolLM2-135M Q4_K_M, ctx {N_CTX}, {sizes.ppl_chunks} chunks; "
              f"PPL {'identical' if same_ppl else 'DIFFERENT'}"
              f" to 4 decimals. Studio time: {split['to_first_chunk_s']} s to the first chunk's end (start, imports, "
              f"load), {split['chunks_s']} s in the other chunks, {split['after_chunks_s']} s after them (writing the "
              f"result, exit). llama-perplexity spends {median(tokenize_s):.2f} s tokenizing the text each run. "
              f"With its default flash attention (auto: on for CPU) llama-perplexity gives PPL {default_fa_ppl:.4f}."),
        details={"studio_ppl": studio_ppl, "reference_ppl": reference_ppl, "a_seconds": pairs.a,
                 "b_seconds": pairs.b, "studio_split_s": split, "reference_tokenize_s": tokenize_s,
                 "reference_ppl_default_flash_attn": default_fa_ppl})
