"""numerics._exact: exact rational unit vectors, orthogonal matrices and rank-one chains, and the
one rounding to a backend. Every property is checked in exact arithmetic (Fraction, SymPy)."""
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from flowcert.numerics import (exact, householder, rank_one_chain, rank_one_factors, rational_orthogonal,
                               rational_unit, stereographic, to_backend, workdps)

seeds = st.integers(0, 2**32 - 1)


def test_exact_reads_every_kind_of_number_without_rounding():
    a = exact([[1, 0.1], [sp.Rational(2, 3), "0.1"]])
    assert a.dtype == object and all(isinstance(x, Fraction) for x in a.flat)
    assert a[0, 0] == 1 and a[1, 0] == Fraction(2, 3)
    assert a[0, 1] == Fraction(3602879701896397, 2**55)     # the binary float 0.1, exactly
    assert a[1, 1] == Fraction(1, 10)                       # the decimal string
    assert exact(np.array([np.int64(-3), np.float32(0.5)]))[0] == -3


@given(seeds, st.integers(1, 6), st.integers(2, 5))
def test_rational_unit_is_a_unit_vector_with_no_zero_coordinate(seed, n, bound):
    v = rational_unit(n, np.random.default_rng(seed), bound)
    assert v.shape == (n,) and all(isinstance(x, Fraction) for x in v)
    assert sum(x * x for x in v) == 1 and all(x != 0 for x in v)


def test_rational_unit_needs_a_length_and_a_bound_that_can_succeed():
    with pytest.raises(ValueError, match="n: expected a length >= 1"):
        rational_unit(0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="bound: expected an integer >= 1 for n = 3, got 0"):
        rational_unit(3, np.random.default_rng(0), 0)
    # numerators +-1 over 1 put every point of the circle on the equator: refused, not a hang
    with pytest.raises(ValueError, match="bound: expected an integer >= 2 for n = 2, got 1"):
        rational_unit(2, np.random.default_rng(0), 1)


@given(st.lists(st.fractions(min_value=-5, max_value=5, max_denominator=7), min_size=1, max_size=4))
def test_stereographic_is_the_inverse_of_the_projection_from_the_north_pole(x):
    v = stereographic(x)
    assert sum(c * c for c in v) == 1 and v[-1] != 1
    assert [c / (1 - v[-1]) for c in v[:-1]] == x        # projecting back from (0, ..., 0, 1)


@given(st.lists(st.integers(-4, 4), min_size=1, max_size=5).filter(any))
def test_householder_is_the_reflection_through_the_hyperplane_orthogonal_to_w(w):
    H = householder(w)
    n = len(w)
    eye = np.eye(n, dtype=int)
    assert (H == H.T).all() and (H @ H == eye).all()
    assert list(H @ exact(w)) == [-Fraction(c) for c in w]
    # a vector orthogonal to w is fixed: e_i w_j - e_j w_i
    for i in range(n):
        for j in range(i + 1, n):
            u = exact([w[j] if k == i else -w[i] if k == j else 0 for k in range(n)])
            assert list(H @ u) == list(u)


def test_householder_of_zero_is_refused():
    with pytest.raises(ValueError, match="w: expected a nonzero vector"):
        householder([0, 0])


@given(seeds, st.integers(1, 5))
def test_rational_orthogonal_is_a_product_of_n_reflections(seed, n):
    Q = rational_orthogonal(n, np.random.default_rng(seed))
    assert Q.shape == (n, n) and (Q.T @ Q == np.eye(n, dtype=int)).all()
    # n reflections: determinant (-1)^n, exactly
    assert sp.Matrix(n, n, [sp.Rational(x.numerator, x.denominator) for x in Q.flat]).det() == (-1) ** n


@given(seeds, st.integers(2, 5), st.fractions(min_value=-3, max_value=3, max_denominator=5).filter(bool))
def test_rank_one_chain_is_balanced_and_multiplies_to_the_ends(seed, N, a):
    rng = np.random.default_rng(seed)
    dirs = [rational_unit(int(rng.integers(1, 4)), rng) for _ in range(N + 1)]
    ws = rank_one_chain(a, dirs)
    assert len(ws) == N
    for j, w in enumerate(ws):
        assert w.shape == (len(dirs[j + 1]), len(dirs[j]))
        assert (w @ dirs[j] == a * dirs[j + 1]).all()                    # maps q_{j-1} to a q_j
    for j in range(N - 1):                                               # balanced
        assert (ws[j + 1].T @ ws[j + 1] == ws[j] @ ws[j].T).all()
    prod = ws[0]
    for w in ws[1:]:
        prod = w @ prod
    assert (prod == a ** N * np.outer(dirs[-1], dirs[0])).all()


def test_rank_one_chain_needs_two_vectors():
    with pytest.raises(ValueError, match="dirs: expected at least 2 vectors"):
        rank_one_chain(1, [exact([1])])


