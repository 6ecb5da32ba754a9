"""Time said up front: the preflight scales the stage durations of the last job of the same recipe this machine
finished, read from its log's stage marks; without one it says the time is not measured yet."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from studio import service, timing
from studio.stages import Stage
from studio.storage import Job, JobLog, Result, reading, session
from tests.conftest import run_cli

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


def test_stage_durations_come_from_the_stage_marks():
    marks = [(T0, "== stage: preflight"), (T0 + timedelta(seconds=2), "converting"),
             (T0 + timedelta(seconds=3), "== stage: quantize"), (T0 + timedelta(seconds=10), "== stage: evaluate"),
             (T0 + timedelta(seconds=40), "== stage: store")]
    assert timing.stage_seconds(marks, T0 + timedelta(seconds=41)) == {
        Stage.PREFLIGHT: 3.0, Stage.QUANTIZE: 7.0, Stage.EVALUATE: 30.0, Stage.STORE: 1.0}
    measured = timing.Measured(1, {Stage.QUANTIZE: 7.0, Stage.EVALUATE: 30.0}, n_params=100, evaluated_tokens=256)
    fixed, per_token = measured.scaled(200)
    assert (fixed, per_token) == pytest.approx((2 * 7.0, 2 * 30.0 / 256))
    expected = timing.Expected(fixed, per_token, 512, "")
    assert expected.seconds == pytest.approx(14 + 120) and expected.tokens_within(14 + 60) == 256


def _plan(settings, tiny, eval_text, max_chunks):
    return service.preflight(settings, service.JobRequest(str(tiny), ("gguf:Q8_0",), eval_text, 128, max_chunks))


def test_the_preflight_says_how_long_from_the_last_such_job_here(workspace_env, settings, tiny, eval_text):
    [job] = _plan(settings, tiny, eval_text, 2).jobs
    assert job.expected.basis.startswith("estimated: not run here yet")  # from the recipe's prior
    proc = run_cli(["quantize", "--model", str(tiny), "--recipe", "gguf:Q8_0", "--eval-text", str(eval_text),
                    "--ctx", "128", "--max-chunks", "2", "--max-new-tokens", "4", "--wait", "--json"], workspace_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [row] = json.loads(proc.stdout)
    with reading(settings.db_url) as s:
        done = s.get(Job, row["job_id"])
        marks = s.exec(select(JobLog.at, JobLog.line).where(JobLog.job_id == done.id).order_by(JobLog.id)).all()
    stage_marks = [(at.replace(tzinfo=timezone.utc), line) for at, line in marks if line.startswith("== stage: ")]
    finished = done.finished_at.replace(tzinfo=timezone.utc)
    whole = (finished - stage_marks[0][0]).total_seconds()  # the stages end to end
    evaluating = sum((end - at).total_seconds() for (at, line), (end, _) in
                     zip(stage_marks, [*stage_marks[1:], (finished, "")])
                     if line.split(": ", 1)[1] in ("evaluate", "divergence vs checkpoint"))
    [again] = _plan(settings, tiny, eval_text, 2).jobs
    assert again.expected.seconds == pytest.approx(whole, rel=1e-9)
    assert f"job #{done.id}" in again.time_line()
    [longer] = _plan(settings, tiny, eval_text, 4).jobs  # twice the chunks: the evaluating stages twice as long
    assert longer.expected.seconds == pytest.approx(whole + evaluating, rel=1e-9)


def test_a_job_of_hours_gets_the_chunk_count_for_a_first_result_in_minutes():
    from studio.evaluation.protocol import Protocol
    from studio.preflight import PlannedJob, _first_result_sooner
    slow = timing.Expected(fixed_seconds=120, seconds_per_token=0.05, evaluated_tokens=512 * 600, basis="job #7")
    quick = timing.Expected(fixed_seconds=10, seconds_per_token=0.001, evaluated_tokens=512 * 600, basis="job #8")
    jobs = [PlannedJob(None, {}, "gguf:Q4_K_M", 0, "evaluate", 0, slow),
            PlannedJob(None, {}, "gguf:Q8_0", 0, "evaluate", 0, quick)]
    notes = []
    # (600 s - 120 s) / 0.05 s per token = 9,600 tokens: 18 chunks of 512
    assert _first_result_sooner(jobs, Protocol(512), notes) == Protocol(512, 18)
    assert notes == ["note: evaluating 18 chunks, for a first result in about 10 min: over the whole text "
                     "gguf:Q4_K_M would take about 4.3 h here (job #7); ask for the whole text (--whole-text) or a "
                     "chunk count to choose"]
    assert _first_result_sooner(jobs[1:], Protocol(512), []) is None  # 5 min 17 s: all chunks


def test_the_automatic_protocol_is_the_one_submitted(workspace_env, settings, tiny, eval_text, monkeypatch):
    """A job measured here to take long over the whole text gets the automatic chunk count; --max-chunks and
    --whole-text keep the user's choice."""
    from studio import preflight
    proc = run_cli(["quantize", "--model", str(tiny), "--recipe", "gguf:Q8_0", "--eval-text", str(eval_text),
                    "--ctx", "128", "--max-chunks", "2", "--max-new-tokens", "4", "--wait", "--json"], workspace_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [job] = _plan(settings, tiny, eval_text, None).jobs
    # Pretend this machine is so slow that the whole text takes over the limit; 4 chunks fit the first result.
    monkeypatch.setattr(preflight, "LONG_JOB_SECONDS", job.expected.seconds / 2)
    monkeypatch.setattr(preflight, "FIRST_RESULT_SECONDS", job.expected.fixed_seconds
                        + job.expected.seconds_per_token * 128 * 4.5)
    automatic = _plan(settings, tiny, eval_text, None)
    assert automatic.protocol.max_chunks == 4 and "evaluating 4 chunks" in "\n".join(automatic.notes)
    assert _plan(settings, tiny, eval_text, 3).protocol.max_chunks == 3
    whole = service.preflight(settings, service.JobRequest(str(tiny), ("gguf:Q8_0",), eval_text, 128, None,
                                                           whole_text=True))
    assert whole.protocol.max_chunks is None and not whole.notes


def test_a_stage_mark_keeps_the_time_it_was_printed_through_a_silent_stage(settings, tmp_path):
    """An evaluation prints nothing for minutes: its stage mark must not take the time the next line comes."""
    import subprocess
    import sys
    import threading

    from jobs.queue import _relay_log
    printed, go_on = tmp_path / "printed", tmp_path / "go-on"
    child = ("import sys, time, pathlib; print('== stage: evaluate', flush=True); pathlib.Path(sys.argv[1]).touch()\n"
             "deadline = time.monotonic() + 600\n"
             "while not pathlib.Path(sys.argv[2]).exists() and time.monotonic() < deadline: time.sleep(0.05)\n"
             "print('== stage: store', flush=True)")
    with session(settings.db_url) as s:
        job = Job(model="m", model_key="k", recipe="gguf:Q8_0", eval_text_path="", eval_text_sha="",
                  dedupe_key="silent")
        s.add(job)
        s.commit()
        job_id = job.id
    proc = subprocess.Popen([sys.executable, "-c", child, str(printed), str(go_on)], stdout=subprocess.PIPE, text=True)
    relay = threading.Thread(target=_relay_log, args=(settings, job_id, proc))
    relay.start()
    deadline = datetime.now(timezone.utc) + timedelta(seconds=600)
    while not printed.exists() and datetime.now(timezone.utc) < deadline:
        threading.Event().wait(0.05)
    between = datetime.now(timezone.utc)
    go_on.touch()
    relay.join(timeout=600)
    proc.wait(timeout=600)
    with reading(settings.db_url) as s:
        marks = s.exec(select(JobLog.at, JobLog.line).where(JobLog.job_id == job_id).order_by(JobLog.id)).all()
    [(evaluate_at, _), (store_at, _)] = [(at.replace(tzinfo=timezone.utc), line) for at, line in marks]
    assert evaluate_at <= between <= store_at


def test_a_first_job_is_estimated_from_the_recipes_prior_and_this_machines_speed(settings, tmp_path, monkeypatch):
    """No history: the recipe's figures, scaled by the probe (kept a day per host). An 8 B GGUF job over
    WikiText-2 (~290 k tokens) takes hours that way, so the automatic protocol cuts it to a first result in
    about 10 minutes."""
    from studio import recipes
    from studio.evaluation.protocol import Protocol
    from studio.preflight import FIRST_RESULT_SECONDS, PlannedJob, _first_result_sooner
    calls = []
    monkeypatch.setattr(timing, "_probe", lambda: calls.append(1) or 60.0)
    assert timing.machine_gflops(tmp_path) == timing.machine_gflops(tmp_path) == 60.0 and len(calls) == 1
    gguf = recipes.get("gguf")
    prior = gguf.time_prior(gguf.defaults())
    at_reference = timing.from_prior(prior, 8_000_000_000, 290_000, timing.REFERENCE_GFLOPS)
    half_speed = timing.from_prior(prior, 8_000_000_000, 290_000, timing.REFERENCE_GFLOPS / 2)
    assert half_speed.seconds == pytest.approx(2 * at_reference.seconds)
    assert at_reference.seconds > 3600 and "not run here yet" in at_reference.basis
    notes = []
    protocol = _first_result_sooner([PlannedJob(gguf, {}, "gguf:Q4_K_M", 0, "evaluate", 0, at_reference)],
                                    Protocol(512), notes)
    chunks = protocol.max_chunks
    assert chunks >= 2 and at_reference.fixed_seconds + at_reference.seconds_per_token * 512 * chunks \
        <= max(FIRST_RESULT_SECONDS, at_reference.fixed_seconds + at_reference.seconds_per_token * 1024)
    assert "estimated" in notes[0]


def test_the_whole_job_eta_counts_the_stages_ahead_at_the_pace_kept_so_far():
    plan = {"preflight": 10.0, "convert": 20.0, "quantize": 30.0, "evaluate": 40.0, "store": 0.0}
    stages = list(plan)
    left = timing.remaining_seconds
    # On plan: a third into quantize (10 s of its 30): 20 s of it and the 40 s after.
    assert left(stages, 3, 10.0, 1 / 3, 25.0, 40.0, plan, 100.0) == pytest.approx(60.0)
    # Twice as slow as planned so far (60 s for 30 planned): what is ahead takes twice as long too.
    assert left(stages, 3, 0.0, 0.0, None, 60.0, plan, 100.0) == pytest.approx(140.0)
    # A stage past its plan is taken at its own ETA (its progress extrapolated).
    assert left(stages, 3, 45.0, 0.9, 5.0, 75.0, plan, 100.0) == pytest.approx(45.0)
    # Only a whole-job figure (a prior): what is left of it, never less than the stage's own ETA.
    assert left(stages, 2, 5.0, 0.5, None, 30.0, {}, 100.0) == pytest.approx(70.0)
    assert left(stages, 2, 5.0, 0.05, 90.0, 30.0, {}, 100.0) == pytest.approx(90.0)
    assert left(stages, 2, 5.0, 0.5, None, 30.0, {}, None) is None


def test_the_jobs_tab_eta_is_right_within_half_again_after_the_first_stage(workspace_env, settings, tiny, eval_text):
    """A recipe measured here: the next such job's whole-job ETA, read as the Jobs tab reads it every few tenths of
    a second, against the time the job then really took to finish (median over the readings taken after its
    first stage, with more than 2 s left). The plan comes from the job before, not from a model's first job,
    whose stages also made the token caches, the F16 file and the base row."""
    import subprocess
    import sys

    from studio.config import REPO_ROOT
    args = ["quantize", "--model", str(tiny), "--recipe", "gguf:Q8_0", "--eval-text", str(eval_text), "--ctx", "128",
            "--max-chunks", "8", "--max-new-tokens", "16", "--wait", "--json"]
    first = run_cli(args, workspace_env)
    assert first.returncode == 0, first.stderr[-3000:]
    [measured] = json.loads(first.stdout)
    # The same work again is not queued: the result that measured it is named and printed.
    repeat = run_cli(args, workspace_env)
    assert repeat.returncode == 0, repeat.stderr[-3000:]
    assert f"already measured as result #{measured['id']} (job #{measured['job_id']}" in repeat.stderr
    assert [r["id"] for r in json.loads(repeat.stdout)] == [measured["id"]] and "queued" not in repeat.stderr
    warm = run_cli([*args, "--again"], workspace_env)
    assert warm.returncode == 0, warm.stderr[-3000:]
    proc = subprocess.Popen([sys.executable, "-m", "studio", *args, "--again"], env=workspace_env, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    readings = []  # (when, the ETA shown, stage number)
    early = set()  # what the job's row still waited for, seen while the job ran
    while proc.poll() is None:
        with reading(settings.db_url) as s:
            job = s.exec(select(Job).order_by(Job.id.desc())).first()
            row = s.exec(select(Result).where(Result.job_id == job.id)).first() if job else None
        if job and job.id > 2 and job.state == "running":
            view = service.job_view(job)
            readings.append((datetime.now(timezone.utc), view.remaining_seconds, job.stage_number, view.stage_count))
            early.add(tuple(row.pending) if row else None)
        time.sleep(0.2)
    out, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    with reading(settings.db_url) as s:
        job = s.exec(select(Job).order_by(Job.id.desc())).first()
    finished = job.finished_at.replace(tzinfo=timezone.utc)
    assert job.stage_plan and job.expected_seconds, "the second job carries the first one's measured stages"
    assert readings and all(count in (0, len(job.stages)) for *_, count in readings)  # 0: not started yet
    # The row was there before the job ended, its divergence from the checkpoint pending, then filled in.
    assert ("vs_checkpoint",) in early, early
    assert json.loads(out)[0]["pending"] == [] and json.loads(out)[0]["kld_vs_checkpoint"] is not None
    ratios = sorted(eta / left for at, eta, number, _ in readings
                    if number >= 2 and eta is not None and (left := (finished - at).total_seconds()) > 2)
    assert len(ratios) >= 3, readings
    median = ratios[len(ratios) // 2]
    print(f"ETA / real time left: median {median:.2f} over {len(ratios)} readings ({ratios[0]:.2f}–{ratios[-1]:.2f})")
    assert 1 / 1.5 <= median <= 1.5, ratios
