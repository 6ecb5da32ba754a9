"""`python -m bench [--quick] [--only NAME …] [--no-record]`: run the benchmarks, print the table,
append it to BENCHMARKS.md and write bench/results.json (a --quick run records nothing)."""
from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time

from bench import (base_cache, conversion, first_row, gguf_8b, gguf_job, gguf_perplexity, hf_memory, hf_perplexity,
                   machine, report, scaling, sensitivity_map, server)
from bench.fixtures import Sizes, make_workspace, remove_workspace
from studio.config import Settings

BENCHMARKS = ("gguf-perplexity", "gguf-job", "hf-perplexity", "conversion", "hf-memory", "server", "scaling",
              "first-row", "base-cache", "sensitivity-map", "gguf-8b")
LONG = ("gguf-8b",)  # half an hour and 40 GB of disk: only when named with --only


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="small sizes and 2 repetitions, for development; records nothing")
    p.add_argument("--only", nargs="+", choices=BENCHMARKS, metavar="NAME",
                   default=[b for b in BENCHMARKS if b not in LONG],
                   help=f"run only these ({', '.join(BENCHMARKS)}; {', '.join(LONG)} runs only when named)")
    p.add_argument("--no-record", action="store_true", help="print the table without writing BENCHMARKS.md")
    return p


def run(selected: list[str], sizes: Sizes, log) -> list:
    cache_dir = Settings.from_env().cache_dir
    ws = make_workspace(cache_dir)
    try:
        log("warm-up job: F16 conversion, token ids and base row, cached as after any first job")
        _, warm = ws.quantize_job("gguf:Q4_K_M", sizes.job_chunks, sizes.max_new_tokens)
        q4_k_m = warm["artifact"]
        steps = {
            "gguf-perplexity": lambda: [gguf_perplexity.benchmark(ws, sizes, q4_k_m, cache_dir, log)],
            "gguf-job": lambda: gguf_job.benchmark(ws, sizes, log),
            "hf-perplexity": lambda: hf_perplexity.benchmark(ws, sizes, log),
            "conversion": lambda: conversion.benchmark(ws, sizes, cache_dir, log),
            "hf-memory": lambda: hf_memory.benchmark(ws, sizes, cache_dir, log),
            "gguf-8b": lambda: gguf_8b.benchmark(ws, sizes, cache_dir, log),
            "server": lambda: server.benchmark(ws, sizes, log),
            "first-row": lambda: first_row.benchmark(ws, sizes, log),
            "base-cache": lambda: base_cache.benchmark(ws, sizes, log),
            "sensitivity-map": lambda: sensitivity_map.benchmark(ws, sizes, log),
            "scaling": lambda: [scaling.evaluation_benchmark(ws, sizes, cache_dir, log),
                                scaling.quantize_benchmark(ws, sizes, cache_dir, log)],
        }
        figures = []
        for name in (n for n in BENCHMARKS if n in selected):
            log(f"{name}")
            figures += steps[name]()
        return figures
    finally:
        remove_workspace(ws)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so the workspace is removed
    load_at_start = machine.load_average()

    def log(line: str) -> None:
        print(f"[{(time.monotonic() - started) / 60:5.1f} min] {line}", file=sys.stderr, flush=True)

    figures = run(args.only, Sizes.pick(args.quick), log)
    minutes = (time.monotonic() - started) / 60
    print(report.table(figures) + "\n\n" + report.notes(figures))
    if not (args.quick or args.no_record):
        command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
        described = {**machine.describe(), "load_at_start": load_at_start, "load_at_end": machine.load_average()}
        report.record(figures, command.strip(), described, minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
