"""Compare tab: results beside their unquantized bases on the same tokens — Pareto plots, a sortable,
filterable table with CSV export and delete, generations side by side with the differences from the
base highlighted, and a reference card of published numbers (never mixed with measured rows)."""
from __future__ import annotations


import gradio as gr

from components.formatting import esc, messages, mib
from components.plots import scatter_svg
from studio import families, service
from studio.families import BaseKey
from studio.config import Settings
from studio.pareto import frontier
from studio.textdiff import word_diff

COLUMNS = ("Recipe", "Compared to", "Size (MiB)", "Bits/weight", "PPL", "Δ PPL", "Δ %", "Mean KLD", "KLD p99",
           "Same top %", "RMS Δp %", "KLD vs checkpoint", "Prefill tok/s", "Decode tok/s", "Peak RAM (MiB)",
           "Quantize (s)", "Load (s)", "Protocol", "Tensor types")
X_AXES = {"Bits per weight": "bpw", "Size (MiB)": "size_mib"}
Y_AXES = {"Δ PPL %": "ppl_delta_pct", "Mean KLD": "kld_mean", "KLD vs checkpoint": "kld_vs_checkpoint"}
SORTS = {"Size": ("size_bytes", False), "Bits/weight": ("bpw", False), "PPL": ("ppl", False),
         "Δ PPL %": ("ppl_delta_pct", False), "Mean KLD": ("kld_mean", False),
         "KLD vs checkpoint": ("kld_vs_checkpoint", False), "Decode tok/s": ("decode_tok_s", True)}

# Published by llama.cpp (its perplexity README's LLaMA-3-8B scoreboard): shown for orientation only.
REFERENCE_CARD = """<div class="qs-reference" id="reference-card"><h4>Reference: published llama.cpp numbers
(not measured here)</h4><p>LLaMA-3-8B, WikiText-2 test, <code>llama-perplexity --kl-divergence</code> against the
FP16 model's logits, as published in llama.cpp's perplexity README. Other model, other hardware: compare the
shape, not the values.</p><table class="qs-table"><tr><th>Type</th><th>Δ PPL</th><th>Mean KLD</th></tr>
<tr><td>Q8_0</td><td>≈ 0 %</td><td>0.0014</td></tr><tr><td>Q4_K_M</td><td>+2.8 %</td><td>0.031</td></tr>
<tr><td>Q2_K</td><td>+56 %</td><td>—</td></tr></table></div>"""


def comparison_key(base_key: str) -> str:
    """model, text and protocol, without the family: GGUF and HF rows of one model sit side by side,
    each against its own base (llama.cpp F16 or the checkpoint in torch)."""
    return BaseKey.parse(base_key).comparison


def _groups(settings: Settings) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for row in service.result_rows(settings, include_base=True):
        row["size_mib"] = row["size_bytes"] / 2**20
        if row["is_base"]:
            row["ppl_delta_pct"], row["kld_mean"] = 0.0, 0.0
        groups.setdefault(comparison_key(row["base_key"]), []).append(row)
    return groups


def group_label(rows: list[dict]) -> str:
    r = rows[0]
    text_sha = BaseKey.parse(r["base_key"]).text_sha
    names = "+".join(sorted({row["family"] for row in rows}))
    return (f"{r['model'].rsplit('/', 1)[-1]} · {names} · text {text_sha[:8]} · ctx {r['n_ctx']} · "
            f"{r['n_chunks']} chunks")


def visible_rows(rows: list[dict], family: str, query: str, sort: str) -> list[dict]:
    """The bases of the shown families first (the reference stays in view), then the results that
    pass the filters, in the chosen order."""
    key, descending = SORTS.get(sort, SORTS["Size"])
    query = (query or "").strip().lower()
    kept = [r for r in rows if (family in (None, "all") or r["family"] == family)
            and (r["is_base"] or query in r["recipe"].lower())]
    quantized = sorted((r for r in kept if not r["is_base"]),
                       key=lambda r: (r.get(key) is None, -(r.get(key) or 0) if descending else (r.get(key) or 0)))
    return [r for r in kept if r["is_base"]] + quantized


def _divergence_cells(r: dict) -> str:
    if r["is_base"]:
        return "<td></td>" * 4
    if r["kld_p99"] is None:
        return "<td>—</td>" * 4
    return (f'<td class="qs-kld">{r["kld_mean"]:.4f}</td><td>{r["kld_p99"]:.4f}</td>'
            f'<td>{r["same_top_pct"]:.1f}</td><td>{r["rms_dp_pct"]:.2f}</td>')


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _checkpoint_cell(r: dict) -> str:
    """Comparable across families: every row against the HF checkpoint (GGUF rows via llama.cpp vs torch)."""
    if r.get("vs_checkpoint_refused"):
        return f'<td title="{esc(r["vs_checkpoint_refused"])}">n/a</td>'
    value = r.get("kld_vs_checkpoint")
    return "<td>—</td>" if value is None else f'<td class="qs-kld-ckpt">{value:.4f}</td>'


