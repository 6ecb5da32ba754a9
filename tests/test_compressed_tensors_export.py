"""The studio's packed checkpoints exported as compressed-tensors: given SmolLM2 quantized by a studio format, the
export loads in transformers (which decompresses compressed-tensors on CPU) with the studio's own dequantized
weights, bit for bit in float32, and its config.json says the format, strategy and activations a serving engine
reads. Formats compressed-tensors does not define, and other artifacts, are refused with nothing left behind."""
from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("compressed_tensors")

from studio.evaluation.streamed import empty_model  # noqa: E402
from studio.recipes import formats, packed  # noqa: E402
from studio.recipes.hf import quantizable_linears  # noqa: E402
from studio.serving.compressed_tensors_export import (ExportError, describe,  # noqa: E402
                                                      export_compressed_tensors)

INT8 = {"scheme": "symmetric", "granularity": "per-channel", "group_size": 64, "activations": "weight-only",
        "keep": ""}
FP8 = {"format": "e4m3", "scales": "per-tensor", "activations": "weight-only", "execution": "auto", "keep": ""}
FP4 = {"execution": "emulated", "keep": ""}
MIX_FORMATS = ("int8-rtn", "fp8", "nvfp4", "mxfp4")
MIXED_BLOCKS = 8  # decoder blocks the mix quantizes (the rest are kept), a format per block in turn

# case: recipe, options, model fixture, expected (formats, weight args, input activation args or None)
CASES = {
    "int8-channel": ("int8-rtn", INT8, "smol", ("pack-quantized",),
                     {"num_bits": 8, "type": "int", "strategy": "channel", "symmetric": True}, None),
    "int8-w8a8": ("int8-rtn", {**INT8, "activations": "w8a8"}, "smol", ("int-quantized",),
                  {"num_bits": 8, "type": "int", "strategy": "channel", "symmetric": True},
                  {"num_bits": 8, "type": "int", "strategy": "token", "dynamic": True, "symmetric": True}),
    "int8-asym-group64": ("int8-rtn", {**INT8, "scheme": "asymmetric", "granularity": "per-group"}, "smol",
                          ("pack-quantized",),
                          {"type": "int", "strategy": "group", "group_size": 64, "symmetric": False}, None),
    "fp8-tensor": ("fp8", FP8, "smol", ("naive-quantized",),
                   {"num_bits": 8, "type": "float", "strategy": "tensor"}, None),
    "fp8-channel-w8a8": ("fp8", {**FP8, "scales": "per-channel", "activations": "w8a8"}, "smol",
                         ("float-quantized",), {"type": "float", "strategy": "channel"},
                         {"num_bits": 8, "type": "float", "strategy": "token", "dynamic": True}),
    # 128x128 tiles need dimensions divisible by 128: SmolLM2's 576 is not (the recipe refuses it), the tiny llama's are
    "fp8-block128": ("fp8", {**FP8, "scales": "block-128"}, "tiny", ("naive-quantized",),
                     {"type": "float", "strategy": "block", "block_structure": [128, 128]}, None),
    "nvfp4": ("nvfp4", FP4, "smol", ("nvfp4-pack-quantized",),
              {"num_bits": 4, "type": "float", "strategy": "tensor_group", "group_size": 16,
               "scale_dtype": "torch.float8_e4m3fn"}, None),
    "mxfp4": ("mxfp4", FP4, "smol", ("mxfp4-pack-quantized",),
              {"num_bits": 4, "type": "float", "strategy": "group", "group_size": 32, "scale_dtype": "torch.uint8"},
              None),
    "hf-auto": ("hf-auto", {"target_bpw": 6.0, "max_kld": 0.0}, "smol",
                ("pack-quantized", "naive-quantized", "nvfp4-pack-quantized", "mxfp4-pack-quantized"), None, None),
}


def write_artifact(source: Path, out: Path, recipe: str, options: dict) -> tuple[list[str], dict]:
    """The packed artifact the recipe's `quantize` writes, and each layer's dequantizer (the studio's weights)."""
    from studio import recipes
    from studio.recipes import fp8
    from studio.sensitivity_hf import codec
    if recipe == "hf-auto":  # a format per decoder block (its q/k/v and gate/up share it); block 0's MLP kept
        layers = quantizable_linears(empty_model(source), [])
        kept = [la for la in layers if la.startswith("model.layers.0.mlp.") or _block(la) >= MIXED_BLOCKS]
        fmt = {la: MIX_FORMATS[_block(la) % len(MIX_FORMATS)] for la in layers if la not in kept}
        mix = {la: (f, codec(f).quantize) for la, f in fmt.items()}
        packed.write_packed(source, out, recipe, options, None, kept, lambda f: None, mix=mix)
        return list(fmt), {la: codec(f).dequantize for la, f in fmt.items()}
    if recipe == "fp8" and fp8.hf_native(options):  # transformers' own layout, as FP8Recipe.quantize writes it
        block = options["scales"] == "block-128"
        layers = packed.write_packed(source, out, recipe, options,
                                     formats.quantize_fp8_blocks if block else fp8._per_tensor_as_hf, [],
                                     lambda f: None, quantization_config=partial(fp8._transformers_config,
                                                                                 block=block))
        return layers, dict.fromkeys(layers, formats.dequantize_fp8_tiles)
    c = recipes.get(recipe).codec(options)
    layers = packed.write_packed(source, out, recipe, options, c.quantize, [], lambda f: None)
    return layers, dict.fromkeys(layers, c.dequantize)


