"""The Compare tab's domain pieces: Pareto frontier, word diffs, filtering and sorting, CSV, delete."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from components.compare import visible_rows
from studio.pareto import frontier
from studio.textdiff import word_diff


def test_frontier_keeps_only_undominated_points():
    points = [(4, 10), (8, 2), (5, 12), (6, 1), (2, 30), (6, 1)]
    assert frontier(points) == [4, 0, 3]  # (5,12) and (8,2) are beaten; the duplicate (6,1) adds nothing
    assert frontier([]) == []


def test_word_diff_rejoins_both_texts():
    base, other = "The capital of France is Paris. It is big.", "The capital of France is Lyon, famous. It is big."
    segments = word_diff(base, other)
    assert "".join(t for k, t in segments if k != "removed") == other
    assert "".join(t for k, t in segments if k != "added") == base
    assert ("removed", "Paris. ") in segments and ("added", "Lyon, famous. ") in segments
    assert word_diff("same text", "same text") == [("same", "same text")]


def row(rid, recipe, family, size, is_base=False, kld=0.1, decode=10.0):
    return {"id": rid, "recipe": recipe, "family": family, "size_bytes": size, "bpw": size / 10, "ppl": 10.0,
            "ppl_delta_pct": 0.0 if is_base else size / 100, "kld_mean": kld, "decode_tok_s": decode,
            "is_base": is_base}


def test_filter_and_sort_keep_bases_first():
    rows = [row(1, "gguf:base (F16)", "gguf", 500, True), row(2, "gguf:Q8_0", "gguf", 300, kld=0.01),
            row(3, "bnb-nf4", "hf", 200, kld=0.2, decode=30), row(4, "hf:base (checkpoint)", "hf", 510, True),
            row(5, "gguf:Q2_K", "gguf", 100, kld=0.5, decode=20)]
    assert [r["id"] for r in visible_rows(rows, "all", "", "Size")] == [1, 4, 5, 3, 2]
    assert [r["id"] for r in visible_rows(rows, "all", "", "Mean KLD")] == [1, 4, 2, 3, 5]
    assert [r["id"] for r in visible_rows(rows, "all", "", "Decode tok/s")] == [1, 4, 3, 5, 2]
    assert [r["id"] for r in visible_rows(rows, "gguf", "q", "Size")] == [1, 5, 2]
    assert [r["id"] for r in visible_rows(rows, "hf", "", "Size")] == [4, 3]


def test_csv_export_and_delete_on_real_results(workspace_env, settings, tiny, eval_text, tmp_path):
    import json

    from studio import service
    from tests.conftest import run_cli
    proc = run_cli(["quantize", "--model", str(tiny), "--recipe", "gguf:Q8_0", "--recipe", "gguf:Q4_0",
                    "--eval-text", str(eval_text), "--ctx", "128", "--max-chunks", "2", "--max-new-tokens", "4",
                    "--wait", "--json"], workspace_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = service.result_rows(settings, include_base=True)
    assert len(rows) == 3
    path = service.export_csv(rows, tmp_path)
    with open(path, newline="", encoding="utf-8") as f:
        exported = list(csv.DictReader(f))
    assert [float(r["ppl"]) for r in exported] == [r["ppl"] for r in rows]
    # Two sessions exporting in the same second: a file each, each with its own rows.
    first, second = service.export_csv(rows[:1], tmp_path), service.export_csv(rows[1:], tmp_path)
    assert len({path, first, second}) == 3
    assert [len(list(csv.DictReader(open(p, encoding="utf-8")))) for p in (first, second)] == [1, len(rows) - 1]

    base = next(r for r in rows if r["is_base"])
    with pytest.raises(service.DeleteError, match="is the base of 2 other result"):
        service.delete_result(settings, base["id"])
    with pytest.raises(service.DeleteError, match="does not exist"):
        service.delete_result(settings, 999_999)
    q4 = next(r for r in json.loads(proc.stdout) if r["recipe"] == "gguf:Q4_0")
    assert service.delete_result(settings, q4["id"]) == [q4["artifact"]]
    assert not Path(q4["artifact"]).exists()
    assert q4["id"] not in {r["id"] for r in service.result_rows(settings, include_base=True)}
    assert not service.generations(settings, [q4["id"]]).get(q4["id"])
    assert Path(base["artifact"]).exists()  # the shared F16 cache is never deleted


@pytest.mark.parametrize("lo,hi", [(0, 0.65), (0, 11.2), (5.14, 16), (-0.07, 67), (0, 1e-5), (3, 3), (2.2, 2.21)])
def test_plot_axes_hold_every_point(lo, hi):
    import re

    from components.plots import H, PAD_B, PAD_L, PAD_R, PAD_T, W, scatter_svg
    points = [{"x": lo, "y": lo, "label": "low", "kind": "result"},
              {"x": hi, "y": hi, "label": "high", "kind": "result"}]
    svg = scatter_svg(points, "x", "y", [0, 1], "plot")
    for cx, cy in re.findall(r'<circle cx="([-\d.]+)" cy="([-\d.]+)"', svg):
        assert PAD_L - 0.1 <= float(cx) <= W - PAD_R + 0.1 and PAD_T - 0.1 <= float(cy) <= H - PAD_B + 0.1, svg


def test_a_row_without_generations_says_why_instead_of_a_zero_speed():
    from components.compare import _decode_cell, plots_html
    reason = "skipped: the model does not fit in RAM as float32 and is streamed weight by weight"
    streamed = {**row(6, "int8-rtn", "hf", 800, decode=0.0), "generations_skipped": reason, "x": 1}
    assert _decode_cell(streamed) == f'<td title="generations {reason}">n/a</td>'
    assert _decode_cell(row(7, "fp8", "hf", 800, decode=12.345)) == "<td>12.3</td>"
    speed_plot = plots_html([streamed, row(7, "fp8", "hf", 800)], "Bits/weight", "Mean KLD").split('id="speed-plot"')[1]
    assert "int8-rtn" not in speed_plot


def test_a_first_look_is_marked_until_the_whole_pass_replaces_it():
    """A row shown from its pass's first chunks says so on every scored figure (≈, and how many chunks), leaves the
    speed plot until its generations are in, and is labelled on the quality plot; a whole row carries no mark."""
    from components.compare import COLUMNS, plots_html
    from studio.storage import Pending
    note = "pending: perplexity and KLD over every chunk (shown: the first chunks'), being measured by job #3"
    look = {**row(8, "gguf:Q4_K_M", "gguf", 300), "ppl_delta": 1.0, "n_chunks": 8, "pending_note": note,
            "pending": [Pending.FULL_PASS, Pending.GENERATIONS], "kld_p99": 0.5, "same_top_pct": 90.0}
    cells = {c.name: c.cell(look) for c in COLUMNS if c.name in ("PPL", "Δ %", "Mean KLD", "KLD p99", "Same top %")}
    assert all("≈ " in html and "from the first 8 chunks so far" in html for html in cells.values()), cells
    assert 'class="qs-ppl qs-first-look"' in cells["PPL"]
    whole = {**look, "pending": []}
    assert not any("≈" in c.cell(whole) for c in COLUMNS if c.name in cells)
    plots = plots_html([look, row(9, "gguf:Q8_0", "gguf", 500)], "Bits/weight", "Mean KLD")
    quality, speed = plots.split('id="speed-plot"')
    assert "≈ gguf:Q4_K_M" in quality and "Q4_K_M" not in speed


def test_plot_labels_never_overlap_and_stay_inside():
    """Crowded points (a dozen results within a bit of each other): every label placed is clear of the others,
    of every point and of the legend, inside the plot; a label that has no room is left to the hover text."""
    import random

    from components.plots import CHAR_W, H, LABEL_H, PAD_B, PAD_L, PAD_T, W, place_labels
    rng = random.Random(4)
    labels = [f"gguf:Q{rng.randint(2, 8)}_K_{'SML'[i % 3]}+imatrix" for i in range(12)]
    centres = [(rng.uniform(PAD_L + 20, PAD_L + 300), rng.uniform(PAD_T + 60, PAD_T + 240)) for _ in labels]
    placed = place_labels(labels, centres, first={0, 3})
    # Two points on one spot: only one label fits, and a frontier point's goes first.
    crowded = place_labels(["a-long-label-name", "b-long-label-name"], [(PAD_L + 200, 150), (PAD_L + 200, 150)],
                           first={1})
    assert crowded[1] is not None
    boxes = []
    for (label, spot) in zip(labels, placed):
        if spot is None:
            continue
        x, y, anchor = spot
        width = CHAR_W * len(label)
        left = {"start": x, "end": x - width, "middle": x - width / 2}[anchor]
        boxes.append((left, y - LABEL_H + 2, left + width, y + 2))
    assert len(boxes) >= 6
    for i, a in enumerate(boxes):
        assert PAD_L <= a[0] and a[2] <= W and PAD_T <= a[1] and a[3] <= H - PAD_B
        for b in boxes[i + 1:] + [(cx - 5, cy - 5, cx + 5, cy + 5) for cx, cy in centres]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)


def test_the_delete_panel_never_offers_a_base_that_rows_are_compared_to():
    from components.compare import delete_choices
    rows = [row(1, "gguf:base (F16)", "gguf", 300, is_base=True), row(2, "gguf:Q8_0", "gguf", 150),
            row(3, "hf:base (checkpoint)", "hf", 300, is_base=True)]
    rows[0]["base_key"] = rows[1]["base_key"] = "gguf-key"
    rows[2]["base_key"] = "hf-key"  # nothing compared to it: it may go
    assert [rid for _, rid in delete_choices(rows)] == [2, 3]


def test_the_job_log_folds_tool_dumps_and_keeps_a_progress_bar_s_last_state():
    from datetime import datetime

    from components.jobs_tab import fold_log
    at = datetime(2026, 12, 3, 5, 0, 7)
    kv = [(at, f"llama_model_loader: - kv {i:3d}: general.key{i} = {i}") for i in range(30)]
    lines = [(at, "== stage: quantize"), *kv, (at, "[ 10/272] 10%\r[ 90/272] 33%\r[272/272] 100%"),
             (at, "done")]
    out = fold_log(lines)
    assert out.count("<details") == 1 and "(30 lines of llama_model_loader)" in out
    assert "[272/272] 100%" in out and "10%" not in out
    assert out.count('<span class="qs-at">05:00:07</span>') == len(lines) + 1  # the fold's summary repeats one
    assert fold_log([(at, "a: 1"), (at, "a: 2")]).count("<details") == 0  # short runs stay as they are
    tensors = fold_log([(at, f"[{i:4d}/ 272] blk.{i}.ffn_up.weight - f16, converting to q4_K") for i in range(1, 273)])
    assert tensors.count("<details") == 1 and "(272 lines of [n/272])" in tensors


def test_the_results_version_changes_when_a_row_comes_goes_or_is_filled_in(settings):
    """What Compare polls before drawing again: counted in SQL, whatever the number of rows."""
    from studio import service
    from studio.storage import Pending, Result, session

    def add(pending: list[str]) -> int:
        with session(settings.db_url) as s:
            row = Result(model="m", model_key="k", recipe="r", family="gguf", base_key=f"b{len(pending)}", artifact="a",
                         size_bytes=1, n_params=1, bpw=8.0, ppl=1.0, nll_sum=1.0, n_ctx=512, n_chunks=1,
                         n_tokens_scored=1, prefill_tok_s=1.0, decode_tok_s=1.0, peak_rss_bytes=1, eval_text_sha="t",
                         pending=pending)
            s.add(row)
            s.commit()
            return row.id

    seen = [service.results_version(settings)]
    first = add([Pending.FULL_PASS, Pending.GENERATIONS])
    seen.append(service.results_version(settings))
    with session(settings.db_url) as s:  # the whole pass fills it in
        row = s.get(Result, first)
        row.pending = [Pending.GENERATIONS]
        s.add(row)
        s.commit()
    seen.append(service.results_version(settings))
    add([])
    seen.append(service.results_version(settings))
    service.delete_result(settings, first)
    seen.append(service.results_version(settings))
    assert len(set(seen)) == len(seen), seen
    assert seen[0] == (0, 0, 0, 0) and seen[3][0] == 2 and seen[4][0] == 1


def test_an_automatic_mix_is_ringed_and_told_where_it_stands_among_the_stock_recipes():
    """The verdict is the dominance relation on the plot's axes, for a mix on the frontier and one beaten (the
    expected names read by hand from the points: SmolLM2's measured figures, rounded)."""
    import re

    from components.compare import plots_html
    stock = [row(1, "gguf:base (F16)", "gguf", 1600, True, kld=0.0), row(2, "gguf:Q4_K_M", "gguf", 620, kld=0.054),
             row(3, "gguf:Q3_K_M", "gguf", 546, kld=0.134), row(4, "gguf:Q3_K_S", "gguf", 514, kld=0.406),
             row(5, "gguf:Q6_K", "gguf", 820, kld=0.01)]
    good = {**row(6, "gguf:auto@5.1bpw", "gguf", 511, kld=0.09), "automatic": True}
    poor = {**row(7, "gguf:auto@6.2bpw", "gguf", 630, kld=0.06), "automatic": True}
    html = plots_html(stock + [good, poor], "Bits/weight", "Mean KLD")
    quality = html.split('id="speed-plot"')[0]
    assert len(re.findall(r'<g class="[^"]*" data-recipe="gguf:auto@[^"]*"><circle class="qs-auto-ring"', quality)) == 2
    assert "automatic mix (ringed)" in quality
    verdict = re.search(r'<ul class="qs-verdict" id="auto-verdict">(.*?)</ul>', html).group(1)
    on, beaten = verdict.split("</li>")[:2]
    assert "gguf:auto@5.1bpw</b> is on the frontier" in on and "It beats: gguf:Q3_K_M, gguf:Q3_K_S." in on
    assert "gguf:auto@6.2bpw</b> is beaten by gguf:Q4_K_M" in beaten and "Q6_K" not in beaten
    assert "auto-verdict" not in plots_html(stock, "Bits/weight", "Mean KLD")  # no automatic mix, nothing to say
