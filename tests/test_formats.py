"""The studio's own formats against their definitions, on weights shaped like a real layer."""
from __future__ import annotations

import pytest
import torch

from studio.recipes import formats

E2M1 = {0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0}


@pytest.fixture(scope="module")
def weight() -> torch.Tensor:
    torch.manual_seed(0)
    w = torch.randn(96, 200) * 0.02  # 200 inputs: not a multiple of 16 or 32, so padding is exercised
    w[3, 17] = 0.9  # an outlier
    return w


@pytest.mark.parametrize("group", [None, 32, 64])
def test_int8_symmetric_is_the_textbook_formula(weight, group):
    t = formats.quantize_int8(weight, symmetric=True, group_size=group)
    assert t["qweight"].dtype == torch.int8 and "zero_point" not in t
    assert int(t["qweight"].abs().max()) <= 127
    recon = formats.dequantize_int8(t, group)
    scale = _expand(t["scale"], group, weight.shape[1])
    assert torch.all((recon - weight).abs() <= scale / 2 + 1e-7)
    assert torch.equal(recon, t["qweight"].float() * scale)


@pytest.mark.parametrize("group", [None, 64])
def test_int8_asymmetric_is_the_textbook_formula(weight, group):
    t = formats.quantize_int8(weight, symmetric=False, group_size=group)
    assert t["qweight"].dtype == torch.uint8
    scale = _expand(t["scale"], group, weight.shape[1])
    zero = _expand(t["zero_point"].float(), group, weight.shape[1])
    expected_q = torch.clamp(torch.round(weight / scale) + zero, 0, 255)
    assert torch.equal(t["qweight"].float(), expected_q)
    recon = formats.dequantize_int8(t, group)
    assert torch.allclose(recon, (t["qweight"].float() - zero) * scale)
    assert torch.all((recon - weight).abs() <= scale / 2 + 1e-7)


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_fp8_values_are_representable_and_scaled(weight, fmt, per_channel):
    t = formats.quantize_fp8(weight, fmt, per_channel)
    assert t["qweight"].dtype == formats.fp8_dtype(fmt)
    assert t["scale"].numel() == (weight.shape[0] if per_channel else 1)
    amax = t["qweight"].float().abs().amax(dim=1 if per_channel else None)
    assert torch.allclose(amax, torch.full_like(amax, formats.FP8_MAX[fmt]), rtol=0.07)  # the max maps to the top
    rel = (formats.dequantize_fp8(t) - weight).norm() / weight.norm()
    assert rel < (0.04 if fmt == "e4m3" else 0.08)


def test_nvfp4_blocks_of_16_are_e2m1_times_e4m3_times_tensor_scale(weight):
    t = formats.quantize_nvfp4(weight)
    assert t["block_scale"].dtype == torch.float8_e4m3fn and t["block_scale"].shape == (96, 13)  # ceil(200/16)
    recon = formats.dequantize_nvfp4(t)
    assert recon.shape == weight.shape
    padded = torch.nn.functional.pad(recon, (0, 13 * 16 - 200)).reshape(96, 13, 16)
    unit = padded / (t["block_scale"].float() * t["tensor_scale"]).unsqueeze(-1)
    nonzero = t["block_scale"].float() > 0
    assert set(unit[nonzero].abs().flatten().round(decimals=4).tolist()) <= E2M1
    # The tensor scale puts the largest block scale at E4M3's top value.
    assert float(t["block_scale"].float().max()) == pytest.approx(448, rel=0.07)
    assert (recon - weight).norm() / weight.norm() < 0.15


def test_mxfp4_blocks_of_32_share_a_power_of_two_scale(weight):
    t = formats.quantize_mxfp4(weight)
    assert t["scale_e8m0"].dtype == torch.uint8 and t["scale_e8m0"].shape == (96, 7)  # ceil(200/32)
    scale = torch.exp2(t["scale_e8m0"].float() - formats.E8M0_BIAS)
    assert torch.equal(torch.log2(scale), torch.round(torch.log2(scale)))  # powers of two
    recon = formats.dequantize_mxfp4(t)
    padded = torch.nn.functional.pad(recon, (0, 7 * 32 - 200)).reshape(96, 7, 32)
    assert set((padded / scale.unsqueeze(-1)).abs().flatten().tolist()) <= E2M1
    # OCP MX: scale = 2^(floor(log2(amax)) - 2), so the block's largest magnitude lands in [4, 8).
    blocks = torch.nn.functional.pad(weight, (0, 24)).reshape(96, 7, 32)
    top = blocks.abs().amax(-1) / scale
    assert torch.all((top >= 4) & (top < 8))


def test_fp4_rounding_is_nearest_with_ties_to_even():
    x = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.3, 9.0])
    got = formats._e2m1_values(formats._e2m1_codes(x))
    assert got.tolist() == [0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, -0.5, 6.0]


def test_fp4_packing_round_trips():
    codes = torch.randint(0, 16, (5, 33), dtype=torch.uint8)
    assert torch.equal(formats.unpack_fp4(formats.pack_fp4(codes), 33), codes)


def _expand(per_block: torch.Tensor, group: int | None, cols: int) -> torch.Tensor:
    """Per-channel or per-group scales broadcast to one per weight."""
    if group is None:
        return per_block.reshape(-1, 1).expand(-1, cols)
    return per_block.repeat_interleave(group, dim=1)[:, :cols]
