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


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """a is at least as good as b on both axes and strictly better on one (lower is better)."""
    return a[0] <= b[0] and a[1] <= b[1] and (a[0] < b[0] or a[1] < b[1])


def standing(points: list[tuple[float, float]], candidate: int, others: list[int]) -> tuple[list[int], list[int]]:
    """Where one point stands among `others`: those that beat it (on the frontier when there are none), and those
    it beats."""
    mine = points[candidate]
    beaten_by = [j for j in others if dominates(points[j], mine)]
    beats = [j for j in others if dominates(mine, points[j])]
    return beaten_by, beats
