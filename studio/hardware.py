"""What this machine has, and which recipes can run on it (with the reason when not)."""
from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import psutil

from studio.config import REPO_ROOT
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


def torch_cuda_devices() -> list[tuple[str, list[int], int]]:
    """Name, compute capability and memory of each GPU, as torch sees them."""
    import torch
    if not torch.cuda.is_available():
        return []
    return [(torch.cuda.get_device_name(i), list(torch.cuda.get_device_capability(i)),
             torch.cuda.get_device_properties(i).total_memory) for i in range(torch.cuda.device_count())]


def _gpu_device_nodes() -> bool:
    """Whether a GPU driver shows itself: NVIDIA's device nodes, WSL2's /dev/dxg, ROCm's /dev/kfd.
    Without one torch can see no GPU, and asking it would cost a second of imports."""
    dev = Path("/dev")
    return any(dev.glob("nvidia*")) or (dev / "dxg").exists() or (dev / "kfd").exists()


@lru_cache(maxsize=1)
def cuda_devices() -> tuple[CudaDevice, ...]:
    """The CUDA devices torch sees. Asked in a child process unless torch is loaded already: the
    server then never imports torch (~200 MB of its memory) nor initialises CUDA."""
    if importlib.util.find_spec("torch") is None or not _gpu_device_nodes():
        return ()
    if "torch" in sys.modules:
        found = torch_cuda_devices()
    else:
        probe = subprocess.run([sys.executable, "-c",
                                "import json; from studio.hardware import torch_cuda_devices as f; "
                                "print(json.dumps(f()))"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
        if probe.returncode != 0:
            raise RuntimeError(f"probing CUDA through torch failed: {probe.stderr.strip()[-500:]}")
        found = json.loads(probe.stdout.strip().splitlines()[-1])
    return tuple(CudaDevice(i, name, float(f"{cc[0]}.{cc[1]}"), memory) for i, (name, cc, memory) in enumerate(found))


def detect(workspace: Path) -> Hardware:
    mem = psutil.virtual_memory()
    workspace.mkdir(parents=True, exist_ok=True)
    return Hardware(cpu=_cpu_name(), cores=os.cpu_count() or 1, ram_bytes=mem.total,
                    ram_available_bytes=mem.available, disk_free_bytes=shutil.disk_usage(workspace).free,
                    cuda=cuda_devices())


def check(req: Requirements, hw: Hardware) -> str | None:
    """None when the requirements are met, else the reason they are not (and what to run instead)."""
    missing = [p for p in req.packages if importlib.util.find_spec(p) is None]
    if missing:
        return f"missing Python package(s): {', '.join(missing)}"
    instead = f"; run {req.emulated_alternative} instead" if req.emulated_alternative else ""
    cc = hw.best_compute_capability
    needs_gpu = req.cuda or not req.cpu_ok
    if needs_gpu and not hw.cuda:
        return f"{req.note or 'this'} needs an NVIDIA GPU with CUDA; none detected{instead}"
    if needs_gpu and req.min_compute_capability and cc < req.min_compute_capability:
        return (f"{req.note or 'this'} needs compute capability ≥ {req.min_compute_capability}; "
                f"the best GPU here has {cc}{instead}")
    if req.not_driven:
        return f"{req.not_driven}{instead}"
    if not needs_gpu and hw.cuda and req.gpu_min_compute_capability and cc < req.gpu_min_compute_capability:
        return (f"its CUDA kernels need compute capability ≥ {req.gpu_min_compute_capability}; the GPU here has "
                f"{cc} (hide it with CUDA_VISIBLE_DEVICES= to use the CPU backend)")
    return None


@dataclass(frozen=True)
class SupportRow:
    recipe: str
    mode: str
    requirements: Requirements
    reason: str | None  # None: runs here


def support_matrix(hw: Hardware) -> list[SupportRow]:
    """Every recipe and execution mode against this machine: the table the Hardware tab shows and
    preflight applies (both call `check` on the same declarations)."""
    from studio import recipes
    rows = []
    for name, entry in sorted(recipes.entries().items()):
        if entry.recipe is None:
            rows.append(SupportRow(name, "", Requirements(note=entry.import_error or ""), entry.import_error))
            continue
        for mode, options in entry.recipe.execution_modes():
            req = entry.recipe.requirements_for(options)
            rows.append(SupportRow(name, mode, req, check(req, hw)))
    return rows
