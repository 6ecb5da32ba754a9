"""Export the studio's packed checkpoint (int8-rtn, fp8, nvfp4, mxfp4 and hf-auto mixes of them) as a
compressed-tensors 0.17 checkpoint: the format llm-compressor writes and vLLM, SGLang and transformers load.

The codes and scales are the studio's own, moved into compressed-tensors' tensor names and encodings, never
re-quantized: the export dequantizes (by compressed-tensors' formula, in float32) to exactly the weights the studio
evaluated, NVFP4 apart (below). The encodings differ in three places:
- asymmetric INT8: the studio's codes and zero points are uint8 (q in [0, 255]); compressed-tensors' are int8, so
  both move down by 128 (its dequantization is (q - zp) x scale: the difference is the same);
- NVFP4's global scale is a divisor there (W = e2m1 x block_scale / global_scale), a factor in the studio
  (W = e2m1 x block_scale x tensor_scale). 1 / tensor_scale is rarely a float32, so the global scale written is
  the float32 next to it that gets the most block scales exactly right; the codes and E4M3 block scales are the
  studio's bytes, and a weight is at most two float32 steps off (the export's notes say for how many layers);
- FP8 and INT8 scales are reshaped to the library's layouts ([1], [N, 1], [N, groups], [N/128, K/128]).

It streams: the artifact is read a tensor at a time and the shards written as they come (`packed.ShardWriter`),
so a model of any size exports in a tensor and a shard of memory. The tensors are written by hand with the
library's packing helpers; `quantization_config` comes from the library's own models
(`QuantizationConfig`, `ModelCompressor.update_config`), the format of each group from its compressors'
`can_compress` rules. torch and compressed_tensors are imported where used: the server imports this module.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from studio.recipes import formats, packed

if TYPE_CHECKING:
    import torch

SUPPORTED = ("int8-rtn", "fp8", "nvfp4", "mxfp4", "hf-auto")
# vLLM runs these projections as one fused matmul: one scheme, and for NVFP4 one global scale, per group.
FUSED = {"q_proj": "qkv_proj", "k_proj": "qkv_proj", "v_proj": "qkv_proj",
         "gate_proj": "gate_up_proj", "up_proj": "gate_up_proj"}
GLOBAL_SCALE_SEARCH = 8  # float32 steps tried on either side of 1 / tensor_scale


class ExportError(ValueError):
    """The artifact cannot be written as compressed-tensors (the message says why)."""


@dataclass(frozen=True)
class CompressedTensorsExport:
    path: Path  # the folder written
    scheme: str  # what it is in words, e.g. "INT8 W8A8: int8 per-channel weights, dynamic per-token int8 activations"
    formats: tuple[str, ...]  # compressed-tensors formats in config.json, e.g. ("int-quantized",)
    activations: bool  # True when activations are quantized too (W8A8)
    notes: tuple[str, ...]  # what a serving engine may do differently, e.g. NVFP4 fused-shard global scales differ


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one per format in an export
class _Scheme:
    """One studio format as a compressed-tensors scheme: its args, the format the library gives it, and how a
    layer's stored parts become the library's tensors."""
    words: str
    format: str  # the CompressionFormat compressed-tensors infers for it (checked when exporting)
    weights: dict  # QuantizationArgs fields
    input_activations: dict | None
    convert: Callable  # (read_part, layer) -> {local tensor name: tensor}
    preset: str | None = None  # the library's preset whose weight args these are (NVFP4A16, MXFP4A16)


def describe(artifact: Path) -> tuple[str, tuple[str, ...], bool]:
    """(scheme in words, compressed-tensors formats, activations quantized) of the export, without writing it.
    Raises ExportError for an artifact compressed-tensors cannot hold by its recipe and options; shapes it cannot
    hold (FP8 tiles or FP4 blocks that do not divide a layer) are found by the export, layer by layer."""
    meta = _metadata(Path(artifact))
    by_layer = _schemes(meta)
    return _summary(by_layer)


def export_compressed_tensors(artifact: Path, out: Path,
                              progress: Callable[[float], None] | None = None) -> CompressedTensorsExport:
    """Write the packed artifact at `artifact` as a compressed-tensors checkpoint in the new folder `out`.
    It is built in `<out>.partial` and renamed when complete; on any error nothing is left behind."""
    artifact, out = Path(artifact), Path(out)
    if out.exists():
        raise ExportError(f"{out} already exists; export into a new folder")
    meta = _metadata(artifact)
    by_layer = _schemes(meta)
    scheme, fmts, activations = _summary(by_layer)
    partial = out.with_name(out.name + ".partial")
    if partial.exists():  # our own leftover from an export that was killed
        shutil.rmtree(partial)
    try:
        notes = _write(artifact, partial, meta, by_layer, progress or (lambda f: None))
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return CompressedTensorsExport(out, scheme, fmts, activations, notes)


# -- what the artifact is ---------------------------------------------------------------------------------------

def _metadata(artifact: Path) -> dict:
    if not (artifact / "config.json").exists():
        raise ExportError(f"{artifact} is not a Hugging Face folder (no config.json)")
    from studio.evaluation.streamed import StreamError
    try:
        meta = packed.read_metadata(artifact)
    except (StreamError, KeyError, TypeError, OSError, ValueError) as exc:  # no weights, or not the studio's
        raise ExportError(f"{artifact} is not one of the studio's packed checkpoints (int8-rtn, fp8, nvfp4, "
                          f"mxfp4, hf-auto): {type(exc).__name__}: {exc}") from None
    if meta["recipe"] not in SUPPORTED:
        raise ExportError(f"recipe {meta['recipe']!r} has no compressed-tensors export; exported are "
                          f"{', '.join(SUPPORTED)}")
    if not meta["layers"]:
        raise ExportError(f"{artifact} quantizes no layer: nothing to export as compressed-tensors")
    return meta


def _schemes(meta: dict) -> dict[str, _Scheme]:
    """Each quantized layer's scheme."""
    if meta["recipe"] != "hf-auto":
        scheme = _scheme(meta["recipe"], meta["options"], meta["layout"])
        return dict.fromkeys(meta["layers"], scheme)
    from studio import recipes
    mix, cache = meta["mix"], {}
    missing = [layer for layer in meta["layers"] if layer not in mix]
    if missing:
        raise ExportError(f"the hf-auto artifact names no format for {len(missing)} layers (e.g. {missing[0]})")
    out = {}
    for layer in meta["layers"]:
        fmt = mix[layer]
        if fmt not in cache:
            if fmt not in ("int8-rtn", "fp8", "nvfp4", "mxfp4"):
                raise ExportError(f"the hf-auto mix uses {fmt!r}, which has no compressed-tensors export")
            # a mix stores each format at its recipe's defaults in the studio's layout, and runs weight-only
            options = {**recipes.get(fmt).defaults(), "activations": "weight-only"}
            cache[fmt] = _scheme(fmt, options, "studio")
        out[layer] = cache[fmt]
    return out


