"""The base's logits kept on disk: the jobs after the first on a comparison read them instead of running the base,
and get exactly the figures of a lockstep pass; entries stay within their budget; a wrong chunk is refused."""
from __future__ import annotations

import json

import numpy as np
import pytest

from studio.evaluation import base_cache
from tests.conftest import make_env, run_cli

ARGS = ["--option", "gguf.checkpoint_kld=false", "--ctx", "128", "--max-chunks", "4", "--max-new-tokens", "4",
        "--prompt", "Hello", "--wait", "--json"]
FIGURES = ("ppl", "ppl_delta_pct", "kld_mean", "kld_median", "kld_p99", "same_top_pct", "rms_dp_pct",
           "n_tokens_scored")


def _quantize(env, model, recipe, eval_text) -> dict:
    proc = run_cli(["quantize", "--model", str(model), "--recipe", recipe, "--eval-text", str(eval_text), *ARGS], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [row] = json.loads(proc.stdout)
    return row


def _log(env, job_id: int) -> str:
    return run_cli(["log", str(job_id)], env).stdout


def test_a_second_job_reads_the_base_s_logits_and_gets_the_lockstep_figures(tmp_path, studio_cache, tiny, eval_text):
    kept = make_env(tmp_path / "kept", studio_cache, [tiny.parent])
    first = _quantize(kept, tiny, "gguf:Q8_0", eval_text)
    assert "base logits kept for the next jobs" in _log(kept, first["job_id"])
    second = _quantize(kept, tiny, "gguf:Q4_0", eval_text)
    assert "not run again" in _log(kept, second["job_id"])
    # The same job with the cache off (a budget of 0): the base runs beside it, as before there was a cache.
    lockstep_env = {**make_env(tmp_path / "lockstep", studio_cache, [tiny.parent]), "STUDIO_BASE_CACHE_GIB": "0"}
    lockstep = _quantize(lockstep_env, tiny, "gguf:Q4_0", eval_text)
    for key in FIGURES:
        assert second[key] == lockstep[key], key
    assert not list((tmp_path / "lockstep").glob("cache/*/base-logits/*"))


def _record(folder, key: str, chunks: list[list[int]], budget: int, rows: int = 8, vocab: int = 100) -> list:
    entry = base_cache.entry_dir(folder, key)
    recorder = base_cache.Recorder(entry, folder / f"partial-{key}", key, len(chunks), budget, log=lambda line: None)
    logits = [np.random.default_rng(i).normal(size=(rows, vocab)).astype(np.float32) for i in range(len(chunks))]
    served = iter(logits)
    wrapped = recorder.wrap(lambda chunk: next(served))
    for chunk in chunks:
        wrapped(chunk)
    recorder.finish()
    return logits


def test_entries_stay_within_the_budget_and_refuse_other_tokens(tmp_path):
    chunks = [[1, 2, 3], [4, 5, 6]]
    one_entry = 2 * 8 * 100 * 4 + 2 * 128  # two chunks of float32 logits and their .npy headers
    kept = _record(tmp_path, "a", chunks, budget=int(1.5 * one_entry))
    read = base_cache.reader(base_cache.entry_dir(tmp_path, "a"))
    np.testing.assert_array_equal(read(chunks[0]), kept[0])
    with pytest.raises(RuntimeError, match="chunk 1 was made from other token ids"):
        read([9, 9, 9])
    _record(tmp_path, "b", chunks, budget=int(1.5 * one_entry))  # no room for two: the older goes
    assert not base_cache.is_complete(base_cache.entry_dir(tmp_path, "a"))
    assert base_cache.is_complete(base_cache.entry_dir(tmp_path, "b"))
    _record(tmp_path, "c", chunks, budget=one_entry // 2)  # larger than the budget: not kept, nothing evicted
    assert not base_cache.is_complete(base_cache.entry_dir(tmp_path, "c"))
    assert base_cache.is_complete(base_cache.entry_dir(tmp_path, "b"))
