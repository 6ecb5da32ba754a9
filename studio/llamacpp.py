"""llama.cpp's own converter, tools and file facts, taken from the same release as llama-cpp-python.

The installed llama-cpp-python wheel has the quantizer and runtime but not `convert_hf_to_gguf.py`
nor the command-line tools. Its sdist carries the whole llama.cpp tree, so we fetch that sdist (same
version) with pip once, keep the converter, its `conversion/` package and `gguf-py` (run as a
subprocess), and build `llama-imatrix` and `llama-quantize` (the importance matrix, and quantizing
with it, are only reachable through them) with cmake into the same cache folder.
"""
from __future__ import annotations

import fcntl
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Iterator

CONVERTER_PARTS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")

# Intel's AMX tile instructions. -march=native compiles llama.cpp's AMX kernels in wherever the CPU
# advertises AMX, but some virtual machines advertise it without letting a process use it: every
# quantized matmul then dies with SIGILL at `tileloadd` (seen on this project's Sapphire Rapids CI
# machines). Every llama.cpp build the studio makes (the llama-cpp-python wheel, its tools, the
# bench's llama-perplexity) leaves them out; the AVX-512 VNNI kernels remain.
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


def compiler_flags() -> dict[str, str]:
    """CFLAGS/CXXFLAGS for building llama.cpp here (CMake takes them as its initial C/C++ flags)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return {}
    return {"CFLAGS": NO_AMX, "CXXFLAGS": NO_AMX}


def build_tag() -> str:
    """Names the build variant in cache folders, so builds with other flags are never mixed up."""
    return "no-amx" if compiler_flags() else "native"


def build_env() -> dict[str, str]:
    env = dict(os.environ)
    for name, flags in compiler_flags().items():
        env[name] = f"{env.get(name, '')} {flags}".strip()
    return env


def ensure_wheel(cache_dir: Path, requirement: str) -> Path:
    """Build the llama-cpp-python wheel (`llama-cpp-python==X`) with the studio's compiler flags once,
    into a folder of its own that `pip install --find-links` reads: pip's wheel cache keys builds by
    source alone, and would hand back a wheel built with other flags."""
    version = requirement.split("==", 1)[1].strip()
    target = cache_dir / "wheels" / f"llama-cpp-python-{version}-{build_tag()}"
    if any(target.glob("llama_cpp_python-*.whl")):
        return target
    with file_lock(cache_dir / "wheel.lock"):
        if any(target.glob("llama_cpp_python-*.whl")):
            return target
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            built = Path(tmp) / "wheel"
            subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w", str(built),
                            f"llama-cpp-python=={version}"], check=True, env=build_env(),
                           stdout=sys.stderr)  # stdout is the folder's name, for the Makefile
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(built, target)  # appears whole or not at all
    return target


def llama_cpp_version() -> str:
    return version("llama_cpp_python")


def converter_dir(cache_dir: Path) -> Path:
    return cache_dir / f"llama.cpp-{llama_cpp_version()}"


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (two jobs converting the same model, say)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_converter(cache_dir: Path) -> Path:
    """Return the folder holding convert_hf_to_gguf.py, fetching the sdist on first use."""
    target = converter_dir(cache_dir)
    if (target / "convert_hf_to_gguf.py").exists():
        return target
    with file_lock(cache_dir / "converter.lock"):
        if (target / "convert_hf_to_gguf.py").exists():
            return target
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            staging = Path(tmp) / "staging"
            _extract(_download_sdist(Path(tmp)), staging, CONVERTER_PARTS)
            os.replace(staging, target)  # appears whole or not at all
    return target


def _download_sdist(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                    f"llama-cpp-python=={llama_cpp_version()}", "-d", str(folder)], check=True)
    return next(folder.glob("llama_cpp_python-*.tar.gz"))


def _extract(sdist: Path, dest: Path, parts: tuple[str, ...] | None) -> None:
    """The sdist's vendored llama.cpp tree (only `parts`, when given) into dest."""
    prefix_re = re.compile(r"^[^/]+/vendor/llama\.cpp/")
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            rel = prefix_re.sub("", member.name, count=1)
            if rel == member.name or (parts and not rel.startswith(parts)) or not member.isfile():
                continue
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)


TOOLS = ("llama-imatrix", "llama-quantize")


def tools_dir(cache_dir: Path) -> Path:
    return converter_dir(cache_dir) / f"bin-{build_tag()}"


def ensure_tools(cache_dir: Path, log=print) -> Path:
    """Build llama.cpp's imatrix and quantize tools from the pinned release once; return their folder."""
    target = tools_dir(cache_dir)
    if all((target / t).exists() for t in TOOLS):
        return target
    with file_lock(cache_dir / "tools.lock"):
        if all((target / t).exists() for t in TOOLS):
            return target
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            src, build, staging = Path(tmp) / "src", Path(tmp) / "build", Path(tmp) / "bin"
            _extract(_download_sdist(Path(tmp)), src, None)
            cmake = shutil.which("cmake", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                                 os.environ.get("PATH", "")]))
            if cmake is None:
                raise RuntimeError("cmake is needed to build llama.cpp's tools (it is in requirements.txt)")
            log(f"building {', '.join(TOOLS)} from llama.cpp {llama_cpp_version()} (once per machine)")
            subprocess.run([cmake, "-S", str(src), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                            "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_SERVER=OFF",
                            "-DBUILD_SHARED_LIBS=OFF"], check=True, stdout=subprocess.DEVNULL, env=build_env())
            subprocess.run([cmake, "--build", str(build), "--config", "Release", "-j", str(os.cpu_count() or 1),
                            "--target", *TOOLS], check=True, stdout=subprocess.DEVNULL, env=build_env())
            staging.mkdir()
            for t in TOOLS:
                shutil.copy2(next(build.rglob(t)), staging / t)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, target)
    return target


def supported_architectures(cache_dir: Path) -> set[str]:
    """HF architecture names the converter registers (read from its source, nothing imported)."""
    conv = ensure_converter(cache_dir)
    names: set[str] = set()
    for py in (conv / "conversion").glob("*.py"):
        for args in re.findall(r"@ModelBase\.register\(([^)]*)\)", py.read_text()):
            names.update(re.findall(r'"([A-Za-z0-9_]+)"', args))
    return names


def convert_command(cache_dir: Path, model_dir: Path, outfile: Path, outtype: str = "f16") -> tuple[list[str], dict]:
    conv = ensure_converter(cache_dir)
    env = dict(os.environ, PYTHONPATH=str(conv / "gguf-py") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, str(conv / "convert_hf_to_gguf.py"), str(model_dir),
           "--outtype", outtype, "--outfile", str(outfile)]
    return cmd, env


if __name__ == "__main__":
    # At install time: `python -m studio.llamacpp wheel llama-cpp-python==X` builds the wheel and prints
    # its folder (before llama-cpp-python is installed); `python -m studio.llamacpp` then fetches the
    # converter and builds the tools.
    from studio.config import Settings
    cache = Settings.from_env().cache_dir
    cache.mkdir(parents=True, exist_ok=True)
    if sys.argv[1:2] == ["wheel"]:
        print(ensure_wheel(cache, sys.argv[2]))
    else:
        print(ensure_converter(cache))
        print(ensure_tools(cache))
