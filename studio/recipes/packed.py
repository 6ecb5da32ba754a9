"""The studio's packed checkpoint, for formats it implements itself (INT8 RTN, FP8, NVFP4, MXFP4).

A Hugging Face folder whose safetensors hold each quantized Linear's weight as the format's own tensors
(`<layer>.weight.<part>`: codes, scales) and every other tensor in 16 bits (a float32 checkpoint's
embeddings and norms are halved: nobody ships them at 32). The safetensors headers' metadata names the
recipe and its options, so the folder says how to read it. On load the codes are expanded back to floats
(weight-only emulation): the arithmetic is the format's, the matmul is not.

Both ways stream. Writing reads the checkpoint a tensor at a time and writes shards of at most
SHARD_BYTES (one file when it fits, else hub-style shards with an index), so a model of any size is
quantized in a tensor and a shard of memory. Loading holds the model as floats when that fits (the rule
of torch_backend.holds_resident) and otherwise expands each layer's codes just before it runs.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from studio.evaluation.streamed import (INDEX, SINGLE, SafetensorsWeights, StreamError, checkpoint_config, empty_model,
                                       stream_weights, weight_files)
from studio.evaluation.torch_backend import load_checkpoint, must_stream
from studio.recipes.hf import copy_side_files, quantizable_linears

if TYPE_CHECKING:  # imported where used: the server imports this module and never needs torch
    import torch

SHARD_BYTES = 4 * 2**30  # as hub checkpoints are cut (only the tensor being written is held)
HEADER_ENTRY_BYTES = 320  # a tensor's entry in a safetensors header: its name, dtype, shape and offsets
SAFETENSORS_DTYPES = {"torch.float32": "F32", "torch.float16": "F16", "torch.bfloat16": "BF16", "torch.float64": "F64",
                      "torch.int64": "I64", "torch.int32": "I32", "torch.int16": "I16", "torch.int8": "I8",
                      "torch.uint8": "U8", "torch.bool": "BOOL", "torch.float8_e4m3fn": "F8_E4M3",
                      "torch.float8_e5m2": "F8_E5M2"}
Quantizer = Callable[["torch.Tensor"], "dict[str, torch.Tensor]"]
Dequantizer = Callable[["dict[str, torch.Tensor]"], "torch.Tensor"]
MAX_PARTS = 4  # tensors a quantized weight becomes (NVFP4: codes, block scales, tensor scale, width)
# Where a quantized layer's parts are stored: the studio's own layout (`<layer>.weight.<part>`), or transformers'
# (FP8 with `quantization_config`: `<layer>.weight` in FP8 beside `<layer>.weight_scale_inv`, its bias apart).
PARTS_PREFIX = {"studio": "{}.weight.", "transformers": "{}."}
TRANSFORMERS_PARTS = ("weight", "weight_scale_inv")


def write_packed(source: Path, out: Path, recipe: str, options: dict, quantize: Quantizer | None,
                 keep: list[str], progress: Callable[[float], None],
                 quantization_config: Callable[[list[str]], dict] | None = None,
                 mix: dict[str, tuple[str, Quantizer]] | None = None) -> list[str]:
    """Quantize every eligible Linear of the checkpoint at `source` into `out`; returns their names.

    With `quantization_config` (given the names of the Linears left alone), the parts are stored
    under the layer's own name (`<layer>.weight`, `<layer>.weight_scale_inv`) and config.json gets
    that config: a checkpoint transformers loads itself. With `mix` (layer -> its format's name and quantizer: an
    automatic mix), each layer named there is stored in its own format, recorded in the metadata."""
    import torch
    model = empty_model(source)
    layers = quantizable_linears(model, keep)
    layout = "transformers" if quantization_config else "studio"
    copy_side_files(source, out)
    if quantization_config:
        untouched = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n not in layers]
        config = checkpoint_config(source)  # the checkpoint's own, dtype included
        config.quantization_config = quantization_config(untouched)
        config.save_pretrained(str(out))
    names, read = _checkpoint_tensors(source, model, layers)
    by_weight = {f"{name}.weight": name for name in layers}
    metadata = {"format": "pt", "studio_recipe": recipe, "studio_options": json.dumps(options),
                "studio_layers": json.dumps(layers), "studio_layout": layout,
                **({"studio_mix": json.dumps({layer: fmt for layer, (fmt, _) in mix.items()})} if mix else {})}
    writer = ShardWriter(out, metadata, max_entries=len(names) * MAX_PARTS)
    done = 0
    for name in names:
        tensor = read(name)
        if name not in by_weight:
            writer.add(name, sixteen_bit(tensor))
            continue
        layer_quantize = mix[by_weight[name]][1] if mix and by_weight[name] in mix else quantize
        for part, q in layer_quantize(tensor).items():
            writer.add(PARTS_PREFIX[layout].format(by_weight[name]) + part, q)
        done += 1
        progress(done / len(layers))
    writer.close()
    if done != len(layers):
        raise RuntimeError(f"the checkpoint holds {done} of the model's {len(layers)} linear layers to quantize")
    return layers


def _checkpoint_tensors(source: Path, model, layers: list[str]) -> tuple[list[str], Callable]:
    """The checkpoint's tensor names and a reader, a tensor at a time from its safetensors when they are the
    model's own names. Otherwise (pickled weights; a checkpoint whose names transformers maps onto others, such
    as the fused experts of MoE models) the model is loaded whole, in the checkpoint's dtype, and its state
    read: the memory model's figure does not hold there, which the log says."""
    expected = set(model.state_dict())
    try:
        weights = SafetensorsWeights(source)
        if set(weights.names()) <= expected and {f"{name}.weight" for name in layers} <= set(weights.names()):
            return weights.names(), weights.read
        why = "its tensor names are not the model's"
    except StreamError:
        why = "it has no safetensors weights"
    print(f"the checkpoint is loaded whole to quantize: {why}", flush=True)
    state = _unique_tensors(load_checkpoint(source, dtype="auto", device="cpu"))
    return list(state), state.pop


