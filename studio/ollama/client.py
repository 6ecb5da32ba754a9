"""The Ollama server, through the official `ollama` client, with errors a user can act on.

ollama 0.6.3 has no call for /api/version or HEAD /api/blobs, and its create_blob takes no progress
callback, so those three go through the client's own transport (`_request_raw`: the same session,
host parsing, headers and error mapping as every other call).
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import ollama

DEFAULT_HOST = "http://127.0.0.1:11434"
CHUNK = 4 * 2**20
Progress = Callable[[float], None]


class OllamaError(Exception):
    """Something the user must know about an import; the message says what to do."""


class ServerDown(OllamaError):
    pass


class DigestMismatch(OllamaError):
    pass


class ModelExists(OllamaError):
    pass


class ServerError(OllamaError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status  # the HTTP status of Ollama's own reply (a 404 is its "not found")


class InvalidHost(ValueError):
    """The Ollama host is not a plain http(s)://host:port address; the message says what is wrong."""


class _ForeignReply(Exception):
    """Raised by the response hook: an error reply that is not Ollama's JSON."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


MAX_HOST_CHARS = 300
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_OTHER_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?!//|\d|$)")  # mailto:x, javascript:… (not host:port)
# Ollama's error replies are a short {"error": "..."}; anything larger is not one, and is not read.
MAX_ERROR_BYTES = 64 * 1024
# What the client raises on a reply that is not Ollama's JSON: HTML, a JSON list, fields of the wrong type.
_NOT_OLLAMA_JSON = (ValueError, TypeError, AttributeError)


def default_host() -> str:
    return os.environ.get("OLLAMA_HOST") or DEFAULT_HOST


def validate_host(host: str) -> str:
    """`host` as scheme://host:port when it is a plain http(s) address of a server; else InvalidHost saying
    why. As for the ollama CLI, no scheme means http and then no port means 11434."""
    text = (host or "").strip()
    if not text:
        raise InvalidHost("enter the Ollama host, e.g. http://127.0.0.1:11434")
    if len(text) > MAX_HOST_CHARS:
        raise InvalidHost(f"the Ollama host is {len(text)} characters long; an address has at most {MAX_HOST_CHARS}")
    if not text.isprintable() or " " in text:
        raise InvalidHost(f"the Ollama host {_clip(text)!r} holds spaces or control characters")
    given = "://" in text
    try:
        parts = urlsplit(text if given else f"http://{text}")
    except ValueError:  # an unclosed [IPv6 address
        raise InvalidHost(f"the Ollama host {text!r} has no valid host name or IP address") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or _OTHER_SCHEME.match(text):
        raise InvalidHost(f"the Ollama host {text!r} must start with http:// or https://")
    if "@" in parts.netloc:
        shown = urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))  # never echo a password
        raise InvalidHost(f"the Ollama host {shown!r} holds a user name or password; give only "
                          f"{scheme}://host:port (the studio sends no credentials)")
    if parts.path not in ("", "/") or "?" in text or "#" in text:
        raise InvalidHost(f"the Ollama host {text!r} has a path, query or fragment; give only {scheme}://host:port")
    return f"{scheme}://{_host_part(parts, text)}:{_port(parts, text, given)}"


def _host_part(parts, text: str) -> str:
    name = parts.hostname or ""
    try:
        address = ipaddress.ip_address(name)
        return f"[{address}]" if address.version == 6 else str(address)
    except ValueError:
        pass
    if parts.netloc.startswith("[") or not _HOSTNAME.fullmatch(name):
        raise InvalidHost(f"the Ollama host {text!r} has no valid host name or IP address")
    return name


def _port(parts, text: str, scheme_given: bool) -> int:
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port is None:
        return {"http": 80, "https": 443}[parts.scheme.lower()] if scheme_given else 11434
    if not 0 < port < 65536:
        raise InvalidHost(f"the Ollama host {text!r} has an invalid port (1 to 65535)")
    return port


def _clip(text, limit: int = 300) -> str:
    """Text from the server on one line and of bounded length, for a message or a log line."""
    flat = "".join(c if c.isprintable() else " " for c in str(text))
    return flat if len(flat) <= limit else flat[:limit] + "…"


def _refuse_foreign_errors(response: httpx.Response) -> None:
    """httpx response hook: an error reply passes on only as Ollama's JSON {"error": "..."}. Anything else
    (a proxy's HTML page, a redirect, another service's text) stops here, unread or unshown, so no message
    or log line can carry an arbitrary host's page."""
    if response.status_code < 300 or response.request.method == "HEAD":  # a HEAD reply has no body
        return
    if int(response.headers.get("content-length") or MAX_ERROR_BYTES + 1) > MAX_ERROR_BYTES:
        raise _ForeignReply(response.status_code)
    try:
        error = json.loads(response.read()).get("error")
    except _NOT_OLLAMA_JSON:
        error = None
    if not isinstance(error, str):
        raise _ForeignReply(response.status_code)


def file_digest(path: Path, on_progress: Progress | None = None) -> str:
    """sha256:<hex>, Ollama's blob name for these bytes."""
    total, done, sha = max(path.stat().st_size, 1), 0, hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            done += len(chunk)
            if on_progress:
                on_progress(done / total)
    return f"sha256:{sha.hexdigest()}"


