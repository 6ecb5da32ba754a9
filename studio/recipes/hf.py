"""What the Hugging Face-format recipes share: their family (compared to the checkpoint itself, evaluated by
torch), where they run, which layers they leave alone, and how big their output is.
"""
from __future__ import annotations

import fnmatch
import shutil
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from studio import memory
from studio.architecture import Architecture
from studio.evaluation.torch_backend import compute_device, load_checkpoint
from studio.families.base import Loader
from studio.families.hf import FAMILY
from studio.models import CAUSAL_LM_SUFFIXES, ModelFacts
from studio.recipes.base import Option, Recipe
from studio.serving.forms import ServingForm
from studio.stages import Stage, StageContext
from studio.timing import Prior

# Files that travel with every HF artifact so it loads on its own (weights are the recipe's).
SIDE_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
              "tokenizer.model", "special_tokens_map.json", "chat_template.jinja", "vocab.json", "merges.txt")
KEEP_OPTION = Option("keep", "str", "", "extra modules to keep in high precision, comma-separated "
                     "name patterns (e.g. *.mlp.down_proj,model.layers.0.*); embeddings, norms and lm_head "
                     "always stay")
SERVING_OPTION = Option("vllm_check", "bool", False, "after the evaluation, load the result in vLLM's CPU build "
                        "(its own environment, built once per machine: ~3.5 GB) and score it there on the same "
                        "tokens; the studio's own formats go as a compressed-tensors export")


# Three processes' imports of torch and transformers, loading both models (25 s per billion parameters), and
# the forward passes: the quantized model and the checkpoint in lockstep, then the checkpoint alone for its row.
PACKED_EVALUATION_PRIOR = Prior(per_job=20.0, per_gparam=25.0, per_gparam_token=0.019)
# The serving check: vLLM started twice (the result, then the checkpoint once per model: ~25 s each on SmolLM2),
# the export written a tensor at a time, and a 16-bit pass over the evaluated tokens in each (SmolLM2's W8A8 check:
# 55 s over 4 chunks, 135 s over 20).
VLLM_CHECK_PRIOR = Prior(per_job=50.0, per_gparam=40.0, per_gparam_token=0.04)
# A safetensors header entry: the tensor's name, dtype, shape and offsets in JSON (~70 bytes beside the name).
HEADER_ENTRY = 70


def artifact_bytes(arch: Architecture, kept_width: int, keep: list[str], linear_parts) -> int:
    """Bytes of a Hugging Face artifact whose decoder linears are stored as `linear_parts(rows, cols)` (each
    part a tensor), the ones matching `keep` and every other parameter at `kept_width` bytes an element."""
    data = header = linear_elements = 0
    for name, rows, cols in arch.linears():
        linear_elements += rows * cols
        kept = any(fnmatch.fnmatchcase(name, p) for p in keep)
        parts = [kept_width * rows * cols] if kept else linear_parts(rows, cols)
        data += sum(parts)
        header += len(parts) * (HEADER_ENTRY + len(name) + 16)
    others = [t for t in arch.tensors() if not _is_block_linear(t.name)]
    data += kept_width * (arch.n_params - linear_elements)
    header += sum(HEADER_ENTRY + len(t.name) + 16 for t in others)
    return data + header


def _is_block_linear(gguf_name: str) -> bool:
    return gguf_name.startswith("blk.") and gguf_name.endswith(".weight") and "norm" not in gguf_name \
        and "gate_inp" not in gguf_name


def keep_patterns(options: dict) -> list[str]:
    return [p.strip() for p in options.get("keep", "").split(",") if p.strip()]


def quantizable_linears(model, patterns: list[str]) -> list[str]:
    """Linear layers inside the decoder blocks, minus the ones the user keeps. Embeddings, norms and
    lm_head are never on the list: quantizing them costs the most quality for the least size."""
    import torch
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or name.endswith("lm_head"):
            continue
        if ".layers." not in f".{name}" or any(fnmatch.fnmatchcase(name, p) for p in patterns):
            continue
        names.append(name)
    return names


def copy_side_files(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in SIDE_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, target / name)


