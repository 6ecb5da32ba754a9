"""What the studio's web server answers, decided before any route runs (plain ASGI, no Gradio).

- `HostCheck`: only requests whose `Host` names this server. Without it, a web page the user visits
  can rebind its own domain to 127.0.0.1 and call every endpoint as a same-origin page (DNS
  rebinding); Jupyter and other local servers check `Host` for the same reason. An IP literal is
  always accepted: rebinding needs a domain name.
- `LoginThrottle`: a few login attempts per second per client, so a password cannot be guessed fast.
"""
from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# The names (besides loopback and IP literals) a client may use: comma-separated, e.g. the name of a
# reverse proxy in front of the studio.
PUBLIC_HOSTS_ENV = "STUDIO_PUBLIC_HOSTS"


def allowed_host_names(bound_host: str, public_hosts: str = "") -> frozenset[str]:
    """Loopback names, the configured public names (as a user writes them: `proxy.example:8443`,
    `https://proxy.example`), the bound host, and on a wildcard bind this machine's own names."""
    names = {*LOOPBACK_NAMES, *(host_name(urlsplit(h if "//" in h else f"//{h}").netloc)
                                for h in public_hosts.split(",") if h.strip())}
    bound = host_name(bound_host) if bound_host.startswith("[") else bound_host.lower()
    names.add(bound)
    if bound in ("0.0.0.0", "::", ""):
        hostname = socket.gethostname().lower()  # no DNS lookup: the studio may be offline
        names |= {hostname, f"{hostname}.local"}
    return frozenset(names)


def host_name(header: str) -> str:
    """The name in a Host header, without port or IPv6 brackets, lower-cased."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


async def _refuse(scope, send, status: int, message: str, extra_headers: list | None = None) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
        return
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(extra_headers or [])]})
    await send({"type": "http.response.body", "body": body})


class HostCheck:
    def __init__(self, app, allowed: frozenset[str]):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        header = _header(scope, b"host")
        name = host_name(header) if header else ""
        if name in self.allowed or _is_ip_literal(name):
            return await self.app(scope, receive, send)
        shown = ", ".join(sorted(self.allowed))
        await _refuse(scope, send, 403, f"Host {header!r} is not a name this studio answers to ({shown}); "
                                        f"add it to {PUBLIC_HOSTS_ENV} if it is yours")


def client_key(address: str) -> str:
    """Whom a login attempt counts against: the address, or its /64 for IPv6 (one host holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


@dataclass
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class LoginThrottle:
    """A token bucket per client address for POST …/login: `burst` attempts at once, then `per_second`."""

    CLIENTS_KEPT = 10_000  # least recently seen first out: bounded memory under a spray of addresses

    def __init__(self, app, per_second: float = 2.0, burst: int = 5, clock=time.monotonic):
        self.app = app
        self.per_second, self.burst, self.clock = per_second, burst, clock
        self.buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _take(self, client: str) -> float:
        """0 when an attempt may go ahead now, else the seconds until one may."""
        now = self.clock()
        bucket = self.buckets.pop(client, None) or _Bucket(float(self.burst), now)
        self.buckets[client] = bucket
        if len(self.buckets) > self.CLIENTS_KEPT:
            self.buckets.popitem(last=False)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.per_second)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.per_second

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/login"):
            wait = self._take(client_key((scope.get("client") or ("?",))[0]))
            if wait:
                retry = str(max(1, round(wait)))
                return await _refuse(scope, send, 429, f"too many login attempts; try again in {retry} s",
                                     [(b"retry-after", retry.encode())])
        return await self.app(scope, receive, send)
