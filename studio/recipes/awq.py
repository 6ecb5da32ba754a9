"""AWQ through GPTQModel: activation-aware per-channel scaling before 4-bit group rounding. Not
AutoAWQ: it is deprecated and pins old torch/transformers (see the README)."""
from __future__ import annotations

from studio.recipes.base import Option, Requirements
from studio.recipes.calibration import CALIBRATION_OPTIONS
from studio.recipes.gptq import GPTQModelRecipe
from studio.recipes.hf import KEEP_OPTION, SERVING_OPTION

GROUP_SIZES = (64, 128)


class AWQRecipe(GPTQModelRecipe):
    name = "awq"
    title = "AWQ (GPTQModel)"
    description = "Activation-aware 4-bit weights (GEMM format): strong quality at 4 bits."
    options = (
        Option("bits", "choice", 4, "bits per weight (AWQ kernels take 4)", choices=(4,)),
        Option("group_size", "choice", 64, "weights per scale", choices=GROUP_SIZES),
        Option("zero_point", "bool", True, "asymmetric levels with a zero point per group"),
        *CALIBRATION_OPTIONS,
        KEEP_OPTION,
        SERVING_OPTION,
    )
    requirements = Requirements(cpu_ok=True, gpu_min_compute_capability=7.5, packages=("gptqmodel",),
                                note="fast kernels need CUDA; on CPU the scale search is slow (≈20 min for "
                                     "a 135M model with 8 samples)")
    nominal_bits = 4.25
    method, group_sizes = "awq", GROUP_SIZES
    vllm_gpu_needs = "a CUDA GPU: AWQ Marlin kernels on compute capability ≥ 8.0, AWQ GEMM kernels on ≥ 7.5"

    def quantize_config(self, o: dict) -> dict:
        return {"bits": o["bits"], "group_size": o["group_size"], "sym": not o["zero_point"]}


RECIPE = AWQRecipe()
