"""A checkpoint run without holding it: each module's weights are read from the safetensors files just
before the module runs, in the compute dtype, and dropped right after.

This is how the studio compares with a checkpoint that does not fit in memory as float32 (an 8 B model is
30 GB so; on a 24 GB machine it never could): resident memory is the largest single tensor (an embedding
or output matrix) plus the activations of one chunk, whatever the model's size. The arithmetic is the
model's own forward (transformers' modules, unchanged), so the logits are those of the resident model;
the cost is reading every weight once per chunk, from the page cache when the files fit there.
"""
from __future__ import annotations

import json
from functools import partial
from pathlib import Path

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"


class StreamError(RuntimeError):
    """The checkpoint cannot be streamed (no safetensors, or a weight it lacks)."""


class SafetensorsWeights:
    """Tensor name -> its bytes in the checkpoint's shards, opened once (memory-mapped, read on demand)."""

    def __init__(self, checkpoint: Path):
        from safetensors import safe_open
        index = checkpoint / INDEX
        if index.exists():
            files = json.loads(index.read_text())["weight_map"]
        elif (checkpoint / SINGLE).exists():
            with safe_open(str(checkpoint / SINGLE), framework="pt") as f:
                files = dict.fromkeys(f.keys(), SINGLE)
        else:
            raise StreamError(f"{checkpoint} has no safetensors weights to stream")
        self._handles = {name: safe_open(str(checkpoint / name), framework="pt") for name in set(files.values())}
        self._files = files

    def float32_bytes(self) -> int:
        """What holding every weight as float32 takes (from the headers: nothing is read)."""
        import math
        return 4 * sum(math.prod(self._handles[file].get_slice(name).get_shape()) for name, file in self._files.items())

    def __contains__(self, name: str) -> bool:
        return name in self._files

    def read(self, name: str, dtype):
        if name not in self._files:
            raise StreamError(f"the checkpoint has no tensor {name!r}")
        return self._handles[self._files[name]].get_tensor(name).to(dtype)


def load_streamed(checkpoint: Path, dtype=None):
    """The checkpoint's model with every parameter on the meta device and read on use (see the module doc).
    No remote code unless the user opted in (STUDIO_TRUST_REMOTE_CODE), as for a resident load."""
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    from studio.config import Settings
    settings = Settings.from_env()
    dtype = dtype or torch.float32
    config = AutoConfig.from_pretrained(str(checkpoint), trust_remote_code=settings.trust_remote_code)
    with init_empty_weights(include_buffers=False):  # buffers (rotary frequencies) are computed, so kept
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, trust_remote_code=settings.trust_remote_code)
    weights = SafetensorsWeights(checkpoint)
    sources = _checkpoint_names(model, weights)
    for prefix, module in model.named_modules():
        own = [name for name, _ in module.named_parameters(recurse=False)]
        if own:
            keys = {name: sources[f"{prefix}.{name}" if prefix else name] for name in own}
            module.register_forward_pre_hook(partial(_read_weights, weights, keys, dtype))
            module.register_forward_hook(partial(_drop_weights, {n: module._parameters[n] for n in own}))
    model.studio_streamed = True
    return model.eval()


def is_streamed(model) -> bool:
    return getattr(model, "studio_streamed", False)


def _checkpoint_names(model, weights: SafetensorsWeights) -> dict[str, str]:
    """Each parameter's tensor in the checkpoint; a tied output matrix is read from the embedding it shares."""
    tied = getattr(model, "_tied_weights_keys", None) or {}
    tied = tied if isinstance(tied, dict) else {}
    names = {}
    for name, _ in model.named_parameters(remove_duplicate=False):
        source = name if name in weights else tied.get(name, name)
        if source not in weights:
            raise StreamError(f"the checkpoint has no tensor {name!r}; it cannot be streamed")
        names[name] = source
    return names


def _read_weights(weights: SafetensorsWeights, keys: dict[str, str], dtype, module, args) -> None:
    import torch
    for name, key in keys.items():
        module._parameters[name] = torch.nn.Parameter(weights.read(key, dtype), requires_grad=False)


def _drop_weights(empty: dict, module, args, output) -> None:
    for name, meta in empty.items():
        module._parameters[name] = meta
