"""A job's row appears at its evaluation's first look (the first quarter of the chunks), is completed by the whole
pass, and goes when the job ends before the pass does."""
from __future__ import annotations

import pytest

from studio import service
from studio.storage import Pending
from tests.fleet import Studio, job, running, submit, wait_finished, wait_job

# Long enough that the first look (after 16 chunks) stays on screen for the 48 chunks after it, on any machine.
LONG = {"n_ctx": 128, "max_chunks": 64}


def _first_look(settings, job_id: int, timeout: float = 600.0) -> tuple[dict, dict]:
    """The job's row and its base's while they show the first look."""
    found = {}

    def shown(_job) -> bool:
        rows = service.result_rows(settings, include_base=True)
        mine = [r for r in rows if r["job_id"] == job_id and Pending.FULL_PASS in r["pending"]]
        bases = [r for r in rows if r["is_base"] and Pending.FULL_PASS in r["pending"]]
        if mine and bases:
            found.update(row=mine[0], base=bases[0])
        return bool(found) or _job.state in ("done", "failed", "cancelled")

    wait_job(settings, job_id, shown, timeout=timeout, poll=0.02)
    assert found, f"job {job_id} ended without a first look"
    return found["row"], found["base"]


def test_the_row_shows_the_first_chunks_then_the_whole_pass(settings, workspace_env, tiny, eval_text, tmp_path):
    job_id = submit(settings, tiny, "gguf:Q8_0", eval_text, **LONG)
    with running(Studio.worker(workspace_env, tmp_path / "worker.log")):
        row, base = _first_look(settings, job_id)
        [done] = wait_finished(settings, [job_id])
        assert done.state == "done", done.error
        # The same protocol cut at the first look's chunks: an independent pass over exactly those tokens.
        short_id = submit(settings, tiny, "gguf:Q8_0", eval_text, n_ctx=128, max_chunks=row["n_chunks"])
        [short_job] = wait_finished(settings, [short_id])
        assert short_job.state == "done", short_job.error
    assert row["n_chunks"] == base["n_chunks"] == 16 and "pending: perplexity and KLD" in row["pending_note"]
    assert set(row["pending"]) == {Pending.FULL_PASS, Pending.GENERATIONS}
    [whole] = service.result_rows(settings, [job_id])
    [short] = service.result_rows(settings, [short_id])
    assert whole["pending"] == [] and whole["n_chunks"] == 64 and whole["decode_tok_s"] > 0
    assert whole["ppl"] != pytest.approx(row["ppl"], rel=1e-6)
    for key in ("ppl", "ppl_base", "ppl_delta_pct", "kld_mean", "kld_p99", "same_top_pct"):
        assert row[key] == pytest.approx(short[key], rel=1e-6, abs=1e-9), key
    assert base["ppl"] == pytest.approx(short["ppl_base"], rel=1e-6)
    # The base row was completed by the whole pass: its scores are those of all 64 chunks, its generations in.
    [whole_base] = [r for r in service.result_rows(settings, include_base=True)
                    if r["is_base"] and r["base_key"] == whole["base_key"]]
    assert whole_base["n_chunks"] == 64 and whole_base["pending"] == []
    assert whole_base["ppl"] == pytest.approx(whole["ppl_base"], rel=1e-9)


def test_a_job_cancelled_after_its_first_look_leaves_no_row(settings, workspace_env, tiny, eval_text, tmp_path):
    job_id = submit(settings, tiny, "gguf:Q8_0", eval_text, **LONG)
    with running(Studio.worker(workspace_env, tmp_path / "worker.log")) as (worker,):
        row, _ = _first_look(settings, job_id)
        service.cancel(settings, job_id)
        [ended] = wait_finished(settings, [job_id])
        assert ended.state == "cancelled", ended.error
        worker.wait_for_line(f"removed result #{row['id']}")
    # Figures of 16 chunks under a key that names 64 are not a result: the rows and the artifact went.
    assert service.result_rows(settings, include_base=True) == []
    assert not any(settings.outputs_dir.glob(f"*/job{job_id}-*"))
    assert job(settings, job_id).state == "cancelled"
