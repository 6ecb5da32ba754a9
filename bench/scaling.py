"""Scaling: the studio's GGUF evaluation time against the number of tokens (8k…64k), and quantize
time against model size (tiny / 135M / a 360M-shaped model). Goal: linear in tokens; say where the
time goes. Each figure is a ratio of per-unit costs measured in the same invocation: the
cost per chunk at the largest size over the smallest (1.0 = linear).

The token sweep runs on the tiny model (2 layers, hidden 256, SmolLM2's 49k vocabulary): 120k
tokens of SmolLM2-135M would take a quarter of an hour on 2 cores, and what grows with the tokens,
per chunk, is the same work: a forward pass and the scoring of n_ctx x vocabulary logits."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from bench.fixtures import in_child
from bench.gguf_perplexity import run_studio_evaluation, studio_request, time_split
from bench.measure import Figure, median
from studio.gguf_census import gguf_census
from studio.llamacpp import convert_command

# SmolLM2-360M's shape (random weights: quantize time depends on shapes, not on values).
LARGER_SHAPE = {"hidden_size": 960, "intermediate_size": 2560, "num_hidden_layers": 32,
                "num_attention_heads": 15, "num_key_value_heads": 5}
QUANTIZE_IN_A_PROCESS = ("import sys; from bench.bare_gguf_job import quantize; "
                         "print(quantize(sys.argv[1], sys.argv[2]))")


def evaluation_benchmark(ws, sizes, cache_dir: Path, log) -> Figure:
    gguf = _tiny_f16(ws, cache_dir)
    tokens, bos = ws.tokens("gguf")  # SmolLM2's ids: the tiny model has its tokenizer
    counts = sorted(sizes.scaling_tokens)
    seconds: dict[int, list[float]] = {n: [] for n in counts}
    per_chunk: dict[int, list[float]] = {n: [] for n in counts}  # seconds per chunk after the first
    splits: dict[int, dict] = {}
    small, large = counts[0], counts[-1]
    for rep in range(sizes.repetitions):
        # The ratio's two sizes run in every repetition, in alternating order; the sizes between them,
        # there for the slope, run in the first only (they would add 40 % to the bench's longest step).
        order = counts if rep == 0 else [small, large]
        for n in (order if rep % 2 == 0 else order[::-1]):
            run, result = run_studio_evaluation(studio_request(gguf, tokens, bos, ws.model, n // 512), ws.root, ws.env)
            seconds[n].append(run.seconds)
            splits[n] = {**time_split(run), "forward_s": result["forward_seconds"]}
            per_chunk[n].append(splits[n]["chunks_s"] / (n // 512 - 1))
        log(f"  evaluation rep {rep + 1}: " + ", ".join(f"{n // 1024}k {seconds[n][-1]:.1f} s" for n in counts))
    typical = {n: median(s) for n, s in seconds.items()}
    slope, intercept = np.polyfit(counts, [typical[n] for n in counts], 1)
    ratios = [hi / lo for hi, lo in zip(per_chunk[large], per_chunk[small])]
    ratio = median(ratios)
    largest = splits[large]
    return Figure(
        name="scaling: evaluation vs tokens",
        a=f"{large // 1024}k tokens: {1e3 * median(per_chunk[large]):.0f} ms per chunk of 512",
        b=f"{small // 1024}k tokens: {1e3 * median(per_chunk[small]):.0f} ms per chunk of 512",
        ratio=ratio, goal="linear in tokens: the same cost per chunk (ratio 0.9–1.1); report the slope",
        met=0.9 <= ratio <= 1.1,
        spread=f"{min(ratios):.3f}–{max(ratios):.3f} (n={len(ratios)}); median seconds " +
               ", ".join(f"{n // 1024}k: {typical[n]:.1f}" for n in counts),
        note=(f"studio evaluation process, the tiny model (F16, 49k vocabulary), ctx 512, generations off, "
              f"{sizes.repetitions} runs at {small // 1024}k and {large // 1024}k, one at each size between; the cost "
              f"per chunk leaves out the first chunk (start, imports, load, warm-up). Least-squares slope of the "
              f"whole runs {1e3 * slope:.2f} s per 1k tokens "
              f"({1 / slope:.0f} tok/s), intercept {intercept:.1f} s. At {large // 1024}k: "
              f"{largest['to_first_chunk_s']:.1f} s to the first chunk's end, {largest['chunks_s']:.1f} s in the "
              f"other chunks, {largest['after_chunks_s']:.1f} s after them; of all chunks' time, "
              f"{largest['forward_s']:.1f} s "
              f"in llama.cpp's forward passes (the output layer on the scored half), the rest scoring the logits."),
        details={"ratios": ratios, "seconds": {str(n): s for n, s in seconds.items()},
                 "per_chunk_s": {str(n): s for n, s in per_chunk.items()},
                 "splits": {str(n): s for n, s in splits.items()}, "slope_s_per_token": slope,
                 "intercept_s": intercept})


def quantize_benchmark(ws, sizes, cache_dir: Path, log) -> Figure:
    models = {"tiny": _tiny_f16(ws, cache_dir), "135M": ws.base_gguf(), "360M-shaped": _larger_f16(ws, cache_dir)}
    params = {name: gguf_census(path)["n_params"] for name, path in models.items()}
    seconds: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    for rep in range(sizes.repetitions):
        for name in names[rep % len(names):] + names[:rep % len(names)]:  # each model first in turn
            seconds[name].append(_quantize_seconds(models[name], ws.root / f"scaling-{name}-Q4_K_M.gguf"))
        log(f"  quantize rep {rep + 1}: " + ", ".join(f"{n} {s[-1]:.1f} s" for n, s in seconds.items()))
    per_million = {name: median(s) / (params[name] / 1e6) for name, s in seconds.items()}
    ratio = per_million["360M-shaped"] / per_million["135M"]
    return Figure(
        name="scaling: quantize vs parameters",
        a=(f"360M-shaped model: {median(seconds['360M-shaped']):.1f} s, "
           f"{1e3 * per_million['360M-shaped']:.0f} ms per M params"),
        b=f"SmolLM2-135M: {median(seconds['135M']):.1f} s, {1e3 * per_million['135M']:.0f} ms per M params",
        ratio=ratio, goal="report; roughly linear in parameters (0.75–1.25)", met=0.75 <= ratio <= 1.25,
        spread=", ".join(f"{n}: {min(s):.1f}–{max(s):.1f} s" for n, s in seconds.items()),
        note=(f"Q4_K_M with llama_model_quantize from F16, all cores; tiny ({params['tiny'] / 1e6:.1f} M params, "
              f"mostly the embedding): {median(seconds['tiny']):.2f} s. The 360M-shaped model has random weights "
              f"and SmolLM2-360M's shape ({params['360M-shaped'] / 1e6:.0f} M params)."),
        details={"params": params, "seconds": seconds})


def _quantize_seconds(f16: Path, out: Path) -> float:
    seconds = float(in_child(QUANTIZE_IN_A_PROCESS, str(f16), str(out)))
    out.unlink()
    return seconds


def _tiny_f16(ws, cache_dir: Path) -> Path:
    return cached_f16(ws, cache_dir, "tiny")


def _larger_f16(ws, cache_dir: Path) -> Path:
    return cached_f16(ws, cache_dir, "360M-shaped")


def cached_checkpoint(ws, cache_dir: Path, name: str) -> Path:
    """A generated checkpoint ("tiny" or "360M-shaped"), built once per machine in the bench cache
    (in a child process: see fixtures.in_child)."""
    target = cache_dir / "bench" / "models" / name
    if not (target / "config.json").exists():
        partial = target.with_name(f"{name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        in_child("import sys, json; from pathlib import Path; from bench.scaling import build_checkpoint; "
                 "build_checkpoint(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])); print('built')",
                 name, str(partial), str(ws.model))
        shutil.rmtree(target, ignore_errors=True)
        partial.replace(target)
    return target


def build_checkpoint(name: str, dest: Path, tokenizer_from: Path) -> None:
    from tests.models import build_tiny_llama
    if name == "tiny":
        build_tiny_llama(dest, tokenizer_from)
    else:
        _random_llama(dest, tokenizer_from, LARGER_SHAPE)


def cached_f16(ws, cache_dir: Path, name: str) -> Path:
    """The F16 GGUF of a generated checkpoint, converted once per machine in the bench cache."""
    target = cache_dir / "bench" / "models" / f"{name}-f16.gguf"
    if target.exists():
        return target
    partial = target.with_suffix(".partial")
    cmd, env = convert_command(cache_dir, cached_checkpoint(ws, cache_dir, name), partial, "f16")
    subprocess.run(cmd, env={**ws.env, **env}, check=True, capture_output=True)
    partial.replace(target)
    return target


def _random_llama(dest: Path, tokenizer_from: Path, shape: dict) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.models import TOKENIZER_FILES
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=49152, max_position_embeddings=2048, tie_word_embeddings=True,
                         bos_token_id=1, eos_token_id=2, **shape)
    LlamaForCausalLM(config).to(torch.float16).save_pretrained(dest)
    for name in TOKENIZER_FILES:
        if (tokenizer_from / name).exists():
            shutil.copy(tokenizer_from / name, dest / name)
