"""Planner tab: will this model fit (weights + KV cache per precision vs a memory target), and
which recipe to use for a goal on this machine, one click away from a New-job preset."""
from __future__ import annotations

import gradio as gr

from components.formatting import esc, messages
from studio import hardware, planner, recommend, service
from studio.config import Settings

DETECTED = "This machine's GPU"
CUSTOM = "Custom (type GB)"


def plan_html(settings: Settings, params, model, context, batch, target, memory_gb, kv_type, windowed) -> str:
    try:
        planned = service.plan_model(settings, (params or "").strip() or None, (model or "").strip() or None)
        memory = _memory(settings, target, memory_gb)
        rows = planner.plan(planned, int(context or 0), int(batch or 0), memory, kv_type, bool(windowed))
    except (planner.PlanError, ValueError) as exc:
        return messages("error", [str(exc)])
    head = ("<tr><th>Format</th><th title='stored bits per parameter: scales, zero points and the 16-bit "
            "embeddings included'>Bits/weight</th><th>Weights (GB)</th><th title='K and V for every layer and "
            "token of the context × batch'>KV cache (GB)</th><th title='compute buffer of a 512-token batch: "
            "logits and activations'>Runtime (GB)</th><th>Total (GB)</th><th>Fits?</th></tr>")
    body = "".join(
        f'<tr data-format="{esc(r.format)}" class="{"qs-ok" if r.fits else "qs-worse"}">'
        f"<td>{esc(r.format)}</td><td>{r.bits_per_weight:.2f}</td><td>{r.weights_gb:,.2f}</td>"
        f"<td>{r.kv_cache_gb:,.2f}</td><td>{r.runtime_gb:,.2f}</td><td>{r.total_gb:,.2f}</td>"
        f"<td>{_fit_text(r)}</td></tr>" for r in rows)
    caption = esc(planner.describe(planned, int(context), int(batch), kv_type, bool(windowed))) + (
        f" · target {memory:g} GB" if memory else "")
    note = ("Weights are counted tensor by tensor as the studio writes them (the same figure as a job's "
            "preflight); GGUF types are llama.cpp's per-tensor mixes. Leave headroom: drivers and the serving "
            "engine's own allocations are not counted.")
    return (f'<p class="qs-caption">{caption}</p><table class="qs-table" id="plan-table">{head}{body}</table>'
            f'<p class="qs-caption">{note}</p>')


def _fit_text(row) -> str:
    if row.fits is None:
        return "—"
    if row.tight:
        return (f'<span class="qs-caveat" title="the CUDA context, the serving engine\'s own allocations and '
                f'fragmentation are not counted: keep at least {planner.HEADROOM:.0%} free">fits, but only '
                f"{100 * row.free_share:.0f} % free: tight</span>")
    return "fits" if row.fits else f"no: needs {row.gpus_needed} × {row.memory_gb:g} GB"


def _memory(settings: Settings, target: str, memory_gb) -> float | None:
    if target == DETECTED:
        gpus = hardware.detect(settings.workspace).cuda
        if not gpus:
            raise planner.PlanError("no CUDA GPU detected here: pick a target or type its memory")
        return max(d.memory_bytes for d in gpus) / 1e9
    if target == CUSTOM:
        return float(memory_gb) if memory_gb else None
    return float(planner.TARGETS[target])


def recommendation_html(settings: Settings, goal: str) -> str:
    rec = recommend.recommend(goal, hardware.detect(settings.workspace), service.measured_recipes(settings))
    caveat = f'<p class="qs-caveat">⚠ {esc(rec.caveat)}</p>' if rec.caveat else ""
    source = ("from the results on Compare" if rec.measured else
              "from the field's decision table (quantize candidates and Compare will recommend from what it measured)")
    return (f'<div id="recommendation" data-measured="{str(rec.measured).lower()}"><p><b>{esc(", ".join(rec.recipes))}'
            f'</b> <span class="qs-note">{esc(source)}</span></p><p>{esc(rec.why)}</p>{caveat}</div>')


def build(settings: Settings, preset_targets: tuple, tabs):
    """preset_targets: the New-job (GGUF types, HF recipes) checkbox groups a preset fills in."""
    gr.Markdown("### Will it fit?")
    with gr.Row():
        params = gr.Textbox("70B", label="Parameters", elem_id="plan-params", info="e.g. 70B, 8B, 135M")
        model = gr.Textbox("", label="…or a checkpoint folder", elem_id="plan-model",
                           info="reads parameters and the KV shape from its config.json")
        context = gr.Number(8192, label="Context (tokens)", precision=0, elem_id="plan-context")
        batch = gr.Number(1, label="Batch", precision=0, elem_id="plan-batch")
    with gr.Row():
        target = gr.Dropdown([*planner.TARGETS, DETECTED, CUSTOM], value="H100 80 GB", label="Memory target",
                             elem_id="plan-target")
        memory_gb = gr.Number(None, label="Memory (GB), for Custom", elem_id="plan-memory")
        kv_type = gr.Dropdown(list(planner.KV_TYPES), value="f16", label="KV cache type", elem_id="plan-kv-type",
                              info="q8_0/q4_0: llama.cpp; fp8: vLLM")
        windowed = gr.Checkbox(True, label="Sliding-window layers keep only their window", elem_id="plan-windowed",
                               info="llama-server, Ollama, vLLM; off: llama.cpp's library default")
        plan_btn = gr.Button("Plan", elem_id="plan-btn")
    table = gr.HTML(elem_id="plan-html")
    gr.Markdown("### Which recipe?")
    with gr.Row():
        goal = gr.Radio([(v, k) for k, v in recommend.GOALS.items()], value="ollama", label="Goal", elem_id="goal")
        use_btn = gr.Button("Use in New job", elem_id="use-recommendation")
    advice = gr.HTML(elem_id="recommendation-html")

    inputs = [params, model, context, batch, target, memory_gb, kv_type, windowed]
    plan_btn.click(lambda *v: plan_html(settings, *v), inputs, table)
    goal.change(lambda g: recommendation_html(settings, g), goal, advice)

    def preset(g):
        specs = recommend.recommend(g, hardware.detect(settings.workspace), service.measured_recipes(settings)).recipes
        gguf = [s.split(":", 1)[1] for s in specs if s.startswith("gguf:")]
        hf = [s for s in specs if not s.startswith("gguf:")]
        return gr.update(value=gguf), gr.update(value=hf), gr.Tabs(selected="new")

    use_btn.click(preset, goal, [*preset_targets, tabs])
    return (lambda *v: (plan_html(settings, *v), recommendation_html(settings, "ollama"))), inputs, [table, advice]
