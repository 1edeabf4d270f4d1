"""Validated integration (``numerics.certify_flow``): enclosures hold independent 50-digit solutions
on drawn problems; a wrong candidate, a too-narrow a-priori tube and a blow-up never certify; plain
interval boxes lose the enclosure where the logarithmic-norm ball keeps it; the min2023 envelope
claims and ``flowcert flow --certify`` report certified results that a wrong bound cannot get."""
from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from flowcert import theory as th
from flowcert.checks.cli import main
from flowcert.numerics import certify_flow, solve
from flowcert.numerics import _validated as V

flint = pytest.importorskip("flint")
NET2 = th.LinearNetwork(2)


def _problem(seed, shape=(3, 3, 3), scale=0.5):
    rng = np.random.default_rng(seed)
    n, h, m = shape
    ws = [rng.normal(size=(n, h)) * scale, rng.normal(size=(h, m)) * scale]
    return dict(zip(NET2.weights, ws)), rng.normal(size=(n, m))


def _reference(y0, Y, t, dps=50):
    return solve(NET2.flow, y0, t, params={NET2.target: Y}, dps=dps).final


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10 ** 6), shape=st.tuples(*[st.integers(1, 3)] * 3),
       t_end=st.sampled_from([Fraction(1, 4), Fraction(1), Fraction(3, 2)]))
def test_enclosure_holds_an_independent_50_digit_solution(seed, shape, t_end):
    y0, Y = _problem(seed, shape)
    enc = certify_flow(NET2.flow, y0, t_end, params={NET2.target: Y}, digits=20)
    assert enc.certified, enc.reason
    assert enc.contains(_reference(y0, Y, t_end))
    mid = t_end * Fraction(3, 7)   # inside a step, not at its end: the step enclosure must hold it
    assert enc.contains(_reference(y0, Y, mid), t=mid)
    # 20 digits asked: every step's error ~1e-20 relative, a few dozen steps
    assert enc.width() < 1e-16


def test_enclosure_of_a_linear_field_holds_the_exponential():
    A = sp.MatrixSymbol("A", 2, 2)
    M = sp.MatrixSymbol("M", 2, 2)
    Mv = np.array([[-1.0, 2.0], [0.5, -3.0]])
    enc = certify_flow({A: M * A}, {A: np.eye(2)}, 2, params={M: Mv}, digits=30)
    expm = flint.arb_mat(Mv.tolist()) * flint.arb(2)
    with V.workprec(enc.bits):
        exact = expm.exp()
        for i in range(2):
            for j in range(2):
                assert enc.final[A][i, j].overlaps(exact[i, j])
                assert enc.final[A][i, j].contains(exact[i, j].mid()) or exact[i, j].rad() > 0


def test_plain_boxes_lose_the_enclosure_where_the_ball_keeps_it():
    """The wrapping effect: interval boxes grow at the rate of |Df| and stop early; the ball
    grows at the flow's own rate and reaches T with 30 digits nearly intact."""
    y0, Y = _problem(1)
    ball = certify_flow(NET2.flow, y0, 5, params={NET2.target: Y}, digits=30)
    box = certify_flow(NET2.flow, y0, 5, params={NET2.target: Y}, digits=30, wrapping="box")
    assert ball.certified and ball.width() < 1e-25
    assert not box.certified and box.t_certified < 2 and "uncertified past t" in box.reason
    # at a common time the box is far wider than the ball
    t = min(box.t_certified, Fraction(1, 2))
    wb = max(float(x.rad()) for m in box.at(t) for x in m.entries()) if t < box.t_certified else box.width() / 2
    wl = max(float(x.rad()) for m in ball.at(t) for x in m.entries())
    assert wb > 1e6 * wl


def test_a_wrong_candidate_is_caught_by_its_defect(monkeypatch):
    """Perturb the Taylor candidate (as if the series came from another field): the exact defect
    sees it; the result is uncertified at the default radius, and wide but still true at a large one."""
    y0, Y = _problem(2)
    real = V._Runner._ball_step

    def wrong(self, centre, z, radius, h):
        z = [[c * (1 + 1e-6) if k == 1 else c for k, c in enumerate(zv)] for zv in z]
        return real(self, centre, z, radius, h)

    monkeypatch.setattr(V._Runner, "_ball_step", wrong)
    enc = certify_flow(NET2.flow, y0, 1, params={NET2.target: Y}, digits=20)
    assert not enc.certified and enc.t_certified == 0 and "uncertified past t = 0" in enc.reason
    wide = certify_flow(NET2.flow, y0, 1, params={NET2.target: Y}, digits=20, max_radius=1.0)
    assert wide.certified and wide.width() > 1e-9
    assert wide.contains(_reference(y0, Y, 1))


