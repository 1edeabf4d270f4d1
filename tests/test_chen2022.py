"""chen2022: the one-model dictionary, the rank-one reduction, exact starts, the closed form, the
claims (including planted errors they must catch) and bad input."""
import json
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from flowcert import theory as th
from flowcert.theory import _rank_one as R
from flowcert.checks.papers.chen2022 import claims as C
from flowcert.checks._experiment import UsageError
from flowcert.numerics import (descend, descend_batch, chain_gradients, rank_one_chain, rank_one_factors, rational_orthogonal,
                      rational_unit, to_backend, workdps)


# -- theory: one model read two ways ----------------------------------------------------------


@pytest.mark.parametrize("N", [2, 3, 4])
def test_dictionary_is_proved(N):
    assert th.chen_network(N).view_residuals() == []


def test_dictionary_with_reversal_is_caught():
    # the tempting V_l = W_{N+1-l}^T (reverse and transpose) multiplies the layers in the wrong order
    c = R.ChenNetwork(3)
    bad = {v: w.T for v, w in zip(c.net.weights, reversed(c.weights))}
    bad[c.net.target] = c.target.T
    c.__dict__["to_network"] = bad
    found = c.view_residuals()
    # every reading that goes through the dictionary disagrees: product, loss, imbalances, gradients
    assert any(b.startswith("product") for b in found) and any(b.startswith("loss") for b in found)
    assert sum("transported gradient" in b for b in found) >= 3


def test_transported_gradient_catches_a_planted_transpose():
    c = R.ChenNetwork(2)
    g = list(c.gradient)
    g[0] = sp.expand(c.weights[1].T * c.weights[1] * c.weights[0] - c.weights[1].T * c.target * 2)
    c.__dict__["gradient"] = tuple(g)
    assert any("W1" in b for b in c.view_residuals())


@pytest.mark.parametrize("N", [2, 3, 4])
def test_conservation_on_chen_flow(N):
    c = th.chen_network(N)
    for j in range(1, N):
        assert c.conservation_residual(j) == sp.ZeroMatrix(*c.imbalance(j).shape)


def test_conservation_fails_for_rescaled_layer():
    c = R.ChenNetwork(3)
    flow = dict(c.flow)
    flow[c.weights[0]] = 3 * flow[c.weights[0]]
    c.__dict__["flow"] = flow
    assert c.conservation_residual(1) != sp.ZeroMatrix(*c.imbalance(1).shape)


def test_normal_form_agrees_with_numbers():
    from functools import reduce
    A, B = sp.MatrixSymbol("A", 2, 3), sp.MatrixSymbol("B", 3, 2)
    x = sp.Symbol("x")
    expr = (2 * A + x * B.T).T * (A - B.T) + sp.Transpose(B * A) * 3
    nf = R.normal_form(expr)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    val = {A: a, B: b, A.T: a.T, B.T: b.T}
    direct = (2 * a + 0.7 * b.T).T @ (a - b.T) + 3 * (b @ a).T
    total = sum(float(c.subs(x, 0.7)) * reduce(np.matmul, [val[f] for f in k]) for k, c in nf.items())
    assert np.allclose(total, direct, atol=1e-12)


# -- theory: the rank-one reduction --------------------------------------------------------------


@pytest.mark.parametrize("N", [2, 3, 4])
def test_reduction_reproduces_the_printed_odes(N):
    red = th.rank_one(N)
    assert red.residuals() == []
    a, c = red.a, red.c
    assert sp.simplify(red.a_dot + a ** (N - 1) * (a**N - c)) == 0


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_reduction_catches_a_wrong_layer_flow(layer):
    red = R.RankOneReduction(3)
    red.chen = c = R.ChenNetwork(3)        # a private copy: the cached network must stay intact
    flow = dict(c.flow)
    flow[c.weights[layer]] = 2 * flow[c.weights[layer]]       # one layer on another time scale
    c.__dict__["flow"] = flow
    assert red.tangent_residual() != []


@pytest.mark.parametrize("j", [0, 3])
def test_reduction_checks_every_direction_stays_unit(j):
    red = R.RankOneReduction(3)
    qd = list(red.q_dot)
    qd[j] = R._add(qd[j], {(red.q[j],): 1})     # a component along q_j itself: |q_j| would change
    red.__dict__["q_dot"] = tuple(qd)
    assert f"q{j}: q^T q' != 0" in red.tangent_residual()


