"""Bounds evaluated from theory/ against the independent implementations of tests/reference.py,
in float64 and at 30 digits, and planted wrong formulas that must disagree."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from flowcert import theory as th
from flowcert.checks import strategies as S
from flowcert.numerics import Evaluator, workdps

from . import reference as ref

# Both routes compute the same eigenvalues with backward-stable solvers on entries of order one;
# 1e-9 relative leaves room for the conditioning of the sums over up to h eigenvalues.
REL = 1e-9


def close(a, b, rel=REL):
    return abs(float(a) - float(b)) <= rel * max(1.0, abs(float(a)), abs(float(b)))


def vals(ws, Y=None):
    net = th.LinearNetwork(len(ws))
    d = dict(zip(net.weights, ws))
    if Y is not None:
        d[net.target] = Y
    return d


three = S.widths(depth=3, max_width=4).flatmap(lambda w: S.chains(shape=w))


@given(three)
def test_delta_star_matches_reference(ws):
    assert close(Evaluator(vals(ws)).bound(th.delta_star()), ref.delta_star(*ws))


@given(three)
def test_g_three_layer_matches_reference(ws):
    assert close(Evaluator(vals(ws)).bound(th.g_three_layer()), ref.g_three_layer(*ws))


@given(S.widths(depth=3, max_width=4).flatmap(lambda w: S.chains(shape=w)))
def test_lambda_min_T_matches_reference(ws):
    assert close(Evaluator(vals(ws)).bound(th.lambda_min_T(3)), ref.lambda_min_T(ws))


@given(S.widths(depth=2, max_width=3).flatmap(lambda w: st.tuples(S.chains(shape=w), S.targets(w[0], w[-1]))))
def test_alpha2_matches_reference(ex):
    ws, Y = ex
    assert close(Evaluator(vals(ws, Y)).bound(th.alpha2()), ref.alpha2(*ws, Y))


@given(S.widths(depth=2, max_width=3).flatmap(lambda w: S.chains(shape=w)))
def test_lemma3_rhs_matches_reference(ws):
    assert close(Evaluator(vals(ws)).bound(th.lemma3_rhs()), ref.lemma3_rhs(*ws))


@given(S.widths(depth=2, max_width=3).flatmap(lambda w: S.chains(shape=w)))
def test_two_layer_closed_form_is_lambda_min_T(ws):
    # the default depth is the one the closed form holds for (L = 2)
    assert close(Evaluator(vals(ws)).bound(th.two_layer_closed_form()), ref.lambda_min_T(ws))


BOUNDS = [th.two_layer_closed_form(), th.lemma3_rhs(), th.alpha2(), th.delta_two_layer(), th.delta_star(),
          th.lambda_min_T(3), th.theorem3_unimodal(3, 2), th.theorem3_homogeneous(3, 2), th.g_three_layer(),
          th.balanced(3)]


def _printed_as_evaluated(printed, net):
    """The printed matrix with its names read back (``W_l``, ``W``, ``W(0)``, ``W^{*}``, ``D``,
    ``D_{l}``), or None where a name is not one of these."""
    names = {f"W_{l + 1}": w for l, w in enumerate(net.weights)}
    names.update({"W": net.product, "W(0)": net.product, "W^{*}": net.target})
    names.update({f"D_{{{l}}}": net.imbalance(l) for l in range(1, net.depth)})
    if net.depth == 2:
        names["D"] = net.imbalance(1)
    rep = {x: names.get(str(x)) for x in printed.atoms(sp.MatrixSymbol)}
    return None if None in rep.values() else printed.xreplace(rep)


def _same(a, b):
    d = sp.expand((a - b).doit())
    return d == 0 or getattr(d, "is_ZeroMatrix", False)


@pytest.mark.parametrize("b", BOUNDS, ids=lambda b: b.name)
def test_printed_spectral_quantities_are_the_evaluated_ones(b):
    """Each eigenvalue, singular value or norm printed (``lambda_n(W_1 W_1^T)``, ``lambda_m(-D)``)
    is of the matrix that is evaluated: the two are written in different places."""
    checked = 0
    for q in b.quantities.values():
        back = _printed_as_evaluated(q.shown.args[0], b.network)
        if back is not None:
            assert _same(back, q.matrix), q
            checked += 1
    assert checked == len(b.quantities) - (b.name == "lambda-min-T")   # T is printed as an operator
    if b.name == "delta":
        assert not _same(-b.network.imbalance(1), b.network.imbalance(1))   # the comparison can fail


@given(S.unimodal())
def test_theorem3_matches_reference(ex):
    ws, k = ex
    assert close(Evaluator(vals(ws)).bound(th.theorem3_unimodal(len(ws), k)), ref.theorem3_unimodal(ws, k))


@given(S.unimodal())
def test_theorem3_homogeneous_matches_reference(ex):
    ws, k = ex
    assert close(Evaluator(vals(ws)).bound(th.theorem3_homogeneous(len(ws), k)), ref.theorem3_homogeneous(ws, k))


def test_high_precision_agrees_with_float64():
    rng = np.random.default_rng(3)
    ws = [rng.normal(size=s) for s in [(2, 5), (5, 4), (4, 3)]]
    f64 = Evaluator(vals(ws)).bound(th.delta_star())
    with workdps(30):
        mp = Evaluator(vals(ws)).bound(th.delta_star())
    assert close(mp, ref.delta_star(*ws)) and close(mp, f64)


def test_planted_wrong_formulas_disagree():
    ws = [np.array([[3.0]]), np.array([[2.0]]), np.array([[1.0]])]
    ev = Evaluator(vals(ws))
    assert ev.bound(th.delta_star()) == ref.delta_star(*ws) == 24
    assert ev.bound(th.delta_star(g9_typo=True)) != 24
    assert ev.bound(th.delta_star(appendix=True)) == 48


def test_bound_rejects_shapes_that_do_not_chain():
    net = th.LinearNetwork(3)
    bad = dict(zip(net.weights, [np.ones((2, 3)), np.ones((2, 2)), np.ones((2, 1))]))
    with pytest.raises(ValueError, match="chain"):
        Evaluator(bad).bound(th.delta_star())


@pytest.mark.parametrize("h1, h2, g9", [(3, 5, False), (7, 4, False), (6, 6, True)])
def test_delta_star_from_spectra_equals_the_expanded_expression(h1, h2, g9):
    """Delta* straight from the spectra (float, mpmath, Arb) against the instantiated SymPy
    expression of Definition 2 evaluated exactly at the same (float) eigenvalues."""
    import mpmath
    import numpy as np
    import sympy as sp

    from flowcert.numerics import CertifiedEvaluator, Evaluator, workdps
    from flowcert.theory import delta_star

    b = delta_star(g9_typo=g9)
    net = b.network
    rng = np.random.default_rng(h1 * 10 + h2)
    ws = [rng.standard_normal((2, h1)), rng.standard_normal((h1, h2)), rng.standard_normal((h2, 1))]
    vals = dict(zip(net.weights, ws))
    ev = Evaluator(vals)
    dims = ev.dims(net)
    expr, qs = b.instantiate(dims)
    exact = expr.xreplace({s: sp.Rational(ev.quantity(q)) for s, q in qs.items()})
    scale = sum(float(x) ** 2 for x in ev.spectrum("eig", qs[next(iter(qs))].matrix)) + 1
    # the float path sums at most 4 max(h1, h2) rounded squares, each product and sum within eps
    assert abs(ev.bound(b) - float(exact)) <= 16 * max(h1, h2) * 2.0**-52 * scale
    with workdps(40):
        e40 = Evaluator(vals)
        mp = e40.bound(b)
        at40 = expr.xreplace({s: sp.Float(e40.quantity(q), 45) for s, q in qs.items()})
        # 40-digit arithmetic on both routes: they agree far below the 10^-30 asked here
        assert abs(mp - mpmath.mpf(sp.Float(at40, 45))) <= mpmath.mpf(10) ** -30 * scale
    # the Arb enclosure (certified spectra) holds the 40-digit value: its width is ~1e-13, the
    # 40-digit value's error ~1e-38
    ball = CertifiedEvaluator(vals).bound(b)
    import flint
    assert ball.contains(flint.arb(mpmath.nstr(mp, 40, strip_zeros=False)))


def test_definition2_parts_default_is_the_corrected_dbar():
    """D-bar_i = max(a_i, b_i, 0) by default; G.9's typo (a twice) only on request."""
    from flowcert.theory._bounds import definition2_parts
    a, b = [sp.Integer(1), sp.Integer(-2)], [sp.Integer(3), sp.Integer(2)]
    assert definition2_parts(a, b, 1, 1) == definition2_parts(a, b, 1, 1, g9_typo=False)
    assert definition2_parts(a, b, 1, 1) != definition2_parts(a, b, 1, 1, g9_typo=True)


def test_squared_loss_constant_is_the_decay_rate_of_the_flow():
    """L = 1/2 (w1 w2 - y)^2 along its gradient flow: dL/dt = -gamma lambda_min(T) L with
    lambda_min(T) = w1^2 + w2^2 (1 x 1 weights) and gamma the squared loss's constant (2), by SymPy
    on the derived flow's explicit entries."""
    net = th.LinearNetwork(2)
    ex = net.explicit((1, 1, 1))
    (w1,), (w2,), (y,) = ex[net.weights[0]], ex[net.weights[1]], ex[net.target]
    L = (w1 * w2 - y) ** 2 / 2
    flow = {w: sp.Matrix(net.flow[W].subs(ex).doit())[0, 0] for W, w in zip(net.weights, (w1, w2))}
    dL = sum(sp.diff(L, w) * f for w, f in flow.items())
    from flowcert.theory._bounds import SQUARED_LOSS, gamma
    assert sp.expand(dL + SQUARED_LOSS[gamma] * (w1 ** 2 + w2 ** 2) * L) == 0

