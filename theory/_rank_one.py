"""chen2022's reading of the linear network, and its reduction on balanced one-neuron-layer tuples.

**One model, two readings.** chen2022 writes ``W_j in R^{d_j x d_{j-1}}``, ``W = W_N ... W_1`` and
the loss ``1/2 ||W - Z||_F^2``. The network of :class:`~flowcert.theory.LinearNetwork` (min2023's reading,
``V_l in R^{h_{l-1} x h_l}``, ``V_1 ... V_L``, target ``Y``) is the same model under

    V_l = W_l^T  (same index, no reversal),   h_l = d_l,   Y = Z^T,

because ``(W_N ... W_1)^T = W_1^T ... W_N^T = V_1 ... V_N``. :class:`ChenNetwork` obtains its
gradients, flow and imbalances from ``LinearNetwork`` through this substitution and proves the
substitution right (:meth:`ChenNetwork.view_residuals`: the products, losses and imbalances
agree, the gradient equals the printed formula (4.1), and explicit entries agree).

**Rank one.** A balanced tuple (``W_{j+1}^T W_{j+1} = W_j W_j^T``) has, layer to layer, the same
nonzero singular values (``W_{j+1}^T W_{j+1}`` and ``W_{j+1} W_{j+1}^T`` share their nonzero
spectrum, and so do ``W_j W_j^T`` and ``W_j^T W_j``); a width-1 layer lets at most one through.
So ``W_j = a q_j q_{j-1}^T`` with unit ``q_j`` and one ``a >= 0``. :class:`RankOneReduction`
substitutes this ansatz into the *derived* layer flow and reads off, by exact algebra on the
matrix symbols (the rules ``q_j^T q_j = 1`` and ``q_N^T Z q_0 = c``), the scalar and direction
ODEs; it then checks that the ansatz with these ODEs reproduces the layer flow term by term (the
flow is tangent to the rank-one set), and derives the end-to-end dynamics from the product rule.

Everything here is exact (SymPy); numbers live in numerics/, the claims in flowcert.checks.papers.chen2022.
"""
from __future__ import annotations

from functools import lru_cache, reduce
from typing import Sequence

import sympy as sp

from ._linear import LinearNetwork, _ddt, entry_separator
from ._cache import derivation, derived

# -------------------------------------------------------------------------------------------------
# A polynomial normal form for matrix expressions


def _tfactor(f):
    if isinstance(f, sp.Transpose):
        return f.arg
    if isinstance(f, sp.Identity):
        return f
    return sp.Transpose(f)


def _merge(out: dict, key, coeff):
    out[key] = out.get(key, 0) + coeff


def normal_form(expr) -> dict:
    """``{factors: coefficient}``: ``expr`` fully distributed into products of matrix symbols and
    their transposes with scalar coefficients (independent of ``sp.expand``'s matrix handling).

    >>> A, B = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("B", 2, 2)
    >>> normal_form((2 * A + B).T * A)
    {(A.T, A): 2, (B.T, A): 1}
    """
    if isinstance(expr, (sp.MatAdd, sp.Add)):
        out: dict = {}
        for a in expr.args:
            for k, c in normal_form(a).items():
                _merge(out, k, c)
        return _clean(out)
    if isinstance(expr, (sp.MatMul, sp.Mul)):
        acc = {(): sp.Integer(1)}
        for a in expr.args:
            part = normal_form(a) if getattr(a, "is_Matrix", False) or isinstance(a, (sp.Add, sp.Mul)) \
                and any(getattr(x, "is_Matrix", False) for x in sp.preorder_traversal(a)) else {(): a}
            nxt: dict = {}
            for k1, c1 in acc.items():
                for k2, c2 in part.items():
                    _merge(nxt, k1 + k2, c1 * c2)
            acc = nxt
        return _clean({tuple(f for f in k if not (isinstance(f, sp.Identity) and len(k) > 1)): c
                       for k, c in acc.items()})
    if isinstance(expr, sp.Transpose):
        return {tuple(_tfactor(f) for f in reversed(k)): c for k, c in normal_form(expr.arg).items()}
    if isinstance(expr, sp.ZeroMatrix):
        return {}
    if isinstance(expr, (sp.MatrixSymbol, sp.Identity)):
        return {(expr,): sp.Integer(1)}
    if isinstance(expr, sp.MatPow) and expr.exp.is_Integer and expr.exp > 0:
        return normal_form(sp.MatMul(*([expr.base] * int(expr.exp)), evaluate=False))
    if getattr(expr, "is_Matrix", False):
        raise TypeError(f"normal_form: unsupported matrix node {type(expr).__name__}")
    return {(): expr}


def _clean(d: dict) -> dict:
    out = {}
    for k, c in d.items():
        c = sp.expand(sp.powsimp(sp.expand(c)))
        if c != 0:
            out[k] = c
    return out


