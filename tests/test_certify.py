"""Certified enclosures: every ball must contain the exact value (checked against exact rationals
and 60-digit mpmath), decisions are three-valued, precision escalates, planted errors are refuted."""
from __future__ import annotations

from fractions import Fraction

import flint
import mpmath
import numpy as np
import pytest
import sympy as sp
from flint import arb, fmpq, fmpq_mat

from flowcert import theory as th

from . import reference
from flowcert.numerics import Evaluator, certified_eigenvalues, certify, certify_bound, decide, exact_ball, workdps
from flowcert.numerics._certify import (CertifiedEvaluator, FloatBall, ball_max, ball_min, ball_pow, compile_scalar,
                               ends, fmt_ball, interval, singular_values, workprec)


def _fq(a):
    return fmpq_mat(a.shape[0], a.shape[1], [fmpq(*float(x).as_integer_ratio()) for x in a.ravel()])


def _contains(ball, value_mpf) -> bool:
    with workprec(400):
        v = value_mpf if isinstance(value_mpf, mpmath.mpf) else mpmath.mpf(value_mpf)
        sign, m, e, _ = v._mpf_   # exact: no re-rounding at mpmath's current precision
        m = -m if sign else m
        return bool(ball.contains(arb(fmpq(int(m) * 2 ** max(e, 0), 2 ** max(-e, 0)))))


def _sym(rng, n, scale=1.0):
    a = rng.standard_normal((n, n)) * scale
    return a + a.T


def test_exact_ball_reads_binary_floats_exactly():
    assert exact_ball(0.1) == arb(fmpq(3602879701896397, 2 ** 55))
    assert exact_ball(0.1).is_exact() and exact_ball(Fraction(1, 3)).contains(fmpq(1, 3))
    assert exact_ball(sp.Rational(1, 4)) == arb(0.25)


def test_decide_is_three_valued():
    assert decide(arb(1, 0.5), ">") is True
    assert decide(arb(-1, 0.5), ">") is False
    assert decide(arb(0, 0.5), ">") is None and decide(arb(0, 0.5), "<=") is None
    assert decide(arb(0), ">=") is True and decide(arb(0), ">") is False
    assert decide(arb.nan(), ">") is None
    with pytest.raises(ValueError):
        decide(arb(1), "!=")


@pytest.mark.parametrize("seed", range(5))
def test_ball_max_min_pow_contain_every_point(seed):
    rng = np.random.default_rng(seed)
    xs = [arb(float(m), float(r)) for m, r in zip(rng.normal(size=3), rng.uniform(0, 1, 3))]
    hi, lo = ball_max(*xs), ball_min(*xs)
    sq, cube, root = ball_pow(xs[0], 2), ball_pow(xs[0], 3), ball_pow(abs(xs[1]) + 2, 1, 3)
    for _ in range(200):   # points of the balls, including the ends
        pts = [float(x.mid()) + float(x.rad()) * rng.uniform(-1, 1) for x in xs]
        assert hi.contains(max(pts)) and lo.contains(min(pts))
        assert sq.contains(pts[0] ** 2) and cube.contains(pts[0] ** 3)
    assert sq.lower() >= 0 or xs[0].contains(0) is False
    assert decide(ball_pow(arb(0, 1), 2), ">=") is True   # an even power is never negative
    assert ball_pow(arb(-1, 0.5), 1, 2).is_nan()            # no real square root there
    # the cube root of every point of |x1| + 2 lies in the ball (sampled like the others)
    for _ in range(200):
        t = float(abs(xs[1]).mid()) + float(abs(xs[1]).rad()) * rng.uniform(-1, 1)
        if t >= 0:
            assert root.contains(arb(t + 2) ** fmpq(1, 3))


