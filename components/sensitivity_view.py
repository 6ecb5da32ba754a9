"""The sensitivity map on Compare: layers down, tensor groups across, colour = the KLD a tensor adds when it alone
is stored at its low type (hover: the numbers), and the GGUF overrides that keep the most sensitive ones high."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import gradio as gr

from components.formatting import esc
from studio import sensitivity
from studio.architecture import gguf_tensor, hf_module
from studio.config import Settings
from studio.sensitivity import KEEP_TOP, KEEP_TYPE, keep_high

GROUPS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
OUTSIDE = ("token_embd", "output")  # the matrices outside the decoder layers


def _colour(value: float, lo: float, hi: float) -> str:
    """White (least) to deep orange (most), on a log scale: the map spans orders of magnitude."""
    if value <= 0 or hi <= lo:
        return "#ffffff"
    share = min(max((math.log10(value) - lo) / (hi - lo), 0.0), 1.0)
    g, b = round(255 - 150 * share), round(255 - 235 * share)
    return f"#ff{g:02x}{b:02x}"


def heatmap_html(found) -> str:
    """One map as a table; every cell's hover names the tensor, its low type and what it adds."""
    hf = found.family == "hf"  # its names are transformers modules; the embeddings and output are not measured
    added = {(gguf_tensor(name) if hf else name): value for name, value in found.added_kld.items()}
    low_types = {(gguf_tensor(name) if hf else name): value for name, value in found.low_types.items()}
    positive = [v for v in added.values() if v > 0]
    lo, hi = (math.log10(min(positive)), math.log10(max(positive))) if positive else (0.0, 0.0)
    layers = sorted({int(m[1]) for name in added if (m := re.match(r"blk\.(\d+)\.", name))})

    def cell(name: str) -> str:
        if name not in added:
            why = "kept in 16 bits by the HF formats" if hf else "no such matrix (an output tied to the embedding)"
            return f"<td class='qs-none' title='{why}'>—</td>"
        value = added[name]
        shown = hf_module(name) if hf else name
        tip = (f"{shown} alone at {low_types[name]} (the rest at {found.high_type}): "
               f"{value:+.5f} mean KLD over {found.tokens_scored} tokens")
        return f"<td style='background:{_colour(value, lo, hi)}' title='{esc(tip)}'>{value:.2g}</td>"

    head = "<tr><th>layer</th>" + "".join(f"<th>{g}</th>" for g in GROUPS) + "</tr>"
    rows = "".join(f"<tr><th>{i}</th>" + "".join(cell(f"blk.{i}.{g}.weight") for g in GROUPS) + "</tr>"
                   for i in layers)
    outside = "".join(f"<span class='qs-outside'>{o}: <table><tr>{cell(f'{o}.weight')}</tr></table></span>"
                      for o in OUTSIDE)
    return (f"<div id='sensitivity-map' class='qs-heatmap'><p>{esc(found.model.rsplit('/', 1)[-1])} "
            f"({'the studio HF formats' if hf else 'llama.cpp types'}): each tensor "
            f"alone at its low type, the rest at {found.high_type} (which itself adds {found.baseline_kld:.5f}); "
            f"{found.tokens_scored} calibration tokens, measured in {found.seconds:.0f} s. Darker = hurts more.</p>"
            f"<div class='qs-scroll'><table class='qs-heat'>{head}{rows}</table></div>{outside}</div>")


@dataclass(frozen=True)
class Panel:
    load: Callable
    inputs: list
    outputs: list
    pick: gr.Dropdown
    keep: gr.Button


def build(settings: Settings) -> Panel:
    with gr.Accordion("Sensitivity map: which tensors to keep high", open=False, elem_id="sensitivity-panel"):
        pick = gr.Dropdown(label="Map (python -m studio sensitivity --model M measures one)",
                           elem_id="sensitivity-pick")
        view = gr.HTML(elem_id="sensitivity-html")
        with gr.Row(equal_height=True):
            overrides = gr.Textbox(label=f"The {KEEP_TOP} most sensitive at {KEEP_TYPE}: the GGUF recipe's "
                                   "tensor_types option", elem_id="sensitivity-keep", interactive=False,
                                   buttons=["copy"], scale=3)
            keep = gr.Button(f"Keep these {KEEP_TOP} high in a new job", elem_id="sensitivity-keep-btn", scale=1,
                             size="sm")

    def load(chosen):
        found = sensitivity.maps(settings)
        choices = [(f"#{m.id} {m.model.rsplit('/', 1)[-1]}, {m.family} ({m.created_at:%Y-%m-%d %H:%M})", m.id)
                   for m in found]
        current = next((m for m in found if m.id == chosen), found[0] if found else None)
        if current is None:
            return (gr.update(choices=[], value=None), "<p class='qs-empty'>No sensitivity map yet.</p>", "",
                    gr.update(interactive=False))
        return (gr.update(choices=choices, value=current.id), heatmap_html(current),
                keep_high(current.added_kld).gguf, gr.update(interactive=True))

    outputs = [pick, view, overrides, keep]
    pick.input(load, pick, outputs)
    return Panel(load, [pick], outputs, pick, keep)


def wire_keep(settings: Settings, panel: Panel, form, tabs) -> None:
    """"Keep these high": the New-job form on the map's model, its GGUF tensor_types and every HF recipe's keep
    filled with the most sensitive tensors, the options shown, the tab opened."""
    hf_keeps = [widget for (name, option), widget in form.option_widgets.items() if option == "keep"]

    def fill(map_id, types):
        current = next((m for m in sensitivity.maps(settings) if m.id == map_id), None)
        if current is None:
            raise gr.Error("pick a sensitivity map first")
        chosen = keep_high(current.added_kld)
        gr.Info(f"New job: {len(chosen.tensors)} tensors kept at {KEEP_TYPE} (see Advanced → GGUF options)")
        return (current.model, types or ["Q4_K_M"], chosen.gguf, *[chosen.hf] * len(hf_keeps),
                gr.Accordion(open=True), gr.Accordion(open=True), gr.Tabs(selected="new"))

    panel.keep.click(fill, [panel.pick, form.gguf_types],
                     [form.model, form.gguf_types, form.option_widgets[("gguf", "tensor_types")], *hf_keeps,
                      form.option_forms["gguf"], form.advanced, tabs])
