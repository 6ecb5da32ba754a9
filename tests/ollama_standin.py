"""A stand-in Ollama server for tests: Ollama's HTTP API on 127.0.0.1, as the `ollama` client sees it.

No Ollama can be installed on the test machines, so this speaks the documented endpoints with the
server's own status lines and error texts (server/routes.go, server/create.go): HEAD/POST
/api/blobs/sha256:… (digest checked), streaming NDJSON /api/create, /api/show (with model_info),
/api/tags, /api/chat, /api/delete, /api/version. /api/chat really answers: the prompt is built from
the submitted TEMPLATE the way Ollama builds it, and the GGUF runs in llama-cpp-python.

`faults` makes it misbehave on purpose: "corrupt_upload" (a flipped byte in transit),
"fail_mid_create" (an error line before the manifest is written), "fail_after_manifest" (an error
line after the model was written, as when pruning old layers fails), "slow_create" (a minute between
writing the manifest and "success", to cancel an import mid-stream), "hold_chat" (/api/chat sets
`chat_started`, waits for `release_chat` and fails: to kill an import during its smoke test),
"proxy_page" (/api/create answers 502 with a proxy's HTML page), "web_page" (every request answers with
an HTML page, as a web server that is not Ollama does). Both pages hold PAGE_SECRET, which no message
or log line of the studio may repeat.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gguf import GGUFReader, GGUFValueType, LlamaFileType

from studio.ollama.gotemplate import GoTemplateError, chat_prompt, parse as parse_template

VERSION = "0.6.3-standin"
PAGE_SECRET = "internal-token-7f3a9c"
PAGE = ("<html><head><title>502 Bad Gateway</title></head>"
        f"<body><h1>Bad Gateway</h1><p>{PAGE_SECRET}</p></body></html>")
HOLD_SECONDS = 600  # bound on a held chat, should a test never release it
DIGEST = re.compile(r"^sha256[:-][0-9a-fA-F]{64}$")
NAME_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"
NAME = re.compile(rf"^(?:(?:[A-Za-z0-9_][A-Za-z0-9_.:-]*/)?[A-Za-z0-9_][A-Za-z0-9_-]{{0,79}}/)?"
                  rf"{NAME_PART}(?::{NAME_PART})?$")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _full_name(name: str) -> str:
    """The server's key for a name: registry.ollama.ai/library/model:latest, case-insensitive."""
    if name.rfind(":") <= name.rfind("/"):
        name += ":latest"
    parts = name.split("/")
    parts = ["registry.ollama.ai", "library"][: 3 - len(parts)] + parts
    return "/".join(parts).lower()


def _display(full: str) -> str:
    return full.removeprefix("registry.ollama.ai/").removeprefix("library/")


def _human_number(n: int) -> str:  # Ollama's format.HumanNumber
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.0f}{unit}" if value == int(value) else f"{value:.{1 if unit == 'B' else 2}f}{unit}"
    return str(n)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client the test killed: nobody to answer
            super().handle_error(request, client_address)


