"""Jobs tab: every job with its state, stage (k of n), a progress bar and ETA for the whole job, elapsed time;
click a row to follow its log (tailed, timestamped, tool noise folded) and to cancel it."""
from __future__ import annotations

import re
from datetime import datetime

import gradio as gr

from components.formatting import duration, esc
from studio import service
from studio.config import Settings
from studio.storage import JobState

# Runs of at least this many lines with one tool prefix (llama.cpp's key/value dumps) fold into one line.
FOLD_AT = 4
TOOL_PREFIX = re.compile(r"^([A-Za-z_][\w.]*):")
COUNTER = re.compile(r"^\[\s*\d+/\s*(\d+)\]")  # llama-quantize's "[ 12/ 272] blk.0.attn_q.weight …"

# A click on a row asks for that job (the table is re-rendered every few seconds; the listener is on its frame).
ROW_CLICK_JS = """
element.addEventListener('click', (event) => {
  const row = event.target.closest('tr[data-job-id]');
  if (row) trigger('click', {job_id: Number(row.dataset.jobId)});
});
"""
# Keep the log scrolled to its end as lines arrive, unless the reader scrolled up.
LOG_TAIL_JS = """
const stick = () => { const pre = element.querySelector('.qs-log');
  if (pre && pre.dataset.follow !== 'no') pre.scrollTop = pre.scrollHeight; };
element.addEventListener('scroll', (event) => { const pre = event.target;
  if (pre.classList && pre.classList.contains('qs-log'))
    pre.dataset.follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8 ? 'yes' : 'no'; }, true);
watch('value', stick);
stick();
"""


def _progress_cell(view: service.JobView) -> str:
    if view.overall is None or view.job.state != JobState.RUNNING:
        return ""
    pct = 100 * view.overall
    return f'<progress max="100" value="{pct:.0f}"></progress> {pct:.0f}%'


def _note_cell(job) -> str:
    if not job.error:
        return "<td></td>"
    kind = "qs-error" if job.state == JobState.FAILED else "qs-note"
    return f'<td class="{kind}">{esc(job.error)}</td>'


def jobs_table_html(settings: Settings, selected: int | None = None) -> str:
    rows = []
    for view in service.job_views(settings):
        j = view.job
        eta = duration(view.remaining_seconds) if j.state == JobState.RUNNING else ""
        picked = " qs-selected" if j.id == selected else ""
        rows.append(
            f'<tr class="qs-job qs-{esc(j.state)}{picked}" data-job-id="{j.id}" data-state="{esc(j.state)}" '
            f'title="click to follow its log">'
            f"<td>#{j.id}</td><td>{esc(j.recipe)}</td>"
            f"<td title=\"{esc(j.model)}\">{esc(j.model.rsplit('/', 1)[-1])}</td>"
            f'<td class="qs-state">{esc(j.state)}</td><td class="qs-stage">{esc(view.stage_text)}</td>'
            f'<td class="qs-progress">{_progress_cell(view)}</td><td class="qs-eta">{eta}</td>'
            f'<td class="qs-elapsed">{duration(view.elapsed_seconds) if view.elapsed_seconds is not None else ""}</td>'
            f"<td>{j.created_at:%Y-%m-%d %H:%M:%S}</td>{_note_cell(j)}</tr>")
    if not rows:
        return '<p class="qs-empty">No jobs yet: start one in the New job tab.</p>'
    head = "".join(f'<th title="{esc(tip)}">{h}</th>' for h, tip in (
        ("Job", ""), ("Recipe", ""), ("Model", ""), ("State", ""), ("Stage", "the stage running, and which of the "
                                                                    "job's stages it is"),
        ("Progress", "of the whole job, by the time its stages are expected to take"),
        ("ETA", "time left for the whole job: the stages ahead as measured here for this recipe, at the pace "
                "this job has kept so far"),
        ("Elapsed", "running: time so far; finished: how long it took"), ("Created (UTC)", ""), ("Note", "")))
    return (f'<table class="qs-table qs-jobs" id="jobs-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def fold_log(lines: list[tuple[datetime, str]]) -> str:
    """The log as HTML: each line with the time it arrived; a progress bar's redraws (carriage returns) show
    their last state; a run of FOLD_AT or more lines from one tool (llama.cpp's metadata dumps) folds into a
    <details> that says how many lines it holds."""
    out, i = [], 0
    cleaned = [(at, line.rsplit("\r", 1)[-1]) for at, line in lines]
    while i < len(cleaned):
        prefix = _prefix(cleaned[i][1])
        j = i + 1
        while prefix and j < len(cleaned) and _prefix(cleaned[j][1]) == prefix:
            j += 1
        if j - i >= FOLD_AT:
            body = "\n".join(_stamped(at, line) for at, line in cleaned[i:j])
            out.append(f'<details class="qs-fold"><summary>{_stamped(*cleaned[i])} … ({j - i} lines of '
                       f"{esc(prefix)})</summary>{body}</details>")
        else:
            out += [_stamped(at, line) for at, line in cleaned[i:j]]
        i = j
    return "\n".join(out)


def _prefix(line: str) -> str | None:
    if match := COUNTER.match(line):
        return f"[n/{match.group(1)}]"
    match = TOOL_PREFIX.match(line)
    return match.group(1) if match else None


def _stamped(at: datetime, line: str) -> str:
    return f'<span class="qs-at">{at:%H:%M:%S}</span> {esc(line)}'


def job_number(text) -> int | None:
    """The selected job's number from its field ("#12", "12" or empty)."""
    digits = str(text or "").strip().lstrip("#")
    return int(digits) if digits.isdigit() else None


def log_html(settings: Settings, job_id: int | None) -> str:
    if not job_id:
        return '<p class="qs-empty">Click a job above to follow its log.</p>'
    lines = service.job_log_lines(settings, int(job_id))
    body = fold_log(lines) if lines else "(no output yet)"
    return f'<div class="qs-log-head">Log of job #{int(job_id)} (latest lines)</div><pre class="qs-log">{body}</pre>'


def build(settings: Settings):
    """The tab; returns the selected-job field (the New-job tab's "follow" button sets it), and the refresh to run
    when the tab opens with its inputs and outputs."""
    table = gr.HTML(jobs_table_html(settings), elem_id="jobs-html", js_on_load=ROW_CLICK_JS)
    with gr.Row():
        job_id = gr.Textbox("", label="Selected job", placeholder="click a row, or type a job number",
                            elem_id="job-id", scale=1, max_lines=1)
        cancel_btn = gr.Button("Cancel job", variant="stop", elem_id="cancel-btn", scale=1)
        cancel_status = gr.HTML(elem_id="cancel-status")
    log = gr.HTML(log_html(settings, None), elem_id="job-log", js_on_load=LOG_TAIL_JS)

    def refresh(selected):
        number = job_number(selected)
        return jobs_table_html(settings, number), log_html(settings, number)

    def on_row(evt: gr.EventData):
        return str(int(evt.job_id))

    def on_cancel(selected):
        number = job_number(selected)
        if number is None:
            return "Click a job first."
        try:
            return esc(service.cancel(settings, number))
        except KeyError as exc:
            return esc(exc.args[0])

    gr.Timer(2.0).tick(refresh, [job_id], [table, log], show_progress="hidden")
    job_id.change(refresh, [job_id], [table, log], show_progress="hidden")
    table.click(on_row, None, [job_id], show_progress="hidden")
    cancel_btn.click(on_cancel, [job_id], [cancel_status])
    return job_id, refresh, [job_id], [table, log]