class HFRecipe(Recipe):
    """A recipe whose artifact is a Hugging Face folder, evaluated with torch against the checkpoint."""
    family = FAMILY
    keeps_high_precision = ("embeddings", "norms", "lm_head")
    nominal_bits: float = 16.0  # bits per quantized weight, scales included, for disk estimates
    streams_evaluation = False  # the artifact can run layer by layer when it does not fit (packed formats)
    vllm_gpu_needs = "a CUDA GPU"  # what vLLM's kernels for the format need

    def serving_form(self, options: dict) -> ServingForm:
        """How serving engines read the artifact: the folder itself, its config.json naming the method."""
        return ServingForm(export=False, gpu_needs=self.vllm_gpu_needs)

    @abstractmethod
    def load(self, artifact: Path, device: str):
        """The saved artifact as a torch model ready to run on `device`."""

    def loader(self) -> Loader:
        return self.load

    def runtime_modules(self, options: dict) -> tuple[str, ...]:
        return ("torch", "transformers", *super().runtime_modules(options))

    def preflight(self, model: ModelFacts, options: dict, settings) -> list[str]:
        if not model.architecture.endswith(CAUSAL_LM_SUFFIXES):
            return [f"{model.architecture} is not a causal language model; {self.name} needs one "
                    "(e.g. LlamaForCausalLM)"]
        return self.shape_problems(model, options)

    def shape_problems(self, model: ModelFacts, options: dict) -> list[str]:
        """Reasons the model's shapes do not fit the options (with the nearest option that fits)."""
        return []

    def estimate_output_bytes(self, model: ModelFacts, options: dict) -> int:
        """The safetensors the artifact holds: each linear layer's stored parts (`linear_parts`), the layers the
        user keeps and everything else (embeddings, norms, lm_head) at `kept_width`, and the JSON header.
        Without a shape from the config: the nominal width, 16 bits at most, with 5 % room."""
        if model.shape is None:
            return int(model.n_params * max(self.nominal_bits, 16) / 8 * 1.05) + 2**20
        return artifact_bytes(model.shape, self.kept_width(model), keep_patterns(options),
                              lambda rows, cols: self.linear_parts(rows, cols, options))

    def linear_parts(self, rows: int, cols: int, options: dict) -> list[int]:
        """Bytes of each tensor a quantized rows x cols linear layer is stored as (its codes, scales, zeros…)."""
        return [round(rows * cols * self.nominal_bits / 8)]

    def kept_width(self, model: ModelFacts) -> int:
        """Bytes per element of what is not quantized: 16 bits (the studio's and GPTQModel's writers cast)."""
        return 2

    def memory_by_stage(self, model: ModelFacts, options: dict, budget: memory.Budget) -> dict[Stage, int]:
        stages = {Stage.QUANTIZE: self.quantize_bytes(model, options),
                  Stage.EVALUATE: memory.hf_evaluation_bytes(model, budget, self.streams_evaluation,
                                                             self.held_quantized_bytes(model, options))}
        if options.get("vllm_check"):
            stages[Stage.SERVING_CHECK] = memory.vllm_check_bytes(model, self.estimate_output_bytes(model, options))
        return stages

    def held_quantized_bytes(self, model: ModelFacts, options: dict) -> int | None:
        """The quantized model's memory when its weights stay quantized there; None: expanded to float32."""
        return None

    def quantize_bytes(self, model: ModelFacts, options: dict) -> int:
        """Peak RAM of quantizing: the model in float32 plus a copy being written, plus slack."""
        return model.n_params * 4 * 2 + 512 * 2**20

    def new_artifact_dir(self, ctx: StageContext) -> Path:
        out = ctx.tmp_dir / f"{ctx.model.slug}-{self.label(ctx.options).replace(':', '-')}"
        copy_side_files(ctx.model.path, out)
        return out


@dataclass(frozen=True)
class Codec:
    """A weight to its stored parts (codes, scales…) and back: studio.recipes.packed's Quantizer and Dequantizer."""
    quantize: Callable
    dequantize: Callable