@pytest.mark.parametrize("N", [2, 3, 4])
def test_printed_directions_are_in_sigma(N):
    """``flowcert latex`` prints the reduction with a = sigma^(1/N): no a is left past the first
    relation, and u' is the brief's sigma^(1-2/N) (Z v - c u)."""
    red = th.rank_one(N)
    rels = {what: rel for rel, what in R.shown_odes(N)}
    assert not any(rel.has(red.a) for what, rel in rels.items() if what != "layer scale (derived)")
    rhs = rels["output direction"].rhs
    M = {str(m): m for m in rhs.atoms(sp.MatrixSymbol)}
    brief = red.sigma ** (1 - sp.Rational(2, N)) * (M["Z"] * M["v"] - red.c * M["u"])
    d = sp.expand((rhs - brief).doit())
    assert d == 0 or d.is_ZeroMatrix, d


def test_explicit_entries_are_distinct_past_ten_rows():
    ex = R.ChenNetwork(2).explicit((12, 12, 12))
    names = [str(x) for M in ex.values() for x in M]
    assert len(names) == len(set(names)) == 3 * 144
    with pytest.raises(ValueError, match=r"shape: expected 3 positive widths d_0..d_N, got \(2, 3\)"):
        R.ChenNetwork(2).explicit((2, 3))


def test_reduction_catches_a_wrong_printed_form():
    red = th.rank_one(3)
    wrong = red.N * red.sigma ** (2 - sp.Rational(2, red.N)) * (red.c - 2 * red.sigma)
    assert sp.simplify(red.sigma_dot - wrong) != 0
    assert R.nf_sub(red.end_to_end, R.nf_scale(red.printed_end_to_end(), 2)) != {}


@pytest.mark.parametrize("d", [1, 2, 3])
def test_coordinate_system_has_every_coordinate(d):
    s, al, be, an, bn, rhs = R.coordinate_system(d, (1, 2))
    assert len(s) == len(al) == len(be) == d and (len(an), len(bn)) == (1, 2)
    c = sum(si * x * y for si, x, y in zip(s, al, be))
    for si, x, y in zip(s, al, be):   # alpha_i' = s_i beta_i - c alpha_i, beta_i' = s_i alpha_i - c beta_i
        assert sp.expand(rhs[x] - (si * y - c * x)) == 0 and sp.expand(rhs[y] - (si * x - c * y)) == 0
    assert set(rhs) == set(al + be + an + bn)


def test_normal_form_expands_positive_powers():
    A, B = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("B", 2, 2)
    assert R.normal_form(A ** 3) == {(A, A, A): 1}
    assert R.normal_form(2 * B * A ** 2) == {(B, A, A): 2}


def test_trace_form_refuses_a_term_without_one_trace():
    A = sp.MatrixSymbol("A", 2, 2)
    for e in (sp.Symbol("c"), sp.Trace(A) * sp.Trace(A * A) + sp.Trace(A)):
        with pytest.raises(TypeError, match="expected one Trace per term"):
            R.trace_form(e)


@pytest.mark.parametrize("c", [-2, -sp.Rational(3, 2), -1])
def test_origin_sandwich_at_depth_two_holds_the_solution(c):
    """N = 2: sigma' = 2 sigma (c - sigma) with -c in [s_d, s_1] = [1, 2], sigma0 = 1/2, solved by
    mpmath's Taylor ODE solver: inside [sigma0 e^(-2 (s_1 + sigma0) t), sigma0 e^(-2 s_d t)]."""
    t_ = sp.Symbol("t")
    lo, hi = th.origin_sandwich(2, 2, 1, sp.Rational(1, 2), t_)
    sol = mpmath.odefun(lambda t, y: 2 * y * (c - y), 0, mpmath.mpf(1) / 2)
    for t in (mpmath.mpf(1) / 4, 1, 2):
        s = sol(t)
        assert float(lo.subs(t_, t)) <= s <= float(hi.subs(t_, t))


def test_trace_form_keeps_coefficients_through_the_symmetries():
    """A sum of traces with rational coefficients, rotated and transposed: its normal form, summed
    back as traces, has the value of the original at drawn matrices (an independent evaluation)."""
    A, B, C = sp.MatrixSymbol("A", 2, 3), sp.MatrixSymbol("B", 3, 2), sp.MatrixSymbol("C", 2, 2)
    e = 3 * sp.Trace(A * B) + sp.Rational(1, 2) * sp.Trace(B.T * A.T) - 2 * sp.Trace(C * A * B) \
        + 5 * sp.Trace(A * B * C)
    nf = R.trace_form(e)
    assert len(nf) == 2 and sorted(nf.values()) == [3, sp.Rational(7, 2)]
    rng = np.random.default_rng(0)
    vals = {M: sp.Matrix(rng.integers(-3, 4, M.shape)) for M in (A, B, C)}
    back = sum(c * sp.prod([(vals[f.arg].T if isinstance(f, sp.Transpose) else vals[f]) for f in w], start=sp.eye(2 if w and w[0].shape[0] == 2 else 3)).trace()
               for w, c in nf.items())
    assert back == e.subs(vals).doit()