@pytest.mark.parametrize("p, q", [(1, 3), (2, 3), (-1, 2), (-3, 4), (-2, 1), (-3, 1), (5, 2)])
def test_ball_pow_of_either_sign_contains_every_point(p, q):
    # a negative exponent reverses the order of the ends: the enclosure must still hold every
    # point's power (mpmath at 40 digits, an independent route)
    rng = np.random.default_rng([p + 10, q])
    for _ in range(20):
        m, r = float(rng.uniform(0.2, 3)), float(rng.uniform(0, 0.19))
        if q == 1 and rng.random() < 0.5:
            m = -m  # an integer power is defined on negative balls too
        x = arb(m, r)
        y = ball_pow(x, p, q)
        with mpmath.workdps(40):
            lo, hi = (mpmath.ldexp(*map(int, e.man_exp())) for e in (y.lower(), y.upper()))
            for t in (m - r, m + r, m + r * float(rng.uniform(-1, 1))):
                want = mpmath.mpf(t) ** (mpmath.mpf(p) / q)
                slack = abs(want) * mpmath.mpf(10) ** -35  # mpmath's own error at 40 digits
                assert lo - slack <= want <= hi + slack, (p, q, t, y)


def test_ball_pow_on_a_ball_reaching_zero():
    # x^(p/q) on [0, 1]: [0, 1] for p > 0, unbounded (NaN, never a finite ball) for p < 0; the ball
    # from interval() (arb(0.5, 0.5) dips below 0 by its radius' rounding: NaN for any p)
    x = interval(arb(0), arb(1))
    assert x.lower() == 0
    for p, q in ((1, 3), (2, 3), (1, 2)):
        y = ball_pow(x, p, q)
        assert not y.is_nan() and y.contains(0) and y.contains(1)
    for p, q in ((-1, 3), (-1, 2)):
        assert ball_pow(x, p, q).is_nan()


@pytest.mark.parametrize("n, seed", [(1, 0), (2, 1), (5, 2), (12, 3), (30, 4)])
@pytest.mark.parametrize("prec", [53, 106])
def test_eigenvalue_enclosures_contain_60_digit_values(n, seed, prec):
    rng = np.random.default_rng(seed)
    a = _sym(rng, n)
    ev = certified_eigenvalues(a, prec)
    with mpmath.workdps(60):
        ref = sorted(mpmath.eigsy(mpmath.matrix(a.tolist()), eigvals_only=True), reverse=True)
    assert all(_contains(b, r) for b, r in zip(ev, ref))
    width = max(float(b.rad()) for b in ev) / max(1.0, float(np.abs(a).max()))
    assert width < (1e-8 if prec == 53 else 1e-24)


@pytest.mark.parametrize("n, seed", [(2, 1), (12, 3), (40, 5)])
@pytest.mark.parametrize("prec", [120, 260])
def test_kato_temple_enclosures_contain_high_precision_values_and_are_narrower(n, seed, prec):
    """The quadratic (Kato-Temple) enclosures hold the eigenvalues computed at 150 digits, and are
    about the square of the first-order width: ~2^-prec relative where the first-order
    enclosures of the same vectors are ~2^-(prec/2)."""
    from flowcert.numerics._certify import _eig_arb, _eig_arb_quadratic
    rng = np.random.default_rng(seed)
    a = _sym(rng, n)
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        A = flint.arb_mat(a.tolist())
        quick = _eig_arb_quadratic(A)
        first = _eig_arb(A)
    finally:
        flint.ctx.prec = old
    with mpmath.workdps(150):
        ref = sorted(mpmath.eigsy(mpmath.matrix(a.tolist()), eigvals_only=True), reverse=True)
    assert quick is not None and all(_contains(b, r) for b, r in zip(quick, ref))
    scale = max(1.0, float(np.abs(a).max()))
    # the eps^2 / gap term: prec - 20 bits for the small gaps of a random 40 x 40 matrix
    assert max(float(b.rad()) for b in quick) / scale < 2.0 ** -(prec - 20)
    assert all(q.overlaps(f) for q, f in zip(quick, first))


def test_kato_temple_declines_a_cluster():
    """An eigenvalue that float64 cannot isolate (a double one) has no quadratic enclosure: the
    caller keeps the first-order one."""
    from flowcert.numerics._certify import _eig_arb_quadratic
    a = np.diag([3.0, 1.0, 1.0, -2.0])
    with mpmath.workdps(40):
        assert _eig_arb_quadratic(flint.arb_mat(a.tolist())) is None


