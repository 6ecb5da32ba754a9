"""The size/quality frontier: results no other result beats on both size and loss."""
from __future__ import annotations


def frontier(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the Pareto-optimal points (lower x and lower y are better), sorted by x.

    A point is on the frontier when no other point is at least as good on both axes and strictly
    better on one.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    best_y = float("inf")
    out = []
    for i in order:
        if points[i][1] < best_y:
            out.append(i)
            best_y = points[i][1]
    return out
