"""An automatic mix of the studio's own Hugging Face formats: a format per linear layer of the decoder (kept in
16 bits, INT8, FP8, NVFP4 or MXFP4, each at its recipe's defaults), chosen from the model's HF sensitivity map for a
budget (bits per weight of those layers, or a ceiling on the KLD they add), written to one packed checkpoint whose
metadata names each layer's format, and evaluated like any HF row.

A layer's cost at a format is its measured KLD at MXFP4 scaled by the format's weight-error energy on that layer
(studio.sensitivity_hf); sizes are each format's own stored parts (`linear_parts`). The mix is solved exactly
(studio.allocation); the row then says what it really cost.
"""
from __future__ import annotations

from pathlib import Path

from studio import recipes
from studio.allocation import AllocationError, Choice, Group, for_budget
from studio.evaluation.torch_backend import compute_dtype
from studio.models import ModelFacts
from studio.recipes import packed
from studio.recipes.base import Option, Requirements
from studio.recipes.hf import SERVING_OPTION, PackedRecipe
from studio.sensitivity import MAP_FILES, read_map_file
from studio.sensitivity_hf import FORMATS, KEEP, codec
from studio.stages import StageContext

FAMILY_MAP = "hf"


class HFAutoRecipe(PackedRecipe):
    name = "hf-auto"
    title = "HF automatic mix (from the sensitivity map)"
    description = "A format per linear layer (16-bit, INT8, FP8, NVFP4, MXFP4) for a bits-per-weight budget or a " \
                  "KLD ceiling, chosen from the model's HF map."
    options = (
        Option("target_bpw", "float", 0.0, "bits per weight of the decoder's linear layers (e.g. 6.0); 0: use "
               "max_kld", minimum=0.0, maximum=16.0),
        Option("max_kld", "float", 0.0, "the smallest mix whose predicted added KLD stays under this (e.g. 0.01); "
               "0: use target_bpw", minimum=0.0, maximum=10.0),
        SERVING_OPTION,
    )
    requirements = Requirements(cpu_ok=True, note="needs the model's HF sensitivity map: python -m studio "
                                "sensitivity --family hf --model M; emulated (exact formats, float matmul)")
    nominal_bits = 16.0  # at most: every layer kept
    vllm_gpu_needs = ("a CUDA GPU with the kernels of every format in the mix (FP8: compute capability ≥ 8.9; "
                      "NVFP4: ≥ 10.0, or Marlin on ≥ 8.0)")
    quantize_seconds_per_gparam = 101.0  # at worst every layer in NVFP4, the slowest of the formats

    def label(self, options: dict) -> str:
        if options["target_bpw"]:
            return f"hf:auto@{options['target_bpw']:g}bpw"
        return f"hf:auto@kld≤{options['max_kld']:g}"

    def shape_problems(self, model: ModelFacts, options: dict) -> list[str]:
        if model.shape is None or model.shape.experts != 1:
            return [f"{model.architecture}: an automatic HF mix needs a dense model with a known shape"]
        if bool(options["target_bpw"]) == bool(options["max_kld"]):
            return ["give one budget: target_bpw (bits per weight) or max_kld (the KLD the mix may add)"]
        return []

    def preflight(self, model: ModelFacts, options: dict, settings) -> list[str]:
        problems = super().preflight(model, options, settings)
        if problems:
            return problems
        found = read_map_file(settings.model_cache_dir / model.key, FAMILY_MAP)
        if found is None:
            return ["no HF sensitivity map for this model yet: measure one first (python -m studio sensitivity "
                    f"--family hf --model {model.path})"]
        try:
            choose(model, options, found)
        except AllocationError as exc:
            return [str(exc)]
        return []

    def linear_parts(self, rows: int, cols: int, options: dict) -> list[int]:
        """At most the budget's bits (a KLD ceiling: at most 16)."""
        return [round(rows * cols * (options["target_bpw"] or 16.0) / 8)]

    def is_emulated(self, options: dict) -> bool:
        return True

    def quantize(self, ctx: StageContext) -> Path:
        found = read_map_file(ctx.cache_dir, FAMILY_MAP)
        if found is None:
            raise FileNotFoundError(f"the HF sensitivity map ({MAP_FILES[FAMILY_MAP]}) is gone from {ctx.cache_dir}")
        mix = choose(ctx.model, ctx.options, found)
        ctx.made_with.update(sensitivity_job=found["job_id"], tensor_types=mix.types, predicted_kld=mix.cost)
        ctx.report(0.0, f"mix from the HF sensitivity map of job #{found['job_id']}: {mix.census()}, "
                        f"{mix.size_bytes / 2**20:.1f} MiB of linear layers, predicted added KLD {mix.cost:.5f}")
        out = self.new_artifact_dir(ctx)
        kept = [layer for layer, fmt in mix.types.items() if fmt == KEEP]
        by_layer = {layer: (fmt, codec(fmt).quantize) for layer, fmt in mix.types.items() if fmt != KEEP}
        packed.write_packed(ctx.model.path, out, self.name, ctx.options, None, kept, lambda f: ctx.report(f, None),
                            mix=by_layer)
        return out

    def load(self, artifact: Path, device: str):
        mix = packed.read_metadata(artifact)["mix"]
        return packed.load_packed(artifact, None, device, compute_dtype(device),
                                  {layer: codec(fmt).dequantize for layer, fmt in mix.items()})

    def load_snippet(self, artifact: Path) -> str:
        return packed.load_snippet(self.name, artifact, "a format per layer (studio format), expanded on load")


def groups(model: ModelFacts, found: dict) -> list[Group]:
    """Each linear layer with its choices: kept in 16 bits (no cost), or each format at its stored size and its
    cost from the map."""
    out = []
    for layer, rows, cols in model.shape.linears():
        measured, ratios = max(found["added_kld"][layer], 0.0), found["relative_error"][layer]
        choices = [Choice(KEEP, 2 * rows * cols, 0.0)]
        for fmt in FORMATS:
            recipe = recipes.get(fmt)
            choices.append(Choice(fmt, sum(recipe.linear_parts(rows, cols, recipe.defaults())),
                                  measured * ratios[fmt]))
        out.append(Group(layer, tuple(choices)))
    return out


def choose(model: ModelFacts, options: dict, found: dict):
    """The mix for the options' budget (studio.allocation)."""
    candidates = groups(model, found)
    if options["target_bpw"]:
        elements = sum(rows * cols for _, rows, cols in model.shape.linears())
        return for_budget(candidates, size_bytes=int(elements * options["target_bpw"] / 8))
    return for_budget(candidates, max_cost=options["max_kld"])


RECIPE = HFAutoRecipe()
