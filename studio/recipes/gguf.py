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

from gguf import QK_K, LlamaFileType

from studio import memory
from studio.evaluation.texts import text_sha
from studio.families.gguf import FAMILY, convert_stage, convert_stages
from studio.gguf_mix import Overrides, gguf_size
from studio.llamacpp import ensure_tools, file_lock, supported_architectures
from studio.models import CAUSAL_LM_SUFFIXES, ModelFacts
from studio.recipes.base import Option, Recipe, Requirements, Variant
from studio.recipes.calibration import calibration_path
from studio.stages import Stage, StageContext
from studio.timing import Prior

# type -> nominal bits per weight for a 7B model, per llama.cpp's quantize table
NOMINAL_BPW: dict[str, float] = {
    "Q2_K": 2.96, "Q3_K_S": 3.50, "Q3_K_M": 3.91, "Q3_K_L": 4.27, "Q4_0": 4.50, "Q4_1": 5.00, "Q4_K_S": 4.58,
    "Q4_K_M": 4.89, "Q5_0": 5.50, "Q5_1": 6.00, "Q5_K_S": 5.54, "Q5_K_M": 5.69, "Q6_K": 6.56, "Q8_0": 8.50,
    "IQ1_S": 1.56, "IQ1_M": 1.75, "IQ2_XXS": 2.06, "IQ2_XS": 2.31, "IQ2_S": 2.50, "IQ2_M": 2.70, "IQ3_XXS": 3.06,
    "IQ3_S": 3.44, "IQ3_M": 3.66, "IQ4_XS": 4.25, "IQ4_NL": 4.50,
}
# Seconds on this project's 2-core machines (studio.timing.Prior), from the 8 B shape's stages (bench gguf-8b,
# 2026-12-03): convert 74 s and quantize 233 s for 7.38 B parameters, the Q4_K_M and its F16 in lockstep 164 s and
# the base row 100 s for 1,024 tokens; the pass against the streamed checkpoint ~370 s (the slow test's job).
GGUF_PRIOR = Prior(per_job=10.0, per_gparam=42.0, per_gparam_token=0.035)
CHECKPOINT_PRIOR = Prior(per_job=10.0, per_gparam=0.0, per_gparam_token=0.049)
# type -> llama.cpp's file type (llama_ftype), from gguf-py, which ships with the same llama.cpp
GGUF_TYPES: dict[str, LlamaFileType] = {name: LlamaFileType[f"MOSTLY_{name}"] for name in NOMINAL_BPW}
# Types llama.cpp refuses to make without an importance matrix (their mixes keep tensors at IQ1/IQ2 or IQ3_XXS,
# which it will not write without one: IQ2_M and IQ3_XXS too, found quantizing every type for real), and the
# low-bit ones that gain most from it.
NEEDS_IMATRIX = ("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS")
LOW_BIT = ("Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", *(t for t in GGUF_TYPES if t.startswith("IQ")))
TENSOR_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K", "Q4_K", "Q5_0", "Q4_0")
OVERRIDE = re.compile(r"^[A-Za-z0-9_.*\[\]\\^$|+-]+=(" + "|".join(TENSOR_TYPES) + r")$", re.IGNORECASE)
# llama.cpp's converter also takes the text model out of vision-language checkpoints (Gemma 3 and others).
CONVERTIBLE_SUFFIXES = (*CAUSAL_LM_SUFFIXES, "ForConditionalGeneration")


