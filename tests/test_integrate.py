"""numerics.solve: the Taylor integrator against independent references and exact solutions."""
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp

from flowcert.numerics import workdps
from flowcert.numerics._integrate import IntegrationError, Solution, compile_field, expr_observer, solve
from flowcert.numerics._matexpr import compile_matrix
from flowcert.theory import LinearNetwork


def maxabs(a):
    return max(abs(x) for x in np.asarray(a).flat)


def problem(depth, shape, scale, seed):
    net = LinearNetwork(depth)
    rng = np.random.default_rng(seed)
    w0 = {w: scale * rng.standard_normal((shape[l], shape[l + 1])) for l, w in enumerate(net.weights)}
    y = rng.standard_normal((shape[0], shape[-1]))
    return net, w0, {net.target: y}


def test_taylor_matches_dop853_float64():
    net, w0, params = problem(3, (3, 4, 2, 3), 0.5, seed=1)
    ts = [0, 0.5, 1.25, 2]
    tay = solve(net.flow, w0, 2, params=params, t_eval=ts)
    ref = solve(net.flow, w0, 2, params=params, t_eval=ts, method="dop853", tol=1e-13)
    # DOP853 at rtol = atol = 1e-13 keeps its global error near 1e-12 over T = 2 (the flow is
    # mildly contracting here); Taylor's is ~1e-15. 1e-9 leaves 3 digits for a conditioned run.
    err = max(np.max(np.abs(a[w] - b[w])) for a, b in zip(tay.states, ref.states) for w in net.weights)
    assert err < 1e-9
    assert tay.times == tuple(float(t) for t in ts) and tay.steps > 0


def test_dop853_right_hand_sides_agree_with_the_closed_form():
    """Both right-hand sides of method='dop853': the factored program (a matrix polynomial) and
    the general compiled expressions (the program has no Kronecker product), with and without
    output times inside the interval (the interpolant is built only then)."""
    A, B = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("B", 1, 1)
    a0 = np.array([[1.0, 0.5], [-0.25, 2.0]])
    for field in ({A: -2 * A}, {A: -sp.KroneckerProduct(B, A)}):
        for ts in (None, [0, 0.3, 1], [0.3, 1]):   # the last: an inner time, and no t = 0
            sol = solve(field, {A: a0}, 1, params={B: [[2.0]]}, t_eval=ts, method="dop853", tol=1e-12)
            exact = [a0 * np.exp(-2 * t) for t in sol.times]     # A' = -2 A
            # rtol = atol = 1e-12 over a unit horizon of a contracting flow: 1e-10 is ample
            assert max(np.max(np.abs(st[A] - ex)) for st, ex in zip(sol.states, exact)) < 1e-10


def test_a_ragged_initial_value_is_named():
    A = sp.MatrixSymbol("A", 2, 2)
    with pytest.raises(ValueError, match=r"y0\[A\]: not a numeric array"):   # numpy's own ValueError, named
        solve({A: -A}, {A: [[1.0, 2.0], [3.0]]}, 1)


@pytest.mark.parametrize("method", ["dop853", "taylor", "rk4"])
def test_a_constant_sum_is_folded_whole(method):
    """W' = W P + W Q with parameters P, Q: the program factors W out and folds the constant sum
    P + Q once (scipy's right-hand side, heyoka's expressions); every term must be in it, so
    W(t) = W0 expm((P + Q) t)."""
    from scipy.linalg import expm
    W, P, Q = (sp.MatrixSymbol(n, 2, 2) for n in "WPQ")
    p, q = np.array([[-1.0, 0.5], [0.0, -0.5]]), np.array([[0.25, 0.0], [-0.5, -1.0]])
    w0 = np.array([[1.0, 2.0], [-1.0, 0.5]])
    sol = solve({W: W * P + W * Q}, {W: w0}, 1, params={P: p, Q: q}, method=method, tol=1e-12, h=1e-3)
    # dop853 at rtol = atol = 1e-12 and the two others (Taylor below float64's unit, RK4's
    # C h^4 = 1e-12 C) on a unit horizon of a contracting flow: 1e-9 is ample; a lost term is O(1)
    assert np.max(np.abs(sol.final[W] - w0 @ expm(p + q))) < 1e-9


