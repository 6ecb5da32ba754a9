"""FP8 (E4M3 / E5M2) weights with per-tensor or per-channel scales, weight-only or W8A8.

W8A8 runs `torch._scaled_mm` on FP8 inputs with dynamic per-token activation scales: native on
GPUs with FP8 tensor cores (compute capability ≥ 8.9), emulated elsewhere (the same products,
without the hardware's speed). Weight-only expands the FP8 weights to floats for the matmul.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import torch

from studio.models import ModelFacts
from studio.recipes import formats, packed
from studio.recipes.base import Option, Requirements, StageContext
from studio.recipes.hf import KEEP_OPTION, HFRecipe, compute_dtype, keep_patterns

NATIVE_CC = 8.9


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
        scale_a = (flat.abs().amax(dim=1, keepdim=True) / formats.FP8_MAX["e4m3"]).clamp(min=1e-12)
        xq = (flat / scale_a).to(torch.float8_e4m3fn)
        # CUDA's row-wise scaled GEMM returns bf16 only; the CPU's returns float32.
        out_dtype = torch.bfloat16 if xq.is_cuda else torch.float32
        y = torch._scaled_mm(xq, self.qweight_t, scale_a=scale_a, scale_b=self.scale_b, out_dtype=out_dtype)
        if self.bias is not None:
            y = y.float() + self.bias.float()
        return y.to(self.out_dtype).reshape(*x.shape[:-1], -1)


class FP8Recipe(HFRecipe):
    name = "fp8"
    title = "FP8 (E4M3 / E5M2)"
    description = "8-bit floating point weights (and activations with W8A8); native on Ada/Hopper and newer."
    options = (
        Option("format", "choice", "e4m3", "E4M3: more precision (max 448); E5M2: more range (max 57344)",
               choices=("e4m3", "e5m2")),
        Option("scales", "choice", "per-channel", "one scale per tensor or per output channel",
               choices=("per-tensor", "per-channel")),
        Option("activations", "choice", "weight-only", "weight-only, or W8A8 (activations in FP8 too, "
               "dynamic per-token scales)", choices=("weight-only", "w8a8")),
        Option("execution", "choice", "auto", "native FP8 matmuls need compute capability ≥ 8.9; emulated "
               "runs the same format on any device; auto picks native where it can",
               choices=("auto", "native", "emulated")),
        KEEP_OPTION,
    )
    requirements = Requirements(cpu_ok=True, note="native W8A8 needs CUDA compute capability ≥ 8.9 (Ada, Hopper, "
                                "Blackwell); elsewhere emulated")
    nominal_bits = 8.0

    def requirements_for(self, options: dict) -> Requirements:
        if options["execution"] == "native":
            return Requirements(cpu_ok=False, cuda=True, min_compute_capability=NATIVE_CC,
                                note="native FP8 matmuls", emulated_alternative="fp8 with execution=emulated")
        return self.requirements

    def shape_problems(self, model: ModelFacts, options: dict) -> list[str]:
        problems = []
        if options["execution"] == "native" and options["activations"] != "w8a8":
            problems.append("native FP8 means FP8 matmuls: set activations=w8a8 (weight-only is always emulated)")
        if options["activations"] == "w8a8" and options["format"] != "e4m3":
            problems.append("W8A8 takes E4M3 weights (FP8 GEMMs do not multiply two E5M2 operands); use format=e4m3")
        return problems

    def is_emulated(self, options: dict) -> bool:
        from studio.hardware import cuda_devices
        native = options["activations"] == "w8a8" and any(d.compute_capability >= NATIVE_CC for d in cuda_devices())
        return not native or options["execution"] == "emulated"

    def quantize(self, ctx: StageContext) -> Path:
        ctx.enter_stage("quantize")
        o = ctx.options
        out = self.new_artifact_dir(ctx)
        quantize = partial(formats.quantize_fp8, fmt=o["format"], per_channel=o["scales"] == "per-channel")
        layers = packed.write_packed(ctx.model.path, out, self.name, o, quantize, keep_patterns(o),
                                     lambda f: ctx.report(f, None))
        ctx.report(1.0, f"fp8: {len(layers)} linear layers in {o['format'].upper()} ({o['scales']}, {o['activations']})")
        return out

    def load(self, artifact: Path, device: str):
        meta = packed.read_metadata(artifact)
        dtype = compute_dtype(device)
        model = packed.load_packed(artifact, formats.dequantize_fp8, device, dtype)
        if meta["options"]["activations"] == "w8a8":
            self._swap_in_fp8_linears(model, artifact, meta["layers"], dtype, device)
        return model

    def _swap_in_fp8_linears(self, model, artifact: Path, layers: list[str], dtype, device: str) -> None:
        from safetensors import safe_open
        with safe_open(str(artifact / packed.WEIGHTS), framework="pt", device=device) as f:
            for name in layers:
                parent, _, child = name.rpartition(".")
                linear = model.get_submodule(name)
                fp8 = FP8Linear(f.get_tensor(f"{name}.weight.qweight"), f.get_tensor(f"{name}.weight.scale"),
                                linear.bias, dtype)
                setattr(model.get_submodule(parent), child, fp8)

    def load_snippet(self, artifact: Path) -> str:
        return (f"from studio.recipes import get\n"
                f"model = get('fp8').load(Path({str(artifact)!r}), 'cuda')  # packed FP8 (studio format)")


RECIPE = FP8Recipe()
