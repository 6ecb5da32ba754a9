"""New job tab: a short form — model (picked from the allowed folders or typed), recipes, evaluation text —
with Preflight and Quantize and their outcome right below them; everything else (protocol, prompts,
calibration, each chosen recipe's options, generated from its schema) folded under Advanced."""
from __future__ import annotations

from dataclasses import dataclass, replace
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


def _option_forms(chosen: set[str]) -> tuple[list[tuple[str, str]], list, dict[str, gr.Accordion]]:
    """One accordion per recipe with a widget per option, shown while the recipe is chosen; returns the
    ((recipe, option) keys, widgets, accordions by recipe name)."""
    keys, widgets, forms = [], [], {}
    for name, entry in sorted(recipes.entries().items()):
        recipe = entry.recipe
        if recipe is None:
            continue
        variant = recipe.variant.option if recipe.variant else None
        shown = [o for o in recipe.options if o.name != variant]
        if not shown:
            continue
        with gr.Accordion(f"{recipe.title} options", open=False, visible=name in chosen,
                          elem_id=f"options-{name}") as forms[name]:
            for opt in shown:
                keys.append((name, opt.name))
                widgets.append(_option_widget(name, opt))
    return keys, widgets, forms


AUTO_RECIPE = "gguf-auto"


def chosen_recipes(types, hf_recipes, gguf_files: str = "", auto: bool = False) -> set[str]:
    """Registry names of the recipes the form has chosen: every GGUF type is the one recipe `gguf`, every file
    brought the one recipe `gguf-file`."""
    return (({"gguf"} if types else set()) | set(hf_recipes or ()) | ({"gguf-file"} if _files(gguf_files) else set())
            | ({AUTO_RECIPE} if auto else set()))


