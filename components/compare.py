"""Compare tab: results beside their unquantized base, on the same tokens; generations side by side."""
from __future__ import annotations

import gradio as gr

from components.formatting import esc, mib
from studio import service
from studio.config import Settings

COLUMNS = ("Recipe", "Compared to", "Size (MiB)", "Bits/weight", "PPL", "Δ PPL", "Δ %", "Mean KLD", "KLD p99", "Same top %",
           "RMS Δp %", "Prefill tok/s", "Decode tok/s",
           "Peak RAM (MiB)", "Protocol", "Tensor types")


def comparison_key(base_key: str) -> str:
    """model, text and protocol, without the family: GGUF and HF rows of one model sit side by side,
    each against its own base (llama.cpp F16 or the checkpoint in torch)."""
    return ":".join(base_key.split(":")[1:5])


def _groups(settings: Settings) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for row in service.result_rows(settings, include_base=True):
        groups.setdefault(comparison_key(row["base_key"]), []).append(row)
    return groups


def group_label(rows: list[dict]) -> str:
    r = rows[0]
    text_sha = r["base_key"].split(":")[2]
    families = "+".join(sorted({row["family"] for row in rows}))
    return (f"{r['model'].rsplit('/', 1)[-1]} · {families} · text {text_sha[:8]} · ctx {r['n_ctx']} · "
            f"{r['n_chunks']} chunks")


def _divergence_cells(r: dict) -> str:
    if r["is_base"]:
        return "<td></td>" * 4
    if r["kld_mean"] is None:
        return "<td>—</td>" * 4
    return (f'<td class="qs-kld">{r["kld_mean"]:.4f}</td><td>{r["kld_p99"]:.4f}</td>'
            f'<td>{r["same_top_pct"]:.1f}</td><td>{r["rms_dp_pct"]:.2f}</td>')


def table_html(rows: list[dict]) -> str:
    body = []
    for r in sorted(rows, key=lambda r: (not r["is_base"], r["size_bytes"])):
        emulated = (' <span class="qs-flag" title="the format is stored exactly; its arithmetic is imitated in '
                    'higher precision on this device">emulated</span>' if r.get("emulated") else "")
        delta = "" if r["is_base"] else f"{r['ppl_delta']:+.4f}"
        pct = "" if r["is_base"] else f"{r['ppl_delta_pct']:+.2f}"
        cls = "qs-base" if r["is_base"] else ("qs-worse" if (r["ppl_delta_pct"] or 0) > 5 else "qs-ok")
        census = ", ".join(f"{k}×{v}" for k, v in sorted(r["tensor_types"].items(), key=lambda kv: -kv[1]))
        flag = (f' <span class="qs-flag" title="rows not a multiple of 256 cannot use k-quant blocks; '
                f'llama.cpp used a legacy type instead">⚠ {r["fallback_tensors"]} fallback</span>'
                if r["fallback_tensors"] else "")
        body.append(
            f'<tr class="{cls}" data-recipe="{esc(r["recipe"])}"><td>{esc(r["recipe"])}{flag}{emulated}</td>'
            f"<td>{esc(r['base'] or '—') if not r['is_base'] else '—'}</td><td>{mib(r['size_bytes'])}</td><td>{r['bpw']:.2f}</td><td class=\"qs-ppl\">{r['ppl']:.4f}</td>"
            f"<td>{delta}</td><td>{pct}</td>{_divergence_cells(r)}<td>{r['prefill_tok_s']:.0f}</td><td>{r['decode_tok_s']:.1f}</td>"
            f"<td>{mib(r['peak_rss_bytes'])}</td><td>ctx {r['n_ctx']}, {r['n_chunks']} chunks, "
            f"{r['n_tokens_scored']} tokens</td><td class=\"qs-census\">{esc(census)}</td></tr>")
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    snippets = "".join(f'<details class="qs-snippet"><summary>Load {esc(r["recipe"])}</summary>'
                       f'<pre>{esc(r["load_snippet"])}</pre></details>' for r in rows if not r["is_base"])
    return (f'<table class="qs-table" id="compare-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table><div id="load-snippets">{snippets}</div>')


def generations_html(settings: Settings, rows: list[dict]) -> str:
    if not rows:
        return '<p class="qs-empty">Pick results above to see their generations side by side.</p>'
    gens = service.generations(settings, [r["id"] for r in rows])
    # Matched by prompt text: results of jobs with other prompts must not pair with the wrong answer.
    by_prompt = {rid: {g.prompt: g.text for g in gs} for rid, gs in gens.items()}
    prompts = list(dict.fromkeys(g.prompt for gs in gens.values() for g in gs))
    blocks = []
    for i, prompt in enumerate(prompts):
        cells = "".join(
            f'<div class="qs-gen"><div class="qs-gen-head">{esc(r["recipe"])}</div>'
            f'<pre>{esc(by_prompt[r["id"]].get(prompt, "(not asked this prompt)"))}</pre></div>' for r in rows)
        blocks.append(f'<div class="qs-prompt"><div class="qs-prompt-text">Prompt {i + 1}: {esc(prompt)}</div>'
                      f'<div class="qs-gens">{cells}</div></div>')
    return f'<div id="generations">{"".join(blocks)}</div>'


def build(settings: Settings) -> None:
    with gr.Row():
        group = gr.Dropdown(label="Model · text · protocol", elem_id="compare-group", scale=4)
        refresh_btn = gr.Button("Refresh", elem_id="compare-refresh", scale=1)
    table = gr.HTML(elem_id="compare-html")
    picks = gr.CheckboxGroup(label="Generations: pick results to compare", elem_id="gen-picks")
    gens = gr.HTML(elem_id="gen-html")

    def load(current):
        groups = _groups(settings)
        choices = [(group_label(rows), key) for key, rows in groups.items()]
        key = current if current in groups else (choices[-1][1] if choices else None)
        rows = groups.get(key, [])
        pick_choices = [(r["recipe"], r["id"]) for r in rows]
        default = [r["id"] for r in rows][:4]
        return (gr.update(choices=choices, value=key), table_html(rows) if rows else
                '<p class="qs-empty">No results yet.</p>', gr.update(choices=pick_choices, value=default),
                generations_html(settings, [r for r in rows if r["id"] in default]))

    def on_pick(key, picked):
        rows = [r for r in _groups(settings).get(key, []) if r["id"] in (picked or [])]
        return generations_html(settings, rows)

    refresh_btn.click(load, [group], [group, table, picks, gens])
    group.input(load, [group], [group, table, picks, gens])
    picks.input(on_pick, [group, picks], [gens])
    return load, [group], [group, table, picks, gens]
