"""Compare tab: results beside their unquantized bases on the same tokens — Pareto plots, a sortable,
filterable table with CSV export and delete, generations side by side with the differences from the
base highlighted, and a reference card of published numbers (never mixed with measured rows)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gradio as gr

from components.formatting import esc, messages, mib
from components.plots import scatter_svg
from studio import families, service
from studio.auto_mix import tensor_type_file
from studio.families import BaseKey
from studio.config import Settings
from studio.pareto import frontier, standing
from studio.storage import Pending
from studio.textdiff import word_diff

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
    whole = [row for row in rows if Pending.FULL_PASS not in row.get("pending", ())]
    chunks = f"{whole[0]['n_chunks']} chunks" if whole else f"first {r['n_chunks']} chunks so far"
    return f"{r['model'].rsplit('/', 1)[-1]} · {names} · text {text_sha[:8]} · ctx {r['n_ctx']} · {chunks}"


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


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _kld(r: dict, key: str, digits: int = 4) -> str:
    if r["is_base"]:
        return "<td></td>"
    value = r.get(key)
    return "<td>—</td>" if value is None else _scored_cell(r, f"{value:.{digits}f}")


def _scored_cell(r: dict, text: str, css: str = "") -> str:
    """A figure of the perplexity pass; while the row shows the pass's first look (its first chunks), marked ≈."""
    if Pending.FULL_PASS not in r.get("pending", ()):
        return f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>"
    note = f"from the first {r['n_chunks']} chunks so far; {r.get('pending_note') or ''}"
    return f'<td class="{css} qs-first-look" title="{esc(note)}">≈ {text}</td>'


def _pending_cell(r: dict) -> str:
    """A figure the row's job has still to measure, or never will (it ended first): the note says which."""
    note = r.get("pending_note") or ""
    word = "pending…" if note.startswith("pending") else "n/a"
    return f'<td class="qs-pending" title="{esc(note)}">{word}</td>'


def _checkpoint_cell(r: dict) -> str:
    """Comparable across families: every row against the HF checkpoint (GGUF rows via llama.cpp vs torch)."""
    if Pending.CHECKPOINT in r.get("pending", ()):
        return _pending_cell(r)
    if r.get("vs_checkpoint_refused"):
        return f'<td title="{esc(r["vs_checkpoint_refused"])}">n/a</td>'
    value = r.get("kld_vs_checkpoint")
    return "<td>—</td>" if value is None else f'<td class="qs-kld-ckpt">{value:.4f}</td>'


def _serving_cell(r: dict) -> str:
    """Whether vLLM loads the row's artifact (its serving check), with vLLM's perplexity beside the studio's, or why
    it does not, in vLLM's words, with what a GPU needs to run it."""
    if Pending.SERVING in r.get("pending", ()):
        return _pending_cell(r)
    check = r.get("serving")
    if not check:
        return ('<td class="qs-serving" title="not checked: run the recipe with its vllm_check option">—</td>'
                if r["family"] == "hf" and not r["is_base"] else "<td>—</td>")
    how = f"{check['engine']} read {check['scheme']}. Serve it: {check['command']}"
    if not check["loads"]:
        return (f'<td class="qs-serving qs-serving-no"><details><summary>✗ not here</summary>{esc(check["reason"])}'
                f'<br><b>Needs</b>: {esc(check["gpu_needs"])}</details></td>')
    agree = ", ".join(f"{a}/{n}" for a, n in zip(check["generations_agree"], check["generations_compared"]))
    own = check.get("format_gap_pct")
    own = "" if own is None else (f"; measured against each engine's own run of the checkpoint (vLLM's {check['dtype']}"
                                  f" against the studio's float32 taken out), {own:+.2f} %")
    tip = (f"{how}. Perplexity in vLLM {check['ppl']:.4f} vs the studio's {check['studio_ppl']:.4f} on the same "
           f"{check['n_tokens_scored']} tokens ({check['ppl_gap_pct']:+.2f} %{own}); greedy generations: first tokens "
           f"equal to the studio's {agree or '—'} (per prompt)")
    return (f'<td class="qs-serving qs-serving-yes" title="{esc(tip)}">✓ {check["ppl"]:.4f} '
            f'<span class="qs-dim">({check["ppl_gap_pct"]:+.2f} %)</span></td>')


def _decode_cell(r: dict) -> str:
    if Pending.GENERATIONS in r.get("pending", ()):
        return _pending_cell(r)
    if r.get("generations_skipped"):
        return f'<td title="generations {esc(r["generations_skipped"])}">n/a</td>'
    return _speed_cell(r, f"{r['decode_tok_s']:.1f}")


