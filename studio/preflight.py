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
    sha = _text_or_reason(text_path, protocol, reasons)
    if not recipe_specs:
        reasons.append("no recipe chosen: pick at least one quantization type")
    hw = hardware.detect(settings.workspace)
    planned: list[PlannedJob] = []
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
            planned.append(PlannedJob(recipe, options, recipe.label(options),
                                      recipe.estimate_output_bytes(model, options)))
    if model is None or reasons:
        raise PreflightError(reasons)
    needed = sum(j.output_bytes for j in planned) + _intermediate_bytes(settings, model, planned)
    free = shutil.disk_usage(settings.workspace).free
    if needed > free:
        raise PreflightError([f"not enough disk in {settings.workspace}: about {needed / 2**20:.0f} MiB needed "
                              f"(intermediate + outputs), {free / 2**20:.0f} MiB free"])
    return Plan(model, text_path, sha, protocol, planned, needed, free)


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


def _text_or_reason(path: Path, protocol: Protocol | None, reasons: list[str]) -> str | None:
    try:
        text = load_text(path)
    except TextError as exc:
        reasons.append(str(exc))
        return None
    # A token spans at least one character, so fewer characters than 2 * n_ctx can never be enough.
    if protocol is not None and len(text) < 2 * protocol.n_ctx:
        reasons.append(f"evaluation text is too short: {len(text)} characters, while context {protocol.n_ctx} "
                       f"needs at least {2 * protocol.n_ctx} tokens")
    return text_sha(path)