def test_multiple_and_zero_eigenvalues():
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    a = q @ np.diag([2.0, 2.0, 2.0, -1.0]) @ q.T
    a = (a + a.T) / 2   # a float matrix near one with a triple eigenvalue: clusters need no care
    ev = certified_eigenvalues(a)
    with mpmath.workdps(60):
        ref = sorted(mpmath.eigsy(mpmath.matrix(a.tolist()), eigvals_only=True), reverse=True)
    assert all(_contains(b, r) for b, r in zip(ev, ref))
    z = certified_eigenvalues(np.zeros((3, 3)))
    assert all(x.is_exact() and x.is_zero() for x in z)   # exactly zero, not [0 +- eps]


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (1, 5)])
def test_singular_value_enclosures(shape):
    rng = np.random.default_rng(11)
    a = rng.standard_normal(shape)
    for prec in (53, 106):
        with workprec(prec):
            ball = FloatBall(a, arb(0)) if prec == 53 else flint.arb_mat(a.tolist())
            sv = singular_values(ball)
        with mpmath.workdps(60):
            ref = sorted(mpmath.svd_r(mpmath.matrix(a.tolist()), compute_uv=False), reverse=True)
        assert len(sv) == min(shape)
        assert all(_contains(b, r) for b, r in zip(sv, ref))


def test_float_ball_products_enclose_exact_rational_products():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((6, 40)), rng.standard_normal((40, 5)) * 1e-3
    ab = FloatBall(a, arb(0)) @ FloatBall(b, arb(0))
    c = (FloatBall(a, arb(0)).scale(sp.Rational(1, 3)) @ FloatBall(b, arb(0))).kron(FloatBall(b[:2, :2], arb(0)))
    exact = _fq(a) * _fq(b)
    exact_c = _kron_q(exact * fmpq(1, 3), _fq(b[:2, :2]))
    for ball, ex in ((ab, exact), (c, exact_c)):
        diff = ex - _fq(ball.mid)
        fro2 = sum(x * x for x in diff.entries())
        assert arb(fro2).sqrt() <= ball.rad   # the exact matrix is inside the ball


def _fro_q(exact, mid):
    """||exact - mid||_F as an arb (exact rational arithmetic, one outward-rounded square root)."""
    diff = exact - _fq(mid)
    return arb(sum(x * x for x in diff.entries())).sqrt()


def test_float_ball_scaled_by_a_float_holds_the_rounding():
    # a binary float scalar has no error of its own: the ball's radius is then the product's
    # rounding alone, and the exact scaled matrix must still lie inside
    a = np.random.default_rng(5).standard_normal((3, 4))
    ball = FloatBall(a, arb(0)).scale(0.1)
    exact = _fq(a) * fmpq(*(0.1).as_integer_ratio())
    assert _fro_q(exact, ball.mid) > 0       # the product did round
    assert _fro_q(exact, ball.mid).upper() <= ball.rad


def test_float_ball_products_of_tiny_entries_are_enclosed_and_narrow():
    # entries of 2^-530: their products fall below 2^-1022, rounded to multiples of eta = 2^-1074
    # (gradual underflow), an error no relative bound covers. The ball adds k eta per entry
    # (Frobenius: k eta sqrt(m n)) to gamma_k ||A|| ||B||; twice that bounds its radius (arb's own
    # upward roundings are relative 2^-53 each).
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((4, 6)) * 2.0 ** -530, rng.standard_normal((6, 3)) * 2.0 ** -530
    ab = FloatBall(a, arb(0)) @ FloatBall(b, arb(0))
    err = _fro_q(_fq(a) * _fq(b), ab.mid)
    assert err > 0 and err.upper() <= ab.rad
    k, eta = 6, arb(2) ** -1074
    gamma = arb(k) * arb(2) ** -53 / (1 - arb(k) * arb(2) ** -53)
    bound = gamma * _fro_q(_fq(a), np.zeros_like(a)) * _fro_q(_fq(b), np.zeros_like(b)) + k * eta * arb(12).sqrt()
    assert ab.rad <= 2 * bound


