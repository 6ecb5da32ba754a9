"""GGUF k-quants, i-quants and legacy quants through llama.cpp: HF checkpoint -> F16 GGUF -> quantized.

The converter is llama.cpp's own (see studio.llamacpp); the quantizer is `llama_model_quantize`
from the pinned llama-cpp-python, or, when an importance matrix or per-tensor types are asked for,
`llama-quantize` built from the same release (those settings only reach the quantizer through it).
The importance matrix comes from `llama-imatrix` over a calibration text, cached per (model, text).
"""
from __future__ import annotations

import ctypes
import os
import re
from pathlib import Path

from studio.evaluation.texts import text_sha
from studio.gguf_census import K_QUANT_BLOCK
from studio.llamacpp import convert_command, ensure_tools, file_lock, supported_architectures
from studio.models import ModelFacts
from studio.recipes.base import Option, Recipe, Requirements, StageContext, Variant
from studio.recipes.calibration import calibration_path

# type -> (llama_ftype value, nominal bits per weight for a 7B model per llama.cpp's quantize table)
GGUF_TYPES: dict[str, tuple[int, float]] = {
    "Q2_K": (10, 2.96), "Q3_K_S": (11, 3.50), "Q3_K_M": (12, 3.91), "Q3_K_L": (13, 4.27),
    "Q4_0": (2, 4.50), "Q4_1": (3, 5.00), "Q4_K_S": (14, 4.58), "Q4_K_M": (15, 4.89),
    "Q5_0": (8, 5.50), "Q5_1": (9, 6.00), "Q5_K_S": (16, 5.54), "Q5_K_M": (17, 5.69),
    "Q6_K": (18, 6.56), "Q8_0": (7, 8.50),
    "IQ1_S": (24, 1.56), "IQ1_M": (31, 1.75), "IQ2_XXS": (19, 2.06), "IQ2_XS": (20, 2.31), "IQ2_S": (28, 2.50),
    "IQ2_M": (29, 2.70), "IQ3_XXS": (23, 3.06), "IQ3_S": (26, 3.44), "IQ3_M": (27, 3.66), "IQ4_XS": (30, 4.25),
    "IQ4_NL": (25, 4.50),
}
# Types llama.cpp refuses to make without an importance matrix, and the low-bit ones that gain most from it.
NEEDS_IMATRIX = ("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S")
LOW_BIT = ("Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", *(t for t in GGUF_TYPES if t.startswith("IQ")))
TENSOR_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K", "Q4_K", "Q5_0", "Q4_0")
OVERRIDE = re.compile(r"^[A-Za-z0-9_.*\[\]\\^$|+-]+=(" + "|".join(TENSOR_TYPES) + r")$", re.IGNORECASE)
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
        Option("imatrix", "choice", "auto", "importance matrix from llama-imatrix: auto = for the 2/3-bit k-quants "
               "and i-quants, on = always, off = never", choices=("auto", "on", "off")),
        Option("imatrix_text", "path", "builtin", "calibration text for the importance matrix: 'builtin' (a "
               "WikiText-2 slice disjoint from the evaluation sample) or a UTF-8 file in the workspace",
               choices=("builtin",)),
        Option("output_type", "choice", "default", "type of the output (lm_head) tensor",
               choices=("default", *TENSOR_TYPES)),
        Option("embedding_type", "choice", "default", "type of the token-embedding tensor",
               choices=("default", *TENSOR_TYPES)),
        Option("tensor_types", "str", "", "keep tensors at a higher type: comma-separated PATTERN=TYPE, e.g. "
               "attn_v=Q8_0,ffn_down=Q6_K (llama-quantize --tensor-type)"),
        Option("checkpoint_kld", "bool", True, "also compare with the HF checkpoint (llama.cpp against torch on "
               "the same token ids): the KLD that puts GGUF and HF rows on one scale, at the cost of a second pass"),
        Option("threads", "int", 0, "quantizer threads (0 = all cores)", minimum=0, maximum=512),
    )
    variant = Variant("type")
    requirements = Requirements(cpu_ok=True, packages=("llama_cpp",),
                                note="runs on CPU; llama.cpp keeps norms in F32")
    keeps_high_precision = ("norms (F32)",)

    def uses_imatrix(self, options: dict) -> bool:
        return options["imatrix"] == "on" or (options["imatrix"] == "auto" and options["type"] in LOW_BIT)

    def needs_tools(self, options: dict) -> bool:
        return (self.uses_imatrix(options) or options["tensor_types"] != "" or options["output_type"] != "default"
                or options["embedding_type"] != "default")

    def label(self, options: dict) -> str:
        extras = ["imatrix"] if self.uses_imatrix(options) else []
        if options["tensor_types"] or options["output_type"] != "default" or options["embedding_type"] != "default":
            extras.append("overrides")
        return "+".join([f"gguf:{options['type']}", *extras])

    def preflight(self, model: ModelFacts, options: dict, settings) -> list[str]:
        if not model.architecture.endswith(CAUSAL_LM_SUFFIXES):
            return [f"{model.architecture} is not a causal language model; GGUF recipes need one "
                    "(e.g. LlamaForCausalLM)"]
        if model.architecture not in supported_architectures(settings.cache_dir):
            return [f"llama.cpp's converter does not know the architecture {model.architecture}"]
        problems = [f"tensor_types: {item!r} is not PATTERN=TYPE with TYPE one of {', '.join(TENSOR_TYPES)}"
                    for item in _overrides(options) if not OVERRIDE.match(item)]
        if options["type"] in NEEDS_IMATRIX and not self.uses_imatrix(options):
            problems.append(f"{options['type']} needs an importance matrix: set imatrix=auto or on")
        if self.uses_imatrix(options):
            from studio.recipes.calibration import calibration_problems
            problems += [p.replace("calibration", "imatrix_text", 1) for p in calibration_problems(
                {"calibration": options["imatrix_text"], "samples": 1, "seq_len": 512}, settings)]
        return problems

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
        ctx.enter_stage("convert")
        base = ensure_base_gguf(ctx)
        o = ctx.options
        out = ctx.tmp_dir / f"{ctx.model.slug}-{self.label(o).split(':', 1)[1].replace('+', '-')}.gguf"
        if not self.needs_tools(o):
            ctx.enter_stage("quantize")
            _quantize_in_process(base, out, o)
            return out
        tools = ensure_tools(ctx.shared_cache, log=lambda line: ctx.report(0.0, line))
        imatrix = ensure_imatrix(ctx, tools, base) if self.uses_imatrix(o) else None
        ctx.enter_stage("quantize")
        cmd = [str(tools / "llama-quantize")]
        if imatrix:
            cmd += ["--imatrix", str(imatrix)]
        if o["output_type"] != "default":
            cmd += ["--output-tensor-type", o["output_type"].lower()]
        if o["embedding_type"] != "default":
            cmd += ["--token-embedding-type", o["embedding_type"].lower()]
        for item in _overrides(o):
            pattern, _, qtype = item.partition("=")
            cmd += ["--tensor-type", f"{pattern}={qtype.lower()}"]
        ctx.run_logged([*cmd, str(base), str(out), o["type"], str(o["threads"] or os.cpu_count() or 1)])
        return out


