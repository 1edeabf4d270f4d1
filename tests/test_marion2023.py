"""marion2023: the derivations against independent routes, the numerics against exact arithmetic,
the compiled SGD kernel against the interpreted one, planted wrong formulas, and bad input."""
from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from flowcert import theory as th
from flowcert.checks.papers.marion2023 import experiments as E
from flowcert.checks.papers.marion2023 import claims as M
from flowcert.checks.papers.marion2023 import strategies as MS
from flowcert.checks.cli import main
from flowcert.numerics import (DivergenceError, PiecewisePoly, Template, UnitNetwork, cell_projection, have_numba,
                      online_sgd, solve_events)
from flowcert.theory._shallow import t as T, x as X

from .test_additive import TEMPLATES as ADDITIVE_TEMPLATES

SIGMA_F = Template((-0.5, 0.0, 0.5), ((0.0,), (0.5, 3.0, 6.0, 4.0), (0.5, 3.0, -6.0, 4.0), (1.0,)))
EPS = np.finfo(float).eps
needs_numba = pytest.mark.skipif(not have_numba(), reason="numba not installed")


# -- theory -------------------------------------------------------------------------------------
def test_one_unit_is_a_network_and_zero_is_not():
    net = th.ShallowNetwork(1)
    assert len(net.params) == 3   # a_0, a_1, u_1
    with pytest.raises(ValueError, match="m: expected a positive integer, got 0"):
        th.ShallowNetwork(0)


def test_sigma_derived_from_the_code_formula():
    br, co = th.piecewise_polynomial(th.SIGMA, T)
    assert br == (-sp.S.Half, 0, sp.S.Half)
    # 4(t+1/2)^3 and 1 - 4(1/2-t)^3 expanded, written independently here
    assert co[1] == tuple(sp.Poly(4 * (T + sp.S.Half) ** 3, T).all_coeffs()[::-1])
    assert co[2] == tuple(sp.Poly(1 - 4 * (sp.S.Half - T) ** 3, T).all_coeffs()[::-1])
    # the code's min/max formula and the piecewise form agree on a rational grid
    for k in range(-12, 13):
        tt = sp.Rational(k, 16)
        assert th.SIGMA_CODE.subs(T, tt) == th.SIGMA.subs(T, tt)
    # the numerics template used by SGD is the same function
    assert E.template().breaks == (-0.5, 0.0, 0.5)
    assert [list(c) for c in E.template().coef] == [[0.0, 0.0, 0.0, 0.0], [0.5, 3.0, 6.0, 4.0],
                                                   [0.5, 3.0, -6.0, 4.0], [1.0, 0.0, 0.0, 0.0]]


def test_integrate_exact_matches_sympy_on_polynomial_pieces():
    e = (3 * X ** 2 - 1) * sp.Heaviside(X - sp.Rational(1, 3)) + sp.Piecewise((X, X <= sp.Rational(1, 2)), (1 - X, True))
    manual = sp.integrate(3 * X ** 2 - 1, (X, sp.Rational(1, 3), 1)) + sp.integrate(X, (X, 0, sp.Rational(1, 2))) \
        + sp.integrate(1 - X, (X, sp.Rational(1, 2), 1))
    assert th.integrate_exact(e, X, 0, 1) == manual


def test_to_piecewise_is_the_expression_beyond_distant_switch_points():
    """Switch points 0, 2 and 5, farther apart than one: every piece, the last one included, is the
    expression's own branch there."""
    e = sp.Min(sp.Max(X, 0), 2) + sp.Heaviside(X - 5)
    pw = th.to_piecewise(e, X)
    for x in (-10, -1, 0, sp.Rational(1, 2), 2, 3, 4, 6, 10):   # off the Heaviside's own jump at 5
        assert pw.subs(X, x) == e.subs(X, x), x


def test_switch_points_reject_irrational_roots():
    with pytest.raises(ValueError, match="irrational"):
        th.integrate_exact(sp.Max(X ** 2 - 2, 0), X, 0, 2)


