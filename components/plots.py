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
    for i, p in enumerate(points):
        cls = f"qs-point qs-{p['kind']}" + (" qs-on-frontier" if i in on_frontier else "")
        parts.append(f'<g class="{cls}" data-recipe="{esc(p["label"])}"><circle cx="{sx(p["x"]):.1f}" '
                     f'cy="{sy(p["y"]):.1f}" r="5"><title>{esc(p["label"])}: {x_label} {p["x"]:.3g}, '
                     f'{y_label} {p["y"]:.4g}</title></circle><text class="qs-point-label" x="{sx(p["x"]) + 7:.1f}" '
                     f'y="{sy(p["y"]) - 6:.1f}">{esc(p["label"])}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
