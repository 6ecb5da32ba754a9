"""The studio server's memory stays bounded when a script polls it: Gradio keeps state per session
and every headless API call is a new session (launch.py caps how many are kept)."""
from __future__ import annotations

import httpx
import psutil

from launch import SESSIONS_KEPT
from tests.fleet import Studio, free_port, jobs_tab_over_http


def test_polling_the_jobs_table_over_http_does_not_grow_the_server(workspace_env, tmp_path):
    port = free_port()
    studio = Studio.ui(workspace_env, tmp_path / "studio.log", port, workers=0)
    try:
        server = psutil.Process(studio.pid)
        with httpx.Client(base_url=studio.wait_serving(port), timeout=30) as client:
            for _ in range(SESSIONS_KEPT + 20):  # past the cap: from here old sessions make room
                jobs_tab_over_http(client)
            settled = server.memory_info().rss
            for _ in range(300):
                jobs_tab_over_http(client)
            grown = server.memory_info().rss - settled
    finally:
        studio.stop()
    print(f"RSS {settled / 1e6:.0f} MB after {SESSIONS_KEPT + 20} calls, {grown / 1e6:+.1f} MB over 300 more")
    assert grown < 20e6  # unbounded, 300 calls add ~75 MB (0.25 MB of component config per session)
