"""The studio server with and without work: its own RSS (jobs are subprocesses, so they should not
show in it) and the latency of the Jobs tab's refresh endpoint over HTTP, in windows that alternate
idle / two jobs running. Goals: RSS < 400 MB and unchanged by jobs; p95 < 200 ms with jobs running."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
import psutil

from bench.measure import Figure, median
from studio import service
from studio.config import REPO_ROOT, Settings
from tests.fleet import jobs_tab_over_http

BUSY_RECIPES = ("gguf:Q4_K_M", "gguf:Q8_0")
BUSY_CHUNKS = 40  # long enough that both jobs are still evaluating when a window ends
MB = 1e6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def studio_server(ws, port: int):
    proc = subprocess.Popen([sys.executable, "launch.py", "--port", str(port), "--workers", "2"], env=ws.env,
                            cwd=str(REPO_ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/", proc)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_until_up(url: str, proc, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the studio server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the studio server did not start within 3 minutes")


def refresh_latency(client: httpx.Client) -> float:
    """One Jobs-table refresh as the browser's timer makes it: call, then read the event stream."""
    return jobs_tab_over_http(client)[0]


def window(client, server: psutil.Process, requests: int) -> tuple[list[float], list[int]]:
    latencies, rss = [], []
    for _ in range(requests):
        latencies.append(refresh_latency(client))
        rss.append(server.memory_info().rss)
        time.sleep(0.1)
    return latencies, rss


def start_busy_jobs(ws, settings: Settings) -> list[int]:
    subprocess.run(ws.cli("quantize", "--model", str(ws.model), *(a for r in BUSY_RECIPES for a in ("--recipe", r)),
                          "--eval-text", str(ws.text), "--max-chunks", str(BUSY_CHUNKS)),
                   env=ws.env, cwd=str(REPO_ROOT), check=True, capture_output=True)
    jobs = service.list_jobs(settings, limit=len(BUSY_RECIPES))
    _wait_for(settings, [j.id for j in jobs], lambda j: j.state == "running" and j.stage in ("quantize", "evaluate"))
    return [j.id for j in jobs]


def stop_jobs(ws, settings: Settings, job_ids: list[int]) -> None:
    for job_id in job_ids:
        subprocess.run(ws.cli("cancel", str(job_id)), env=ws.env, cwd=str(REPO_ROOT), check=True, capture_output=True)
    _wait_for(settings, job_ids, lambda j: j.state in ("done", "failed", "cancelled"))


def _wait_for(settings: Settings, job_ids: list[int], ready, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [j for j in service.list_jobs(settings) if j.id in job_ids]
        if all(ready(j) for j in jobs):
            return
        time.sleep(0.25)
    raise RuntimeError(f"jobs {job_ids} did not reach the expected state in {timeout:.0f} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def benchmark(ws, sizes, log) -> list[Figure]:
    settings = Settings.from_env(ws.root)
    port = free_port()
    idle_lat, busy_lat, idle_rss, busy_rss = [], [], [], []  # one list per window
    with studio_server(ws, port) as proc, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        server = psutil.Process(proc.pid)
        window(client, server, 5)  # first requests warm the server up; not counted
        for rep in range(sizes.repetitions):
            for latencies, rss, busy in ((idle_lat, idle_rss, False), (busy_lat, busy_rss, True)):
                job_ids = start_busy_jobs(ws, settings) if busy else []
                lat, sampled = window(client, server, sizes.ui_requests)
                latencies.append(lat)
                rss.append(sampled)
                stop_jobs(ws, settings, job_ids)
            log(f"  server rep {rep + 1}/{sizes.repetitions}: p95 idle {1000 * percentile(idle_lat[-1], 0.95):.0f} ms, "
                f"busy {1000 * percentile(busy_lat[-1], 0.95):.0f} ms; RSS idle {median(idle_rss[-1]) / MB:.0f} MB, "
                f"busy {median(busy_rss[-1]) / MB:.0f} MB")
    return [_footprint(idle_rss, busy_rss, sizes), _latency(_flat(idle_lat), _flat(busy_lat), sizes)]


def _flat(windows: list[list]) -> list:
    return [x for w in windows for x in w]


def _footprint(idle_rss: list[list[int]], busy_rss: list[list[int]], sizes) -> Figure:
    """Jobs against no jobs, window by window (each busy window against the idle one just before it),
    so that a server growing over the run does not read as the jobs' doing; the growth is reported."""
    ratios = [median(b) / median(i) for i, b in zip(idle_rss, busy_rss)]
    peak = max(_flat(idle_rss) + _flat(busy_rss))
    growth = (median(idle_rss[-1]) - median(idle_rss[0])) / (len(idle_rss) - 1) if len(idle_rss) > 1 else 0.0
    return Figure(
        name="server footprint",
        a=(f"studio server RSS with 2 jobs running: median {median(_flat(busy_rss)) / MB:.0f} MB, "
           f"max {peak / MB:.0f} MB"),
        b=(f"same server idle: median {median(_flat(idle_rss)) / MB:.0f} MB, "
           f"first window {median(idle_rss[0]) / MB:.0f} MB"),
        ratio=median(ratios), goal="< 400 MB, and unchanged by jobs (≤ 1.05×)",
        met=peak < 400 * MB and median(ratios) <= 1.05,
        spread=f"{min(ratios):.3f}–{max(ratios):.3f} (n={len(ratios)} window pairs)",
        note=f"launch.py --workers 2; {sizes.repetitions} idle / busy windows alternating; the jobs are "
             f"{' and '.join(BUSY_RECIPES)} on SmolLM2-135M (subprocesses, not counted). The idle RSS grows by "
             f"{growth / MB:.1f} MB per idle + busy cycle ({sizes.ui_requests} refreshes and 2 jobs each).",
        details={"idle_rss_bytes": idle_rss, "busy_rss_bytes": busy_rss, "growth_per_cycle_bytes": growth})


def _latency(idle: list[float], busy: list[float], sizes) -> Figure:
    p95_busy, p95_idle = percentile(busy, 0.95), percentile(idle, 0.95)
    return Figure(
        name="UI responsiveness",
        a=f"Jobs refresh with 2 jobs running: p50 {1000 * median(busy):.0f} ms, p95 {1000 * p95_busy:.0f} ms",
        b=f"same endpoint idle: p50 {1000 * median(idle):.0f} ms, p95 {1000 * p95_idle:.0f} ms",
        ratio=p95_busy / p95_idle, goal="p95 < 200 ms with jobs running", met=p95_busy < 0.2,
        spread=f"busy {1000 * min(busy):.0f}–{1000 * max(busy):.0f} ms, idle {1000 * min(idle):.0f}–"
               f"{1000 * max(idle):.0f} ms (n={len(busy)} + {len(idle)})",
        note="POST /gradio_api/call/v2/refresh then read its event stream, as the tab's 2-second timer does; "
             f"{sizes.ui_requests} sequential requests per window, {sizes.repetitions} windows of each.",
        details={"idle_s": idle, "busy_s": busy})