class GGUFRecipe(Recipe):
    name = "gguf"
    family = FAMILY
    title = "GGUF (llama.cpp)"
    description = "llama.cpp k-quants, i-quants and legacy quants, for llama.cpp, Ollama and LM Studio."
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
        if not model.architecture.endswith(CONVERTIBLE_SUFFIXES):
            return [f"{model.architecture} is not a causal language model; GGUF recipes need one "
                    "(e.g. LlamaForCausalLM)"]
        if model.architecture not in supported_architectures(settings.cache_dir):
            return [f"llama.cpp's converter does not know the architecture {model.architecture}"]
        problems = [f"tensor_types: {item!r} is not PATTERN=TYPE with TYPE one of {', '.join(TENSOR_TYPES)}"
                    for item in _overrides(options) if not OVERRIDE.match(item)]
        if options["type"] in NEEDS_IMATRIX and not self.uses_imatrix(options):
            problems.append(f"{options['type']} needs an importance matrix: set imatrix=auto or on")
        if self.uses_imatrix(options):
            problems += imatrix_text_problems(options, settings)
        return problems

    def estimate_output_bytes(self, model: ModelFacts, options: dict) -> int:
        """The file's size from llama.cpp's type mix on the config's tensors (studio.gguf_mix); without a shape,
        the nominal width, or 8.5 bits when rows may not take k-quant blocks."""
        if model.shape is None:
            bits = max(NOMINAL_BPW[options["type"]], 8.5 if (model.hidden_size or 0) % QK_K else 0)
            return int(model.n_params * bits / 8 * 1.05)
        return gguf_size(model.shape, options["type"], self.mix_overrides(options),
                         model.tokenizer_file).file_bytes

    def time_prior(self, options: dict) -> Prior:
        """Convert, quantize (a k-quant; i-quants search longer), the evaluation with the F16 in lockstep and the
        base row, and the pass against the checkpoint when it is on: measured on the 8 B shape."""
        return GGUF_PRIOR.plus(CHECKPOINT_PRIOR) if options["checkpoint_kld"] else GGUF_PRIOR

    def mix_overrides(self, options: dict) -> Overrides:
        """The options that change llama.cpp's type mix."""
        def chosen(value: str) -> str | None:
            return None if value == "default" else value.upper()
        patterns = tuple((p, t.upper()) for p, _, t in (item.partition("=") for item in _overrides(options)))
        return Overrides(chosen(options["output_type"]), chosen(options["embedding_type"]), patterns,
                         self.uses_imatrix(options))

    def memory_by_stage(self, model: ModelFacts, options: dict, budget: memory.Budget) -> dict[Stage, int]:
        """Anonymous memory per stage (see studio.memory: every stage streams or maps)."""
        return memory.gguf_stages(model, options["type"], options["checkpoint_kld"], budget.ram_available)

    def fallback_tensors(self, options: dict, census: dict) -> int:
        return census["rows_not_k_divisible"] if "_K" in options["type"] else 0

    def prepare(self, ctx: StageContext) -> None:
        """The F16 GGUF (convert), then the tools and importance matrix when the options need them."""
        base = convert_stage(ctx)
        if self.needs_tools(ctx.options):
            tools = ensure_tools(ctx.shared_cache, log=lambda line: ctx.report(0.0, line))
            if self.uses_imatrix(ctx.options):
                ensure_imatrix(ctx, tools, base)

    def own_stages(self, ctx: StageContext) -> tuple[Stage, ...]:
        imatrix = self.uses_imatrix(ctx.options) and not imatrix_path(ctx).exists()
        return convert_stages(ctx) + ((Stage.IMATRIX,) if imatrix else ())

    def quantize(self, ctx: StageContext) -> Path:
        base = FAMILY.base_artifact(ctx)
        o = ctx.options
        out = ctx.tmp_dir / f"{ctx.model.slug}-{self.label(o).split(':', 1)[1].replace('+', '-')}.gguf"
        if not self.needs_tools(o):
            quantize_file(base, out, o)
            return out
        tools = ensure_tools(ctx.shared_cache, log=lambda line: ctx.report(0.0, line))
        cmd = [str(tools / "llama-quantize")]
        if self.uses_imatrix(o):
            cmd += ["--imatrix", str(imatrix_path(ctx))]
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


def quantize_file(base: Path, out: Path, options: dict) -> None:
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = GGUF_TYPES[options["type"]]
    params.nthread = options.get("threads", 0)
    rc = llama_cpp.llama_model_quantize(str(base).encode(), str(out).encode(), ctypes.byref(params))
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize failed with code {rc} (see the log above)")


def imatrix_text_problems(options: dict, settings) -> list[str]:
    """What is wrong with the importance matrix's calibration text (the GGUF recipes that use one share it)."""
    from studio.recipes.calibration import calibration_problems
    return [p.replace("calibration", "imatrix_text", 1) for p in calibration_problems(
        {"calibration": options["imatrix_text"], "samples": 1, "seq_len": 512}, settings)]


def imatrix_path(ctx: StageContext) -> Path:
    """The importance matrix of the job's model and calibration text, in the model's cache."""
    return imatrix_file(ctx.cache_dir, ctx.options["imatrix_text"])


def imatrix_file(cache_dir: Path, imatrix_text: str) -> Path:
    return cache_dir / f"imatrix-{text_sha(calibration_path(imatrix_text))[:16]}.gguf"


def ensure_imatrix(ctx: StageContext, tools: Path, base: Path) -> Path:
    """llama-imatrix over the calibration text, once per (model, text): no time cap, progress relayed."""
    text = calibration_path(ctx.options["imatrix_text"])
    target = imatrix_path(ctx)
    with file_lock(ctx.cache_dir / "imatrix.lock"):
        if target.exists():
            ctx.report(1.0, f"importance matrix already computed: {target.name}")
            return target
        ctx.enter_stage(Stage.IMATRIX)
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
