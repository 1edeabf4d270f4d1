"""Additive networks (marion2023 Appendix C): the derived factors against SymPy's own derivative of
the whole network, the sorted-batch kernels against dense evaluation, the fit's gradient against
an exact SymPy gradient of the explicit criterion, and the three experiments end to end."""
from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from flowcert import theory as th
from flowcert.checks.cli import main
from flowcert.checks.papers.marion2023 import additive as A
from flowcert.numerics import AdditiveFit, AdditiveUnits, Template, have_numba, online_sgd
from flowcert.theory._shallow import t as T

EPS = np.finfo(float).eps
needs_numba = pytest.mark.skipif(not have_numba(), reason="numba not installed")


def _template(name):
    (tb, tc), _ = th.AdditiveNetwork(1, 1, name).templates()
    return Template(tuple(map(float, tb)), tuple(tuple(map(float, c)) for c in tc))


# -- theory ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", list(th.ACTIVATIONS))
def test_unit_factors_match_sympys_derivative_of_the_whole_network(activation):
    net = th.AdditiveNetwork(2, 2, activation)
    a, u = net.params
    xs = sp.symbols("x1 x2", real=True)
    f = net.output(xs)
    rng = random.Random(3)
    w = net.width
    for j, k in ((0, 0), (1, 1)):
        for p, name in ((a[j, k], "a"), (u[j, k], "u")):
            direct = sp.diff(f, p)
            deriv = net.phi if net.order(name) == 0 else net.dphi
            claimed = net.factor(name).subs(net.a_, a[j, k]) * deriv.subs(T, (xs[k] - u[j, k]) / w)
            for _ in range(6):  # rational points, away from the breaks with probability 1
                vals = {s: sp.Rational(rng.randint(-40, 140), 100) for s in (*a, *u, *xs)}
                vals[net.eta] = sp.Rational(1, rng.randint(2, 9))
                assert sp.simplify(direct.subs(vals) - claimed.subs(vals)) == 0, (activation, name)


def test_sample_weight_is_the_chain_rule_of_the_explicit_criterion():
    e = sp.symbols("e1:4", real=True)
    for crit, explicit in (("norm", sp.sqrt(sum(v ** 2 for v in e)) / 3), ("mse", sum(v ** 2 for v in e) / 3)):
        net = th.AdditiveNetwork(1, 1, criterion=crit)
        S = sum(v ** 2 for v in e)
        assert sp.simplify(sp.diff(explicit, e[0]) - net.sample_weight.subs({net.S: S, net.n: 3}) * e[0]) == 0
        assert sp.simplify(net.criterion_of_S.subs({net.S: S, net.n: 3}) - explicit) == 0


@pytest.mark.parametrize("crit", ["norm", "mse"])
def test_printed_criterion_is_the_derived_one(crit):
    """``C = ...`` as printed, with ||e||_2 read back as sqrt(S): the criterion the fit descends."""
    from flowcert.theory import Norm
    net = th.AdditiveNetwork(1, 1, criterion=crit)
    C = net.shown()["criterion"].args[1]
    (norm,) = C.atoms(Norm)
    n = next(x for x in C.free_symbols if x.name == "n")
    assert sp.simplify(C.subs({norm: sp.sqrt(net.S), n: net.n}) - net.criterion_of_S) == 0
    # the printed gradient's weight 2 dC/dS: 1/(n ||e||) for the norm, 2/n for the mean square
    g = net.shown()["gradient-a"].args[1]
    assert [p.exp for p in g.atoms(sp.Pow) if isinstance(p.base, Norm)] == ([-1] if crit == "norm" else [])


def test_parameters_are_distinct_symbols_past_nine_units():
    a, u = th.AdditiveNetwork(11, 11).params       # (1, 11) and (11, 1) once shared a name
    assert len(set(a) | set(u)) == 2 * 11 * 11


@pytest.mark.parametrize("activation", sorted(th.ACTIVATIONS))
def test_printed_gradients_apply_the_activation_and_its_derivative(activation):
    """d/da [a phi(s)] is phi(s), d/du is -a phi'(s)/w: the printed a-gradient applies phi, the
    u-gradient phi'."""
    shown = th.AdditiveNetwork(1, 1, activation).shown()
    names = {k: {type(f).__name__ for f in shown[k].atoms(sp.core.function.AppliedUndef)} for k in ("gradient-a", "gradient-u")}
    phi = r"\sigma" if activation == "smooth-step" else r"\operatorname{ReLU}"
    assert phi in names["gradient-a"] and phi + "'" not in names["gradient-a"]
    assert phi + "'" in names["gradient-u"] and phi not in names["gradient-u"]