def _files(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def whole_number(value, what: str) -> int | None:
    """A number field's value (a number, or the text of a field that may stay empty), None when left empty;
    anything but a whole number is refused rather than rounded."""
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise PreflightError([f"{what} must be a whole number (got {text!r})"]) from None
    if not number.is_integer():
        raise PreflightError([f"{what} must be a whole number (got {text})"])
    return int(number)


def _request(settings: Settings, option_keys, model, types, hf_recipes, auto, gguf_files, text_choice, upload,
             calibration_upload, n_ctx, max_chunks, whole_text, prompts, max_new, *option_values):
    if text_choice == UPLOAD:
        if not upload:
            raise PreflightError(["choose a .txt file to upload, or pick the built-in sample"])
        text = service.save_upload(settings, Path(upload))
    else:
        text = BUILTIN_SAMPLE
    chosen = chosen_recipes(types, hf_recipes, gguf_files, auto)
    values = {key: value for key, value in zip(option_keys, option_values) if key[0] in chosen}
    if calibration_upload:  # the uploaded file replaces 'builtin' wherever a recipe takes a calibration text
        calibration = str(service.save_upload(settings, Path(calibration_upload)))
        values.update({key: calibration for key, value in values.items()
                       if key[1] in CALIBRATION_TEXT_OPTIONS and value == "builtin"})
    overrides = tuple((f"{name}.{key}", value) for (name, key), value in values.items() if value is not None)
    return service.JobRequest(
        model=(model or "").strip(), recipes=tuple(f"gguf:{t}" for t in (types or [])) + tuple(hf_recipes or ())
        + ((AUTO_RECIPE,) if auto else ()) + tuple(f"gguf-file:{path}" for path in _files(gguf_files)),
        eval_text=text, overrides=overrides,
        n_ctx=whole_number(n_ctx, "the context") or 0, max_chunks=whole_number(max_chunks, "max chunks"),
        whole_text=bool(whole_text),
        prompts=tuple(p.strip() for p in (prompts or "").splitlines() if p.strip()),
        max_new_tokens=whole_number(max_new, "max new tokens") or 0)


def _outcome(kind: str, lines: list[str]) -> str:
    """The message under the buttons; a toast repeats its first line where the eye may be elsewhere."""
    (gr.Warning if kind == "error" else gr.Info)(lines[0] if lines else "")
    return messages(kind, lines)


@dataclass(frozen=True)
class Form:
    """The New-job widgets other tabs fill or follow (wired in app.py): the Planner's presets, the jump to the Jobs
    tab, the sensitivity map's "keep these high"."""
    model: gr.Dropdown
    gguf_types: gr.CheckboxGroup
    hf_recipes: gr.CheckboxGroup
    advanced: gr.Accordion
    option_forms: dict  # recipe name -> its options' accordion
    option_widgets: dict  # (recipe name, option name) -> widget
    open_jobs: gr.Button
    submitted: gr.State


def build(settings: Settings, enqueue: Enqueue) -> Form:
    """The form."""
    gguf = recipes.get("gguf")
    model = gr.Dropdown(service.model_choices(settings), value=None, allow_custom_value=True, label="Model",
                        elem_id="model-input", filterable=True,
                        info="a checkpoint folder under the allowed model folders (listed), any path to one, "
                             "or a hub id such as HuggingFaceTB/SmolLM2-135M-Instruct (downloaded when online)")
    with gr.Row(equal_height=False):
        types = gr.CheckboxGroup(list(gguf.option("type").choices), value=["Q4_K_M"], label="GGUF types",
                                 elem_id="gguf-types", info="llama.cpp quantization types; one job each", scale=3)
        hf_names = [n for n, e in sorted(recipes.entries().items()) if e.recipe and e.recipe.family != gguf.family]
        hf_recipes = gr.CheckboxGroup(hf_names, value=[], label="Hugging Face-format recipes", elem_id="hf-recipes",
                                      info="evaluated with torch against the checkpoint itself; one job each",
                                      scale=2)
        auto = gr.Checkbox(False, label="GGUF automatic mix", elem_id="gguf-auto", scale=1,
                           info="a type per tensor from the model's sensitivity map, for the budget under Advanced")
    with gr.Row(equal_height=False):
        text_choice = gr.Radio([BUILTIN, UPLOAD], value=BUILTIN, label="Evaluation text", elem_id="text-choice")
        upload = gr.File(label="Text file (.txt, UTF-8)", file_types=[".txt"], type="filepath", visible=False,
                         elem_id="text-upload")
    with gr.Row():
        check_btn = gr.Button("Preflight", elem_id="preflight-btn", scale=1)
        submit_btn = gr.Button("Quantize", variant="primary", elem_id="quantize-btn", scale=2)
    status = gr.HTML(elem_id="new-job-status")
    with gr.Row():
        open_jobs = gr.Button("Open in the Jobs tab", visible=False, elem_id="open-jobs", size="sm")
        again_btn = gr.Button("Run them again", visible=False, elem_id="run-again", size="sm")
    submitted = gr.State([])
    with gr.Accordion("Advanced: protocol, prompts, calibration text, recipe options", open=False,
                      elem_id="advanced") as advanced:
        with gr.Row():
            n_ctx = gr.Number(512, label="Context (tokens)", precision=0, elem_id="n-ctx")
            max_chunks = gr.Textbox("", label="Max chunks", elem_id="max-chunks", placeholder="automatic",
                                    max_lines=1,
                                    info="empty: all, unless that takes over 30 min here (then ~10 min's worth)")
            whole_text = gr.Checkbox(False, label="Whole text", elem_id="whole-text",
                                     info="every chunk, however long it takes")
            max_new = gr.Number(64, label="Max new tokens per generation", precision=0, elem_id="max-new")
        prompts = gr.Textbox("\n".join(DEFAULT_PROMPTS), lines=4, label="Sample prompts (one per line)",
                             elem_id="prompts")
        gguf_files = gr.Textbox("", lines=2, label="GGUF files you have, to evaluate beside these (one path per "
                                "line)", elem_id="gguf-files", placeholder="/models/community/model-Q4_K_M.gguf",
                                info="made elsewhere from this model (same vocabulary and shape), under the model "
                                     "folders or the workspace: each becomes a row against the model's F16 base")
        calibration_upload = gr.File(label="Calibration text (.txt, UTF-8) for the importance matrix, GPTQ and "
                                     "AWQ; empty: the built-in WikiText-2 slice", file_types=[".txt"],
                                     type="filepath", elem_id="calibration-upload")
        option_keys, option_widgets, forms = _option_forms(chosen_recipes(types.value, hf_recipes.value))
    inputs = [model, types, hf_recipes, auto, gguf_files, text_choice, upload, calibration_upload, n_ctx, max_chunks,
              whole_text, prompts, max_new, *option_widgets]

    def on_check(*values):
        try:
            plan = service.preflight(settings, _request(settings, option_keys, *values))
        except PreflightError as exc:
            return _outcome("error", exc.reasons)
        return _outcome("ok", plan.summary().splitlines())

    def submit(values, again: bool):
        notes: list[str] = []
        repeats: list[service.Repeat] = []
        try:
            req = replace(_request(settings, option_keys, *values), again=again)
            ids = service.submit(settings, req, enqueue, notes, repeats)
        except PreflightError as exc:
            return _outcome("error", exc.reasons), [], gr.update(visible=False), gr.update(visible=False)
        queued = [f"Queued job{'s' if len(ids) > 1 else ''} {', '.join(f'#{i}' for i in ids)}."] if ids else []
        follow = gr.update(visible=bool(ids), value=f"Follow job #{ids[0]} in the Jobs tab" if ids else "")
        return (_outcome("ok", queued + notes), ids, follow, gr.update(visible=bool(repeats)))

    def on_submit(*values):
        return submit(values, again=False)

    def on_again(*values):
        return submit(values, again=True)

    def on_recipes(chosen_types, chosen_hf, files, chosen_auto):
        chosen = chosen_recipes(chosen_types, chosen_hf, files, chosen_auto)
        return [gr.update(visible=name in chosen) for name in forms]

    check_btn.click(on_check, inputs, status)
    submit_btn.click(on_submit, inputs, [status, submitted, open_jobs, again_btn])
    again_btn.click(on_again, inputs, [status, submitted, open_jobs, again_btn])
    for picker in (types, hf_recipes, gguf_files, auto):
        picker.change(on_recipes, [types, hf_recipes, gguf_files, auto], list(forms.values()),
                      show_progress="hidden")
    text_choice.change(lambda choice: gr.update(visible=choice == UPLOAD), text_choice, upload,
                       show_progress="hidden")
    return Form(model, types, hf_recipes, advanced, forms, dict(zip(option_keys, option_widgets)), open_jobs,
                submitted)