def _speed_cell(r: dict, text: str) -> str:
    """A speed, flagged when it was measured on a busy machine (the flag's hover says how busy)."""
    if not r.get("busy"):
        return f"<td>{text}</td>"
    return f'<td class="qs-busy" title="{esc(r["busy"])}">{text} <span class="qs-flag">⚠ busy</span></td>'


def _memory_cell(r: dict) -> str:
    return _pending_cell(r) if Pending.GENERATIONS in r.get("pending", ()) else f"<td>{mib(r['peak_rss_bytes'])}</td>"


def _measured_cell(r: dict) -> str:
    at = r.get("measured_at") or ""
    return f'<td title="{esc(at)} UTC">{esc(at[5:16].replace("T", " "))}</td>' if at else "<td>—</td>"


def _recipe_cell(r: dict) -> str:
    flags = ""
    if r["fallback_tensors"]:
        flags += (f' <span class="qs-flag" title="rows not a multiple of 256 cannot use k-quant blocks; llama.cpp '
                  f'used a legacy type instead">⚠ {r["fallback_tensors"]} fallback</span>')
    if r.get("emulated"):
        flags += (' <span class="qs-flag" title="the format is stored exactly; its arithmetic is imitated in higher '
                  'precision on this device">emulated</span>')
    return f'<td class="qs-pin">{esc(r["recipe"])}{flags}</td>'


def _census_cell(r: dict) -> str:
    types = sorted(r["tensor_types"].items(), key=lambda kv: -kv[1])
    if not types:
        return "<td>—</td>"
    summary = ", ".join(f"{k}×{v}" for k, v in types[:2]) + (" …" if len(types) > 2 else "")
    every = "<br>".join(f"{esc(k)} × {v}" for k, v in types)
    return f'<td class="qs-census"><details><summary>{esc(summary)}</summary>{every}</details>{_mix_details(r)}</td>'


def _mix_details(r: dict) -> str:
    """An automatic mix's type per tensor: for GGUF the tensor-type file llama-quantize reads (copy it to rebuild),
    for the HF formats each linear layer's format."""
    made_with = r.get("made_with") or {}
    if not made_with.get("tensor_types"):
        return ""
    chosen = made_with["tensor_types"]
    if r["family"] == "gguf":
        what, listing = "llama-quantize --tensor-type-file", tensor_type_file(chosen)
    else:
        what, listing = "each linear layer's format", "".join(f"{layer}={fmt}\n" for layer, fmt in chosen.items())
    return (f'<details class="qs-mix"><summary>per tensor ({len(chosen)})</summary>'
            f'<div>chosen from the sensitivity map of job #{made_with["sensitivity_job"]}; predicted added KLD '
            f'{made_with["predicted_kld"]:.4f}. {what}:</div><pre>{esc(listing)}</pre></details>')


def _delta_cell(r: dict, key: str, fmt: str, css: str = "") -> str:
    return "<td></td>" if r["is_base"] else _scored_cell(r, format(r[key], fmt), css)


@dataclass(frozen=True)
class Column:
    name: str
    tip: str  # what it is, which way is better, how it was measured (the header's hover text)
    cell: Callable[[dict], str]
    shown: bool = True  # in the default choice


