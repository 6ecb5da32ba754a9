"""A GGUF file made elsewhere (a community quant, another tool's output), evaluated as a row against the model's F16
base on the same tokens and protocol as every GGUF row: stock presets, auto mixes and other people's files on one
plot. Nothing is quantized; the file is linked (or copied, across filesystems) into the job's folder, so the row
owns its own entry under outputs/ and deleting the row never touches the user's file.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from gguf import LlamaFileType

from studio import memory
from studio.evaluation.vocab import compare_with_checkpoint
from studio.families.gguf import FAMILY, convert_stage, convert_stages
from studio.gguf_header import GGUFHeaderError, read_metadata
from studio.models import ModelFacts
from studio.recipes.base import Option, Recipe, Requirements, Variant
from studio.recipes.gguf import CONVERTIBLE_SUFFIXES, GGUF_TYPES
from studio.stages import Stage, StageContext
from studio.timing import Prior

# The F16 conversion (74 s for 7.38 B parameters here) and the evaluation, as for a GGUF job (studio.recipes.gguf).
FILE_PRIOR = Prior(per_job=10.0, per_gparam=10.0, per_gparam_token=0.035)


class GGUFFileRecipe(Recipe):
    name = "gguf-file"
    family = FAMILY
    title = "A GGUF file you have"
    description = "Evaluate a GGUF made elsewhere against the model's F16 base, like any GGUF row."
    options = (
        Option("file", "path", "", "the GGUF file, under the model folders or the workspace (same vocabulary and "
               "shape as the model)"),
        Option("checkpoint_kld", "bool", True, "also compare with the HF checkpoint (llama.cpp against torch on "
               "the same token ids)"),
    )
    variant = Variant("file")
    requirements = Requirements(cpu_ok=True, packages=("llama_cpp",), note="runs on CPU")

    def label(self, options: dict) -> str:
        return f"file:{Path(options['file']).name}"

    def preflight(self, model: ModelFacts, options: dict, settings) -> list[str]:
        if not model.architecture.endswith(CONVERTIBLE_SUFFIXES):
            return [f"{model.architecture} is not a causal language model; the file is compared with its F16 GGUF"]
        if not options["file"]:
            return ["file: name the GGUF file (gguf-file:PATH, or the option gguf-file.file=PATH)"]
        path = Path(options["file"])
        if not path.is_file():
            return [f"file: {path} is not a file"]
        try:
            meta = read_metadata(path)
        except GGUFHeaderError as exc:
            return [f"file: {exc}"]
        return [f"file: {p}" for p in _mismatches(meta, model)]

    def estimate_output_bytes(self, model: ModelFacts, options: dict) -> int:
        """A copy at most (a link, on the same filesystem, takes nothing); nothing for a file not there (refused)."""
        path = Path(options["file"])
        return path.stat().st_size if options["file"] and path.is_file() else 0

    def time_prior(self, options: dict) -> Prior:
        from studio.recipes.gguf import CHECKPOINT_PRIOR
        return FILE_PRIOR.plus(CHECKPOINT_PRIOR) if options["checkpoint_kld"] else FILE_PRIOR

    def memory_by_stage(self, model: ModelFacts, options: dict, budget: memory.Budget) -> dict[Stage, int]:
        """As a GGUF job's stages for the file's type (stated in its header; Q4_0, the most llama.cpp repacks, when
        it is not), without the quantize stage."""
        stages = memory.gguf_stages(model, _file_type(Path(options["file"])), options["checkpoint_kld"],
                                    budget.ram_available)
        return {stage: need for stage, need in stages.items() if stage != Stage.QUANTIZE}

    def prepare(self, ctx: StageContext) -> None:
        convert_stage(ctx)

    def own_stages(self, ctx: StageContext) -> tuple[Stage, ...]:
        return convert_stages(ctx)

    def quantize(self, ctx: StageContext) -> Path:
        """No quantization: the file itself, linked into the job's folder (copied when on another filesystem)."""
        source = Path(ctx.options["file"])
        out = ctx.tmp_dir / f"{ctx.model.slug}-file-{source.name}"
        try:
            os.link(source, out)
            ctx.report(1.0, f"linked {source} (nothing copied)")
        except OSError:
            shutil.copyfile(source, out)
            ctx.report(1.0, f"copied {source}: {out.stat().st_size / 2**20:.1f} MiB")
        return out


def _mismatches(meta: dict, model: ModelFacts) -> list[str]:
    """Why the file cannot be scored against this model's base: another model's shape or vocabulary."""
    arch = meta.get("general.architecture", "?")
    problems = []
    if model.shape is not None:
        theirs = (meta.get(f"{arch}.block_count"), meta.get(f"{arch}.embedding_length"))
        if theirs != (model.shape.layers, model.shape.hidden):
            problems.append(f"it is another model: {theirs[0]} layers of width {theirs[1]}, the model has "
                            f"{model.shape.layers} of width {model.shape.hidden}")
    tokens = meta.get("tokenizer.ggml.tokens")
    if not tokens:
        problems.append("it has no vocabulary (tokenizer.ggml.tokens): perplexities on the same token ids need one")
    elif (reason := compare_with_checkpoint(tokens, model.path)) is not None:
        problems.append(f"its vocabulary is not the model's, so no token ids are shared: {reason}")
    return problems


def _file_type(path: Path) -> str:
    try:
        name = LlamaFileType(read_metadata(path).get("general.file_type", -1)).name.removeprefix("MOSTLY_")
    except (ValueError, GGUFHeaderError, OSError):
        return "Q4_0"
    return name if name in GGUF_TYPES else "Q4_0"


RECIPE = GGUFFileRecipe()
