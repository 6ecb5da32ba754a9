"""INT8 round-to-nearest, the textbook formula q = round(x / scale) + zero_point: the floor every
calibrated method should beat. Weight-only (W8A16), or W8A8: each linear's input rounded to int8 too, with a
scale per token computed as it runs (what vLLM's and TensorRT-LLM's int8 GEMMs do), emulated here in floats:
products of int8 codes accumulate exactly in float32 for a model's widths, so the emulation is the int8 GEMM's
arithmetic up to the order of its sums. The weights are expanded to floats for the matmul."""
from __future__ import annotations

from functools import partial
from pathlib import Path

from studio.evaluation.torch_backend import compute_dtype
from studio.models import ModelFacts
from studio.recipes import formats, packed
from studio.recipes.base import Option, Requirements
from studio.recipes.hf import KEEP_OPTION, SERVING_OPTION, Codec, PackedRecipe, group_size_problem, keep_patterns
from studio.serving.forms import ServingForm
from studio.stages import StageContext

GROUP_SIZES = (32, 64, 128, 256)


class Int8RTNRecipe(PackedRecipe):
    name = "int8-rtn"
    title = "INT8 round-to-nearest"
    description = "Textbook per-channel or per-group INT8, no calibration: a useful floor."
    options = (
        Option("scheme", "choice", "symmetric", "symmetric: zero point 0, int8; asymmetric: uint8 with a "
               "zero point per channel/group", choices=("symmetric", "asymmetric")),
        Option("granularity", "choice", "per-channel", "one scale per output channel, or per group of inputs",
               choices=("per-channel", "per-group")),
        Option("group_size", "choice", 64, "inputs per scale when per-group", choices=GROUP_SIZES),
        Option("activations", "choice", "weight-only", "weight-only (W8A16), or W8A8: activations in int8 too, a "
               "dynamic symmetric scale per token (needs symmetric per-channel weights)",
               choices=("weight-only", "w8a8")),
        KEEP_OPTION,
        SERVING_OPTION,
    )
    requirements = Requirements(cpu_ok=True, note="own implementation; any device")
    nominal_bits = 8.5
    quantize_seconds_per_gparam = 16.0

    def _group(self, options: dict) -> int | None:
        return options["group_size"] if options["granularity"] == "per-group" else None

    def linear_parts(self, rows: int, cols: int, options: dict) -> list[int]:
        """int8 codes, a float32 scale per row or per group of inputs, and a uint8 zero point when asymmetric."""
        scales = rows * (cols // (self._group(options) or cols))
        return [rows * cols, 4 * scales] + ([scales] if options["scheme"] == "asymmetric" else [])

    def label(self, options: dict) -> str:
        return "int8-rtn:w8a8" if w8a8(options) else self.name

    def serving_form(self, options: dict) -> ServingForm:
        needs = ("a CUDA GPU: int8 GEMMs (CUTLASS) on compute capability ≥ 7.5" if w8a8(options) else
                 "a CUDA GPU: Marlin W8A16 kernels on compute capability ≥ 8.0")
        return ServingForm(export=True, gpu_needs=needs)

    def shape_problems(self, model: ModelFacts, options: dict) -> list[str]:
        if w8a8(options) and (options["scheme"] != "symmetric" or options["granularity"] != "per-channel"):
            return ["W8A8 takes symmetric per-channel weights (int8 GEMMs scale whole output channels); use "
                    "scheme=symmetric and granularity=per-channel, or activations=weight-only"]
        if options["granularity"] != "per-group":
            return []
        return group_size_problem(model, options, GROUP_SIZES)

    def is_emulated(self, options: dict) -> bool:
        return True

    def codec(self, options: dict) -> Codec:
        group = self._group(options)
        return Codec(partial(formats.quantize_int8, symmetric=options["scheme"] == "symmetric", group_size=group),
                     partial(formats.dequantize_int8, group_size=group))

    def quantize(self, ctx: StageContext) -> Path:
        out = self.new_artifact_dir(ctx)
        o = ctx.options
        layers = packed.write_packed(ctx.model.path, out, self.name, o, self.codec(o).quantize, keep_patterns(o),
                                     lambda f: ctx.report(f, None))
        ctx.report(1.0, f"int8-rtn: {len(layers)} linear layers quantized ({o['scheme']}, {o['granularity']})")
        return out

    def load(self, artifact: Path, device: str):
        meta = packed.read_metadata(artifact)
        model = packed.load_packed(artifact, self.codec(meta["options"]).dequantize, device, compute_dtype(device))
        if w8a8(meta["options"]):
            for name in meta["layers"]:
                model.get_submodule(name).register_forward_pre_hook(_int8_activations)
        return model

    def load_snippet(self, artifact: Path) -> str:
        return packed.load_snippet("int8-rtn", artifact, "packed INT8, expanded on load")


def w8a8(options: dict) -> bool:
    """Activations in int8 too (artifacts written before the option existed are weight-only)."""
    return options.get("activations", "weight-only") == "w8a8"


def _int8_activations(module, args: tuple) -> tuple:
    """A linear's input as its int8 GEMM sees it: rounded per token to int8 codes times their scale."""
    return (formats.round_int8_per_token(args[0]), *args[1:])


RECIPE = Int8RTNRecipe()
