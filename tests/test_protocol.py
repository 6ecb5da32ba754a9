"""llama-perplexity's protocol: chunking, BOS, scored positions, and the NLL arithmetic."""
from __future__ import annotations

import numpy as np
import pytest

from studio.evaluation.protocol import Protocol, ProtocolError


def test_chunks_and_scored_positions_follow_llama_perplexity():
    p = Protocol(512)
    assert p.first_scored == 256 and p.scored_per_chunk == 255
    assert p.n_chunks(512 * 5 + 100) == 5  # a partial last chunk is dropped
    assert Protocol(512, max_chunks=3).n_chunks(512 * 5) == 3
    with pytest.raises(ProtocolError, match="1023 tokens; 1024 are needed"):
        p.n_chunks(1023)


def test_bos_replaces_the_first_token_only_when_the_vocabulary_adds_it():
    tokens = np.arange(100, 100 + 64)
    p = Protocol(32)
    assert p.chunk_input(tokens, 1, bos=1) == [1, *range(133, 164)]
    assert p.chunk_input(tokens, 1, bos=None) == list(range(132, 164))


def test_chunk_nll_equals_a_direct_log_softmax():
    rng = np.random.default_rng(0)
    p = Protocol(64)
    vocab = 1000
    logits = rng.normal(size=(64, vocab)).astype(np.float32) * 4
    tokens = rng.integers(0, vocab, size=128)
    nll = p.chunk_nll(logits, tokens, 1, block=7)  # a block size that does not divide the rows
    rows = logits[32:63].astype(np.float64)
    expected = np.log(np.exp(rows).sum(axis=1)) - rows[np.arange(31), tokens[64 + 33:128]]
    np.testing.assert_allclose(nll, expected, rtol=1e-12)


@pytest.mark.parametrize("n_ctx, max_chunks, message", [(8, None, "too small"), (512, 0, "at least 1")])
def test_bad_protocols_are_refused(n_ctx, max_chunks, message):
    with pytest.raises(ProtocolError, match=message):
        Protocol(n_ctx, max_chunks)
