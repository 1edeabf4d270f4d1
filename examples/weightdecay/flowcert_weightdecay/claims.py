"""The example's claims: the imbalance decays exactly as exp(-2 lam t) D(0)."""
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from flowcert.checks import Claim, Verdict, register
from flowcert.checks.export import show
from flowcert.theory import Ddt, eq, func, mat, sym
from flowcert.checks.strategies import chains, targets
from flowcert.numerics import solve

from .model import D, W1, W2, flow, imbalance_rate_residual, lam, loss, net

__all__ = ["decay", "inputs", "latex_section"]

#: (weights, target, lam): fan-in chains of two layers, a bounded target, a decay rate in [0.05, 1]
inputs = st.tuples(chains(depth=2, max_width=3, scheme="fan_in"), st.floats(0.05, 1.0)).flatmap(
    lambda ex: st.tuples(st.just(ex[0]), targets(ex[0][0].shape[0], ex[0][1].shape[1]), st.just(ex[1])))

# The float64 Taylor steps err by ~1e-16 relative to the state per step; over t in [0, 1] with O(1)
# entries and a few hundred steps the accumulated error stays below 1e-13, so 1e-11 leaves room.
TOL = 1e-11


def imbalance_error(example, rate=2.0) -> float:
    """max |D(1) - exp(-rate lam) D(0)| along the flow integrated in float64."""
    (w1, w2), Y, r = example
    field = {k: v.subs(lam, r) for k, v in flow.items()}
    sol = solve(field, {W1: w1, W2: w2}, 1.0, params={net.target: Y}, dps=None)
    d0 = w1.T @ w1 - w2 @ w2.T
    d1 = sol.final[W1].T @ sol.final[W1] - sol.final[W2] @ sol.final[W2].T
    return float(np.max(np.abs(d1 - np.exp(-rate * r) * d0)))


def decay(example, rate=2.0) -> Verdict:
    err = imbalance_error(example, rate)
    return Verdict(err <= TOL, (TOL - err) / TOL, "float64", f"max |D(1) - exp(-{rate:g} lam) D(0)| = {err:.2g}")


def _identity(_):
    res = imbalance_rate_residual(2)
    zero = res == sp.ZeroMatrix(*D.shape)
    return Verdict(zero, float("inf") if zero else -1.0, "exact", "dD/dt + 2 lam D expands to 0" if zero else str(res))


register(Claim(
    "weightdecay.flow.identity", "weightdecay", "derived",
    "Along the flow with weight decay lam, dD/dt = -2 lam D (SymPy: the residual expands to the zero matrix).",
    eq(Ddt(mat("D")), -2 * lam * mat("D")), _identity, example=None,
    tex=r"Along the flow with weight decay $\lambda$ the imbalance obeys this ODE (SymPy: the residual expands to "
        r"the zero matrix)."))

register(Claim(
    "weightdecay.flow.decay", "weightdecay", "derived",
    "With weight decay lam, the imbalance decays as exp(-2 lam t) D(0) (float64 flow on [0, 1]).",
    eq(mat("D(t)"), sp.exp(-2 * lam * sym("t")) * mat("D(0)")), decay, inputs, examples={"quick": 6},
    tex=r"With weight decay $\lambda$ the imbalance decays exponentially (float64 flow on $[0, 1]$)."))


def latex_section() -> str:
    out = [r"\section{weightdecay: a two-layer linear network with weight decay}",
           show(eq(func(r"\mathcal{L}")(W1, W2), loss), "weightdecay.flow.identity"),
           show(eq(Ddt(W1), flow[W1])),
           show(eq(Ddt(W2), flow[W2])),
           show(eq(mat("D"), D))]
    return "\n".join(out)
