"""NVFP4: E2M1 values, one E4M3 scale per 16 weights and one FP32 scale per tensor (NVIDIA's
Blackwell format). The studio stores the exact format and evaluates it in emulation on any
device; native FP4 tensor-core matmuls need compute capability ≥ 10.0."""
from __future__ import annotations

from studio.recipes import formats
from studio.recipes.fp4 import FP4Recipe


class NVFP4Recipe(FP4Recipe):
    name = "nvfp4"
    title = "NVFP4 (emulated)"
    description = "4-bit floats in blocks of 16 with E4M3 scales and a per-tensor FP32 scale (Blackwell)."
    scale_note = "E4M3 scale per 16 + FP32 tensor scale"
    nominal_bits = 4.5  # 4 bits + an 8-bit scale per 16
    block, tensor_scales = 16, (4,)
    vllm_gpu_needs = "a CUDA GPU: FP4 tensor cores on compute capability ≥ 10.0 (Blackwell), Marlin FP4 on ≥ 8.0"
    quantize_seconds_per_gparam = 101.0
    quantize_fn = staticmethod(formats.quantize_nvfp4)
    dequantize_fn = staticmethod(formats.dequantize_nvfp4)


RECIPE = NVFP4Recipe()
