"""A checkpoint streamed weight by weight gives the logits of the same checkpoint held in memory, while
holding no more than a tensor at a time."""
from __future__ import annotations

import numpy as np
import pytest

from studio.evaluation import torch_backend
from studio.evaluation.protocol import Protocol
from studio.evaluation.streamed import StreamError, load_streamed
from tests.models import build_llama_shape
from tests.test_model_builder import SMALL


def _logits_both_ways(checkpoint, tokens, protocol):
    import torch
    resident = torch_backend.load_checkpoint(checkpoint, dtype=torch.float32, device="cpu")
    streamed = load_streamed(checkpoint)
    assert all(p.device.type == "meta" for p in streamed.parameters())
    for i in range(protocol.n_chunks(len(tokens))):
        chunk = protocol.chunk_input(tokens, i, None)
        yield (torch_backend.chunk_logits(resident, chunk, protocol),
               torch_backend.chunk_logits(streamed, chunk, protocol))
    assert all(p.device.type == "meta" for p in streamed.parameters())  # nothing stays behind


@pytest.mark.parametrize("which", ["tiny", "sharded-bf16"])
def test_streamed_logits_equal_the_resident_model(which, tiny, smol, tmp_path):
    checkpoint = tiny if which == "tiny" else build_llama_shape(tmp_path, SMALL, smol)
    tokens = np.random.default_rng(0).integers(0, 49152, 2 * 64).astype(np.int32)
    for resident, streamed in _logits_both_ways(checkpoint, tokens, Protocol(64, 2)):
        assert resident.shape == streamed.shape == (31, 49152)
        # The same float32 arithmetic in two summation orders (a streamed layer's weight is materialized per call,
        # and torch may block its matmul differently): a few ulps of the partial sums. A fresh-clone run on a loaded
        # machine saw 3 of 1.5 M logits off by 1.04e-5 (relative 2.4e-4 of a logit near 0.04); a wrong weight moves
        # logits by 1e-2 and more.
        np.testing.assert_allclose(streamed, resident, rtol=1e-4, atol=1e-5)


def test_a_checkpoint_without_safetensors_is_refused_by_name(tmp_path, tiny):
    (tmp_path / "config.json").write_text((tiny / "config.json").read_text())
    with pytest.raises(StreamError, match="has no safetensors weights"):
        load_streamed(tmp_path)


def test_the_checkpoint_is_streamed_only_when_its_float32_copy_would_not_fit(tiny, monkeypatch, capsys):
    from safetensors import safe_open
    with safe_open(str(tiny / "model.safetensors"), framework="pt") as f:
        elements = sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys())
    assert torch_backend.checkpoint_float32_bytes(tiny) == 4 * elements
    assert not getattr(torch_backend.open_checkpoint(tiny, "cpu"), "studio_streamed", False)
    monkeypatch.setattr(torch_backend, "RESIDENT_SHARE", 4 * elements / 1e15)  # a share no RAM holds the model in
    model = torch_backend.open_checkpoint(tiny, "cpu")
    assert model.studio_streamed and "streamed weight by weight" in capsys.readouterr().out
