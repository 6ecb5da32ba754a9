"""The Ollama server, through the official `ollama` client, with errors a user can act on.

ollama 0.6.3 has no call for /api/version or HEAD /api/blobs, and its create_blob takes no progress
callback, so those three go through the client's own transport (`_request_raw`: the same session,
host parsing, headers and error mapping as every other call).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Iterator

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
    pass


def default_host() -> str:
    return os.environ.get("OLLAMA_HOST") or DEFAULT_HOST


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
    def __init__(self, host: str | None = None):
        self.host = host or default_host()
        # Uploads and first loads of big models are slow; a dead server still fails fast on connect.
        self.client = ollama.Client(host=self.host, timeout=httpx.Timeout(600.0, connect=5.0))

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ConnectionError, httpx.TransportError) as exc:
            raise self._down(exc) from None
        except ollama.ResponseError as exc:
            raise ServerError(f"the Ollama server at {self.host} answered: {exc.error}"
                              + (f" (HTTP {exc.status_code})" if exc.status_code > 0 else "")) from None

    def _down(self, exc: Exception) -> ServerDown:
        return ServerDown(f"no Ollama server answers at {self.host} ({type(exc).__name__}). Start it with "
                          "`ollama serve` (or open the Ollama app), or give the host where it runs "
                          "(--host / OLLAMA_HOST). Nothing was imported.")

    def version(self) -> str:
        return self._call(self.client._request_raw, "GET", "/api/version").json().get("version", "?")

    def has_blob(self, digest: str) -> bool:
        try:
            self._call(self.client._request_raw, "HEAD", f"/api/blobs/{digest}")
            return True
        except ServerError:
            return False

    def upload_blob(self, path: Path, digest: str, on_progress: Progress) -> bool:
        """Send the file as blob `digest` unless the server has it. True when bytes were sent."""
        if self.has_blob(digest):
            on_progress(1.0)
            return False
        try:
            with open(path, "rb") as f:
                self._call(self.client._request_raw, "POST", f"/api/blobs/{digest}",
                           content=_chunks(f, path.stat().st_size, on_progress))
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
            self._call(self.client.show, name)
            return True
        except ServerError as exc:
            if "not found" in str(exc):
                return False
            raise

    def create(self, name: str, files: dict[str, str], template: str | None, system: str | None,
               parameters: dict, on_status: Callable[[str], None]) -> None:
        """Create the model, passing each streamed status line on; raises if the stream ends in an error."""
        parts = self.client.create(model=name, files=files, template=template, system=system,
                                   parameters=parameters or None, stream=True)
        statuses = self._call(_follow, parts, on_status)
        if not statuses or statuses[-1] != "success":
            raise ServerError(f"the Ollama server at {self.host} ended `create` without success "
                              f"(last status: {statuses[-1] if statuses else None!r})")

    def chat(self, name: str, messages: list[dict], options: dict) -> str:
        response = self._call(self.client.chat, model=name, messages=messages, options=options, stream=False)
        return response.message.content or ""

    def show(self, name: str) -> dict:
        shown = self._call(self.client.show, name)
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
            self._call(self.client.delete, name)
            return True
        except ServerError as exc:
            if "not found" in str(exc):
                return False
            raise


def _follow(parts: Iterator, on_status: Callable[[str], None]) -> list[str]:
    """Consume a create stream (the requests happen here), passing each status line on as it arrives."""
    statuses = []
    for part in parts:
        status = part.status or ""
        on_status(status)
        statuses.append(status)
    return statuses


def _chunks(f, size: int, on_progress: Progress) -> Iterator[bytes]:
    sent = 0
    while chunk := f.read(CHUNK):
        sent += len(chunk)
        on_progress(sent / max(size, 1))
        yield chunk