def test_float64_dense_output_at_many_times_per_step():
    """Float64 Taylor with 200 output times on a smooth flow: several fall in each step and are
    evaluated together (one numpy Horner per order); each is e^{-t} A0 to ~1e-14 (Taylor's local
    error is below float64's unit, 200 evaluations of a degree-p polynomial add a few units)."""
    A = sp.MatrixSymbol("A", 2, 2)
    a0 = np.array([[1.0, -2.0], [0.5, 3.0]])
    ts = np.linspace(0, 2, 200)
    sol = solve({A: -A}, {A: a0}, 2, t_eval=ts)
    assert sol.steps < len(ts) / 4
    assert max(np.max(np.abs(st[A] - a0 * math.exp(-t))) for st, t in zip(sol.states, ts)) < 1e-13


def test_rk4_lands_on_output_times():
    """RK4 ends a step on every output time (t_end = 2, marks inside): each state is e^{-t} to its
    global error t h^4 / 120 e^{-t} ~ 1e-10 at h = 0.01 (1e-9 allowed)."""
    A = sp.MatrixSymbol("A", 1, 1)
    ts = [0, 0.3, 1.7, 2]
    sol = solve({A: -A}, {A: [[1.0]]}, 2, method="rk4", h=0.01, t_eval=ts)
    assert max(abs(st[A][0, 0] - math.exp(-t)) for st, t in zip(sol.states, ts)) < 1e-9


@pytest.mark.parametrize("dps", [None, 30])
def test_a_state_at_rest_at_zero(dps):
    """B' = -B from B = 0 stays 0 while A' = -A decays: an all-zero state and series (log2 of its
    largest entry is -inf) must not size the steps; A(1) = e^-1 A0."""
    A, B = sp.MatrixSymbol("A", 2, 1), sp.MatrixSymbol("B", 1, 2)
    sol = solve({A: -A, B: -B}, {A: [[1.0], [-2.0]], B: [[0.0, 0.0]]}, 1, dps=dps)
    assert not np.asarray(sol.final[B], dtype=float).any()
    with workdps(40):   # the reference beyond the working precision
        err = max(abs(x - y * mpmath.exp(-1)) for x, y in zip(np.ravel(sol.final[A]), (1, -2)))
        assert err < (1e-14 if dps is None else mpmath.mpf(10) ** -28)   # the working precision, a few units


def test_taylor_matches_rk4():
    net, w0, params = problem(2, (2, 3, 2), 0.5, seed=2)
    tay = solve(net.flow, w0, 1, params=params)
    rk = solve(net.flow, w0, 1, params=params, method="rk4", h=0.01)
    # classical RK4: global error ~ C h^4 = 1e-8 C with C = O(1) for this O(1) problem
    assert rk.steps == 100
    assert max(np.max(np.abs(tay.final[w] - rk.final[w])) for w in net.weights) < 1e-6


def test_imbalance_drift_30_digits():
    net, w0, params = problem(3, (2, 3, 3, 2), 0.4, seed=3)
    obs = {f"D{l}": expr_observer(net.imbalance(l)) for l in (1, 2)}
    sol = solve(net.flow, w0, 2, params=params, dps=30, observers=obs, t_eval=[0, 0.5, 1, 1.5, 2])
    with workdps(30):
        drift = max(maxabs(d - rec[0]) for rec in sol.records.values() for d in rec)
    # per step the truncation is below 2^-(prec+3) ~ 1e-32 relative to |W| = O(1), rounding inside
    # runs 32 bits below that, and the ~20 steps add up to < 1e-30; storing W at 30 digits costs
    # ~1e-30 in D = W^T W - V V^T. 1e-27 leaves three digits of margin, yet fails for any error
    # of the method itself (float64 leaks 1e-16, a lost digit per step would show at 1e-10).
    assert drift < mpmath.mpf("1e-27")
    assert drift > 0 or sol.steps == 0


def test_closed_form_balanced_scalar_30_digits():
    # w1 = w2 = a with target y: da/dt = a (y - a^2), so
    # a(t)^2 = y a0^2 e^{2yt} / (y + a0^2 (e^{2yt} - 1)).
    net = LinearNetwork(2)
    W1, W2 = net.weights
    y, a0 = 2, Fraction(1, 10)
    ts = [Fraction(k, 4) for k in range(0, 13)]       # 0 .. 3: through the sigmoidal rise
    with workdps(30):
        a = mpmath.mpf(a0.numerator) / a0.denominator
        w0 = {W1: np.array([[a]], dtype=object), W2: np.array([[a]], dtype=object)}
        sol = solve(net.flow, w0, 3, params={net.target: [[y]]}, t_eval=ts)
        for t, st in zip(ts, sol.states):
            e = mpmath.exp(2 * y * mpmath.mpf(t.numerator) / t.denominator)
            exact = mpmath.sqrt(y * a**2 * e / (y + a**2 * (e - 1)))
            for w in (W1, W2):
                assert abs(st[w][0, 0] - exact) <= mpmath.mpf("1e-25") * exact   # >= 25 digits


