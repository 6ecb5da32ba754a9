"""Hugging Face folders, evaluated by torch (transformers) against the checkpoint itself."""
from __future__ import annotations

import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

from studio.evaluation import torch_backend
from studio.evaluation.protocol import IDENTICAL, PassHooks, Protocol
from studio.families.base import Evaluated, Family, Loader, Logits
from studio.models import ModelFacts
from studio.stages import StageContext


class HFFamily(Family):
    name = "hf"
    title = "Hugging Face format (torch)"
    base_label = "hf:base (checkpoint)"
    base_is_checkpoint = True
    memory_on_gpu = True

    def base_artifact(self, ctx: StageContext) -> Path:
        return ctx.model.path

    def tokenizer_source(self, model: ModelFacts, base_artifact: Path) -> Path:
        return model.path

    def tokenize(self, source: Path, text: str) -> tuple[np.ndarray, int | None]:
        return torch_backend.tokenize(source, text)

    def backend_version(self) -> str:
        return f"transformers-{version('transformers')}+torch-{version('torch')}"

    def prompt_limit(self, model: ModelFacts, max_new_tokens: int) -> tuple[int, str] | None:
        if not model.context_length:
            return None
        return max(model.context_length - max_new_tokens, 0), (
            f"the model is made for {model.context_length} tokens (max_position_embeddings), "
            f"{max_new_tokens} of them for new tokens")

    def vs_checkpoint(self, divergence: dict, is_base: bool) -> dict:
        stats = IDENTICAL if is_base else divergence  # compared to the checkpoint already
        return {"kld_vs_checkpoint": stats.get("kld_mean"), "same_top_vs_checkpoint": stats.get("same_top_pct"),
                "vs_checkpoint_refused": None}

    def load_snippet(self, artifact: Path) -> str:
        return transformers_snippet(artifact)

    def census(self, artifact: Path, model: ModelFacts) -> dict:
        """Bits per weight = weight bytes x 8 / the base model's parameter count (no per-tensor types)."""
        size = sum(p.stat().st_size for p in artifact.iterdir() if p.suffix in {".safetensors", ".bin"})
        return {"n_params": model.n_params, "bpw": size * 8 / model.n_params, "tensor_types": {},
                "size_bytes": size}

    def evaluate(self, artifact: Path, base: Path | None, load: Loader | None, request: dict, tokens: np.ndarray,
                 protocol: Protocol | None, hooks: PassHooks) -> Evaluated:
        device = torch_backend.compute_device()
        t0 = time.perf_counter()
        model = (load or _load_checkpoint)(artifact, device)
        load_seconds = time.perf_counter() - t0

        def open_base():
            return torch_backend.open_checkpoint(base, device)

        scores = None if protocol is None else torch_backend.perplexity_nll(
            model, tokens, request.get("bos"), protocol, hooks, open_base if base else None)
        decoding = torch_backend.generations(model, Path(request["tokenizer"]), request["prompts"],
                                             request["max_new_tokens"])
        return Evaluated(scores, load_seconds, decoding)

    def compute_threads(self) -> int:
        import torch
        return torch.get_num_threads()

    def open_logits(self, artifact: Path, protocol: Protocol, load: Loader | None = None) -> Logits:
        # beside llama.cpp, which runs on the CPU; the checkpoint itself streamed when it does not fit
        model = load(artifact, "cpu") if load else torch_backend.open_checkpoint(artifact, "cpu")
        return lambda chunk: torch_backend.chunk_logits(model, chunk, protocol)


def transformers_snippet(artifact: Path) -> str:
    return (f"from transformers import AutoModelForCausalLM\n"
            f"model = AutoModelForCausalLM.from_pretrained({str(artifact)!r})")


def _load_checkpoint(path: Path, device: str):
    return torch_backend.open_checkpoint(path, device)


FAMILY = HFFamily()
