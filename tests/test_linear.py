"""The linear network: derivations against independent routes, and planted errors caught."""
import pytest
import sympy as sp

from flowcert.theory import LinearNetwork, diff_termwise
from flowcert.theory._linear import _ddt


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_gradient_matches_explicit_entries(depth):
    shape = (2, 3, 1, 2, 3)[: depth + 1]
    assert LinearNetwork(depth).explicit_gradient_mismatch(shape) == []


def test_explicit_check_catches_a_transposed_gradient():
    net = LinearNetwork(2)
    wrong = LinearNetwork(2)
    # plant the classic mistake: (W - Y) W2 instead of (W - Y) W2^T
    object.__setattr__(wrong, "gradient", (net.gradient[0].xreplace({net.weights[1].T: net.weights[1]}),
                                           net.gradient[1]))
    assert wrong.explicit_gradient_mismatch((2, 2, 2)) == [1]


@pytest.mark.parametrize("depth", [2, 3, 4, 5, 6])
def test_imbalance_conserved(depth):
    net = LinearNetwork(depth)
    for l in range(1, depth):
        assert net.conservation_residual(l) == sp.ZeroMatrix(*net.imbalance(l).shape)


def test_conservation_proof_fails_for_a_wrong_flow():
    net = LinearNetwork(3)
    flow = dict(net.flow)
    flow[net.weights[0]] = 2 * flow[net.weights[0]]  # layers on different time scales
    res = sp.expand(_ddt(sp.expand(net.imbalance(1)), flow).doit())
    assert res != sp.ZeroMatrix(*net.imbalance(1).shape)


def test_sum_of_traces_termwise_is_right():
    W = sp.MatrixSymbol("W", 2, 2)
    expr = sp.Trace(W.T * W) / 2 + sp.Trace(W.T * W)
    assert sp.expand(diff_termwise(expr, W) - 3 * W) == sp.ZeroMatrix(2, 2)


@pytest.mark.xfail(strict=True, reason="sympy#27406: derivative of a sum of traces returns 0")
def test_sympy_sum_of_traces_bug():
    W1, W2, Y = (sp.MatrixSymbol(s, 2, 2) for s in ("W1", "W2", "Y"))
    R = Y - W2 * W1
    expr = sp.Trace(R.T * R) / 2 + sp.Trace(W1.T * W1)
    truth = 2 * W1 + W2.T * W2 * W1 - W2.T * Y
    assert sp.expand(expr.diff(W1) - truth) == sp.ZeroMatrix(2, 2)


def test_gd_identity_and_its_planted_failure():
    net = LinearNetwork(3)
    for l in (1, 2):
        assert net.gd_identity_residual(l) == sp.ZeroMatrix(*net.imbalance(l).shape)
    eta = sp.Symbol("eta")
    G = net.gradient
    step = {w: w - eta * g for w, g in zip(net.weights, G)}
    D = net.imbalance(1)
    wrong = sp.expand((D.xreplace(step) - D - eta**2 * (G[0].T * G[0])).doit())  # missing term
    assert wrong != sp.ZeroMatrix(*D.shape)


@pytest.mark.parametrize("depth", [2, 3])
def test_lemma1_operator_is_T_on_column_major_vec(depth):
    """Lemma 1's Kronecker form against T applied to a basis (tests/reference.py), at drawn weights."""
    import numpy as np
    from flowcert.numerics import compile_matrix
    from . import reference as ref
    net = LinearNetwork(depth)
    widths = (2, 3, 2, 3)[:depth + 1]
    rng = np.random.default_rng(depth)
    ws = [rng.normal(size=(widths[l], widths[l + 1])) for l in range(depth)]
    T = compile_matrix(net.lemma1_operator(), net.weights)(*ws)
    # the same sums of products of O(1) entries by two routes: a few units of 1e-16 each
    assert np.max(np.abs(np.asarray(T, float) - ref.T_matrix(ws))) < 1e-12


def test_concrete_widths():
    net = LinearNetwork(2, dims=(2, 3, 4))
    assert [w.shape for w in net.weights] == [(2, 3), (3, 4)] and net.target.shape == (2, 4)
    for dims in ((2, 3), (2, 3, 4, 5)):
        with pytest.raises(ValueError, match="dims: expected 3 widths"):
            LinearNetwork(2, dims=dims)


def test_residual_is_the_loss_gradient_in_the_product():
    """grad_W 1/2 ||W - Y||^2 = W - Y, entry by entry at W = W1 W2."""
    net = LinearNetwork(2)
    ex = net.explicit((2, 2, 2))
    W = ex[net.weights[0]] * ex[net.weights[1]]
    Y = ex[net.target]
    M = sp.Matrix(2, 2, sp.symbols("m0:4"))
    loss = sum((M - Y).applyfunc(lambda v: v ** 2)) / 2
    grad = M.applyfunc(lambda m: sp.diff(loss, m)).subs(dict(zip(M, W)))
    assert sp.expand(sp.Matrix(net.residual.subs(ex).doit()) - grad) == sp.zeros(2, 2)


def test_explicit_entries_are_distinct_past_ten_rows():
    ex = LinearNetwork(2).explicit((12, 12, 12))
    names = [str(x) for M in ex.values() for x in M]
    assert len(names) == len(set(names)) == 3 * 144
    assert "w1_01" in [str(x) for x in LinearNetwork(2).explicit((2, 2, 2))[LinearNetwork(2).weights[0]]]


def test_bad_depth():
    with pytest.raises(ValueError, match="depth"):
        LinearNetwork(1)


def test_depth_beyond_the_limit_is_refused_at_once():
    from flowcert.theory._linear import MAX_DEPTH
    for bad in (10 ** 6, MAX_DEPTH + 1, 1, True, 2.0):
        with pytest.raises(ValueError, match="depth: expected an integer in"):
            LinearNetwork(bad)
