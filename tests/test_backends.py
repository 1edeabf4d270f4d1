"""numerics.solve backends: flint (Arb), mpmath (Python ints), numpy (float64) and heyoka (optional)
agree to the working precision; conserved imbalances stay put; bad backend arguments are refused."""
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp

from flowcert.numerics import workdps
from flowcert.numerics._integrate import BACKENDS, expr_observer, solve
from flowcert.theory import LinearNetwork


def problem(depth, shape, scale, seed):
    net = LinearNetwork(depth)
    rng = np.random.default_rng(seed)
    w0 = {w: scale * rng.standard_normal((shape[l], shape[l + 1])) for l, w in enumerate(net.weights)}
    return net, w0, {net.target: rng.standard_normal((shape[0], shape[-1]))}


def maxdiff(a, b, dps):
    with workdps(dps):
        return max(abs(mpmath.mpf(x) - mpmath.mpf(y)) for x, y in zip(np.asarray(a).flat, np.asarray(b).flat))


@pytest.mark.parametrize("depth, shape", [(2, (3, 3, 3)), (3, (2, 3, 2, 2))])
def test_flint_and_mpmath_backends_agree_at_40_digits(depth, shape):
    net, w0, params = problem(depth, shape, 0.4, seed=depth)
    ts = [0, 0.25, 1]
    obs = {"D": expr_observer(net.imbalance(1))}
    a = solve(net.flow, w0, 1, params=params, dps=40, t_eval=ts, backend="flint", observers=obs)
    b = solve(net.flow, w0, 1, params=params, dps=40, t_eval=ts, backend="mpmath")
    ref = solve(net.flow, w0, 1, params=params, dps=60, t_eval=ts, backend="mpmath")
    assert a.backend == "flint" and b.backend == "mpmath"
    for w in net.weights:
        assert maxdiff(a.final[w], ref.final[w], 60) < mpmath.mpf(10) ** -38
        assert maxdiff(b.final[w], ref.final[w], 60) < mpmath.mpf(10) ** -38
        for sa, sr in zip(a.states, ref.states):
            assert maxdiff(sa[w], sr[w], 60) < mpmath.mpf(10) ** -38
    d = a.records["D"]
    assert maxdiff(d[-1], d[0], 60) < mpmath.mpf(10) ** -38


def test_default_backend_is_flint_at_mp_precision_and_numpy_in_float64():
    A = sp.MatrixSymbol("A", 1, 1)
    assert solve({A: -A}, {A: [[1.0]]}, 1, dps=20).backend == "flint"
    assert solve({A: -A}, {A: [[1.0]]}, 1).backend == "numpy"
    assert solve({A: -A}, {A: [[1.0]]}, 1, method="dop853").backend is None


def test_backend_validation():
    A = sp.MatrixSymbol("A", 1, 1)
    for kw, msg in (({"backend": "fortran"}, "backend: expected one of"),
                    ({"backend": "flint", "method": "rk4"}, "only the taylor method"),
                    ({"backend": "flint", "arith": "fixed"}, "either backend or arith")):
        with pytest.raises(ValueError, match=msg):
            solve({A: -A}, {A: [[1.0]]}, 1, dps=20, **kw)
    with pytest.raises(ValueError, match="needs mpmath precision"):
        solve({A: -A}, {A: [[1.0]]}, 1, backend="flint")
    assert set(BACKENDS) == {"flint", "mpmath", "numpy", "heyoka"}


def test_heyoka_backend_agrees_with_flint():
    hy = pytest.importorskip("heyoka")
    if not hasattr(hy, "real"):
        pytest.skip("this heyoka build has no real type")
    # depth 3: the factored program (shared subproducts) is what heyoka receives
    # (2, 1, 2): an inner dimension of 1, an outer product in heyoka's matrix product
    for depth, widths in ((2, (2, 2, 2)), (3, (2, 3, 2, 2)), (2, (2, 1, 2))):
        net, w0, params = problem(depth, widths, 0.5, seed=3)
        ts = [0, 0.5, 1]
        a = solve(net.flow, w0, 1, params=params, dps=30, t_eval=ts, backend="heyoka")
        ref = solve(net.flow, w0, 1, params=params, dps=50, t_eval=ts, backend="flint")
        assert a.backend == "heyoka" and len(a.states) == 3
        for w in net.weights:
            assert maxdiff(a.final[w], ref.final[w], 50) < mpmath.mpf(10) ** -28
    f = solve(net.flow, w0, 1, params=params, backend="heyoka", tol=1e-14)
    assert np.max(np.abs(f.final[net.weights[0]] - np.array(ref.final[net.weights[0]], dtype=float))) < 1e-12
    with pytest.raises(ValueError, match="order"):
        solve(net.flow, w0, 1, params=params, dps=30, backend="heyoka", order=10)


def test_binary_numbers_reach_heyoka_as_exact_decimals():
    """heyoka's real is read from a decimal string: every float and mpf has an exact one."""
    from flowcert.numerics._heyoka import _exact_str
    for x, text in ((1.0, "1"), (0.75, "0.75"), (-0.375, "-0.375"), (2.0 ** -3, "0.125"), (6.0, "6"),
                    (mpmath.mpf(5) / 16, "0.3125"), (0.0, "0")):
        assert _exact_str(x) == text, x
    tiny = 2.0 ** -60 * 3
    assert Fraction(_exact_str(tiny)) == Fraction(tiny)    # all 19 digits, no rounding


def test_flint_per_order_precision_is_safe_when_the_decay_guess_is_wrong(monkeypatch):
    # a wildly optimistic decay estimate (cut 20 bits per order) must be caught and the step redone
    import flowcert.numerics._integrate as I
    monkeypatch.setattr(I._FlintArith, "learn", lambda self, g, r: setattr(self, "gamma", 20.0))
    net, w0, params = problem(2, (2, 3, 2), 0.5, seed=9)
    a = solve(net.flow, w0, 1, params=params, dps=40, backend="flint")
    ref = solve(net.flow, w0, 1, params=params, dps=60, backend="mpmath")
    for w in net.weights:
        assert maxdiff(a.final[w], ref.final[w], 60) < mpmath.mpf(10) ** -38
