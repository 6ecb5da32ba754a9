"""FP8Linear, the W8A8 emulation layer of the fp8 recipe, kept apart so that listing the recipes
(which imports fp8.py) does not import torch."""
from __future__ import annotations

import torch

from studio.recipes.formats import FP8_MAX


class FP8Linear(torch.nn.Module):
    """y = x W^T with x and W in FP8, each with its own scales, accumulated in float32."""

    def __init__(self, qweight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None, out_dtype):
        super().__init__()
        self.register_buffer("qweight_t", qweight.t())  # _scaled_mm wants B column-major: W^T of row-major W
        rows = scale.reshape(-1, 1) if scale.numel() > 1 else scale.reshape(1, 1).expand(qweight.shape[0], 1)
        self.register_buffer("scale_b", rows.reshape(1, -1).float().contiguous())
        self.bias = bias
        self.out_dtype = out_dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1]).float()
        scale_a = (flat.abs().amax(dim=1, keepdim=True) / FP8_MAX["e4m3"]).clamp(min=1e-12)
        xq = (flat / scale_a).to(torch.float8_e4m3fn)
        # CUDA's row-wise scaled GEMM returns bf16 only; the CPU's returns float32.
        out_dtype = torch.bfloat16 if xq.is_cuda else torch.float32
        y = torch._scaled_mm(xq, self.qweight_t, scale_a=scale_a, scale_b=self.scale_b, out_dtype=out_dtype)
        if self.bias is not None:
            y = y.float() + self.bias.float()
        return y.to(self.out_dtype).reshape(*x.shape[:-1], -1)