def _scheme(recipe: str, options: dict, layout: str) -> _Scheme:
    if recipe == "int8-rtn":
        return _int8_scheme(options)
    if recipe == "fp8":
        return _fp8_scheme(options, layout)
    if recipe == "nvfp4":
        return _Scheme("NVFP4A16: E2M1 weights, an E4M3 scale per 16 and an FP32 global scale per tensor, "
                       "16-bit activations", "nvfp4-pack-quantized", {}, None, _nvfp4_tensors, preset="NVFP4A16")
    if recipe == "mxfp4":
        return _Scheme("MXFP4A16: E2M1 weights, an E8M0 (power-of-two) scale per 32, 16-bit activations",
                       "mxfp4-pack-quantized", {}, None, _mxfp4_tensors, preset="MXFP4A16")
    raise ExportError(f"recipe {recipe!r} has no compressed-tensors export")


def _int8_scheme(options: dict) -> _Scheme:
    symmetric = options["scheme"] == "symmetric"
    group = options["group_size"] if options["granularity"] == "per-group" else None
    granularity = f"per-group-{group}" if group else "per-channel"
    if options.get("activations", "weight-only") == "w8a8":
        if not symmetric or group:
            raise ExportError(f"INT8 W8A8 exports symmetric per-channel weights only (compressed-tensors' W8A8, "
                              f"vLLM's int8 kernels); this artifact is {options['scheme']} {granularity}")
        return _Scheme("INT8 W8A8: int8 per-channel weights, dynamic per-token int8 activations", "int-quantized",
                       dict(num_bits=8, type="int", strategy="channel", symmetric=True),
                       dict(num_bits=8, type="int", strategy="token", symmetric=True, dynamic=True),
                       _int8_w8a8_tensors)
    weights = dict(num_bits=8, type="int", symmetric=symmetric,
                   **({"strategy": "group", "group_size": group} if group else {"strategy": "channel"}))
    return _Scheme(f"INT8 W8A16: int8 {options['scheme']} {granularity} weights, 16-bit activations",
                   "pack-quantized", weights, None, _int8_packed_tensors)