def _block(layer: str) -> int:
    return int(layer.split(".")[2])  # model.layers.N.…


def load_with_transformers(folder: Path, mixed: bool):
    """The export as transformers loads it on CPU, every weight dense. `dequantize=True` decompresses each weight
    while loading, but by one config group for all (transformers' `get_dense_scheme`): a mix is loaded compressed
    instead and decompressed by compressed-tensors, each layer by its own group, as its first forward would. FP4
    layers decompress to bfloat16 there (the library unpacks FP4 into bfloat16): widened back, as `dequantize` does."""
    from transformers import AutoModelForCausalLM, CompressedTensorsConfig
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32,
                                                 quantization_config=CompressedTensorsConfig(dequantize=not mixed))
    if mixed:
        model.hf_quantizer.compressor.decompress_model(model)
        model.to(torch.float32)
    return model


@pytest.fixture(scope="module", params=list(CASES))
def exported(request, tmp_path_factory):
    """Quantized, exported and loaded back once per case; the tests below read it."""
    recipe, options, model_fixture = CASES[request.param][:3]
    source = request.getfixturevalue(model_fixture)
    root = tmp_path_factory.mktemp(request.param)
    layers, dequantizers = write_artifact(source, root / "packed", recipe, options)
    fractions = []
    result = export_compressed_tensors(root / "packed", root / "ct", fractions.append)
    model = load_with_transformers(result.path, mixed=recipe == "hf-auto")
    yield request.param, root / "packed", result, layers, dequantizers, model, fractions


def test_every_quantized_weight_loads_as_the_studio_dequantizes_it(exported):
    case, artifact, result, layers, dequantizers, model, _ = exported
    studio = packed.PackedWeights(artifact, by_layer=dequantizers)
    is_nvfp4 = {la for la, fn in dequantizers.items() if fn is formats.dequantize_nvfp4}
    for layer in layers:
        want = studio.read(f"{layer}.weight", torch.float32)
        got = model.get_submodule(layer).weight.data
        assert got.dtype == torch.float32 and got.shape == want.shape, layer
        if layer in is_nvfp4:
            continue  # below: compressed-tensors' NVFP4 decompression ends in bfloat16
        assert torch.equal(got, want), f"{case}: {layer}"


def test_nvfp4_keeps_the_codes_and_scales_and_moves_at_most_two_float32_steps(exported):
    """NVFP4 cannot be bit for bit in float32: compressed-tensors divides the block scale by a float32 global
    scale where the studio multiplies by its tensor scale, and 1 / tensor_scale is rarely a float32. The export
    keeps the codes and E4M3 block scales byte for byte; the library's formula (in float32) lands within two float32
    steps of the studio's weight; transformers' load is that, rounded to bfloat16 (the library unpacks FP4 into
    bfloat16)."""
    from compressed_tensors.compressors.nvfp4.helpers import unpack_fp4_from_uint8
    from compressed_tensors.quantization.lifecycle.forward import dequantize

    from studio.evaluation.streamed import SafetensorsWeights
    case, artifact, result, layers, dequantizers, model, _ = exported
    nvfp4 = [la for la in layers if dequantizers[la] is formats.dequantize_nvfp4]
    if not nvfp4:
        pytest.skip("no NVFP4 layer in this case")
    stored, written = packed.PackedWeights(artifact, by_layer=dequantizers), SafetensorsWeights(result.path)
    for layer in nvfp4:
        packed_codes = written.read(f"{layer}.weight_packed")
        assert torch.equal(packed_codes, stored.read_part(f"{layer}.weight", "qweight"))
        block_scale = written.read(f"{layer}.weight_scale")
        assert torch.equal(block_scale.view(torch.uint8),
                           stored.read_part(f"{layer}.weight", "block_scale").view(torch.uint8))
        codes = unpack_fp4_from_uint8(packed_codes, packed_codes.shape[0], packed_codes.shape[1] * 2,
                                      dtype=torch.float32)
        library = dequantize(codes, block_scale.float(), global_scale=written.read(f"{layer}.weight_global_scale"),
                             dtype=torch.float32)
        want = stored.read(f"{layer}.weight", torch.float32)
        steps = (library.view(torch.int32).long() - want.view(torch.int32).long()).abs().max().item()
        assert steps <= 2, f"{layer}: {steps} float32 steps from the studio's weight"
        assert torch.equal(model.get_submodule(layer).weight.data, library.to(torch.bfloat16).float()), layer