class OllamaServer:
    def __init__(self, host: str | None = None, timeout: float = 600.0):
        self.host = validate_host(host or default_host())
        # Uploads and first loads of big models are slow; a dead server still fails fast on connect.
        # Redirects are not followed: an Ollama server never sends one, and following it would send the
        # upload to whatever address the reply names.
        self.client = ollama.Client(host=self.host, timeout=httpx.Timeout(timeout, connect=5.0),
                                    follow_redirects=False, event_hooks={"response": [_refuse_foreign_errors]})
        # The client adds $OLLAMA_API_KEY (an ollama.com key) to every request; this host may be anyone's.
        self.client._client.headers.pop("authorization", None)

    def _call(self, step: str, endpoint: str, fn, *args, **kwargs):
        """fn(*args, **kwargs), with every failure turned into a message naming the step, the endpoint and
        the HTTP status; of a reply's body only Ollama's own JSON `error` text is ever shown."""
        try:
            return fn(*args, **kwargs)
        except (ConnectionError, httpx.TransportError) as exc:
            raise self._down(step, exc) from None
        except _ForeignReply as exc:
            raise ServerError(f"{step} failed: {endpoint} on {self.host} answered HTTP {exc.status}, not with "
                              f"Ollama's JSON (is {self.host} an Ollama server, or a proxy in front of one?)") from None
        except ollama.ResponseError as exc:
            raise self._refused(step, endpoint, exc) from None
        except _NOT_OLLAMA_JSON as exc:
            raise ServerError(f"{step} failed: {endpoint} on {self.host} answered with something other than "
                              f"Ollama's JSON ({type(exc).__name__}); is {self.host} an Ollama server?") from None

    def _refused(self, step: str, endpoint: str, exc: ollama.ResponseError) -> ServerError:
        reason = f": {_clip(exc.error)}" if exc.error else ""
        if exc.status_code > 0:
            return ServerError(f"{step} failed: the Ollama server at {self.host} answered {endpoint} with HTTP "
                               f"{exc.status_code}{reason}", exc.status_code)
        return ServerError(f"{step} failed: the Ollama server at {self.host} reported an error during "
                           f"{endpoint}{reason}")  # an error line within a streamed reply

    def _down(self, step: str, exc: Exception) -> ServerDown:
        return ServerDown(f"{step} failed: no Ollama server answers at {self.host} ({type(exc).__name__}). Start "
                          "it with `ollama serve` (or open the Ollama app), or give the host where it runs "
                          "(--host / OLLAMA_HOST). Nothing was imported.")

    def version(self) -> str:
        def get():
            return self.client._request_raw("GET", "/api/version").json().get("version", "?")
        return _clip(self._call("connect", "GET /api/version", get), 80)

    def has_blob(self, digest: str) -> bool:
        try:
            self._call("upload", f"HEAD /api/blobs/{digest}", self.client._request_raw, "HEAD", f"/api/blobs/{digest}")
            return True
        except ServerError as exc:
            if exc.status == 404:
                return False
            raise

    def upload_blob(self, path: Path, digest: str, on_progress: Progress) -> bool:
        """Send the file as blob `digest` unless the server has it. True when bytes were sent."""
        if self.has_blob(digest):
            on_progress(1.0)
            return False
        try:
            with open(path, "rb") as f:
                self._call("upload", f"POST /api/blobs/{digest}", self.client._request_raw, "POST",
                           f"/api/blobs/{digest}", content=_chunks(f, path.stat().st_size, on_progress))
        except ServerError as exc:
            if "digest mismatch" in str(exc):
                raise DigestMismatch(
                    f"digest mismatch: the server received bytes whose sha256 is not {digest} — the upload was "
                    f"corrupted or {path.name} changed while it was sent. Nothing was created; import again. "
                    f"({exc})") from None
            raise
        return True

    def exists(self, name: str) -> bool:
        try:
            self._call("check the name", "POST /api/show", self.client.show, name)
            return True
        except ServerError as exc:
            if exc.status == 404:
                return False
            raise

    def create(self, name: str, files: dict[str, str], template: str | None, system: str | None,
               parameters: dict, on_status: Callable[[str], None]) -> None:
        """Create the model, passing each streamed status line on; raises if the stream ends in an error."""
        parts = self.client.create(model=name, files=files, template=template, system=system,
                                   parameters=parameters or None, stream=True)
        statuses = self._call("create", "POST /api/create", _follow, parts, on_status)
        if not statuses or statuses[-1] != "success":
            raise ServerError(f"create failed: the Ollama server at {self.host} ended POST /api/create without "
                              f"success (last status: {statuses[-1] if statuses else None!r})")

    def chat(self, name: str, messages: list[dict], options: dict) -> str:
        response = self._call("smoke test", "POST /api/chat", self.client.chat, model=name, messages=messages,
                              options=options, stream=False)
        return response.message.content or ""

    def show(self, name: str) -> dict:
        shown = self._call("show", "POST /api/show", self.client.show, name)
        info = shown.modelinfo or {}
        return {
            "parameters": shown.parameters, "template": shown.template, "modelfile": shown.modelfile,
            "details": shown.details.model_dump() if shown.details else {},
            "model_info": {k: v for k, v in info.items() if not isinstance(v, (list, dict)) and v is not None},
            "capabilities": list(shown.capabilities or []),
        }

    def delete(self, name: str) -> bool:
        """True when a model was deleted; False when there was none by that name."""
        try:
            self._call("delete", "DELETE /api/delete", self.client.delete, name)
            return True
        except ServerError as exc:
            if exc.status == 404:
                return False
            raise


def _follow(parts: Iterator, on_status: Callable[[str], None]) -> list[str]:
    """Consume a create stream (the requests happen here), passing each status line on as it arrives."""
    statuses = []
    for part in parts:
        status = _clip(part.status or "")
        on_status(status)
        statuses.append(status)
    return statuses


def _chunks(f, size: int, on_progress: Progress) -> Iterator[bytes]:
    sent = 0
    while chunk := f.read(CHUNK):
        sent += len(chunk)
        on_progress(sent / max(size, 1))
        yield chunk