def test_step_target_edges_are_the_positions_within_the_unit_interval():
    tg = th.StepTarget((sp.Rational(1, 3), sp.Rational(2, 3)), (1, 2, 3))
    assert tg.edges == (0, sp.Rational(1, 3), sp.Rational(2, 3), 1) and tg.jumps == (1, 1)


def test_step_target_validation():
    with pytest.raises(ValueError, match="target_values"):
        th.StepTarget((sp.Rational(1, 2),), (1, 2, 3))
    with pytest.raises(ValueError, match="increasing"):
        th.StepTarget((sp.Rational(1, 2), sp.Rational(1, 3)), (1, 2, 3))
    with pytest.raises(ValueError, match="jump"):
        th.StepTarget((sp.Rational(1, 2),), (1, 1))
    with pytest.raises(ValueError, match="target"):
        th.StepTarget.named("nope")


def test_cell_limit_printed_rates_hold_along_the_flow():
    """Every printed relation with a time derivative (velocities, gap rate, invariant), with each
    d/dtau replaced by the chain rule along the derived flow: both sides equal; the printed
    excess is provably <= 0. What is printed is what was derived."""
    from flowcert.theory import Chain, Ddt, Listing
    c = th.CellLimit()
    rates = {**c.distance_field, **c.velocities}   # d_L', d_R' and u_L', u_R'
    along = lambda e: e.replace(lambda x: isinstance(x, Ddt),
                                lambda x: sum(sp.diff(x.args[0], v) * r for v, r in rates.items()))
    seen = set()
    for name, shown in c.shown().items():
        for rel in shown.args if isinstance(shown, (Chain, Listing)) else (shown,):
            lhs, rhs = rel.args
            if rel.has(Ddt):
                assert sp.simplify(along(lhs) - rhs) == 0, name
                seen.add(name)
            elif name == "gap-rate":
                assert rhs == 0 and lhs.is_nonpositive, rel
    assert seen == {"velocities", "gap-rate", "invariant"}


def test_cell_limit_printed_cell_loss_is_the_derived_one():
    """The printed integral, with f* the step A + Delta H(x - v), integrated by SymPy at rational
    values: the derived cell loss."""
    c = th.CellLimit()
    lhs, rhs = c.shown()["cell-loss"].args
    x = next(iter(lhs.variables))
    for vals in ({c.dL: sp.Rational(1, 10), c.dR: sp.Rational(3, 10), c.A: 1, c.Delta: 4, c.c: 2, c.v: sp.Rational(1, 2)},
                 {c.dL: sp.Rational(2, 3), c.dR: sp.Rational(1, 7), c.A: -2, c.Delta: -1, c.c: sp.Rational(1, 3), c.v: 0}):
        step = lambda e: (vals[c.A] + vals[c.Delta] * sp.Heaviside(e - vals[c.v]))
        printed = lhs.replace(lambda e: isinstance(e, sp.core.function.AppliedUndef) and e.func.__name__ == "f^{*}",
                              lambda e: step(e.args[0]))
        at = {**vals, c.uL: vals[c.v] - vals[c.dL], c.uR: vals[c.v] + vals[c.dR]}
        # Heaviside as a Piecewise before integrating: SymPy's meijerg route gets H^2 wrong (below)
        assert sp.simplify(printed.subs(at).rewrite(sp.Piecewise).doit() - rhs.subs(vals)) == 0, vals
        assert x.is_Symbol


@pytest.mark.xfail(strict=True, reason="sympy#24274: a definite integral of a squared Heaviside is wrong")
def test_sympy_integrates_a_squared_step():
    x = sp.Symbol("x", real=True)
    step = 1 - 4 * sp.Heaviside(x - sp.Rational(1, 2))
    # 1 on [2/5, 1/2], 9 on [1/2, 4/5]: 1/10 + 27/10
    assert sp.integrate(step ** 2, (x, sp.Rational(2, 5), sp.Rational(4, 5))) == sp.Rational(14, 5)