_PROTOCOL = "on the comparison's text and protocol (ctx × chunks, the same token ids for every row of a family)"
COLUMNS = (
    Column("Recipe", "the quantization recipe and its options; pinned while the table scrolls", _recipe_cell),
    Column("Compared to", "the base row this row's Δ and KLD are measured against (its family's unquantized model)",
           lambda r: f"<td>{'—' if r['is_base'] else esc(r['base'] or '—')}</td>"),
    Column("Size (MiB)", "the artifact's weight files on disk. Smaller is better",
           lambda r: f"<td>{mib(r['size_bytes'])}</td>"),
    Column("Bits/weight", "weight bytes × 8 / parameters, read back from the artifact. Smaller is better",
           lambda r: f"<td>{r['bpw']:.2f}</td>"),
    Column("PPL", f"perplexity: exp(mean negative log-likelihood of the next token) {_PROTOCOL}. Lower is better; "
           "compare within a family", lambda r: _scored_cell(r, f"{r['ppl']:.4f}", "qs-ppl")),
    Column("vLLM", "the serving check: ✓ the artifact (the studio's own formats: its compressed-tensors export) "
           "loads in vLLM's CPU build, with vLLM's perplexity on the same token ids and its gap to the studio's PPL "
           "(hover: generations and the serve command); ✗ vLLM refused it here, with its reason and what a GPU "
           "needs; — not checked (the vllm_check option)", _serving_cell),
    Column("Δ PPL", "PPL minus the base's PPL. Closer to 0 is better", lambda r: _delta_cell(r, "ppl_delta", "+.4f"),
           shown=False),
    Column("Δ %", "PPL change against the base, in %. Closer to 0 is better; above +5 % shows red",
           lambda r: _delta_cell(r, "ppl_delta_pct", "+.2f")),
    Column("Mean KLD", "mean KL divergence KL(base ‖ this) of the next-token distributions, in nats, over every "
           f"scored token {_PROTOCOL}. 0 = identical; lower is better. The most direct measure of what was lost",
           lambda r: _kld(r, "kld_mean")),
    Column("KLD p99", "99th percentile of the per-token KLD: the worst 1 % of tokens. Lower is better",
           lambda r: _kld(r, "kld_p99")),
    Column("Same top %", "share of tokens where this model's most likely next token is the base's. Higher is "
           "better (100 = same greedy choices)", lambda r: _kld(r, "same_top_pct", 1)),
    Column("RMS Δp %", "root mean square change of the probability given to the correct next token, in "
           "percentage points. Lower is better", lambda r: _kld(r, "rms_dp_pct", 2), shown=False),
    Column("KLD vs checkpoint", "KLD against the original Hugging Face checkpoint run by torch, on its own "
           "token ids: one scale for GGUF and HF rows alike. Lower is better", _checkpoint_cell),
    Column("Prefill tok/s", "prompt processing speed: context tokens / the median perplexity chunk's forward "
           "time on this machine. Higher is better; ⚠ busy: measured while other work took the cores",
           lambda r: _speed_cell(r, f"{r['prefill_tok_s']:.0f}")),
    Column("Decode tok/s", "generation speed: greedy tokens per second over the sample prompts (prefill "
           "excluded). Higher is better", _decode_cell),
    Column("Peak RAM (MiB)", "the evaluation process's peak resident memory with this model loaded (the base "
           "it is compared with not counted). Lower is better",
           _memory_cell),
    Column("Quantize (s)", "wall time of the quantize stage", lambda r: f"<td>{_seconds(r['quant_seconds'])}</td>",
           shown=False),
    Column("Load (s)", "time to load the artifact for evaluation", lambda r: f"<td>{_seconds(r['load_seconds'])}</td>",
           shown=False),
    Column("Measured (UTC)", "when the row was measured (month-day hour:minute)", _measured_cell),
    Column("Protocol", "context length × chunks evaluated, and the tokens scored",
           lambda r: f"<td>{r['n_ctx']} × {r['n_chunks']} ({r['n_tokens_scored']} tokens)</td>", shown=False),
    Column("Tensor types", "how many tensors of each storage type the artifact holds (click to see all)",
           _census_cell),
)
CHOOSABLE = [c.name for c in COLUMNS if c.name != "Recipe"]
DEFAULT_COLUMNS = [c.name for c in COLUMNS if c.shown and c.name != "Recipe"]


def table_html(rows: list[dict], shown: list[str] | None = None) -> str:
    """The rows in the chosen columns (the recipe always first, pinned), in a frame that scrolls sideways."""
    chosen = set(DEFAULT_COLUMNS if shown is None else shown) | {"Recipe"}
    columns = [c for c in COLUMNS if c.name in chosen]
    body = []
    for r in rows:
        cls = "qs-base" if r["is_base"] else ("qs-worse" if (r["ppl_delta_pct"] or 0) > 5 else "qs-ok")
        body.append(f'<tr class="{cls}" data-recipe="{esc(r["recipe"])}" data-id="{r["id"]}">'
                    + "".join(c.cell(r) for c in columns) + "</tr>")
    head = "".join(f'<th title="{esc(c.tip)}"{" class=qs-pin" if c.name == "Recipe" else ""}>{c.name}</th>'
                   for c in columns)
    snippets = "".join(f'<details class="qs-snippet"><summary>Load {esc(r["recipe"])}</summary>'
                       f'<pre>{esc(r["load_snippet"])}</pre></details>' for r in rows if not r["is_base"])
    return (f'<div class="qs-scroll"><table class="qs-table" id="compare-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div><div id="load-snippets">{snippets}</div>')