def test_to_backend_rounds_once_to_nearest():
    x = exact([[Fraction(1, 3), Fraction(-2, 7)], [Fraction(10**30 + 1, 3), 0]])
    f = to_backend(x)
    assert f.dtype == float and f.tolist() == [[1 / 3, -2 / 7], [float(Fraction(10**30 + 1, 3)), 0.0]]
    with workdps(50):
        m = to_backend(x)
        assert m.dtype == object and all(isinstance(v, mpmath.mpf) for v in m.flat)
        assert m[0, 0] == mpmath.mpf(1) / 3 and m[0, 1] == mpmath.mpf(-2) / 7
        assert abs(m[0, 0] - mpmath.mpf(1) / 3) == 0 and m[0, 0] != mpmath.mpf(1 / 3)
        assert to_backend(np.array([mpmath.mpf("0.1")], dtype=object))[0] == mpmath.mpf("0.1")
        # a numerator longer than the precision: still one rounding (mpf(p) / q would be two)
        big = Fraction(3**400 + 1, 3**250)
        ref = mpmath.mpf(mpmath.libmp.from_rational(big.numerator, big.denominator, mpmath.mp.prec, "n"))
        assert to_backend(exact([big]))[0] == ref
    with workdps(50):
        hi = to_backend(np.array([mpmath.mpf(1) / 3], dtype=object))
    assert to_backend(hi)[0] == 1 / 3          # an mpf rounded to float64


@given(seeds, st.integers(2, 4), st.lists(st.booleans(), min_size=4, max_size=4))
def test_rank_one_factors_read_back_scales_and_shared_vectors(seed, N, flips):
    rng = np.random.default_rng(seed)
    dirs = [to_backend(rational_unit(int(rng.integers(2, 4)), rng)) for _ in range(N + 1)]
    scales = [float(rng.uniform(0.5, 2)) for _ in range(N)]
    ws = [s * np.outer(dirs[j + 1], dirs[j]) for j, s in enumerate(scales)]
    # each layer's sign split differently between its two vectors: the factors must agree anyway
    ws = [-w if f else w for w, f in zip(ws, flips)]
    a, q = rank_one_factors(ws)
    assert len(a) == N and len(q) == N + 1
    for j, w in enumerate(ws):
        assert abs(a[j] - scales[j]) <= 1e-13 * scales[j]
        # the rebuilt layer is the layer: sign conventions of consecutive layers agree
        assert np.abs(a[j] * np.outer(q[j + 1], q[j]) - w).max() <= 1e-13 * scales[j]
        assert abs(np.linalg.norm(q[j]) - 1) <= 1e-14


@pytest.mark.parametrize("bound", [2, 3])
def test_rational_unit_draws_cover_exactly_the_documented_points(bound):
    # the preimage under the projection, x = v[:-1] / (1 - v[-1]), has coordinates p / q with
    # 1 <= |p| <= bound and 1 <= q <= bound (one q for the whole point): every such value, and
    # nothing else, appears over enough draws
    allowed = {Fraction(s * p, q) for p in range(1, bound + 1) for q in range(1, bound + 1) for s in (1, -1)}
    rng = np.random.default_rng(11)
    seen = set()
    for _ in range(600):
        v = rational_unit(3, rng, bound)
        x = [c / (1 - v[-1]) for c in v[:-1]]
        assert set(x) <= allowed
        seen |= set(x)
    assert seen == allowed


def test_integer_vectors_cover_the_range_and_are_never_zero():
    from flowcert.numerics._exact import _integer_vector
    rng = np.random.default_rng(5)
    for bound in (2, 3):   # an even and an odd bound: both ends drawn
        seen = set()
        for _ in range(300):
            w = _integer_vector(2, rng, bound)
            assert any(w) and len(w) == 2
            seen |= set(w)
        assert seen == set(range(-bound, bound + 1))


def test_defaults_are_the_documented_bounds():
    for seed in range(5):
        assert (rational_unit(3, np.random.default_rng(seed)) == rational_unit(3, np.random.default_rng(seed), 4)).all()
        assert (rational_orthogonal(3, np.random.default_rng(seed))
                == rational_orthogonal(3, np.random.default_rng(seed), 3)).all()


def test_signs_are_fair_coins_and_short_vectors_have_no_zero():
    # 3000 draws: the share of + has sd 0.009 under a fair coin; 0.05 is over five of them
    rng = np.random.default_rng(9)
    ones = [rational_unit(1, rng)[0] for _ in range(3000)]
    assert set(ones) == {1, -1} and abs(sum(x > 0 for x in ones) / 3000 - 0.5) <= 0.05
    firsts = [rational_unit(3, rng, 2)[0] for _ in range(3000)]
    assert abs(sum(x > 0 for x in firsts) / 3000 - 0.5) <= 0.05
    # n = 2: every point +-1/q with q = 1 would have a zero last coordinate: they are redrawn
    assert all(all(c != 0 for c in rational_unit(2, rng, 2)) for _ in range(300))


def test_the_smallest_bounds_that_can_succeed_are_accepted():
    rng = np.random.default_rng(0)
    assert abs(rational_unit(1, rng, 1)[0]) == 1 and sum(c * c for c in rational_unit(3, rng, 1)) == 1
    with pytest.raises(ValueError, match="bound: expected an integer >= 1 for n = 1, got 0"):
        rational_unit(1, rng, 0)
    with pytest.raises(ValueError, match="bound: expected an integer >= 1 for n = 3, got True"):
        rational_unit(3, rng, True)


def test_a_one_layer_chain_keeps_float_directions_float():
    ws = rank_one_chain(2.0, [np.array([1.0, 0.0]), np.array([0.0, 1.0, 0.0])])
    assert len(ws) == 1 and ws[0].dtype == float and ws[0].tolist() == [[0.0, 0.0], [2.0, 0.0], [0.0, 0.0]]


def test_a_large_householder_reflection_is_exact():
    # orders past CPython's small-integer cache (the diagonal is found by value)
    H = householder([1] + [0] * 259)
    assert H[0, 0] == -1 and H[259, 259] == 1 and H[3, 5] == 0