class PackedRecipe(HFRecipe):
    """A format the studio implements itself, written to its packed checkpoint (studio.recipes.packed): quantized
    a tensor at a time, and evaluated layer by layer when the model does not fit as float32."""
    streams_evaluation = True
    quantize_seconds_per_gparam: float  # measured on the 1 B shape on this project's 2-core machines

    def quantize_bytes(self, model: ModelFacts, options: dict) -> int:
        return memory.packed_quantize_bytes(model)

    def estimate_output_bytes(self, model: ModelFacts, options: dict) -> int:
        """The tensors as any HF writer stores them, plus the header room the packed writer keeps in each shard
        (an entry's worth for every part any tensor could be stored as, and its metadata: the layer list)."""
        from studio.recipes import packed  # here: packed imports this module
        stored = super().estimate_output_bytes(model, options)
        if model.shape is None:
            return stored
        tensors = len(model.shape.tensors())
        room = packed.HEADER_ENTRY_BYTES * tensors * packed.MAX_PARTS + 4096 + 128 * tensors + 4096
        return stored + room * -(-stored // packed.SHARD_BYTES)

    def serving_form(self, options: dict) -> ServingForm:
        """The studio's packed folder is its own: engines read its compressed-tensors export."""
        return ServingForm(export=True, gpu_needs=self.vllm_gpu_needs)

    def codec(self, options: dict) -> Codec | None:
        """How one weight is stored in the studio's layout of the packed checkpoint, and read back; None where
        each layer has its own (an automatic mix)."""
        return None

    def time_prior(self, options: dict) -> Prior:
        """Quantizing (the format's own rate) and the evaluation in torch with the checkpoint and its base row,
        measured on the 1 B shape (BENCHMARKS.md, "Real-size models: the studio's own HF formats")."""
        prior = PACKED_EVALUATION_PRIOR.plus(Prior(0.0, self.quantize_seconds_per_gparam, 0.0))
        return prior.plus(VLLM_CHECK_PRIOR) if options.get("vllm_check") else prior


class QuantizeOnLoadRecipe(HFRecipe):
    """Formats transformers quantizes while loading the checkpoint (a `quantization_config`) and saves
    with save_pretrained; the artifact loads back with plain `from_pretrained`."""
    quantize_floor: int  # anonymous bytes of the quantizing process beside the quantized linears (measured)

    @abstractmethod
    def config(self, options: dict, model_path: Path):
        """The transformers quantization config for these options."""

    def kept_width(self, model: ModelFacts) -> int:
        """transformers keeps what it does not quantize in the checkpoint's own dtype."""
        return max(round(model.weight_bytes / max(model.n_params, 1)), 1)

    def quantize_bytes(self, model: ModelFacts, options: dict) -> int:
        """bitsandbytes quantizes each linear as transformers loads it, and the checkpoint's 16-bit tensors stay
        mapped from its shards: what is anonymous is the quantized linears, on the process's floor (torch,
        transformers, bitsandbytes; `quantize_floor`). Without a shape from the config: float32 twice."""
        if model.shape is None:
            return super().quantize_bytes(model, options)
        kept = self.kept_width(model) * (model.shape.n_params - sum(r * c for _, r, c in model.shape.linears()))
        return self.quantize_floor + self.estimate_output_bytes(model, options) - kept

    def held_quantized_bytes(self, model: ModelFacts, options: dict) -> int:
        """bitsandbytes keeps the weights quantized in memory: about the artifact's size."""
        return self.estimate_output_bytes(model, options)

    def quantize(self, ctx: StageContext) -> Path:
        out = self.new_artifact_dir(ctx)
        ctx.report(0.1, f"loading {ctx.model.path.name} as {self.label(ctx.options)}")
        model = load_checkpoint(ctx.model.path, dtype="auto", device=compute_device(),
                                quantization_config=self.config(ctx.options, ctx.model.path))
        save_quantized(model, out)
        ctx.report(1.0, f"saved to {out.name}")
        return out

    def load(self, artifact: Path, device: str):
        return load_checkpoint(artifact, device=device)


def group_size_problem(model: ModelFacts, options: dict, valid: tuple[int, ...]) -> list[str]:
    """Group-wise kernels need the hidden size to be a multiple of the group size."""
    group = options.get("group_size")
    hidden = model.hidden_size or 0
    if group in (None, -1) or not hidden or hidden % group == 0:
        return []
    fitting = [g for g in valid if g > 0 and hidden % g == 0]
    nearest = min(fitting, key=lambda g: abs(g - group)) if fitting else None
    hint = f"; use group_size={nearest}" if nearest else "; use group_size=-1 (per channel)"
    return [f"group_size {group} does not divide the hidden size {hidden}{hint}"]


def kept_module_names(path: Path, patterns: list[str]) -> list[str]:
    """Names of the checkpoint's Linear layers that match the user's keep patterns (found on a
    weightless copy of the model, so nothing is loaded)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    if not patterns:
        return []
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(path)))
    return [n for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def save_quantized(model, out: Path) -> None:
    """save_pretrained in safetensors; tokenizer and config side files come from the source."""
    model.save_pretrained(str(out), safe_serialization=True)
