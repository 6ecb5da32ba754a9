"""The serving check: a result's artifact loaded in vLLM's CPU build, scored on the studio's own chunks and asked the
job's prompts, beside the studio's figures for the same row.

vLLM reads the folder it would serve: the artifact itself where vLLM reads its format (GPTQ, AWQ, bitsandbytes),
else the artifact's compressed-tensors export (the studio's own formats), written into the artifact's folder. vLLM
runs in its own environment and process (studio.serving.vllm_env, vllm_probe.py); it gets the token ids and
returns log-probabilities and token ids, so its perplexity comes from the same tokens and the same arithmetic as
the studio's. A format vLLM's CPU build has no kernel for is refused by vLLM itself: its reason is kept, with what
a GPU needs to run it.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import psutil

from studio.evaluation.protocol import Protocol
from studio.serving import vllm_env
from studio.serving.forms import EXPORT_FOLDER, ServingForm, serve_command

PROBE = Path(__file__).with_name("vllm_probe.py")
ENGINE = f"vLLM {vllm_env.VLLM_VERSION} (CPU build)"
# vLLM's CPU int8 and 4-bit kernels take 16-bit activations only (GPTQ and AWQ refuse float32). The checkpoint's own
# 16-bit type (config.json; not the artifact's, which GPTQModel writes as bfloat16), float16 unless it is bfloat16:
# float16's 10-bit mantissa keeps vLLM's GPTQ perplexity within 0.02 % of the studio's float32 one on SmolLM2, where
# bfloat16 moved it by 2.6 % (the kernel expands the weights into bfloat16: 8-bit scales), the checkpoint by 0.2 %.
# Loading and compiling nothing (enforce_eager) takes ~40 s for a 135 M model here; scoring runs at the speed of
# a bf16 forward pass. A check that has not finished in this long is stopped and reported as not finishing (vLLM
# CPU's per-channel FP8 path does this: seconds per GEMM).
BASE_TIMEOUT_S = 600.0
TIMEOUT_S_PER_GPARAM_TOKEN = 0.05
# vLLM's own words for why it stopped: the first error line its engine printed, past the generic ones.
ERROR_LINE = re.compile(r"\b(\w*Error|\w*Exception): (.+)")
NATIVE_ERROR = re.compile(r"^\s*what\(\):\s+(.+)")  # how libstdc++ prints an uncaught exception's message
LOADED = "@vllm-loaded"  # the probe's line once vLLM has loaded the model
GENERIC = ("Engine core initialization failed", "EngineCore failed to start", "WorkerProc initialization failed",
           "EngineCore encountered an issue")


@dataclass
class ServingCheck:
    """What a serving engine made of a result (stored as Result.serving)."""
    engine: str
    loads: bool
    served: str  # the folder the engine read
    scheme: str  # what it read, in words
    command: str  # how a user serves it
    gpu_needs: str
    dtype: str  # the activations' type vLLM ran
    reason: str | None = None  # why it did not load or run, in the engine's words
    ppl: float | None = None
    studio_ppl: float | None = None
    base_ppl: float | None = None  # the checkpoint in vLLM, same type and chunks
    studio_base_ppl: float | None = None
    n_tokens_scored: int = 0
    generations_agree: list[int] = field(default_factory=list)  # leading tokens equal to the studio's, per prompt
    generations_compared: list[int] = field(default_factory=list)  # tokens compared, per prompt
    peak_bytes: int | None = None  # vLLM's processes' anonymous memory at its peak, serving the result
    seconds: float = 0.0

    @property
    def ppl_gap_pct(self) -> float | None:
        if self.ppl is None or not self.studio_ppl:
            return None
        return 100.0 * (self.ppl - self.studio_ppl) / self.studio_ppl

    @property
    def format_gap_pct(self) -> float | None:
        """How much more (or less) the format costs in vLLM than in the studio: its perplexity ratio to its base in
        each engine, compared. The engines' own precision (vLLM's 16-bit activations, the studio's float32) cancels."""
        if None in (self.ppl, self.base_ppl, self.studio_ppl, self.studio_base_ppl):
            return None
        return 100.0 * ((self.ppl / self.base_ppl) / (self.studio_ppl / self.studio_base_ppl) - 1)

    def as_dict(self) -> dict:
        return {**asdict(self), "ppl_gap_pct": self.ppl_gap_pct, "format_gap_pct": self.format_gap_pct}


@dataclass(frozen=True)
class CheckRequest:
    """What the check scores: the row's artifact and figures, the job's tokens, protocol and prompts."""
    artifact: Path
    form: ServingForm
    tokenizer: Path
    tokens_path: Path
    bos: int | None
    protocol: Protocol
    prompts: list[str]
    max_new_tokens: int
    studio_ppl: float
    studio_base_ppl: float | None  # the base row's, on the same chunks
    studio_generations: list[str]
    checkpoint: Path  # the base vLLM scores too
    model_cache: Path  # where vLLM's base figures are kept
    n_params: int
    work_dir: Path