def _fp8_scheme(options: dict, layout: str) -> _Scheme:
    if options["format"] != "e4m3":
        raise ExportError(f"compressed-tensors' FP8 is E4M3 only; this artifact is {options['format'].upper()}")
    scales = options["scales"]
    weights = {"per-tensor": dict(strategy="tensor"), "per-channel": dict(strategy="channel"),
               "block-128": dict(strategy="block", block_structure=[formats.FP8_TILE, formats.FP8_TILE])}[scales]
    weights = dict(num_bits=8, type="float", symmetric=True, **weights)
    convert = _fp8_tensors(layout, scales)
    if options.get("activations", "weight-only") != "w8a8":
        return _Scheme(f"FP8 W8A16: E4M3 weights ({scales} scales), 16-bit activations", "naive-quantized",
                       weights, None, convert)
    # per-token activation scales, as FP8_DYNAMIC; with 128x128 weight tiles, groups of 128 as the library's FP8_BLOCK
    inputs = (dict(strategy="group", group_size=formats.FP8_TILE) if scales == "block-128"
              else dict(strategy="token"))
    words = "per-128-group" if scales == "block-128" else "per-token"
    return _Scheme(f"FP8 W8A8: E4M3 weights ({scales} scales), dynamic {words} E4M3 activations",
                   "float-quantized", weights, dict(num_bits=8, type="float", symmetric=True, dynamic=True, **inputs),
                   convert)


def _summary(by_layer: dict[str, _Scheme]) -> tuple[str, tuple[str, ...], bool]:
    used = list(dict.fromkeys(by_layer.values()))
    if len(used) == 1:
        words = used[0].words
    else:
        counts = [sum(s is u for s in by_layer.values()) for u in used]
        words = "Mixed precision: " + "; ".join(f"{n} layers {u.words}" for n, u in zip(counts, used))
    fmts = tuple(dict.fromkeys(u.format for u in used))
    return words, fmts, any(u.input_activations for u in used)


# -- each format's tensors (local names under the layer) -----------------------------------------------------------

def _int8_w8a8_tensors(read: Callable[[str], torch.Tensor], layer: str) -> dict[str, torch.Tensor]:
    q, scale = read("qweight"), read("scale")
    return {"weight": q, "weight_scale": scale.float().reshape(q.shape[0], 1)}


def _int8_packed_tensors(read: Callable[[str], torch.Tensor], layer: str) -> dict[str, torch.Tensor]:
    import torch
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32
    q, scale = read("qweight"), read("scale").float()
    rows, cols = q.shape
    scale = scale.reshape(rows, -1)
    if cols % scale.shape[1]:
        raise ExportError(f"{layer}: {cols} inputs do not split into {scale.shape[1]} equal groups, which "
                          "compressed-tensors' group layout needs")
    out = {"weight_scale": scale, "weight_shape": torch.tensor([rows, cols], dtype=torch.int64)}
    if q.dtype == torch.uint8:  # asymmetric: uint8 codes and zero points, compressed-tensors' are int8
        q = (q.to(torch.int16) - 128).to(torch.int8)
        zero = (read("zero_point").to(torch.int16) - 128).to(torch.int8).reshape(scale.shape)
        out["weight_zero_point"] = pack_to_int32(zero, 8, packed_dim=0)
    out["weight_packed"] = pack_to_int32(q, 8)
    return out