def test_cell_limit_against_a_direct_minimisation():
    c = th.CellLimit()
    vals = {c.dL: sp.Rational(1, 10), c.dR: sp.Rational(3, 10), c.A: 1, c.Delta: 4}
    # minimise the cell loss over c on a fine rational grid: the optimum is the derived average
    L = sp.lambdify(c.c, c.cell_loss.subs(vals))
    grid = [Fraction(k, 1000) for k in range(1000, 6000)]
    best = min(grid, key=lambda v: L(v))
    assert best == Fraction(4, 1)  # 1 + 4 * 0.3 / 0.4
    # the cell at c = 4: d_L (4 - 1)^2 + d_R (4 - 5)^2 = 0.9 + 0.3
    assert c.reduced_loss.subs(vals) == sp.Rational(12, 10)


def test_planted_wrong_velocity_fails(monkeypatch):
    c = M.CELL
    wrong = {c.uL: (c.dL * c.Delta / (c.dL + c.dR)) ** 2, c.uR: -(c.dR * c.Delta / (c.dL + c.dR)) ** 2}
    monkeypatch.setattr(type(c), "code_velocities", property(lambda self: wrong))
    assert M._limit_formulas(None).holds is False


def test_planted_wrong_activation_fails(monkeypatch):
    monkeypatch.setattr(M, "SIG", th.to_piecewise(sp.Min(sp.Max(T + sp.S.Half, 0), 1), T))  # the old ramp
    assert M._act_values(None).holds is False


# -- numerics -------------------------------------------------------------------------------------
@given(st.lists(st.floats(-2, 2), min_size=2, max_size=4), st.lists(st.floats(-2, 2), min_size=1, max_size=4))
def test_piecewise_product_integral(a, b):
    br = np.array([0.0, 0.3, 1.0])
    p = PiecewisePoly(br, np.array([a, a]))
    q = PiecewisePoly(br, np.array([b, b]))
    want = 0.0
    for lo, hi in zip(br[:-1], br[1:]):
        prod = np.polynomial.Polynomial(a) * np.polynomial.Polynomial(b)
        want += prod.integ()(hi - lo) - prod.integ()(0)
    assert abs((p * q).integral() - want) <= 1e-12 * (1 + abs(want) + np.abs(a).sum() * np.abs(b).sum())
    # a sum of polynomials of different degrees, either way round: the shorter one padded
    for x, y in ((p, q), (q, p)):
        assert abs((x + y).integral() - (p.integral() + q.integral())) <= 1e-12 * (1 + np.abs(a).sum() + np.abs(b).sum())


@given(MS.limit_configs(max_jumps=2))
def test_unit_network_gradient_matches_finite_differences(cfg):
    pos, vals, u = M.rationals(cfg)
    pos, vals, u = [float(v) for v in pos], [float(v) for v in vals], np.array([float(v) for v in u])
    rng = np.random.default_rng(len(u))
    a = rng.normal(size=len(u) + 1)
    N = UnitNetwork(SIGMA_F, 0.05)
    ga, gu = N.gradient(a, u, pos, vals)
    h = 1e-6
    for j in range(len(u)):
        up, dn = u.copy(), u.copy()
        up[j] += h
        dn[j] -= h
        fd = (N.loss(a, up, pos, vals) - N.loss(a, dn, pos, vals)) / (2 * h)
        # central differences of a C^1 piecewise polynomial: O(h) near a kink of sigma'', rounding 1e-16/h
        assert abs(fd - gu[j]) <= 1e-4 * (1 + abs(gu[j]))
    e = np.zeros_like(a)
    e[0] = h
    assert abs((N.loss(a + e, u, pos, vals) - N.loss(a - e, u, pos, vals)) / (2 * h) - ga[0]) <= 1e-6 * (1 + abs(ga[0]))


