"""What NVFP4 and MXFP4 share: E2M1 codes in blocks, written to the studio's packed checkpoint and
expanded on load (emulation). Only the block size and the scale encoding differ."""
from __future__ import annotations

from pathlib import Path

from studio.evaluation.torch_backend import compute_dtype
from studio.recipes import packed
from studio.recipes.base import Option, Requirements
from studio.recipes.hf import KEEP_OPTION, SERVING_OPTION, Codec, PackedRecipe, keep_patterns
from studio.stages import StageContext

NATIVE_CC = 10.0


class FP4Recipe(PackedRecipe):
    scale_note: str
    block: int  # weights per scale
    tensor_scales: tuple[int, ...] = ()  # bytes of each per-tensor scale
    quantize_fn = None
    dequantize_fn = None
    requirements = Requirements(cpu_ok=True, note="emulated on any device (exact format, float matmul); "
                                "native FP4 tensor cores need compute capability ≥ 10.0 (Blackwell)")

    @property
    def options(self) -> tuple[Option, ...]:
        return (Option("execution", "choice", "emulated", f"emulated: exact {self.name.upper()} weights, float "
                       f"matmul, any device; native needs compute capability ≥ {NATIVE_CC}",
                       choices=("emulated", "native")),
                KEEP_OPTION, SERVING_OPTION)

    def requirements_for(self, options: dict) -> Requirements:
        if options["execution"] == "native":
            return Requirements(cpu_ok=False, cuda=True, min_compute_capability=NATIVE_CC,
                                note=f"native {self.name.upper()} matmuls",
                                emulated_alternative=f"{self.name} with execution=emulated",
                                not_driven=f"the studio does not drive native {self.name.upper()} kernels yet "
                                           "(same weights, float matmul in emulation)")
        return self.requirements

    def linear_parts(self, rows: int, cols: int, options: dict) -> list[int]:
        """Two codes a byte, a one-byte scale per block, the tensor's own scales, and its input width."""
        return [rows * -(-cols // 2), rows * -(-cols // self.block), *self.tensor_scales, 8]

    def is_emulated(self, options: dict) -> bool:
        return True

    def codec(self, options: dict) -> Codec:
        return Codec(type(self).quantize_fn, type(self).dequantize_fn)

    def quantize(self, ctx: StageContext) -> Path:
        out = self.new_artifact_dir(ctx)
        layers = packed.write_packed(ctx.model.path, out, self.name, ctx.options, self.codec(ctx.options).quantize,
                                     keep_patterns(ctx.options), lambda f: ctx.report(f, None))
        ctx.report(1.0, f"{self.name}: {len(layers)} linear layers in E2M1 ({self.scale_note})")
        return out

    def load(self, artifact: Path, device: str):
        return packed.load_packed(artifact, self.codec({}).dequantize, device, compute_dtype(device))

    def load_snippet(self, artifact: Path) -> str:
        return packed.load_snippet(self.name, artifact, f"exact {self.name.upper()}, expanded on load")
