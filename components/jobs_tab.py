"""Jobs tab: every job with state, stage, progress and ETA; a live log; Cancel."""
from __future__ import annotations

import gradio as gr

from components.formatting import duration, esc
from studio import service
from studio.config import Settings


def jobs_table_html(settings: Settings) -> str:
    rows = []
    for j in service.list_jobs(settings):
        pct = 100 * j.progress
        bar = (f'<progress max="100" value="{pct:.0f}"></progress> {pct:.0f}%'
               if j.state == "running" else "")
        rows.append(
            f'<tr class="qs-job qs-{esc(j.state)}" data-job-id="{j.id}" data-state="{esc(j.state)}">'
            f"<td>#{j.id}</td><td>{esc(j.recipe)}</td>"
            f"<td title=\"{esc(j.model)}\">{esc(j.model.rsplit('/', 1)[-1])}</td>"
            f'<td class="qs-state">{esc(j.state)}</td><td>{esc(j.stage)}</td><td>{bar}</td>'
            f"<td>{duration(j.eta_seconds) if j.state == 'running' else ''}</td>"
            f"<td>{j.created_at:%Y-%m-%d %H:%M:%S}</td><td class=\"qs-error\">{esc(j.error or '')}</td></tr>")
    if not rows:
        return '<p class="qs-empty">No jobs yet: start one in the New job tab.</p>'
    head = "".join(f"<th>{h}</th>" for h in ("Job", "Recipe", "Model", "State", "Stage", "Progress", "ETA",
                                             "Created (UTC)", "Error"))
    return (f'<table class="qs-table" id="jobs-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def build(settings: Settings) -> None:
    table = gr.HTML(jobs_table_html(settings), elem_id="jobs-html")
    with gr.Row():
        job_id = gr.Number(None, label="Job #", precision=0, elem_id="job-id")
        cancel_btn = gr.Button("Cancel job", variant="stop", elem_id="cancel-btn")
    cancel_status = gr.Markdown(elem_id="cancel-status")
    log = gr.Textbox(label="Log (latest lines)", lines=14, max_lines=14, autoscroll=True, elem_id="job-log")

    def refresh(selected):
        text = "\n".join(service.job_log(settings, int(selected))) if selected else ""
        return jobs_table_html(settings), text

    def on_cancel(selected):
        if not selected:
            return "Enter a job number first."
        try:
            return service.cancel(settings, int(selected))
        except KeyError as exc:
            return str(exc.args[0])

    gr.Timer(2.0).tick(refresh, [job_id], [table, log], show_progress="hidden")
    job_id.change(refresh, [job_id], [table, log], show_progress="hidden")
    cancel_btn.click(on_cancel, [job_id], [cancel_status])