def trace_form(expr) -> dict:
    """Normal form of a scalar ``c * Trace(M)`` (or a sum of such), each product brought to a
    canonical representative under the trace's symmetries (cyclic rotation, transposition).

    >>> A, B = sp.MatrixSymbol("A", 2, 3), sp.MatrixSymbol("B", 3, 2)
    >>> trace_form(sp.Trace(A * B)) == trace_form(sp.Trace(B.T * A.T))
    True
    """
    out: dict = {}
    for term in sp.Add.make_args(sp.expand(expr)):
        coeff, traces = sp.Integer(1), []
        for f in sp.Mul.make_args(term):
            (traces if isinstance(f, sp.Trace) else [coeff]).append(f) if isinstance(f, sp.Trace) else None
            if not isinstance(f, sp.Trace):
                coeff = coeff * f
        if len(traces) != 1:
            raise TypeError(f"trace_form: expected one Trace per term, got {term}")
        for k, c in normal_form(traces[0].arg).items():
            tk = tuple(_tfactor(f) for f in reversed(k))
            reps = [k[i:] + k[:i] for i in range(len(k))] + [tk[i:] + tk[:i] for i in range(len(tk))]
            _merge(out, min(reps, key=lambda r: tuple(map(str, r))) if reps else (), coeff * c)
    return _clean(out)


def from_normal_form(nf: dict, shape=None):
    """The SymPy expression of a normal form (a scalar when every key is empty)."""
    if not nf:
        return sp.ZeroMatrix(*shape) if shape is not None else sp.Integer(0)
    terms = []
    for k, c in nf.items():
        terms.append(c if not k else sp.MatMul(*sp.Mul.make_args(sp.factor(c)), *k))
    if all(not k for k in nf):
        return sp.Add(*terms)
    return sp.MatAdd(*terms)