def test_a_too_narrow_a_priori_tube_never_certifies(monkeypatch):
    y0, Y = _problem(3)
    monkeypatch.setattr(V, "_TUBE_FACTOR", 1e-3)
    monkeypatch.setattr(V, "_TUBE_TRIES", 1)
    enc = certify_flow(NET2.flow, y0, 1, params={NET2.target: Y}, digits=20)
    assert not enc.certified and "no a-priori enclosure at t = 0" in enc.reason


def test_a_blow_up_ends_uncertified_with_the_time_reached():
    A = sp.MatrixSymbol("A", 1, 1)
    enc = certify_flow({A: A * A}, {A: [[1.0]]}, 2, digits=20)   # y = 1 / (1 - t)
    assert not enc.certified
    assert 0.5 < enc.t_certified < 1
    assert f"{float(enc.t_certified):.6g}" in enc.reason or "collapsed" in enc.reason
    # everything before t_certified is still proved
    t = enc.t_certified / 2
    exact = 1 / (1 - t)
    with V.workprec(enc.bits):
        assert enc.at(t)[0][0, 0].contains(flint.arb(flint.fmpq(exact.numerator, exact.denominator)))


def test_path_check_decides_true_false_and_undecided():
    A = sp.MatrixSymbol("A", 1, 1)
    enc = certify_flow({A: -A}, {A: [[1.0]]}, 1, digits=20)   # y = e^-t in [e^-1, 1]
    val = (lambda b: b[A][0, 0])
    assert enc.check(val, ">=", "0.36").holds is True
    assert enc.check(val, ">=", "0.5").holds is False
    assert enc.check(val, ">=", flint.arb(1).exp() ** -1, max_depth=3).holds is None   # touches at t = 1


def test_pieces_cover_the_certified_interval_and_hold_the_solution():
    A = sp.MatrixSymbol("A", 1, 1)
    enc = certify_flow({A: -A}, {A: [[1.0]]}, 1, digits=20)   # y = e^-t
    pieces = list(enc.pieces(sub=3))
    assert len(pieces) == 3 * len(enc.steps)
    ends = [(t0, t1) for t0, t1, _ in pieces]
    assert ends[0][0] == 0 and ends[-1][1] == enc.t_certified
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(ends, ends[1:]))
    with V.workprec(enc.bits):
        for t0, t1, boxes in pieces:   # the box of [t0, t1] holds the solution at both ends
            for t in (t0, t1):
                assert boxes[0][0, 0].contains((-flint.arb(flint.fmpq(t.numerator, t.denominator))).exp())


def test_jacobian_is_exact_at_integer_points():
    """The forward-mode Jacobian that bounds the flow's logarithmic norm, at integer points where
    every entry is an integer: against SymPy's derivatives of the field's explicit entries (a
    doubled or missing tangent would widen or, on a contracting flow, wrongly narrow the tube)."""
    from flowcert.numerics._integrate import _Program
    A, M, N = sp.MatrixSymbol("A", 2, 3), sp.MatrixSymbol("M", 2, 2), sp.MatrixSymbol("N", 3, 3)
    field = M * A + A * N + A * A.T * A
    rng = np.random.default_rng(0)
    m, n, a = (rng.integers(-3, 4, sh) for sh in ((2, 2), (3, 3), (2, 3)))
    prog = _Program([field], [A], [M, N], {})
    with V.workprec(64):
        mats = {M: flint.arb_mat(m.tolist()), N: flint.arb_mat(n.tolist())}
        vals = V._run_program(prog, [(2, 3)], V._MatOps(mats), [flint.arb_mat(a.tolist())], {})
        J = V._jacobian(prog, [(2, 3)], vals, {})
    x = sp.Matrix(2, 3, sp.symbols("x0:6"))
    F = (sp.Matrix(m) * x + x * sp.Matrix(n) + x * x.T * x).reshape(6, 1)   # row-major, as the states
    ref = F.jacobian(list(x)).subs(dict(zip(x, a.ravel().tolist())))
    # unique_fmpz: the integer an exact ball holds (None for a ball with a radius)
    assert [[J[i, j].unique_fmpz() for j in range(6)] for i in range(6)] == ref.tolist()


