"""AWQ through GPTQModel: activation-aware per-channel scaling before 4-bit group rounding. Not
AutoAWQ: it is deprecated and pins old torch/transformers (see the README)."""
from __future__ import annotations

from pathlib import Path

from studio.models import ModelFacts
from studio.recipes.base import Option, Requirements, StageContext
from studio.recipes.calibration import CALIBRATION_OPTIONS, calibration_problems
from studio.recipes.gptq import gptqmodel_quantize
from studio.recipes.hf import HFRecipe, KEEP_OPTION, group_size_problem, load_checkpoint

GROUP_SIZES = (64, 128)


class AWQRecipe(HFRecipe):
    name = "awq"
    title = "AWQ (GPTQModel)"
    description = "Activation-aware 4-bit weights (GEMM format): strong quality at 4 bits."
    options = (
        Option("bits", "choice", 4, "bits per weight (AWQ kernels take 4)", choices=(4,)),
        Option("group_size", "choice", 64, "weights per scale", choices=GROUP_SIZES),
        Option("zero_point", "bool", True, "asymmetric levels with a zero point per group"),
        *CALIBRATION_OPTIONS,
        KEEP_OPTION,
    )
    requirements = Requirements(cpu_ok=True, gpu_min_compute_capability=7.5, packages=("gptqmodel",),
                                note="fast kernels need CUDA; on CPU the scale search is slow (≈20 min for "
                                     "a 135M model with 8 samples)")
    nominal_bits = 4.25

    def preflight(self, model: ModelFacts, options: dict, settings) -> list[str]:
        return super().preflight(model, options, settings) + calibration_problems(options, settings)

    def shape_problems(self, model: ModelFacts, options: dict) -> list[str]:
        return group_size_problem(model, options, GROUP_SIZES)

    def estimate_output_bytes(self, model: ModelFacts, options: dict) -> int:
        return int(model.n_params * 16 / 8 * 1.05)

    def quantize(self, ctx: StageContext) -> Path:
        o = ctx.options
        return gptqmodel_quantize(self, ctx, "awq", {"bits": o["bits"], "group_size": o["group_size"],
                                                     "sym": not o["zero_point"]})

    def load(self, artifact: Path, device: str):
        return load_checkpoint(artifact, device=device)


RECIPE = AWQRecipe()