def test_tau_time_and_closed_form_are_proved():
    assert th.tau_time_residuals(3) == []
    assert th.coordinate_residuals(2) == []
    assert th.origin_sandwich_residual(4) == []
    tau = sp.Symbol("tau")
    assert not R._is_zero(sp.exp(2 * tau) - sp.exp(tau))   # the zero test can say no


def test_critical_values_and_rule():
    assert [th.critical_loss(k, C.PAPER_S) for k in range(6)] == [sp.Rational(55, 2), 15, sp.Rational(39, 2), 23,
                                                                  sp.Rational(51, 2), 27]
    assert th.limit_index([0, 0, 1]) == 3 and th.limit_index([0, 0]) == 0
    with pytest.raises(ValueError, match="k: expected"):
        th.critical_loss(6, C.PAPER_S)
    mus = [float(th.linear_rate(k, C.PAPER_S, 6)) for k in range(1, 6)]
    assert np.allclose(mus, [2.924, 2.520, 2.080, 1.587, 1.000], atol=1e-3)   # brief section 7.3
    lo, hi = th.origin_sandwich(6, 5, 1, sp.Rational(3, 5) ** 6, 100)
    assert abs(float(lo) - 1.10e-5) < 1e-7 and abs(float(hi) - 1.21e-4) < 1e-6       # brief section 7.4


@pytest.mark.parametrize("N", [3, 4, 5, 6])
def test_origin_escape_time_is_the_blow_up_time(N):
    """sigma' = N c sigma^(2-2/N) from sigma0 reaches infinity at int_sigma0^oo dsigma / (N c
    sigma^(2-2/N)), integrated by SymPy: the heuristic escape time of section 7.1."""
    c, s0, s = sp.symbols("c sigma_0 sigma", positive=True)
    blow_up = sp.integrate(1 / (N * c * s ** (2 - sp.Rational(2, N))), (s, s0, sp.oo))
    assert sp.simplify(th.origin_escape_time(N, c, s0) - blow_up) == 0


def _slowest_mode(k, s, N, null_space):
    """The modes of section 7.3 listed one by one near s_k u_k v_k^T (norm N s_k, directions
    s_k - s_i for i > k, q_i: s_k + s_i for i != k, null components s_k), the slowest times
    s_k^(1-2/N): an enumeration, where theory.linear_rate is a closed-form min."""
    sk = s[k - 1]
    modes = [N * sk] + [sk - x for x in s[k:]] + [sk + x for i, x in enumerate(s) if i != k - 1]
    return min(modes + [sk] * null_space) * sk ** (1 - 2 / N)


@given(st.lists(st.fractions(1, 5), min_size=1, max_size=4, unique=True), st.integers(2, 6), st.booleans(),
       st.data())
def test_linear_rate_is_the_slowest_mode(s, N, null_space, data):
    s = sorted(s, reverse=True)
    k = data.draw(st.integers(1, len(s)))
    mu = float(th.linear_rate(k, [sp.Rational(x.numerator, x.denominator) for x in s], N, null_space=null_space))
    ref = _slowest_mode(k, [float(x) for x in s], N, null_space)
    assert abs(mu - ref) <= 1e-12 * ref   # the same real number, rounded once to float64 each way


# -- numerics: exact starts and batched GD --------------------------------------------------------


def test_exact_building_blocks():
    rng = np.random.default_rng(3)
    Q = rational_orthogonal(4, rng)
    assert (Q.T @ Q == np.eye(4, dtype=int)).all()
    v = rational_unit(5, rng)
    assert sum(x * x for x in v) == 1 and all(x != 0 for x in v)
    ws = rank_one_chain(Fraction(2, 3), [rational_unit(n, rng) for n in (3, 1, 4, 2)])
    for j in range(2):
        assert not (ws[j + 1].T @ ws[j + 1] - ws[j] @ ws[j].T).any()
    with workdps(40):
        x = to_backend([Fraction(1, 3)])[0]
        assert abs(x - mpmath.mpf(1) / 3) < mpmath.mpf(10) ** -39
    scales, dirs = rank_one_factors([to_backend(w) for w in ws])
    assert np.allclose(scales, 2 / 3, atol=1e-15)