def run_check(request: CheckRequest, cache_dir: Path, run: Callable[..., None],
              log: Callable[[str], None]) -> ServingCheck:
    """Export when the format needs it, build vLLM's environment when the machine has none, and check.
    `run(cmd, env=…, on_line=…)` runs a command streaming its output to the job's log (the runner's run_logged)."""
    t0 = time.monotonic()
    folder, scheme, activations, refusal = _served_folder(request, log)
    dtype = _dtype(request.checkpoint, activations)
    check = ServingCheck(engine=ENGINE, loads=False, served=str(folder), scheme=scheme, dtype=dtype,
                         command=serve_command(folder, request.form, dtype),
                         gpu_needs=request.form.gpu_needs,
                         studio_ppl=request.studio_ppl, studio_base_ppl=request.studio_base_ppl, reason=refusal)
    if refusal is None:
        try:
            python = vllm_env.ensure(cache_dir, log)
        except vllm_env.BuildError as exc:
            check.reason = str(exc)
        else:
            _probe(check, request, folder, python, run)
    check.seconds = time.monotonic() - t0
    if check.ppl is None:
        log(f"vLLM does not run {folder.name} here: {check.reason}")
    else:
        gap = check.format_gap_pct
        against_base = "" if gap is None else f"; against each engine's checkpoint {gap:+.2f} %"
        log(f"vLLM runs {folder.name}: perplexity {check.ppl:.4f} vs the studio's {check.studio_ppl:.4f} "
            f"({check.ppl_gap_pct:+.2f} %{against_base})")
    return check


def _served_folder(request: CheckRequest, log: Callable[[str], None]) -> tuple[Path, str, bool, str | None]:
    """The folder vLLM reads, what it holds, whether its activations are quantized too, and why there is none (a
    format compressed-tensors does not define)."""
    from studio.serving import compressed_tensors_export as ct
    if not request.form.export:
        return request.artifact, _config_scheme(request.artifact), False, None
    out = request.artifact / EXPORT_FOLDER
    shutil.rmtree(out.with_name(out.name + ".partial"), ignore_errors=True)  # an export cut off by a cancel
    try:
        scheme, _, activations = ct.describe(request.artifact)
        if not out.exists():
            log(f"writing the compressed-tensors export to {out}")
            ct.export_compressed_tensors(request.artifact, out)
    except ct.ExportError as exc:
        return out, "no compressed-tensors form", False, f"not exported: {exc}"
    return out, f"compressed-tensors {scheme}", activations, None


def _dtype(folder: Path, activations: bool) -> str:
    if activations:  # vLLM CPU's int8 GEMM takes bfloat16 only (float16: "scale_C: scalar path not implemented")
        return "bfloat16"
    config = json.loads((folder / "config.json").read_text())
    return "bfloat16" if (config.get("dtype") or config.get("torch_dtype")) == "bfloat16" else "float16"


def _config_scheme(folder: Path) -> str:
    config = json.loads((folder / "config.json").read_text()).get("quantization_config") or {}
    method = config.get("quant_method", "none")
    details = ", ".join(f"{k} {config[k]}" for k in ("bits", "group_size", "sym", "zero_point") if k in config)
    return f"{method} ({details})" if details else method


def _probe(check: ServingCheck, request: CheckRequest, folder: Path, python: Path, run: Callable[..., None]) -> None:
    chunks, first = _chunks(request)
    from transformers import AutoTokenizer

    from studio.evaluation.torch_backend import prompt_ids
    tok = AutoTokenizer.from_pretrained(str(request.tokenizer), trust_remote_code=False)  # loaded once, used twice
    prompts = [prompt_ids(tok, p) for p in request.prompts]
    with TreePeak() as peak:
        result, reason = _run_probe(python, run, request, {
            "model": str(folder), "quantization": request.form.quantization, "dtype": check.dtype, "chunks": chunks,
            "first_scored": first, "prompts": prompts, "max_new_tokens": request.max_new_tokens})
    check.peak_bytes = peak.bytes
    if result is None:
        check.reason = reason
        return
    check.ppl, check.n_tokens_scored = _perplexity(result)
    check.loads = True
    check.generations_agree, check.generations_compared = _agreement(tok, request, result["generations"])
    check.engine = f"vLLM {result['vllm_version']} (CPU build)"
    check.base_ppl = _base_perplexity(python, run, request, check.dtype, chunks, first)


class TreePeak:
    """The peak of the anonymous memory (RssAnon, summed) of the probe's process and its descendants, sampled every
    50 ms while in use: vLLM's driver, engine core and worker processes (not torch's compile workers, which a job's
    process may have started earlier, nor anything else of the job's)."""

    def __enter__(self) -> TreePeak:
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.05):
            total = 0
            for probe in _probes(me.children(recursive=True)):
                for process in [probe, *_descendants(probe)]:
                    try:
                        total += _rss_anon(process.pid)
                    except OSError:  # ended meanwhile
                        continue
            self.bytes = max(self.bytes, total)


def _probes(processes: list) -> list:
    found = []
    for process in processes:
        try:
            if str(PROBE) in process.cmdline() and process.name() != "timeout":
                found.append(process)
        except (OSError, psutil.Error):  # ended meanwhile
            continue
    return found


