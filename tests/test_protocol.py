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
    assert p.scored_positions == range(32, 63)
    nll = p.chunk_nll(logits[32:63], tokens, 1, block=7)  # a block size that does not divide the rows
    rows = logits[32:63].astype(np.float64)
    expected = np.log(np.exp(rows).sum(axis=1)) - rows[np.arange(31), tokens[64 + 33:128]]
    # float32 exponentials (llama-perplexity's arithmetic) against an all-float64 reference
    np.testing.assert_allclose(nll, expected, rtol=1e-6, atol=1e-6)
    assert abs(np.exp(nll.mean()) / np.exp(expected.mean()) - 1) < 1e-7


@pytest.mark.parametrize("n_ctx, max_chunks, message", [(8, None, "too small"), (512, 0, "at least 1")])
def test_bad_protocols_are_refused(n_ctx, max_chunks, message):
    with pytest.raises(ProtocolError, match=message):
        Protocol(n_ctx, max_chunks)


def test_divergence_matches_a_direct_float64_computation():
    from studio.evaluation.protocol import divergence, summarize_divergence

    rng = np.random.default_rng(1)
    base = rng.normal(size=(50, 300)) * 3
    model = base + rng.normal(size=(50, 300)) * 0.5
    targets = rng.integers(0, 300, size=50)
    d = divergence(model.astype(np.float32), base.astype(np.float32), targets, block=8)

    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    pb, pq = softmax(base.astype(np.float32).astype(np.float64)), softmax(model.astype(np.float32).astype(np.float64))
    kld = (pb * np.log(pb / pq)).sum(axis=1)
    np.testing.assert_allclose(d["kld"], kld, rtol=1e-9, atol=1e-12)
    assert d["same_top"].tolist() == (pb.argmax(1) == pq.argmax(1)).tolist()
    np.testing.assert_allclose(d["dp"], pq[np.arange(50), targets] - pb[np.arange(50), targets], atol=1e-12)
    s = summarize_divergence(d["kld"], d["same_top"], d["dp"])
    assert s["kld_p99"] == pytest.approx(np.percentile(kld, 99))
    assert s["rms_dp_pct"] == pytest.approx(100 * np.sqrt(np.mean(d["dp"] ** 2)))


def test_divergence_of_the_base_against_itself_is_exactly_zero():
    from studio.evaluation.protocol import divergence, summarize_divergence
    from studio.evaluation.protocol import IDENTICAL as BASE_DIVERGENCE

    logits = np.random.default_rng(2).normal(size=(40, 500)).astype(np.float32) * 5
    d = divergence(logits, logits.copy(), np.arange(40))
    assert summarize_divergence(d["kld"], d["same_top"], d["dp"]) == {**BASE_DIVERGENCE, "kld_max": 0.0}


def test_the_lockstep_pass_scores_the_base_as_a_pass_of_its_own_would():
    """The base row's scores come from the lockstep pass: every NLL equal to the base scored alone, and its
    forward passes timed apart from the model's."""
    from studio.evaluation.protocol import score_chunks

    rng = np.random.default_rng(3)
    p, vocab = Protocol(32, 3), 200
    tokens = rng.integers(0, vocab, size=32 * 4)
    table = rng.normal(size=(vocab, vocab)).astype(np.float32)

    def model_of(scale):  # a deterministic "model": logits from the previous token, scaled
        return lambda chunk: scale * table[np.asarray(chunk)[list(p.scored_positions)]]

    together = score_chunks(p, tokens, None, model_of(1.0), lambda f: None, lambda: model_of(2.0))
    alone = score_chunks(p, tokens, None, model_of(2.0), lambda f: None)
    assert together.base is not None and alone.base is None
    np.testing.assert_array_equal(together.base.nll, alone.nll)
    assert not np.array_equal(together.nll, alone.nll)  # the model's own scores are another model's
    assert len(together.base.forward_seconds) == len(together.forward_seconds) == 3


