"""Hypothesis strategies of marion2023's claims: step targets on a grid and >= 2 neurons per piece,
drawn as integers (JSON-able counterexamples); :func:`.claims.rationals` turns them into exact
Fractions."""
from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["limit_configs", "step_targets"]


@st.composite
def step_targets(draw, max_jumps: int = 3, grid: int = 12):
    """``(grid, ks, values)``: discontinuities ``k / grid`` (1..max_jumps distinct k in 1..grid-1)
    and integer values with a nonzero jump (magnitude 1..4) at each."""
    ks = tuple(sorted(draw(st.sets(st.integers(1, grid - 1), min_size=1, max_size=max_jumps))))
    jumps = [draw(st.sampled_from([-4, -3, -2, -1, 1, 2, 3, 4])) for _ in ks]
    v0 = draw(st.integers(-3, 3))
    return grid, ks, tuple(v0 + sum(jumps[:i]) for i in range(len(ks) + 1))


@st.composite
def limit_configs(draw, max_jumps: int = 3, grid: int = 12, per_piece: int = 3):
    """``(grid, ks, values, js)``: a step target and sorted neurons ``j / (100 grid)``, 2..per_piece
    strictly inside every piece (the eps -> 0 limit's condition)."""
    grid, ks, vals = draw(step_targets(max_jumps, grid))
    edges = [0] + [100 * k for k in ks] + [100 * grid]
    js = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        n = draw(st.integers(2, per_piece))
        js += sorted(draw(st.sets(st.integers(lo + 1, hi - 1), min_size=n, max_size=n)))
    return grid, ks, vals, tuple(js)
