"""New job tab: model, GGUF types, evaluation text, prompts; Preflight and Quantize."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from components.formatting import esc, messages
from studio import recipes, service
from studio.config import Settings
from studio.evaluation.texts import BUILTIN_SAMPLE, DEFAULT_PROMPTS
from studio.preflight import PreflightError

BUILTIN = "Built-in WikiText-2 sample"
UPLOAD = "Upload a .txt"


def _request(settings: Settings, model, types, text_choice, upload, n_ctx, max_chunks, prompts, max_new):
    if text_choice == UPLOAD:
        if not upload:
            raise PreflightError(["choose a .txt file to upload, or pick the built-in sample"])
        text = service.save_upload(settings, Path(upload))
    else:
        text = BUILTIN_SAMPLE
    return service.JobRequest(
        model=model or "", recipes=tuple(f"gguf:{t}" for t in (types or [])), eval_text=text,
        n_ctx=int(n_ctx or 0), max_chunks=int(max_chunks) if max_chunks else None,
        prompts=tuple(p.strip() for p in (prompts or "").splitlines() if p.strip()),
        max_new_tokens=int(max_new or 0))


def build(settings: Settings) -> None:
    gguf = recipes.get("gguf")
    with gr.Row():
        with gr.Column(scale=3):
            model = gr.Textbox(label="Model", elem_id="model-input",
                               placeholder="/path/to/checkpoint  or  HuggingFaceTB/SmolLM2-135M-Instruct",
                               info="a local Hugging Face checkpoint folder, or a hub id (downloaded when online)")
            types = gr.CheckboxGroup(list(gguf.option("type").choices), value=["Q4_K_M"], label="GGUF types",
                                     elem_id="gguf-types", info="llama.cpp quantization types; one job each")
            with gr.Row():
                text_choice = gr.Radio([BUILTIN, UPLOAD], value=BUILTIN, label="Evaluation text", elem_id="text-choice")
                upload = gr.File(label="Text file (.txt, UTF-8)", file_types=[".txt"], type="filepath")
            with gr.Row():
                n_ctx = gr.Number(512, label="Context (tokens)", precision=0, elem_id="n-ctx")
                max_chunks = gr.Number(None, label="Max chunks (empty = all)", precision=0, elem_id="max-chunks")
                max_new = gr.Number(64, label="Max new tokens per generation", precision=0)
            prompts = gr.Textbox("\n".join(DEFAULT_PROMPTS), lines=4, label="Sample prompts (one per line)",
                                 elem_id="prompts")
            with gr.Row():
                check_btn = gr.Button("Preflight", elem_id="preflight-btn")
                submit_btn = gr.Button("Quantize", variant="primary", elem_id="quantize-btn")
        with gr.Column(scale=2):
            status = gr.HTML(elem_id="new-job-status")
    inputs = [model, types, text_choice, upload, n_ctx, max_chunks, prompts, max_new]

    def on_check(*values):
        try:
            plan = service.preflight(settings, _request(settings, *values))
        except PreflightError as exc:
            return messages("error", exc.reasons)
        return messages("ok", plan.summary().splitlines())

    def on_submit(*values):
        try:
            ids = service.submit(settings, _request(settings, *values))
        except PreflightError as exc:
            return messages("error", exc.reasons)
        return messages("ok", [f"Queued job(s) {', '.join(f'#{i}' for i in ids)}. Follow them in the Jobs tab."])

    check_btn.click(on_check, inputs, status)
    submit_btn.click(on_submit, inputs, status)
