"""Exact weight formats the studio implements itself: INT8 round-to-nearest, FP8, NVFP4, MXFP4.

Each `quantize_*` returns the tensors stored on disk (codes, scales) and each `dequantize_*` turns
them back into floats. Weights are 2-D (out_features x in_features); block and group scales run
along the input dimension, the way matmul kernels consume them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
# torch is imported inside the functions: the registry imports every recipe module, and the server
# (which only reads their names and options) should not pay torch's ~200 MB.

# E2M1 (FP4) magnitudes, indexed by the low 3 bits of a code; bit 3 is the sign.
E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
E2M1_MAX = 6.0
FP8_MAX = {"e4m3": 448.0, "e5m2": 57344.0}
FP8_DTYPE_NAME = {"e4m3": "float8_e4m3fn", "e5m2": "float8_e5m2"}
NVFP4_BLOCK, MXFP4_BLOCK = 16, 32
FP8_TILE = 128  # transformers' "fp8" checkpoints: one scale per 128 x 128 tile
E8M0_BIAS = 127
E2M1_EMAX = 2  # largest power of two in E2M1 (4 = 2**2): OCP MX's emax_elem


def _blocks(w: torch.Tensor, size: int) -> tuple[torch.Tensor, int]:
    """(rows, n_blocks, size) view of w, zero-padded along the input dim; and the original width."""
    import torch
    rows, cols = w.shape
    pad = (-cols) % size
    if pad:
        w = torch.nn.functional.pad(w, (0, pad))
    return w.reshape(rows, -1, size), cols


def fp8_dtype(fmt: str) -> torch.dtype:
    import torch
    return getattr(torch, FP8_DTYPE_NAME[fmt])


def _e2m1_table(device) -> torch.Tensor:
    import torch
    return torch.tensor(E2M1_VALUES, device=device)


def _unblock(blocks: torch.Tensor, cols: int) -> torch.Tensor:
    return blocks.reshape(blocks.shape[0], -1)[:, :cols]


# -- INT8 round-to-nearest: q = round(x / scale) + zero_point -----------------------------------

def quantize_int8(w: torch.Tensor, symmetric: bool, group_size: int | None) -> dict[str, torch.Tensor]:
    """Per output channel (group_size None) or per group of inputs. Symmetric: int8 in [-127, 127],
    zero point 0. Asymmetric: uint8 in [0, 255] with zero_point = round(-min / scale)."""
    import torch
    w = w.float()
    blocks, cols = _blocks(w, group_size or w.shape[1])
    if symmetric:
        scale = (blocks.abs().amax(dim=-1, keepdim=True) / 127).clamp(min=1e-12)
        q = torch.clamp(torch.round(blocks / scale), -127, 127).to(torch.int8)
        return {"qweight": _unblock(q, cols), "scale": scale.squeeze(-1)}
    lo = blocks.amin(dim=-1, keepdim=True).clamp(max=0)
    hi = blocks.amax(dim=-1, keepdim=True).clamp(min=0)
    scale = ((hi - lo) / 255).clamp(min=1e-12)
    zero_point = torch.round(-lo / scale).clamp(0, 255)
    q = torch.clamp(torch.round(blocks / scale) + zero_point, 0, 255).to(torch.uint8)
    return {"qweight": _unblock(q, cols), "scale": scale.squeeze(-1),
            "zero_point": zero_point.squeeze(-1).to(torch.uint8)}


def dequantize_int8(t: dict[str, torch.Tensor], group_size: int | None) -> torch.Tensor:
    q = t["qweight"].float()
    blocks, cols = _blocks(q, group_size or q.shape[1])
    zero = t["zero_point"].float().unsqueeze(-1) if "zero_point" in t else 0.0
    return _unblock((blocks - zero) * t["scale"].float().unsqueeze(-1), cols)


def round_int8_per_token(x: torch.Tensor) -> torch.Tensor:
    """Dynamic symmetric int8 activations: each token (row of the last dimension) scaled by amax / 127, rounded
    half to even and clamped to int8, returned as codes x scale in x's dtype (computed in float32)."""
    import torch
    flat = x.float()
    scale = (flat.abs().amax(dim=-1, keepdim=True) / 127).clamp(min=1e-12)
    return (torch.clamp(torch.round(flat / scale), -128, 127) * scale).to(x.dtype)