def _unique_tensors(model) -> dict:
    """State dict with tied tensors stored once (the embedding, not an output matrix that shares it)."""
    seen, out = set(), {}
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            out[name] = tensor.detach()
    return out


def sixteen_bit(tensor: torch.Tensor) -> torch.Tensor:
    import torch
    return tensor.to(torch.bfloat16) if tensor.dtype in (torch.float32, torch.float64) else tensor


class ShardWriter:
    """Safetensors shards written as the tensors come: each tensor's bytes go to the file at once (nothing is
    held but the tensor being written), the header last, into room kept for it at the start (padded with
    spaces, as JSON allows). One shard is `model.safetensors`; more are named and indexed as the hub does."""

    def __init__(self, out: Path, metadata: dict[str, str], max_entries: int):
        self.out, self.metadata = out, metadata
        # room for every tensor's header entry in any one shard: the header never outgrows it
        self._header_room = _align8(len(json.dumps(metadata)) + 4096 + HEADER_ENTRY_BYTES * max_entries)
        self._file = None
        self._entries: dict[str, dict] = {}
        self._written: list[tuple[Path, list[str]]] = []
        self._total = 0

    def add(self, name: str, tensor: torch.Tensor) -> None:
        import torch
        if str(tensor.dtype) not in SAFETENSORS_DTYPES or name in self._entries:
            raise ValueError(f"cannot store {name!r} ({tensor.dtype}): an unknown dtype or a name given twice")
        data = tensor.contiguous().reshape(-1).view(torch.uint8).numpy()
        if self._file is not None and self._entries and self._offset + data.nbytes > SHARD_BYTES:
            self._finish_shard()
        if self._file is None:
            self._path = self.out / f"shard-{len(self._written):05d}.partial"
            self._file = open(self._path, "wb")
            self._file.seek(8 + self._header_room)
            self._offset = 0
        self._file.write(memoryview(data))
        self._entries[name] = {"dtype": SAFETENSORS_DTYPES[str(tensor.dtype)], "shape": list(tensor.shape),
                               "data_offsets": [self._offset, self._offset + data.nbytes]}
        self._offset += data.nbytes
        self._total += data.nbytes

    def _finish_shard(self) -> None:
        header = json.dumps({"__metadata__": self.metadata, **self._entries}, separators=(",", ":")).encode()
        if len(header) > self._header_room:
            raise RuntimeError(f"safetensors header of {len(header)} bytes outgrew its room ({self._header_room})")
        self._file.seek(0)
        self._file.write(self._header_room.to_bytes(8, "little") + header.ljust(self._header_room, b" "))
        self._file.close()
        self._written.append((self._path, list(self._entries)))
        self._file, self._entries = None, {}

    def close(self) -> None:
        if self._file is not None or not self._written:
            if self._file is None:  # no tensors at all: an empty, valid file
                self._path = self.out / "shard-00000.partial"
                self._file = open(self._path, "wb")
            self._finish_shard()
        if len(self._written) == 1:
            self._written[0][0].replace(self.out / SINGLE)
            return
        weight_map = {}
        for i, (path, names) in enumerate(self._written, start=1):
            final = f"model-{i:05d}-of-{len(self._written):05d}.safetensors"
            path.replace(self.out / final)
            weight_map.update(dict.fromkeys(names, final))
        (self.out / INDEX).write_text(json.dumps({"metadata": {"total_size": self._total}, "weight_map": weight_map},
                                                 indent=2))


