"""HF int8-rtn memory on the 1 B Llama shape (tests/models.py, built once per machine): the peak RSS of writing
the packed checkpoint (studio.recipes.packed, exactly as the recipe's quantize stage calls it) against one
copy of the checkpoint's bf16 weights. Goal ≤ 1.3×. The peak comes from wait4, so it counts the pages of the
checkpoint's mapped shards the process has read; their anonymous part (RssAnon, what the kernel cannot evict)
is sampled too and given in the note, with the streamed evaluation's."""
from __future__ import annotations

import json
import shutil
import sys

from bench.fixtures import in_child
from bench.measure import Figure, median, run_measured, value_range

MIB = 2**20
OPTIONS = {"scheme": "symmetric", "granularity": "per-channel", "group_size": 64, "keep": ""}


def benchmark(ws, sizes, cache_dir, log) -> list[Figure]:
    one_b = in_child("import sys; from pathlib import Path; from tests.models import LLAMA_1B, build_llama_shape; "
                     "print(build_llama_shape(Path(sys.argv[1]), LLAMA_1B, Path(sys.argv[2])))",
                     str(cache_dir / "test-models"), str(ws.model))
    bf16 = int(in_child("import sys; from pathlib import Path; from studio.evaluation.streamed import "
                        "SafetensorsWeights; print(SafetensorsWeights(Path(sys.argv[1])).float32_bytes() // 2)", one_b))
    out = ws.root / "int8-1b"
    quantize = [sys.executable, "-c", (
        "import sys; from functools import partial; from pathlib import Path; from studio.recipes import formats, "
        "packed; packed.write_packed(Path(sys.argv[1]), Path(sys.argv[2]), 'int8-rtn', "
        f"{OPTIONS!r}, partial(formats.quantize_int8, symmetric=True, group_size=None), [], lambda f: None)"),
        one_b, str(out)]
    peaks, anon, seconds = [], [], []
    for rep in range(sizes.repetitions):
        shutil.rmtree(out, ignore_errors=True)
        run = run_measured(quantize, env=ws.env)
        peaks.append(run.peak_rss_bytes)
        seconds.append(run.seconds)
        shutil.rmtree(out, ignore_errors=True)
        anon.append(_peak_anon(quantize, ws.env))
        log(f"  hf memory rep {rep + 1}/{sizes.repetitions}: RSS {peaks[-1] / MIB:.0f} MiB, "
            f"anonymous {anon[-1] / MIB:.0f} MiB")
    evaluation = _streamed_evaluation_anon(ws, one_b, out)
    shutil.rmtree(out, ignore_errors=True)
    ratios = [p / bf16 for p in peaks]
    return [Figure(
        name="HF int8-rtn memory (1 B shape)",
        a=f"peak RSS of quantizing: {median(peaks) / MIB:.0f} MiB (range {value_range([p / MIB for p in peaks], 0)})",
        b=f"one bf16 copy of the weights: {bf16 / MIB:.0f} MiB",
        ratio=median(ratios), goal="≤ 1.3×", met=median(ratios) <= 1.3,
        spread=f"{min(ratios):.3f}–{max(ratios):.3f} (n={len(peaks)})",
        note=(f"quantize {median(seconds):.1f} s. Anonymous memory {median(anon) / MIB:.0f} MiB (the rest of the RSS "
              f"is the checkpoint's mapped pages); the evaluation streamed layer by layer against the checkpoint "
              f"(2 chunks of 512) held {evaluation / MIB:.0f} MiB anonymous, {evaluation / bf16:.2f}× the bf16 copy."),
        details={"peak_rss_bytes": peaks, "anon_bytes": anon, "bf16_bytes": bf16, "seconds": seconds,
                 "streamed_evaluation_anon_bytes": evaluation})]


def _peak_anon(cmd: list[str], env: dict) -> int:
    from tests.procmem import peak_anon_bytes
    return peak_anon_bytes(cmd, env)


def _streamed_evaluation_anon(ws, checkpoint: str, artifact) -> int:
    import numpy as np
    tokens = ws.root / "hf-memory-tokens.npy"
    np.save(tokens, np.random.default_rng(0).integers(0, 49152, 1024).astype(np.int32))
    request = ws.root / "hf-memory-request.json"
    request.write_text(json.dumps({
        "artifact": str(artifact), "family": "hf", "recipe": "int8-rtn", "tokenizer": checkpoint,
        "tokens_path": str(tokens), "bos": None, "n_ctx": 512, "max_chunks": 2, "prompts": [],
        "max_new_tokens": 0, "base_artifact": checkpoint}))
    code = ("import sys; from studio.evaluation import torch_backend; torch_backend.RESIDENT_SHARE = 0; "
            "from jobs.evaluation import main; main()")
    return _peak_anon([sys.executable, "-c", code, str(request), str(ws.root / "hf-memory-out.json")], ws.env)