def test_the_lowest_order_still_encloses():
    # order 2 takes steps of ~10^(-digits/2): a short horizon (~200 steps)
    A = sp.MatrixSymbol("A", 1, 1)
    enc = certify_flow({A: -A}, {A: [[1.0]]}, Fraction(1, 1000), digits=5, order=2)   # y = e^-t
    assert enc.certified and enc.order == 2
    with V.workprec(256):   # e^(-1/1000) far narrower than the enclosure
        assert enc.final[A][0, 0].contains((-flint.arb(flint.fmpq(1, 1000))).exp())


@pytest.mark.parametrize("sub", [1, 2, 3, 8])
def test_every_number_of_pieces_per_step_encloses(sub):
    """The growth rate is taken piece by piece over each step: whatever the number of pieces, they
    must tile the step (a piece left out drops its share of the defect, and at the default order,
    with two long steps, the enclosure then misses e^-1)."""
    A = sp.MatrixSymbol("A", 1, 1)
    enc = certify_flow({A: -A}, {A: [[1.0]]}, 1, digits=12, sub=sub)
    assert enc.certified
    with V.workprec(256):
        assert enc.final[A][0, 0].contains(flint.arb(-1).exp())


@pytest.mark.parametrize("y0, t_end, digits", [(Fraction(1, 3), 20, 5), (Fraction(2, 7), 30, 8)])
def test_a_long_contracting_run_holds_the_exact_solution(y0, t_end, digits):
    """y' = -y from a rational that no float holds, over a long horizon: the radius shrinks with
    the flow (logarithmic norm -1 over each piece's own length) and must still hold y0 e^-t, which
    is within a factor ~1.4 of the edge here."""
    A = sp.MatrixSymbol("A", 1, 1)
    enc = certify_flow({A: -A}, {A: [[y0]]}, t_end, digits=digits)
    assert enc.certified
    with V.workprec(400):
        exact = flint.arb(flint.fmpq(y0.numerator, y0.denominator)) * (-flint.arb(t_end)).exp()
    assert enc.final[A][0, 0].contains(exact)


def test_bad_arguments_say_which():
    A = sp.MatrixSymbol("A", 1, 1)
    for kw, word in (({"digits": 2}, "digits"), ({"wrapping": "ellipse"}, "wrapping"), ({"sub": 0}, "sub"),
                     ({"max_radius": -1.0}, "max_radius")):
        with pytest.raises(ValueError, match=word):
            certify_flow({A: -A}, {A: [[1.0]]}, 1, **kw)
    with pytest.raises(ValueError, match="t_end"):
        certify_flow({A: -A}, {A: [[1.0]]}, -1)


# -- claims and CLI --------------------------------------------------------------------------------

def test_corollary1_envelope_claim_is_certified(tmp_path):
    path = tmp_path / "r.json"
    assert main(["verify", "min2023.cor1.loss-envelope", "min2023.thm1.loss-envelope", "--json", str(path), "-q"]) == 0
    claims = {c["id"]: c for c in json.loads(path.read_text())["claims"]}
    assert claims["min2023.cor1.loss-envelope"]["status"] == "certified"
    assert "differential" not in claims["min2023.cor1.loss-envelope"]["detail"] or \
        "certified" in claims["min2023.cor1.loss-envelope"]["detail"]


def test_a_wrong_bound_is_not_certified(monkeypatch):
    """Ten times Delta*: the differential form fails somewhere (or the envelope itself), so no
    certificate, whatever the float64 comparison says."""
    from flowcert.checks.papers.min2023 import claims as C
    real = C._alphas

    def tenfold(b, vals):
        a, ball = real(b, vals)
        return 10 * a + 1, (lambda prec: None if ball(prec) is None else 10 * ball(prec) + 1)

    monkeypatch.setattr(C, "_alphas", tenfold)
    rng = np.random.default_rng(4)
    ws = [rng.normal(size=(2, 2)) for _ in range(3)]
    Y = ws[0] @ ws[1] @ ws[2] + 0.3 * rng.normal(size=(2, 2))
    v = C._env_delta_star((ws, Y))
    assert not v.certified


