"""What every quantization recipe declares: name, format family, options schema, hardware needs, stages.

One schema drives the New-job form, the CLI's `--option NAME.key=value`, and validation, and is
stored with the job.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.families import Family
from studio.families.base import Loader
from studio.memory import Budget
from studio.models import ModelFacts
from studio.serving.forms import ServingForm
from studio.stages import Stage, StageContext

if TYPE_CHECKING:
    from studio.timing import Prior


class OptionError(ValueError):
    """An option value outside the recipe's schema."""


@dataclass(frozen=True)
class Option:
    name: str
    # "choice" | "int" | "float" | "bool" | "str" | "path": a user's file, or one of `choices`, names of
    # files the studio ships; preflight stores the file resolved and confined to the allowed folders
    kind: str
    default: Any
    help: str = ""
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None

    def parse(self, value: Any) -> Any:
        """Coerce a UI or CLI value (possibly a string) and check it against the schema."""
        try:
            parsed = self._coerce(value)
        except (TypeError, ValueError) as exc:
            raise OptionError(f"{self.name}: {value!r} is not a valid {self.kind}") from exc
        if self.kind == "choice" and parsed not in self.choices:
            raise OptionError(f"{self.name}: {parsed!r} is not one of {', '.join(map(str, self.choices))}")
        if self.minimum is not None and parsed < self.minimum:
            raise OptionError(f"{self.name}: {parsed} is below the minimum {self.minimum}")
        if self.maximum is not None and parsed > self.maximum:
            raise OptionError(f"{self.name}: {parsed} is above the maximum {self.maximum}")
        return parsed

    def _coerce(self, value: Any) -> Any:
        if self.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if self.kind == "float":
            return float(value)
        if self.kind == "bool":
            if isinstance(value, str):
                if value.lower() not in {"true", "false", "1", "0", "yes", "no", "on", "off"}:
                    raise ValueError(value)
                return value.lower() in {"true", "1", "yes", "on"}
            return bool(value)
        if self.kind == "choice":
            matching = [c for c in self.choices if str(c) == str(value)]
            return matching[0] if matching else value
        if self.kind == "path" and not str(value).strip():
            raise ValueError(value)
        return str(value).strip() if self.kind == "path" else str(value)


@dataclass(frozen=True)
class Requirements:
    """What a recipe needs to run; the hardware table turns this into available / why not."""
    cpu_ok: bool = True
    cuda: bool = False
    min_compute_capability: float | None = None
    packages: tuple[str, ...] = ()
    note: str = ""
    emulated_alternative: str = ""  # what to run instead when this cannot run here
    gpu_min_compute_capability: float | None = None  # when a GPU is present, its kernels need this
    not_driven: str = ""  # why the studio cannot run this mode even on hardware that has it


@dataclass(frozen=True)
class Variant:
    """`recipe:variant` on the command line sets the recipe's primary option."""
    option: str


