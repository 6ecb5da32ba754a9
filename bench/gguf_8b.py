"""An 8 B GGUF job against the bare llama.cpp steps it is made of, on the 8 B Llama shape (tests/models.py, built
once per machine; random weights, real sizes): `python -m studio quantize --recipe gguf:Q4_K_M --max-chunks 2
--wait` from an empty workspace (conversion, quantize, the perplexity with the F16 base in lockstep, one
generation; the torch pass against the checkpoint off, as the bare steps have none) against
bench/bare_gguf_8b.py on the same checkpoint, token ids and prompt. Goals: time ≤ 1.15×, peak RSS ≤ 1.2×.

Long (about half an hour on 2 cores) and 40 GB of disk at its peak, so it runs only when named:
`python -m bench --only gguf-8b`. One repetition: the two runs go one after the other, the studio's first.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from bench.fixtures import ONE_PROMPT, in_child, stage_seconds
from bench.measure import Figure, run_measured
from studio import families
from studio.config import REPO_ROOT
from studio.llamacpp import convert_command

BARE_SCRIPT = Path(__file__).with_name("bare_gguf_8b.py")
CHUNKS = 2
MAX_NEW_TOKENS = 16
GIB = 2**30


def benchmark(ws, sizes, cache_dir, log) -> list[Figure]:
    eight = Path(in_child("import sys; from pathlib import Path; from tests.models import LLAMA_8B, build_llama_shape; "
                          "print(build_llama_shape(Path(sys.argv[1]), LLAMA_8B, Path(sys.argv[2])))",
                          str(cache_dir / "test-models"), str(ws.model)))
    root = ws.root / "gguf-8b"
    root.mkdir()
    env = dict(ws.env, STUDIO_WORKSPACE=str(root / "studio"), STUDIO_MODEL_DIRS=str(eight.parent))
    log("  gguf-8b: the studio job")
    studio = run_measured([sys.executable, "-m", "studio", "quantize", "--model", str(eight), "--recipe",
                           "gguf:Q4_K_M", "--option", "gguf.checkpoint_kld=false", "--eval-text", str(ws.text),
                           "--max-chunks", str(CHUNKS), "--prompt", ONE_PROMPT, "--max-new-tokens",
                           str(MAX_NEW_TOKENS), "--wait", "--json"], env=env, cwd=str(REPO_ROOT))
    row = json.loads(studio.stdout[studio.stdout.index("\n[") + 1:])[0]
    if row.get("status") != "done":
        raise RuntimeError(f"studio 8 B job failed: {row}")
    cache = next((root / "studio" / "cache").iterdir())
    stem = families.get("gguf").token_stem
    tokens = next(p for p in cache.glob("tokens-*.npy") if p.stem == stem(p.stem.rsplit("-", 1)[-1]))
    bos = json.loads(tokens.with_suffix(".json").read_text())["bos"]
    kept = root / "tokens.npy"
    shutil.copy(tokens, kept)
    shutil.rmtree(root / "studio")  # room for the bare run's F16 (15 GB)
    log("  gguf-8b: the bare steps")
    converter, converter_env = convert_command(cache_dir, eight, root / "unused.gguf")
    bare_cmd = [sys.executable, str(BARE_SCRIPT), "--out-dir", str(root), "--tokens", str(kept), "--chunks",
                str(CHUNKS), "--prompt", ONE_PROMPT, "--max-new-tokens", str(MAX_NEW_TOKENS)]
    bare_cmd += (["--bos", str(bos)] if bos is not None else []) + ["--", *converter[:-2]]
    bare = run_measured(bare_cmd, env=dict(converter_env, PYTHONPATH=os.pathsep.join(
        [converter_env["PYTHONPATH"], str(REPO_ROOT)])), cwd=str(REPO_ROOT))
    result = json.loads(bare.stdout.strip().splitlines()[-1])
    shutil.rmtree(root)
    time_ratio, rss_ratio = studio.seconds / bare.seconds, studio.peak_rss_bytes / bare.peak_rss_bytes
    workload = (f"8 B Llama shape → Q4_K_M from the bf16 checkpoint, {CHUNKS} chunks of 512 with the F16 in "
                f"lockstep, 1 prompt × {MAX_NEW_TOKENS} tokens; perplexity {row['ppl']:.6g} (studio) vs "
                f"{result['ppl']:.6g} (bare)")
    stages = {k: round(v, 1) for k, v in stage_seconds(studio).items()}
    return [
        Figure("8 B GGUF job time", f"python -m studio quantize … --wait: {studio.seconds:.0f} s",
               f"bare converter + llama_model_quantize + lockstep perplexity: {bare.seconds:.0f} s",
               time_ratio, "≤ 1.15×", time_ratio <= 1.15, "n=1",
               note=f"{workload}. Studio stages (s): {stages}; bare (s): "
                    f"{ {k: round(v, 1) for k, v in result['seconds'].items()} }",
               details={"studio_seconds": studio.seconds, "bare_seconds": bare.seconds, "studio_stages": stages,
                        "bare_stages": result["seconds"]}),
        Figure("8 B GGUF job peak RSS", f"studio: {studio.peak_rss_bytes / GIB:.2f} GiB",
               f"bare: {bare.peak_rss_bytes / GIB:.2f} GiB", rss_ratio, "≤ 1.2×", rss_ratio <= 1.2, "n=1",
               note="peak RSS from wait4 (the largest process of each tree; mapped GGUF pages count while "
                    "resident)",
               details={"studio_peak_rss_bytes": studio.peak_rss_bytes, "bare_peak_rss_bytes": bare.peak_rss_bytes}),
    ]
