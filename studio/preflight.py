"""Preflight: before anything is queued, say what will happen or exactly why it cannot."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from studio import hardware, recipes
from studio.config import Settings
from studio.evaluation.protocol import Protocol, ProtocolError
from studio.evaluation.texts import TextError, load_text, text_sha
from studio.models import ModelError, ModelFacts, read_model_facts, resolve_model
from studio.recipes.base import OptionError, Recipe


class PreflightError(ValueError):
    """Every reason the request cannot run, one per line."""

    def __init__(self, reasons: list[str]):
        super().__init__("\n".join(reasons))
        self.reasons = reasons


@dataclass
class PlannedJob:
    recipe: Recipe
    options: dict
    label: str
    output_bytes: int


@dataclass
class Plan:
    model: ModelFacts
    text_path: Path
    text_sha: str
    protocol: Protocol
    jobs: list[PlannedJob]
    disk_needed: int
    disk_free: int
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"Model: {self.model.path} ({self.model.architecture}, {self.model.n_params / 1e6:.1f} M parameters)",
                 f"Evaluation: {self.text_path.name}, context {self.protocol.n_ctx}, "
                 f"{'all' if self.protocol.max_chunks is None else f'at most {self.protocol.max_chunks}'} chunks",
                 f"Disk: needs about {self.disk_needed / 2**20:.0f} MiB, {self.disk_free / 2**30:.1f} GiB free"]
        lines += [f"Job: {j.label} → about {j.output_bytes / 2**20:.0f} MiB" for j in self.jobs]
        return "\n".join(lines + self.notes)


MAX_NEW_TOKENS = 512


def run_preflight(settings: Settings, model_name: str, recipe_specs: list[str], text_path: Path,
                  n_ctx: int, max_chunks: int | None, overrides: dict[str, str] | None = None,
                  max_new_tokens: int = 64) -> Plan:
    reasons: list[str] = []
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        reasons.append(f"max new tokens must be between 1 and {MAX_NEW_TOKENS} (got {max_new_tokens})")
    model = _model_or_reason(settings, model_name, reasons)
    protocol = _protocol_or_reason(n_ctx, max_chunks, reasons)
    sha = _text_or_reason(text_path, protocol, model, reasons)
    if not recipe_specs:
        reasons.append("no recipe chosen: pick at least one quantization type")
    hw = hardware.detect(settings.workspace)
    planned: list[PlannedJob] = []
    notes: list[str] = []
    for spec in recipe_specs:
        try:
            recipe, options = recipes.parse_recipe_spec(spec, overrides)
        except OptionError as exc:
            reasons.append(f"{spec}: {exc}")
            continue
        if (why := hardware.check(recipe.requirements_for(options), hw)) is not None:
            reasons.append(f"{spec}: not available on this machine: {why}")
            continue
        if model is not None:
            reasons += [f"{spec}: {r}" for r in recipe.preflight(model, options, settings)]
            reasons += [f"{spec}: {r}" for r in _memory_problems(recipe, model, options, hw)]
            notes += [f"{spec}: note: {n}" for n in recipe.advice(options, hw)]
            planned.append(PlannedJob(recipe, options, recipe.label(options),
                                      recipe.estimate_output_bytes(model, options)))
    if model is None or reasons:
        raise PreflightError(reasons)
    needed = sum(j.output_bytes for j in planned) + _intermediate_bytes(settings, model, planned)
    free = shutil.disk_usage(settings.workspace).free
    if needed > free:
        raise PreflightError([f"not enough disk in {settings.workspace}: about {needed / 2**20:.0f} MiB needed "
                              f"(intermediate + outputs), {free / 2**20:.0f} MiB free"])
    return Plan(model, text_path, sha, protocol, planned, needed, free, notes)


def _memory_problems(recipe: Recipe, model: ModelFacts, options: dict, hw: hardware.Hardware) -> list[str]:
    """Refuse, with numbers, a job whose heaviest stage will not fit (in VRAM on a GPU, else RAM)."""
    need = recipe.estimate_memory_bytes(model, options)
    if hw.cuda and recipe.family != "gguf":
        have, where = max(d.memory_bytes for d in hw.cuda), "GPU memory"
    else:
        have, where = hw.ram_available_bytes, "available RAM"
    if need <= have:
        return []
    return [f"needs about {need / 2**30:.1f} GiB of {where} ({model.n_params / 1e9:.2f} B parameters), "
            f"{have / 2**30:.1f} GiB here"]


def _intermediate_bytes(settings: Settings, model: ModelFacts, planned: list[PlannedJob]) -> int:
    from studio.recipes.gguf import base_gguf_path
    cache = settings.model_cache_dir / model.key
    families = {j.recipe.family for j in planned}
    return model.n_params * 2 if "gguf" in families and not base_gguf_path(cache).exists() else 0


def _model_or_reason(settings: Settings, name: str, reasons: list[str]) -> ModelFacts | None:
    try:
        return read_model_facts(resolve_model(name, settings), settings)
    except ModelError as exc:
        reasons.append(str(exc))
        return None


def _protocol_or_reason(n_ctx: int, max_chunks: int | None, reasons: list[str]) -> Protocol | None:
    try:
        return Protocol(int(n_ctx), None if max_chunks in (None, "") else int(max_chunks))
    except (ProtocolError, TypeError, ValueError) as exc:
        reasons.append(str(exc))
        return None


def _text_or_reason(path: Path, protocol: Protocol | None, model: ModelFacts | None, reasons: list[str]) -> str | None:
    try:
        text = load_text(path)
    except TextError as exc:
        reasons.append(str(exc))
        return None
    if protocol is not None and (why := _too_short(text, protocol, model)):
        reasons.append(why)
    return text_sha(path)


# A prefix this many characters per needed token surely holds enough tokens, if the whole text does.
PREFIX_CHARS_PER_TOKEN = 32


def _too_short(text: str, protocol: Protocol, model: ModelFacts | None) -> str | None:
    """Two chunks of n_ctx tokens are needed. Counted with the model's tokenizer (on a prefix, to stay
    fast); without one, bytes bound the count: every token covers at least one byte, while one character
    (CJK, an emoji) can be several tokens, so characters bound nothing."""
    needed = 2 * protocol.n_ctx
    n_bytes = len(text.encode("utf-8"))
    if n_bytes < needed:
        return (f"evaluation text is too short: {n_bytes} bytes make at most {n_bytes} tokens, while context "
                f"{protocol.n_ctx} needs {needed} (two chunks): use a longer text or a smaller context")
    tokenizer = _tokenizer(model)
    prefix = text[:needed * PREFIX_CHARS_PER_TOKEN]
    if tokenizer is None or len(prefix) < len(text):
        return None
    n_tokens = len(tokenizer.encode(prefix, add_special_tokens=False).ids)
    if n_tokens >= needed:
        return None
    return (f"evaluation text is too short: {n_tokens} tokens with this model's tokenizer, while context "
            f"{protocol.n_ctx} needs {needed} (two chunks): use a longer text or a smaller context")


def _tokenizer(model: ModelFacts | None):
    """The model's fast tokenizer, or None when it has none the `tokenizers` library can read."""
    path = model.path / "tokenizer.json" if model else None
    if path is None or not path.is_file():
        return None
    from tokenizers import Tokenizer
    try:
        return Tokenizer.from_file(str(path))
    except Exception:  # an unreadable tokenizer is the runner's to report, with its own error
        return None