def _fp8_tensors(layout: str, scales: str) -> Callable:
    weight_part, scale_part = ("weight", "weight_scale_inv") if layout == "transformers" else ("qweight", "scale")

    def convert(read: Callable[[str], torch.Tensor], layer: str) -> dict[str, torch.Tensor]:
        q, scale = read(weight_part), read(scale_part).float()
        rows, cols = q.shape
        if scales == "block-128":
            if rows % formats.FP8_TILE or cols % formats.FP8_TILE:
                # the library infers a tile's size from the scale's shape: edge tiles would dequantize wrongly
                raise ExportError(f"{layer}: {rows}x{cols} does not divide into 128x128 tiles, which "
                                  "compressed-tensors' block layout needs")
            return {"weight": q, "weight_scale": scale.reshape(rows // formats.FP8_TILE, cols // formats.FP8_TILE)}
        return {"weight": q, "weight_scale": scale.reshape(rows, 1) if scales == "per-channel" else scale.reshape(1)}
    return convert


def _check_blocks(layer: str, read: Callable[[str], torch.Tensor], block: int) -> int:
    cols = int(read("in_features")[0])
    if cols % block:
        raise ExportError(f"{layer}: {cols} inputs are not a multiple of {block}, compressed-tensors' block")
    return cols


def _nvfp4_tensors(read: Callable[[str], torch.Tensor], layer: str) -> dict[str, torch.Tensor]:
    _check_blocks(layer, read, formats.NVFP4_BLOCK)
    block_scale = read("block_scale")
    return {"weight_packed": read("qweight"), "weight_scale": block_scale,
            "weight_global_scale": nvfp4_global_scale(block_scale, read("tensor_scale"))}


def _mxfp4_tensors(read: Callable[[str], torch.Tensor], layer: str) -> dict[str, torch.Tensor]:
    _check_blocks(layer, read, formats.MXFP4_BLOCK)
    return {"weight_packed": read("qweight"), "weight_scale": read("scale_e8m0")}  # both encodings are the same


def nvfp4_global_scale(block_scale: torch.Tensor, tensor_scale: torch.Tensor) -> torch.Tensor:
    """compressed-tensors' divisor g ([1], float32) for the studio's factor: block_scale / g should equal
    block_scale x tensor_scale in float32. 1 / tensor_scale is rarely a float32, so the float32s next to it are
    tried and the one that gets the most of the tensor's block scales exactly right wins (all of them, often;
    the rest are then one float32 step off)."""
    import torch
    t = tensor_scale.float().reshape(1)
    scales = block_scale.float().unique()
    want = scales * t
    nearest = torch.tensor([(1 / t).item()])
    candidates = [nearest]
    for direction in (float("inf"), 0.0):
        g = nearest
        for _ in range(GLOBAL_SCALE_SEARCH):
            g = torch.nextafter(g, torch.tensor([direction]))
            candidates.append(g)
    return min(candidates, key=lambda g: (int((scales / g != want).sum()), abs(g.item() - nearest.item())))


# -- writing -------------------------------------------------------------------------------------------------------

def _write(artifact: Path, partial: Path, meta: dict, by_layer: dict[str, _Scheme],
           progress: Callable[[float], None]) -> tuple[str, ...]:
    import torch

    from studio.evaluation.streamed import empty_model
    from studio.recipes.hf import copy_side_files
    copy_side_files(artifact, partial)
    config_path = partial / "config.json"
    config = json.loads(config_path.read_text())
    config.pop("quantization_config", None)  # transformers' "fp8" block, replaced by compressed-tensors'
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
    model = empty_model(partial)
    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    del model
    unknown = [layer for layer in by_layer if layer not in linears]
    if unknown:
        raise ExportError(f"{len(unknown)} quantized layers are not linear layers of the model (e.g. {unknown[0]})")

    stored = packed.PackedWeights(artifact)
    names = stored.names()
    writer = packed.ShardWriter(partial, {"format": "pt"}, max_entries=len(names) * packed.MAX_PARTS)
    global_scales, inexact, done = {}, [], 0
    for name in names:
        layer = name.removesuffix(".weight")
        if not name.endswith(".weight") or layer not in by_layer:
            writer.add(name, stored.read(name, None))  # kept tensors, as stored (16 bits)
            continue
        tensors = by_layer[layer].convert(lambda part, name=name: stored.read_part(name, part), layer)
        if "weight_global_scale" in tensors:
            global_scales[layer] = tensors["weight_global_scale"].item()
            block_scale = tensors["weight_scale"].float()
            if not torch.equal(block_scale / tensors["weight_global_scale"],
                               block_scale * stored.read_part(name, "tensor_scale").float()):
                inexact.append(layer)
        for local, tensor in tensors.items():
            writer.add(f"{layer}.{local}", tensor.contiguous())
        done += 1
        progress(done / len(by_layer))
    writer.close()
    if done != len(by_layer):
        raise ExportError(f"the artifact holds {done} of its {len(by_layer)} quantized layers")
    _write_config(partial, by_layer, [n for n in linears if n not in by_layer])
    return _notes(by_layer, global_scales, inexact)


def _write_config(folder: Path, by_layer: dict[str, _Scheme], ignore: list[str]) -> None:
    import torch
    from compressed_tensors import ModelCompressor
    from compressed_tensors.compressors.format import infer_module_format
    from compressed_tensors.config import CompressionFormat
    from compressed_tensors.quantization import (QuantizationArgs, QuantizationConfig, QuantizationScheme,
                                                 QuantizationStatus, preset_name_to_scheme)
    used = list(dict.fromkeys(by_layer.values()))
    groups = {}
    for i, s in enumerate(used):
        # one format: every Linear but the ignored ones (as llm-compressor writes it); a mix: each group its layers
        targets = ["Linear"] if len(used) == 1 else [layer for layer, t in by_layer.items() if t is s]
        if s.preset:
            scheme = preset_name_to_scheme(s.preset, targets)
        else:
            scheme = QuantizationScheme(targets=targets, weights=QuantizationArgs(**s.weights),
                                        input_activations=QuantizationArgs(**s.input_activations)
                                        if s.input_activations else None)
        inferred = infer_module_format(torch.nn.Linear, scheme).value
        if inferred != s.format:  # the tensors written are s.format's: the library must read them as such
            raise RuntimeError(f"compressed-tensors infers {inferred} for {s.words}, not {s.format}")
        scheme.format = CompressionFormat(s.format)
        groups[f"group_{i}"] = scheme
    top = used[0].format if len({s.format for s in used}) == 1 else CompressionFormat.mixed_precision.value
    config = QuantizationConfig(config_groups=groups, format=top, ignore=ignore,
                                quantization_status=QuantizationStatus.COMPRESSED)
    ModelCompressor(quantization_config=config).update_config(str(folder))


def _notes(by_layer: dict[str, _Scheme], global_scales: dict[str, float], inexact: list[str]) -> tuple[str, ...]:
    fused: dict[str, list[str]] = {}
    for layer in by_layer:
        parent, _, child = layer.rpartition(".")
        if child in FUSED:
            fused.setdefault(f"{parent}.{FUSED[child]}", []).append(layer)
    notes = []
    mixed = [key for key, layers in fused.items() if len({by_layer[la].format for la in layers}) > 1]
    if mixed:
        notes.append(f"{len(mixed)} fused layers (e.g. {mixed[0]}) mix formats across their shards; vLLM needs "
                     "one scheme per fused layer (q/k/v, gate/up) and will refuse to load this checkpoint")
    differ = [key for key, layers in fused.items()
              if len({global_scales[la] for la in layers if la in global_scales}) > 1]
    if differ:
        notes.append(f"NVFP4 global scales differ between the shards of {len(differ)} of {len(fused)} fused layers "
                     f"(e.g. {differ[0]}): vLLM fuses q/k/v and gate/up under one global scale (the shards' "
                     "largest) and would mis-scale the other shards; transformers reads each layer exactly")
    if inexact:
        notes.append(f"NVFP4: compressed-tensors divides by its global scale where the studio multiplies, and for "
                     f"{len(inexact)} layers (e.g. {inexact[0]}) no float32 divisor reproduces every block's "
                     "scale exactly: some of their weights are one float32 step off the studio's")
    return tuple(notes)