class OllamaStandIn:
    def __init__(self, root: Path):
        self.blobs = root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.models: dict[str, dict] = {}
        self.faults: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self.prompts: list[str] = []  # every prompt /api/chat ran, as the model saw it
        self._llamas: dict[str, object] = {}
        self._chat_lock = threading.Lock()
        self.chat_started, self.release_chat = threading.Event(), threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "OllamaStandIn":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release_chat.set()
        self._server.shutdown()
        self._server.server_close()

    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest.replace(":", "-")

    # -- endpoint logic; each returns (status, body) or yields NDJSON parts ----------------------
    def create(self, req: dict):
        name = req.get("model") or req.get("name") or ""
        files = req.get("files") or {}
        yield {"status": "parsing GGUF"}
        if not files:
            yield {"error": "neither 'from' or 'files' was specified"}
            return
        digest = next(iter(files.values()))
        blob = self.blob_path(digest)
        if not blob.exists():
            yield {"error": f"open {blob}: no such file or directory"}
            return
        with open(blob, "rb") as f:
            magic = f.read(4)
        if magic != b"GGUF":
            yield {"error": "supplied file was not in GGUF format"}
            return
        template = req.get("template") or "{{ .Prompt }}"
        try:
            parse_template(template)
        except GoTemplateError as exc:
            yield {"error": f"template error: {exc}"}
            return
        yield {"status": f"using existing layer {digest}"}
        for kind, value in (("template", req.get("template")), ("system", req.get("system")),
                            ("params", req.get("parameters"))):
            if value:
                layer = hashlib.sha256(json.dumps(value).encode()).hexdigest()
                yield {"status": f"creating new layer sha256:{layer}"}
        if "fail_mid_create" in self.faults:
            yield {"error": "write /root/.ollama/models/blobs/sha256-partial: no space left on device"}
            return
        yield {"status": "writing manifest"}
        self.models[_full_name(name)] = {"digest": digest, "template": template, "system": req.get("system") or "",
                                         "parameters": req.get("parameters") or {}, "modified_at": _now(),
                                         "size": blob.stat().st_size, **self._gguf_facts(blob)}
        if "slow_create" in self.faults:
            time.sleep(60)
        if "fail_after_manifest" in self.faults:
            yield {"error": "remove /root/.ollama/models/blobs/sha256-old: permission denied"}
            return
        yield {"status": "success"}

    def _gguf_facts(self, blob: Path) -> dict:
        reader = GGUFReader(str(blob))
        info = {}
        for key, field in reader.fields.items():
            if key.startswith("GGUF."):
                continue
            info[key] = None if field.types[0] == GGUFValueType.ARRAY else field.contents()
        n_params = sum(int(t.n_elements) for t in reader.tensors)
        info["general.parameter_count"] = n_params
        arch = info.get("general.architecture", "")
        file_type = LlamaFileType(info.get("general.file_type", 0)).name.removeprefix("MOSTLY_")
        details = {"parent_model": "", "format": "gguf", "family": arch, "families": [arch],
                   "parameter_size": _human_number(n_params), "quantization_level": file_type}
        return {"model_info": info, "details": details}

    def show(self, name: str) -> tuple[int, dict]:
        model = self.models.get(_full_name(name))
        if model is None:
            return 404, {"error": f"model '{name}' not found"}
        params = [f"{k:<30} {json.dumps(v)}" for k, vs in model["parameters"].items()
                  for v in (vs if isinstance(vs, list) else [vs])]
        modelfile = ["# Modelfile generated by \"ollama show\"", f"FROM {self.blob_path(model['digest'])}",
                     f'TEMPLATE """{model["template"]}"""']
        if model["system"]:
            modelfile.append(f'SYSTEM """{model["system"]}"""')
        modelfile += [f"PARAMETER {p}" for p in params]
        return 200, {"license": "", "modelfile": "\n".join(modelfile) + "\n", "parameters": "\n".join(params),
                     "template": model["template"], "system": model["system"], "details": model["details"],
                     "model_info": model["model_info"], "capabilities": ["completion"],
                     "modified_at": model["modified_at"]}

    def tags(self) -> dict:
        return {"models": [{"name": _display(full), "model": _display(full), "modified_at": m["modified_at"],
                            "size": m["size"], "digest": m["digest"].split(":")[1], "details": m["details"]}
                           for full, m in self.models.items()]}

    def delete(self, name: str) -> tuple[int, dict | None]:
        if self.models.pop(_full_name(name), None) is None:
            return 404, {"error": f"model '{name}' not found"}
        return 200, None

    def chat(self, req: dict) -> tuple[int, dict]:
        name = req.get("model", "")
        model = self.models.get(_full_name(name))
        if model is None:
            return 404, {"error": f'model "{name}" not found, try pulling it first'}
        if "hold_chat" in self.faults:  # the test kills the import meanwhile: nobody waits for an answer
            self.chat_started.set()
            self.release_chat.wait(HOLD_SECONDS)
            return 500, {"error": "the stand-in held this chat and was released"}
        options = {**{k: v for k, v in model["parameters"].items()}, **(req.get("options") or {})}
        prompt = chat_prompt(model["template"], req.get("messages") or [], model["system"])
        with self._chat_lock:
            self.prompts.append(prompt)
            answer, n_prompt, n_eval = self._generate(model["digest"], prompt, options)
        return 200, {"model": name, "created_at": _now(), "message": {"role": "assistant", "content": answer},
                     "done": True, "done_reason": "stop", "prompt_eval_count": n_prompt, "eval_count": n_eval}

    def _generate(self, digest: str, prompt: str, options: dict) -> tuple[str, int, int]:
        from llama_cpp import Llama

        if digest not in self._llamas:
            # One thread: on a busy 2-core machine llama.cpp's spinning worker threads slow a 135M model 100-fold.
            self._llamas[digest] = Llama(model_path=str(self.blob_path(digest)), n_ctx=2048, n_threads=1,
                                         n_threads_batch=1, verbose=False)
        llm = self._llamas[digest]
        llm.reset()
        # As Ollama's runner: special tokens in the prompt are parsed, BOS added if the vocabulary says so.
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        out = llm.create_completion(tokens, max_tokens=int(options.get("num_predict", 128)),
                                    temperature=float(options.get("temperature", 0.8)),
                                    seed=int(options.get("seed", 0)), stop=list(options.get("stop", [])))
        return out["choices"][0]["text"], len(tokens), out["usage"]["completion_tokens"]

    def receive_blob(self, digest: str, chunks) -> tuple[int, dict | None]:
        if not DIGEST.match(digest):
            return 400, {"error": "invalid digest format"}
        target = self.blob_path(digest)
        if target.exists():
            for _ in chunks:  # drain the body so the connection stays usable
                pass
            return 200, None
        sha, partial = hashlib.sha256(), target.with_suffix(".partial")
        with open(partial, "wb") as f:
            for i, chunk in enumerate(chunks):
                if i == 0 and "corrupt_upload" in self.faults:
                    chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                sha.update(chunk)
                f.write(chunk)
        got = f"sha256:{sha.hexdigest()}"
        if got != digest.replace("-", ":", 1):
            partial.unlink()
            return 400, {"error": f"digest mismatch, expected {json.dumps(digest)}, got {json.dumps(got)}"}
        partial.replace(target)
        return 201, None