def test_planted_wrong_derivative_is_caught():
    wrong = Template((-0.5, 0.0, 0.5), ((0.0,), (0.5, 3.0, 6.0, 4.0), (0.5, 3.0, -6.0, 3.0), (1.0,)))
    N, Nw = UnitNetwork(SIGMA_F, 0.1), UnitNetwork(wrong, 0.1)
    a, u = np.array([0.5, 2.0, -1.0]), np.array([0.3, 0.7])
    ga, gu = Nw.gradient(a, u, [1 / 3], [1.0, 3.0])
    h = 1e-6
    fd = (Nw.loss(a, u + [h, 0], [1 / 3], [1.0, 3.0]) - Nw.loss(a, u - [h, 0], [1 / 3], [1.0, 3.0])) / (2 * h)
    assert abs(fd - gu[0]) > 1e-3  # the wrong template is discontinuous: its derivative is not the gradient
    assert N.loss(a, u, [1 / 3], [1.0, 3.0]) != Nw.loss(a, u, [1 / 3], [1.0, 3.0])


def test_cell_projection_is_the_l2_projection():
    u = np.array([0.25, 0.5])
    avg, loss = cell_projection(u, [1 / 3], [1.0, 3.0])
    assert np.allclose(avg, [1.0, 1 + 2 * (0.5 - 1 / 3) / 0.25, 3.0])
    assert abs(loss - 4 * (1 / 12) * (1 / 6) / 0.25) < 1e-15


def test_optimal_weights_solve_the_normal_equations():
    N = UnitNetwork(SIGMA_F, 0.05)
    u, pos, vals = np.array([0.2, 0.45, 0.6, 0.9]), [0.5], [1.0, 2.0]
    a = N.optimal_weights(u, pos, vals)
    ga, _ = N.gradient(a, u, pos, vals)
    assert np.abs(ga).max() < 1e-10


def test_events_exact_hitting_and_freeze():
    # y1' = -1 from 1 (hits 0 at t = 1, then frozen), y2' = -2 from 3 (hits at 1.5)
    frozen = [False, False]

    def rhs(_t, y):
        return np.array([0.0 if frozen[0] else -1.0, 0.0 if frozen[1] else -2.0])

    def on(i, _t, y):
        frozen[i] = True
        y[i] = 0.0
        return y
    sol = solve_events(rhs, [1.0, 3.0], 2.0, [lambda t, y: y[0], lambda t, y: y[1]], on, t_eval=[0, 0.5, 1.2, 2.0])
    assert [i for _, i in sol.events] == [0, 1]
    assert abs(sol.events[0][0] - 1.0) < 1e-12 and abs(sol.events[1][0] - 1.5) < 1e-12
    assert np.allclose(sol.y, [[1, 3], [0.5, 2], [0, 0.6], [0, 0]], atol=1e-12)


# -- SGD kernel -----------------------------------------------------------------------------------
def _sgd(backend, rng, steps=3000, u_grad="uniform", lr=1e-2, ratio=0.5):
    u0 = np.sort(np.random.RandomState(7).rand(6))
    return online_sgd(np.zeros(7), u0, template=SIGMA_F, width=0.05, positions=[0.3, 0.6], values=[1.0, 3.0, -1.0],
                      lr=lr, ratio=ratio, steps=steps, rng=rng, u_grad=u_grad, backend=backend, record=[0, 1000, 3000])


@needs_numba
@pytest.mark.parametrize("u_grad", ["uniform", "exact"])
def test_compiled_kernel_is_bit_identical_to_the_interpreted_one(u_grad):
    r1, r2 = np.random.RandomState(3), np.random.RandomState(3)
    a, b = _sgd("numba", r1, u_grad=u_grad), _sgd("python", r2, u_grad=u_grad)
    assert np.array_equal(a.a, b.a) and np.array_equal(a.u, b.u)
    assert all(np.array_equal(x, y) for x, y in zip(a.u_rec, b.u_rec))
    assert r1.random_sample() == r2.random_sample()  # both left the stream in the same place


