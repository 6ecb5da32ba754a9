"""What this machine has, and which recipes can run on it (with the reason when not)."""
from __future__ import annotations

import importlib.util
import os
import platform
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import psutil

from studio.recipes.base import Requirements


@dataclass(frozen=True)
class CudaDevice:
    index: int
    name: str
    compute_capability: float
    memory_bytes: int


@dataclass(frozen=True)
class Hardware:
    cpu: str
    cores: int
    ram_bytes: int
    ram_available_bytes: int
    disk_free_bytes: int
    cuda: tuple[CudaDevice, ...] = field(default_factory=tuple)

    @property
    def best_compute_capability(self) -> float | None:
        return max((d.compute_capability for d in self.cuda), default=None)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=1)
def cuda_devices() -> tuple[CudaDevice, ...]:
    if importlib.util.find_spec("torch") is None:
        return ()
    import torch
    if not torch.cuda.is_available():
        return ()
    devices = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        devices.append(CudaDevice(i, props.name, float(f"{props.major}.{props.minor}"), props.total_memory))
    return tuple(devices)


def detect(workspace: Path) -> Hardware:
    mem = psutil.virtual_memory()
    workspace.mkdir(parents=True, exist_ok=True)
    return Hardware(cpu=_cpu_name(), cores=os.cpu_count() or 1, ram_bytes=mem.total,
                    ram_available_bytes=mem.available, disk_free_bytes=shutil.disk_usage(workspace).free,
                    cuda=cuda_devices())


def check(req: Requirements, hw: Hardware) -> str | None:
    """None when the requirements are met, else the reason they are not."""
    missing = [p for p in req.packages if importlib.util.find_spec(p) is None]
    if missing:
        return f"missing Python package(s): {', '.join(missing)}"
    if req.cuda or not req.cpu_ok:
        if not hw.cuda:
            return "needs an NVIDIA GPU with CUDA; none detected"
        cc = hw.best_compute_capability
        if req.min_compute_capability and cc < req.min_compute_capability:
            return f"needs compute capability ≥ {req.min_compute_capability}; best GPU here has {cc}"
    return None
