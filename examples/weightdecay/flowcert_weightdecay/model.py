"""The model, defined once by its loss; everything else is derived by SymPy.

``L(W1, W2) = 1/2 ||Y - W1 W2||_F^2 + lam/2 (||W1||_F^2 + ||W2||_F^2)``.
"""
import sympy as sp

from flowcert.theory import LinearNetwork, diff_termwise

__all__ = ["D", "W1", "W2", "flow", "imbalance_rate_residual", "lam", "loss", "net"]

lam = sp.Symbol("lambda", positive=True)
net = LinearNetwork(2)
W1, W2 = net.weights
loss = net.loss + lam / 2 * (sp.Trace(W1.T * W1) + sp.Trace(W2.T * W2))
#: dW/dt = -dL/dW, derived term by term (never typed)
flow = {w: -diff_termwise(loss, w) for w in net.weights}
#: the imbalance of the network without weight decay
D = net.imbalance(1)


def imbalance_rate_residual(rate=2):
    """``dD/dt + rate * lam * D`` along the flow, expanded: the zero matrix exactly when ``rate`` is 2."""
    ddt = flow[W1].T * W1 + W1.T * flow[W1] - flow[W2] * W2.T - W2 * flow[W2].T
    return sp.expand((ddt + rate * lam * D).doit())
