"""An automatic GGUF mix: a type per tensor, chosen from the model's sensitivity map for a budget (bits per weight
of the quantized matrices, or a ceiling on the KLD they add), written as llama-quantize's tensor-type file and
built by llama.cpp, then evaluated like any GGUF row.

The map measures each tensor at one low type (studio.sensitivity); a type between it and Q8_0 is costed by the
weight error llama.cpp makes in that tensor at that type, measured once per model and importance matrix on files
it writes (studio.gguf_error): cost(tensor, type) = measured(tensor) x energy(type) / energy(low). Until that
table exists (a preflight before the first such job) the rate-distortion rule stands in for it: the error's energy
falls 4x per added bit, cost = measured x 4^(bits(low) - bits(type)). Sizes are exact (studio.auto_mix). The mix
is solved exactly (studio.allocation); the row then says what it really cost.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from studio import memory
from studio.allocation import AllocationError, for_budget
from studio.architecture import Architecture
from studio.auto_mix import CANDIDATE_TYPES, fits, groups, tensor_type_file, tensors
from studio.families.gguf import FAMILY, base_gguf_path, convert_stage, convert_stages
from studio.gguf_error import column_weights, energies
from studio.gguf_header import read_layout
from studio.gguf_mix import block, quantizable, tensor_bytes
from studio.llamacpp import ensure_tools, file_lock
from studio.models import ModelFacts
from studio.recipes.base import Option, Recipe, Requirements
from studio.recipes.gguf import (CHECKPOINT_PRIOR, CONVERTIBLE_SUFFIXES, GGUF_PRIOR, ensure_imatrix, imatrix_file,
                                 imatrix_path, imatrix_text_problems)
from studio.sensitivity import HIGH_TYPE, MAP_FILES, read_map_file
from studio.stages import Stage, StageContext
from studio.timing import Prior


class GGUFAutoRecipe(Recipe):
    name = "gguf-auto"
    family = FAMILY
    title = "GGUF automatic mix (from the sensitivity map)"
    description = "A type per tensor for a bits-per-weight budget or a KLD ceiling, chosen from the model's map."
    options = (
        Option("target_bpw", "float", 0.0, "bits per weight of the file's tensors, as its row counts them (e.g. "
               "5.0; a stock row's bits/weight gives a mix of at most its size); 0: use max_kld",
               minimum=0.0, maximum=16.0),
        Option("max_kld", "float", 0.0, "the smallest mix whose predicted added KLD stays under this (e.g. 0.02); "
               "0: use target_bpw", minimum=0.0, maximum=10.0),
        Option("imatrix", "choice", "on", "quantize every tensor with the importance matrix of the calibration "
               "text (llama-imatrix), as the stock presets do for their low types", choices=("on", "off")),
        Option("imatrix_text", "path", "builtin", "calibration text for the importance matrix: 'builtin' (a "
               "WikiText-2 slice disjoint from the evaluation sample) or a UTF-8 file in the workspace",
               choices=("builtin",)),
        Option("checkpoint_kld", "bool", True, "also compare with the HF checkpoint (llama.cpp against torch on "
               "the same token ids)"),
    )
    requirements = Requirements(cpu_ok=True, packages=("llama_cpp",),
                                note="needs the model's sensitivity map: python -m studio sensitivity --model M")

    def label(self, options: dict) -> str:
        budget = f"{options['target_bpw']:g}bpw" if options["target_bpw"] else f"kld≤{options['max_kld']:g}"
        return f"gguf:auto@{budget}" + ("+imatrix" if options["imatrix"] == "on" else "")

    def preflight(self, model: ModelFacts, options: dict, settings) -> list[str]:
        if not model.architecture.endswith(CONVERTIBLE_SUFFIXES) or model.shape is None:
            return [f"{model.architecture}: an automatic mix needs llama.cpp's GGUF of a model with a known shape"]
        if bool(options["target_bpw"]) == bool(options["max_kld"]):
            return ["give one budget: target_bpw (bits per weight) or max_kld (the KLD the mix may add)"]
        cache_dir = settings.model_cache_dir / model.key
        found = read_map_file(cache_dir)
        if found is None:
            return ["no sensitivity map for this model yet: measure one first (python -m studio sensitivity "
                    f"--model {model.path})"]
        try:
            choose(model, options, found, read_type_errors(cache_dir, options))
        except AllocationError as exc:
            return [str(exc)]
        return imatrix_text_problems(options, settings) if options["imatrix"] == "on" else []

    def estimate_output_bytes(self, model: ModelFacts, options: dict) -> int:
        """The tensors at the budget (or, for a KLD ceiling, at most the matrices all at Q8_0), and room for the
        metadata."""
        if model.shape is None:
            return int(model.n_params * (options["target_bpw"] or 32) / 8) + 8 * 2**20
        everything = model.shape.tensors()
        if options["target_bpw"]:
            return int(sum(t.elements for t in everything) * options["target_bpw"] / 8) + 8 * 2**20
        return sum(tensor_bytes(HIGH_TYPE, t.elements) if quantizable(t) else 4 * t.elements
                   for t in everything) + 8 * 2**20

    def time_prior(self, options: dict) -> Prior:
        prior = GGUF_PRIOR.plus(TYPE_ERRORS_PRIOR)
        return prior.plus(CHECKPOINT_PRIOR) if options["checkpoint_kld"] else prior

    def memory_by_stage(self, model: ModelFacts, options: dict, budget: memory.Budget) -> dict[Stage, int]:
        return memory.gguf_stages(model, "Q4_K_M", options["checkpoint_kld"], budget.ram_available)

    def prepare(self, ctx: StageContext) -> None:
        base = convert_stage(ctx)
        if ctx.options["imatrix"] == "on":
            ensure_imatrix(ctx, ensure_tools(ctx.shared_cache, log=lambda line: ctx.report(0.0, line)), base)

    def own_stages(self, ctx: StageContext) -> tuple[Stage, ...]:
        imatrix = ctx.options["imatrix"] == "on" and not imatrix_path(ctx).exists()
        return convert_stages(ctx) + ((Stage.IMATRIX,) if imatrix else ())

    def quantize(self, ctx: StageContext) -> Path:
        found = read_map_file(ctx.cache_dir)
        if found is None:
            raise FileNotFoundError(f"the sensitivity map ({MAP_FILES['gguf']}) is gone from {ctx.cache_dir}")
        tools = ensure_tools(ctx.shared_cache, log=lambda line: ctx.report(0.0, line))
        imatrix = imatrix_path(ctx) if ctx.options["imatrix"] == "on" else None
        mix = choose(ctx.model, ctx.options, found, ensure_type_errors(ctx, tools, found, imatrix))
        ctx.report(0.0, f"mix from the sensitivity map of job #{found['job_id']}: {mix.census()}, "
                        f"{mix.size_bytes / 2**20:.1f} MiB of matrices, predicted added KLD {mix.cost:.5f}")
        ctx.made_with.update(sensitivity_job=found["job_id"], tensor_types=mix.types, predicted_kld=mix.cost)
        overrides = ctx.tmp_dir / "tensor-types.txt"
        overrides.write_text(tensor_type_file(mix.types))
        name = self.label(ctx.options).split(':', 1)[1].replace('≤', '-').replace('+', '-')
        out = ctx.tmp_dir / f"{ctx.model.slug}-{name}.gguf"
        _quantize(ctx, tools, overrides, out, imatrix)
        return out


# Measuring the type errors: a quantization and a read of the model per candidate type, once per model and matrix
# (13 passes: ~110 s for SmolLM2-135M, ~100 s for Gemma-3-270M on this project's 2 cores under load; BENCHMARKS.md).
TYPE_ERRORS_PRIOR = Prior(per_job=5.0, per_gparam=400.0, per_gparam_token=0.0)


def _quantize(ctx: StageContext, tools: Path, overrides: Path, out: Path, imatrix: Path | None) -> None:
    """llama-quantize of the F16 base with a type per tensor (the rest at the high type)."""
    with_matrix = ["--imatrix", str(imatrix)] if imatrix else []
    ctx.run_logged([str(tools / "llama-quantize"), *with_matrix, "--tensor-type-file", str(overrides),
                    str(base_gguf_path(ctx.cache_dir)), str(out), HIGH_TYPE, str(os.cpu_count() or 1)])


def type_errors_path(cache_dir: Path, imatrix: Path | None) -> Path:
    return cache_dir / f"type-errors-{imatrix.stem if imatrix else 'plain'}.json"


def read_type_errors(cache_dir: Path, options: dict) -> dict | None:
    """The measured table for a job's options, when an earlier job has made it."""
    imatrix = imatrix_file(cache_dir, options["imatrix_text"]) if options["imatrix"] == "on" else None
    path = type_errors_path(cache_dir, imatrix)
    return json.loads(path.read_text()) if path.is_file() else None


