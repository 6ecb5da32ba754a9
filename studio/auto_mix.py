"""From a model's tensors to an automatic GGUF mix: the tensors a type is chosen for, what each costs at each
type, and the overrides that make llama.cpp apply the choice (`llama-quantize --tensor-type-file`).

One choice per quantized matrix of the decoder (attention q/k/v/output, MLP gate/up/down of every layer) and for
the token embedding and the output matrix: the granularity of the sensitivity map. A type whose blocks do not
divide a tensor's rows is not offered for it (llama.cpp would fall back to another type: the mix would not be the
one chosen), so every choice is exactly what the file will hold.
"""
from __future__ import annotations

import re

from studio.allocation import Choice, Group
from studio.architecture import Architecture, Tensor
from studio.gguf_mix import quantizable, block, tensor_bytes

# The types an automatic mix chooses among (ggml tensor types, finest first): the k-quants and IQ4 types for rows
# that take 256-wide blocks, the 32-wide legacy types (with and without an offset) and IQ4_NL for the others, so a
# model of 576- or 640-wide rows (SmolLM2, Gemma 3) can still spend a budget in steps of half a bit.
CANDIDATE_TYPES = ("Q8_0", "Q6_K", "Q5_1", "Q5_K", "Q5_0", "Q4_1", "Q4_K", "Q4_0", "IQ4_NL", "IQ4_XS", "Q3_K",
                   "Q2_K")


def tensors(arch: Architecture) -> list[Tensor]:
    """The matrices an automatic mix chooses a type for, in file order."""
    return [t for t in arch.tensors() if quantizable(t)]


def fits(ggml_type: str, tensor: Tensor) -> bool:
    """A type can hold a tensor exactly when its blocks divide the rows (else llama.cpp substitutes another)."""
    return tensor.ne[0] % block(ggml_type)[0] == 0


def groups(arch: Architecture, costs: dict[str, dict[str, float]], types: tuple[str, ...] = CANDIDATE_TYPES
           ) -> list[Group]:
    """Each matrix with the types that hold it exactly, sized as llama.cpp stores them, costed from the
    sensitivity map (`costs[tensor name][type]`; a type without a measured cost is not offered)."""
    out = []
    for t in tensors(arch):
        measured = costs.get(t.name, {})
        choices = tuple(Choice(ty, tensor_bytes(ty, t.elements), measured[ty]) for ty in types
                        if ty in measured and fits(ty, t))
        if choices:
            out.append(Group(t.name, choices))
    return out


def tensor_type_file(types: dict[str, str]) -> str:
    """llama-quantize's --tensor-type-file for a type per tensor: one `REGEX=type` per line, each naming one
    tensor exactly."""
    return "".join(f"^{re.escape(name)}$={ggml_type.lower()}\n" for name, ggml_type in types.items())
