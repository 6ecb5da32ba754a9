"""The results of one run: a table on the terminal, a section appended to BENCHMARKS.md, and
bench/results.json (one object per figure: name, a, b, ratio, goal, met, and how it was measured)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from bench.machine import one_line
from bench.measure import Figure

BENCH_DIR = Path(__file__).resolve().parent
BENCHMARKS_MD = BENCH_DIR.parent / "BENCHMARKS.md"
RESULTS_JSON = BENCH_DIR / "results.json"
NOISE = ("The machine is shared with other agents' test runs, so absolute times are noisy; every "
         "ratio compares A and B measured alternately in this same run.")


def table(figures: list[Figure]) -> str:
    rows = ["| benchmark | A | B (reference) | ratio A/B (median) | spread | goal | met |",
            "|---|---|---|---|---|---|---|"]
    rows += [f"| {f.name} | {f.a} | {f.b} | {f.ratio:.3f} | {f.spread} | {f.goal} | {'yes' if f.met else '**no**'} |"
             for f in figures]
    return "\n".join(rows)


def notes(figures: list[Figure]) -> str:
    return "\n".join(f"- **{f.name}**: {f.note}" for f in figures if f.note)


def section(figures: list[Figure], command: str, machine: dict, minutes: float) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"\n### Run of {stamp}: `{command}` ({minutes:.1f} min)\n\n"
            f"Machine: {one_line(machine)}.\n{NOISE}\n\n{table(figures)}\n\n{notes(figures)}\n")


def record(figures: list[Figure], command: str, machine: dict, minutes: float) -> None:
    with open(BENCHMARKS_MD, "a") as md:
        md.write(section(figures, command, machine, minutes))
    RESULTS_JSON.write_text(json.dumps([f.as_json() for f in figures], indent=2) + "\n")