@pytest.fixture
def flow_files(tmp_path):
    rng = np.random.default_rng(7)
    np.savez(tmp_path / "w.npz", W1=rng.normal(size=(2, 3)) * 0.6, W2=rng.normal(size=(3, 2)) * 0.6)
    np.save(tmp_path / "y.npy", rng.normal(size=(2, 2)))
    return tmp_path / "w.npz", tmp_path / "y.npy"


def test_flow_certify_json_encloses_a_50_digit_solution(flow_files, capsys):
    w, y = flow_files
    code = main(["flow", "--weights", str(w), "--target", str(y), "--t-end", "3/2", "--certify", "--json", "-q"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["certified"] is True and out["t_certified"] == "1.5"
    data = np.load(w)
    y0 = {NET2.weights[0]: data["W1"], NET2.weights[1]: data["W2"]}
    ref = _reference(y0, np.load(y), Fraction(3, 2))
    import mpmath
    with mpmath.workdps(60):
        for name, sym in (("W1", NET2.weights[0]), ("W2", NET2.weights[1])):
            for i, row in enumerate(out["enclosure"][name]):
                for j, (lo, hi) in enumerate(row):
                    assert mpmath.mpf(lo) <= ref[sym][i, j] <= mpmath.mpf(hi)
    lo, hi = (float(x) for x in out["loss_range"])
    assert 0 <= lo <= hi
    assert out["envelope"]["name"] == "alpha2"


def test_flow_certify_stops_and_says_where(flow_files, capsys):
    w, y = flow_files
    code = main(["flow", "--weights", str(w), "--target", str(y), "--t-end", "2", "--certify", "--dps", "12",
                 "--max-seconds", "1e-9", "-q"])
    text = capsys.readouterr().out
    assert code == 3 and "NOT certified" in text and "time budget" in text


@pytest.mark.parametrize("extra, word", [(["--backend", "numpy"], "--backend"), (["--out", "x.npz"], "--certify"),
                                         (["--dps", "2"], "--dps")])
def test_flow_certify_bad_options_one_line(flow_files, capsys, extra, word):
    w, y = flow_files
    code = main(["flow", "--weights", str(w), "--target", str(y), "--t-end", "1", "--certify", *extra, "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and word in err[0]


from flowcert.checks.papers.chen2022 import claims as CHEN  # noqa: E402


@settings(max_examples=2, deadline=None)
@given(CHEN.starts(kind="generic", max_width=2, max_depth=3, min_d=2, min_io=2, scales=(0.75, 1.0)))
def test_chen2022_closed_form_ball_holds_the_independent_quadrature(ex):
    """Arb's rigorous integration (the certified side) against the Gauss-Legendre sums of
    ``closed_form_mp`` (the evaluated side) at 45 digits: every ball holds the other value."""
    import mpmath
    st_ = CHEN.build(ex)
    ball = CHEN.closed_form_ball(st_, 140)
    mp = CHEN.closed_form_mp(st_, 45)
    for tau in ("1/4", "1", "2"):
        sb, tb, ab, bb = ball(Fraction(tau))
        sm, tm, am, bm = mp(mpmath.mpf(Fraction(tau).numerator) / Fraction(tau).denominator)
        with mpmath.workdps(45):
            for x, y in [(sb, sm), (tb, tm)] + list(zip(ab, am)) + list(zip(bb, bm)):
                assert float(x.rad()) < 1e-30
                assert abs(mpmath.mpf(x.mid().str(45, radius=False)) - y) <= float(x.rad()) + 1e-38


def test_marion2023_hitting_time_ball_holds_the_quadrature_and_a_wrong_field_fails(monkeypatch):
    """The certified hitting time holds the 30-digit quadrature of the derived integrand; doubling
    the jump in the field (a planted wrong field) moves the ball away from it, so no certificate."""
    from flowcert.checks.papers.marion2023 import claims as M
    from flowcert.checks.papers.marion2023 import experiments as E
    dL, dR, jump = Fraction(3, 100), Fraction(7, 100), Fraction(2)
    ball, _ = M.certified_hitting_time(dL, dR, jump)
    quad = E.hitting_time_exact(0.03, 0.07, 2.0, dps=30)
    assert float(ball.rad()) < 1e-25 and abs(quad - float(ball.mid())) < 1e-15
    wrong, _ = M.certified_hitting_time(dL, dR, 2 * jump)
    assert abs(quad - float(wrong.mid())) > 1e-3
    cfg = (4, (1, 2), (0, 2, 1), (50, 150, 250, 350))
    assert M._hit_certified(cfg).certified
    real = M.certified_hitting_time
    monkeypatch.setattr(M, "certified_hitting_time", lambda a, b, j, digits=30: real(a, b, 2 * j, digits))
    assert not M._hit_certified(cfg).holds


def test_chen2022_closed_form_claim_is_certified_and_a_wrong_time_is_not(monkeypatch):
    from flowcert.checks.papers.chen2022 import claims as C
    ex = {"widths": [2, 1, 2], "s": [0.5, 0.25], "a": 0.75, "kind": "generic", "U": [[0, 1], [0, 1]],
          "V": [[0, 1], [0, 1]], "mid": [[1]], "cu": [1, 1], "cv": [1, 1]}
    st_ = C.build(ex)
    ok, why = C._closed_form_certified(st_, 30)
    assert ok, why
    real = C.closed_form_ball

    def late(start, prec):   # the closed form read at a slightly wrong time
        at = real(start, prec)
        return lambda tau: (lambda r: (r[0], r[1] * (1 + 1e-12), r[2], r[3]))(at(tau))

    monkeypatch.setattr(C, "closed_form_ball", late)
    ok, why = C._closed_form_certified(st_, 30)
    assert not ok and "exceeds" in why


def test_straight_line_bound_matches_lambdify():
    """The fallback compiler for wide layers (lambdify's nested source stops compiling near
    h = 800) gives lambdify's value in float64 and the exact rational value at 40 digits."""
    import mpmath
    from flowcert.numerics._spectral import Evaluator, straight_line
    net = th.LinearNetwork(3)
    rng = np.random.default_rng(0)
    ws = [rng.normal(size=(3, 6)), rng.normal(size=(6, 6)), rng.normal(size=(6, 2))]
    ev = Evaluator(dict(zip(net.weights, ws)))
    b = th.delta_star()
    expr, qs = b.instantiate(ev.dims(b.network))
    expr = expr.xreplace({k: sp.sympify(v) for k, v in b.constants.items()})
    syms = list(qs)
    args = [ev.quantity(qs[s]) for s in syms]
    ref = sp.lambdify(syms, expr, modules="math")(*args)
    assert straight_line(expr, syms, False)(*args) == pytest.approx(ref, rel=1e-12, abs=1e-12)
    with mpmath.workdps(40):
        ev = Evaluator(dict(zip(net.weights, ws)))
        args = [ev.quantity(qs[s]) for s in syms]
        # the exact value at the float inputs (a rational): the reference at any precision
        ref = mpmath.mpf(sp.Rational(expr.xreplace({s: sp.Rational(float(a)) for s, a in zip(syms, args)})).p) / \
            int(sp.Rational(expr.xreplace({s: sp.Rational(float(a)) for s, a in zip(syms, args)})).q)
        # the bound is a sum of squares of eigenvalues that may cancel: rounding at 40 digits is
        # relative to their size, not to the (possibly zero) result
        scale = 1 + max(abs(mpmath.mpf(a)) for a in args) ** 2 * len(args)
        assert abs(straight_line(expr, syms, True)(*args) - ref) <= mpmath.mpf(10) ** -36 * scale


def test_the_certified_end_and_a_passed_deadline():
    A = sp.MatrixSymbol("A", 1, 1)
    enc = certify_flow({A: -A}, {A: [[1.0]]}, 1, digits=20)   # y = e^-t
    with V.workprec(enc.bits):
        assert enc.at(enc.t_certified)[0][0, 0].contains((-flint.arb(1)).exp())   # the end itself is in range
    with pytest.raises(ValueError, match="t: expected a time in"):
        enc.at(enc.t_certified + Fraction(1, 10 ** 9))
    import time
    chk = enc.check(lambda b: b[A][0, 0], ">=", "0.36", deadline=time.perf_counter() - 1)   # already past
    assert chk.holds is None and chk.detail == "deadline" and chk.t == 0