def test_dense_output_lands_on_times():
    # t_eval inside a step is read from the step's series; it must equal integrating to t_i
    net, w0, params = problem(2, (2, 2, 2), 0.5, seed=4)
    sol = solve(net.flow, w0, 1.5, params=params, t_eval=[0.3, 0.7, 1.5])
    for t, st in zip(sol.times, sol.states):
        alone = solve(net.flow, w0, t, params=params)
        assert max(np.max(np.abs(st[w] - alone.final[w])) for w in net.weights) < 1e-13
    assert all(np.array_equal(sol.states[-1][w], sol.final[w]) for w in net.weights)


def test_fixed_point_load_rounds_to_nearest():
    """A block of mpf values as integers times one power of two: each within half a unit of the last
    place (the block's exponent), the rounding the recurrence's error analysis assumes."""
    from flowcert.numerics._integrate import _FixedArith
    with workdps(60):
        vals = [mpmath.mpf(1) / 3, -mpmath.mpf(2) / 7, mpmath.mpf("1e-12") / 3, mpmath.mpf(5) / 11]
        x, e = _FixedArith(64).load(np.array(vals, dtype=object))
        half = mpmath.ldexp(1, e - 1)
        assert all(abs(mpmath.ldexp(int(m), e) - v) <= half for m, v in zip(x, vals))
        assert max(abs(mpmath.ldexp(int(m), e) - v) for m, v in zip(x, vals)) > half / 8   # not trivially exact


def test_fixed_point_series_coefficient_rounds_to_nearest():
    """z_{k+1} = f h / (k + 1) in the block's fixed point, for both signs: within half a unit."""
    from flowcert.numerics._integrate import _FixedArith
    ar = _FixedArith(64)
    f = np.array([12345678901234567, -98765432109876543, 5, -5, 3 ** 40], dtype=object)
    for ef, ev, (hm, he), k in ((-10, -20, (3, -5), 6), (-10, -2, (7, -1), 4), (0, 0, (1, 0), 2)):
        z = ar.next_coef(f, ef, ev, (hm, he), k)
        exact = [Fraction(int(x) * hm, k + 1) * Fraction(2) ** (ef + he - ev) for x in f]
        assert all(abs(int(a) - b) <= Fraction(1, 2) for a, b in zip(z, exact)), (ef, ev, k)


@pytest.mark.parametrize("arith", ["array", "fixed", "flint"])
def test_a_constant_field_in_every_arithmetic(arith):
    """A' = I: every Taylor coefficient past the first is a zero block (made by the arithmetic
    itself); A(1) = A0 + I exactly, at 30 digits."""
    A = sp.MatrixSymbol("A", 2, 2)
    with workdps(30):
        sol = solve({A: sp.Identity(2)}, {A: [[0, 1], [2, 3]]}, 1, arith=arith)
        assert (sol.final[A] == np.array([[1, 1], [2, 4]])).all()
        assert all(isinstance(x, mpmath.mpf) for x in sol.final[A].flat)


def test_fixed_point_equals_mpf_arithmetic():
    # two arithmetics of one recurrence: block fixed point (ints) and plain mpf arrays
    A, B = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("B", 2, 2)
    field = {A: -A * B + sp.Rational(1, 3) * sp.Identity(2), B: A.T * A - B / 2}
    with workdps(30):
        y0 = {A: [[mpmath.mpf("0.5"), 1], [-1, 0]], B: [[0, "0.25"], [1, 2]]}
        f = solve(field, y0, 1, arith="fixed")
        m = solve(field, y0, 1, arith="array")
        # both ~1e-31 off the solution; the steps may differ by the last bit of the estimates
        assert max(maxabs(f.final[s] - m.final[s]) for s in (A, B)) < mpmath.mpf("1e-28")
        assert all(isinstance(x, mpmath.mpf) for x in f.final[A].flat)


def test_solution_and_observers():
    A = sp.MatrixSymbol("A", 1, 1)
    sol = solve({A: -A}, {A: [[1.0]]}, 2, t_eval=[0, 1, 2],
                observers=[lambda s: float(s[A][0, 0]), expr_observer(sp.Trace(A))])
    assert isinstance(sol, Solution) and len(sol.states) == 3
    assert list(sol.records) == ["obs0", "obs1"]
    assert sol.records["obs0"] == pytest.approx([1, math.exp(-1), math.exp(-2)], rel=1e-14)
    assert sol.path(A)[1][0, 0] == pytest.approx(math.exp(-1), rel=1e-14)
    zero = solve({A: -A}, {A: [[1.0]]}, 0)
    assert zero.steps == 0 and zero.final[A][0, 0] == 1