def nf_sub(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, c in b.items():
        _merge(out, k, -c)
    return _clean(out)


def nf_scale(a: dict, s) -> dict:
    return _clean({k: c * s for k, c in a.items()})


def nf_mul(a: dict, b: dict) -> dict:
    out: dict = {}
    for k1, c1 in a.items():
        for k2, c2 in b.items():
            _merge(out, k1 + k2, c1 * c2)
    return _clean(out)


# -------------------------------------------------------------------------------------------------
# chen2022's reading of the one model


class ChenNetwork:
    """``L(W_1..W_N) = 1/2 ||W_N ... W_1 - Z||_F^2`` with ``W_j`` of shape ``d_j x d_{j-1}``: a view of
    :class:`LinearNetwork` (``V_l = W_l^T``, ``Y = Z^T``), not a second model.

    >>> c = ChenNetwork(2)
    >>> c.gradient[0]
    W2.T*W2*W1 - W2.T*Z
    >>> c.imbalance(1)
    -W1*W1.T + W2.T*W2
    """

    def __init__(self, depth: int):
        self.net = _network(depth)
        self.depth = depth
        self.dims = self.net.dims                      # d_0 .. d_N (= h_0 .. h_N)

    @derived
    def weights(self) -> tuple:
        d = self.dims
        return tuple(sp.MatrixSymbol(f"W{j}", d[j], d[j - 1]) for j in range(1, self.depth + 1))

    @derived
    def target(self) -> sp.MatrixSymbol:
        return sp.MatrixSymbol("Z", self.dims[-1], self.dims[0])

    @derived
    def to_network(self) -> dict:
        """The dictionary to the shared model: ``{V_l: W_l^T, Y: Z^T}``."""
        sub = {v: w.T for v, w in zip(self.net.weights, self.weights)}
        sub[self.net.target] = self.target.T
        return sub

    @derived
    def product(self) -> sp.MatrixExpr:
        return reduce(lambda a, b: a * b, reversed(self.weights))

    @derived
    def loss(self) -> sp.Expr:
        r = self.product - self.target
        return sp.Trace(r.T * r) / 2

    def _from_net(self, expr):
        return sp.expand(sp.Transpose(expr.xreplace(self.to_network)).doit()) if expr.is_Matrix else expr

    @derived
    @derivation
    def gradient(self) -> tuple:
        """``dL/dW_j = (dL/dV_j)^T`` under the dictionary: derived once, for the shared model (and
        remembered on disk: the transport costs about a second per depth)."""
        return tuple(self._from_net(g) for g in self.net.gradient)

    @derived
    def flow(self) -> dict:
        return {w: -g for w, g in zip(self.weights, self.gradient)}

    def imbalance(self, j: int) -> sp.MatrixExpr:
        """``D_j = W_{j+1}^T W_{j+1} - W_j W_j^T`` (chen's sign; min2023's ``D_j`` is its negative)."""
        if not 1 <= j <= self.depth - 1:
            raise ValueError(f"j: expected 1 <= j <= {self.depth - 1}, got {j}")
        a, b = self.weights[j - 1], self.weights[j]
        return b.T * b - a * a.T

    @derivation
    def conservation_residual(self, j: int) -> sp.MatrixExpr:
        """``dD_j/dt`` along chen's flow, by the product rule (zero matrix: conserved)."""
        return sp.expand(_ddt(sp.expand(self.imbalance(j)), self.flow).doit())

    def printed_gradient(self, j: int) -> sp.MatrixExpr:
        """Formula (4.1) of the reconstruction: ``(W_N..W_{j+1})^T (W - Z) (W_{j-1}..W_1)^T``."""
        ws = self.weights
        left = [w.T for w in ws[j:]]                 # (W_N .. W_{j+1})^T = W_{j+1}^T .. W_N^T
        right = [ws[i].T for i in range(0, j - 1)]   # (W_{j-1} .. W_1)^T = W_1^T .. W_{j-1}^T
        factors = left + [self.product - self.target] + right
        return sp.expand(sp.MatMul(*factors).doit())

    @derivation
    def view_residuals(self, shape: Sequence[int] | None = None, explicit: bool = True) -> list[str]:
        """What disagrees between the two readings (empty: the dictionary is proved).

        Symbolically: ``V_1..V_N -> (W_N..W_1)^T``, the losses are equal, ``D_j^chen = -D_j^min``
        under the dictionary, and the transported gradient equals (4.1). On ``shape`` (``d_0..d_N``,
        default alternating 1 and 2: non-square, so a transposition shows) the transported
        gradient also equals entry-by-entry differentiation of chen's loss.
        """
        bad = []
        net = self.net
        prod = sp.expand(net.product.xreplace(self.to_network).doit())
        if normal_form(prod) != normal_form(sp.Transpose(self.product).doit()):
            bad.append("product: V_1..V_N != (W_N..W_1)^T")
        loss_net = net.loss.xreplace(self.to_network)
        if trace_form(loss_net) != trace_form(self.loss):
            bad.append("loss: the two readings differ")
        for j in range(1, self.depth):
            mine = normal_form(self.imbalance(j))
            theirs = normal_form(sp.expand(net.imbalance(j).xreplace(self.to_network).doit()))
            if nf_sub(mine, nf_scale(theirs, -1)):
                bad.append(f"D_{j}: chen's imbalance is not minus min2023's")
        for j in range(1, self.depth + 1):
            if nf_sub(normal_form(self.gradient[j - 1]), normal_form(self.printed_gradient(j))):
                bad.append(f"W{j}: transported gradient != (4.1)")
        shape = tuple(shape) if shape is not None else tuple(1 + (i % 2) for i in range(self.depth + 1))
        if explicit:
            bad += [f"W{j}: transported gradient != explicit entries on {shape}"
                    for j in self.explicit_mismatch(shape)]
        return bad

    def explicit(self, shape: Sequence[int]) -> dict:
        shape = tuple(int(s) for s in shape)
        if len(shape) != self.depth + 1 or min(shape) < 1:
            raise ValueError(f"shape: expected {self.depth + 1} positive widths d_0..d_N, got {shape}")
        sep = entry_separator(shape)
        out = {w: sp.Matrix(shape[j + 1], shape[j], lambda a, b, j=j: sp.Symbol(f"w{j + 1}_{a}{sep}{b}"))
               for j, w in enumerate(self.weights)}
        out[self.target] = sp.Matrix(shape[-1], shape[0], lambda a, b: sp.Symbol(f"z_{a}{sep}{b}"))
        return out

    def concrete(self, expr, shape: Sequence[int]):
        ents = self.explicit(shape)
        sub = dict(zip(self.dims, shape))
        e = expr.subs(sub) if hasattr(expr, "subs") else expr
        return e.xreplace({w.subs(sub): M for w, M in ents.items()}).doit()

    @derivation
    def explicit_mismatch(self, shape: Sequence[int]) -> list[int]:
        """Layers whose transported gradient differs from differentiating chen's loss by entries."""
        ents = self.explicit(shape)
        mats = [ents[w] for w in self.weights]
        W = reduce(lambda a, b: a * b, reversed(mats))
        scalar = sp.expand(sum(x**2 for x in (W - ents[self.target])) / 2)
        bad = []
        for j, (w, g) in enumerate(zip(self.weights, self.gradient)):
            by_entry = ents[w].applyfunc(lambda x: sp.diff(scalar, x))
            if (by_entry - sp.Matrix(self.concrete(g, shape))).applyfunc(sp.expand) != sp.zeros(*ents[w].shape):
                bad.append(j + 1)
        return bad


@lru_cache(maxsize=None)
def _network(depth: int) -> LinearNetwork:
    return LinearNetwork(depth)


@lru_cache(maxsize=None)
def chen_network(depth: int) -> ChenNetwork:
    return ChenNetwork(depth)


# -------------------------------------------------------------------------------------------------
# The rank-one reduction

a_ = sp.Symbol("a", positive=True)
sigma_ = sp.Symbol("sigma", positive=True)


class RankOneReduction:
    """The layer flow of :class:`ChenNetwork` on ``W_j = a q_j q_{j-1}^T`` (unit ``q_j``).

    ``u = q_N`` (output side), ``v = q_0`` (input side), ``c = u^T Z v``, ``sigma = a^N``.
    Every ODE below is *read off* the derived flow (:attr:`a_dot`, :attr:`q_dot`), never typed in;
    :meth:`residuals` compares them with the reconstruction's printed forms.
    """

    def __init__(self, depth: int):
        self.chen = chen_network(depth)
        self.N = depth
        d = self.chen.dims
        self.q = tuple(sp.MatrixSymbol(f"q{j}", d[j], 1) for j in range(depth + 1))
        self.a, self.c, self.sigma = a_, sp.Symbol("c", real=True), sigma_
        self.Z = self.chen.target

    @property
    def u(self):
        return self.q[-1]

    @property
    def v(self):
        return self.q[0]

    @derived
    def ansatz(self) -> dict:
        q, a = self.q, self.a
        return {w: a * q[j + 1] * q[j].T for j, w in enumerate(self.chen.weights)}

    def reduce(self, expr_or_nf) -> dict:
        """Normal form with ``q_j^T q_j -> 1`` and ``q_N^T Z q_0 -> c``, ``q_0^T Z^T q_N -> c``."""
        nf = expr_or_nf if isinstance(expr_or_nf, dict) else normal_form(expr_or_nf)
        q, Z, c = self.q, self.Z, self.c
        unit = {(qq.T, qq) for qq in q}
        cpat = {(q[-1].T, Z, q[0]), (q[0].T, Z.T, q[-1])}
        out: dict = {}
        for k, coeff in nf.items():
            k = list(k)
            changed = True
            while changed:
                changed = False
                for i in range(len(k) - 1):
                    if tuple(k[i:i + 2]) in unit:
                        del k[i:i + 2]
                        changed = True
                        break
                    if i + 3 <= len(k) and tuple(k[i:i + 3]) in cpat:
                        del k[i:i + 3]
                        coeff = coeff * c
                        changed = True
                        break
            _merge(out, tuple(k), coeff)
        return _clean(out)

    def on_ansatz(self, expr) -> dict:
        return self.reduce(sp.expand(expr.xreplace(self.ansatz).doit()) if getattr(expr, "is_Matrix", False)
                           else expr.xreplace(self.ansatz))

    @derived
    def layer_flow(self) -> tuple:
        """``dW_j/dt`` of the derived flow at the ansatz, reduced (one normal form per layer)."""
        return tuple(self.on_ansatz(self.chen.flow[w]) for w in self.chen.weights)

    @derived
    def a_dot_by_layer(self) -> tuple:
        """``q_j^T (dW_j/dt) q_{j-1}`` for every j (= da/dt, since ``q^T q' = 0`` for unit q)."""
        q = self.q
        out = []
        for j in range(1, self.N + 1):
            nf = nf_mul(nf_mul({(q[j].T,): 1}, self.layer_flow[j - 1]), {(q[j - 1],): 1})
            out.append(from_normal_form(self.reduce(nf)))
        return tuple(out)

    @derived
    def a_dot(self) -> sp.Expr:
        return sp.factor(self.a_dot_by_layer[-1])

    @derived
    def q_dot(self) -> tuple:
        """``dq_j/dt``: ``(W_j' q_{j-1} - a' q_j) / a`` for j >= 1, ``(W_1'^T q_1 - a' q_0) / a`` for j = 0."""
        q, a, ad = self.q, self.a, self.a_dot
        out = [None] * (self.N + 1)
        for j in range(1, self.N + 1):
            nf = nf_sub(nf_mul(self.layer_flow[j - 1], {(q[j - 1],): 1}), {(q[j],): ad})
            out[j] = self.reduce(nf_scale(nf, 1 / a))
        w1t = {tuple(_tfactor(f) for f in reversed(k)): c for k, c in self.layer_flow[0].items()}
        nf = nf_sub(nf_mul(w1t, {(q[1],): 1}), {(q[0],): ad})
        out[0] = self.reduce(nf_scale(nf, 1 / a))
        return tuple(out)

    def tangent_residual(self) -> list[str]:
        """Layers where ``a' q_j q_{j-1}^T + a q_j' q_{j-1}^T + a q_j q_{j-1}'^T`` differs from the
        derived flow at the ansatz, and vectors whose derived ``q'`` is not orthogonal to ``q``."""
        q, a, ad, qd = self.q, self.a, self.a_dot, self.q_dot
        bad = []
        for j in range(1, self.N + 1):
            back = {k: c for k, c in {}.items()}
            back = nf_mul({(q[j],): ad}, {(q[j - 1].T,): 1})
            back = _add(back, nf_scale(nf_mul(qd[j], {(q[j - 1].T,): 1}), a))
            qdt = {tuple(_tfactor(f) for f in reversed(k)): c for k, c in qd[j - 1].items()}
            back = _add(back, nf_scale(nf_mul({(q[j],): 1}, qdt), a))
            if nf_sub(self.layer_flow[j - 1], self.reduce(back)):
                bad.append(f"W{j}: the ansatz with the derived ODEs does not reproduce the layer flow")
        for j in range(self.N + 1):
            if self.reduce(nf_mul({(q[j].T,): 1}, qd[j])):
                bad.append(f"q{j}: q^T q' != 0")
        for j, x in enumerate(self.a_dot_by_layer, 1):
            if sp.simplify(x - self.a_dot) != 0:
                bad.append(f"W{j}: q_j^T W_j' q_(j-1) = {x} differs from layer N's {self.a_dot}")
        return bad

    # -- the reconstruction's printed forms, compared with the derived ones ----------------------------------

    @derived
    def sigma_dot(self) -> sp.Expr:
        """``d(a^N)/dt = N a^{N-1} a'`` written in ``sigma = a^N``."""
        N, a, s = self.N, self.a, self.sigma
        expr = N * a ** (N - 1) * self.a_dot
        return sp.simplify(sp.powsimp(sp.expand(expr.subs(a, s ** sp.Rational(1, N))), force=True))

    def printed_sigma_dot(self):
        N, s, c = self.N, self.sigma, self.c
        return N * s ** (2 - sp.Rational(2, N)) * (c - s)

    def printed_direction(self, side: str) -> dict:
        """``sigma^{1-2/N} (I - u u^T) Z v`` (``side="u"``) or ``(I - v v^T) Z^T u`` (``"v"``), in ``a``."""
        u, v, Z, N = self.u, self.v, self.Z, self.N
        coef = self.a ** (N - 2)            # sigma^{1 - 2/N} with sigma = a^N
        if side == "u":
            expr = coef * (Z * v - u * u.T * Z * v)
        else:
            expr = coef * (Z.T * u - v * v.T * Z.T * u)
        return self.reduce(sp.expand(expr))

    @derived
    def end_to_end(self) -> dict:
        """``dW/dt`` by the product rule over ``W = W_N..W_1`` with the layer flow, at the ansatz."""
        ws = list(reversed(self.chen.weights))
        total: dict = {}
        for i in range(len(ws)):
            nf = {(): sp.Integer(1)}
            for k, w in enumerate(ws):
                part = self.layer_flow[self.chen.weights.index(w)] if k == i else self.on_ansatz(w)
                nf = nf_mul(nf, part)
            total = _add(total, nf)
        return self.reduce(total)

    def printed_end_to_end(self) -> dict:
        """``-sigma^{2-2/N} [u u^T E + E v v^T + (N-2) u u^T E v v^T]``, ``E = sigma u v^T - Z``."""
        u, v, Z, N, a = self.u, self.v, self.Z, self.N, self.a
        E = a**N * u * v.T - Z
        expr = -a ** (2 * N - 2) * (u * u.T * E + E * v * v.T + (N - 2) * u * u.T * E * v * v.T)
        return self.reduce(sp.expand(expr.doit()))

    def arora_sum(self) -> dict:
        """Arora-Cohen-Hazan: ``-sum_j (W W^T)^{(N-j)/N} E (W^T W)^{(j-1)/N}`` with the rank-one powers
        ``(W W^T)^r = sigma^{2r} u u^T`` (r > 0; ``u u^T`` is a projection) and ``I`` at r = 0."""
        u, v, Z, N, a = self.u, self.v, self.Z, self.N, self.a
        E = a**N * u * v.T - Z
        terms = []
        for j in range(1, N + 1):
            r1, r2 = sp.Rational(N - j, N), sp.Rational(j - 1, N)
            left = a ** (2 * N * r1) * u * u.T if r1 > 0 else sp.Identity(u.shape[0])
            right = a ** (2 * N * r2) * v * v.T if r2 > 0 else sp.Identity(v.shape[0])
            terms.append(-(left * E * right))
        return self.reduce(sp.expand(sp.MatAdd(*terms).doit()))

    @derivation
    def residuals(self) -> list[str]:
        """Everything the reduction should show, compared with the reconstruction's printed forms."""
        bad = self.tangent_residual()
        N, a, c = self.N, self.a, self.c
        if sp.simplify(self.a_dot - (-a ** (N - 1) * (a**N - c))) != 0:
            bad.append(f"a' = {self.a_dot} != -a^(N-1) (a^N - c)")
        if sp.simplify(self.sigma_dot - self.printed_sigma_dot()) != 0:
            bad.append(f"sigma' = {self.sigma_dot} != N sigma^(2-2/N) (c - sigma)")
        if nf_sub(self.q_dot[-1], self.printed_direction("u")):
            bad.append("u' != sigma^(1-2/N) (I - u u^T) Z v")
        if nf_sub(self.q_dot[0], self.printed_direction("v")):
            bad.append("v' != sigma^(1-2/N) (I - v v^T) Z^T u")
        for j in range(1, N):
            if self.q_dot[j]:
                bad.append(f"q{j}' = {from_normal_form(self.q_dot[j])} != 0 (middle vectors fixed)")
        if nf_sub(self.end_to_end, self.printed_end_to_end()):
            bad.append("dW/dt != -sigma^(2-2/N)[u u^T E + E v v^T + (N-2) u u^T E v v^T]")
        if nf_sub(self.end_to_end, self.arora_sum()):
            bad.append("dW/dt != the Arora-Cohen-Hazan sum with rank-one powers")
        return bad

    # -- LaTeX ---------------------------------------------------------------------------------------

    def names(self) -> dict:
        return {self.a: "a", self.c: "c", self.sigma: r"\sigma"}


def _add(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, c in b.items():
        _merge(out, k, c)
    return _clean(out)


@lru_cache(maxsize=None)
def rank_one(depth: int) -> RankOneReduction:
    return RankOneReduction(depth)


# -------------------------------------------------------------------------------------------------
# tau-time, coordinates, closed form

@derivation
def end_to_end_residuals(N: int) -> list[str]:
    """The end-to-end flow on balanced rank-one tuples three ways: the product rule
    (:attr:`RankOneReduction.end_to_end`), the printed rank-one form and the Arora-Cohen-Hazan sum
    -- equal as normal forms (and the normal form stable). Empty when all agree."""
    red = rank_one(N)
    bad = []
    if normal_form(from_normal_form(red.end_to_end)) != red.end_to_end:
        bad.append(f"N={N}: normal form unstable")
    if nf_sub(red.end_to_end, red.printed_end_to_end()):
        bad.append(f"N={N}: product rule != printed rank-one form")
    if nf_sub(red.end_to_end, red.arora_sum()):
        bad.append(f"N={N}: product rule != Arora-Cohen-Hazan sum")
    return bad


@derivation
def tau_time_residuals(N: int) -> list[str]:
    """In ``d tau = sigma^{1-2/N} dt``: ``d sigma/d tau = N sigma (c - sigma)``, and the normalised
    solution of ``x' = Z y, y' = Z^T x`` (``n = |x| = |y|``) solves the direction ODEs.

    The second part is matrix algebra: with ``u = x/n, v = y/n`` and ``(n^2)' = 2 x^T Z y``,
    ``u' = Zy/n - x n'/n^2`` reduces to ``Z v - c u``.
    """
    bad = []
    red = rank_one(N)
    s, c = red.sigma, red.c
    dsdtau = sp.simplify(red.sigma_dot / s ** (1 - sp.Rational(2, N)))
    if sp.simplify(dsdtau - N * s * (c - s)) != 0:
        bad.append(f"d sigma/d tau = {dsdtau} != N sigma (c - sigma)")
    n = sp.Symbol("n", positive=True)
    u, v, Z = red.u, red.v, red.Z
    # x = n u, y = n v: x' = Z y = n Z v, n' = x^T Z y / n = n c
    ndot = red.reduce(sp.expand(n * u.T * Z * v))           # {(): n c}
    nd = from_normal_form(ndot)
    udot = _add(red.reduce(sp.expand(Z * v)), {(u,): -nd / n})   # (n Z v)/n - (n u) n'/n^2
    if nf_sub(udot, red.reduce(sp.expand(Z * v - u * u.T * Z * v))):
        bad.append("u' from the linear system != (I - u u^T) Z v")
    if sp.simplify(nd - n * c) != 0:
        bad.append(f"n' = {nd} != c n")
    # |x|^2 - |y|^2 is conserved: 2 x^T Z y - 2 y^T Z^T x = 0
    x, y = sp.MatrixSymbol("x", Z.shape[0], 1), sp.MatrixSymbol("y", Z.shape[1], 1)
    cons = normal_form(sp.expand(2 * x.T * Z * y - 2 * (Z.T * x).T * y))
    if cons:
        bad.append(f"d(|x|^2 - |y|^2)/d tau = {from_normal_form(cons)} != 0")
    return bad


def coordinate_system(d: int, nulls: tuple[int, int] = (0, 0)):
    """Symbols and the tau-time ODEs in the singular bases: ``alpha_i' = s_i beta_i - c alpha_i``,
    ``beta_i' = s_i alpha_i - c beta_i`` (i <= d), null components ``' = -c``.

    They follow from ``u' = Z v - c u`` with ``u_i^T Z = s_i v_i^T`` and ``Z v_i = s_i u_i``.
    Returns ``(s, alpha, beta, alpha_null, beta_null, rhs)``.
    """
    s = sp.symbols(f"s1:{d + 1}", positive=True)
    al = sp.symbols(f"alpha1:{d + 1}", real=True)
    be = sp.symbols(f"beta1:{d + 1}", real=True)
    an = sp.symbols(f"alphan1:{nulls[0] + 1}", real=True)
    bn = sp.symbols(f"betan1:{nulls[1] + 1}", real=True)
    c = sum(si * x * y for si, x, y in zip(s, al, be))
    rhs = {}
    for si, x, y in zip(s, al, be):
        rhs[x] = si * y - c * x
        rhs[y] = si * x - c * y
    for z in an + bn:
        rhs[z] = -c * z
    return s, al, be, an, bn, rhs


def _is_zero(e) -> bool:
    """Exact zero test for rational functions of exponentials and unevaluated integrals: the
    numerator over a common denominator expands to 0 (``exp(a) exp(b)`` combine on expansion)."""
    return sp.expand(sp.numer(sp.together(sp.expand(e)))) == 0


@derivation
def coordinate_residuals(d: int = 3) -> list[str]:
    """``p_i' = (s_i - c) p_i``, ``q_i' = (-s_i - c) q_i``; ``c = 1/4 sum s_i (p_i^2 - q_i^2)``; the
    closed form of section 5 solves the linear system; ``(rho n^N)' = N n^N`` gives sigma(tau)."""
    bad = []
    # every zip strict: one list short of a coordinate would check the others and pass
    s, al, be, an, bn, rhs = coordinate_system(d, (1, 1))
    c = sum(si * x * y for si, x, y in zip(s, al, be, strict=True))
    for si, x, y in zip(s, al, be, strict=True):
        p, q = x + y, x - y
        if sp.expand(rhs[x] + rhs[y] - (si - c) * p) != 0:
            bad.append(f"p' != (s - c) p for {x}")
        if sp.expand(rhs[x] - rhs[y] - (-si - c) * q) != 0:
            bad.append(f"q' != (-s - c) q for {x}")
    if sp.expand(c - sum(si * ((x + y) ** 2 - (x - y) ** 2) for si, x, y in zip(s, al, be, strict=True)) / 4) != 0:
        bad.append("c != 1/4 sum s (p^2 - q^2)")
    # closed form: x_i = (P e^{s tau} + Q e^{-s tau}) / 2, y_i = (P e^{s tau} - Q e^{-s tau}) / 2 solve
    # x' = s y, y' = s x; n^2 = (|x|^2 + |y|^2)/2 as printed
    tau = sp.Symbol("tau", nonnegative=True)
    P = sp.symbols(f"P1:{d + 1}", real=True)
    Q = sp.symbols(f"Q1:{d + 1}", real=True)
    an0, bn0 = sp.symbols("a0 b0", real=True)
    xs = [(Pi * sp.exp(si * tau) + Qi * sp.exp(-si * tau)) / 2 for si, Pi, Qi in zip(s, P, Q, strict=True)]
    ys = [(Pi * sp.exp(si * tau) - Qi * sp.exp(-si * tau)) / 2 for si, Pi, Qi in zip(s, P, Q, strict=True)]
    for si, x, y in zip(s, xs, ys, strict=True):
        if not _is_zero(sp.diff(x, tau) - si * y) or not _is_zero(sp.diff(y, tau) - si * x):
            bad.append("closed form does not solve x' = Z y, y' = Z^T x")
    n2 = (sum(x**2 for x in xs) + an0**2 + sum(y**2 for y in ys) + bn0**2) / 2
    printed = sum(Pi**2 * sp.exp(2 * si * tau) + Qi**2 * sp.exp(-2 * si * tau)
                  for si, Pi, Qi in zip(s, P, Q, strict=True)) / 4 + (an0**2 + bn0**2) / 2
    if not _is_zero(n2 - printed):
        bad.append("n(tau)^2 != the printed sum")
    # sigma(tau) = n^N / (1/sigma0 + N int_0^tau n^N): d sigma/d tau = N sigma (n'/n - sigma)
    for N in (2, 3, 6):
        nfun = sp.Function("n", positive=True)
        r = sp.Symbol("r")
        s0 = sp.Symbol("sigma0", positive=True)
        sig = nfun(tau) ** N / (1 / s0 + N * sp.Integral(nfun(r) ** N, (r, 0, tau)))
        cc = sp.diff(nfun(tau), tau) / nfun(tau)
        if not _is_zero(sp.diff(sig, tau) - N * sig * (cc - sig)):
            bad.append(f"N={N}: sigma(tau) does not solve d sigma/d tau = N sigma (c - sigma)")
        if not _is_zero(sig.subs(tau, 0).doit().subs(nfun(0), 1) - s0):
            bad.append(f"N={N}: sigma(0) != sigma0")
    return bad


# -------------------------------------------------------------------------------------------------
# Critical points, the limit-selection rule, rates


def singular_symbols(d: int):
    return sp.symbols(f"s1:{d + 1}", positive=True)


def critical_loss(k: int, s: Sequence) -> sp.Expr:
    """``1/2 (sum s_i^2 - s_k^2)`` at ``s_k u_k v_k^T`` (k >= 1); ``1/2 sum s_i^2`` at 0 (k = 0)."""
    s = [sp.sympify(x) for x in s]
    if not 0 <= k <= len(s):
        raise ValueError(f"k: expected 0 <= k <= {len(s)}, got {k}")
    total = sum(x**2 for x in s) / 2
    return total if k == 0 else total - s[k - 1] ** 2 / 2


def limit_index(p0: Sequence) -> int:
    """``k* = min{i : p_i(0) != 0}`` (1-based), 0 when every ``p_i(0)`` is zero (limit: the origin).

    >>> limit_index([0, 0, sp.Rational(1, 3), 1])
    3
    >>> limit_index([0, 0])
    0
    """
    for i, p in enumerate(p0, 1):
        if p != 0:
            return i
    return 0


def linear_rate(k: int, s: Sequence, N, null_space: bool = True) -> sp.Expr:
    """``mu = min(N s_k^{2-2/N}, s_k^{1-2/N} (s_k - s_{k+1}))`` with ``s_{d+1} := 0`` when Z has a null
    space (section 7.3): the slowest decay rate in t of ``||W - s_k u_k v_k^T||`` (linearisation).

    For ``k = d`` *without* a null space (``d = d_x = d_y``) the reconstruction's convention does not apply:
    the direction modes ``i > k`` and the null modes are absent, and the slowest first-order modes
    are the ``q_i`` (rate ``s_k + s_i``, ``i != k``; ``q_k`` itself is second order), so
    ``mu = min(N s_k, s_k + s_{k-1}) s_k^{1-2/N}`` (``N s_1^{2-2/N}`` when d = 1).
    """
    s = [sp.sympify(x) for x in s]
    N = sp.sympify(N)
    d, sk = len(s), s[k - 1]
    e = 1 - 2 / N
    if k == d and not null_space:
        if d == 1:
            return N * sk ** (1 + e)
        return sp.Min(N * sk, sk + s[k - 2]) * sk ** e
    nxt = s[k] if k < d else sp.Integer(0)
    return sp.Min(N * sk ** (1 + e), sk ** e * (sk - nxt))


def saddle_growth_rate(k: int, s: Sequence, N) -> sp.Expr:
    """Growth rate in t of ``p_1 / p_k`` near saddle k: ``(s_1 - s_k) s_k^{1-2/N}`` (section 8.3)."""
    s = [sp.sympify(x) for x in s]
    return (s[0] - s[k - 1]) * s[k - 1] ** (1 - sp.Rational(2, N))


def origin_exponents(N):
    """``(e, p)`` of section 7.4 (N >= 3): ``y = sigma^{-e}``, ``e = 1 - 2/N``, is the coordinate in
    which the origin's sandwich bounds are straight lines, and ``sigma(t) ~ t^p``, ``p = -N/(N-2)``."""
    N = sp.sympify(N)
    return 1 - 2 / N, -N / (N - 2)


def origin_ydot(N, c, sigma):
    """``dy/dt = -(N-2)(c - sigma)`` for ``y = sigma^{-(1-2/N)}`` along the scalar ODE (proved by
    :func:`origin_sandwich_residual`)."""
    return -(sp.sympify(N) - 2) * (c - sigma)


def origin_slopes(N, s1, sd, sigma0):
    """``(slow, fast) = ((N-2) s_d, (N-2)(s_1 + sigma0))``: the least and greatest :func:`origin_ydot`
    over ``-c in [s_d, s_1]``, ``0 < sigma <= sigma0`` -- the slopes of the sandwich's bounds in y
    (:func:`origin_sandwich_residual` proves them the extreme values)."""
    N = sp.sympify(N)
    return (N - 2) * sd, (N - 2) * (s1 + sigma0)


def origin_sandwich(N, s1, sd, sigma0, t):
    """Section 7.4, all p_i = 0 and no null component of u:
    ``(y0 + fast t)^{-N/(N-2)} <= sigma(t) <= (y0 + slow t)^{-N/(N-2)}``, ``y0 = sigma0^{-(1-2/N)}``
    (:func:`origin_slopes`) for N >= 3; for N = 2, where ``sigma' = 2 sigma (c - sigma)``,
    ``sigma0 e^{-2(s_1 + sigma0) t} <= sigma(t) <= sigma0 e^{-2 s_d t}``. Returns ``(lower, upper)``.

    Why: ``y = sigma^{-(1-2/N)}`` has ``y' = (1-2/N) N sigma^{1-2/N}... = -(N-2) (c - sigma)`` and
    ``-c in [s_d, s_1]``, ``0 < sigma <= sigma0``.
    """
    N = sp.sympify(N)
    if N == 2:
        return sigma0 * sp.exp(-2 * (s1 + sigma0) * t), sigma0 * sp.exp(-2 * sd * t)
    e, p = origin_exponents(N)
    slow, fast = origin_slopes(N, s1, sd, sigma0)
    y0 = sigma0 ** (-e)
    return (y0 + fast * t) ** p, (y0 + slow * t) ** p


@derivation
def origin_sandwich_residual(N: int) -> list[str]:
    """``dy/dt = -(N-2)(c - sigma)`` for ``y = sigma^{-(1-2/N)}`` along the scalar ODE, and the
    slopes of the sandwich are its extreme values (``c in [-s_1, -s_d]``, ``0 < sigma <= sigma_0``)."""
    red = rank_one(N)
    s, c = red.sigma, red.c
    e, _ = origin_exponents(N)
    y = s ** (-e)
    ydot = sp.simplify(sp.diff(y, s) * red.sigma_dot)
    bad = []
    if sp.simplify(ydot - origin_ydot(N, c, s)) != 0:
        bad.append(f"N={N}: dy/dt = {ydot} != -(N-2)(c - sigma)")
    # origin_ydot is affine in (c, sigma), increasing in sigma and decreasing in c (N > 2): its
    # extremes over the box are at the corners (c, sigma) = (-s_d, 0) and (-s_1, sigma0)
    s1, sd, s0 = sp.symbols("s_1 s_d sigma_0", positive=True)
    slow, fast = origin_slopes(N, s1, sd, s0)
    if N > 2 and (sp.expand(slow - origin_ydot(N, -sd, 0)) != 0 or sp.expand(fast - origin_ydot(N, -s1, s0)) != 0):
        bad.append(f"N={N}: the sandwich's slopes {slow}, {fast} are not dy/dt at the box's corners")
    return bad


def origin_escape_time(N, c, sigma0):
    """Near the origin with ``c > 0``: ``sigma' ~ N c sigma^{2-2/N}`` gives the escape time
    ``sigma0^{-(1-2/N)} / ((N-2) c)`` (N >= 3), heuristic order of magnitude (section 7.1)."""
    N = sp.sympify(N)
    return sigma0 ** (-(1 - 2 / N)) / ((N - 2) * c)


def null_both_sides_exponent(N):
    """``q = N/(2N-2)``: ``sigma ~ t^{-q}`` when c -> 0 through null components (section 7.4)."""
    N = sp.sympify(N)
    return N / (2 * N - 2)


def null_both_sides_constant(N):
    """``sigma t^{q} -> (2N-2)^{-q}``, ``q`` = :func:`null_both_sides_exponent`, when c -> 0 through
    null components (section 7.4)."""
    N = sp.sympify(N)
    return (2 * N - 2) ** (-null_both_sides_exponent(N))


def shown_odes(N: int) -> list[tuple[object, str]]:
    """(relation, what) of the derived reduction at depth N for ``flowcert latex``, with
    ``q_N -> u``, ``q_0 -> v`` and ``a -> sigma^{1/N}``."""
    from ._notation import Ddt, eq
    red = rank_one(N)
    u, v = sp.MatrixSymbol("u", *red.u.shape), sp.MatrixSymbol("v", *red.v.shape)
    sub = {red.u: u, red.v: v}
    a_sig = red.sigma ** sp.Rational(1, N)

    def show(nf):
        terms = []
        for k, c in nf.items():
            c = sp.factor(sp.powsimp(sp.expand(c.subs(red.a, a_sig)), force=True))
            terms.append(c if not k else sp.MatMul(*sp.Mul.make_args(c), *[f.xreplace(sub) for f in k]))
        return sp.Add(*terms) if all(not k for k in nf) else sp.MatAdd(*terms)

    W = sp.MatrixSymbol("W", *red.chen.product.shape)
    return [(eq(Ddt(red.a), red.a_dot), "layer scale (derived)"),
            (eq(Ddt(red.sigma), sp.factor(red.sigma_dot)), "norm ODE"),
            (eq(Ddt(u), show(red.q_dot[-1])), "output direction"),
            (eq(Ddt(v), show(red.q_dot[0])), "input direction"),
            (eq(Ddt(W), show(red.end_to_end)), "end-to-end")]