def _align8(n: int) -> int:
    return (n + 7) // 8 * 8


def load_snippet(recipe: str, artifact: Path, what: str) -> str:
    """Python that loads a packed artifact outside the studio's jobs (from the studio's folder, where its
    package imports), on the GPU when there is one."""
    return ("from pathlib import Path\n\nimport torch\n\nfrom studio.recipes import get\n\n"
            "device = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
            f"model = get({recipe!r}).load(Path({str(artifact)!r}), device)  # {what}")


def read_metadata(artifact: Path) -> dict:
    from safetensors import safe_open
    first = sorted(set(weight_files(artifact).values()))[0]
    with safe_open(str(artifact / first), framework="pt") as f:
        meta = f.metadata()
    # artifacts written before the layout was recorded: transformers' layout is the one with a quantization_config
    layout = meta.get("studio_layout") or ("transformers" if "quantization_config" in json.loads(
        (artifact / "config.json").read_text()) else "studio")
    return {"recipe": meta["studio_recipe"], "options": json.loads(meta["studio_options"]),
            "layers": json.loads(meta["studio_layers"]), "layout": layout,
            "mix": json.loads(meta.get("studio_mix", "{}"))}


class PackedWeights:
    """A packed artifact read by the names of the model's own parameters: a quantized layer's weight is its
    parts expanded by `dequantize` (or by its own, `by_layer`, in a mix), anything else the stored tensor.
    Without `dequantize`, only the parts themselves are read (`read_part`)."""

    def __init__(self, artifact: Path, dequantize: Dequantizer | None = None,
                 by_layer: dict[str, Dequantizer] | None = None):
        meta = read_metadata(artifact)
        self._stored = SafetensorsWeights(artifact)
        self._dequantize = dequantize
        self._by_weight = {f"{layer}.weight": fn for layer, fn in (by_layer or {}).items()}
        self._parts = {f"{layer}.weight": _parts(layer, meta["layout"], self._stored.names())
                       for layer in meta["layers"]}
        parts = {n for names in self._parts.values() for n in names.values()}
        self._plain = [n for n in self._stored.names() if n not in parts]

    def names(self) -> list[str]:
        return [*self._plain, *self._parts]

    def __contains__(self, name: str) -> bool:
        return name in self._parts or name in self._plain

    def read(self, name: str, dtype):
        if name in self._parts:
            dequantize = self._by_weight.get(name, self._dequantize)
            return dequantize({part: self._stored.read(n) for part, n in self._parts[name].items()}).to(dtype)
        return self._stored.read(name, dtype)

    def read_part(self, name: str, part: str) -> torch.Tensor:
        """One stored part of a quantized weight (the FP8 codes, a scale), as stored."""
        return self._stored.read(self._parts[name][part])


def _parts(layer: str, layout: str, stored: list[str]) -> dict[str, str]:
    """A quantized layer's parts: part name -> stored tensor name."""
    start = PARTS_PREFIX[layout].format(layer)
    if layout == "transformers":
        return {part: start + part for part in TRANSFORMERS_PARTS}
    return {n[len(start):]: n for n in stored if n.startswith(start)}


def load_packed(artifact: Path, dequantize: Dequantizer | None, device: str, dtype,
                by_layer: dict[str, Dequantizer] | None = None) -> torch.nn.Module:
    """The model with each quantized weight expanded to `dtype`: held whole when that fits, else streamed."""
    model = empty_model(artifact, dtype)
    weights = PackedWeights(artifact, dequantize, by_layer)
    if device == "cpu" and must_stream(4 * sum(p.numel() for p in model.parameters())):
        return stream_weights(model, weights, dtype)
    unexpected = [n for n in weights.names() if n not in model.state_dict()]
    model.load_state_dict({n: weights.read(n, dtype) for n in weights.names()}, strict=False, assign=True)
    model.tie_weights()  # a tied lm_head is the embedding, stored once
    missing = [n for n, p in model.named_parameters() if p.is_meta]
    if missing or unexpected:
        raise ValueError(f"{artifact} does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.to(device).eval()
