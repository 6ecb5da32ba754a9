"""Scatter plots as inline SVG: no plotting package, hover text from <title>, frontier drawn."""
from __future__ import annotations

import math

from components.formatting import esc

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 560, 340, 64, 24, 20, 48


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values from at or below lo to at or above hi, about n steps: every point lands
    inside the axes."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if raw <= step * m * (1 + 1e-9))
    first = math.floor(lo / step + 1e-9) * step
    count = math.ceil((hi - first) / step - 1e-9)
    return [round(first + i * step, 12) for i in range(count + 1)]


def scatter_svg(points: list[dict], x_label: str, y_label: str, frontier: list[int], elem_id: str) -> str:
    """points: {"x", "y", "label", "kind"}; frontier: indices joined by a line, left to right."""
    if not points:
        return f'<p class="qs-empty" id="{elem_id}">No results to plot.</p>'
    xs, ys = [p["x"] for p in points], [p["y"] for p in points]
    x_ticks, y_ticks = _ticks(min(xs), max(xs)), _ticks(min(min(ys), 0), max(ys))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    def sx(v):
        return PAD_L + (v - x0) / ((x1 - x0) or 1) * (W - PAD_L - PAD_R)

    def sy(v):
        return H - PAD_B - (v - y0) / ((y1 - y0) or 1) * (H - PAD_T - PAD_B)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="{elem_id}" class="qs-plot" viewBox="0 0 {W} {H}" '
             f'width="{W}" height="{H}" role="img" aria-label="{esc(y_label)} against {esc(x_label)}">']
    for t in x_ticks:
        parts.append(f'<line class="qs-grid" x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{PAD_T}" y2="{H - PAD_B}"/>'
                     f'<text class="qs-tick" x="{sx(t):.1f}" y="{H - PAD_B + 16}" text-anchor="middle">{t:g}</text>')
    for t in y_ticks:
        parts.append(f'<line class="qs-grid" x1="{PAD_L}" x2="{W - PAD_R}" y1="{sy(t):.1f}" y2="{sy(t):.1f}"/>'
                     f'<text class="qs-tick" x="{PAD_L - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    parts.append(f'<text class="qs-axis" x="{(W + PAD_L) / 2}" y="{H - 8}" text-anchor="middle">{esc(x_label)}</text>'
                 f'<text class="qs-axis" transform="translate(14 {(H - PAD_B) / 2}) rotate(-90)" '
                 f'text-anchor="middle">{esc(y_label)}</text>')
    if len(frontier) > 1:
        path = " ".join(f"{sx(points[i]['x']):.1f},{sy(points[i]['y']):.1f}" for i in frontier)
        parts.append(f'<polyline class="qs-frontier" points="{path}"/>')
    on_frontier = set(frontier)
    centres = [(sx(p["x"]), sy(p["y"])) for p in points]
    kinds = [kind for kind in LEGEND if any(p["kind"] == kind for p in points)]
    rings = any(p.get("auto") for p in points)
    placed = place_labels([p["label"] for p in points], centres, on_frontier, len(kinds) + rings)
    for i, p in enumerate(points):
        cls = f"qs-point qs-{p['kind']}" + (" qs-on-frontier" if i in on_frontier else "")
        cx, cy = centres[i]
        label = ""
        if placed[i] is not None:
            lx, ly, anchor = placed[i]
            label = (f'<text class="qs-point-label" x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}">'
                     f'{esc(p["label"])}</text>')
        ring = f'<circle class="qs-auto-ring" cx="{cx:.1f}" cy="{cy:.1f}" r="9"/>' if p.get("auto") else ""
        parts.append(f'<g class="{cls}" data-recipe="{esc(p["label"])}">{ring}<circle cx="{cx:.1f}" cy="{cy:.1f}" '
                     f'r="5"><title>{esc(p["label"])}: {x_label} {p["x"]:.3g}, {y_label} {p["y"]:.4g}</title></circle>'
                     f"{label}</g>")
    parts.append(_legend(kinds, rings))
    parts.append("</svg>")
    return "".join(parts)


# What the point colours mean (static/studio.css colours them by these classes).
LEGEND = {"base": "base (unquantized)", "gguf": "GGUF (llama.cpp)", "hf": "Hugging Face format (torch)"}
CHAR_W, LABEL_H = 5.6, 11  # the labels' 10 px font: width a character, height a line


AUTO_LEGEND = "automatic mix (ringed)"


def _legend(kinds: list[str], rings: bool) -> str:
    entries = [(f"qs-{kind}", "", LEGEND[kind]) for kind in kinds] + ([("qs-auto", '<circle class="qs-auto-ring" '
                                                                        'r="7"/>', AUTO_LEGEND)] if rings else [])
    rows = "".join(f'<g class="qs-legend-item {cls}" transform="translate({W - PAD_R - 150} {PAD_T + 8 + 15 * i})">'
                   f'{ring}<circle r="4"/><text class="qs-legend-text" x="10" y="4">{esc(text)}</text></g>'
                   for i, (cls, ring, text) in enumerate(entries))
    return (f'<g class="qs-plot-legend"><rect x="{W - PAD_R - 160}" y="{PAD_T}" width="158" '
            f'height="{_legend_height(len(entries))}" rx="3"/>{rows}</g>')


def _legend_height(rows: int) -> int:
    return 15 * rows + 2


def place_labels(labels: list[str], centres: list[tuple[float, float]], first: set[int], legend_rows: int = 3
                 ) -> list[tuple[float, float, str] | None]:
    """Where each point's label goes: right, left, above or below it, the first spot that stays inside the plot
    and clear of every point, the legend and the labels placed before it (frontier points first); None when
    there is no such spot: that point's name is in its hover text."""
    legend = (W - PAD_R - 160, PAD_T, W - PAD_R - 2, PAD_T + _legend_height(legend_rows))
    taken = [legend] + [(x - 5, y - 5, x + 5, y + 5) for x, y in centres]
    out: list[tuple[float, float, str] | None] = [None] * len(labels)
    for i in sorted(range(len(labels)), key=lambda i: (i not in first, i)):
        width, (x, y) = CHAR_W * len(labels[i]), centres[i]
        for lx, ly, anchor in ((x + 8, y + 4, "start"), (x - 8, y + 4, "end"), (x, y - 9, "middle"),
                               (x, y + 17, "middle")):
            left = {"start": lx, "end": lx - width, "middle": lx - width / 2}[anchor]
            box = (left, ly - LABEL_H + 2, left + width, ly + 2)
            inside = PAD_L <= box[0] and box[2] <= W - 2 and PAD_T <= box[1] and box[3] <= H - PAD_B
            if inside and not any(_overlap(box, other) for other in taken):
                out[i] = (lx, ly, anchor)
                taken.append(box)
                break
    return out


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