def test_a_long_pass_shows_its_first_quarter_as_a_pass_over_those_chunks_would():
    """The first look (the row shown while the rest runs) is what a pass over its chunks alone scores: the model's
    NLL, the divergence and the base's own; a pass of fewer than 8 chunks has none."""
    from studio.evaluation.protocol import score_chunks

    rng = np.random.default_rng(4)
    vocab = 150
    table = rng.normal(size=(vocab, vocab)).astype(np.float32)
    tokens = rng.integers(0, vocab, size=32 * 40)
    p = Protocol(32, 30)
    assert p.first_look_after(len(tokens)) == 8
    assert [Protocol(32, n).first_look_after(len(tokens)) for n in (7, 8, 16, 17)] == [None, 4, 4, 5]

    def model_of(scale):
        return lambda chunk: scale * table[np.asarray(chunk)[list(p.scored_positions)]]

    looks = []
    whole = score_chunks(p, tokens, None, model_of(1.0), lambda f: None, lambda: model_of(1.5), looks.append)
    short = score_chunks(Protocol(32, 8), tokens, None, model_of(1.0), lambda f: None, lambda: model_of(1.5))
    [look] = looks
    np.testing.assert_array_equal(look.nll, short.nll)
    np.testing.assert_array_equal(look.base.nll, short.base.nll)
    assert look.divergence == short.divergence and look.divergence != whole.divergence
    assert len(look.forward_seconds) == 8 and len(whole.forward_seconds) == 30


def test_vocabulary_check_reads_the_gguf_and_keeps_its_verdict(smol, tmp_path):
    """The packaged GGUF against the checkpoint built from it (same list), against a tokenizer with a
    token added (differs), and the cached verdict is what a second call answers."""
    import shutil

    from transformers import AutoTokenizer

    from studio.evaluation.vocab import gguf_tokens, vocabulary_mismatch
    from tests.models import smollm2_gguf

    gguf = smollm2_gguf()
    tokens = gguf_tokens(gguf)
    tok = AutoTokenizer.from_pretrained(str(smol))
    assert tokens == tok.convert_ids_to_tokens(list(range(len(tok))))
    same, other = tmp_path / "same", tmp_path / "other"
    same.mkdir(), other.mkdir()
    assert vocabulary_mismatch(gguf, smol, same) is None
    verdicts = list(same.glob("vocab-check-*.json"))
    assert len(verdicts) == 1
    verdicts[0].write_text('{"mismatch": "kept verdict"}')
    assert vocabulary_mismatch(gguf, smol, same) == "kept verdict"
    changed = tmp_path / "changed-tokenizer"
    shutil.copytree(smol, changed, ignore=shutil.ignore_patterns("*.safetensors"))
    tok.add_tokens(["<studio-extra>"])
    tok.save_pretrained(str(changed))
    expected = f"vocabulary sizes differ: GGUF {len(tokens)}, checkpoint {len(tokens) + 1}"
    assert vocabulary_mismatch(gguf, changed, other) == expected


def test_the_cpu_share_of_the_forward_passes_flags_a_busy_machine():
    """CPU seconds over wall seconds and threads: 2 threads that got 1.9 of 2 cores are a quiet machine; that got
    0.8 of them, a busy one, and the row says how busy."""
    from studio.evaluation.protocol import Scores
    from studio.service import BUSY_SHARE, busy_note
    from studio.storage import Result

    quiet = Scores(np.zeros(4), None, [1.0, 1.0], forward_cpu_seconds=(1.9, 1.9))
    busy = Scores(np.zeros(4), None, [1.0, 1.0], forward_cpu_seconds=(0.8, 0.8))
    assert quiet.cpu_share(2) == pytest.approx(0.95) and busy.cpu_share(2) == pytest.approx(0.4)
    assert Scores(np.zeros(4), None, [1.0]).cpu_share(2) is None  # not measured: no flag, no guess
    assert busy.cpu_share(2) < BUSY_SHARE <= quiet.cpu_share(2)
    note = busy_note(Result(cpu_share=0.4, load_average=3.7))
    assert "40 %" in note and "load average 3.7" in note
    assert busy_note(Result(cpu_share=0.95, load_average=0.2)) is None
