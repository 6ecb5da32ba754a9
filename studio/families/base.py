"""What a format family is: the artifact format, the backend that evaluates it, and the base its results are
compared to. Everything the studio used to decide by comparing a family's name lives on the family object.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from studio.evaluation.protocol import Logits, PassHooks, Protocol, Scores
from studio.models import ModelFacts
from studio.stages import StageContext

# (artifact, device) -> a loaded model: a recipe's own loader, for formats only the recipe can read
Loader = Callable[[Path, str], object]


@dataclass(frozen=True)
class BaseKey:
    """Which rows are comparable: one model, one text, one protocol, one family's backend (at one version, so
    a new llama.cpp or torch gets a new base row). Stored as its `str` in `Result.base_key`."""
    family: str
    model_key: str
    text_sha: str
    n_ctx: int
    max_chunks: int | None
    backend: str

    def __str__(self) -> str:
        return (f"{self.family}:{self.model_key}:{self.text_sha}:ctx{self.n_ctx}:"
                f"chunks{self.max_chunks or 'all'}:{self.backend}")

    @classmethod
    def parse(cls, text: str) -> BaseKey:
        family, model_key, text_sha, ctx, chunks, backend = text.split(":", 5)
        if not (ctx.startswith("ctx") and chunks.startswith("chunks")):
            raise ValueError(f"not a base key: {text!r}")
        count = chunks.removeprefix("chunks")
        return cls(family, model_key, text_sha, int(ctx.removeprefix("ctx")),
                   None if count == "all" else int(count), backend)

    @property
    def comparison(self) -> str:
        """Model, text and protocol without the family: rows of every family of one model, side by side."""
        return f"{self.model_key}:{self.text_sha}:ctx{self.n_ctx}:chunks{self.max_chunks or 'all'}"


@dataclass(frozen=True)
class Evaluated:
    """What a family's backend measured of one artifact: scores per chunk (None when not asked for), load time,
    generations."""
    scores: Scores | None
    load_seconds: float
    decoding: dict  # generations and decode speed, as the backend's `generations` returns them


class Family(ABC):
    name: str  # stored in Result.family and in the base key
    title: str  # for people: the Compare filter, the New-job form
    base_label: str  # the base row's recipe column
    base_is_checkpoint: bool = False  # the base is the user's checkpoint itself, evaluated as it is stored
    memory_on_gpu: bool = False  # with a GPU present, the heaviest stage's memory is GPU memory
    ollama_imports: bool = False  # Ollama can import the artifacts

    @abstractmethod
    def base_artifact(self, ctx: StageContext) -> Path:
        """The unquantized model in this family's format (made if needed): the base every row is compared to."""

    def intermediate_bytes(self, model: ModelFacts, model_cache: Path) -> int:
        """Disk the base artifact will take when it still has to be made (preflight's space check)."""
        return 0

    @abstractmethod
    def tokenizer_source(self, model: ModelFacts, base_artifact: Path) -> Path:
        """What `tokenize` reads the vocabulary from."""

    @abstractmethod
    def tokenize(self, source: Path, text: str) -> tuple[np.ndarray, int | None]:
        """The whole text's token ids as this family's backend makes them, and the BOS put before each chunk."""

    def token_stem(self, text_sha: str) -> str:
        """File name (without suffix) of the cached token stream of one text."""
        return f"tokens-{self.name}-{text_sha}"

    @abstractmethod
    def backend_version(self) -> str:
        """The evaluating software and its version, part of the base key."""

    def base_key(self, model_key: str, text_sha: str, n_ctx: int, max_chunks: int | None) -> BaseKey:
        return BaseKey(self.name, model_key, text_sha, n_ctx, max_chunks, self.backend_version())

    @abstractmethod
    def prompt_limit(self, model: ModelFacts, max_new_tokens: int) -> tuple[int, str] | None:
        """The most prompt tokens a generation takes, and why; None when unbounded as far as is known."""

    def vocabulary_mismatch(self, artifact: Path, model: ModelFacts, model_cache: Path) -> str | None:
        """Why the artifact cannot be scored on the checkpoint's token ids (None: it can)."""
        return None

    def vs_checkpoint(self, divergence: dict, is_base: bool) -> dict:
        """A row's KLD against the HF checkpoint, from what its evaluation stored (see service.result_row)."""
        cross = divergence.get("vs_checkpoint") or {}
        return {"kld_vs_checkpoint": cross.get("kld_mean"), "same_top_vs_checkpoint": cross.get("same_top_pct"),
                "vs_checkpoint_refused": cross.get("refused")}

    @abstractmethod
    def census(self, artifact: Path, model: ModelFacts) -> dict:
        """What the artifact holds, read back from it: n_params, bpw, size_bytes, tensor_types (type -> count),
        and for formats with such rules, rows_not_k_divisible."""

    @abstractmethod
    def load_snippet(self, artifact: Path) -> str:
        """Python that loads an artifact of this family outside the studio."""

    @abstractmethod
    def evaluate(self, artifact: Path, base: Path | None, load: Loader | None, request: dict, tokens: np.ndarray,
                 protocol: Protocol | None, hooks: PassHooks) -> Evaluated:
        """Every chunk's scores, then generations (the scores first: they make the row); with a base, the
        divergence from it in lockstep (got as `hooks` say: opened after `before_base`, once the model's own peak
        memory is taken, or read from where they are kept). `load` is None for the base itself. With no
        protocol, the generations alone (a base whose scores came from a lockstep pass)."""

    @abstractmethod
    def compute_threads(self) -> int:
        """How many threads the backend computes with: what a busy machine's figures are measured against."""

    @abstractmethod
    def open_logits(self, artifact: Path, protocol: Protocol, load: Loader | None = None) -> Logits:
        """The artifact opened for perplexity chunks: how another family's row is compared with this one's."""