def _overrides(options: dict) -> list[str]:
    return [item.strip() for item in options["tensor_types"].split(",") if item.strip()]


def _quantize_in_process(base: Path, out: Path, options: dict) -> None:
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = GGUF_TYPES[options["type"]][0]
    params.nthread = options.get("threads", 0)
    rc = llama_cpp.llama_model_quantize(str(base).encode(), str(out).encode(), ctypes.byref(params))
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize failed with code {rc} (see the log above)")


def ensure_imatrix(ctx: StageContext, tools: Path, base: Path) -> Path:
    """llama-imatrix over the calibration text, once per (model, text): no time cap, progress relayed."""
    text = calibration_path(ctx.options["imatrix_text"])
    target = ctx.cache_dir / f"imatrix-{text_sha(text)[:16]}.gguf"
    with file_lock(ctx.cache_dir / "imatrix.lock"):
        if target.exists():
            ctx.report(1.0, f"importance matrix already computed: {target.name}")
            return target
        ctx.enter_stage("imatrix")
        partial = ctx.tmp_dir / "imatrix.gguf"
        chunks = {"n": None}

        def progress(line: str) -> float | None:
            if m := re.search(r"computing over (\d+) chunks", line):
                chunks["n"] = int(m.group(1))
            done = re.findall(r"\[(\d+)\]", line)
            return int(done[-1]) / chunks["n"] if done and chunks["n"] else None

        ctx.run_logged([str(tools / "llama-imatrix"), "-m", str(base), "-f", str(text), "-o", str(partial),
                        "-c", "512", "-t", str(os.cpu_count() or 1)], progress=progress)
        partial.replace(target)
    return target


RECIPE = GGUFRecipe()
