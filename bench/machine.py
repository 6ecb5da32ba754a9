"""The machine a run was measured on, in one line for BENCHMARKS.md and results.json."""
from __future__ import annotations

import os
import platform
import shutil
from importlib.metadata import PackageNotFoundError, version

import psutil


PACKAGES = ("llama_cpp_python", "torch", "transformers", "gradio")


def cpu_name() -> str:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def accelerator() -> str:
    """The benchmarks run on CPU; say so when no accelerator is visible (none was lent here)."""
    if shutil.which("nvidia-smi") is None:
        return "none (no accelerator lent: every figure is CPU-only)"
    return "an NVIDIA GPU is visible, but these benchmarks ran on CPU only"


def describe() -> dict:
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "accelerator": accelerator(), "packages": {p: _version(p) for p in PACKAGES}}


def load_average() -> str:
    """The 1/5/15-minute load average: how much other work shared the cores during the run."""
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def one_line(machine: dict) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    return (f"{machine['cpu']}, {machine['cores']} cores, {machine['ram_gib']} GiB RAM, {machine['os']}, "
            f"Python {machine['python']}; {packages}; accelerator: {machine['accelerator']}; "
            f"load average at the start {machine['load_at_start']}, at the end {machine['load_at_end']}")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"
