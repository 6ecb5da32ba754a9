"""The studio's Gradio app: five tabs over the domain layer."""
from __future__ import annotations

import gradio as gr

from components import compare, hardware_tab, jobs_tab, new_job, ollama_panel, planner_tab, sensitivity_view
from studio.config import Settings
from studio.service import Enqueue


def build_app(settings: Settings, enqueue: Enqueue) -> gr.Blocks:
    """`enqueue` puts submitted jobs on the queue (jobs.queue.enqueue, handed in by launch.py)."""
    with gr.Blocks(title="Quantization Studio") as app:
        gr.HTML('<div class="qs-header"><h1>Quantization Studio</h1>'
                "<p>Shrink a language model, and see what you lost.</p></div>")
        with gr.Tabs() as tabs:
            with gr.Tab("New job", id="new"):
                form = new_job.build(settings, enqueue)
            with gr.Tab("Jobs", id="jobs") as jobs_ui:
                selected_job, load_jobs, j_in, j_out = jobs_tab.build(settings)
            with gr.Tab("Compare", id="compare") as compare_tab:
                load_compare, c_in, c_out = compare.build(settings)
                load_ollama, o_in, o_out = ollama_panel.build(settings, enqueue)
                sensitivity = sensitivity_view.build(settings)
            with gr.Tab("Planner", id="planner") as plan_tab:
                load_plan, p_in, p_out = planner_tab.build(settings, (form.gguf_types, form.hf_recipes), tabs)
            with gr.Tab("Hardware", id="hardware") as hw_tab:
                load_hw, h_in, h_out = hardware_tab.build(settings)
        form.open_jobs.click(lambda ids: (gr.Tabs(selected="jobs"), str(ids[0]) if ids else ""), form.submitted,
                             [tabs, selected_job])
        sensitivity_view.wire_keep(settings, sensitivity, form, tabs)
        jobs_ui.select(load_jobs, j_in, j_out)
        compare_tab.select(load_compare, c_in, c_out)
        compare_tab.select(load_ollama, o_in, o_out)
        compare_tab.select(sensitivity.load, sensitivity.inputs, sensitivity.outputs)
        plan_tab.select(load_plan, p_in, p_out)
        hw_tab.select(load_hw, h_in, h_out)
    return app
