"""The L-layer linear network, defined once by its loss; everything else is derived.

Convention (min2023): ``W_l`` is ``h_{l-1} x h_l``, ``W = W_1 W_2 ... W_L`` is ``n x m`` with
``n = h_0`` and ``m = h_L``; the loss is ``1/2 ||Y - W||_F^2``. chen2022's convention
(``W = W_N ... W_1``) is the transpose of this one: :meth:`LinearNetwork.transposed_view`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from typing import Sequence

import sympy as sp

from ._cache import derivation, derived


class DerivationError(RuntimeError):
    """A symbolic derivation disagreed with its independent cross-check."""


def diff_termwise(expr: sp.Expr, wrt: sp.MatrixSymbol) -> sp.MatrixExpr:
    """Derivative of a scalar matrix expression, term by term.

    SymPy can silently return 0 for the derivative of a *sum* of traces (sympy#27406, #23492,
    #25118); differentiating each term of the expanded sum on its own avoids it. Callers must still
    cross-check against explicit entries (:func:`explicit_gradient_mismatch`).
    """
    terms = sp.Add.make_args(sp.expand(expr))
    return sp.expand(sp.Add(*[t.diff(wrt) for t in terms]))


def _prod(mats):
    return reduce(lambda a, b: a * b, mats)


#: the deepest network derived symbolically: the flow and the bounds are sums over layers of
#: products of them, whose size (and SymPy's time) grows with the depth; 10**6 layers never ends
MAX_DEPTH = 200


def entry_separator(shape: Sequence[int]) -> str:
    """Between the row and column of an explicit entry's name: none while every 0-based index has
    one digit (``w1_01``), a comma past that (``w1_1,11``; ``w1_111`` would be (1, 11) and (11, 1))."""
    return "," if max(shape) > 10 else ""


@dataclass(frozen=True)
class LinearNetwork:
    """``L(W_1..W_L) = 1/2 ||Y - W_1 ... W_L||_F^2`` with symbolic widths ``h_0 .. h_L``.

    >>> net = LinearNetwork(2)
    >>> net.gradient[0]
    W1*W2*W2.T - Y*W2.T
    >>> net.imbalance(1)
    -W2*W2.T + W1.T*W1
    """

    depth: int
    dims: tuple = field(default=None)

    def __post_init__(self):
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or not 2 <= self.depth <= MAX_DEPTH:
            raise ValueError(f"depth: expected an integer in [2, {MAX_DEPTH}], got {self.depth!r}")
        if self.dims is None:
            dims = sp.symbols(f"h0:{self.depth + 1}", integer=True, positive=True)
            object.__setattr__(self, "dims", tuple(dims))
        elif len(self.dims) != self.depth + 1:
            raise ValueError(f"dims: expected {self.depth + 1} widths, got {len(self.dims)}")

    # -- the definition -------------------------------------------------------------------
    @derived
    def weights(self) -> tuple[sp.MatrixSymbol, ...]:
        h = self.dims
        return tuple(sp.MatrixSymbol(f"W{l + 1}", h[l], h[l + 1]) for l in range(self.depth))

    @derived
    def target(self) -> sp.MatrixSymbol:
        return sp.MatrixSymbol("Y", self.dims[0], self.dims[-1])

    @property
    def n(self):
        return self.dims[0]

    @property
    def m(self):
        return self.dims[-1]

    @derived
    def product(self) -> sp.MatrixExpr:
        return _prod(self.weights)

    @derived
    def residual(self) -> sp.MatrixExpr:
        """``grad f(W) = W - Y`` for ``f = 1/2 ||Y - W||^2``."""
        return self.product - self.target

    @derived
    def loss(self) -> sp.Expr:
        r = self.target - self.product
        return sp.Trace(r.T * r) / 2

    # -- derived --------------------------------------------------------------------------
    @derived
    @derivation
    def gradient(self) -> tuple[sp.MatrixExpr, ...]:
        """``dL/dW_l`` for every layer, derived by SymPy from :attr:`loss`."""
        grads = tuple(diff_termwise(self.loss, w) for w in self.weights)
        for l, g in enumerate(grads):
            if g == 0 or isinstance(g, sp.ZeroMatrix):
                # a zero gradient of a non-constant loss is the known SymPy failure mode
                raise DerivationError(f"SymPy returned a zero gradient for W{l + 1}")
        return grads

    @derived
    def flow(self) -> dict[sp.MatrixSymbol, sp.MatrixExpr]:
        """The gradient flow ``dW_l/dt = -dL/dW_l``."""
        return {w: -g for w, g in zip(self.weights, self.gradient)}

    def prefix(self, l: int) -> sp.MatrixExpr:
        """``P_l = W_1 ... W_{l-1}`` (identity for l = 1); l is 1-based."""
        if l == 1:
            return sp.Identity(self.n)
        return _prod(self.weights[: l - 1])

    def suffix(self, l: int) -> sp.MatrixExpr:
        """``S_l = W_{l+1} ... W_L`` (identity for l = L); l is 1-based."""
        if l == self.depth:
            return sp.Identity(self.m)
        return _prod(self.weights[l:])

    @derivation
    def paper_gradient(self, l: int) -> sp.MatrixExpr:
        """Eq. (D.1) as printed: ``P_l^T (W - Y) S_l^T``, used to check the derived gradient."""
        return sp.expand((self.prefix(l).T * self.residual * self.suffix(l).T).doit())

    def paper_gradient_shown(self, l: int) -> sp.MatrixExpr:
        """Eq. (D.1) unexpanded, ``P_l^T (W - Y) S_l^T`` as one product, for printing."""
        parts = [self.prefix(l).T.doit(), self.residual, self.suffix(l).T.doit()]
        flat = [a for p in parts if not isinstance(p, sp.Identity)
                for a in (p.args if isinstance(p, sp.MatMul) else (p,))]
        return sp.MatMul(*flat)

    def imbalance(self, l: int) -> sp.MatrixExpr:
        """``D_l = W_l^T W_l - W_{l+1} W_{l+1}^T`` (eq. 8), l = 1 .. L-1."""
        if not 1 <= l <= self.depth - 1:
            raise ValueError(f"l: expected 1 <= l <= {self.depth - 1}, got {l}")
        w, v = self.weights[l - 1], self.weights[l]
        return w.T * w - v * v.T

    @derived
    def imbalances(self) -> tuple[sp.MatrixExpr, ...]:
        return tuple(self.imbalance(l) for l in range(1, self.depth))

    def time_derivative(self, expr: sp.MatrixExpr) -> sp.MatrixExpr:
        """d/dt of a polynomial matrix expression along the flow, expanded (product rule)."""
        return sp.expand(_ddt(sp.expand(expr), self.flow).doit())

    @derivation
    def conservation_residual(self, l: int) -> sp.MatrixExpr:
        """``dD_l/dt`` with the flow substituted; Lemma 2 says it is the zero matrix."""
        return self.time_derivative(self.imbalance(l))

    @derivation
    def gd_identity_residual(self, l: int, eta: sp.Symbol | None = None) -> sp.MatrixExpr:
        """``D_l(k+1) - D_l(k) - eta^2 (G_l^T G_l - G_{l+1} G_{l+1}^T)`` after one GD step.

        Exact algebra: it expands to the zero matrix iff the first-order terms cancel as in
        Lemma 2 (the identity of min2023 section 3.3).
        """
        eta = eta if eta is not None else sp.Symbol("eta", positive=True)
        G = self.gradient
        step = {w: w - eta * g for w, g in zip(self.weights, G)}
        D = self.imbalance(l)
        after = D.xreplace(step)
        gl, gn = G[l - 1], G[l]
        return sp.expand((after - D - eta**2 * (gl.T * gl - gn * gn.T)).doit())

    def lemma1_operator(self) -> sp.MatrixExpr:
        """``T = sum_l (S_l^T S_l)^T kron (P_l P_l^T)`` acting on column-major vec (Lemma 1)."""
        terms = []
        for l in range(1, self.depth + 1):
            P, S = self.prefix(l), self.suffix(l)
            terms.append(sp.KroneckerProduct((S.T * S).T, P * P.T))
        return sp.MatAdd(*terms)

    # -- explicit entries -----------------------------------------------------------------
    def explicit(self, shape: Sequence[int]) -> dict[sp.MatrixSymbol, sp.Matrix]:
        """Explicit symbolic matrices ``w{l}_{ij}``, ``y_{ij}`` for concrete widths ``shape``."""
        shape = tuple(int(s) for s in shape)
        if len(shape) != self.depth + 1 or min(shape) < 1:
            raise ValueError(f"shape: expected {self.depth + 1} positive widths, got {shape}")
        sep = entry_separator(shape)
        out = {}
        for l, w in enumerate(self.weights):
            out[w] = sp.Matrix(shape[l], shape[l + 1],
                               lambda i, j, l=l: sp.Symbol(f"w{l + 1}_{i}{sep}{j}"))
        out[self.target] = sp.Matrix(shape[0], shape[-1], lambda i, j: sp.Symbol(f"y_{i}{sep}{j}"))
        return out

    def concrete(self, expr, shape: Sequence[int]):
        """Substitute concrete widths and explicit entries into a matrix or scalar expression."""
        ents = self.explicit(shape)
        sub = dict(zip(self.dims, shape))
        e = expr.subs(sub) if hasattr(expr, "subs") else expr
        e = e.xreplace({w.subs(sub): M for w, M in ents.items()})
        return e.doit()

    @derivation
    def explicit_gradient_mismatch(self, shape: Sequence[int]) -> list[int]:
        """Layers whose derived gradient differs from entry-by-entry differentiation.

        An empty list means the MatrixSymbol derivation is confirmed on ``shape``.
        """
        ents = self.explicit(shape)
        mats = [ents[w] for w in self.weights]
        r = ents[self.target] - _prod(mats)
        scalar = sp.expand(sum(x**2 for x in r) / 2)
        bad = []
        for l, (w, g) in enumerate(zip(self.weights, self.gradient)):
            M = ents[w]
            by_entry = M.applyfunc(lambda x: sp.diff(scalar, x))
            derived = sp.Matrix(self.concrete(g, shape))
            if (by_entry - derived).applyfunc(sp.expand) != sp.zeros(*M.shape):
                bad.append(l + 1)
        return bad

    def transposed_view(self):
        """chen2022 reads ``W_j`` as ``d_j x d_{j-1}`` with ``W = W_N ... W_1``: the same network
        with every matrix transposed. Returns ``{W_l: W_l^T}`` for substitution."""
        return {w: w.T for w in self.weights}



def _ddt(expr, flow):
    """Product rule over a (non-commutative) matrix polynomial."""
    if isinstance(expr, sp.MatrixSymbol):
        return flow.get(expr, sp.ZeroMatrix(*expr.shape))
    if isinstance(expr, sp.Transpose):
        return _ddt(expr.arg, flow).T
    if isinstance(expr, sp.MatAdd):
        return sp.MatAdd(*[_ddt(a, flow) for a in expr.args])
    if isinstance(expr, sp.MatMul):
        args = expr.args
        terms = []
        for i, a in enumerate(args):
            if not getattr(a, "is_Matrix", False):
                continue
            terms.append(sp.MatMul(*args[:i], _ddt(a, flow), *args[i + 1:]))
        return sp.MatAdd(*terms) if terms else sp.ZeroMatrix(*expr.shape)
    if isinstance(expr, (sp.Identity, sp.ZeroMatrix)):
        return sp.ZeroMatrix(*expr.shape)
    raise TypeError(f"cannot differentiate {type(expr).__name__} along the flow")
