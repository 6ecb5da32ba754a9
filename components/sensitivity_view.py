"""The sensitivity map on Compare: layers down, tensor groups across, colour = the KLD a tensor adds when it alone
is stored at its low type (hover: the numbers), and the GGUF overrides that keep the most sensitive ones high."""
from __future__ import annotations

import math
import re

import gradio as gr

from components.formatting import esc
from studio import sensitivity
from studio.config import Settings

GROUPS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
OUTSIDE = ("token_embd", "output")  # the matrices outside the decoder layers
KEEP_TYPE = "Q8_0"
KEEP_TOP = 8


def _colour(value: float, lo: float, hi: float) -> str:
    """White (least) to deep orange (most), on a log scale: the map spans orders of magnitude."""
    if value <= 0 or hi <= lo:
        return "#ffffff"
    share = min(max((math.log10(value) - lo) / (hi - lo), 0.0), 1.0)
    g, b = round(255 - 150 * share), round(255 - 235 * share)
    return f"#ff{g:02x}{b:02x}"


def heatmap_html(found) -> str:
    """One map as a table; every cell's hover names the tensor, its low type and what it adds."""
    added = found.added_kld
    positive = [v for v in added.values() if v > 0]
    lo, hi = (math.log10(min(positive)), math.log10(max(positive))) if positive else (0.0, 0.0)
    layers = sorted({int(m[1]) for name in added if (m := re.match(r"blk\.(\d+)\.", name))})

    def cell(name: str) -> str:
        if name not in added:
            return "<td class='qs-none' title='no such matrix (an output tied to the embedding)'>—</td>"
        value = added[name]
        tip = (f"{name} alone at {found.low_types[name]} (the rest at {found.high_type}): "
               f"{value:+.5f} mean KLD over {found.tokens_scored} tokens")
        return f"<td style='background:{_colour(value, lo, hi)}' title='{esc(tip)}'>{value:.2g}</td>"

    head = "<tr><th>layer</th>" + "".join(f"<th>{g}</th>" for g in GROUPS) + "</tr>"
    rows = "".join(f"<tr><th>{i}</th>" + "".join(cell(f"blk.{i}.{g}.weight") for g in GROUPS) + "</tr>"
                   for i in layers)
    outside = "".join(f"<span class='qs-outside'>{o}: <table><tr>{cell(f'{o}.weight')}</tr></table></span>"
                      for o in OUTSIDE)
    return (f"<div id='sensitivity-map' class='qs-heatmap'><p>{esc(found.model.rsplit('/', 1)[-1])}: each tensor "
            f"alone at its low type, the rest at {found.high_type} (which itself adds {found.baseline_kld:.5f}); "
            f"{found.tokens_scored} calibration tokens, measured in {found.seconds:.0f} s. Darker = hurts more.</p>"
            f"<div class='qs-scroll'><table class='qs-heat'>{head}{rows}</table></div>{outside}</div>")


def keep_high(found, top: int = KEEP_TOP) -> str:
    """The GGUF recipe's `tensor_types` option keeping the `top` most sensitive tensors at Q8_0."""
    ranked = sorted(found.added_kld.items(), key=lambda kv: -kv[1])[:top]
    return ",".join(f"{re.escape(name.removesuffix('.weight'))}={KEEP_TYPE}" for name, _ in ranked)


def build(settings: Settings):
    with gr.Accordion("Sensitivity map: which tensors to keep high", open=False, elem_id="sensitivity-panel"):
        pick = gr.Dropdown(label="Map (python -m studio sensitivity --model M measures one)",
                           elem_id="sensitivity-pick")
        view = gr.HTML(elem_id="sensitivity-html")
        overrides = gr.Textbox(label=f"Keep the {KEEP_TOP} most sensitive at {KEEP_TYPE}: the GGUF recipe's "
                               "tensor_types option (New job → Advanced)", elem_id="sensitivity-keep",
                               interactive=False, buttons=["copy"])

    def load(chosen):
        found = sensitivity.maps(settings)
        choices = [(f"#{m.id} {m.model.rsplit('/', 1)[-1]} ({m.created_at:%Y-%m-%d %H:%M})", m.id) for m in found]
        current = next((m for m in found if m.id == chosen), found[0] if found else None)
        if current is None:
            return gr.update(choices=[], value=None), "<p class='qs-empty'>No sensitivity map yet.</p>", ""
        return gr.update(choices=choices, value=current.id), heatmap_html(current), keep_high(current)

    pick.input(load, pick, [pick, view, overrides])
    return load, pick, [pick, view, overrides]
