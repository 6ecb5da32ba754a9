"""Same-invocation ratios: A and B alternate (A B, B A, A B, …) so that a machine shared with other
work slows both alike; each figure is the median of the per-repetition ratios, with their range."""
from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Callable


@dataclass
class Figure:
    """One row of the results: what A and B were (with units), their ratio, the goal, and whether it was met."""
    name: str
    a: str
    b: str
    ratio: float
    goal: str
    met: bool
    spread: str = ""
    note: str = ""
    details: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Pairs:
    """Per-repetition measurements of A and B, in the order they were taken."""
    a: list[float]
    b: list[float]

    @property
    def ratios(self) -> list[float]:
        return [x / y for x, y in zip(self.a, self.b)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def spread(self) -> str:
        return f"{min(self.ratios):.3f}–{max(self.ratios):.3f} (n={len(self.a)})"

    def figure(self, name: str, a: str, b: str, goal: str, limit: float, note: str = "",
               details: dict | None = None) -> Figure:
        """A timing figure: A and B as "what: median s (range)", met when the median ratio ≤ limit."""
        return Figure(name=name, a=f"{a}: {seconds(self.a)}", b=f"{b}: {seconds(self.b)}", ratio=self.ratio,
                      goal=goal, met=self.ratio <= limit, spread=self.spread(), note=note,
                      details={"a_seconds": self.a, "b_seconds": self.b, **(details or {})})


def alternate(measure_a: Callable[[], float], measure_b: Callable[[], float], repetitions: int,
              log=print, label: str = "") -> Pairs:
    """Measure A and B `repetitions` times each, swapping which goes first every repetition."""
    a, b = [], []
    for rep in range(repetitions):
        order = ((measure_a, a, "A"), (measure_b, b, "B"))
        for measure, into, which in (order if rep % 2 == 0 else order[::-1]):
            into.append(measure())
            log(f"  {label} rep {rep + 1}/{repetitions} {which}: {into[-1]:.3f}")
    return Pairs(a, b)


def median(values: list[float]) -> float:
    return statistics.median(values)


def value_range(values: list[float], digits: int = 2) -> str:
    return f"{min(values):.{digits}f}–{max(values):.{digits}f}"


def seconds(values: list[float]) -> str:
    return f"{median(values):.2f} s (range {value_range(values)})"


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_bytes: int
    lines: list[tuple[float, str]]  # (seconds since start, line): where the time went

    @property
    def stdout(self) -> str:
        return "".join(line for _, line in self.lines)


def run_measured(cmd: list[str], env: dict | None = None, cwd: str | None = None) -> Run:
    """Run a command to completion: its wall time, its own peak RSS (from wait4, not sampled) and
    its output lines with the time each arrived."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = [(time.perf_counter() - t0, line) for line in proc.stdout]
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = "".join(line for _, line in lines)[-3000:]
        raise RuntimeError(f"{' '.join(cmd[:3])}… exited with {proc.returncode}:\n{tail}")
    return Run(seconds, usage.ru_maxrss * 1024, lines)