def _decode_cell(r: dict) -> str:
    if r.get("generations_skipped"):
        return f'<td title="generations {esc(r["generations_skipped"])}">n/a</td>'
    return f"<td>{r['decode_tok_s']:.1f}</td>"


def _recipe_cell(r: dict) -> str:
    flags = ""
    if r["fallback_tensors"]:
        flags += (f' <span class="qs-flag" title="rows not a multiple of 256 cannot use k-quant blocks; llama.cpp '
                  f'used a legacy type instead">⚠ {r["fallback_tensors"]} fallback</span>')
    if r.get("emulated"):
        flags += (' <span class="qs-flag" title="the format is stored exactly; its arithmetic is imitated in higher '
                  'precision on this device">emulated</span>')
    return f"<td>{esc(r['recipe'])}{flags}</td>"


def table_html(rows: list[dict]) -> str:
    body = []
    for r in rows:
        delta = "" if r["is_base"] else f"{r['ppl_delta']:+.4f}"
        pct = "" if r["is_base"] else f"{r['ppl_delta_pct']:+.2f}"
        cls = "qs-base" if r["is_base"] else ("qs-worse" if (r["ppl_delta_pct"] or 0) > 5 else "qs-ok")
        census = ", ".join(f"{k}×{v}" for k, v in sorted(r["tensor_types"].items(), key=lambda kv: -kv[1]))
        body.append(
            f'<tr class="{cls}" data-recipe="{esc(r["recipe"])}" data-id="{r["id"]}">{_recipe_cell(r)}'
            f"<td>{'—' if r['is_base'] else esc(r['base'] or '—')}</td><td>{mib(r['size_bytes'])}</td>"
            f"<td>{r['bpw']:.2f}</td><td class=\"qs-ppl\">{r['ppl']:.4f}</td><td>{delta}</td><td>{pct}</td>"
            f"{_divergence_cells(r)}{_checkpoint_cell(r)}<td>{r['prefill_tok_s']:.0f}</td>{_decode_cell(r)}"
            f"<td>{mib(r['peak_rss_bytes'])}</td><td>{_seconds(r['quant_seconds'])}</td>"
            f"<td>{_seconds(r['load_seconds'])}</td><td>ctx {r['n_ctx']}, {r['n_chunks']} chunks, "
            f"{r['n_tokens_scored']} tokens</td><td class=\"qs-census\">{esc(census)}</td></tr>")
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    snippets = "".join(f'<details class="qs-snippet"><summary>Load {esc(r["recipe"])}</summary>'
                       f'<pre>{esc(r["load_snippet"])}</pre></details>' for r in rows if not r["is_base"])
    return (f'<table class="qs-table" id="compare-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table><div id="load-snippets">{snippets}</div>')


def plots_html(rows: list[dict], x_name: str, y_name: str) -> str:
    """Quality loss vs size with its Pareto frontier, and decode speed vs size (frontier: faster and smaller)."""
    x_key, y_key = X_AXES.get(x_name, "bpw"), Y_AXES.get(y_name, "ppl_delta_pct")
    usable = [r for r in rows if r.get(y_key) is not None]
    quality = [{"x": r[x_key], "y": r[y_key], "label": r["recipe"], "kind": "base" if r["is_base"] else r["family"]}
               for r in usable]
    speed = [{"x": r[x_key], "y": r["decode_tok_s"], "label": r["recipe"],
              "kind": "base" if r["is_base"] else r["family"]} for r in rows if not r.get("generations_skipped")]
    quality_front = frontier([(p["x"], p["y"]) for p in quality])
    speed_front = frontier([(p["x"], -p["y"]) for p in speed])
    return ('<div class="qs-plots">'
            + scatter_svg(quality, x_name, y_name, quality_front, "pareto-plot")
            + scatter_svg(speed, x_name, "Decode tok/s", speed_front, "speed-plot") + "</div>")


def _diff_html(base: str | None, text: str) -> str:
    if base is None or base == text:
        return esc(text)
    pieces = {"same": "{}", "added": "<ins>{}</ins>", "removed": "<del>{}</del>"}
    return "".join(pieces[kind].format(esc(segment)) for kind, segment in word_diff(base, text))


def generations_html(settings: Settings, rows: list[dict], all_rows: list[dict]) -> str:
    """The picked results' generations per prompt; each quantized one marked against its own base."""
    if not rows:
        return '<p class="qs-empty">Pick results above to see their generations side by side.</p>'
    bases = {r["base_key"]: r for r in all_rows if r["is_base"]}
    ids = {r["id"] for r in rows} | {bases[r["base_key"]]["id"] for r in rows if r["base_key"] in bases}
    gens = service.generations(settings, list(ids))
    # Matched by prompt text: results of jobs with other prompts must not pair with the wrong answer.
    by_prompt = {rid: {g.prompt: g.text for g in gs} for rid, gs in gens.items()}
    prompts = list(dict.fromkeys(g.prompt for r in rows for g in gens.get(r["id"], [])))
    blocks = []
    for i, prompt in enumerate(prompts):
        cells = []
        for r in rows:
            text = by_prompt.get(r["id"], {}).get(prompt)
            base = bases.get(r["base_key"])
            base_text = None if r["is_base"] or base is None else by_prompt.get(base["id"], {}).get(prompt)
            shown = "(not asked this prompt)" if text is None else _diff_html(base_text, text)
            cells.append(f'<div class="qs-gen" data-recipe="{esc(r["recipe"])}"><div class="qs-gen-head">'
                         f'{esc(r["recipe"])}</div><pre>{shown}</pre></div>')
        blocks.append(f'<div class="qs-prompt"><div class="qs-prompt-text">Prompt {i + 1}: {esc(prompt)}</div>'
                      f'<div class="qs-gens">{"".join(cells)}</div></div>')
    legend = ('<p class="qs-legend"><ins>added</ins> / <del>removed</del> relative to the row\'s base '
              "generation for the same prompt</p>")
    skipped = "".join(f'<p class="qs-legend">{esc(r["recipe"])}: generations {esc(r["generations_skipped"])}</p>'
                      for r in rows if r.get("generations_skipped"))
    return f'<div id="generations">{legend}{skipped}{"".join(blocks)}</div>'


