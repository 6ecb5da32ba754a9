"""The sensitivity map of the studio's own Hugging Face formats: how much each linear layer of the decoder hurts
when it alone is stored at the lowest of them (MXFP4), the rest as the checkpoint holds them, scored against the
checkpoint (torch, float32 on the CPU) on the calibration text.

What the other formats cost a layer is not measured by another pass each: to second order, the KLD a small
change of one weight adds grows with that change's energy along the directions the layer is sensitive to, and
for the formats here (round-to-nearest on the same weights) the change's energy is what differs. So a layer's
cost at a format is its measured KLD × the format's weight-error energy / the low format's (`relative_error`,
computed exactly from each format's own round trip).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from studio import recipes
from studio.evaluation.protocol import Protocol, divergence
from studio.evaluation.torch_backend import chunk_logits, load_checkpoint

LOW_FORMAT = "mxfp4"
# The formats an automatic HF mix chooses among, each at its recipe's defaults, besides keeping the layer in 16 bits
FORMATS = ("int8-rtn", "fp8", "nvfp4", "mxfp4")
KEEP = "16-bit"


@dataclass(frozen=True)
class HFSensitivity:
    added_kld: dict[str, float]  # linear layer -> mean KLD it adds alone at LOW_FORMAT
    relative_error: dict[str, dict[str, float]]  # linear layer -> {format: error energy / LOW_FORMAT's}
    tokens_scored: int
    seconds: float


def memory_bytes(n_params: int, layers: int, hidden: int, protocol: Protocol) -> int:
    """What the map holds: the checkpoint in float32, one layer's outputs per decoder layer and chunk (replayed),
    and torch's floor (measured about 0.5 GiB for the process with transformers)."""
    chunks = protocol.max_chunks or 1
    return 4 * n_params + 4 * layers * chunks * protocol.n_ctx * hidden + 512 * 2**20


def codec(fmt: str):
    recipe = recipes.get(fmt)
    return recipe.codec(recipe.defaults())


def measure(checkpoint: Path, tokens: np.ndarray, bos: int | None, protocol: Protocol, layers: list[str],
            progress: Callable[[float], None] = lambda f: None) -> HFSensitivity:
    """The map over `layers` (module names of linear layers, "model.layers.N.…"), on the protocol's chunks of
    `tokens`. A candidate in decoder layer N reruns the model from layer N only: the layers before it replay the
    outputs they gave in the checkpoint's own pass (they are unchanged), so the map costs about half the passes."""
    import torch
    t0 = time.perf_counter()
    model = load_checkpoint(checkpoint, dtype=torch.float32, device="cpu")
    decoder = model.get_submodule(DECODER_LAYERS)
    chunks = [protocol.chunk_input(tokens, i, bos) for i in range(protocol.n_chunks(len(tokens)))]
    targets = [protocol.targets(tokens, i) for i in range(len(chunks))]
    outputs: list[list] = []  # per chunk: each decoder layer's output in the checkpoint's pass
    base = []
    for chunk in chunks:
        with _recording(decoder) as recorded:
            base.append(chunk_logits(model, chunk, protocol))
        outputs.append(recorded)
    codecs = {fmt: codec(fmt) for fmt in FORMATS}
    added, relative = {}, {}
    for i, name in enumerate(layers):
        module = model.get_submodule(name)
        original = module.weight.data
        rounded = {fmt: c.dequantize(c.quantize(original)).to(original.dtype) for fmt, c in codecs.items()}
        energy = {fmt: float(((w - original) ** 2).sum()) for fmt, w in rounded.items()}
        module.weight.data = rounded[LOW_FORMAT]
        first = int(name[len(DECODER_LAYERS) + 1:].split(".", 1)[0])
        logits = []
        for chunk, recorded in zip(chunks, outputs):
            with _replaying(decoder, recorded[:first]):
                logits.append(chunk_logits(model, chunk, protocol))
        module.weight.data = original
        klds = [divergence(m, b, t)["kld"] for m, b, t in zip(logits, base, targets)]
        added[name] = float(np.concatenate(klds).mean())
        relative[name] = {fmt: e / energy[LOW_FORMAT] if energy[LOW_FORMAT] else 0.0 for fmt, e in energy.items()}
        progress((i + 1) / len(layers))
    scored = sum(len(t) for t in targets)
    return HFSensitivity(added, relative, scored, time.perf_counter() - t0)


DECODER_LAYERS = "model.layers"  # where transformers' decoder-only models keep their layers


@contextmanager
def _recording(decoder):
    """Each decoder layer's output during one forward pass, in order."""
    recorded: list = []
    hooks = [layer.register_forward_hook(lambda _m, _a, out: recorded.append(out)) for layer in decoder]
    try:
        yield recorded
    finally:
        for hook in hooks:
            hook.remove()


@contextmanager
def _replaying(decoder, recorded: list):
    """The first len(recorded) layers return what they returned before instead of computing it again."""
    for layer, out in zip(decoder, recorded):
        layer.forward = lambda *_a, _out=out, **_k: _out
    try:
        yield
    finally:
        for layer in list(decoder)[:len(recorded)]:
            del layer.forward