def test_in_kernel_stream_is_numpys():
    # the kernel's own MT19937 against numpy's uniforms fed through the block path
    u0 = np.sort(np.random.RandomState(7).rand(6))
    kw = dict(template=SIGMA_F, width=0.05, positions=[0.3, 0.6], values=[1.0, 3.0, -1.0], lr=1e-2, ratio=0.5,
              steps=500, backend="python")

    class Feed:  # not an MT19937 object: drawn from in blocks of .random
        def __init__(self, seed):
            self.rs = np.random.RandomState(seed)

        def random(self, n):
            return self.rs.random_sample(n)
    rs = np.random.RandomState(11)
    a = online_sgd(np.zeros(7), u0, rng=rs, **kw)
    b = online_sgd(np.zeros(7), u0, rng=Feed(11), **kw)
    assert np.array_equal(a.a, b.a) and np.array_equal(a.u, b.u)
    assert rs.random_sample() == np.random.RandomState(11).random_sample(1001)[-1]
    g = np.random.Generator(np.random.MT19937(5))  # a Generator over MT19937: same conversion
    online_sgd(np.zeros(7), u0, rng=g, **kw)
    assert g.random() == np.random.Generator(np.random.MT19937(5)).random(1001)[-1]


# ReLU and a template with quadratic unbounded pieces: neither is constant outside its breaks, so
# every unit takes the kernel's in-window path with its piece search (the smooth step rarely does)
NOT_FLAT = {"relu": Template((0.0,), ((0.0,), (0.0, 1.0))), "quadratic-tails": ADDITIVE_TEMPLATES["general"]}


def _abs_poly(template, t):
    """``sum_i |c_i| |t|^i`` on t's piece: bounds |p(t)| and scales Horner's rounding error."""
    tb, tc = template.arrays()
    k = np.searchsorted(tb, t, side="left")
    return sum(abs(c) * abs(t) ** i for i, c in enumerate(tc[k]))


@given(st.sampled_from(sorted(NOT_FLAT)), st.sampled_from(["exact", "uniform"]), st.integers(1, 4),
       st.sampled_from([0.02, 0.1, 0.5]), st.integers(0, 2 ** 32 - 1))
def test_one_step_equals_the_explicit_update_for_templates_not_flat_outside_their_breaks(name, u_grad, m, width,
                                                                                        seed):
    p = NOT_FLAT[name]
    if u_grad == "uniform" and name == "relu":
        return  # no transition interval: refused (test_sgd_bad_input_and_divergence)
    rng = np.random.default_rng(seed)
    a, u = rng.uniform(-3, 3, m + 1), rng.uniform(-0.5, 1.5, m)  # units on both sides of the data
    x, v = rng.random(2)
    lr, ratio, noise = 10 ** rng.uniform(-4, -1), 10 ** rng.uniform(-3, 0), rng.random()
    pos, vals = [0.3, 0.6], [1.0, 3.0, -1.0]
    # the explicit update, evaluated the obvious way with the template's own (vectorised) evaluation
    y = vals[int(np.sum(x > np.array(pos)))] + noise * (2 * v - 1)
    t = (x - u) / width
    s = p(t)
    r = y - a[0] - np.dot(a[1:], s)
    if u_grad == "exact":
        c = p.derivative()(t)
    else:
        klo, khi = p.support
        c = np.where((x >= u + width * klo) & (x <= u + width * khi), 1 / (khi - klo), 0.0)
    want_a = a - lr * (-2 * r) * np.concatenate([[1.0], s])
    want_u = u - lr * ratio * 2 * r * a[1:] * c / width
    # both routes round the same terms in other orders: each value within K eps of its absolute size,
    # K = m + 4 deg + 8 covering the sum of m + 2 terms, Horner on t (two roundings of its own) and the
    # update's few operations; twice that between the two routes
    deg = p.arrays()[1].shape[1] - 1
    K = m + 4 * deg + 8
    st_ = np.array([_abs_poly(p, ti) for ti in t])
    ct = np.array([_abs_poly(p.derivative(), ti) for ti in t]) if u_grad == "exact" else np.abs(c)
    R = abs(y) + abs(a[0]) + np.dot(np.abs(a[1:]), st_)
    tol_a = 2 * K * EPS * (np.abs(a) + 4 * lr * R * np.concatenate([[1.0], st_]))
    tol_u = 2 * K * EPS * (np.abs(u) + 4 * lr * ratio * R * np.abs(a[1:]) * ct / width)
    for backend in ("python", "numba") if have_numba() else ("python",):
        run = online_sgd(a, u, template=p, width=width, positions=pos, values=vals, lr=lr, ratio=ratio, steps=1,
                         rng=M._Given([x, v]), noise=noise, u_grad=u_grad, backend=backend)
        assert np.all(np.abs(run.a - want_a) <= tol_a), (backend, run.a - want_a, tol_a)
        assert np.all(np.abs(run.u - want_u) <= tol_u), (backend, run.u - want_u, tol_u)


