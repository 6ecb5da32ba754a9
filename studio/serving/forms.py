"""How a recipe's artifact is served: what each HF recipe declares (`HFRecipe.serving_form`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXPORT_FOLDER = "compressed-tensors"  # inside the artifact's folder: it goes with the row


@dataclass(frozen=True)
class ServingForm:
    export: bool  # serving engines read a compressed-tensors export of the artifact, not the artifact itself
    gpu_needs: str  # what vLLM's GPU build needs to run the format, said beside a CPU refusal
    quantization: str | None = None  # vLLM's --quantization, where reading the folder's config is not enough

    @property
    def engines(self) -> str:
        """Who loads the served folder."""
        if self.export:
            return ("the studio (its packed folder); transformers, vLLM and SGLang (the compressed-tensors export); "
                    "TensorRT-LLM reads ModelOpt's checkpoints, which the studio does not write")
        return "transformers and vLLM (the folder itself); TensorRT-LLM reads ModelOpt's checkpoints, not this"


def serve_command(folder: Path, form: ServingForm, dtype: str | None = None) -> str:
    """`vllm serve`, with the activations' type the serving check ran where it has one."""
    quantization = f" --quantization {form.quantization}" if form.quantization else ""
    return f"vllm serve {folder}{quantization}" + (f" --dtype {dtype}" if dtype else "")
