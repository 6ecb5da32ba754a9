"""Loaded into every Python process of a run whose PYTHONPATH starts here: writes each network
look-up and connection (and one line when the process starts) to the file $STUDIO_NETWORK_AUDIT, so
a test can prove that a run stayed off the network."""
import json
import os
import sys

_LOG = os.environ.get("STUDIO_NETWORK_AUDIT")
# event -> index of the address (connect, sendto) or host name (look-ups) among its arguments
_NETWORK = {"socket.connect": 1, "socket.sendto": 2, "socket.getaddrinfo": 0, "socket.gethostbyname": 0,
            "http.client.connect": 1}


def _program() -> list:
    """The command line (sys.argv lacks the module name of `python -m` while sitecustomize runs)."""
    with open("/proc/self/cmdline", "rb") as f:
        return [part.decode(errors="replace") for part in f.read().split(b"\0")[1:4]]


def _host(target) -> str:
    if isinstance(target, bytes) or (isinstance(target, str) and target.startswith("/")):
        return "unix"  # a Unix socket's path (an abstract one is bytes)
    if isinstance(target, tuple):
        return str(target[0])
    return "" if target is None else str(target)


def _write(entry: dict) -> None:
    with open(_LOG, "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "program": _program(), **entry}) + "\n")


def _audit(event: str, args: tuple) -> None:
    if event in _NETWORK:
        index = _NETWORK[event]
        _write({"event": event, "host": _host(args[index] if len(args) > index else None)})


if _LOG:
    _write({"event": "start"})
    sys.addaudithook(_audit)
