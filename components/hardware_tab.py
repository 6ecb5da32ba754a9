"""Hardware tab: what was detected, and for every recipe: available, or why not."""
from __future__ import annotations

import gradio as gr

from components.formatting import esc
from studio import hardware, recipes
from studio.config import Settings


def _note(recipe, requirements) -> str:
    kept = ", ".join(recipe.keeps_high_precision)
    return requirements.note + (f" · keeps in high precision: {kept}" if kept else "")


def hardware_html(settings: Settings) -> str:
    hw = hardware.detect(settings.workspace)
    gpus = "".join(f"<li>GPU {d.index}: {esc(d.name)}, compute capability {d.compute_capability}, "
                   f"{d.memory_bytes / 2**30:.1f} GiB</li>" for d in hw.cuda) or "<li>No CUDA device detected</li>"
    facts = (f"<ul><li>CPU: {esc(hw.cpu)} ({hw.cores} cores)</li>"
             f"<li>RAM: {hw.ram_bytes / 2**30:.1f} GiB ({hw.ram_available_bytes / 2**30:.1f} GiB available)</li>"
             f"<li>Free disk in the workspace ({esc(settings.workspace)}): {hw.disk_free_bytes / 2**30:.1f} GiB</li>"
             f"{gpus}</ul>")
    rows = []
    for row in hardware.support_matrix(hw):
        entry = recipes.entries()[row.recipe]
        title = entry.recipe.title if entry.recipe else row.recipe
        state, cls = ("available", "qs-available") if row.reason is None else ("unavailable", "qs-unavailable")
        note = row.reason or _note(entry.recipe, row.requirements)
        rows.append(f'<tr class="{cls}" data-recipe="{esc(row.recipe)}" data-mode="{esc(row.mode)}">'
                    f"<td>{esc(title)}</td><td>{esc(row.mode or 'default')}</td><td>{state}</td>"
                    f"<td>{esc(note)}</td></tr>")
    table = ('<table class="qs-table" id="recipes-table"><thead><tr><th>Recipe</th><th>Mode</th><th>Status</th>'
             f'<th>Reason / note</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return f"<h3>Detected</h3>{facts}<h3>Recipes</h3>{table}"


def build(settings: Settings):
    panel = gr.HTML(elem_id="hardware-html")
    gr.Button("Detect again", elem_id="hardware-refresh").click(lambda: hardware_html(settings), None, panel)
    return (lambda: hardware_html(settings)), [], [panel]