@pytest.mark.parametrize("activation", sorted(th.ACTIVATIONS))
@pytest.mark.parametrize("crit", ["norm", "mse"])
def test_printed_gradients_are_the_chain_rule(activation, crit):
    """The printed gradients against the chain rule written out here: dC/da_jk = sum_i w e_i
    phi(s_ijk), dC/du_jk = -sum_i w a_jk e_i phi'(s_ijk) / eta, with w = 1/(n ||e||) (norm) or
    2/n (mean square) and s = (x_ik - u_jk)/eta (eta = 1 for ReLU, which is scale-free)."""
    from flowcert.theory import Norm, func, sym
    net = th.AdditiveNetwork(1, 1, activation, criterion=crit)
    sh = net.shown()
    smooth = activation == "smooth-step"
    phi = func(r"\sigma" if smooth else r"\operatorname{ReLU}")
    dphi = func(r"\sigma'" if smooth else r"\operatorname{ReLU}'")
    i, n, e, a, eta = sym("i"), sym("n"), sym("e_{i}"), sym("a_{jk}"), (net.width if smooth else 1)
    s = (sym("x_{ik}") - sym("u_{jk}")) / eta
    w = 1 / (n * Norm(sym("e"), 2)) if crit == "norm" else 2 / n
    for name, want in (("gradient-a", sp.Sum(w * e * phi(s), (i, 1, n))),
                       ("gradient-u", -sp.Sum(w * a * e * dphi(s) / eta, (i, 1, n)))):
        got = sh[name].args[1]
        assert sp.simplify(got - want) == 0, (name, got)


def test_relu_is_derived_from_max():
    assert th.RELU.subs(T, sp.Rational(-1, 3)) == 0 and th.RELU.subs(T, sp.Rational(2, 7)) == sp.Rational(2, 7)


@pytest.mark.parametrize("kw, msg", [({"d": 0, "m": 1}, "d: expected a positive integer"),
                                     ({"d": 1, "m": True}, "m: expected a positive integer"),
                                     ({"d": 1, "m": 1, "activation": "tanh"}, "activation: expected one of"),
                                     ({"d": 1, "m": 1, "criterion": "l1"}, "criterion: expected one of")])
def test_network_bad_input(kw, msg):
    with pytest.raises(ValueError, match=msg):
        th.AdditiveNetwork(**kw)


# -- numerics: sorted-batch kernels against dense evaluation ---------------------------------------
TEMPLATES = {"smooth-step": _template("smooth-step"), "relu": _template("relu"),
             # quadratic unbounded pieces and three bounded ones: the general path of the kernels
             "general": Template((-1.0, 0.0, 0.5, 2.0), ((0.5, 0.25, 0.125), (1.0, -2.0), (1.0, 0.0, 3.0),
                                                         (2.0, 1.0, -1.0), (-0.5, 1.5, 0.75))),
             # one unbounded piece zero, the other of a higher degree and either sign: the powers of x
             # the prefix sums need come from one side alone
             "left-square": Template((0.0,), ((0.0, 0.0, 1.0), (0.0,))),
             "right-negative": Template((0.0,), ((0.0,), (0.0, 0.0, -1.0)))}