def test_config_says_the_format_strategy_and_activations(exported):
    case, artifact, result, layers, _, model, fractions = exported
    recipe, options, _, want_formats, weight_args, input_args = CASES[case]
    config = json.loads((result.path / "config.json").read_text())["quantization_config"]
    assert config["quant_method"] == "compressed-tensors" and config["quantization_status"] == "compressed"
    assert config["version"] == "0.17.0" and "lm_head" in config["ignore"]
    assert set(result.formats) == set(want_formats)
    assert describe(artifact) == (result.scheme, result.formats, result.activations)
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert not (result.path.parent / "ct.partial").exists()
    groups = list(config["config_groups"].values())
    assert {g["format"] for g in groups} == set(want_formats)
    if recipe == "hf-auto":
        assert config["format"] == "mixed-precision" and len(groups) == len(MIX_FORMATS)
        assert sorted(t for g in groups for t in g["targets"]) == sorted(layers)
        kept = [la for la in quantizable_linears(empty_model(artifact), []) if la not in layers]
        assert kept and set(kept) <= set(config["ignore"])
        assert not result.activations and all(g["input_activations"] is None for g in groups)
        return
    (group,) = groups
    assert config["format"] == want_formats[0] and group["targets"] == ["Linear"]
    assert group["weights"].items() >= weight_args.items()
    assert result.activations == (input_args is not None)
    if input_args is None:
        assert group["input_activations"] is None
    else:
        assert group["input_activations"].items() >= input_args.items()
    if case == "nvfp4":  # vLLM fuses q/k/v and gate/up under one global scale; the studio's differ per tensor
        assert any("global scales differ" in note for note in result.notes)


@pytest.fixture(scope="module")
def smol_fp8_e5m2(smol, tmp_path_factory) -> Path:
    from studio import recipes
    out = tmp_path_factory.mktemp("e5m2") / "packed"
    options = {**FP8, "format": "e5m2", "scales": "per-channel"}
    packed.write_packed(smol, out, "fp8", options, recipes.get("fp8").codec(options).quantize, [], lambda f: None)
    return out


def test_e5m2_is_refused_and_leaves_nothing(smol_fp8_e5m2, tmp_path):
    with pytest.raises(ExportError, match="E4M3 only"):
        describe(smol_fp8_e5m2)
    with pytest.raises(ExportError, match="E4M3 only"):
        export_compressed_tensors(smol_fp8_e5m2, tmp_path / "ct")
    assert list(tmp_path.iterdir()) == []


def test_int8_w8a8_with_per_group_weights_is_refused(smol_fp8_e5m2, tmp_path):
    """Only the metadata matters to the refusal: an e5m2 artifact relabelled as per-group INT8 W8A8."""
    from safetensors.torch import load_file, save_file
    artifact = tmp_path / "relabelled"
    artifact.mkdir()
    (artifact / "config.json").write_text((smol_fp8_e5m2 / "config.json").read_text())
    metadata = {"format": "pt", "studio_recipe": "int8-rtn", "studio_layout": "studio",
                "studio_options": json.dumps({**INT8, "granularity": "per-group", "activations": "w8a8"}),
                "studio_layers": json.dumps(["model.layers.0.self_attn.q_proj"])}
    tensors = load_file(str(smol_fp8_e5m2 / "model.safetensors"))
    save_file({k: v for k, v in tensors.items() if k.startswith("model.layers.0.self_attn.q_proj")},
              str(artifact / "model.safetensors"), metadata=metadata)
    with pytest.raises(ExportError, match="symmetric per-channel"):
        export_compressed_tensors(artifact, tmp_path / "ct")
    assert not (tmp_path / "ct").exists() and not (tmp_path / "ct.partial").exists()


def test_a_plain_checkpoint_is_refused(smol, tmp_path):
    with pytest.raises(ExportError, match="not one of the studio's packed checkpoints"):
        export_compressed_tensors(smol, tmp_path / "ct")
    with pytest.raises(ExportError, match="no config.json"):
        describe(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_midway_removes_the_partial_folder(smol, tmp_path, monkeypatch):
    """An error after shards were written (here, in writing config.json) leaves neither the folder nor its
    .partial; and an existing folder is never written into."""
    from studio.serving import compressed_tensors_export as export
    artifact = tmp_path / "packed"
    packed.write_packed(smol, artifact, "mxfp4", FP4, formats.quantize_mxfp4, ["model.layers.[1-9]*"],
                        lambda f: None)
    seen = []

    def fail(folder, *args):
        seen.extend(p.name for p in folder.iterdir())
        raise OSError("disk full")
    monkeypatch.setattr(export, "_write_config", fail)
    with pytest.raises(OSError, match="disk full"):
        export_compressed_tensors(artifact, tmp_path / "ct")
    assert "model.safetensors" in seen
    assert sorted(p.name for p in tmp_path.iterdir()) == ["packed"]
    (tmp_path / "taken").mkdir()
    with pytest.raises(ExportError, match="already exists"):
        export_compressed_tensors(artifact, tmp_path / "taken")
