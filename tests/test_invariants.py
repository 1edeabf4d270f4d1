"""Quadratic invariants: the generic search, and the linear network's invariants beyond Lemma 2.

Every positive claim is re-checked by differentiating along a field built here from the explicit
scalar loss (not from ``LinearNetwork.flow`` and not by the solver).
"""
from functools import lru_cache, reduce

import pytest
import sympy as sp

from flowcert.theory import find_quadratic_invariants, linear_network_invariants
from flowcert.theory._invariants import UNNAMED

x, y = sp.symbols("x y")

# (depth, shape) -> the dimensions the docstring table reports
SHAPES = {
    (2, (1, 2, 1)): 4, (2, (1, 3, 1)): 9, (2, (2, 1, 2)): 1, (2, (2, 2, 1)): 3,
    (2, (1, 2, 2)): 3, (2, (2, 2, 2)): 3, (3, (1, 1, 1, 1)): 2, (3, (1, 2, 1, 1)): 5,
    (3, (1, 2, 2, 1)): 6, (3, (2, 1, 2, 1)): 5,
}


@lru_cache(maxsize=None)
def result(depth, shape):
    return linear_network_invariants(depth, shape)


@lru_cache(maxsize=None)
def explicit_flow(depth, shape):
    """``{w: -dL/dw}`` from ``1/2 ||Y - W_1...W_L||^2`` written out entry by entry."""
    mats = [sp.Matrix(shape[l], shape[l + 1], lambda i, j, l=l: sp.Symbol(f"w{l + 1}_{i}{j}"))
            for l in range(depth)]
    Y = sp.Matrix(shape[0], shape[-1], lambda i, j: sp.Symbol(f"y_{i}{j}"))
    loss = sp.expand(sum(e**2 for e in Y - reduce(lambda a, b: a * b, mats)) / 2)
    return mats, {w: -sp.diff(loss, w) for M in mats for w in M}


def ddt(q, flow):
    return sp.expand(sum(sp.diff(q, w) * f for w, f in flow.items()))