HOW_TO_READ = """<div class="qs-howto" id="how-to-read"><h4>How to read this</h4><ul>
<li><b>Left plot</b>: quality lost (y, lower is better) against size (x, smaller is better). The dashed line joins
the Pareto frontier: no other result is both smaller and better. A result far above it is a poor trade.</li>
<li><b>Right plot</b>: decode speed (higher is better) against size, on this machine.</li>
<li><b>Mean KLD</b> measures how far the next-token distributions moved from the base (0 = identical); below
~0.01 is hard to tell apart in use, above ~0.1 is noticeable. <b>Δ PPL %</b> says the same more coarsely.</li>
<li>Compare perplexities within a family (llama.cpp and torch tokenize alike texts slightly differently);
<b>KLD vs checkpoint</b> puts both families on one scale. Hover a column's header for its definition.</li>
</ul></div>"""


def plots_html(rows: list[dict], x_name: str, y_name: str) -> str:
    """Quality loss vs size with its Pareto frontier, and decode speed vs size (frontier: faster and smaller)."""
    x_key, y_key = X_AXES.get(x_name, "bpw"), Y_AXES.get(y_name, "ppl_delta_pct")
    usable = [r for r in rows if r.get(y_key) is not None]
    quality = [{"x": r[x_key], "y": r[y_key], "label": _point_label(r), "kind": "base" if r["is_base"] else r["family"],
                "auto": r.get("automatic", False)} for r in usable]
    speed = [{"x": r[x_key], "y": r["decode_tok_s"], "label": r["recipe"],
              "kind": "base" if r["is_base"] else r["family"]} for r in rows
             if not r.get("generations_skipped") and Pending.GENERATIONS not in r.get("pending", ())]
    quality_front = frontier([(p["x"], p["y"]) for p in quality])
    speed_front = frontier([(p["x"], -p["y"]) for p in speed])
    return ('<div class="qs-plots">'
            + scatter_svg(quality, x_name, y_name, quality_front, "pareto-plot") + verdict_html(quality, x_name, y_name)
            + scatter_svg(speed, x_name, "Decode tok/s", speed_front, "speed-plot") + HOW_TO_READ + "</div>")


def verdict_html(points: list[dict], x_name: str, y_name: str) -> str:
    """For each automatic mix on the quality plot: whether a stock recipe beats it (smaller or equal and lower or
    equal on the plot's axes, better on one), or it sits on their frontier, and which it beats."""
    xy = [(p["x"], p["y"]) for p in points]
    stock = [j for j, p in enumerate(points) if not p["auto"] and p["kind"] != "base"]
    lines = []
    for i in (i for i, p in enumerate(points) if p["auto"]):
        beaten_by, beats = standing(xy, i, stock)
        names = ", ".join(points[j]["label"] for j in beats) or "none"
        if beaten_by:
            lines.append(f'<li class="qs-beaten"><b>{esc(points[i]["label"])}</b> is beaten by '
                         f'{esc(", ".join(points[j]["label"] for j in beaten_by))} (no larger and no worse in '
                         f'{esc(y_name)}).</li>')
        else:
            lines.append(f'<li class="qs-frontier-ok"><b>{esc(points[i]["label"])}</b> is on the frontier: no stock '
                         f'recipe here is both as small ({esc(x_name)}) and as good ({esc(y_name)}). It beats: '
                         f'{esc(names)}.</li>')
    return f'<ul class="qs-verdict" id="auto-verdict">{"".join(lines)}</ul>' if lines else ""


def _point_label(r: dict) -> str:
    """A first look (the pass's first chunks, the rest still running) is marked as such: its point will move."""
    return f"≈ {r['recipe']}" if Pending.FULL_PASS in r.get("pending", ()) else r["recipe"]


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


MAX_PICKS = 4