def test_factored_sums_with_shared_ends():
    """Sums whose terms share a first and a last factor (A B A + A C A, A B C A + A C B A): the
    program takes the common prefix and suffix out once, leaving a middle that is never empty."""
    A, B, C, D = (sp.MatrixSymbol(x, 2, 2) for x in "ABCD")
    rng = np.random.default_rng(1)
    a, b, c, d = (rng.normal(size=(2, 2)) for _ in range(4))
    cases = {"ABA+ACA": (A * B * A + A * C * A, a @ b @ a + a @ c @ a),
             "ABCA+ACBA": (A * B * C * A + A * C * B * A, a @ b @ c @ a + a @ c @ b @ a),
             "AB+AC+A": (A * B + A * C + A, a @ b + a @ c + a),
             # lengths 3 and 4: the shared suffix B C must stop where it would meet the prefix A
             "ABC+ADBC": (A * B * C + A * D * B * C, a @ b @ c + a @ d @ b @ c)}
    for name, (expr, want) in cases.items():
        got = compile_field({A: expr}, [A, B, C, D], {M: (2, 2) for M in (A, B, C, D)})(a, b, c, d)[A]
        assert np.allclose(got, want, rtol=1e-13, atol=1e-13), name   # a few roundings of O(1) products


def test_compile_field_matches_compile_matrix():
    net = LinearNetwork(3)
    syms = list(net.weights) + [net.target]
    rng = np.random.default_rng(5)
    shape = (3, 5, 2, 4)
    arrays = [rng.standard_normal((shape[l], shape[l + 1])) for l in range(3)]
    arrays.append(rng.standard_normal((3, 4)))
    f = compile_field(dict(zip(net.weights, net.gradient)), syms, {s: a.shape for s, a in zip(syms, arrays)})
    got = f(*arrays)
    for w, g in zip(net.weights, net.gradient):
        ref = compile_matrix(g, syms)(*arrays)
        assert np.allclose(got[w], ref, rtol=1e-13, atol=1e-13)


def test_blowup_raises_with_time():
    A = sp.MatrixSymbol("A", 1, 1)
    with pytest.raises(IntegrationError, match=r"collapsed .* at t=0\.9999"):   # A' = A^2, A(0) = 1: A = 1/(1-t)
        solve({A: A * A}, {A: [[1.0]]}, 2)
    with pytest.raises(IntegrationError, match="max_steps"):
        solve({A: -A}, {A: [[1.0]]}, 50, max_steps=2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(t_end=-1), "t_end"),
    (dict(t_end=float("nan")), "t_end"),
    (dict(method="euler"), "method"),
    (dict(method="dop853", dps=20), "method: 'dop853'"),
    (dict(t_eval=[0, 3]), "t_eval"),
    (dict(t_eval=[1, 0.5]), "t_eval"),
    (dict(params={}), r"params: no value for Y"),
    (dict(order=1), "order"),
])
def test_bad_arguments(kwargs, match):
    net, w0, params = problem(2, (2, 3, 2), 0.5, seed=6)
    args = dict(t_end=1, params=params)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        solve(net.flow, w0, **args)


def test_bad_initial_values():
    net = LinearNetwork(2)
    W1, W2 = net.weights
    y = {net.target: np.ones((2, 1))}
    with pytest.raises(ValueError, match=r"y0\[W1\]: non-finite"):
        solve(net.flow, {W1: [[np.nan, 0, 0], [0, 0, 0]], W2: np.ones((3, 1))}, 1, params=y)
    # W1 (2, 3) then W2 (4, 1): h1 is 3 and 4 at once
    with pytest.raises(ValueError, match=r"y0\[W2\]: shape \(4, 1\) does not fit W2.*h1 = 3"):
        solve(net.flow, {W1: np.ones((2, 3)), W2: np.ones((4, 1))}, 1, params=y)
    with pytest.raises(ValueError, match=r"y0: missing initial value for W2"):
        solve(net.flow, {W1: np.ones((2, 3))}, 1, params=y)
    A = sp.MatrixSymbol("A", 2, 2)   # numeric dimensions: caught on the array itself
    with pytest.raises(ValueError, match=r"y0\[A\]: shape \(3, 3\)"):
        solve({A: -A}, {A: np.ones((3, 3))}, 1)
