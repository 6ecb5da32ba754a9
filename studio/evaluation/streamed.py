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
    """Tensor name -> its bytes in a folder's safetensors shards, opened once (memory-mapped, read on demand)."""

    def __init__(self, folder: Path):
        from safetensors import safe_open
        self._files = weight_files(folder)
        self._handles = {name: safe_open(str(folder / name), framework="pt") for name in set(self._files.values())}

    def names(self) -> list[str]:
        return list(self._files)

    def shape(self, name: str) -> list[int]:
        return self._handles[self._files[name]].get_slice(name).get_shape()

    def float32_bytes(self) -> int:
        """What holding every weight as float32 takes (from the headers: nothing is read)."""
        import math
        return 4 * sum(math.prod(self.shape(name)) for name in self._files)

    def __contains__(self, name: str) -> bool:
        return name in self._files

    def read(self, name: str, dtype=None):
        """The tensor, in `dtype` or as stored."""
        if name not in self._files:
            raise StreamError(f"the checkpoint has no tensor {name!r}")
        tensor = self._handles[self._files[name]].get_tensor(name)
        return tensor if dtype is None else tensor.to(dtype)


def weight_files(folder: Path) -> dict[str, str]:
    """Tensor name -> the safetensors file in `folder` that holds it (sharded with an index, or one file)."""
    from safetensors import safe_open
    index = folder / INDEX
    if index.exists():
        return json.loads(index.read_text())["weight_map"]
    if (folder / SINGLE).exists():
        with safe_open(str(folder / SINGLE), framework="pt") as f:
            return dict.fromkeys(f.keys(), SINGLE)
    raise StreamError(f"{folder} has no safetensors weights to stream")


def empty_model(folder: Path, dtype=None):
    """The model of `folder`'s config with its parameters on the meta device (buffers, computed, are real).
    No remote code unless the user opted in (STUDIO_TRUST_REMOTE_CODE), as for a resident load."""
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    from studio.config import Settings
    settings = Settings.from_env()
    with init_empty_weights(include_buffers=False):
        return AutoModelForCausalLM.from_config(checkpoint_config(folder), dtype=dtype or torch.float32,
                                                trust_remote_code=settings.trust_remote_code)


def checkpoint_config(folder: Path):
    """The folder's transformers config (remote code only if the user opted in)."""
    from transformers import AutoConfig

    from studio.config import Settings
    settings = Settings.from_env()
    return AutoConfig.from_pretrained(str(folder), trust_remote_code=settings.trust_remote_code)


def load_streamed(folder: Path, dtype=None):
    """The checkpoint in `folder` with every parameter on the meta device and read on use (module doc)."""
    import torch
    dtype = dtype or torch.float32
    return stream_weights(empty_model(folder, dtype), SafetensorsWeights(folder), dtype)


def stream_weights(model, weights, dtype):
    """`model` (parameters on meta) made to read each module's parameters from `weights` (anything with
    `in` and `read(name, dtype)`: a checkpoint's safetensors, a packed artifact expanding its codes) just
    before the module runs, and to drop them after."""
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


def _checkpoint_names(model, weights) -> dict[str, str]:
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


def _read_weights(weights, keys: dict[str, str], dtype, module, args) -> None:
    import torch
    for name, key in keys.items():
        module._parameters[name] = torch.nn.Parameter(weights.read(key, dtype), requires_grad=False)


def _drop_weights(empty: dict, module, args, output) -> None:
    for name, meta in empty.items():
        module._parameters[name] = meta
