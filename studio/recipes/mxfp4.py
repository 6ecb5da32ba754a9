"""MXFP4 (OCP Microscaling): E2M1 values with one power-of-two (E8M0) scale per 32 weights. Stored
exactly, evaluated in emulation on any device; native MX matmuls need compute capability ≥ 10.0."""
from __future__ import annotations

from studio.recipes import formats
from studio.recipes.fp4 import FP4Recipe


class MXFP4Recipe(FP4Recipe):
    name = "mxfp4"
    title = "MXFP4 (emulated)"
    description = "4-bit floats in blocks of 32 sharing a power-of-two scale (OCP MX; gpt-oss, Blackwell)."
    scale_note = "E8M0 (power-of-two) scale per 32"
    nominal_bits = 4.25  # 4 bits + an 8-bit scale per 32
    block = 32
    vllm_gpu_needs = "a CUDA GPU: MXFP4 Marlin kernels on compute capability ≥ 8.0, native on Blackwell (≥ 10.0)"
    quantize_seconds_per_gparam = 87.0
    quantize_fn = staticmethod(formats.quantize_mxfp4)
    dequantize_fn = staticmethod(formats.dequantize_mxfp4)


RECIPE = MXFP4Recipe()