def expected_dims(shape):
    """``sum h_l (h_l+1)/2`` from the imbalances, plus ``h_l (h_l-1)/2`` per rotation charge."""
    inner = range(1, len(shape) - 1)
    imb = sum(shape[l] * (shape[l] + 1) // 2 for l in inner)
    rot = sum(shape[l] * (shape[l] - 1) // 2 for l in inner if shape[l - 1] == shape[l + 1] == 1)
    return imb, rot


# -- the generic search -------------------------------------------------------------------------
def test_harmonic_oscillator_conserves_the_energy_only():
    s = find_quadratic_invariants([x, y], [y, -x])
    assert s.basis == (x**2 + y**2,)
    assert x**2 + y**2 in s and 0 in s
    assert x**2 not in s and x * y not in s and x not in s and sp.S.One not in s


def test_damped_oscillator_has_no_quadratic_or_linear_invariant():
    for degree in (2, (1, 2)):
        s = find_quadratic_invariants([x, y], [y, -x - y], degree=degree)
        assert s.dim == 0 and str(s) == "none"


def test_linear_terms_on_request():
    s = find_quadratic_invariants([x, y], [y, -y], degree=(1, 2))
    assert s.dim == 2
    assert s.coordinates(3 * (x + y) + (x + y) ** 2) is not None
    assert s.coordinates(x) is None
    assert find_quadratic_invariants([x, y], [y, -y]).dim == 1  # (x + y)^2 alone


def test_params_must_be_eliminated_not_solved_for():
    a = sp.Symbol("a")
    # conserved for every a; x - y would be conserved only at a = 0
    s = find_quadratic_invariants([x, y], [a * y, -a * x], params=[a])
    assert s.basis == (x**2 + y**2,)
    assert find_quadratic_invariants([x, y], [a, a], params=[a], degree=1).basis == (x - y,)
    assert find_quadratic_invariants([x, y], [a, 0], params=[a], degree=1).basis == (y,)


@pytest.mark.parametrize("field, params, msg", [
    ([y, -sp.Float(0.5) * x], (), "floating-point"),
    ([y, -sp.Symbol("k") * x], (), r"depends on \{k\}, not declared"),   # only the undeclared one named
    ([y, sp.sin(x)], (), "not polynomial"),
    ([y], (), "expected 2 components, got 1"),
])
def test_bad_input_is_rejected(field, params, msg):
    with pytest.raises(ValueError, match=msg):
        find_quadratic_invariants([x, y], field, params)


# -- the linear network -------------------------------------------------------------------------
def test_two_layer_scalar_output_width_two_has_four_invariants():
    r = result(2, (1, 2, 1))
    assert (r.dim, r.imbalance_rank) == (4, 3)
    [o] = r.others
    a, b = sp.symbols("w1_00 w1_01"), sp.symbols("w2_00 w2_10")
    assert o.family == "rotation charge"
    assert sp.expand(o.expr - (a[0] * b[1] - a[1] * b[0])) == 0


@pytest.mark.parametrize("depth, shape", list(SHAPES))
def test_dimensions_match_the_documented_table(depth, shape):
    r = result(depth, shape)
    imb, rot = expected_dims(shape)
    assert r.dim == SHAPES[depth, shape] == imb + rot
    assert r.imbalance_rank == imb
    assert len(r.others) == rot
    assert all(o.family == "rotation charge" for o in r.others)
    assert ("other invariants: none" in r.summary()) == (rot == 0)
    assert r.verify()


@pytest.mark.parametrize("depth, shape", list(SHAPES))
def test_imbalance_entries_are_invariants_with_a_checked_certificate(depth, shape):
    r = result(depth, shape)
    mats, _ = explicit_flow(depth, shape)
    n_entries = sum(shape[l] * (shape[l] + 1) // 2 for l in range(1, depth))
    assert len(r.imbalance_entries) == len(r.imbalance_coordinates) == n_entries
    for l in range(1, depth):
        D = mats[l - 1].T * mats[l - 1] - mats[l] * mats[l].T
        for i in range(D.rows):
            for j in range(i, D.cols):
                c = r.space.coordinates(D[i, j])
                assert c is not None
                assert sp.expand(D[i, j] - sum(k * q for k, q in zip(c, r.space.basis))) == 0


@pytest.mark.parametrize("depth, shape", list(SHAPES))
def test_every_reported_invariant_is_conserved_by_the_explicit_flow(depth, shape):
    r = result(depth, shape)
    _, flow = explicit_flow(depth, shape)
    for q in r.space.basis + tuple(o.expr for o in r.others):
        assert ddt(q, flow) == 0, q


@pytest.mark.parametrize("depth, shape", [(2, (1, 2, 1)), (2, (2, 2, 2)), (3, (1, 2, 2, 1))])
def test_planted_non_invariants_are_excluded(depth, shape):
    r = result(depth, shape)
    mats, flow = explicit_flow(depth, shape)
    for q in [(mats[0].T * mats[0]).trace(),          # one Gram matrix, not the difference
              (mats[0].T * mats[0] + mats[1] * mats[1].T)[0, 0],
              mats[0][0, 0] * mats[-1][0, 0]]:
        assert ddt(q, flow) != 0      # it really is not conserved ...
        assert q not in r.space       # ... and the search agrees


def test_rotation_charge_fails_for_square_two_by_two_residual():
    r = result(2, (2, 2, 2))
    assert not r.others and r.rejected == (("rotation charge", "(W_1^T W_2^T - W_2 W_1)_{01}"),)
    (W1, W2), flow = explicit_flow(2, (2, 2, 2))
    Y = sp.Matrix(2, 2, lambda i, j: sp.Symbol(f"y_{i}{j}"))
    R = Y - W1 * W2
    charge = (W1.T * W2.T - W2 * W1)[0, 1]
    claimed = (W2 * (R.T - R) * W2.T + W1.T * (R.T - R) * W1)[0, 1]
    assert ddt(charge, flow) == sp.expand(claimed) != 0


def test_invariants_outside_every_family_are_reported_unnamed():
    r = linear_network_invariants(2, (1, 2, 1), candidates=lambda mats: ())
    [o] = r.others
    assert o.family == UNNAMED and r.verify()
    import dataclasses
    assert not dataclasses.replace(r, others=()).verify()   # the count no longer adds up to the dimension
    _, flow = explicit_flow(2, (1, 2, 1))
    assert ddt(o.expr, flow) == 0  # and verify() showed it lies outside the imbalance span


def test_latex_names_entries_readably():
    from flowcert.theory import latex
    r = result(2, (1, 2, 1))
    charge, = r.shown()
    assert r"w^{(1)}_{00}" in latex(charge) and latex(charge).startswith(r"(W_1^T W_2^T - W_2 W_1)_{01} =")


def test_a_space_prints_as_the_span_of_its_basis():
    x, y = sp.symbols("x y")
    assert str(find_quadratic_invariants([x, y], [y, -x])) == "span{x**2 + y**2}"
    assert str(find_quadratic_invariants([x, y], [y, -x - y])) == "none"