def _descendants(process) -> list:
    try:
        return process.children(recursive=True)
    except (OSError, psutil.Error):
        return []


def _rss_anon(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


def _base_perplexity(python: Path, run: Callable[..., None], request: CheckRequest, dtype: str,
                     chunks: list[list[int]], first: int) -> float | None:
    """The checkpoint itself in vLLM at the same 16-bit type, on the same chunks: the engine's own distance from the
    studio's float32 figures, which the format's comparison takes out. Kept per model, chunks and type."""
    key = hashlib.sha256(json.dumps([dtype, chunks, first]).encode()).hexdigest()[:16]
    kept = request.model_cache / f"vllm-base-{key}.json"
    if not kept.exists():
        result, _ = _run_probe(python, run, request, {
            "model": str(request.checkpoint), "quantization": None, "dtype": dtype, "chunks": chunks,
            "first_scored": first, "prompts": [], "max_new_tokens": 1})
        if result is None:
            return None
        kept.write_text(json.dumps({"ppl": _perplexity(result)[0]}))
    return json.loads(kept.read_text())["ppl"]


def _perplexity(result: dict) -> tuple[float, int]:
    n = sum(map(len, result["chunk_logprobs"]))
    return math.exp(-sum(sum(lp) for lp in result["chunk_logprobs"]) / n), n


def _run_probe(python: Path, run: Callable[..., None], request: CheckRequest, probe: dict) -> tuple[dict | None, str]:
    """vLLM's answer to one probe request, or why there is none (vLLM's own words)."""
    req_path, out_path = request.work_dir / "vllm-request.json", request.work_dir / "vllm-result.json"
    out_path.unlink(missing_ok=True)
    longest = max([len(p) for p in probe["prompts"]] + [0]) + probe["max_new_tokens"]
    # vLLM asks for room for at least one new token beyond the prompt, the chunks' included
    req_path.write_text(json.dumps({**probe, "max_model_len": max(request.protocol.n_ctx + 1, longest)}))
    errors: list[str] = []
    loaded: list[bool] = []

    def watch(line: str) -> bool:
        if line == LOADED:
            loaded.append(True)
        return _keep_error(line, errors)

    timeout = BASE_TIMEOUT_S + TIMEOUT_S_PER_GPARAM_TOKEN * request.n_params / 1e9 * sum(map(len, probe["chunks"]))
    try:
        run(["timeout", "--kill-after=30", f"{timeout:.0f}", str(python), str(PROBE), str(req_path), str(out_path)],
            env=_engine_env(), on_line=watch)
    except RuntimeError as exc:
        if out_path.exists():  # written whole (renamed into place): the failure came after, tearing vLLM down
            return json.loads(out_path.read_text()), ""
        reason = _reason(errors, str(exc), timeout)
        return None, f"loaded, then failed: {reason}" if loaded else reason
    return json.loads(out_path.read_text()), ""


def _chunks(request: CheckRequest) -> tuple[list[list[int]], int]:
    """The studio's evaluation chunks (studio.evaluation.protocol), as token ids, and the first scored position."""
    tokens = np.load(request.tokens_path)
    protocol = request.protocol
    return ([protocol.chunk_input(tokens, i, request.bos) for i in range(protocol.n_chunks(len(tokens)))],
            protocol.first_scored)


def _agreement(tok, request: CheckRequest, generated: list[list[int]]) -> tuple[list[int], list[int]]:
    """Per prompt: how many of vLLM's first tokens equal the studio's greedy ones, of how many compared (the shorter
    of the two, the end-of-sequence token left out as the studio's text leaves it out)."""
    stop = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    agree, compared = [], []
    for ids, text in zip(generated, request.studio_generations):
        ids = ids[:-1] if ids and ids[-1] in stop else ids
        studio = tok(text, add_special_tokens=False).input_ids
        n = min(len(ids), len(studio))
        same = next((i for i in range(n) if ids[i] != studio[i]), n)
        agree.append(same)
        compared.append(n)
    return agree, compared


def _engine_env() -> dict[str, str]:
    """vLLM's CPU settings: the KV cache it reserves (GiB: the checks' contexts are short), and its threads left
    unpinned (a shared machine's cores are not the job's alone), as many as the machine has."""
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return {**env, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind",
            "OMP_NUM_THREADS": str(os.cpu_count() or 1), "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _keep_error(line: str, errors: list[str]) -> bool:
    if native := NATIVE_ERROR.search(line):  # a C++ exception that aborted a process (a kernel's refusal)
        errors.append(f"vLLM's kernel aborted: {native[1].strip()}")
    elif (match := ERROR_LINE.search(line)) and not any(g in line for g in GENERIC):
        errors.append(f"{match[1]}: {match[2].strip()}")
    return False  # still logged


def _reason(errors: list[str], failure: str, timeout: float) -> str:
    if failure.endswith(("status 124", "status 137")):  # timeout's own statuses: stopped, then killed
        return f"did not finish in {timeout:.0f} s on this machine ({failure})"
    return errors[0] if errors else failure  # the root cause comes first; the rest is its unwinding
