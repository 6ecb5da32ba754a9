"""Choose a storage type per tensor group for a budget: the allocation behind automatic mixes (issue 18).

Each group (a layer's attention or MLP projections, the embeddings, the output matrix) can be stored at any of
several types; each choice has a size in bytes and a cost, the divergence from the base it adds when that group
alone is stored so (the sensitivity map). Costs add up across groups to first order, so the best mix is a
multiple-choice knapsack: the least total cost within a size, or the least size within a total cost. Solved
exactly by dynamic programming over the size in units of `resolution` bytes (each choice's size rounded up, so a
mix found never exceeds its budget), one numpy pass per choice of each group.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class AllocationError(ValueError):
    """No mix meets the budget, and what the nearest one would need."""


@dataclass(frozen=True)
class Choice:
    type_name: str
    size_bytes: int
    cost: float  # the divergence this group adds at this type (0 at the highest)


@dataclass(frozen=True)
class Group:
    name: str  # what the overrides match, e.g. "blk.3.ffn" (studio.recipes name it; this module only counts)
    choices: tuple[Choice, ...]


@dataclass(frozen=True)
class Mix:
    types: dict[str, str]  # group name -> type chosen
    size_bytes: int
    cost: float

    def census(self) -> str:
        """How many groups took each type, the commonest first: "Q4_K×120, Q6_K×60"."""
        counts: dict[str, int] = {}
        for t in self.types.values():
            counts[t] = counts.get(t, 0) + 1
        return ", ".join(f"{t}×{n}" for t, n in sorted(counts.items(), key=lambda kv: -kv[1]))


# The size grid of `for_budget`: this many steps over the largest mix (a few KB on SmolLM2, ~0.4 MB at 8 B), so
# solving takes well under a second at any size; a mix is never over its budget, and what the grid's rounding
# leaves is spent in exact bytes (`_spend_slack`).
RESOLUTION_STEPS = 20_000


def for_budget(groups: list[Group], *, size_bytes: int | None = None, max_cost: float | None = None) -> Mix:
    """The automatic mixes' one call: the least cost within a size, or else the least size within a cost."""
    largest = sum(max(c.size_bytes for c in g.choices) for g in groups)
    resolution = max(4096, largest // RESOLUTION_STEPS)
    if size_bytes is not None:
        return best_within_size(groups, size_bytes, resolution)
    return smallest_within_cost(groups, max_cost, resolution)


def smallest_size_bytes(groups: list[Group]) -> int:
    return sum(min(c.size_bytes for c in g.choices) for g in groups)


def best_within_size(groups: list[Group], size_bytes: int, resolution: int = 1 << 16) -> Mix:
    """The mix of least total cost whose size is at most `size_bytes`."""
    units = size_bytes // resolution
    table, picks = _solve(groups, units, resolution)
    if not np.isfinite(table[units]):
        raise AllocationError(f"no mix fits {size_bytes / 2**20:.1f} MiB: the smallest is "
                              f"{smallest_size_bytes(groups) / 2**20:.1f} MiB")
    return _spend_slack(groups, _mix(groups, picks, int(np.argmin(table[:units + 1])), resolution), size_bytes)


def _spend_slack(groups: list[Group], mix: Mix, size_bytes: int) -> Mix:
    """The table rounds every choice's size up, so its mix can leave up to a unit per group unspent: a mix that
    fits exactly (a stock preset's own types, at that preset's size) may not fit the rounded grid. Spend what is
    left in exact bytes: take the upgrade that removes the most cost per byte while one fits."""
    chosen = {g.name: next(c for c in g.choices if c.type_name == mix.types[g.name]) for g in groups}
    size = mix.size_bytes
    while True:
        upgrades = [((now.cost - c.cost) / max(c.size_bytes - now.size_bytes, 1), g.name, c) for g in groups
                    for now in (chosen[g.name],) for c in g.choices
                    if c.cost < now.cost and size + c.size_bytes - now.size_bytes <= size_bytes]
        if not upgrades:
            break
        _, name, better = max(upgrades, key=lambda u: u[0])
        size += better.size_bytes - chosen[name].size_bytes
        chosen[name] = better
    return Mix({name: c.type_name for name, c in chosen.items()}, size, sum(c.cost for c in chosen.values()))


def smallest_within_cost(groups: list[Group], max_cost: float, resolution: int = 1 << 16) -> Mix:
    """The smallest mix whose total cost is at most `max_cost`."""
    units = -(-sum(max(c.size_bytes for c in g.choices) for g in groups) // resolution) + len(groups)
    table, picks = _solve(groups, units, resolution)
    within = np.flatnonzero(table <= max_cost)
    if within.size == 0:
        raise AllocationError(f"no mix keeps the cost within {max_cost:g}: the least is {np.nanmin(table):g}")
    return _mix(groups, picks, int(within[0]), resolution)


def _solve(groups: list[Group], units: int, resolution: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """least[u]: the least total cost of the groups so far within u units; picks[g][u]: the choice group g took."""
    least = np.zeros(units + 1)
    picks = []
    for group in groups:
        best = np.full(units + 1, np.inf)
        pick = np.zeros(units + 1, dtype=np.int16)
        for i, choice in enumerate(group.choices):
            width = -(-choice.size_bytes // resolution)
            if width > units:
                continue
            candidate = np.full(units + 1, np.inf)
            candidate[width:] = least[:units + 1 - width] + choice.cost
            better = candidate < best
            best[better], pick[better] = candidate[better], i
        least = np.minimum.accumulate(best)  # within u units: the best at any size up to u
        picks.append((pick, best))
    return least, picks


def _mix(groups: list[Group], picks: list, units: int, resolution: int) -> Mix:
    """Walk the table back from the last group: the choice each took at the units left to it."""
    types, size, cost = {}, 0, 0.0
    for group, (pick, best) in zip(reversed(groups), reversed(picks)):
        at = int(np.argmin(best[:units + 1]))  # where this group's best within `units` was reached
        choice = group.choices[pick[at]]
        types[group.name] = choice.type_name
        size, cost = size + choice.size_bytes, cost + choice.cost
        units = at - -(-choice.size_bytes // resolution)
    return Mix(dict(reversed(types.items())), size, cost)
