"""INT8 round-to-nearest, the textbook formula q = round(x / scale) + zero_point: the floor every
calibrated method should beat. Weight-only; the weights are expanded to floats for the matmul."""
from __future__ import annotations

from functools import partial
from pathlib import Path

from studio.evaluation.torch_backend import compute_dtype
from studio.models import ModelFacts
from studio.recipes import formats, packed
from studio.recipes.base import Option, Requirements
from studio.recipes.hf import KEEP_OPTION, Codec, PackedRecipe, group_size_problem, keep_patterns
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
        KEEP_OPTION,
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

    def shape_problems(self, model: ModelFacts, options: dict) -> list[str]:
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
        options = packed.read_metadata(artifact)["options"]
        return packed.load_packed(artifact, self.codec(options).dequantize, device, compute_dtype(device))

    def load_snippet(self, artifact: Path) -> str:
        return packed.load_snippet("int8-rtn", artifact, "packed INT8, expanded on load")


RECIPE = Int8RTNRecipe()