class Recipe(ABC):
    name: str
    family: Family  # the artifact's format: how it is evaluated, and against which base
    title: str
    description: str
    options: tuple[Option, ...] = ()
    variant: Variant | None = None
    requirements: Requirements = Requirements()
    keeps_high_precision: tuple[str, ...] = ()

    def option(self, name: str) -> Option:
        for opt in self.options:
            if opt.name == name:
                return opt
        raise OptionError(f"{self.name} has no option '{name}' "
                          f"(it has: {', '.join(o.name for o in self.options) or 'none'})")

    def defaults(self) -> dict:
        return {o.name: o.default for o in self.options}

    def resolve_options(self, variant: str | None, overrides: dict) -> dict:
        values = self.defaults()
        if variant is not None:
            if self.variant is None:
                raise OptionError(f"{self.name} takes no ':variant' suffix")
            values[self.variant.option] = self.option(self.variant.option).parse(variant)
        for key, raw in overrides.items():
            values[key] = self.option(key).parse(raw)
        return values

    def user_paths(self, options: dict) -> dict[str, str]:
        """The path options that name a user's file rather than one the studio ships."""
        return {o.name: options[o.name] for o in self.options
                if o.kind == "path" and options[o.name] and options[o.name] not in o.choices}

    def requirements_for(self, options: dict) -> Requirements:
        """What these options need (e.g. a native execution mode needs a newer GPU)."""
        return self.requirements

    def runtime_modules(self, options: dict) -> tuple[str, ...]:
        """The libraries `quantize` imports. The runner loads them before it times the quantization,
        so that a job's quantize seconds are the quantization itself, comparable across recipes."""
        return self.requirements_for(options).packages

    def execution_modes(self) -> list[tuple[str, dict]]:
        """(mode, options) pairs whose requirements differ: e.g. native vs emulated."""
        opts = {o.name: o for o in self.options}
        if "execution" not in opts:
            return [("", self.defaults())]
        return [(m, {**self.defaults(), "execution": m}) for m in opts["execution"].choices if m != "auto"]

    def memory_by_stage(self, model: ModelFacts, options: dict, budget: Budget) -> dict[Stage, int]:
        """Peak RAM (or VRAM) of the job's stages that hold the model, as far as the recipe knows them."""
        return {Stage.QUANTIZE: model.n_params * 4 + 512 * 2**20}

    def estimate_memory_bytes(self, model: ModelFacts, options: dict, budget: Budget) -> int:
        """The heaviest stage's figure: what the preflight compares with the memory available."""
        return max(self.memory_by_stage(model, options, budget).values())

    def advice(self, options: dict, hw) -> list[str]:
        """Warnings that do not stop the job (a better option for this hardware, say)."""
        return []

    def label(self, options: dict) -> str:
        return self.spec(options)

    def spec(self, options: dict) -> str:
        """What a New-job preset or `--recipe` names for these options' variant (the other options not included)."""
        return f"{self.name}:{options[self.variant.option]}" if self.variant else self.name

    @abstractmethod
    def preflight(self, model: ModelFacts, options: dict, settings) -> list[str]:
        """Reasons this recipe cannot run on this model (empty when it can)."""

    @abstractmethod
    def estimate_output_bytes(self, model: ModelFacts, options: dict) -> int:
        """Disk the job will need, for the preflight's space check."""

    def time_prior(self, options: dict) -> Prior | None:
        """The recipe's time measured on this project's machines (studio.timing), for a machine that has not run
        it yet; None where it was not measured (the preflight then says the time is not known)."""
        return None

    def prepare(self, ctx: StageContext) -> None:
        """Work before the quantize stage, in the recipe's own sub-stages (`ctx.enter_stage`)."""

    def own_stages(self, ctx: StageContext) -> tuple[Stage, ...]:
        """The sub-stages `prepare` will enter, in order: those whose work is not cached already."""
        return ()

    @abstractmethod
    def quantize(self, ctx: StageContext) -> Path:
        """The quantize stage: write the artifact under ctx.tmp_dir and return its path."""

    def is_emulated(self, options: dict) -> bool:
        """True when the format's arithmetic is imitated in higher precision rather than run natively."""
        return False

    def loader(self) -> Loader | None:
        """How an evaluation opens this recipe's artifact: None when its family's backend reads the format
        itself (a GGUF file), the recipe's own `load` when only its code does."""
        return None

    def load_snippet(self, artifact: Path) -> str:
        """Python that loads the saved artifact outside the studio (its family's way, unless the recipe's
        format needs its own)."""
        return self.family.load_snippet(artifact)

    def serving_form(self, options: dict) -> ServingForm | None:
        """How serving engines read the artifact; None where its family's own runtime serves it (GGUF files:
        llama.cpp, Ollama)."""
        return None

    def fallback_tensors(self, options: dict, census: dict) -> int:
        """How many tensors could not take the requested type (0 unless the format has such rules)."""
        return 0
