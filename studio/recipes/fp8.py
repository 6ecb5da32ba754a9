"""FP8 (E4M3 / E5M2) weights with per-tensor or per-channel scales, weight-only or W8A8.

E4M3 with 128x128 block scales or one per-tensor scale is written as transformers' own "fp8"
checkpoint (DeepSeek-V3 layout: `weight` in FP8 plus `weight_scale_inv`), which `from_pretrained`
loads: with FP8 matmuls on compute capability ≥ 8.9, expanded to floats elsewhere. Per-channel
scales and E5M2 use the studio's packed checkpoint. W8A8 emulation runs `torch._scaled_mm` on FP8
inputs with dynamic per-token activation scales (the same products as FP8 tensor cores, without
their speed).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from studio.evaluation.torch_backend import compute_dtype, load_checkpoint
from studio.families.hf import transformers_snippet
from studio.memory import Budget
from studio.models import ModelFacts
from studio.recipes import formats, packed
from studio.recipes.base import Option, Requirements
from studio.recipes.hf import KEEP_OPTION, SERVING_OPTION, Codec, PackedRecipe, keep_patterns
from studio.serving.forms import ServingForm
from studio.stages import Stage, StageContext

if TYPE_CHECKING:  # imported where used: the server imports this module and never needs torch
    import torch

NATIVE_CC = 8.9


class FP8Recipe(PackedRecipe):
    name = "fp8"
    title = "FP8 (E4M3 / E5M2)"
    description = "8-bit floating point weights (and activations with W8A8); native on Ada/Hopper and newer."
    options = (
        Option("format", "choice", "e4m3", "E4M3: more precision (max 448); E5M2: more range (max 57344)",
               choices=("e4m3", "e5m2")),
        Option("scales", "choice", "per-tensor", "one scale per tensor or per 128x128 tile (both load with "
               "transformers), or per output channel (studio format)",
               choices=("per-tensor", "block-128", "per-channel")),
        Option("activations", "choice", "weight-only", "weight-only, or W8A8 (activations in FP8 too, "
               "dynamic per-token scales)", choices=("weight-only", "w8a8")),
        Option("execution", "choice", "auto", "native FP8 matmuls need compute capability ≥ 8.9; emulated "
               "runs the same format on any device; auto picks native where it can",
               choices=("auto", "native", "emulated")),
        KEEP_OPTION,
        SERVING_OPTION,
    )
    requirements = Requirements(cpu_ok=True, note="native W8A8 needs CUDA compute capability ≥ 8.9 (Ada, Hopper, "
                                "Blackwell); elsewhere emulated")
    nominal_bits = 8.0
    quantize_seconds_per_gparam = 15.0

    def linear_parts(self, rows: int, cols: int, options: dict) -> list[int]:
        """One byte a weight and float32 scales: one, one per 128x128 tile, or one per output channel."""
        scales = {"per-tensor": 1, "per-channel": rows,
                  "block-128": -(-rows // formats.FP8_TILE) * -(-cols // formats.FP8_TILE)}[options["scales"]]
        return [rows * cols, 4 * scales]

    def requirements_for(self, options: dict) -> Requirements:
        if options["execution"] == "native":
            return Requirements(cpu_ok=False, cuda=True, min_compute_capability=NATIVE_CC,
                                note="native FP8 matmuls", emulated_alternative="fp8 with execution=emulated")
        return self.requirements

    def shape_problems(self, model: ModelFacts, options: dict) -> list[str]:
        problems = []
        if options["execution"] == "native" and options["activations"] != "w8a8":
            problems.append("native FP8 means FP8 matmuls: set activations=w8a8 (weight-only is always emulated)")
        if options["activations"] == "w8a8" and options["format"] != "e4m3":
            problems.append("W8A8 takes E4M3 weights (FP8 GEMMs do not multiply two E5M2 operands); use format=e4m3")
        if options["scales"] == "block-128" and (model.hidden_size or 0) % 128:
            problems.append(f"128x128 block scales need dimensions divisible by 128 (hidden size {model.hidden_size}); "
                            "use scales=per-tensor or per-channel")
        if options["format"] == "e5m2" and options["scales"] == "block-128":
            problems.append("128x128 block scales are an E4M3 layout; use scales=per-tensor or per-channel with E5M2")
        if options["activations"] == "w8a8" and options["scales"] == "block-128" and self.is_emulated(options):
            problems.append("W8A8 emulation takes per-tensor or per-channel scales; use scales=per-channel "
                            "(block scales run W8A8 natively on compute capability ≥ 8.9)")
        return problems

    def memory_by_stage(self, model: ModelFacts, options: dict, budget: Budget) -> dict[Stage, int]:
        stages = super().memory_by_stage(model, options, budget)
        if options["activations"] == "w8a8":  # FP8Linear holds every quantized layer's FP8 weights
            stages[Stage.EVALUATE] += model.n_params
        return stages

    def serving_form(self, options: dict) -> ServingForm:
        needs = ("a CUDA GPU: FP8 GEMMs on compute capability ≥ 8.9 (Ada, Hopper, Blackwell)"
                 if options["activations"] == "w8a8"
                 else "a CUDA GPU: FP8 Marlin (W8A16) kernels on compute capability ≥ 8.0")
        return ServingForm(export=True, gpu_needs=needs)

    def is_emulated(self, options: dict) -> bool:
        return options["activations"] != "w8a8" or options["execution"] == "emulated" or not gpu_has_fp8()

    def codec(self, options: dict) -> Codec:
        """The studio's layout: per-tensor or per-channel scales beside the codes, or 128x128 tiles."""
        if options["scales"] == "block-128":
            return Codec(formats.quantize_fp8_blocks, formats.dequantize_fp8_tiles)
        per_channel = options["scales"] == "per-channel"
        return Codec(partial(formats.quantize_fp8, fmt=options["format"], per_channel=per_channel),
                     formats.dequantize_fp8)

    def quantize(self, ctx: StageContext) -> Path:
        o = ctx.options
        out = self.new_artifact_dir(ctx)
        if hf_native(o):
            block = o["scales"] == "block-128"
            quantize = formats.quantize_fp8_blocks if block else _per_tensor_as_hf
            config = partial(_transformers_config, block=block)
            layers = packed.write_packed(ctx.model.path, out, self.name, o, quantize, keep_patterns(o),
                                         lambda f: ctx.report(f, None), quantization_config=config)
        else:
            layers = packed.write_packed(ctx.model.path, out, self.name, o, self.codec(o).quantize, keep_patterns(o),
                                         lambda f: ctx.report(f, None))
        ctx.report(1.0, f"fp8: {len(layers)} linear layers in {o['format'].upper()} "
                        f"({o['scales']}, {o['activations']})")
        return out

    def load(self, artifact: Path, device: str):
        meta = packed.read_metadata(artifact)
        dtype = compute_dtype(device)
        native = hf_native(meta["options"])
        if native and gpu_has_fp8():  # transformers' own FP8 layers, FP8 matmuls
            model = load_checkpoint(artifact, dtype=dtype, device=device)
        else:  # expanded to floats as the layers run or at load (the same products transformers expands to)
            dequantize = formats.dequantize_fp8_tiles if native else formats.dequantize_fp8
            model = packed.load_packed(artifact, dequantize, device, dtype)
        # W8A8 through FP8Linear (torch._scaled_mm: FP8 tensor cores on a GPU that has them, the same
        # products emulated elsewhere), except where transformers' own FP8 layers run natively.
        if meta["options"]["activations"] == "w8a8" and (self.is_emulated(meta["options"]) or not native):
            self._swap_in_fp8_linears(model, artifact, meta["layers"], dtype, device, native)
        return model

    def _swap_in_fp8_linears(self, model, artifact: Path, layers: list[str], dtype, device: str, native: bool) -> None:
        import torch

        from studio.recipes._fp8_linear import FP8Linear
        weight, scale = ("weight", "weight_scale_inv") if native else ("qweight", "scale")
        stored = packed.PackedWeights(artifact)
        for name in layers:
            parent, _, child = name.rpartition(".")
            bias = model.get_submodule(name).bias
            if bias is not None and bias.is_meta:  # a streamed model's: read it, the new layer holds it
                bias = torch.nn.Parameter(stored.read(f"{name}.bias", dtype).to(device), requires_grad=False)
            fp8 = FP8Linear(stored.read_part(f"{name}.weight", weight).to(device),
                            stored.read_part(f"{name}.weight", scale).reshape(-1).to(device), bias, dtype)
            setattr(model.get_submodule(parent), child, fp8)

    def load_snippet(self, artifact: Path) -> str:
        meta = packed.read_metadata(artifact)
        if hf_native(meta["options"]):
            return transformers_snippet(artifact)
        return packed.load_snippet("fp8", artifact, "packed FP8 (studio format)")


def gpu_has_fp8() -> bool:
    from studio.hardware import cuda_devices
    return any(d.compute_capability >= NATIVE_CC for d in cuda_devices())


def hf_native(options: dict) -> bool:
    """E4M3 with block or per-tensor scales: a layout transformers reads itself."""
    return options["format"] == "e4m3" and options["scales"] != "per-channel"


def _per_tensor_as_hf(w: torch.Tensor) -> dict[str, torch.Tensor]:
    t = formats.quantize_fp8(w, "e4m3", per_channel=False)
    return {"weight": t["qweight"], "weight_scale_inv": t["scale"].reshape(())}


def _transformers_config(untouched: list[str], block: bool) -> dict:
    return {"quant_method": "fp8", "activation_scheme": "dynamic",
            "weight_block_size": [128, 128] if block else None, "modules_to_not_convert": untouched}


RECIPE = FP8Recipe()
