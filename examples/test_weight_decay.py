"""A user-defined claim about a new model, checked with flowcert's strategies and numerics.

Model: a two-layer linear network with weight decay,
    L(W1, W2) = 1/2 ||Y - W1 W2||^2 + lam/2 (||W1||^2 + ||W2||^2).
Claim: the imbalance is no longer conserved but decays exactly, D(t) = exp(-2 lam t) D(0).

Run with plain pytest:  pytest examples/
"""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from checks import Claim, RunOptions, Verdict, run_claim
from checks.pytest_plugin import assert_claim
from checks.strategies import chains, targets
from numerics import solve
from theory import LinearNetwork, diff_termwise, latex

lam = sp.Symbol("lambda", positive=True)
net = LinearNetwork(2)
W1, W2 = net.weights
loss = net.loss + lam / 2 * (sp.Trace(W1.T * W1) + sp.Trace(W2.T * W2))
flow = {w: -diff_termwise(loss, w) for w in net.weights}  # derived by SymPy, term by term
D = net.imbalance(1)


def test_derivative_of_imbalance_is_minus_two_lambda_D():
    ddt = flow[W1].T * W1 + W1.T * flow[W1] - flow[W2] * W2.T - W2 * flow[W2].T
    assert sp.expand((ddt + 2 * lam * D).doit()) == sp.ZeroMatrix(*D.shape)


def imbalance_error(example, factor) -> float:
    """max |D(1) - exp(-factor * lam) D(0)| along the flow integrated in float64."""
    (w1, w2), Y, rate = example
    field = {k: v.subs(lam, rate) for k, v in flow.items()}
    sol = solve(field, {W1: w1, W2: w2}, 1.0, params={net.target: Y}, dps=None)
    d0 = w1.T @ w1 - w2 @ w2.T
    d1 = sol.final[W1].T @ sol.final[W1] - sol.final[W2] @ sol.final[W2].T
    return float(np.max(np.abs(d1 - np.exp(-factor * rate) * d0)))


# Taylor steps err by ~1e-16 relative to the state; entries are O(1) over a horizon of 1
TOL = 1e-11


def decay(example, factor=2.0) -> Verdict:
    err = imbalance_error(example, factor)
    return Verdict(err <= TOL, TOL - err, "float64", f"max |D(1) - exp(-{factor:g} lam) D(0)| = {err:.2g}")


inputs = st.tuples(chains(depth=2, max_width=3, scheme="fan_in"), st.floats(0.05, 1.0)).flatmap(
    lambda ex: st.tuples(st.just(ex[0]), targets(ex[0][0].shape[0], ex[0][1].shape[1]), st.just(ex[1])))

weight_decay = Claim(
    "example.decay.imbalance", "example", "derived",
    "With weight decay lam, the imbalance decays as exp(-2 lam t) D(0).",
    r"D(t) = e^{-2 \lambda t} D(0), \quad D = " + latex(D), decay, inputs, examples={"quick": 10})


def test_user_claim_holds():
    assert_claim(weight_decay, RunOptions(profile="quick"))


def test_user_claim_fails_for_a_planted_wrong_rate():
    wrong = Claim("example.decay.wrong", "example", "derived", "planted: exp(-lam t)", "x",
                  lambda ex: decay(ex, factor=1.0), inputs)
    assert run_claim(wrong, RunOptions(profile="quick")).status == "fail"


@given(chains(depth=3, max_width=3))
def test_strategies_are_public(ws):
    assert ws[0].shape[1] == ws[1].shape[0]


@pytest.mark.flowcert("min2023.thm2.scalar-example", "min2023.disc")
def test_registered_claims(flowcert_claim, flowcert_options):
    assert_claim(flowcert_claim, flowcert_options)
