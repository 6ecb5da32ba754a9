"""Import into Ollama: pick a GGUF result, review the generated Modelfile, Import; follow the job until
the smoke-test answer and `ollama show` details appear. Also the Modelfile + GGUF for `ollama create`."""
from __future__ import annotations

import shlex

import gradio as gr

from components.formatting import esc, messages
from studio.config import Settings
from studio.ollama import service
from studio.ollama.client import default_host
from studio.service import Enqueue
from studio.storage import JobState


def status_html(status: service.ImportStatus) -> str:
    job = status.job
    if status.outcome is not None:
        return outcome_html(status.outcome)
    if job.state in JobState.FINISHED:
        return messages("error", [f"Import job #{job.id} {job.state}: {job.error or 'no reason recorded'}"])
    progress = f" {100 * job.progress:.0f}%" if job.progress else ""
    log = esc("\n".join(status.log[-8:]))
    return (f'<div class="qs-msg qs-ok" id="ollama-progress">Import job #{job.id}: {esc(job.state)} — '
            f"{esc(job.stage)}{progress}</div><pre class=\"qs-log\">{log}</pre>")


def outcome_html(row) -> str:
    details = row.show.get("details", {})
    facts = "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in (
        ("model", row.name), ("server", f"{row.host} (Ollama {row.server_version})"),
        ("quantization level", details.get("quantization_level")), ("parameters", details.get("parameter_size")),
        ("family", details.get("family")), ("blob", row.digest), ("time", f"{row.seconds:.1f} s")))
    return (f'<div id="ollama-outcome"><div class="qs-msg qs-ok">Imported <b>{esc(row.name)}</b> — '
            f"chat with it: <code>ollama run {esc(row.name)}</code></div>"
            f'<p>Smoke test: {esc(row.smoke_prompt)}</p><pre id="ollama-smoke-answer">{esc(row.smoke_answer)}</pre>'
            f"<ul>{facts}</ul><p>Parameters (ollama show)</p><pre>{esc(row.show.get('parameters') or '')}</pre>"
            f"<p>Template (ollama show)</p><pre>{esc(row.show.get('template') or '')}</pre></div>")


def commands_text(artifact: str | None, name: str) -> str:
    """The same model by hand: what the Download button's files are for, and llama.cpp's own server."""
    if not artifact:
        return ""
    shown = name.strip() or "NAME"
    return (f"# in the folder holding the downloaded Modelfile and GGUF:\nollama create {shown} -f Modelfile\n"
            f"ollama run {shown}\n\n# or serve the GGUF with llama.cpp's server (OpenAI-compatible API):\n"
            f"llama-server -m {shlex.quote(artifact)} --port 8080")


def build(settings: Settings, enqueue: Enqueue):
    """The panel; returns (loader, outputs) to refresh its result list when the tab opens. The chosen result and
    an edited Modelfile survive the refresh: only choosing another result writes a new Modelfile."""
    with gr.Accordion("Import into Ollama", open=True, elem_id="ollama-panel"):
        with gr.Row():
            result = gr.Dropdown(label="GGUF result", elem_id="ollama-result", scale=3)
            name = gr.Textbox(label="Model name", elem_id="ollama-name", scale=2,
                              info="[namespace/]model[:tag] — letters, digits, _ - .")
            host = gr.Textbox(default_host(), label="Ollama host", elem_id="ollama-host", scale=2,
                              info="http(s)://host:port — no path, no user:password")
        warnings = gr.HTML(elem_id="ollama-warnings")
        modelfile = gr.Textbox(label="Modelfile (review or edit; the import uses exactly this text)", lines=12,
                               max_lines=30, elem_id="ollama-modelfile")
        with gr.Row():
            overwrite = gr.Checkbox(False, label="Overwrite a model of the same name", elem_id="ollama-overwrite")
            import_btn = gr.Button("Import", variant="primary", elem_id="ollama-import-btn")
            download_btn = gr.Button("Download Modelfile + GGUF", elem_id="ollama-download-btn")
        files = gr.File(label="For `ollama create NAME -f Modelfile`", file_count="multiple", interactive=False,
                        visible=False, elem_id="ollama-files")
        commands = gr.Code(label="By hand", language="shell", interactive=False, elem_id="ollama-commands")
        status = gr.HTML(elem_id="ollama-status")
        job_id = gr.State(None)
        timer = gr.Timer(1.0, active=False)
    artifacts: dict[int, str] = {}

    def load(current):
        found = service.gguf_results(settings)
        artifacts.update({r.id: r.artifact for r in found})
        choices = [(f"#{r.id} {r.recipe} · {r.model.rsplit('/', 1)[-1]}", r.id) for r in found]
        if not choices:
            return (gr.update(choices=[], value=None), "", "",
                    messages("error", ["No GGUF results yet: quantize a model first."]), "")
        if current in {v for _, v in choices}:  # the user's choice and edits stay as they are
            return gr.update(choices=choices), gr.update(), gr.update(), gr.update(), gr.update()
        return (gr.update(choices=choices, value=choices[0][1]), *on_result(choices[0][1]))

    def on_result(result_id):
        if result_id is None:
            return "", "", "", ""
        preview = service.preview_modelfile(settings, int(result_id))
        note = messages("error", list(preview.warnings)) if preview.warnings else messages(
            "ok", [f"Chat template family: {preview.family} (from the GGUF's own chat template); "
                   "checked against it on sample chats."])
        return (preview.suggested_name, preview.text, note,
                commands_text(str(preview.artifact), preview.suggested_name))

    def on_import(result_id, model_name, host_url, text, replace):
        try:
            new_job = service.submit_import(settings, service.ImportRequest(
                int(result_id), model_name, host_url.strip() or default_host(), text, bool(replace)), enqueue)
        except (KeyError, ValueError, FileNotFoundError, TypeError) as exc:
            return (None, messages("error", [exc.args[0] if isinstance(exc, KeyError) else str(exc)]),
                    gr.Timer(active=False))
        return new_job, messages("ok", [f"Queued import job #{new_job}."]), gr.Timer(active=True)

    def on_tick(current):
        if current is None:
            return gr.update(), gr.Timer(active=False)
        state = service.import_status(settings, int(current))
        return status_html(state), gr.Timer(active=state.job.state not in JobState.FINISHED)

    def on_download(result_id, text):
        paths, note = service.download_files(settings, int(result_id), text)
        return gr.update(value=[str(p) for p in paths], visible=True,
                         label=note or "For `ollama create NAME -f Modelfile`")

    # Import waits while a new Modelfile is written: clicking it then would send the old text.
    result.input(lambda: gr.update(interactive=False), None, import_btn, show_progress="hidden").then(
        on_result, [result], [name, modelfile, warnings, commands]).then(
        lambda: gr.update(interactive=True), None, import_btn, show_progress="hidden")
    name.input(lambda rid, n: commands_text(artifacts.get(rid), n), [result, name], commands, show_progress="hidden")
    import_btn.click(on_import, [result, name, host, modelfile, overwrite], [job_id, status, timer])
    timer.tick(on_tick, [job_id], [status, timer], show_progress="hidden")
    download_btn.click(on_download, [result, modelfile], [files])
    return load, [result], [result, name, modelfile, warnings, commands]
