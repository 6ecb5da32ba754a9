"""GGUF files, evaluated by llama.cpp (llama-cpp-python) against the model's F16 GGUF."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.evaluation import llama_backend
from studio.evaluation.protocol import PassHooks, Protocol
from studio.evaluation.vocab import vocabulary_mismatch
from studio.families.base import Evaluated, Family, Loader, Logits
from studio.gguf_census import gguf_census
from studio.llamacpp import convert_command, file_lock, llama_cpp_version
from studio.models import ModelFacts
from studio.stages import Stage, StageContext


def base_gguf_path(model_cache: Path) -> Path:
    """The F16 GGUF of a model: converted once, shared by every GGUF job and the base row."""
    return model_cache / "base-f16.gguf"


def ensure_base_gguf(ctx: StageContext) -> Path:
    target = base_gguf_path(ctx.cache_dir)
    with file_lock(ctx.cache_dir / "convert.lock"):
        if target.exists():
            ctx.report(1.0, f"F16 GGUF already converted: {target}")
            return target
        partial = ctx.tmp_dir / "base-f16.gguf"
        cmd, env = convert_command(ctx.shared_cache, ctx.model.path, partial, "f16")
        ctx.run_logged(cmd, env=env)
        partial.replace(target)
    return target


def convert_stage(ctx: StageContext) -> Path:
    """The stage a GGUF recipe starts with: the model's F16 GGUF (cached)."""
    ctx.enter_stage(Stage.CONVERT)
    return ensure_base_gguf(ctx)


def convert_stages(ctx: StageContext) -> tuple[Stage, ...]:
    """The conversion, while the F16 GGUF is not cached yet."""
    return () if base_gguf_path(ctx.cache_dir).exists() else (Stage.CONVERT,)


class GGUFFamily(Family):
    name = "gguf"
    title = "GGUF (llama.cpp)"
    base_label = "gguf:base (F16)"
    memory_on_gpu = False  # llama.cpp runs on the CPU here: its memory is RAM even with a GPU present
    ollama_imports = True

    def base_artifact(self, ctx: StageContext) -> Path:
        # The GGUF recipe converts it before quantizing; only take the lock again if that has not happened.
        target = base_gguf_path(ctx.cache_dir)
        return target if target.exists() else ensure_base_gguf(ctx)

    def intermediate_bytes(self, model: ModelFacts, model_cache: Path) -> int:
        return 0 if base_gguf_path(model_cache).exists() else model.n_params * 2  # F16

    def tokenizer_source(self, model: ModelFacts, base_artifact: Path) -> Path:
        return base_artifact  # llama.cpp's tokenizer, as llama-perplexity tokenizes

    def tokenize(self, source: Path, text: str) -> tuple[np.ndarray, int | None]:
        return llama_backend.tokenize(source, text)

    def token_stem(self, text_sha: str) -> str:
        return f"tokens-{text_sha}"  # the name caches had before there were other families

    def backend_version(self) -> str:
        return f"llama.cpp-{llama_cpp_version()}"

    def prompt_limit(self, model: ModelFacts, max_new_tokens: int) -> tuple[int, str] | None:
        most = llama_backend.PROMPT_TOKENS
        return most, f"llama.cpp generates in a context of {most} + {max_new_tokens} tokens (max new tokens)"

    def vocabulary_mismatch(self, artifact: Path, model: ModelFacts, model_cache: Path) -> str | None:
        return vocabulary_mismatch(artifact, model.path, model_cache)

    def census(self, artifact: Path, model: ModelFacts) -> dict:
        return gguf_census(artifact)

    def load_snippet(self, artifact: Path) -> str:
        return f"from llama_cpp import Llama\nllm = Llama({str(artifact)!r})"

    def evaluate(self, artifact: Path, base: Path | None, load: Loader | None, request: dict, tokens: np.ndarray,
                 protocol: Protocol | None, hooks: PassHooks) -> Evaluated:
        scores, load_seconds = None, None
        if protocol is not None:
            scores, load_seconds = llama_backend.perplexity_nll(artifact, tokens, request.get("bos"), protocol,
                                                                hooks, base)
        decoding, generation_load = llama_backend.generations(artifact, request["prompts"], request["max_new_tokens"])
        return Evaluated(scores, load_seconds or generation_load or llama_backend.load_seconds(artifact), decoding)

    def compute_threads(self) -> int:
        return llama_backend.threads()

    def open_logits(self, artifact: Path, protocol: Protocol, load: Loader | None = None) -> Logits:
        llm = llama_backend.open_for_logits(artifact, protocol.n_ctx)
        return lambda chunk: llama_backend.chunk_logits(llm, chunk, protocol)


FAMILY = GGUFFamily()