def test_sgd_bad_input_and_divergence():
    rs = np.random.RandomState(0)
    with pytest.raises(ValueError, match="width"):
        online_sgd(np.zeros(3), [0.2, 0.5], template=SIGMA_F, width=0.0, positions=[0.4], values=[0, 1], lr=1e-3,
                   ratio=1, steps=1, rng=rs)
    with pytest.raises(ValueError, match="values"):
        online_sgd(np.zeros(3), [0.2, 0.5], template=SIGMA_F, width=0.1, positions=[0.4], values=[0, 1, 2], lr=1e-3,
                   ratio=1, steps=1, rng=rs)
    with pytest.raises(ValueError, match="u_grad"):
        online_sgd(np.zeros(3), [0.2, 0.5], template=SIGMA_F, width=0.1, positions=[0.4], values=[0, 1], lr=1e-3,
                   ratio=1, steps=1, rng=rs, u_grad="nope")
    with pytest.raises(ValueError, match="u_grad: 'uniform' needs a template whose breaks span an interval"):
        online_sgd(np.zeros(2), [0.2], template=NOT_FLAT["relu"], width=0.1, positions=[0.4], values=[0, 1],
                   lr=1e-3, ratio=1, steps=1, rng=rs)
    with pytest.raises(DivergenceError):
        online_sgd(np.zeros(3), [0.2, 0.5], template=SIGMA_F, width=0.1, positions=[0.4], values=[0, 1], lr=50.0,
                   ratio=1, steps=2000, rng=rs, backend="python", block=100)


# -- experiments and CLI ----------------------------------------------------------------------------
@pytest.mark.parametrize("sets, needle", [
    (["target_positions=[0.5, 0.3]"], "target_positions: expected strictly increasing"),
    (["eta=0"], "eta: expected a finite number > 0"),
    (["eta=-1e-3"], "eta: expected a finite number > 0"),
    (["target_values=[1, 2]"], "target_values: expected 6 values"),
    (["target_positions=[0.3]", "target_values=[1, 2, 3]"], "target_values: expected 2 values"),
    (["target=nope"], "target: expected one of"),
    (["gradient=nope"], "gradient: expected one of"),
    (["init_positions=[0.9, 0.1]", "neurons=2"], "init_positions: expected sorted"),
    (["m=2"], "--set m: this key is now called neurons"),
    (["h=0"], "h: expected a finite number > 0"),
    (["target_values=[1, 1, 1, 3, 1, 5]"], "jump"),
])
def test_reproduce_bad_input_exits_2(tmp_path, capsys, sets, needle):
    argv = ["reproduce", "marion2023", "--out", str(tmp_path)]
    for s_ in sets:
        argv += ["--set", s_]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_too_few_neurons_per_piece_exits_2(tmp_path, capsys):
    u = [0.05, 0.1, 0.5, 0.6]  # no neuron in (0.2, 0.35)
    argv = ["reproduce", "marion2023", "--out", str(tmp_path), "--set", "neurons=4", "--set", f"init_positions={u}",
            "--set", "h=1e-3"]
    assert main(argv) == 2
    assert "at least two per piece" in capsys.readouterr().err


