"""New job tab: model, recipes (GGUF types and the HF-format recipes, each with a form generated
from its options schema), evaluation text, prompts; Preflight and Quantize."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from components.formatting import messages
from studio import recipes, service
from studio.config import Settings
from studio.evaluation.texts import BUILTIN_SAMPLE, DEFAULT_PROMPTS
from studio.preflight import PreflightError
from studio.service import Enqueue

BUILTIN = "Built-in WikiText-2 sample"
UPLOAD = "Upload a .txt"
# Options that name a calibration text ('builtin' or a path): an uploaded calibration file fills them.
CALIBRATION_TEXT_OPTIONS = ("calibration", "imatrix_text")


def _option_widget(recipe_name: str, opt):
    label, elem_id = f"{opt.name}", f"opt-{recipe_name}-{opt.name}"
    if opt.kind == "choice":
        return gr.Dropdown(list(opt.choices), value=opt.default, label=label, info=opt.help, elem_id=elem_id)
    if opt.kind == "bool":
        return gr.Checkbox(value=opt.default, label=label, info=opt.help, elem_id=elem_id)
    if opt.kind in ("int", "float"):
        return gr.Number(opt.default, label=label, info=opt.help, precision=0 if opt.kind == "int" else None,
                         elem_id=elem_id)
    return gr.Textbox(str(opt.default), label=label, info=opt.help, elem_id=elem_id)


def _option_forms() -> tuple[list[tuple[str, str]], list]:
    """One accordion per recipe with a widget per option; returns ((recipe, option) keys, widgets)."""
    keys, widgets = [], []
    for name, entry in sorted(recipes.entries().items()):
        recipe = entry.recipe
        if recipe is None:
            continue
        variant = recipe.variant.option if recipe.variant else None
        shown = [o for o in recipe.options if o.name != variant]
        if not shown:
            continue
        with gr.Accordion(f"{recipe.title} options", open=False, elem_id=f"options-{name}"):
            for opt in shown:
                keys.append((name, opt.name))
                widgets.append(_option_widget(name, opt))
    return keys, widgets


def _request(settings: Settings, option_keys, model, types, hf_recipes, text_choice, upload, calibration_upload,
             n_ctx, max_chunks, whole_text, prompts, max_new, *option_values):
    if text_choice == UPLOAD:
        if not upload:
            raise PreflightError(["choose a .txt file to upload, or pick the built-in sample"])
        text = service.save_upload(settings, Path(upload))
    else:
        text = BUILTIN_SAMPLE
    values = dict(zip(option_keys, option_values))
    if calibration_upload:  # the uploaded file replaces 'builtin' wherever a recipe takes a calibration text
        calibration = str(service.save_upload(settings, Path(calibration_upload)))
        values.update({key: calibration for key, value in values.items()
                       if key[1] in CALIBRATION_TEXT_OPTIONS and value == "builtin"})
    overrides = tuple((f"{name}.{key}", value) for (name, key), value in values.items() if value is not None)
    return service.JobRequest(
        model=model or "", recipes=tuple(f"gguf:{t}" for t in (types or [])) + tuple(hf_recipes or ()),
        eval_text=text, overrides=overrides,
        n_ctx=int(n_ctx or 0), max_chunks=int(max_chunks) if max_chunks else None, whole_text=bool(whole_text),
        prompts=tuple(p.strip() for p in (prompts or "").splitlines() if p.strip()),
        max_new_tokens=int(max_new or 0))


def build(settings: Settings, enqueue: Enqueue) -> None:
    gguf = recipes.get("gguf")
    with gr.Row():
        with gr.Column(scale=3):
            model = gr.Textbox(label="Model", elem_id="model-input",
                               placeholder="/path/to/checkpoint  or  HuggingFaceTB/SmolLM2-135M-Instruct",
                               info="a local Hugging Face checkpoint folder, or a hub id (downloaded when online)")
            types = gr.CheckboxGroup(list(gguf.option("type").choices), value=["Q4_K_M"], label="GGUF types",
                                     elem_id="gguf-types", info="llama.cpp quantization types; one job each")
            hf_names = [n for n, e in sorted(recipes.entries().items()) if e.recipe and e.recipe.family != gguf.family]
            hf_recipes = gr.CheckboxGroup(hf_names, value=[], label="Hugging Face-format recipes", elem_id="hf-recipes",
                                          info="evaluated with torch against the checkpoint itself; one job each")
            option_keys, option_widgets = _option_forms()
            with gr.Row():
                text_choice = gr.Radio([BUILTIN, UPLOAD], value=BUILTIN, label="Evaluation text", elem_id="text-choice")
                upload = gr.File(label="Text file (.txt, UTF-8)", file_types=[".txt"], type="filepath")
            calibration_upload = gr.File(label="Calibration text (.txt, UTF-8) for the importance matrix, GPTQ and "
                                         "AWQ; empty: the built-in WikiText-2 slice", file_types=[".txt"],
                                         type="filepath", elem_id="calibration-upload")
            with gr.Row():
                n_ctx = gr.Number(512, label="Context (tokens)", precision=0, elem_id="n-ctx")
                max_chunks = gr.Number(None, label="Max chunks (empty = automatic)", precision=0, elem_id="max-chunks",
                                       info="all, unless that takes over 30 min here: then ~10 min's worth")
                whole_text = gr.Checkbox(False, label="Whole text", elem_id="whole-text",
                                         info="every chunk, however long it takes")
                max_new = gr.Number(64, label="Max new tokens per generation", precision=0)
            prompts = gr.Textbox("\n".join(DEFAULT_PROMPTS), lines=4, label="Sample prompts (one per line)",
                                 elem_id="prompts")
            with gr.Row():
                check_btn = gr.Button("Preflight", elem_id="preflight-btn")
                submit_btn = gr.Button("Quantize", variant="primary", elem_id="quantize-btn")
        with gr.Column(scale=2):
            status = gr.HTML(elem_id="new-job-status")
    inputs = [model, types, hf_recipes, text_choice, upload, calibration_upload, n_ctx, max_chunks, whole_text, prompts,
              max_new, *option_widgets]

    def on_check(*values):
        try:
            plan = service.preflight(settings, _request(settings, option_keys, *values))
        except PreflightError as exc:
            return messages("error", exc.reasons)
        return messages("ok", plan.summary().splitlines())

    def on_submit(*values):
        notes: list[str] = []
        try:
            ids = service.submit(settings, _request(settings, option_keys, *values), enqueue, notes)
        except PreflightError as exc:
            return messages("error", exc.reasons)
        return messages("ok", [f"Queued job(s) {', '.join(f'#{i}' for i in ids)}. Follow them in the Jobs tab.",
                               *notes])

    check_btn.click(on_check, inputs, status)
    submit_btn.click(on_submit, inputs, status)
    return types, hf_recipes
