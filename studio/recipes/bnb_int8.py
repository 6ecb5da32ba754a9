"""bitsandbytes LLM.int8(): int8 weights with outlier features kept in 16-bit (threshold on the
activation magnitude). CUDA compute capability ≥ 7.5, or bitsandbytes' CPU backend."""
from __future__ import annotations

from pathlib import Path

from studio.memory import MiB
from studio.recipes.base import Option, Requirements
from studio.recipes.hf import KEEP_OPTION, SERVING_OPTION, QuantizeOnLoadRecipe, kept_module_names, keep_patterns


class BnbInt8Recipe(QuantizeOnLoadRecipe):
    name = "bnb-int8"
    title = "bitsandbytes LLM.int8()"
    description = "8-bit weights; activation outliers above the threshold go through a 16-bit matmul."
    options = (
        Option("threshold", "float", 6.0, "outlier threshold on activation magnitude (0 disables the "
               "16-bit outlier path)", minimum=0.0, maximum=1000.0),
        KEEP_OPTION,
        SERVING_OPTION,
    )
    requirements = Requirements(cpu_ok=True, packages=("bitsandbytes",), gpu_min_compute_capability=7.5,
                                note="CUDA compute capability ≥ 7.5, or bitsandbytes' CPU backend")
    nominal_bits = 8.0
    vllm_gpu_needs = "a CUDA GPU with bitsandbytes installed beside vLLM (its int8 kernels)"
    quantize_floor = 525 * MiB  # SmolLM2: 629 MiB anonymous in all, of which ~104 MiB int8 linears and their scales

    def linear_parts(self, rows: int, cols: int, options: dict) -> list[int]:
        """int8 codes, a float32 scale per output row (SCB) and a one-byte weight-format tag."""
        return [rows * cols, 4 * rows, 1]

    def held_quantized_bytes(self, model, options: dict) -> int:
        """More than the artifact: SmolLM2's evaluation measured 742–973 MiB anonymous against 713 for nf4, whose
        artifact is 50 MiB smaller (bitsandbytes' CPU int8 path keeps working copies); counted as 1.5 artifacts."""
        return 3 * self.estimate_output_bytes(model, options) // 2

    def config(self, options: dict, model_path: Path):
        from transformers import BitsAndBytesConfig
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=options["threshold"],
                                  llm_int8_skip_modules=["lm_head",
                                                         *kept_module_names(model_path, keep_patterns(options))])


RECIPE = BnbInt8Recipe()
