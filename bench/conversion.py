"""Conversion memory: the peak RSS of the HF → F16 GGUF conversion, run exactly as a job runs it
(studio.llamacpp.convert_command: llama.cpp's converter from the pinned sdist), against the F16
model's size on disk. Goal ≤ 1.5×. The peak comes from wait4, so no short spike is missed.

Two models, SmolLM2-135M and a random-weight model of SmolLM2-360M's shape, and the converter's
floor (its interpreter and imports: `--help`), so that the fixed part and the part that grows with
the model can be told apart."""
from __future__ import annotations

import resource

from bench.measure import Figure, median, run_measured, value_range
from bench.scaling import cached_checkpoint
from studio.llamacpp import convert_command

MIB = 2**20


def benchmark(ws, sizes, cache_dir, log) -> list[Figure]:
    models = {"SmolLM2-135M": ws.model, "360M-shaped": cached_checkpoint(ws, cache_dir, "360M-shaped")}
    outfile = ws.root / "convert-f16.gguf"
    cmd, env = convert_command(cache_dir, ws.model, outfile, "f16")
    floor = run_measured([cmd[0], cmd[1], "--help"], env={**ws.env, **env}).peak_rss_bytes
    peaks: dict[str, list[int]] = {name: [] for name in models}
    seconds: dict[str, list[float]] = {name: [] for name in models}
    f16_bytes: dict[str, int] = {}
    for rep in range(sizes.repetitions):
        for name, checkpoint in models.items():
            cmd, env = convert_command(cache_dir, checkpoint, outfile, "f16")
            run = run_measured(cmd, env={**ws.env, **env})
            peaks[name].append(run.peak_rss_bytes)
            seconds[name].append(run.seconds)
            f16_bytes[name] = outfile.stat().st_size
            outfile.unlink()
        log(f"  conversion rep {rep + 1}/{sizes.repetitions}: " +
            ", ".join(f"{n} {p[-1] / MIB:.0f} MiB" for n, p in peaks.items()))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if own >= floor:  # a child's peak starts at its parent's: the figures would be the bench's own
        raise RuntimeError(f"the bench process itself peaked at {own / MIB:.0f} MiB, above the converter's floor")
    return [_figure(name, peaks[name], f16_bytes[name], seconds[name], floor) for name in models]


def _figure(name: str, peaks: list[int], f16: int, seconds: list[float], floor: int) -> Figure:
    ratios = [p / f16 for p in peaks]
    ratio = median(ratios)
    growth = (median(peaks) - floor) / f16
    return Figure(
        name=f"conversion memory ({name})",
        a=(f"peak RSS of HF → F16 GGUF: {median(peaks) / MIB:.0f} MiB "
           f"(range {value_range([p / MIB for p in peaks], 0)})"),
        b=f"F16 GGUF on disk: {f16 / MIB:.0f} MiB",
        ratio=ratio, goal="≤ 1.5×", met=ratio <= 1.5,
        spread=f"{min(ratios):.3f}–{max(ratios):.3f} (n={len(peaks)})",
        note=(f"conversion {median(seconds):.1f} s. The converter is llama.cpp's own script; its floor (Python, "
              f"torch, gguf imported, nothing converted) is {floor / MIB:.0f} MiB, and the rest of the peak is "
              f"{growth:.2f}× the F16 size."),
        details={"peak_rss_bytes": peaks, "f16_bytes": f16, "seconds": seconds, "floor_rss_bytes": floor,
                 "above_floor_over_f16": growth})