def test_negative_ends_print_rounded_outwards():
    from flowcert.numerics._certify import _fmt_end
    assert _fmt_end(arb(-1.5), 10, -1) == "-1.5" and _fmt_end(arb(-1.5), 10, 1) == "-1.5"
    third = arb(-1) / 3
    lo, hi = ends(third)
    assert _fmt_end(lo, 5, -1) == "-0.33334" and _fmt_end(hi, 5, 1) == "-0.33333"


def test_an_infinite_entry_beyond_float_range_gives_no_spectrum():
    # a finite entry past float64 takes the rescaled route; an infinite one there has no spectrum
    from flowcert.numerics._certify import _eig_arb
    big = arb(2) ** 2000
    assert all(x.is_nan() for x in _eig_arb(flint.arb_mat([[big, 0], [0, arb("inf")]])))
    finite = _eig_arb(flint.arb_mat([[big, 0], [0, 1]]))
    assert finite[0].overlaps(big) and finite[1].overlaps(arb(1))


def _kron_q(a, b):
    r1, c1, r2, c2 = a.nrows(), a.ncols(), b.nrows(), b.ncols()
    out = fmpq_mat(r1 * r2, c1 * c2)
    for i in range(r1):
        for j in range(c1):
            for k in range(r2):
                for l in range(c2):
                    out[i * r2 + k, j * c2 + l] = a[i, j] * b[k, l]
    return out


def test_compile_scalar_keeps_rationals_exact():
    x, y = sp.symbols("x y", real=True)
    f = compile_scalar(sp.Rational(1, 3) * x + sp.sqrt(y ** 2 + 1) - sp.Max(x, y, 0) + sp.Min(x, 2) ** 2, [x, y])
    v = f(arb(1), arb(2))
    with mpmath.workdps(40):
        ref = mpmath.mpf(1) / 3 + mpmath.sqrt(5) - 2 + 1
    assert _contains(v, ref)
    with workprec(200):
        v = f(arb(1), arb(2))
    assert float(v.rad()) < 1e-55


def _weights(rng, shape, scale=1.0):
    return [rng.standard_normal((shape[i], shape[i + 1])) * scale for i in range(len(shape) - 1)]


@pytest.mark.parametrize("bound, shape, target", [
    (lambda: th.delta_two_layer(), (3, 4, 2), False),
    (lambda: th.alpha2(), (2, 3, 2), True),
    (lambda: th.lemma3_rhs(), (3, 3, 3), False),
    (lambda: th.delta_star(), (2, 4, 3, 1), False),
    (lambda: th.g_three_layer(), (2, 3, 3, 2), False),
    (lambda: th.lambda_min_T(2), (2, 3, 2), False),
    (lambda: th.theorem3_homogeneous(3, 1), (2, 2, 2, 2), False),
])
def test_bound_enclosures_contain_the_50_digit_value(bound, shape, target):
    rng = np.random.default_rng(sum(shape))
    b = bound()
    ws = _weights(rng, shape)
    vals = dict(zip(b.network.weights, ws))
    if target:
        vals[b.network.target] = rng.standard_normal((shape[0], shape[-1])) * 3
    with workdps(50):
        ref = Evaluator(vals).bound(b)
    for prec in (53, 106):
        x = CertifiedEvaluator(vals, prec).bound(b)
        assert _contains(x, ref), (prec, fmt_ball(x), ref)
    # and a route that shares no formula with theory/: tests/reference.py's numpy implementation,
    # within its own float64 rounding (eigen-solves of O(1) matrices: a few 1e-15 relative)
    independent = {"delta-star": lambda: reference.delta_star(*ws), "lambda-min-T": lambda: reference.lambda_min_T(ws)}
    if b.name in independent:
        x = CertifiedEvaluator(vals, 106).bound(b)
        r = float(independent[b.name]())
        assert abs(float(x.mid()) - r) <= 1e-12 * (1 + abs(r)) + float(x.rad()), (b.name, fmt_ball(x), r)


