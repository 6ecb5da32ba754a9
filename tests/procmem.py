"""Peak anonymous memory of a child process, sampled from /proc (what rusage cannot give: its maximum RSS
counts the mapped files' pages too, which the kernel can evict)."""
from __future__ import annotations

import subprocess
import threading
from pathlib import Path


def rss_anon_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_anon_bytes(cmd: list[str], env: dict | None = None, timeout: float = 3600) -> int:
    """Run `cmd` to the end (it must succeed); the peak RssAnon seen, sampled every 10 ms. (bench's
    run_measured gives the maximum RSS instead, which counts mapped pages.)"""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample():
        while proc.poll() is None:
            try:
                peak[0] = max(peak[0], rss_anon_bytes(proc.pid))
            except (FileNotFoundError, ProcessLookupError):
                return
            threading.Event().wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate(timeout=timeout)
    sampler.join()
    assert proc.returncode == 0, err[-3000:]
    return peak[0]
