"""The allocation behind automatic mixes, against every mix enumerated on small random instances."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from studio.allocation import AllocationError, Choice, Group, best_within_size, smallest_within_cost

UNIT = 1 << 16


def _instance(seed: int, n_groups: int = 5) -> list[Group]:
    """Groups whose cheaper types cost more divergence, as quantization types do (sizes in whole units, so the
    solver's rounding is exact and it must find the true optimum)."""
    rng = np.random.default_rng(seed)
    groups = []
    for g in range(n_groups):
        sizes = sorted(rng.choice(np.arange(1, 40), size=3, replace=False) * UNIT, reverse=True)
        costs = np.cumsum(rng.uniform(0, 0.01, size=3)) - rng.uniform(0, 0.01)
        groups.append(Group(f"blk.{g}", tuple(Choice(t, int(s), max(float(c), 0.0))
                                              for t, s, c in zip(("Q8_0", "Q4_K", "Q2_K"), sizes, costs))))
    return groups


def _every_mix(groups):
    for combo in itertools.product(*(g.choices for g in groups)):
        yield sum(c.size_bytes for c in combo), sum(c.cost for c in combo), combo


@pytest.mark.parametrize("seed", range(12))
def test_the_best_mix_within_a_size_is_the_best_of_every_mix(seed):
    groups = _instance(seed)
    sizes = sorted({size for size, _, _ in _every_mix(groups)})
    for budget in (sizes[0], sizes[len(sizes) // 3], sizes[len(sizes) // 2] + UNIT // 2, sizes[-1]):
        mix = best_within_size(groups, budget)
        best = min(cost for size, cost, _ in _every_mix(groups) if size <= budget)
        assert mix.size_bytes <= budget and mix.cost == pytest.approx(best, abs=1e-12)
        chosen = {g.name: next(c for c in g.choices if c.type_name == mix.types[g.name]) for g in groups}
        assert sum(c.size_bytes for c in chosen.values()) == mix.size_bytes  # the mix is what it says


@pytest.mark.parametrize("seed", range(12))
def test_the_smallest_mix_within_a_cost_is_the_smallest_of_every_mix(seed):
    groups = _instance(seed)
    costs = sorted(cost for _, cost, _ in _every_mix(groups))
    for limit in (costs[0], costs[len(costs) // 4], costs[len(costs) // 2], costs[-1]):
        mix = smallest_within_cost(groups, limit + 1e-12)
        smallest = min(size for size, cost, _ in _every_mix(groups) if cost <= limit + 1e-12)
        assert mix.cost <= limit + 1e-12 and mix.size_bytes == smallest


def test_a_budget_nothing_meets_says_what_the_nearest_needs():
    groups = _instance(0)
    smallest = sum(min(c.size_bytes for c in g.choices) for g in groups)
    with pytest.raises(AllocationError, match=f"the smallest is {smallest / 2**20:.1f} MiB"):
        best_within_size(groups, smallest - 1)
    with pytest.raises(AllocationError, match="no mix keeps the cost within"):
        smallest_within_cost(groups, -1.0)


def test_a_budget_the_rounded_grid_cannot_see_is_still_spent():
    """Sizes a byte over whole units (as real tensors are): the table rounds each up, so the mix that fills the
    budget exactly (every group high) is off its grid; the exact pass after it still finds that mix."""
    groups = [Group(f"blk.{g}", (Choice("Q6_K", 5 * UNIT + 1, 0.0), Choice("Q4_K", 4 * UNIT + 1, 0.001 * (g + 1))))
              for g in range(6)]
    budget = sum(g.choices[0].size_bytes for g in groups)
    mix = best_within_size(groups, budget, resolution=UNIT)
    assert mix.types == {g.name: "Q6_K" for g in groups} and mix.size_bytes == budget and mix.cost == 0.0
