"""Conversion memory: the peak RSS of the HF → F16 GGUF conversion, run exactly as a job runs it
(studio.llamacpp.convert_command: llama.cpp's converter from the pinned sdist), against the F16
model's size on disk. Goal ≤ 1.5×. The peak comes from wait4, so no short spike is missed."""
from __future__ import annotations

from bench.measure import Figure, median, run_measured, value_range
from studio.llamacpp import convert_command

MIB = 2**20


def benchmark(ws, sizes, cache_dir, log) -> Figure:
    outfile = ws.root / "convert-f16.gguf"
    cmd, env = convert_command(cache_dir, ws.model, outfile, "f16")
    peaks, seconds = [], []
    for rep in range(sizes.repetitions):
        run = run_measured(cmd, env={**ws.env, **env})
        peaks.append(run.peak_rss_bytes)
        seconds.append(run.seconds)
        log(f"  conversion rep {rep + 1}/{sizes.repetitions}: peak RSS {run.peak_rss_bytes / MIB:.0f} MiB, {run.seconds:.1f} s")
    f16_bytes = outfile.stat().st_size
    outfile.unlink()
    checkpoint_bytes = sum(p.stat().st_size for p in ws.model.glob("*.safetensors"))
    ratios = [p / f16_bytes for p in peaks]
    ratio = median(ratios)
    return Figure(
        name="conversion memory",
        a=f"peak RSS of HF → F16 GGUF: {median(peaks) / MIB:.0f} MiB (range {value_range([p / MIB for p in peaks], 0)})",
        b=f"F16 GGUF on disk: {f16_bytes / MIB:.0f} MiB",
        ratio=ratio, goal="≤ 1.5×", met=ratio <= 1.5,
        spread=f"{min(ratios):.3f}–{max(ratios):.3f} (n={len(peaks)})",
        note=(f"SmolLM2-135M (checkpoint {checkpoint_bytes / MIB:.0f} MiB of float16 safetensors); "
              f"conversion {median(seconds):.1f} s. The converter is llama.cpp's own script."),
        details={"peak_rss_bytes": peaks, "f16_bytes": f16_bytes, "checkpoint_bytes": checkpoint_bytes,
                 "seconds": seconds})
