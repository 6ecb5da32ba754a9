"""The studio's packed checkpoint, for formats it implements itself (INT8 RTN, FP8, NVFP4, MXFP4).

A Hugging Face folder whose `model.safetensors` holds each quantized Linear's weight as the
format's own tensors (`<layer>.weight.<part>`: codes, scales) and every other tensor unchanged. The
safetensors header's metadata names the recipe and its options, so the folder says how to read it.
On load the codes are expanded back to floats (weight-only emulation): the arithmetic is the
format's, the matmul is not.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from studio.evaluation.torch_backend import load_checkpoint
from studio.recipes.hf import copy_side_files, quantizable_linears

if TYPE_CHECKING:  # imported where used: the server imports this module and never needs torch
    import torch

WEIGHTS = "model.safetensors"
Quantizer = Callable[["torch.Tensor"], "dict[str, torch.Tensor]"]
Dequantizer = Callable[["dict[str, torch.Tensor]"], "torch.Tensor"]


def write_packed(source: Path, out: Path, recipe: str, options: dict, quantize: Quantizer,
                 keep: list[str], progress: Callable[[float], None],
                 quantization_config: Callable[[list[str]], dict] | None = None) -> list[str]:
    """Quantize every eligible Linear of the checkpoint at `source` into `out`; returns their names.

    With `quantization_config` (given the names of the Linears left alone), the parts are stored
    under the layer's own name (`<layer>.weight`, `<layer>.weight_scale_inv`) and config.json gets
    that config: a checkpoint transformers loads itself."""
    import torch
    from safetensors.torch import save_file

    model = load_checkpoint(source, dtype="auto", device="cpu")  # the checkpoint's own dtype
    layers = quantizable_linears(model, keep)
    state = _unique_tensors(model)
    prefix = "{}." if quantization_config else "{}.weight."
    for i, name in enumerate(layers):
        weight = state.pop(f"{name}.weight")
        for part, tensor in quantize(weight.detach()).items():
            state[prefix.format(name) + part] = tensor.contiguous()
        progress((i + 1) / len(layers))
    copy_side_files(source, out)
    if quantization_config:
        untouched = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n not in layers]
        model.config.quantization_config = quantization_config(untouched)
        model.config.save_pretrained(str(out))
    meta = {"format": "pt", "studio_recipe": recipe, "studio_options": json.dumps(options),
            "studio_layers": json.dumps(layers)}
    save_file(state, str(out / WEIGHTS), metadata=meta)
    return layers


def _unique_tensors(model) -> dict[str, torch.Tensor]:
    """State dict with tied tensors stored once (safetensors refuses shared storage)."""
    seen: dict[int, str] = {}
    out = {}
    for name, tensor in model.state_dict().items():
        ptr = tensor.data_ptr()
        if ptr in seen:
            continue
        seen[ptr] = name
        out[name] = tensor.detach().clone()
    return out


def read_metadata(artifact: Path) -> dict:
    from safetensors import safe_open
    with safe_open(str(artifact / WEIGHTS), framework="pt") as f:
        meta = f.metadata()
    return {"recipe": meta["studio_recipe"], "options": json.loads(meta["studio_options"]),
            "layers": json.loads(meta["studio_layers"])}


def load_packed(artifact: Path, dequantize: Dequantizer, device: str, dtype) -> torch.nn.Module:
    """Build the model from its config and fill it, expanding each quantized weight to `dtype`."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    layers = read_metadata(artifact)["layers"]
    stored = load_file(str(artifact / WEIGHTS))
    state = {k: v for k, v in stored.items() if ".weight." not in k or k.rsplit(".weight.", 1)[0] not in layers}
    for name in layers:
        prefix = f"{name}.weight."
        parts = {k[len(prefix):]: v for k, v in stored.items() if k.startswith(prefix)}
        state[f"{name}.weight"] = dequantize(parts)
    config = AutoConfig.from_pretrained(str(artifact), trust_remote_code=False)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype, trust_remote_code=False)
    loaded = model.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=False)
    tied = getattr(config, "tie_word_embeddings", False)  # lm_head is the embedding, stored once
    missing = [k for k in loaded.missing_keys if not (tied and k.endswith("lm_head.weight"))]
    if missing or loaded.unexpected_keys:
        raise ValueError(f"{artifact} does not match its config: missing {missing[:5]}, "
                         f"unexpected {loaded.unexpected_keys[:5]}")
    model.tie_weights()
    return model.to(device).eval()