def build(settings: Settings):
    with gr.Row():
        group = gr.Dropdown(label="Model · text · protocol", elem_id="compare-group", scale=4)
        refresh_btn = gr.Button("Refresh", elem_id="compare-refresh", scale=1)
    with gr.Row():
        x_axis = gr.Radio(list(X_AXES), value="Bits per weight", label="x", elem_id="plot-x")
        y_axis = gr.Radio(list(Y_AXES), value="Δ PPL %", label="y", elem_id="plot-y")
    plots = gr.HTML(elem_id="plots-html")
    with gr.Row():
        family = gr.Dropdown([("all", "all")] + [(f.title, f.name) for f in families.all_families()], value="all",
                             label="Family", elem_id="filter-family")
        query = gr.Textbox("", label="Filter recipes", placeholder="e.g. Q4 or bnb", elem_id="filter-query")
        sort = gr.Dropdown(list(SORTS), value="Size", label="Sort by", elem_id="sort-by")
    table = gr.HTML(elem_id="compare-html")
    with gr.Row():
        csv_btn = gr.Button("Export CSV", elem_id="export-csv")
        csv_file = gr.File(label="CSV", elem_id="csv-file", interactive=False)
    with gr.Accordion("Delete a result", open=False, elem_id="delete-panel"):
        with gr.Row():
            victim = gr.Dropdown(label="Result", elem_id="delete-pick")
            confirm = gr.Checkbox(False, label="Yes, delete the row and its files in outputs/",
                                  elem_id="delete-confirm")
            delete_btn = gr.Button("Delete", variant="stop", elem_id="delete-btn")
        delete_status = gr.HTML(elem_id="delete-status")
    picks = gr.CheckboxGroup(label="Generations: pick 2–4 results", elem_id="gen-picks")
    gens = gr.HTML(elem_id="gen-html")
    gr.HTML(REFERENCE_CARD)

    view = [group, x_axis, y_axis, family, query, sort]
    outputs = [group, plots, table, victim, picks, gens]

    def load(current, x_name, y_name, fam, q, sort_by):
        groups = _groups(settings)
        choices = [(group_label(rows), key) for key, rows in groups.items()]
        key = current if current in groups else (choices[-1][1] if choices else None)
        rows = visible_rows(groups.get(key, []), fam, q, sort_by)
        pick_choices = [(r["recipe"], r["id"]) for r in rows]
        default = [r["id"] for r in rows][:4]
        shown = [r for r in rows if r["id"] in default]
        return (gr.update(choices=choices, value=key), plots_html(rows, x_name, y_name),
                table_html(rows) if rows else '<p class="qs-empty">No results yet.</p>',
                gr.update(choices=pick_choices, value=None), gr.update(choices=pick_choices, value=default),
                generations_html(settings, shown, groups.get(key, [])))

    def on_pick(key, picked):
        all_rows = _groups(settings).get(key, [])
        return generations_html(settings, [r for r in all_rows if r["id"] in (picked or [])], all_rows)

    def on_csv(key, fam, q, sort_by):
        rows = visible_rows(_groups(settings).get(key, []), fam, q, sort_by)
        return str(service.export_csv(rows, settings.outputs_dir / "exports"))

    def on_delete(result_id, sure, *current):
        if result_id is None:
            return messages("error", ["pick a result to delete"]), *load(*current)
        if not sure:
            return messages("error", ["tick the confirmation box first: the row and its files will be deleted"]), \
                *load(*current)
        try:
            removed = service.delete_result(settings, int(result_id))
        except service.DeleteError as exc:
            return messages("error", [str(exc)]), *load(*current)
        return messages("ok", [f"deleted result #{result_id}"] + [f"removed {p}" for p in removed]), *load(*current)

    refresh_btn.click(load, view, outputs)
    for control in (group, x_axis, y_axis, family, sort):
        control.input(load, view, outputs)
    query.submit(load, view, outputs)
    picks.input(on_pick, [group, picks], [gens])
    csv_btn.click(on_csv, [group, family, query, sort], csv_file)
    delete_btn.click(on_delete, [victim, confirm, *view], [delete_status, *outputs])
    return load, view, outputs
