"""The bare llama.cpp steps of an 8 B GGUF job, importing nothing of the studio: llama.cpp's converter (the
command line given), `llama_model_quantize` to Q4_K_M, the perplexity chunks with the F16 in lockstep and one
greedy generation (bare_gguf_job's functions). The reference for the 8 B job benchmark (bench/gguf_8b.py).

python bench/bare_gguf_8b.py --out-dir DIR --tokens T.npy [--bos N] --chunks N --prompt TEXT --max-new-tokens N
    -- CONVERTER COMMAND …   → one JSON line on stdout
"""
import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np

from bare_gguf_job import generate, perplexity_and_kld, quantize


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out-dir", required=True)
    p.add_argument("--tokens", required=True)
    p.add_argument("--bos", type=int)
    p.add_argument("--chunks", type=int, required=True)
    p.add_argument("--prompt", required=True)
    p.add_argument("--max-new-tokens", type=int, required=True)
    p.add_argument("converter", nargs=argparse.REMAINDER)
    a = p.parse_args()
    out = Path(a.out_dir)
    f16, q4 = out / "bare-f16.gguf", out / "bare-Q4_K_M.gguf"
    seconds = {}
    t0 = time.perf_counter()
    subprocess.run([*a.converter[1:], "--outfile", str(f16)], check=True, capture_output=True)
    seconds["convert"] = time.perf_counter() - t0
    seconds["quantize"] = quantize(str(f16), str(q4))
    t0 = time.perf_counter()
    result = perplexity_and_kld(str(q4), str(f16), np.load(a.tokens), a.bos, a.chunks)
    seconds["perplexity, F16 in lockstep"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    generate(str(q4), a.prompt, a.max_new_tokens)
    seconds["generation"] = time.perf_counter() - t0
    print(json.dumps({**result, "seconds": seconds, "size_bytes": q4.stat().st_size}))


if __name__ == "__main__":
    main()
