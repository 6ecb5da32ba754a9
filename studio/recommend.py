"""Which recipe to use for a goal on this hardware, and why: the decision table of the field
(bitsandbytes for QLoRA, AWQ for quality, GPTQ for fast quantization, GGUF for Ollama, FP8 on
Hopper and newer, NVFP4 on Blackwell), adjusted to what the detected machine can run."""
from __future__ import annotations

from dataclasses import dataclass

from studio.hardware import Hardware

GOALS = {
    "fine-tuning": "Fine-tune (QLoRA)",
    "quality": "Best quality at 4 bits",
    "fast-quantization": "Fastest quantization",
    "ollama": "Ollama / llama.cpp",
    "vllm": "vLLM serving",
    "smallest": "Smallest file",
}


@dataclass(frozen=True)
class Recommendation:
    goal: str
    recipes: tuple[str, ...]  # recipe specs for a New-job preset, e.g. ("gguf:Q4_K_M",)
    why: str
    caveat: str = ""


def recommend(goal: str, hw: Hardware) -> Recommendation:
    if goal not in GOALS:
        raise ValueError(f"unknown goal {goal!r} (one of {', '.join(GOALS)})")
    cc = hw.best_compute_capability
    cpu_only = "no CUDA GPU here: it runs on the CPU, slowly" if cc is None else ""
    if goal == "fine-tuning":
        return Recommendation(goal, ("bnb-nf4",), "QLoRA trains 16-bit adapters on a frozen NF4 base; "
                              "bitsandbytes is what peft and transformers load for it (double quant saves ~0.4 "
                              "bits/weight).", cpu_only and "bitsandbytes' CPU backend works, but training on a "
                              "CPU is impractical beyond toy models")
    if goal == "quality":
        return Recommendation(goal, ("awq", "gptq"), "AWQ scales salient channels by activation size before "
                              "rounding, so 4-bit weights lose the least; compare with GPTQ on the same tokens.",
                              cpu_only and "AWQ's scale search takes ~20 min for a 135M model on 2 CPU cores")
    if goal == "fast-quantization":
        return Recommendation(goal, ("gptq",), "GPTQ quantizes layer by layer in one pass over a small "
                              "calibration set (minutes on a GPU for a 7B model).",
                              cpu_only and "on CPU, int8-rtn and GGUF are faster still (no calibration)")
    if goal == "ollama":
        return Recommendation(goal, ("gguf:Q4_K_M", "gguf:Q8_0"), "GGUF is the only format llama.cpp and "
                              "Ollama run; Q4_K_M is the usual size/quality point, Q8_0 the near-lossless one. "
                              "Import the result with one click from Compare.")
    if goal == "vllm":
        if cc is not None and cc >= 8.9:
            return Recommendation(goal, ("fp8", "awq"), f"compute capability {cc}: FP8 W8A8 runs on the tensor "
                                  "cores at near-16-bit quality; AWQ for 4-bit memory savings.")
        return Recommendation(goal, ("awq", "gptq"), "vLLM serves AWQ and GPTQ checkpoints with fast 4-bit "
                              "kernels; FP8 needs compute capability ≥ 8.9.", cpu_only)
    if cc is not None and cc >= 10.0:
        return Recommendation(goal, ("nvfp4", "gguf:Q3_K_M"), "Blackwell's FP4 tensor cores run NVFP4: "
                              "4-bit floats with fine-grained scales. The studio measures its exact format "
                              "in emulation (quality, size); serve it natively with an NVFP4-capable engine.")
    return Recommendation(goal, ("gguf:Q3_K_M", "gguf:Q2_K"), "llama.cpp's 3- and 2-bit k-quants are the "
                          "smallest widely supported formats; expect a large perplexity increase at Q2_K.",
                          "on small models many tensors fall back to wider types (rows not a multiple of 256)")
