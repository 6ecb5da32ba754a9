"""Real processes for the reliability tests: a Redis broker, `python -m jobs.worker` consumers, the
studio itself (launch.py), and the waiting and process checks the tests share."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path


import jobs.queue
from studio import service
from studio.config import REPO_ROOT, Settings
from studio.storage import Job, Result, reading

# Cheap jobs on the tiny random llama: two 128-token chunks, one short generation.
CHEAP = {"n_ctx": 128, "max_chunks": 2, "prompts": ("Hello",), "max_new_tokens": 4}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def submit(settings: Settings, model: Path, recipe: str, eval_text: Path, **protocol) -> int:
    # The checkpoint comparison (a third evaluation pass) is not what these tests are about.
    request = service.JobRequest(model=str(model), recipes=(recipe,), eval_text=eval_text,
                                 overrides=(("gguf.checkpoint_kld", "false"),), **{**CHEAP, **protocol})
    return service.submit(settings, request, jobs.queue.enqueue)[0]


def job(settings: Settings, job_id: int) -> Job:
    with reading(settings.db_url) as s:
        return s.get(Job, job_id)


def wait_job(settings: Settings, job_id: int, predicate, timeout: float = 600.0, poll: float = 0.05) -> Job:
    """The job once `predicate` holds for it (a job another process has yet to create is waited for)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = job(settings, job_id)
        if current is not None and predicate(current):
            return current
        time.sleep(poll)
    raise AssertionError(f"job {job_id} stuck: {current}")


def settled(j: Job) -> bool:
    """Finished, and its supervisor has cleaned up after it (it clears the pid last)."""
    return j.state in ("done", "failed", "cancelled") and j.pid is None


def wait_finished(settings: Settings, job_ids: list[int], timeout: float = 900.0) -> list[Job]:
    return [wait_job(settings, i, settled, timeout, poll=0.5) for i in job_ids]


def results_of(settings: Settings) -> list[Result]:
    return service.results(settings)


def pid_alive(pid: int) -> bool:
    """Alive and not a zombie (a killed child stays a zombie until its parent reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# A cancel stops a job's processes in well under 2 s on an idle machine (the tests print what they measure);
# on a loaded one the SIGTERM grace and the scheduler stretch it. The ceiling catches a cancel that is
# not acted on at all, without failing on a busy machine.
CANCEL_CEILING_S = 5.0


def wait_gone(pids: list[int], timeout: float = 120.0) -> list[int]:
    """The pids still alive after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if pid_alive(p)]


def runner_pids(workspace: Path) -> list[int]:
    """Every job runner (and its children) working for this workspace, found through /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"STUDIO_WORKSPACE={workspace}\0".encode() in environ and b"jobs.worker" not in cmdline \
                and b"launch.py" not in cmdline and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return [p for p in found if p != os.getpid()]


def jobs_tab_over_http(client) -> tuple[float, str]:
    """One Jobs-tab refresh as the browser's 2-second timer makes it (call, then read the event
    stream): its seconds and the body."""
    t0 = time.perf_counter()
    event = client.post("/gradio_api/call/v2/refresh", json={"selected": None}).json()["event_id"]
    body = client.get(f"/gradio_api/call/refresh/{event}").text
    if "event: complete" not in body:
        raise AssertionError(f"the refresh endpoint failed: {body[:300]}")
    return time.perf_counter() - t0, body


class Studio:
    """A studio process (`launch.py`) or a worker (`python -m jobs.worker`) with its log in a file."""

    def __init__(self, cmd: list[str], env: dict, log: Path):
        self.log_path = log
        self._log = open(log, "ab")
        self.proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    @classmethod
    def worker(cls, env: dict, log: Path) -> "Studio":
        return cls([sys.executable, "-m", "jobs.worker"], env, log)

    @classmethod
    def ui(cls, env: dict, log: Path, port: int, workers: int = 2) -> "Studio":
        return cls([sys.executable, "launch.py", "--port", str(port), "--workers", str(workers)], env, log)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_line(self, text: str, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} from {self.proc.args}:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def wait_serving(self, port: int, timeout: float = 300.0) -> str:
        """The UI's base URL once it answers HTTP (it prints its address before Gradio listens)."""
        import urllib.request
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                return url
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the studio never served {url}:\n{self.output()[-3000:]}")
                time.sleep(0.2)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@contextmanager
def running(*processes: Studio):
    try:
        yield processes
    finally:
        for p in processes:
            p.stop()
