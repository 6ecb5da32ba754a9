"""llama.cpp's own `llama-perplexity`, built from the same source as the pinned llama-cpp-python.

The reference must run the same kernels as the studio, so it comes from the pinned release's sdist
(fetched with pip, as studio.llamacpp fetches the converter) and is built with cmake into
STUDIO_CACHE/bench once. A static binary, so the cached file needs nothing beside it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from studio.llamacpp import build_env, build_tag, file_lock, llama_cpp_version

CMAKE_OPTIONS = ("-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_CURL=OFF",
                 "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
                 "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_APP=OFF")


def bench_cache(cache_dir: Path) -> Path:
    return cache_dir / "bench"


def perplexity_binary(cache_dir: Path) -> Path:
    return bench_cache(cache_dir) / f"llama-perplexity-{llama_cpp_version()}-{build_tag()}"


def ensure_llama_perplexity(cache_dir: Path, log=print) -> Path:
    """Return the cached llama-perplexity binary, building it on first use (minutes on 2 cores)."""
    target = perplexity_binary(cache_dir)
    if target.exists():
        return target
    cmake = shutil.which("cmake", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if cmake is None:
        raise RuntimeError("cmake is needed to build the llama-perplexity reference (it is in requirements.txt)")
    work = bench_cache(cache_dir)
    work.mkdir(parents=True, exist_ok=True)
    with file_lock(work / "llama-perplexity.lock"):
        if target.exists():
            return target
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            source = _fetch_llama_cpp_source(Path(tmp))
            build = Path(tmp) / "build"
            log(f"building llama-perplexity {llama_cpp_version()} (first use only)")
            subprocess.run([cmake, "-S", str(source), "-B", str(build), *CMAKE_OPTIONS],
                           check=True, stdout=subprocess.DEVNULL, env=build_env())  # the wheel's flags
            subprocess.run([cmake, "--build", str(build), "--target", "llama-perplexity",
                            f"-j{os.cpu_count() or 2}"], check=True, stdout=subprocess.DEVNULL, env=build_env())
            staged = work / f"{target.name}.partial"
            shutil.copy2(build / "bin" / "llama-perplexity", staged)
            os.replace(staged, target)  # appears whole or not at all
    return target


def _fetch_llama_cpp_source(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                    f"llama-cpp-python=={llama_cpp_version()}", "-d", str(dest)], check=True)
    sdist = next(dest.glob("llama_cpp_python-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        tar.extractall(dest, filter="data")
    return next(dest.glob("llama_cpp_python-*/vendor/llama.cpp"))


if __name__ == "__main__":  # `python -m bench.reference_build`: build ahead of time
    from studio.config import Settings
    print(ensure_llama_perplexity(Settings.from_env().cache_dir))