def test_batched_gd_equals_descend():
    net = th.LinearNetwork(3)
    rng = np.random.default_rng(1)
    shape = (2, 3, 1, 2)
    Ws = [rng.standard_normal((3, shape[l], shape[l + 1])) * 0.5 for l in range(3)]
    Y = rng.standard_normal((3, 2, 2))
    tr = descend_batch(Ws, Y, 0.01, 50)
    for b in range(3):
        ref = descend(chain_gradients(net.weights, net.target), {w: Ws[l][b] for l, w in enumerate(net.weights)},
                      0.01, 50, params={net.target: Y[b]}, dps=None)
        for l, w in enumerate(net.weights):
            assert np.allclose(tr.final[l][b], ref.final[w], rtol=0, atol=1e-13)


def test_batched_gd_bad_input():
    with pytest.raises(ValueError, match="weights\\[1\\]: shape"):
        descend_batch([np.zeros((1, 2, 3)), np.zeros((1, 2, 2))], np.zeros((1, 2, 2)), 0.1, 1)
    with pytest.raises(ValueError, match="lr: expected"):
        descend_batch([np.zeros((1, 2, 2))], np.zeros((1, 2, 2)), -1.0, 1)


# -- checks: starts, strategies, closed form --------------------------------------------------------


@settings(max_examples=25)
@given(C.starts(kind="basin", max_width=3, max_depth=4))
def test_basin_starts_select_their_k(ex):
    st_ = C.build(ex)
    assert st_.limit() == ex["k"]
    P, _, _ = st_.pq()
    assert all(p == 0 for p in P[: ex["k"] - 1]) and (ex["k"] == 0 or P[ex["k"] - 1] > 0)
    assert min(st_.widths) == 1


@settings(max_examples=25)
@given(st.integers(1, 5).flatmap(C.distinct_singular_values))
def test_singular_values_distinct(s):
    assert all(a >= (1 + C.MIN_REL_GAP) * b > 0 for a, b in zip(s, s[1:]))


@pytest.mark.parametrize("bad, match", [
    ({"widths": [2, 2, 2]}, "widths: expected a width-1 layer"),
    ({"s": [2.0, 2.0]}, "singular_values: expected distinct"),
    ({"s": [3.0, 2.0, 1.0, 0.5]}, "singular_values: expected at most"),
    ({"k": 3}, "k: expected integers in \\[0 : d\\]"),
])
def test_build_rejects_bad_settings(bad, match):
    ex = {"widths": [3, 1, 3], "s": [2.0, 1.0], "a": 0.5, "kind": "basin", "k": 1, "U": [], "V": [],
          "cu": [1, 2, 3], "cv": [1, 2, 3], "mid": [[1]]}
    ex.update(bad)
    with pytest.raises(UsageError, match=match):
        C.build(ex)


def test_closed_form_float64_matches_mp():
    ex = {"widths": [3, 1, 2, 3], "s": [2.0, 1.0], "a": 0.75, "kind": "generic", "U": [[1, 2, -1]],
          "V": [[3, 1, 0]], "cu": [1, 2, 3], "cv": [2, 1, 3], "mid": [[1], [2, 1]]}
    st_ = C.build(ex)
    cf, at = C.ClosedForm.of(st_), C.closed_form_mp(st_, 30)
    for tau in (0.5, 1.5):
        sig, t, _, _ = at(tau)
        s64, t64 = cf.at(tau)
        assert abs(float(sig) - s64) < 1e-10 and abs(float(t) - t64) < 1e-10


def test_limit_selection_at_30_digits_and_escape_in_float64():
    # basin k = 2 with generic U, V: 30 digits hold the saddle; float64 over a longer horizon escapes
    rng = np.random.default_rng(5)
    ex = C.paper_start(2, rng, s=(3, 1), widths_out_first=(2, 1, 2, 2), a=Fraction(3, 4))
    st_ = C.build(ex)
    run = C.basin_run(st_, 30)
    assert C._limit_check(st_, run, "30 dps").holds
    cf = C.ClosedForm.of(st_)
    T = float(cf.at(cf.settle(2, 1e-6)[0] + 40 / (3 - 1))[1])   # seed 1e-16 grows e^{2 tau}: e^{40} > 1e16
    esc = C.flow(st_, T, None, n_eval=5)
    assert abs(float(esc["loss"][-1]) - st_.critical_loss(1)) < 1e-3      # it went to the global minimum
    assert not C._limit_check(st_, {**run, "loss": esc["loss"], "W": esc["W"], "dps": None}, "float64").holds