@needs_numba
def test_reproduce_quick_config_and_another_target(tmp_path, capsys):
    out = tmp_path / "q"
    assert main(["reproduce", "marion2023", "--out", str(out), "--set", "h=1e-3", "--json", str(tmp_path / "r.json")]) == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["steps_P"] == 1_750_000 and r["uncovered_discontinuities"] == []
    assert 0.008 < r["final_loss"] < 0.012  # reference 0.009 (brief section 7.2)
    assert len(r["loss_curve"]["loss"]) == 101 and len(r["limit_loss_curve"]["loss"]) == 101
    assert abs(r["loss_curve"]["loss"][0] - 10.6) < 1e-12
    assert (out / "iterate.png").stat().st_size > 10_000 and (out / "loss.png").stat().st_size > 10_000
    # a custom target: two jumps; the horizon comes from the limit's own hitting time
    out2 = tmp_path / "c"
    assert main(["reproduce", "marion2023", "--out", str(out2), "--set", "h=1e-3", "--set", "target_positions=[0.3, 0.7]",
                 "--set", "target_values=[0, 3, 1]"]) == 0
    r2 = json.loads((out2 / "marion2023.json").read_text())
    assert r2["target"]["name"] == "custom" and r2["tau_max"] >= r2["limit_converged_by"]
    assert r2["uncovered_discontinuities"] == [] and r2["final_loss"] < 0.02


def test_horizon_covers_the_last_hitting_time():
    rs = np.random.RandomState(42)
    u0 = E.initial_positions(rs, 20)
    pos, vals = E.target_arrays(E.resolve_target("paper-text"))
    last = max(E.limit_hitting_times(u0, pos, vals))
    assert E.HORIZON_FACTOR * last <= E.horizon(u0, pos, vals) < 1.4 * last


# -- claims that must be able to fail ------------------------------------------------------------------
@needs_numba
def test_tracking_claim_fails_outside_the_regime(monkeypatch):
    monkeypatch.setattr(M, "_h_for_profile", lambda: 1e-3)
    real = M._sgd
    monkeypatch.setattr(M, "_sgd", lambda target, h, **kw: real(target, h, eps=0.05))  # eps far from 0
    assert M._tracks("reference-code").holds is False


def test_finite_time_claim_fails_on_a_wrong_bound(monkeypatch):
    ex = (12, (4, 8), (0, 3, 1), (100, 300, 500, 700, 1000, 1100))
    assert M._finite_time(ex).holds is True
    monkeypatch.setattr(M.E, "hitting_time_exact", lambda dL, dR, D, dps=30: 2 * min(dL, dR) / D ** 2)
    assert M._finite_time(ex).holds is False


@needs_numba
def test_verify_marion2023_quick_passes(tmp_path, capsys):
    """The issue's acceptance: `flowcert verify marion2023` passes every claim on the quick profile."""
    path = tmp_path / "report.json"
    code = main(["verify", "marion2023", "--json", str(path)])
    capsys.readouterr()
    report = json.loads(path.read_text())
    failed = [c["id"] + ": " + c["detail"] for c in report["claims"] if c["status"] not in ("pass", "certified")]
    assert code == 0 and not failed, failed
    ids = {c["id"] for c in report["claims"]}
    assert len(ids) == 28 and {"marion2023.sgd.standard-fails", "marion2023.limit.invariant",
                               "marion2023.sgd.step-gradient",
                               "marion2023.sgd.converges-paper-text",
                               "marion2023.appendix-c.2d-coverage"} <= ids
    assert {c["id"] for c in report["claims"] if c["discrepancy"]} == {"marion2023.act.c1-not-c2"}