def test_escalation_decides_an_exactly_zero_bound():
    # balanced scalar weights: D = w1^2 - w2^2 = 0 exactly. At 53 bits the ball straddles 0 (the
    # squares are rounded); at 106 bits the products are exact and Delta > 0 is *disproved*.
    net = th.LinearNetwork(2)
    vals = {net.weights[0]: np.array([[0.7]]), net.weights[1]: np.array([[0.7]])}
    c = certify_bound(th.delta_two_layer(), vals, ">", 0)
    assert c.holds is False and c.prec == 106 and [a[0] for a in c.attempts] == [53, 106]
    c = certify_bound(th.delta_two_layer(), vals, ">=", 0)
    assert c.holds is True


def test_certify_bound_defaults_to_positive():
    """``certify_bound(bound, values)`` decides bound > 0: Delta = 3/4 (w1 = 1, w2 = 1/2) holds,
    the balanced Delta = 0 does not."""
    net = th.LinearNetwork(2)
    w = lambda a, b: {net.weights[0]: np.array([[a]]), net.weights[1]: np.array([[b]])}
    c = certify_bound(th.delta_two_layer(), w(1.0, 0.5))
    assert c.holds is True and (c.relation, c.rhs) == (">", 0)
    assert certify_bound(th.delta_two_layer(), w(0.5, 0.5)).holds is False


def test_frobenius_bounds_hold_the_exact_norm_of_long_vectors():
    """_fro_lo <= ||X||_F <= _fro_up with ||X||_F^2 summed exactly (Fractions), on 4000-entry vectors
    of mixed magnitudes, where numpy's float sum of squares is off by several units of u."""
    from flowcert.numerics._certify import _fro_lo, _fro_up
    from flowcert.numerics._validated import workprec
    for seed in range(8):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=4000) * rng.choice([1.0, 1e-3, 1e3], size=4000)
        ex = sum(Fraction(x) ** 2 for x in X)
        lo, hi = _fro_lo(X), _fro_up(X)
        with workprec(400):   # the squares of the bounds' ends exactly enough to compare with ex
            exact = arb(fmpq(ex.numerator, ex.denominator))
            assert lo.upper() ** 2 <= exact <= hi.lower() ** 2, seed


def test_interval_keeps_the_sign_of_its_ends():
    """[lo, 0] and [0, hi]: Arb's union is a ball about the midpoint whose rounded radius crosses 0;
    interval() keeps it certainly <= 0 (>= 0) while holding both ends."""
    from flowcert.numerics._certify import interval
    for a in (arb(-1), arb(fmpq(-1, 3)), arb(fmpq(-7, 5))):
        neg, pos = interval(a, arb(0)), interval(arb(0), -a)
        assert not (a.union(arb(0)) <= 0)   # the plain union does not know its sign
        assert neg <= 0 and pos >= 0
        assert neg.contains(a) and neg.contains(0) and pos.contains(-a) and pos.contains(0)


def test_lower_and_upper_are_the_nearest_floats_outside():
    """upper(x): the smallest float >= the ball's upper end; lower(x): the largest float <= its lower
    end, on balls whose ends are not floats (they round either way to nearest)."""
    import math
    from flowcert.numerics._certify import exact_ball, lower, upper
    from flowcert.numerics._validated import workprec
    with workprec(200):   # ends with more bits than a float (at 53 bits they would be floats)
        for k in range(1, 40):
            x = arb(fmpq(k, 3 * k + 1)) + arb(0, 2.0 ** -80)
            hi, lo = upper(x), lower(x)
            assert exact_ball(hi) >= x.upper() and exact_ball(math.nextafter(hi, -math.inf)) < x.upper()
            assert exact_ball(lo) <= x.lower() and exact_ball(math.nextafter(lo, math.inf)) > x.lower()


