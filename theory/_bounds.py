"""Rate bounds as exact formulas of spectral quantities (min2023).

A bound is a SymPy expression in symbols that stand for spectral quantities of matrix expressions
of the weights (``lambda_n(W_1 W_1^T)``, ``sigma_min(W)``, ...). The spectra are numbers and
belong to numerics/; here we only say *which* quantity each symbol is.

Conventions (min2023 section 1): eigenvalues in decreasing order, ``lambda_j = +inf`` for
``j <= 0`` and ``-inf`` past the order, ``sigma_k = 0`` for ``k > min(rows, cols)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Mapping

import sympy as sp

from ._linear import LinearNetwork
from ._notation import MIN, DiagOf, Eig, Frob, Sing, Wedge, eq, func, mat, sym
from ._printing import latex

# Constants of the loss f = 1/2 ||Y - W||^2: PL constant, smoothness, strong convexity.
gamma, K, mu = sp.symbols("gamma K mu", positive=True)
SQUARED_LOSS = {gamma: sp.Integer(2), K: sp.Integer(1), mu: sp.Integer(1)}


@dataclass(frozen=True)
class Spectral:
    """A spectral quantity of a matrix expression of the weights.

    ``kind``: ``"eig"`` (``index``-th largest eigenvalue of a symmetric matrix), ``"sv"``
    (``index``-th largest singular value) or ``"fro"`` (Frobenius norm). ``index`` is 1-based and
    may involve the width symbols; ``shown`` is the quantity in the paper's notation (an
    :class:`Eig`, :class:`Sing` or :class:`Frob` of named matrices), which is what gets printed.
    """

    kind: str
    matrix: sp.MatrixExpr
    index: object = None
    shown: object = None

    def at(self, dims: Mapping) -> "Spectral":
        idx = self.index
        if idx is not None:
            idx = sp.sympify(idx).subs(dims)
            idx = int(idx) if idx.is_Integer else idx
        return Spectral(self.kind, self.matrix, idx, self.shown)


@dataclass(frozen=True)
class Bound:
    """A formula in spectral quantities, with its LaTeX and provenance.

    ``instantiate(dims)`` gives the expression and quantities at concrete widths (indices
    resolved, index-dependent sums expanded); by default it only resolves the indices.

    ``compact`` is the formula as the paper writes it, in the symbols its ``definitions`` name
    (``(symbol, expression)`` pairs, e.g. ``Delta_+``); ``expr`` is it with every definition
    substituted. :meth:`shown` and :meth:`shown_definitions` are what gets printed: the compact
    formula with each spectral symbol replaced by its notation (``lambda_n(W_1 W_1^T)``).
    """

    name: str
    label: str
    expr: sp.Expr
    quantities: Mapping[sp.Symbol, Spectral]
    network: LinearNetwork
    definitions: tuple = ()
    constants: Mapping = field(default_factory=lambda: dict(SQUARED_LOSS))
    builder: Callable | None = None
    compact: object = None
    #: ``spectral(dims, spectrum, ops)``: the values of ``expr``'s symbols from whole spectra
    #: (``spectrum(kind, matrix)``, decreasing) with the operations ``ops`` (:class:`Ops`); for
    #: bounds whose instantiated expression grows with the widths
    spectral: Callable | None = None

    def instantiate(self, dims: Mapping):
        if self.builder is not None:
            return self.builder(dims)
        expr = self.expr.subs(dims)
        return expr, {s: q.at(dims) for s, q in self.quantities.items()}

    def _notation(self) -> dict:
        return {s: q.shown for s, q in self.quantities.items() if q.shown is not None}

    def shown(self):
        """The formula in the paper's notation, as printed."""
        return (self.expr if self.compact is None else self.compact).xreplace(self._notation())

    def shown_definitions(self) -> list:
        """``lhs = rhs`` for every definition the compact formula uses, in the paper's notation."""
        names = self._notation()
        return [eq(lhs, rhs.xreplace(names)) for lhs, rhs in self.definitions]

    def latex(self) -> str:
        return latex(self.shown())