def test_linear_rate_claim_catches_a_wrong_rate(monkeypatch):
    ex = {"widths": [3, 1, 3], "s": [2.0, 1.0], "a": 0.75, "kind": "basin", "k": 1, "U": [], "V": [],
          "cu": [1, 2, 3], "cv": [2, 1, 3], "mid": [[1]]}
    assert C._linear_rate(ex).holds
    real = C.mode_rate
    monkeypatch.setattr(C, "mode_rate", lambda st_, k: (1.2 * real(st_, k)[0], "planted"))
    assert not C._linear_rate(ex).holds


def test_saddle_escape_claim_catches_a_wrong_slope(monkeypatch):
    ex = {"widths": [3, 1, 3], "s": [2.0, 1.0], "a": 0.75, "kind": "perturbed", "k": 2, "m": 3, "U": [], "V": [],
          "cu": [1, 2], "cv": [2, 1], "mid": [[1]]}
    assert C._saddle_escape(ex).holds
    monkeypatch.setattr(th, "saddle_growth_rate", lambda k, s, N: 1.3 * R.saddle_growth_rate(k, s, N))
    assert not C._saddle_escape(ex).holds


def test_limit_check_rejects_a_wrong_limit():
    ex = {"widths": [3, 1, 3], "s": [2.0, 1.0], "a": 0.75, "kind": "generic", "U": [[1, 2, 2]], "V": [],
          "cu": [1, 2, 3], "cv": [2, 1, 3], "mid": [[1]]}
    assert C._generic(ex).holds
    st_ = C.build(ex)
    run = C.basin_run(st_, None)
    assert not C._limit_check(st_, {**run, "k": 2}, "float64").holds   # it is at s_1 u_1 v_1^T, not s_2


# -- the experiment: bad input, and a small run ------------------------------------------------------


@pytest.mark.parametrize("setting, match", [
    ("widths=[5,4,2,10,5,3,8]", "widths: expected a width-1 layer"),
    ("singular_values=[5,4,4,2,1]", "singular_values: expected distinct"),
    ("ks=[6]", "ks: expected integers in \\[0 : d\\] = \\[0 : 5\\]"),
    ("precision=12", "precision: expected"),
    ("lr=-1", "lr: expected"),
    ("basis=polar", "basis: expected one of"),
])
def test_reproduce_bad_input_exits_2(setting, match, capsys, tmp_path):
    from flowcert.checks.cli import main
    assert main(["reproduce", "chen2022", "--out", str(tmp_path), "--set", setting]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    import re
    assert re.search(match, err), err


def test_reproduce_small(tmp_path):
    from flowcert.checks.cli import main
    out = tmp_path / "run"
    js = tmp_path / "r.json"
    code = main(["reproduce", "chen2022", "--out", str(out), "--json", str(js), "--set", "steps=3000",
                 "--set", "widths=[3,1,2,3]", "--set", "singular_values=[2,1]", "--set", "precision=30"])
    assert code == 0
    res = json.loads(js.read_text())
    assert [r["k"] for r in res["runs"]] == [0, 1, 2]
    for r in res["runs"]:
        assert {"k", "loss_final", "loss_predicted"} <= set(r)
        if r["k"] >= 1:
            assert abs(r["loss_final"] - r["loss_predicted"]) <= 1e-6 * r["loss_predicted"]
            assert r["flow"]["digits"] >= 30
    assert res["runs"][0]["loss_final"] > res["runs"][0]["loss_predicted"]
    assert (out / "losses.png").stat().st_size > 10_000


_GARBAGE = st.sampled_from(["", "x", "-1", "0", "1e400", "nan", "[]", "[1]", "[0,1]", "[1,1]", "[2,1,1]", "[5,4,1]",
                            "[1.5,'a']", "None", "True", "3/0", "float64", "auto", "1/2", "'1'", "{}", "(1,)",
                            "[3,1,2,3]", "[[1]]", "1e-9", "7", "[0]", "[-1]", "[5,4,3,2,1,0]"])


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["singular_values", "widths", "lr", "steps", "precision", "seed", "ks", "a",
                                        "basis", "flow_time", "record_every"]), _GARBAGE, min_size=1, max_size=4))
def test_reproduce_validation_never_crashes(sets):
    # validation only (no run): every combination is accepted or rejected with a one-line UsageError
    from flowcert.checks.papers.chen2022.experiments import REPRODUCE as exp
    try:
        p = exp.params(sets)
    except UsageError as e:
        assert "\n" not in str(e) and str(e).startswith("--set ")
        return
    assert min(p["widths"]) == 1
    assert p["precision"] == "float64" or 16 <= p["precision"] <= 2000
    assert all(0 <= k <= len(p["singular_values"]) for k in p["ks"])