# -- FP8: x ≈ fp8(x / scale) * scale, scale = amax / max_representable ------------------------------

def quantize_fp8(w: torch.Tensor, fmt: str, per_channel: bool) -> dict[str, torch.Tensor]:
    w = w.float()
    amax = w.abs().amax(dim=1, keepdim=True) if per_channel else w.abs().amax().reshape(1, 1)
    scale = (amax / FP8_MAX[fmt]).clamp(min=1e-12)
    q = (w / scale).clamp(-FP8_MAX[fmt], FP8_MAX[fmt]).to(fp8_dtype(fmt))
    return {"qweight": q, "scale": scale.squeeze(1)}


def quantize_fp8_blocks(w: torch.Tensor, block: int = FP8_TILE) -> dict[str, torch.Tensor]:
    """E4M3 with one scale per block x block tile (DeepSeek-V3 / transformers' "fp8" checkpoints):
    weight = fp8 x weight_scale_inv, tiles at the edges smaller."""
    import torch
    w = w.float()
    rows, cols = w.shape
    pad_r, pad_c = (-rows) % block, (-cols) % block
    tiles = torch.nn.functional.pad(w, (0, pad_c, 0, pad_r)).reshape(
        (rows + pad_r) // block, block, (cols + pad_c) // block, block)
    scale = (tiles.abs().amax(dim=(1, 3)) / FP8_MAX["e4m3"]).clamp(min=1e-12)
    q = (tiles / scale[:, None, :, None]).clamp(-FP8_MAX["e4m3"], FP8_MAX["e4m3"])
    q = q.reshape(rows + pad_r, cols + pad_c)[:rows, :cols].to(torch.float8_e4m3fn)
    return {"weight": q.contiguous(), "weight_scale_inv": scale.contiguous()}


def dequantize_fp8_tiles(t: dict[str, torch.Tensor]) -> torch.Tensor:
    """transformers' FP8 layout: weight x weight_scale_inv, one scale per tensor or per tile."""
    weight, scale = t["weight"].float(), t["weight_scale_inv"].float()
    if scale.numel() == 1:
        return weight * scale
    rows, cols = weight.shape
    return weight * scale.repeat_interleave(FP8_TILE, 0)[:rows].repeat_interleave(FP8_TILE, 1)[:, :cols]


def dequantize_fp8(t: dict[str, torch.Tensor]) -> torch.Tensor:
    scale = t["scale"].float()
    return t["qweight"].float() * (scale.unsqueeze(1) if scale.numel() > 1 else scale)


# -- FP4 (E2M1) codes, packed two per byte ---------------------------------------------------------

def _e2m1_codes(x: torch.Tensor) -> torch.Tensor:
    """Nearest E2M1 value of each (already scaled) element, as a 4-bit code; ties go to the even
    mantissa, as round-to-nearest-even hardware does."""
    import torch
    mag = x.abs().clamp(max=E2M1_MAX)
    values = _e2m1_table(x.device)
    idx = torch.bucketize(mag, (values[1:] + values[:-1]) / 2)  # midpoints: a tie lands on the lower index
    upper = torch.clamp(idx + 1, max=7)
    tie = (mag == (values[idx] + values[upper]) / 2) & (idx < 7)
    idx = torch.where(tie & (idx % 2 == 1), upper, idx)
    return (idx | ((x < 0).to(idx.dtype) << 3)).to(torch.uint8)


def _e2m1_values(codes: torch.Tensor) -> torch.Tensor:
    import torch
    mag = _e2m1_table(codes.device)[(codes & 7).long()]
    return torch.where((codes & 8) != 0, -mag, mag)


def pack_fp4(codes: torch.Tensor) -> torch.Tensor:
    import torch
    flat = codes.reshape(codes.shape[0], -1)
    if flat.shape[1] % 2:
        flat = torch.nn.functional.pad(flat, (0, 1))
    return (flat[:, 0::2] | (flat[:, 1::2] << 4)).contiguous()


def unpack_fp4(packed: torch.Tensor, n: int) -> torch.Tensor:
    import torch
    out = torch.stack([packed & 0x0F, packed >> 4], dim=-1).reshape(packed.shape[0], -1)
    return out[:, :n]


# -- NVFP4: E2M1 values x E4M3 scale per 16 x FP32 scale per tensor ------------------------------------

def quantize_nvfp4(w: torch.Tensor) -> dict[str, torch.Tensor]:
    import torch
    w = w.float()
    blocks, cols = _blocks(w, NVFP4_BLOCK)
    # The tensor scale maps the largest block scale onto E4M3's largest value (448).
    tensor_scale = (w.abs().amax() / (E2M1_MAX * FP8_MAX["e4m3"])).clamp(min=1e-12)
    block_scale = (blocks.abs().amax(dim=-1) / E2M1_MAX / tensor_scale).to(torch.float8_e4m3fn)
    effective = block_scale.float() * tensor_scale
    scaled = torch.where(effective.unsqueeze(-1) > 0, blocks / effective.unsqueeze(-1), torch.zeros_like(blocks))
    codes = _e2m1_codes(scaled)
    return {"qweight": pack_fp4(codes.reshape(w.shape[0], -1)), "block_scale": block_scale,
            "tensor_scale": tensor_scale.reshape(1), "in_features": torch.tensor([cols])}


def dequantize_nvfp4(t: dict[str, torch.Tensor]) -> torch.Tensor:
    cols = int(t["in_features"][0])
    n_blocks = t["block_scale"].shape[1]
    codes = unpack_fp4(t["qweight"], n_blocks * NVFP4_BLOCK).reshape(-1, n_blocks, NVFP4_BLOCK)
    scale = t["block_scale"].float() * t["tensor_scale"].float()
    return _unblock(_e2m1_values(codes) * scale.unsqueeze(-1), cols)


# -- MXFP4 (OCP MX): E2M1 values x a power-of-two (E8M0) scale per 32 --------------------------------

def quantize_mxfp4(w: torch.Tensor) -> dict[str, torch.Tensor]:
    import torch
    w = w.float()
    blocks, cols = _blocks(w, MXFP4_BLOCK)
    amax = blocks.abs().amax(dim=-1)
    # OCP MX v1.0: shared exponent = floor(log2(amax)) - emax_elem; values above 6 saturate.
    exponent = torch.where(amax > 0, torch.floor(torch.log2(amax.clamp(min=2.0 ** -126))) - E2M1_EMAX,
                           torch.full_like(amax, -E8M0_BIAS))
    exponent = exponent.clamp(-E8M0_BIAS, E8M0_BIAS)
    codes = _e2m1_codes(blocks / torch.exp2(exponent).unsqueeze(-1))
    return {"qweight": pack_fp4(codes.reshape(w.shape[0], -1)),
            "scale_e8m0": (exponent + E8M0_BIAS).to(torch.uint8), "in_features": torch.tensor([cols])}


def dequantize_mxfp4(t: dict[str, torch.Tensor]) -> torch.Tensor:
    import torch
    cols = int(t["in_features"][0])
    n_blocks = t["scale_e8m0"].shape[1]
    codes = unpack_fp4(t["qweight"], n_blocks * MXFP4_BLOCK).reshape(-1, n_blocks, MXFP4_BLOCK)
    scale = torch.exp2(t["scale_e8m0"].float() - E8M0_BIAS)
    return _unblock(_e2m1_values(codes) * scale.unsqueeze(-1), cols)
