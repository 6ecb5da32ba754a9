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
    measured: bool = False  # from this studio's own results, not the decision table


@dataclass(frozen=True)
class Measured:
    """A result of this studio, as a recommendation weighs it."""
    spec: str  # the recipe spec that made it (a New-job preset)
    label: str
    bpw: float
    kld: float | None  # against the checkpoint where measured (one scale for every family), else its own base
    quant_seconds: float | None


# "At 4 bits": the results whose stored width (scales and 16-bit tensors included) lies in this range.
FOUR_BIT = (3.5, 5.6)


def recommend(goal: str, hw: Hardware, measured: list[Measured] = ()) -> Recommendation:
    """The measured answer when this studio's results hold one for the goal (quality and speed of quantizing
    are measured, not assumed), else the field's decision table for this hardware."""
    if goal not in GOALS:
        raise ValueError(f"unknown goal {goal!r} (one of {', '.join(GOALS)})")
    return from_results(goal, measured) or from_table(goal, hw)


def from_results(goal: str, measured: list[Measured]) -> Recommendation | None:
    if goal == "quality":
        four = sorted((m for m in measured if FOUR_BIT[0] <= m.bpw <= FOUR_BIT[1] and m.kld is not None),
                      key=lambda m: m.kld)
        if len(four) >= 2:
            best, runner_up = four[0], four[1]
            return Recommendation(goal, _specs(four[:2]), f"measured here: {best.label} lost the least at about 4 "
                                  f"bits (mean KLD {best.kld:.4f} at {best.bpw:.2f} bits/weight; next "
                                  f"{runner_up.label}, {runner_up.kld:.4f}) of the {len(four)} such results on "
                                  "Compare.", measured=True)
    if goal == "fast-quantization":
        timed = sorted((m for m in measured if m.quant_seconds is not None), key=lambda m: m.quant_seconds)
        if len(timed) >= 2:
            return Recommendation(goal, _specs(timed[:2]), f"measured here: {timed[0].label} quantized in "
                                  f"{timed[0].quant_seconds:.1f} s, {timed[1].label} in "
                                  f"{timed[1].quant_seconds:.1f} s (the fastest of {len(timed)} results).",
                                  measured=True)
    return None


def _specs(chosen: list[Measured]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.spec for m in chosen))


def from_table(goal: str, hw: Hardware) -> Recommendation:
    cc = hw.best_compute_capability
    cpu_only = "no CUDA GPU here: it runs on the CPU, slowly" if cc is None else ""
    if goal == "fine-tuning":
        return Recommendation(goal, ("bnb-nf4",), "QLoRA trains 16-bit adapters on a frozen NF4 base; "
                              "bitsandbytes is what peft and transformers load for it (double quant saves ~0.4 "
                              "bits/weight).", cpu_only and "bitsandbytes' CPU backend works, but training on a "
                              "CPU is impractical beyond toy models")
    if goal == "quality" and cc is None:
        return Recommendation(goal, ("gguf:Q4_K_M", "awq"), "llama.cpp's Q4_K_M keeps its most sensitive tensors "
                              "at 6 bits and measured closest to the base of the 4-bit formats in this project's "
                              "runs (README); AWQ is the best 4-bit Hugging Face format. Quantize both: Compare "
                              "then recommends from what it measured.", "AWQ's scale search takes ~20 min for a "
                              "135M model on 2 CPU cores")
    if goal == "quality":
        return Recommendation(goal, ("awq", "gptq"), "AWQ scales salient channels by activation size before "
                              "rounding, so 4-bit weights lose the least; compare with GPTQ on the same tokens.",
                              cpu_only and "AWQ's scale search takes ~20 min for a 135M model on 2 CPU cores")
    if goal == "fast-quantization":
        if cc is None:  # on a CPU, the recipes without calibration are the fast ones
            return Recommendation(goal, ("int8-rtn", "gguf:Q8_0"), "no calibration pass: int8-rtn rounds each "
                                  "weight row to its own scale and GGUF Q8_0 converts and rounds in one pass, both "
                                  "in minutes for a 7B model on a CPU.",
                                  "GPTQ is the fast calibrated method on a GPU; on this CPU it takes far longer")
        return Recommendation(goal, ("gptq",), "GPTQ quantizes layer by layer in one pass over a small "
                              "calibration set (minutes on a GPU for a 7B model).")
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