def delete_choices(rows: list[dict]) -> list[tuple[str, int]]:
    """What the Delete panel offers: every result, and a base only once nothing is compared to it."""
    compared = {r["base_key"] for r in rows if not r["is_base"]}
    return [(f"#{r['id']} {r['recipe']}", r["id"]) for r in rows if not (r["is_base"] and r["base_key"] in compared)]


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
    with gr.Accordion("Columns", open=False, elem_id="column-panel"):
        columns = gr.CheckboxGroup(CHOOSABLE, value=DEFAULT_COLUMNS, label="Shown (hover a header for what it "
                                   "measures)", elem_id="column-chooser")
    table = gr.HTML(elem_id="compare-html")
    with gr.Row():
        csv_btn = gr.Button("Export CSV", elem_id="export-csv")
        csv_file = gr.File(label="CSV", elem_id="csv-file", interactive=False)
    with gr.Accordion("Delete a result", open=False, elem_id="delete-panel"):
        with gr.Row():
            victim = gr.Dropdown(label="Result (a base only once no result is compared to it)",
                                 elem_id="delete-pick")
            confirm = gr.Checkbox(False, label="Yes, delete the row and its files in outputs/",
                                  elem_id="delete-confirm")
            delete_btn = gr.Button("Delete", variant="stop", elem_id="delete-btn")
        delete_status = gr.HTML(elem_id="delete-status")
    picks = gr.CheckboxGroup(label=f"Generations: pick 2–{MAX_PICKS} results", elem_id="gen-picks")
    gens = gr.HTML(elem_id="gen-html")
    gr.HTML(REFERENCE_CARD)

    view = [group, x_axis, y_axis, family, query, sort, columns]
    outputs = [group, plots, table, victim, picks, gens]

    def load(current, x_name, y_name, fam, q, sort_by, shown, keep_victim=None, keep_picks=None):
        """Everything drawn from the rows; a redraw keeps the user's picks and the result chosen for deletion
        while those rows are still there."""
        groups = _groups(settings)
        choices = [(group_label(rows), key) for key, rows in groups.items()]
        key = current if current in groups else (choices[-1][1] if choices else None)
        rows = visible_rows(groups.get(key, []), fam, q, sort_by)
        pick_choices = [(r["recipe"], r["id"]) for r in rows]
        ids = [r["id"] for r in rows]
        kept = [i for i in keep_picks or () if i in ids]
        default = kept if keep_picks and kept else ids[:MAX_PICKS]
        shown_rows = [r for r in rows if r["id"] in default]
        victims = delete_choices(groups.get(key, []))
        victim_value = keep_victim if keep_victim in {v for _, v in victims} else None
        return (gr.update(choices=choices, value=key), plots_html(rows, x_name, y_name),
                table_html(rows, shown) if rows else '<p class="qs-empty">No results yet.</p>',
                gr.update(choices=victims, value=victim_value), gr.update(choices=pick_choices, value=default),
                generations_html(settings, shown_rows, groups.get(key, [])))

    def on_pick(key, picked):
        all_rows = _groups(settings).get(key, [])
        picked = list(picked or [])
        note = ""
        if len(picked) > MAX_PICKS:
            picked = picked[:MAX_PICKS]
            note = (f'<p class="qs-caveat" id="pick-limit">At most {MAX_PICKS} results side by side: '
                    "untick one to pick another.</p>")
        chosen = [r for r in all_rows if r["id"] in picked]
        return gr.update(value=picked), note + generations_html(settings, chosen, all_rows)

    def on_columns(key, fam, q, sort_by, shown):
        rows = visible_rows(_groups(settings).get(key, []), fam, q, sort_by)
        return table_html(rows, shown) if rows else '<p class="qs-empty">No results yet.</p>'

    def on_csv(key, fam, q, sort_by):
        rows = visible_rows(_groups(settings).get(key, []), fam, q, sort_by)
        return str(service.export_csv(rows, settings.outputs_dir / "exports"))

    def on_delete(result_id, sure, *current):
        if result_id is None:
            return messages("error", ["pick a result to delete"]), gr.update(), *load(*current)
        if not sure:  # the choice stays: only the box is missing
            return (messages("error", ["tick the confirmation box first: the row and its files will be deleted"]),
                    gr.update(), *load(*current, keep_victim=result_id))
        try:
            removed = service.delete_result(settings, int(result_id))
        except service.DeleteError as exc:
            return messages("error", [str(exc)]), gr.update(), *load(*current, keep_victim=result_id)
        return (messages("ok", [f"deleted result #{result_id}"] + [f"removed {p}" for p in removed]),
                gr.update(value=False), *load(*current))

    seen = gr.State(None)

    def on_tick(known, picked, chosen_victim, *current):
        """Rows stored, deleted or filled in since the table was drawn: draw it again, the user's choices kept
        (else leave it alone)."""
        now = service.results_version(settings)
        if now == known:
            return known, *(gr.update() for _ in outputs)
        return now, *load(*current, keep_victim=chosen_victim, keep_picks=picked)

    gr.Timer(3.0).tick(on_tick, [seen, picks, victim, *view], [seen, *outputs], show_progress="hidden")
    refresh_btn.click(load, view, outputs)
    for control in (group, x_axis, y_axis, family, sort):
        control.input(load, view, outputs)
    query.submit(load, view, outputs)
    columns.input(on_columns, [group, family, query, sort, columns], [table], show_progress="hidden")
    picks.input(on_pick, [group, picks], [picks, gens])
    csv_btn.click(on_csv, [group, family, query, sort], csv_file)
    delete_btn.click(on_delete, [victim, confirm, *view], [delete_status, confirm, *outputs])
    return load, view, outputs
