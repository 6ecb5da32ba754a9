"""bitsandbytes LLM.int8(): int8 weights with outlier features kept in 16-bit (threshold on the
activation magnitude). CUDA compute capability ≥ 7.5, or bitsandbytes' CPU backend."""
from __future__ import annotations

from pathlib import Path

from studio.recipes.base import Option, Requirements, StageContext
from studio.recipes.hf import (KEEP_OPTION, HFRecipe, compute_device, kept_module_names, keep_patterns,
                               load_checkpoint, save_quantized)


class BnbInt8Recipe(HFRecipe):
    name = "bnb-int8"
    title = "bitsandbytes LLM.int8()"
    description = "8-bit weights; activation outliers above the threshold go through a 16-bit matmul."
    options = (
        Option("threshold", "float", 6.0, "outlier threshold on activation magnitude (0 disables the "
               "16-bit outlier path)", minimum=0.0, maximum=1000.0),
        KEEP_OPTION,
    )
    requirements = Requirements(cpu_ok=True, packages=("bitsandbytes",), gpu_min_compute_capability=7.5,
                                note="CUDA compute capability ≥ 7.5, or bitsandbytes' CPU backend")
    nominal_bits = 8.0

    def config(self, options: dict, model_path: Path):
        from transformers import BitsAndBytesConfig
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=options["threshold"],
                                  llm_int8_skip_modules=["lm_head", *kept_module_names(model_path, keep_patterns(options))])

    def quantize(self, ctx: StageContext) -> Path:
        ctx.enter_stage("quantize")
        out = self.new_artifact_dir(ctx)
        ctx.report(0.1, f"loading {ctx.model.path.name} with LLM.int8() (threshold {ctx.options['threshold']})")
        model = load_checkpoint(ctx.model.path, dtype="auto", device=compute_device(),
                                quantization_config=self.config(ctx.options, ctx.model.path))
        save_quantized(model, out)
        ctx.report(1.0, "saved int8 weights and their scales")
        return out

    def load(self, artifact: Path, device: str):
        return load_checkpoint(artifact, device=device)


RECIPE = BnbInt8Recipe()