@st.composite
def batches(draw):
    name = draw(st.sampled_from(sorted(TEMPLATES)))
    n, d, m = draw(st.integers(1, 60)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    width = draw(st.sampled_from([0.01, 0.1, 1.0, 3.0]))
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    if draw(st.booleans()):  # ties between samples
        X[: n // 2] = X[0]
    u = rng.uniform(-0.3, 1.3, (m, d))  # some units beyond the data on either side
    if draw(st.booleans()):
        u[0, 0] = X[0, 0]  # a unit exactly on a sample
    a = rng.normal(size=(m, d))
    g = rng.normal(size=n)
    return name, width, X, a, u, g


def _dense(p, width, X, u):
    return p((X[:, None, :] - u[None]) / width)  # (n, m, d)


@given(batches())
def test_kernels_equal_dense_evaluation(case):
    _against_dense(case)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_interpreted_kernels_equal_dense_evaluation_for_every_template(name):
    """Each template once through the interpreted kernels (which check their indices, where the
    compiled ones do not), units on both sides of the data."""
    rng = np.random.default_rng(2)
    X, u = rng.random((40, 2)), np.array([[-0.2, 0.5], [0.3, 1.2], [0.9, 0.1]])
    _against_dense((name, 0.1, X, rng.normal(size=(3, 2)), u, rng.normal(size=40)), backend="python")


@needs_numba
def test_interpreted_kernels_stay_interpreted_once_the_compiled_ones_exist():
    # the compiled kernels' helpers live in a namespace of their own: were they bound in the module,
    # the interpreted kernels would call them too and lose their index checks for the rest of the
    # process (the test above would then pass on an out-of-bounds write in a full run)
    import types
    from flowcert.numerics import _additive
    _additive._kernels("numba")
    forward, moments, moments2 = _additive._kernels("python")
    helpers = ("_count_le", "_binom", "_in_x", "_bounds", "_horner", "_outer_piece", "_outer_terms",
               "_prefix", "_gather_prefix", "_unit_moment")
    assert all(isinstance(getattr(_additive, h), types.FunctionType) for h in helpers)
    with pytest.raises(IndexError):  # a re-expansion buffer one short: only an index check sees it
        _additive._in_x(np.ones(3), 0.5, 1.0, np.zeros(2))


def _against_dense(case, backend=None):
    name, width, X, a, u, g = case
    p = TEMPLATES[name]
    units = AdditiveUnits(p, width, X, backend=backend)
    P = _dense(p, width, X, u)
    n, (m, d) = X.shape[0], a.shape
    # summation error bound: at most n + 2 m d rounded additions of terms bounded by the scale
    f_ref = (a[None] * P).sum(axis=(1, 2))
    scale_f = (np.abs(a[None]) * np.abs(P)).sum(axis=(1, 2)).max() + np.abs(a).sum()
    big = max(1.0, np.abs(u).max() / width, 1 / width) ** 2  # re-expansion of a quadratic piece in x
    tol_f = 4 * (n + 2 * m * d) * EPS * scale_f * big
    np.testing.assert_allclose(units.forward(a, u), f_ref, rtol=0, atol=tol_f)
    M_ref = (g[:, None, None] * P).sum(axis=0)
    scale_m = (np.abs(g)[:, None, None] * np.abs(P)).sum(axis=0).max() + np.abs(g).sum()
    np.testing.assert_allclose(units.moments(u, g), M_ref, rtol=0, atol=4 * n * EPS * scale_m * big)
    dp = p.derivative()
    dP = _dense(dp, width, X, u)
    np.testing.assert_allclose(units.moments(u, g, dp), (g[:, None, None] * dP).sum(axis=0), rtol=0,
                               atol=4 * n * EPS * ((np.abs(g)[:, None, None] * np.abs(dP)).sum(axis=0).max()
                                                   + np.abs(g).sum()) * big)


@needs_numba
@given(batches())
def test_compiled_kernels_equal_the_interpreted_ones(case):
    name, width, X, a, u, g = case
    p = TEMPLATES[name]
    fast, slow = AdditiveUnits(p, width, X, backend="numba"), AdditiveUnits(p, width, X, backend="python")
    # the same operations in the same order (no fastmath): equal to the last bit
    assert np.array_equal(fast.forward(a, u), slow.forward(a, u))
    assert np.array_equal(fast.moments(u, g), slow.moments(u, g))


@needs_numba
def test_kernels_compiled_ahead_for_the_types_the_callers_pass():
    # compile_kernels is what a forking process calls so its workers share the kernels: a caller
    # that passes other types would compile again in each worker
    from flowcert.numerics import _additive, _sgd, compile_kernels
    assert compile_kernels()
    kernels = _additive._kernels("numba") + (_sgd.sgd_kernel("numba"),)
    before = [len(k.signatures) for k in kernels]
    net = th.AdditiveNetwork(1, 3, "relu")
    rng = np.random.default_rng(1)
    X = rng.random((50, 2))
    fit = AdditiveFit(net, X, X[:, 0] - X[:, 1])
    fit.descend(rng.random((3, 2)), rng.random((3, 2)), 0.1, 0.1, 2)
    fit.units.moments(rng.random((3, 2)), rng.random(50))
    online_sgd([0.0, 0.5], [0.3], template=TEMPLATES["smooth-step"], width=0.1, positions=[0.5], values=[0.0, 1.0], lr=0.01, ratio=1.0, steps=3,
               rng=np.random.RandomState(0))
    assert [len(k.signatures) for k in kernels] == before


def test_units_bad_input():
    p = TEMPLATES["relu"]
    with pytest.raises(ValueError, match="X: expected an n x d array"):
        AdditiveUnits(p, 1.0, np.zeros(3))
    with pytest.raises(ValueError, match="width: expected a positive number"):
        AdditiveUnits(p, 0.0, np.zeros((3, 1)))
    units = AdditiveUnits(p, 1.0, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="a: expected an m x 2 array"):
        units.forward(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="weights: expected 3 entries"):
        units.moments(np.zeros((2, 2)), np.zeros(4))


# -- the fit's gradient against SymPy's exact gradient of the explicit criterion -------------------
@pytest.mark.parametrize("activation, criterion", [("smooth-step", "norm"), ("relu", "norm"), ("smooth-step", "mse")])
def test_fit_gradient_equals_sympy_gradient_of_the_explicit_criterion(activation, criterion):
    net = th.AdditiveNetwork(2, 2, activation, criterion)
    rng = random.Random(11)
    n = 7
    Xq = [[sp.Rational(rng.randint(0, 64), 64) for _ in range(2)] for _ in range(n)]
    yq = [sp.Rational(rng.randint(0, 12), 4) for _ in range(n)]
    eta = sp.Rational(1, 4)
    a, u = net.params
    e = [net.output(x).subs(net.eta, eta) - y for x, y in zip(Xq, yq)]
    C = sp.sqrt(sum(v ** 2 for v in e)) / n if criterion == "norm" else sum(v ** 2 for v in e) / n
    vals = {**{s: sp.Rational(rng.randint(1, 96), 32) for s in a}, **{s: sp.Rational(rng.randint(3, 61), 64) for s in u}}
    fit = AdditiveFit(net, np.array(Xq, dtype=float), np.array(yq, dtype=float), width=float(eta))
    A_ = np.array(a.subs(vals), dtype=float)
    U_ = np.array(u.subs(vals), dtype=float)
    c, ga, gu = fit.gradient(A_, U_)
    assert math.isclose(c, float(C.subs(vals)), rel_tol=1e-13)
    for M, G in ((a, ga), (u, gu)):
        exact = np.array([[float(sp.diff(C, M[j, k]).subs(vals).evalf(30)) for k in range(2)] for j in range(2)])
        # a few dozen float64 operations on O(1) numbers; relative to the gradient's size
        np.testing.assert_allclose(G, exact, rtol=0, atol=1e-13 * max(1.0, np.abs(exact).max()))


def test_descend_lowers_the_criterion_and_records_it():
    net = th.AdditiveNetwork(1, 4, "relu")
    rng = np.random.default_rng(0)
    X = rng.random((200, 1))
    y = np.maximum(X[:, 0] - 0.5, 0)
    fit = AdditiveFit(net, X, y)
    run = fit.descend(rng.random((4, 1)), rng.random((4, 1)), 0.5, 0.005, 40, record_every=10)
    assert run.epochs_recorded == (0, 10, 20, 30, 40)
    assert run.criterion[-1] == run.final < run.criterion[0]
    ticks = []
    fit.descend(rng.random((4, 1)), rng.random((4, 1)), 0.5, 0.005, 250, progress=lambda e, n: ticks.append((e, n)))
    assert ticks == [(e, 250) for e in range(2, 251, 2)]   # every epochs // 100 epochs
    with pytest.raises(ValueError, match="width: this network's units have a width eta"):
        AdditiveFit(th.AdditiveNetwork(1, 1), X, y)
    with pytest.raises(ValueError, match="epochs: expected an integer >= 0"):
        fit.descend(np.zeros((4, 1)), np.zeros((4, 1)), 0.1, 0.1, -1)


# -- the experiments ---------------------------------------------------------------------------------
SMALL = ["--set", "repeats=2", "--set", "epochs_standard=20", "--set", "epochs_two_timescale=60", "--set", "batch=300"]


@needs_numba
@pytest.mark.parametrize("name, files", [("marion2023-2d", "positions.png"), ("marion2023-10d", "positions.png"),
                                         ("marion2023-relu", "fit.png")])
def test_reproduce_writes_json_figures_and_csv(tmp_path, name, files):
    out = tmp_path / "o"
    assert main(["reproduce", name, "--out", str(out), "-q", *SMALL]) == 0
    r = json.loads((out / f"{name}.json").read_text())
    assert set(r["regimes"]) == {"standard", "two-timescale"}
    for regime in r["regimes"].values():
        assert len(regime["errors"]) == 2 and len(regime["uncovered"]) == 2
        assert all(e > 0 for e in regime["errors"])
    d = {"marion2023-2d": 2, "marion2023-10d": 10, "marion2023-relu": 1}[name]
    assert r["discontinuities"] == 3 * d
    for f in ("boxplot.png", "curves.png", files):
        assert (out / f).read_bytes()[:4] == b"\x89PNG"
    rows = (out / "runs.csv").read_text().splitlines()
    assert rows[0].startswith("regime,repeat,criterion") and len(rows) == 5


@needs_numba
def test_checkpoint_resume_gives_the_same_result(tmp_path):
    ck = tmp_path / "ck"
    args = ["reproduce", "marion2023-relu", "-q", *SMALL]
    assert main([*args, "--out", str(tmp_path / "a"), "--checkpoint", str(ck)]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--checkpoint", str(ck), "--resume"]) == 0
    ra = json.loads((tmp_path / "a" / "marion2023-relu.json").read_text())
    rb = json.loads((tmp_path / "b" / "marion2023-relu.json").read_text())
    assert ra["regimes"] == rb["regimes"]


def test_uncovered_names_the_coordinate_and_the_point():
    u = np.array([[0.3, 0.1], [0.52, 0.705]])
    assert A.covered_report(u, [0.3, 0.5, 0.7], 0.01) == ["x_1 = 0.5", "x_1 = 0.7", "x_2 = 0.3", "x_2 = 0.5"]
    assert A.covered_report(u[:, :1], [0.3, 0.5], 0.05) == []
    assert A.gaps(u[:, :1], [0.3, 0.5]) == pytest.approx([0.0, 0.02])


@pytest.mark.parametrize("sets, msg", [
    (["thresholds=[0.3, 1.5]"], "--set thresholds: expected points strictly inside (0, 1)"),
    (["repeats=2", "show_repeat=2"], "--set show_repeat: expected an index below repeats = 2"),
    (["batch=0"], "--set batch: expected a positive integer"),
    (["lr_inner=-1"], "--set lr_inner: expected a finite number > 0"),
])
def test_bad_sets_exit_2_with_one_line(tmp_path, capsys, sets, msg):
    argv = ["reproduce", "marion2023-2d", "--out", str(tmp_path)]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1


def test_relu_teacher_weights_must_match(tmp_path, capsys):
    assert main(["reproduce", "marion2023-relu", "--out", str(tmp_path), "--set", "teacher_weights=[1, 2]"]) == 2
    assert "teacher_weights: expected 3 weights" in capsys.readouterr().err


# -- the claims must be able to fail ---------------------------------------------------------------
def _regimes(tt_uncovered, std_uncovered, tt_errors, std_errors):
    def one(unc, err):
        return {"uncovered": unc, "errors": err, "median": float(np.median(err)), "gaps": [[0.0]] * len(unc),
                "runs_with_uncovered": sum(1 for u in unc if u), "uncovered_total": sum(len(u) for u in unc)}
    return {"two-timescale": one(tt_uncovered, tt_errors), "standard": one(std_uncovered, std_errors)}


def test_appendix_c_claims_fail_on_planted_outcomes(monkeypatch):
    from flowcert.checks.papers.marion2023 import appendix_c as AC
    good = _regimes([[], []], [["x_1 = 0.3"], []], [0.003, 0.004], [0.01, 0.02])
    monkeypatch.setattr(AC, "runs", lambda which: (good, 2))
    assert AC._fig6(None).holds and AC._medians(None).holds
    # the two-timescale regime misses 3 of 12 (75% < 90%)
    bad_cover = _regimes([["x_1 = 0.3", "x_2 = 0.5"], ["x_1 = 0.7"]], [["x_1 = 0.3"], []], [0.003, 0.004], [0.01, 0.02])
    monkeypatch.setattr(AC, "runs", lambda which: (bad_cover, 2))
    assert AC._fig6(None).holds is False
    # the standard regime covers everything: nothing for Fig. 6 to show
    monkeypatch.setattr(AC, "runs", lambda which: (_regimes([[], []], [[], []], [0.003, 0.004], [0.01, 0.02]), 2))
    assert AC._fig6(None).holds is False
    # a higher median in the two-timescale regime
    monkeypatch.setattr(AC, "runs", lambda which: (_regimes([[], []], [["x"], []], [0.03, 0.04], [0.01, 0.02]), 2))
    assert AC._medians(None).holds is False
    # as many covered in both regimes
    monkeypatch.setattr(AC, "runs", lambda which: (_regimes([["x"], []], [["x"], []], [0.003], [0.01]), 2))
    assert AC._beyond(None).holds is False