@pytest.mark.parametrize("relation, true_rhs, false_rhs", [(">", 2, 4), (">=", 3, 4), ("<", 4, 2), ("<=", 3, 2)])
def test_every_relation_is_proved_disproved_or_undecided(relation, true_rhs, false_rhs):
    x = lambda prec: arb(3)
    assert certify(x, relation, true_rhs).holds is True
    assert certify(x, relation, false_rhs).holds is False
    assert certify(lambda prec: arb(3, 1), relation, 3, precisions=(53,)).holds is None   # [2, 4] straddles 3


def test_exact_ball_of_infinities_and_nan():
    from flowcert.numerics._certify import exact_ball
    assert exact_ball(float("inf")) > 10 ** 300 and exact_ball(float("-inf")) < -10 ** 300
    assert exact_ball(float("nan")).is_nan()


def test_frobenius_of_a_float_ball_holds_its_matrices():
    """A ball of radius 1 about a matrix of norm sqrt(2): its Frobenius norms fill [sqrt(2) - 1,
    sqrt(2) + 1], and the enclosure must hold both ends (the nearest and farthest matrices)."""
    from flowcert.numerics._certify import FloatBall, frobenius
    mid = np.eye(2)
    enc = frobenius(FloatBall(mid, arb(1)))
    for norm in (arb(2).sqrt() - 1, arb(2).sqrt(), arb(2).sqrt() + 1):
        assert enc.contains(norm)


def test_undecided_at_the_cap_is_not_false():
    c = certify(lambda prec: arb(2).sqrt() ** 2 - 2, ">", 0, precisions=(53, 106))
    assert c.holds is None and not c.certified and c.prec == 106
    assert c.to_json()["certified"] is False


def test_planted_wrong_bound_is_refuted_not_certified():
    # lambda_min(T) >= Delta (Theorem 1): a planted "bound" 2 lambda_min(T) + 1 exceeds it
    rng = np.random.default_rng(5)
    b = th.lambda_min_T(2)
    net = b.network
    vals = dict(zip(net.weights, _weights(rng, (2, 3, 2))))
    ev = CertifiedEvaluator(vals)
    lam = ev.bound(b)
    c = certify(lambda prec: CertifiedEvaluator(vals, prec).bound(b) - (2 * lam + 1), ">=", 0)
    assert c.holds is False


def test_certificate_json_and_interval_text():
    c = certify(lambda prec: arb(1) / 3, ">", 0)
    j = c.to_json()
    assert j["certified"] is True and j["bits"] == 53
    lo, hi = (Fraction(x) for x in j["enclosure"])
    assert lo <= Fraction(1, 3) <= hi
    lo, hi = ends(c.enclosure)
    assert lo <= arb(fmpq(1, 3)) and fmt_ball(c.enclosure, 5).startswith("[0.33333")


@pytest.mark.parametrize("seed", range(3))
def test_enclosures_overlap_flint_rigorous_eig(seed):
    # an independent certified method: FLINT's acb_mat.eig (van der Hoeven-Mourrain) on the same
    # exact matrix; both enclose the true eigenvalues, so the balls must overlap pairwise
    rng = np.random.default_rng(100 + seed)
    a = _sym(rng, 6)
    with workprec(106):
        ref = sorted((z.real for z in flint.acb_mat(flint.arb_mat(a.tolist())).eig()), key=lambda x: float(x.mid()),
                     reverse=True)
        for prec in (53, 106):
            ev = certified_eigenvalues(a, prec)
            assert all(x.overlaps(r) for x, r in zip(ev, ref))


def test_float_ball_difference_holds_the_exact_difference():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    d = FloatBall(a, arb(0)) - FloatBall(b, arb(0))
    exact = [[Fraction(x) - Fraction(y) for x, y in zip(r, s)] for r, s in zip(a.tolist(), b.tolist())]
    err = sum((Fraction(m) - e) ** 2 for rm, re in zip(d.mid.tolist(), exact) for m, e in zip(rm, re))
    assert arb(fmpq(err.numerator, err.denominator)).sqrt() <= d.rad   # the rounding of a - b is inside
    assert np.allclose(d.mid, a - b, rtol=0, atol=0)