def _q(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def _pos(x):
    """``[x]_+``."""
    return sp.Max(x, 0)


# ---------------------------------------------------------------------------------------------
# Lemma 1 and its closed forms
#
# Every bound factory takes the network's depth first; where a theorem is for one depth, that depth
# is the default and any other is refused, so that calls read the same for every bound.


def _fixed(depth, expected: int, name: str) -> int:
    if depth != expected or isinstance(depth, bool):
        raise ValueError(f"{name}: depth must be {expected} (the theorem is for {expected} layers), got {depth!r}")
    return expected


#: the names the paper prints: widths n = h_0 and m = h_L, W = W_1 ... W_L, W* the target
n_, m_ = sym("n"), sym("m")
W_, WSTAR, W0 = mat("W"), mat("W^{*}"), mat("W(0)")
T_OPERATOR = T_OP = mat(r"\mathcal{T}")
D_ = mat("D")


def D_of(l: int):
    """``D_l``, the l-th imbalance, as printed."""
    return mat(f"D_{{{l}}}")


@lru_cache(maxsize=None)
def lambda_min_T(depth: int) -> Bound:
    """``lambda_min`` of the Lemma 1 operator ``T``: the quantity every rate bound bounds."""
    net = LinearNetwork(depth)
    lam = _q("lambda_min_T")
    q = Spectral("eig", net.lemma1_operator(), net.n * net.m, Eig(T_OP, MIN))
    return Bound("lambda-min-T", "Lemma 1", lam, {lam: q}, net)


def _shown(m: sp.MatrixExpr, net: LinearNetwork) -> sp.MatrixExpr:
    """A matrix expression of the weights with the paper's names (``W1`` -> ``W_1``)."""
    return m.xreplace({w: mat(f"W_{l + 1}", *w.shape) for l, w in enumerate(net.weights)})


@lru_cache(maxsize=None)
def two_layer_closed_form(depth: int = 2) -> Bound:
    """``lambda_min(T) = lambda_n(W1 W1^T) + lambda_m(W2^T W2)`` (L = 2, section 3)."""
    net = LinearNetwork(_fixed(depth, 2, "two_layer_closed_form"))
    W1, W2 = net.weights
    a, b = _q("lam_n_W1W1T"), _q("lam_m_W2TW2")
    qs = {a: Spectral("eig", W1 * W1.T, net.n, Eig(_shown(W1 * W1.T, net), n_)),
          b: Spectral("eig", W2.T * W2, net.m, Eig(_shown(W2.T * W2, net), m_))}
    return Bound("two-layer-closed-form", "min2023 section 3, L = 2", a + b, qs, net)


@lru_cache(maxsize=None)
def balanced(depth: int) -> Bound:
    """``L sigma_min(W)^{2 - 2/L}``: lambda_min(T) for balanced square weights (Arora et al.)."""
    net = LinearNetwork(depth)
    s = _q("sigma_min_W")
    qs = {s: Spectral("sv", net.product, sp.Min(net.n, net.m), Sing(W_, MIN))}
    return Bound("balanced", "Arora et al. 2018a; min2023 Table 1", depth * s ** (2 - sp.Rational(2, depth)),
                 qs, net)


# ---------------------------------------------------------------------------------------------
# Two layers: Lemma 3 and Theorem 1

#: Theorem 1's abbreviations
DELTA_P, DELTA_M, DELTA = sym(r"\Delta_{+}"), sym(r"\Delta_{-}"), sym(r"\Delta")
NU_N, NU_M = sym(r"\nu_{n}"), sym(r"\nu_{m}")


def _two_layer_parts():
    net = LinearNetwork(2)
    D = net.imbalance(1)
    n, m = net.n, net.m
    l1, ln, k1, km = _q("lam_1_D"), _q("lam_n_D"), _q("lam_1_mD"), _q("lam_m_mD")
    qs = {l1: Spectral("eig", D, 1, Eig(D_, 1)),
          ln: Spectral("eig", D, n, Eig(D_, n_)),
          k1: Spectral("eig", -D, 1, Eig(-D_, 1)),
          km: Spectral("eig", -D, m, Eig(-D_, m_))}
    defs = ((DELTA_P, _pos(l1) - _pos(ln)), (DELTA_M, _pos(k1) - _pos(km)), (DELTA, _pos(ln) + _pos(km)))
    return net, qs, defs


def _expand(compact, defs):
    """``compact`` with every definition substituted, later definitions first."""
    for lhs, rhs in reversed(defs):
        compact = compact.xreplace({lhs: rhs})
    return compact


@lru_cache(maxsize=None)
def delta_two_layer(depth: int = 2) -> Bound:
    """Theorem 1 (A1 only): ``alpha_2 = Delta = [lambda_n(D)]_+ + [lambda_m(-D)]_+``."""
    _fixed(depth, 2, "delta_two_layer")
    net, qs, defs = _two_layer_parts()
    defs = defs[2:]
    return Bound("delta", "min2023 Theorem 1(i)", _expand(DELTA, defs), qs, net, defs, compact=DELTA)


@lru_cache(maxsize=None)
def lemma3_rhs(depth: int = 2) -> Bound:
    """Right-hand side of (9): ``2 lambda_min(T) >= -D+ + sqrt((D+ + D)^2 + 4 s_n^2) - ...``."""
    _fixed(depth, 2, "lemma3_rhs")
    net, qs, defs = _two_layer_parts()
    sn, sm = _q("sigma_n_W"), _q("sigma_m_W")
    qs = dict(qs)
    qs[sn] = Spectral("sv", net.product, net.n, Sing(W_, n_))
    qs[sm] = Spectral("sv", net.product, net.m, Sing(W_, m_))
    compact = (-DELTA_P + sp.sqrt((DELTA_P + DELTA) ** 2 + 4 * sn**2)
               - DELTA_M + sp.sqrt((DELTA_M + DELTA) ** 2 + 4 * sm**2))
    return Bound("lemma3-rhs", "min2023 Lemma 3, eq. (9)", _expand(compact, defs), qs, net, defs,
                 compact=compact)


@lru_cache(maxsize=None)
def alpha2(depth: int = 2, *, printed: bool = False) -> Bound:
    """Theorem 1 (A1 and A2) with margins ``nu``.

    The paper prints it (eq. 12, F.3) without the factor 1/2 that its proof (App. F) derives;
    ``printed=True`` gives that version, kept to document the discrepancy.
    """
    _fixed(depth, 2, "alpha2")
    net, qs, defs = _two_layer_parts()
    qs = dict(qs)
    sn, sm, dist = _q("sigma_n_Y"), _q("sigma_m_Y"), _q("dist_W0_Y")
    qs[sn] = Spectral("sv", net.target, net.n, Sing(WSTAR, n_))
    qs[sm] = Spectral("sv", net.target, net.m, Sing(WSTAR, m_))
    qs[dist] = Spectral("fro", net.product - net.target, None, Frob(W0 - WSTAR))
    defs = defs + ((NU_N, _pos(sn - sp.sqrt(K / mu) * dist)), (NU_M, _pos(sm - sp.sqrt(K / mu) * dist)))
    core = (-DELTA_P + sp.sqrt((DELTA_P + DELTA) ** 2 + 4 * NU_N**2)
            - DELTA_M + sp.sqrt((DELTA_M + DELTA) ** 2 + 4 * NU_M**2))
    compact = core if printed else core / 2
    name = "alpha2-printed" if printed else "alpha2"
    label = "min2023 eq. (12) as printed (no 1/2)" if printed else "min2023 Theorem 1(ii), 1/2 of App. F"
    return Bound(name, label, _expand(compact, defs), qs, net, defs, compact=compact)


# ---------------------------------------------------------------------------------------------
# Three layers: Lemma G.1 and Theorem 2


@lru_cache(maxsize=None)
def g_three_layer(depth: int = 3) -> Bound:
    """Lemma G.1: ``g = lambda_n(W1W2W2^TW1^T) + lambda_n(W1W1^T) lambda_m(W3^TW3) + lambda_m(W3^TW2^TW2W3)``."""
    net = LinearNetwork(_fixed(depth, 3, "g_three_layer"))
    W1, W2, W3 = net.weights
    n, m = net.n, net.m
    a, b, c, d = (_q(s) for s in ("lam_n_W12", "lam_n_W1", "lam_m_W3", "lam_m_W23"))
    mats = {a: (W1 * W2 * W2.T * W1.T, n, n_), b: (W1 * W1.T, n, n_), c: (W3.T * W3, m, m_),
            d: (W3.T * W2.T * W2 * W3, m, m_)}
    qs = {s: Spectral("eig", M, i, Eig(_shown(M, net), shown)) for s, (M, i, shown) in mats.items()}
    return Bound("g", "min2023 Lemma G.1", a + b * c + d, qs, net)


D21_SYM, D21_2, D23_SYM, D23_2 = sp.symbols("Delta_21 Delta_21^(2) Delta_23 Delta_23^(2)")
#: Theorem 2's bound, and its arguments as printed
DELTA_STAR = func(r"\Delta^{*}")
_H = LinearNetwork(3).dims  # h_0 .. h_3, the widths every three-layer formula is printed with
D21_SHOWN, D23_SHOWN = mat("D_{21}", _H[1]), mat("D_{23}", _H[2])


def delta_star_formula(*, appendix: bool = False) -> sp.Expr:
    """Eq. (15) in the four Definition-2 quantities; ``appendix=True`` is Theorem G.2's (doubled)."""
    main = (D21_2 + D21_SYM**2) / 2 + D21_SYM * D23_SYM + (D23_2 + D23_SYM**2) / 2
    return sp.expand(2 * main) if appendix else main


def definition2():
    """min2023 Definition 2 as ``lhs = rhs`` relations (``D-bar``, the wedge, the four traces)."""
    i, r = sym("i"), sym("r")
    h, h1, h2 = sym("h"), _H[1], _H[2]
    A, B = mat("A", h, h), mat("B", h, h)
    dbar = {k: mat(rf"\bar{{D}}_{{{k}}}", k, k) for k in (h, h1, h2)}
    d21, d23 = mat("D_{21}", h1, h1), mat("D_{23}", h2, h2)

    def traces(bar, D, r_):
        w = Wedge(bar, D, r_)
        return sp.Trace(bar) - sp.Trace(w), sp.Trace(bar**2) - sp.Trace(w**2)

    t21, t21_2 = traces(dbar[h1], d21, n_)
    t23, t23_2 = traces(dbar[h2], d23, m_)
    return [eq(dbar[h], DiagOf(sp.Max(Eig(d21, i), Eig(d23, i), 0), i, h)),
            eq(Wedge(A, B, r), DiagOf(sp.Min(Eig(A, i), Eig(B, i + 1 - r)), i, h)),
            eq(D21_SYM, t21), eq(D21_2, t21_2), eq(D23_SYM, t23), eq(D23_2, t23_2)]


def three_layer_imbalances(net: LinearNetwork | None = None):
    """``(D21, D23) = (-D_1, D_2)``: "middle Gram minus outer Gram" on the h1 and h2 sides."""
    net = net or LinearNetwork(3)
    return -net.imbalance(1), net.imbalance(2)


class Ops:
    """The operations a formula over whole spectra needs, so that one definition serves SymPy
    (to print and to reason exactly) and numbers (to evaluate without building an expression of
    the widths' size): ``max``, ``min`` of several arguments and ``total`` of a list."""

    def __init__(self, max_, min_, total, zero=0):
        self.max, self.min, self.total, self.zero = max_, min_, total, zero


SYMBOLIC = Ops(lambda *a: sp.Max(*a, evaluate=False), lambda *a: sp.Min(*a, evaluate=False),
               lambda xs: sp.Add(*xs), sp.Integer(0))


def definition2_dbar(a, b, ops: Ops = SYMBOLIC, *, g9_typo: bool = False) -> list:
    """Definition 2's diagonal ``D-bar_i = max(lambda_i(D21), lambda_i(D23), 0)``, i up to
    max(h1, h2), from the decreasing spectra ``a`` (of D21) and ``b`` (of D23); ``g9_typo``: ``a``
    twice, as printed in G.9."""
    second = a if g9_typo else b
    # an index past a matrix's order is -inf there (Definition 2 is silent; see disc.dbar-convention)
    return [ops.max(*[v[i] for v in (a, second) if i < len(v)], ops.zero) for i in range(max(len(a), len(b)))]


def definition2_parts(a, b, n: int, m: int, ops: Ops = SYMBOLIC, *, g9_typo: bool = False):
    """Definition 2's ``(D21, D21_2, D23, D23_2)`` from the decreasing spectra ``a`` of D21 (h1 of
    them) and ``b`` of D23 (h2): ``D-bar_i = max(a_i, b_i, 0)``, the wedge ``min(D-bar_i,
    lambda_{i+1-r})``. ``g9_typo``: D-bar as printed in G.9 (``a`` twice)."""
    h1, h2 = len(a), len(b)
    dbar = definition2_dbar(a, b, ops, g9_typo=g9_typo)

    def parts(h, r, lam):
        bar = dbar[:h]
        wedge = [ops.min(bar[i], lam[i - r + 1]) if i - r + 1 >= 0 else bar[i] for i in range(h)]
        return (ops.total(bar) - ops.total(wedge),
                ops.total([x**2 for x in bar]) - ops.total([x**2 for x in wedge]))

    return (*parts(h1, n, a), *parts(h2, m, b))


@lru_cache(maxsize=64)
def _definition2(n: int, m: int, h1: int, h2: int, g9_typo: bool):
    """Definition 2 at concrete widths: expressions of the sorted spectra of D21 and D23."""
    a = [_q(f"lam_{i}_D21") for i in range(1, h1 + 1)]
    b = [_q(f"lam_{i}_D23") for i in range(1, h2 + 1)]
    # unevaluated Max/Min: SymPy's pairwise simplification of them costs seconds at h = 500
    return definition2_parts(a, b, n, m, g9_typo=g9_typo), a, b


@lru_cache(maxsize=None)
def delta_star(depth: int = 3, *, appendix: bool = False, g9_typo: bool = False) -> Bound:
    """Theorem 2's ``Delta*(D21, D23)`` (main text, eq. 15), ``lambda_min(T) >= Delta*``.

    ``appendix=True``: Theorem G.2's normalisation (twice the main text). ``g9_typo=True``: D-bar
    as printed in G.9 (``lambda_i(D21)`` twice). Both are kept to document the paper's typos.
    """
    net = LinearNetwork(_fixed(depth, 3, "delta_star"))
    D21, D23 = three_layer_imbalances(net)
    n, h1, h2, m = net.dims
    formula = delta_star_formula(appendix=appendix)

    def builder(dims):
        sizes = tuple(int(sp.sympify(x).subs(dims)) for x in (n, m, h1, h2))
        parts, a, b = _definition2(*sizes, g9_typo)
        # xreplace, not subs: a plain swap of four symbols, without subs's matching (seconds at h = 200)
        expr = formula.xreplace(dict(zip((D21_SYM, D21_2, D23_SYM, D23_2), parts)))
        qs = {s: Spectral("eig", D21, i + 1) for i, s in enumerate(a)}
        qs.update({s: Spectral("eig", D23, i + 1) for i, s in enumerate(b)})
        return expr, qs

    def spectral(dims, spectrum, ops):
        # the four quantities from the whole spectra: nothing of the widths' size is built
        # a width bound to a number is looked up: subs per evaluation cost ~1 ms (Fig. 1: 600 of them)
        n_, m_ = (int(dims[x]) if x in dims else int(sp.sympify(x).subs(dims)) for x in (n, m))
        parts = definition2_parts(spectrum("eig", D21), spectrum("eig", D23), n_, m_, ops, g9_typo=g9_typo)
        return dict(zip((D21_SYM, D21_2, D23_SYM, D23_2), parts))

    defs = tuple((r.lhs, r.rhs) for r in definition2()) + (
        (D21_SHOWN, _shown(D21, net)), (D23_SHOWN, _shown(D23, net)))
    name = "delta-star-appendix" if appendix else ("delta-star-g9" if g9_typo else "delta-star")
    label = ("min2023 Theorem G.2 (appendix normalisation)" if appendix else
             "min2023 eq. (G.9) as printed" if g9_typo else "min2023 Theorem 2, eq. (15)")
    return Bound(name, label, formula, {}, net, defs, builder=builder, spectral=spectral)


# ---------------------------------------------------------------------------------------------
# Deep networks: Theorem 3 and Corollary 2


#: Definition 3's cumulative imbalance
D_TILDE = func(r"\tilde{d}")


def _cumulative(net: LinearNetwork, lstar: int):
    """``d~(i)`` for i = 1 .. L-1 and the quantities they use (Definition 3)."""
    L = net.depth
    if not 1 <= lstar <= L:
        raise ValueError(f"lstar: expected 1 <= lstar <= {L}, got {lstar}")
    qs, dtil = {}, []
    for i in range(1, L):
        if i >= lstar:
            terms = []
            for l in range(lstar, i + 1):
                s = _q(f"lam_m_mD{l}")
                qs[s] = Spectral("eig", -net.imbalance(l), net.m, Eig(-D_of(l), m_))
                terms.append(s)
        else:
            terms = []
            for l in range(i, lstar):
                s = _q(f"lam_n_D{l}")
                qs[s] = Spectral("eig", net.imbalance(l), net.n, Eig(D_of(l), n_))
                terms.append(s)
        dtil.append(sp.Add(*terms))
    return dtil, qs


@lru_cache(maxsize=None)
def theorem3_unimodal(depth: int, lstar: int) -> Bound:
    """Theorem 3, unimodal weights with index ``lstar``: ``lambda_min(T) >= prod_i d~(i)``.

    The paper prints the product index as ``l``; it runs over ``i`` (a typo of the paper).
    """
    net = LinearNetwork(depth)
    dtil, qs = _cumulative(net, lstar)
    defs = tuple((D_TILDE(i + 1), e) for i, e in enumerate(dtil))
    compact = sp.Mul(*[lhs for lhs, _ in defs])
    return Bound(f"theorem3-unimodal-l{lstar}", "min2023 Theorem 3 (unimodal)", sp.Mul(*dtil), qs, net, defs,
                 compact=compact)


@lru_cache(maxsize=None)
def theorem3_homogeneous(depth: int, lstar: int) -> Bound:
    """Theorem 3, homogeneous imbalance: ``sqrt((prod d~)^2 + (L sigma_min(W)^{2-2/L})^2)``."""
    net = LinearNetwork(depth)
    dtil, qs = _cumulative(net, lstar)
    s = _q("sigma_min_W")
    qs[s] = Spectral("sv", net.product, sp.Min(net.n, net.m), Sing(W_, MIN))
    defs = tuple((D_TILDE(i + 1), e) for i, e in enumerate(dtil))
    compact = sp.sqrt(sp.Mul(*[lhs for lhs, _ in defs]) ** 2 + (depth * s ** (2 - sp.Rational(2, depth))) ** 2)
    expr = _expand(compact, defs)
    return Bound(f"theorem3-homogeneous-l{lstar}", "min2023 Theorem 3 (homogeneous imbalance)", expr, qs,
                 net, defs, compact=compact)


def loss_envelope(alpha, t=None) -> sp.Expr:
    """Grönwall: ``L(t) - L* <= exp(-alpha gamma t) (L(0) - L*)``; returns the factor."""
    t = t if t is not None else sp.Symbol("t", nonnegative=True)
    return sp.exp(-alpha * gamma * t)