def test_gradient_claim_regression_large_rationals():
    # found by the standard profile: exact values with large denominators were once "identified" by
    # nsimplify as irrational expressions; exact arithmetic must stay rational end to end
    assert M._gradient((6, (1, 4), (1, 2, -2), (1, 8, 101, 102, 401, 402))).holds is True


def test_piecewise_poly_evaluates_batches_with_the_points_last():
    """A (2, 3) batch of piecewise quadratics at 5 points: shape (2, 3, 5), each entry the piece's
    polynomial in x - (the piece's left break), by numpy's own polynomial evaluation."""
    rng = np.random.default_rng(0)
    br, coef = np.array([0.0, 0.5, 1.0]), rng.normal(size=(2, 3, 2, 3))
    xs = np.array([0.0, 0.2, 0.5, 0.7, 1.0])
    got = PiecewisePoly(br, coef)(xs)
    assert got.shape == (2, 3, 5)
    for i in range(2):
        for j in range(3):
            one = PiecewisePoly(br, coef[i, j])(xs)
            want = [np.polynomial.Polynomial(coef[i, j, k])(x - br[k])
                    for x, k in zip(xs, np.clip(np.searchsorted(br, xs, side="right") - 1, 0, 1))]
            # the same few products and sums in another order: a few units of 1e-16
            assert np.allclose(got[i, j], want, rtol=0, atol=1e-14) and np.allclose(one, want, rtol=0, atol=1e-14)


def test_step_function_is_the_same_for_exact_and_float_inputs():
    """The exact (object) and float64 branches pick each piece's value the same way, a position at a
    piece's midpoint (a mesh not containing it) included: the value past it."""
    from flowcert.numerics._piecewise import step_function
    breaks, pos, vals = [0, 1, 2, 3, 4], [Fraction(1, 2), 2, 3], [10, 20, 30, 40]
    exact = step_function([Fraction(b) for b in breaks], pos, [Fraction(v) for v in vals])
    f64 = step_function([float(b) for b in breaks], [float(p) for p in pos], [float(v) for v in vals])
    assert exact.coef.dtype == object and f64.coef.dtype == float
    assert [float(c) for c in exact.coef[:, 0]] == f64.coef[:, 0].tolist() == [20, 20, 30, 40]


def test_library_entry_points_validate_their_arguments():
    """Errors name the argument (ValueError/TypeError), instead of a wrong answer or an
    AttributeError deep inside."""
    import numpy as np
    from flowcert.numerics import eigenvalues, sample_weights, singular_values
    from flowcert.numerics._piecewise import step_function
    with pytest.raises(ValueError, match="positions: expected strictly increasing"):
        step_function([0, 0.5, 1], [0.7, 0.3], [0, 1, 2])
    with pytest.raises(TypeError, match="rng: expected a numpy.random.Generator"):
        sample_weights("fan_in", (2, 2, 2), rng=42)
    with pytest.raises(ValueError, match="scale: expected a finite positive number"):
        sample_weights("gaussian", (2, 2, 2), np.random.default_rng(0), scale=float("nan"))
    with pytest.raises(ValueError, match="eigenvalues: expected finite entries"):
        eigenvalues([[float("nan")]])
    with pytest.raises(ValueError, match="singular_values: expected a 2-D matrix"):
        singular_values(np.zeros((2, 2, 2)))
    assert singular_values(np.zeros((0, 3))) == []


def test_a_wrong_floor_in_the_experiments_fails_a_claim(monkeypatch):
    """The SGD experiments' floor eta sum Delta^2 / 28 takes its 28 from theory/ and is checked
    by a claim: planted as /14 (a reviewer's mutation nothing caught before), the claim fails."""
    from flowcert.checks import run_claim, select
    import flowcert.checks.papers.marion2023.experiments as E
    claim = select("marion2023.floor.one-unit-per-jump")[0]
    assert run_claim(claim).status == "pass"
    monkeypatch.setattr(E, "_window_divisor", lambda: 14.0)
    r = run_claim(claim)
    assert r.status == "fail" and "the experiments' floor" in r.detail
