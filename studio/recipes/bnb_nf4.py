"""bitsandbytes 4-bit (NF4 or FP4), the QLoRA format: quantized as the checkpoint loads, saved
with its quant state, loaded back by plain transformers. CUDA (compute capability ≥ 6.0) or
bitsandbytes' CPU backend."""
from __future__ import annotations

from pathlib import Path

from studio.memory import MiB
from studio.recipes.base import Option, Requirements
from studio.recipes.hf import KEEP_OPTION, SERVING_OPTION, QuantizeOnLoadRecipe, kept_module_names, keep_patterns

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


BLOCK = 64  # bitsandbytes' 4-bit block: weights per absmax
NESTED_BLOCK = 256  # absmax values per float32 scale under double quantization
QUANT_STATE = 169  # the JSON that names the format, stored as a uint8 tensor


class BnbNF4Recipe(QuantizeOnLoadRecipe):
    name = "bnb-nf4"
    title = "bitsandbytes NF4"
    description = "4-bit NormalFloat (or FP4) with optional double quantization: QLoRA's format."
    options = (
        Option("quant_type", "choice", "nf4", "NF4 (normal-distribution levels) or plain FP4", choices=("nf4", "fp4")),
        Option("double_quant", "bool", True, "quantize the quantization constants too (≈0.4 bits/weight saved)"),
        Option("compute_dtype", "choice", "bf16", "dtype of the matmuls; bf16 needs compute capability ≥ 8.0 on "
               "CUDA (fp16 there otherwise)", choices=tuple(DTYPES)),
        KEEP_OPTION,
        SERVING_OPTION,
    )
    requirements = Requirements(cpu_ok=True, packages=("bitsandbytes",), gpu_min_compute_capability=6.0,
                                note="CUDA compute capability ≥ 6.0, or bitsandbytes' CPU backend")
    nominal_bits = 4.5
    vllm_gpu_needs = "a CUDA GPU with bitsandbytes installed beside vLLM (its 4-bit kernels)"
    quantize_floor = 850 * MiB  # SmolLM2: 891 MiB anonymous in all, the 1 B shape 1,202 (41 and 470 MiB of linears)

    def linear_parts(self, rows: int, cols: int, options: dict) -> list[int]:
        """Two codes a byte and a scale (absmax) per 64 weights: float32, or with double quantization one byte
        plus a float32 per 256 of them and the 256-entry code book; the 16 levels and bitsandbytes' JSON state."""
        blocks = -(-rows * cols // BLOCK)
        if options["double_quant"]:
            scales = [blocks, 4 * -(-blocks // NESTED_BLOCK), 4 * 256]
        else:
            scales = [4 * blocks]
        return [-(-rows * cols // 2), *scales, 4 * 16, QUANT_STATE]

    def shape_problems(self, model, options: dict) -> list[str]:
        from studio.hardware import cuda_devices
        gpus = cuda_devices()
        if gpus and options["compute_dtype"] == "bf16" and max(d.compute_capability for d in gpus) < 8.0:
            return ["bf16 compute needs compute capability ≥ 8.0 on CUDA; use compute_dtype=fp16 on this GPU"]
        return []

    def advice(self, options: dict, hw) -> list[str]:
        cc = hw.best_compute_capability
        if cc is not None and cc >= 8.0 and options["compute_dtype"] == "fp16":
            return [f"compute capability {cc} has bf16: compute_dtype=bf16 is as fast as fp16 and does not "
                    "overflow where fp16 does (the usual QLoRA setting)"]
        return []

    def config(self, options: dict, model_path: Path):
        import torch
        from transformers import BitsAndBytesConfig
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=options["quant_type"],
            bnb_4bit_use_double_quant=options["double_quant"],
            bnb_4bit_compute_dtype=getattr(torch, DTYPES[options["compute_dtype"]]),
            llm_int8_skip_modules=["lm_head", *kept_module_names(model_path, keep_patterns(options))])


RECIPE = BnbNF4Recipe()
