"""GGUF k-quants and legacy quants through llama.cpp: HF checkpoint -> F16 GGUF -> quantized GGUF.

The converter is llama.cpp's own (see studio.llamacpp); the quantizer is `llama_model_quantize`
from the pinned llama-cpp-python, so both come from the same llama.cpp.
"""
from __future__ import annotations

import ctypes
from pathlib import Path

from studio.llamacpp import K_QUANT_BLOCK, convert_command, file_lock, supported_architectures
from studio.models import ModelFacts
from studio.recipes.base import Option, Recipe, Requirements, StageContext, Variant

# type -> (llama_ftype value, nominal bits per weight for a 7B model per llama.cpp's quantize table)
GGUF_TYPES: dict[str, tuple[int, float]] = {
    "Q2_K": (10, 2.96), "Q3_K_S": (11, 3.50), "Q3_K_M": (12, 3.91), "Q3_K_L": (13, 4.27),
    "Q4_0": (2, 4.50), "Q4_1": (3, 5.00), "Q4_K_S": (14, 4.58), "Q4_K_M": (15, 4.89),
    "Q5_0": (8, 5.50), "Q5_1": (9, 6.00), "Q5_K_S": (16, 5.54), "Q5_K_M": (17, 5.69),
    "Q6_K": (18, 6.56), "Q8_0": (7, 8.50),
}
CAUSAL_LM_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")


def base_gguf_path(model_cache: Path) -> Path:
    """The F16 GGUF of a model: converted once, shared by every GGUF job and the base row."""
    return model_cache / "base-f16.gguf"


def ensure_base_gguf(ctx: StageContext) -> Path:
    target = base_gguf_path(ctx.cache_dir)
    with file_lock(ctx.cache_dir / "convert.lock"):
        if target.exists():
            ctx.report(1.0, f"F16 GGUF already converted: {target}")
            return target
        partial = ctx.tmp_dir / "base-f16.gguf"
        cmd, env = convert_command(ctx.shared_cache, ctx.model.path, partial, "f16")
        ctx.run_logged(cmd, env=env)
        partial.replace(target)
    return target


class GGUFRecipe(Recipe):
    name = "gguf"
    family = "gguf"
    title = "GGUF (llama.cpp)"
    description = "llama.cpp k-quants and legacy quants, for llama.cpp, Ollama and LM Studio."
    options = (
        Option("type", "choice", "Q4_K_M", "llama.cpp quantization type", choices=tuple(GGUF_TYPES)),
        Option("threads", "int", 0, "quantizer threads (0 = all cores)", minimum=0, maximum=512),
    )
    variant = Variant("type")
    requirements = Requirements(cpu_ok=True, packages=("llama_cpp",),
                                note="runs on CPU; llama.cpp keeps norms in F32")
    keeps_high_precision = ("norms (F32)",)

    def preflight(self, model: ModelFacts, options: dict, settings) -> list[str]:
        if not model.architecture.endswith(CAUSAL_LM_SUFFIXES):
            return [f"{model.architecture} is not a causal language model; GGUF recipes need one "
                    "(e.g. LlamaForCausalLM)"]
        if model.architecture not in supported_architectures(settings.cache_dir):
            return [f"llama.cpp's converter does not know the architecture {model.architecture}"]
        return []

    def estimate_output_bytes(self, model: ModelFacts, options: dict) -> int:
        # Small models fall back to wider types (rows not a multiple of 256): allow 8.5 bpw.
        bits = max(GGUF_TYPES[options["type"]][1], 8.5 if (model.hidden_size or 0) % K_QUANT_BLOCK else 0)
        return int(model.n_params * bits / 8 * 1.05)

    def base_artifact(self, ctx: StageContext) -> Path:
        # quantize() has converted it already; only take the lock again if it has not.
        target = base_gguf_path(ctx.cache_dir)
        return target if target.exists() else ensure_base_gguf(ctx)

    def fallback_tensors(self, options: dict, census: dict) -> int:
        return census["rows_not_k_divisible"] if "_K" in options["type"] else 0

    def quantize(self, ctx: StageContext) -> Path:
        import llama_cpp

        ctx.enter_stage("convert")
        base = ensure_base_gguf(ctx)
        ctx.enter_stage("quantize")
        qtype = ctx.options["type"]
        out = ctx.tmp_dir / f"{ctx.model.slug}-{qtype}.gguf"
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = GGUF_TYPES[qtype][0]
        params.nthread = ctx.options.get("threads", 0)
        ctx.report(0.0, f"llama_model_quantize {base.name} -> {qtype}")
        rc = llama_cpp.llama_model_quantize(str(base).encode(), str(out).encode(), ctypes.byref(params))
        if rc != 0:
            raise RuntimeError(f"llama_model_quantize failed with code {rc} (see the log above)")
        return out


RECIPE = GGUFRecipe()