def ensure_type_errors(ctx: StageContext, tools: Path, found: dict, imatrix: Path | None) -> dict:
    """Each candidate type's weight-error energy per tensor (quantized with the job's importance matrix), and each
    tensor's at its low type as the map measured it (without one): `{type or "low": {tensor: energy}}`."""
    target = type_errors_path(ctx.cache_dir, imatrix)
    with file_lock(ctx.cache_dir / "type-errors.lock"):
        if target.exists():
            return json.loads(target.read_text())
        shapes = {t.name: t for t in tensors(ctx.model.shape)}
        plan = {"low": (found["low_types"], None)}
        plan |= {ty: ({n: ty for n in found["low_types"] if fits(ty, shapes[n])}, imatrix) for ty in CANDIDATE_TYPES}
        base = base_gguf_path(ctx.cache_dir)
        layout, weights, table = read_layout(base), column_weights(imatrix), {}
        overrides, out = ctx.tmp_dir / "type-errors.txt", ctx.tmp_dir / "type-errors.gguf"
        for i, (key, (types, matrix)) in enumerate(plan.items()):
            ctx.report(i / len(plan), f"weight error at {key}: {len(types)} tensors ({i + 1} of {len(plan)})")
            overrides.write_text(tensor_type_file(types))
            _quantize(ctx, tools, overrides, out, matrix)
            table[key] = energies(base, out, set(types), weights, layout)
            out.unlink()
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps(table))
        partial.replace(target)
    return table


