"""Child processes that die with their parent and can be stopped as a whole group."""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import time

_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl  # resolved before any fork
# The supervisor puts its pid here, so a runner can tell it was orphaned before it could arm PDEATHSIG.
SUPERVISOR_PID_ENV = "STUDIO_SUPERVISOR_PID"


def die_with_parent() -> None:
    """SIGKILL this process when the thread that started it ends; exit now if that already happened
    (the parent may have died while this process was still importing, and a subreaper adopted it)."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    expected = os.environ.get(SUPERVISOR_PID_ENV)
    if os.getppid() == 1 or (expected and os.getppid() != int(expected)):
        os._exit(1)


def _die_with_parent_in_child() -> None:
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(cmd: list[str], *, new_group: bool, env: dict | None = None, cwd: str | None = None,
          from_threaded_parent: bool = False) -> subprocess.Popen:
    """Start cmd with stdout+stderr merged into one pipe.

    From a single-threaded parent (the runner) the child is set to die with it before exec. A
    threaded parent (the supervisor) must not run Python between fork and exec, so there the child
    (jobs.runner) calls die_with_parent() itself.
    """
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, cwd=cwd, text=True, errors="replace", bufsize=1, start_new_session=new_group,
                            preexec_fn=None if from_threaded_parent else _die_with_parent_in_child)


def stop_group(proc: subprocess.Popen, grace: float = 1.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc.poll() is not None and not group_alive(proc.pid):
                return
            time.sleep(0.05)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        hint = " (out of memory?)" if -returncode == signal.SIGKILL else ""
        return f"killed (signal {-returncode}): {name}{hint}"
    return f"exited with status {returncode}"


# Free space below this when a job fails means the disk filled up: the error says so.
DISK_FULL_BYTES = 16 * 2**20


def disk_full_note(workspace) -> str | None:
    """'no space left on device …' when the workspace's disk is (nearly) full, else None. Checked when a
    job fails, since tools report a full disk in their own words (llama.cpp: "iostream error")."""
    free = shutil.disk_usage(workspace).free
    if free >= DISK_FULL_BYTES:
        return None
    return f"no space left on device ({free / 2**20:.1f} MiB free in {workspace}; free some and submit again)"