def _handler(standin: OllamaStandIn):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet: tests read `standin.requests` instead
            pass

        def _record(self):
            standin.requests.append((self.command, self.path))

        def _body_chunks(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return
                    yield self.rfile.read(size)
                    self.rfile.readline()
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                remaining -= len(chunk)
                yield chunk

        def _json_body(self) -> dict:
            raw = b"".join(self._body_chunks())
            return json.loads(raw) if raw else {}

        def _send(self, status: int, body, content_type="application/json; charset=utf-8"):
            data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _stream(self, parts):
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in parts:
                line = json.dumps(part).encode() + b"\n"
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        def _web_page(self) -> bool:
            """The "web_page" fault: answer like a web server that is not Ollama (GET 200, else 404)."""
            if "web_page" not in standin.faults:
                return False
            if self.command in ("POST", "DELETE"):
                b"".join(self._body_chunks())  # read the request, so the reply reaches the client
            self._send(200 if self.command == "GET" else 404, PAGE.encode(), "text/html")
            return True

        def do_GET(self):
            self._record()
            if self._web_page():
                return
            if self.path == "/":
                self._send(200, b"Ollama is running", "text/plain; charset=utf-8")
            elif self.path == "/api/version":
                self._send(200, {"version": VERSION})
            elif self.path == "/api/tags":
                self._send(200, standin.tags())
            else:
                self._send(404, b"404 page not found", "text/plain")

        def do_HEAD(self):
            self._record()
            digest = self.path.removeprefix("/api/blobs/")
            if not self.path.startswith("/api/blobs/") or not DIGEST.match(digest):
                self._send(400, None)
            else:
                self._send(200 if standin.blob_path(digest).exists() else 404, None)

        def do_POST(self):
            self._record()
            if self._web_page():
                return
            if self.path.startswith("/api/blobs/"):
                self._send(*standin.receive_blob(self.path.removeprefix("/api/blobs/"), self._body_chunks()))
                return
            req = self._json_body()
            if self.path == "/api/create":
                name = req.get("model") or req.get("name") or ""
                if "proxy_page" in standin.faults:
                    self._send(502, PAGE.encode(), "text/html")
                elif not NAME.match(name):
                    self._send(400, {"error": "invalid model name"})
                elif req.get("stream", True):
                    self._stream(standin.create(req))
                else:
                    parts = list(standin.create(req))
                    last = parts[-1]
                    self._send(500 if "error" in last else 200, last)
            elif self.path == "/api/show":
                self._send(*standin.show(req.get("model") or req.get("name") or ""))
            elif self.path == "/api/chat":
                status, body = standin.chat(req)
                if status == 200 and req.get("stream", True):
                    self._stream([body])
                else:
                    self._send(status, body)
            else:
                self._send(404, b"404 page not found", "text/plain")

        def do_DELETE(self):
            self._record()
            if self._web_page():
                return
            if self.path != "/api/delete":
                self._send(404, b"404 page not found", "text/plain")
                return
            self._send(*standin.delete(self._json_body().get("model") or ""))

    return Handler


# -- something to import: a real SmolLM2-135M Q4_K_M GGUF stored as a studio result ----------------
def smollm2_q4_k_m(cache: Path) -> Path:
    """SmolLM2-135M-Instruct as Q4_K_M, quantized with llama.cpp from the packaged GGUF, once per machine.

    Made here rather than through the quantization pipeline so the import tests exercise the import only.
    """
    import ctypes

    import llama_cpp

    from studio.llamacpp import file_lock
    from tests.models import smollm2_gguf

    target = cache / "smollm2-135m-instruct-Q4_K_M.gguf"
    with file_lock(cache / "smollm2-q4km.lock"):
        if not target.exists():
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype, params.allow_requantize = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M, True
            partial = target.with_suffix(".partial")
            rc = llama_cpp.llama_model_quantize(str(smollm2_gguf()).encode(), str(partial).encode(),
                                                ctypes.byref(params))
            assert rc == 0, f"llama_model_quantize failed with code {rc}"
            partial.replace(target)
    return target


def store_gguf_result(settings, artifact: Path, base_artifact: Path, recipe: str = "gguf:Q4_K_M") -> int:
    """A Result row (and its base row) for an existing GGUF, as the quantization runner stores them."""
    from studio.storage import Result, session

    common = dict(model=str(artifact.parent / "smollm2-135m-instruct"), model_key="smollm2-test", family="gguf",
                  base_key="gguf:smollm2-test:text:ctx512:chunks1:llama.cpp-test", n_params=134_515_008, nll_sum=0.0,
                  n_ctx=512,
                  n_chunks=1, n_tokens_scored=256, prefill_tok_s=0.0, decode_tok_s=0.0, peak_rss_bytes=0,
                  eval_text_sha="text")
    with session(settings.db_url) as s:
        base = Result(recipe="gguf:base (F16)", is_base=True, artifact=str(base_artifact), ppl=20.0, bpw=16.0,
                      size_bytes=base_artifact.stat().st_size, **common)
        result = Result(recipe=recipe, recipe_name="gguf", artifact=str(artifact), ppl=22.0, bpw=6.17,
                        size_bytes=artifact.stat().st_size, tensor_types={"q4_K": 91}, **common)
        s.add_all([base, result])
        s.commit()
        return result.id
