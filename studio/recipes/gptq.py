"""GPTQ through GPTQModel (the maintained successor of the archived AutoGPTQ): layer-by-layer
second-order rounding on calibration activations. Fast kernels need CUDA; GPTQModel's CPU torch
kernels run here, slowly."""
from __future__ import annotations

import json
import sys
from abc import abstractmethod
from pathlib import Path

from studio import memory
from studio.evaluation.torch_backend import load_checkpoint
from studio.models import ModelFacts
from studio.recipes.base import Option, Requirements
from studio.recipes.calibration import CALIBRATION_OPTIONS, calibration_path, calibration_problems
from studio.recipes.hf import KEEP_OPTION, SERVING_OPTION, HFRecipe, group_size_problem, keep_patterns
from studio.stages import StageContext

GROUP_SIZES = (32, 64, 128, -1)


def gptqmodel_quantize(recipe: HFRecipe, ctx: StageContext, method: str, config: dict) -> Path:
    """Run GPTQModel in a child process; its output (progress bars included) goes to the job log."""
    out = ctx.tmp_dir / f"{ctx.model.slug}-{recipe.label(ctx.options).replace(':', '-')}"
    scratch = ctx.tmp_dir / "gptqmodel-scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    # Modules the user keeps stay unquantized: GPTQModel's `dynamic` rules, "-:" = skip.
    dynamic = {f"-:{p.replace('.', '[.]').replace('*', '.*')}": {} for p in keep_patterns(ctx.options)}
    request = {"method": method, "model": str(ctx.model.path), "out": str(out), "scratch": str(scratch),
               "calibration": str(calibration_path(ctx.options["calibration"])),
               "config": {**config, "samples": ctx.options["samples"], "seq_len": ctx.options["seq_len"],
                          "dynamic": dynamic or None}}
    path = ctx.tmp_dir / f"{method}-request.json"
    path.write_text(json.dumps(request))
    ctx.run_logged([sys.executable, "-m", "studio.recipes.gptqmodel_process", str(path)])
    return out


class GPTQModelRecipe(HFRecipe):
    """What GPTQ and AWQ share: calibration text, group sizes that must divide the hidden size,
    embeddings and lm_head kept in 16 bits, checkpoints that plain transformers loads."""
    method: str
    group_sizes: tuple[int, ...]

    @abstractmethod
    def quantize_config(self, options: dict) -> dict:
        """bits, group_size, sym, … for GPTQModel's QuantizeConfig."""

    def preflight(self, model: ModelFacts, options: dict, settings) -> list[str]:
        return super().preflight(model, options, settings) + calibration_problems(options, settings)

    def shape_problems(self, model: ModelFacts, options: dict) -> list[str]:
        return group_size_problem(model, options, self.group_sizes)

    def linear_parts(self, rows: int, cols: int, options: dict) -> list[int]:
        """Codes packed in int32 words (qweight), a float16 scale and a packed zero per group of inputs and output,
        and (GPTQ) the group index of every input."""
        bits, group = options["bits"], options["group_size"]
        groups = cols // (cols if group == -1 else group)
        parts = [rows * cols * bits // 8, 4 * groups * -(-rows * bits // 32), 2 * groups * rows]
        return parts + ([4 * cols] if self.method == "gptq" else [])

    def quantize_bytes(self, model: ModelFacts, options: dict) -> int:
        """GPTQModel's layer-by-layer loop (studio.memory.gptqmodel_quantize_bytes): never the whole model."""
        return memory.gptqmodel_quantize_bytes(model, options["samples"], options["seq_len"])

    def quantize(self, ctx: StageContext) -> Path:
        return gptqmodel_quantize(self, ctx, self.method, self.quantize_config(ctx.options))

    def load(self, artifact: Path, device: str):
        return load_checkpoint(artifact, device=device)


class GPTQRecipe(GPTQModelRecipe):
    name = "gptq"
    title = "GPTQ (GPTQModel)"
    description = "Calibrated 2/3/4/8-bit weights with group scales; fast to quantize, served by vLLM/TGI."
    options = (
        Option("bits", "choice", 4, "bits per weight", choices=(2, 3, 4, 8)),
        Option("group_size", "choice", 64, "weights per scale (-1: one per output channel)", choices=GROUP_SIZES),
        Option("desc_act", "bool", False, "quantize columns in order of activation size (act-order): better "
               "quality, slower kernels"),
        Option("damp_percent", "float", 0.05, "Hessian dampening, a fraction of its mean diagonal",
               minimum=0.001, maximum=0.5),
        *CALIBRATION_OPTIONS,
        KEEP_OPTION,
        SERVING_OPTION,
    )
    requirements = Requirements(cpu_ok=True, gpu_min_compute_capability=6.0, packages=("gptqmodel", "optimum"),
                                note="fast kernels need CUDA; on CPU GPTQModel's torch kernels are slow "
                                     "(minutes for a 135M model)")
    nominal_bits = 4.25
    method, group_sizes = "gptq", GROUP_SIZES
    vllm_gpu_needs = "a CUDA GPU: GPTQ Marlin kernels on compute capability ≥ 8.0, the older GPTQ kernels below"

    def quantize_config(self, o: dict) -> dict:
        return {"bits": o["bits"], "group_size": o["group_size"], "sym": True, "desc_act": o["desc_act"],
                "damp_percent": o["damp_percent"]}


RECIPE = GPTQRecipe()