def _bits(ggml_type: str) -> float:
    elements, size = block(ggml_type)
    return size * 8 / elements


def costs(found: dict, errors: dict | None) -> dict[str, dict[str, float]]:
    """Every candidate type's cost per tensor, from the one measured at the tensor's low type, scaled by the
    measured weight errors (or, without them, by the rate-distortion rule)."""
    out = {}
    for name, added in found["added_kld"].items():
        low = _bits(found["low_types"][name])
        out[name] = {t: max(added, 0.0) * _error_ratio(errors, name, t, low) for t in CANDIDATE_TYPES
                     if _bits(t) >= low}
    return out


def _error_ratio(errors: dict | None, name: str, ggml_type: str, low_bits: float) -> float:
    """energy(type) / energy(low) for one tensor."""
    if errors is None or not errors["low"].get(name) or name not in errors.get(ggml_type, {}):
        return 4.0 ** (low_bits - _bits(ggml_type))
    return errors[ggml_type][name] / errors["low"][name]


def matrices_budget(arch: Architecture, bpw: float) -> int:
    """What the quantized matrices may take in a file of `bpw` bits per weight over all its tensors (as a row
    counts them): the rest, norms and biases, llama.cpp keeps in F32."""
    everything = arch.tensors()
    rest = sum(4 * t.elements for t in everything if not quantizable(t))
    return int(sum(t.elements for t in everything) * bpw / 8) - rest


def choose(model: ModelFacts, options: dict, found: dict, errors: dict | None):
    """The mix for the options' budget (studio.allocation)."""
    candidates = groups(model.shape, costs(found, errors))
    if options["target_bpw"]:
        return for_budget(candidates, size_bytes=matrices_budget(model.shape, options["target_bpw"]))
    return for_budget(candidates, max_cost=options["max_kld"])


RECIPE = GGUFAutoRecipe()
