"""Polynomial first integrals found by exact linear algebra, and those of the linear network.

A polynomial ``q = sum_a c_a x^a`` is conserved by ``x' = F(x; p)`` iff ``grad q . F`` vanishes as a
polynomial in the states *and* the parameters; that is linear in the unknown ``c``, so the invariant
space is the nullspace of a rational matrix. Constants are excluded: they are trivially conserved.

For the linear network the invariants are the symmetric linear symmetries of the product map
``(W_1..W_L) -> W_1...W_L`` (``grad q`` is linear, and ``<grad q, -grad L> = 0`` for every ``Y`` forces
``d(W_1...W_L)[grad q] = 0``). The ``GL(h_l)`` actions ``(W_l G, G^{-1} W_{l+1})`` give the imbalance
entries. A pair of layers with ``h_{l-1} = h_{l+1} = 1`` multiplies to the scalar ``a^T b``
(``a = W_l^T``, ``b = W_{l+1}``), which ``O(h_l, h_l)`` preserves; its symmetric part beyond the
imbalance is the "rotation charge" ``a_i b_j - a_j b_i``, the antisymmetric part of
``W_l^T W_{l+1}^T``. Found on the shapes below (:func:`linear_network_invariants`), beside the
number of *functionally* independent conservation laws of the flow (:func:`flowcert.theory.conservation_laws`:
``D`` minus the dimension of the trace of the Lie algebra of the fields, proved attained by the laws
found). Linear independence over-counts: the rotation charge ``c = a_1 b_2 - a_2 b_1`` of (1, 2, 1)
satisfies ``c^2 = p_{12}^2 - p_{11} p_{22}`` in the imbalance entries ``p``; and it under-counts:
(1, 2, 2, 1) has 7 laws, 6 of them the imbalance entries, the seventh of no polynomial degree <= 8.

=====  ===============  ==  ===========  ==========  ==========  ==========================================
depth  shape            D   quadratic,   imbalance   laws,       other quadratic invariants
                            linearly     entries,    function-
                            independent  linearly    ally indep.
=====  ===============  ==  ===========  ==========  ==========  ==========================================
2      (1, 2, 1)        4   4            3           3           rotation charge (W_1^T W_2^T - W_2 W_1)_01,
                                                                 a function of the imbalance
2      (1, 3, 1)        6   9            6           5           3 rotation charges (entries 01, 02, 12)
2      (1, 4, 1)        8   16           10          7           6 rotation charges
2      (2, 1, 2)        4   1            1           1           none
2      (2, 2, 1)        6   3            3           3           none
2      (1, 2, 2)        6   3            3           3           none
2      (3, 2, 1)        8   3            3           3           none
2      (2, 2, 2)        8   3            3           3           none (its rotation charge is not conserved)
3      (1, 1, 1, 1)     3   2            2           2           none (the rotation charges are 1 x 1, so zero)
3      (1, 2, 1, 1)     5   5            4           4           rotation charge of layers 1, 2
3      (1, 2, 1, 2)     6   5            4           4           rotation charge of layers 1, 2
3      (1, 1, 2, 1)     5   5            4           4           rotation charge of layers 2, 3
3      (2, 1, 2, 1)     6   5            4           4           rotation charge of layers 2, 3
3      (1, 2, 2, 1)     8   6            6           7           none; the 7th law is not polynomial of
                                                                 degree <= 8
3      (2, 2, 2, 2)     12  6            6           6           none (neither rotation charge is conserved)
4      (1, 2, 1, 2, 1)  8   9            7           7           rotation charges of layers 1, 2 and 3, 4
4      (1, 1, 1, 1, 1)  4   3            3           3           none
=====  ===============  ==  ===========  ==========  ==========  ==========================================

So the imbalance entries always span ``sum_l h_l (h_l + 1) / 2`` linearly, and the only other quadratic
invariants seen are the rotation charges of layer pairs with ``h_{l-1} = h_{l+1} = 1``, which add
``h_l (h_l - 1) / 2`` each -- as polynomials; as functions they add nothing. For ``h_{l-1} = h_{l+1} = k >= 2``
the rotation charge is not conserved: at depth 2, with ``R = Y - W_1 W_2``,
``d/dt (W_1^T W_2^T - W_2 W_1) = W_2 (R^T - R) W_2^T + W_1^T (R^T - R) W_1``, zero only when the
``k x k`` residual is symmetric, i.e. for every ``Y`` only when ``k = 1``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations_with_replacement
from typing import Sequence

import sympy as sp
from sympy.polys.matrices import DomainMatrix

from ._linear import DerivationError, LinearNetwork
from ._cache import derivation, derived

QQ = sp.QQ

__all__ = [
    "InvariantSpace", "NamedInvariant", "NetworkInvariants",
    "find_quadratic_invariants", "linear_network_invariants",
]


# -- the generic search ---------------------------------------------------------------------
@dataclass(frozen=True)
class InvariantSpace:
    """The polynomial invariants of a field of the given degrees, as a reduced basis.

    ``vectors`` are the basis in the coordinates ``monomials``: the reduced row echelon form of
    the nullspace, each row scaled to coprime integers with a positive leading entry at its pivot.
    """

    states: tuple
    params: tuple
    degrees: tuple
    monomials: tuple
    vectors: tuple
    pivots: tuple

    @derived
    def basis(self) -> tuple[sp.Expr, ...]:
        return tuple(sp.Add(*[c * m for c, m in zip(v, self.monomials) if c])
                     for v in self.vectors)

    @property
    def dim(self) -> int:
        return len(self.vectors)

    @derived
    def _index(self) -> dict:
        return {sp.Poly(m, *self.states).monoms()[0]: i for i, m in enumerate(self.monomials)}

    def vector(self, expr) -> tuple | None:
        """Coefficients of ``expr`` on :attr:`monomials`; None if it is not in their span."""
        expr = sp.sympify(expr)
        if not expr.free_symbols <= set(self.states):
            return None
        index = self._index
        out = [sp.S.Zero] * len(self.monomials)
        for mono, c in sp.Poly(expr, *self.states, domain=QQ).terms():
            if not c:
                continue
            if mono not in index:
                return None
            out[index[mono]] = c
        return tuple(out)

    def coordinates(self, expr) -> tuple | None:
        """Exact coordinates of ``expr`` on :attr:`basis`, or None if it is not an invariant."""
        v = self.vector(expr)
        if v is None:
            return None
        coords = tuple(v[p] / b[p] for b, p in zip(self.vectors, self.pivots))
        rest = [x - sum(c * b[i] for c, b in zip(coords, self.vectors)) for i, x in enumerate(v)]
        return coords if not any(rest) else None

    def __contains__(self, expr) -> bool:
        return self.coordinates(expr) is not None

    def __str__(self) -> str:
        return "none" if not self.basis else "span{" + ", ".join(map(str, self.basis)) + "}"


def find_quadratic_invariants(states: Sequence[sp.Symbol], field: Sequence, params=(),
                              degree=2) -> InvariantSpace:
    """All polynomials in ``states`` of the given degree(s), conserved by ``states' = field``.

    ``field`` must be polynomial with rational coefficients in ``states`` and ``params``; an
    invariant must be conserved for every value of ``params`` and may not depend on them.
    ``degree`` is an int or a tuple of ints >= 1, e.g. ``(1, 2)`` to allow linear terms.

    >>> x, y = sp.symbols("x y")
    >>> find_quadratic_invariants([x, y], [y, -x]).basis
    (x**2 + y**2,)
    >>> str(find_quadratic_invariants([x, y], [y, -x - y]))
    'none'
    """
    states, params = tuple(states), tuple(params)
    field = tuple(sp.sympify(f) for f in field)
    degrees = (degree,) if isinstance(degree, int) else tuple(sorted(set(degree)))
    _check_input(states, field, params, degrees)

    gens = states + params
    F = [sp.Poly(f, *gens, domain=QQ) for f in field]
    monos = [e for d in degrees for e in _exponent_tuples(len(states), d)]
    if not monos:
        return InvariantSpace(states, params, degrees, (), (), ())
    # one column per candidate monomial: its derivative along the field, as {monomial: coeff}
    row_of, rows = {}, {}
    pad = (0,) * len(params)
    for j, e in enumerate(monos):
        m = sp.Poly.from_dict({e + pad: 1}, *gens, domain=QQ)
        dq = sum((m.diff(x) * F[k] for k, x in enumerate(states) if e[k]),
                 sp.Poly(0, *gens, domain=QQ))
        for mono, c in dq.rep.to_dict().items():
            rows.setdefault(row_of.setdefault(mono, len(row_of)), {})[j] = c
    N = DomainMatrix(rows, (max(len(row_of), 1), len(monos)), QQ).nullspace()
    vectors, pivots = [], []
    if N.shape[0]:
        # rref of the nullspace: pivots on the earliest monomials, a canonical basis
        R, pivots = N.rref()
        R = R.to_Matrix()
        vectors = [_primitive(list(R.row(i))) for i in range(len(pivots))]
    monomials = tuple(sp.Mul(*[x**k for x, k in zip(states, e)]) for e in monos)
    return InvariantSpace(states, params, degrees, monomials, tuple(vectors), tuple(pivots))


def _check_input(states, field, params, degrees):
    if len(set(states)) != len(states) or not all(isinstance(s, sp.Symbol) for s in states):
        raise ValueError("states: expected distinct SymPy symbols")
    if set(states) & set(params):
        raise ValueError("params: must not repeat a state")
    if len(field) != len(states):
        raise ValueError(f"field: expected {len(states)} components, got {len(field)}")
    if not degrees or any(not isinstance(d, int) or d < 1 for d in degrees):
        raise ValueError(f"degree: expected positive integers, got {degrees!r}")
    allowed = set(states) | set(params)
    for f in field:
        if f.has(sp.Float):
            raise ValueError(f"field: floating-point coefficient in {f}; use exact rationals")
        if not f.free_symbols <= allowed:
            raise ValueError(f"field: {f} depends on {f.free_symbols - allowed}, not declared")
        if not f.is_polynomial(*allowed):
            raise ValueError(f"field: {f} is not polynomial")


def _exponent_tuples(n: int, d: int):
    """Exponents of the degree-d monomials in graded-lex order of the state list."""
    for idx in combinations_with_replacement(range(n), d):
        e = [0] * n
        for i in idx:
            e[i] += 1
        yield tuple(e)


def _primitive(v):
    """Scale a nonzero rational vector to coprime integers, first nonzero entry positive."""
    v = [sp.Rational(x) for x in v]
    den = math.lcm(*[x.q for x in v])
    w = [int(x * den) for x in v]
    g = math.gcd(*w) * (1 if next(x for x in w if x) > 0 else -1)
    return tuple(sp.Integer(x // g) for x in w)


# -- the linear network ----------------------------------------------------------------------
@dataclass(frozen=True)
class NamedInvariant:
    family: str
    label: str
    expr: sp.Expr

    def __str__(self) -> str:
        return f"{self.family} {self.label}: {self.expr}"


UNNAMED = "unnamed quadratic invariant"


@dataclass(frozen=True)
class NetworkInvariants:
    """The quadratic invariants of ``LinearNetwork(depth)`` at concrete widths ``shape``.

    ``imbalance_coordinates[k]`` writes ``imbalance_entries[k]`` on ``space.basis`` (the proof
    that it is an invariant); ``others`` complete the imbalance span to the whole space.
    ``rejected`` lists the named candidates that are not conserved.
    """

    depth: int
    shape: tuple
    space: InvariantSpace
    imbalance_entries: tuple
    imbalance_coordinates: tuple
    imbalance_rank: int
    others: tuple
    rejected: tuple

    @property
    def dim(self) -> int:
        return self.space.dim

    def verify(self) -> bool:
        """Re-expand the certificates; True iff each one and the dimension count hold."""
        for (_, d), c in zip(self.imbalance_entries, self.imbalance_coordinates):
            if sp.expand(d - sum(x * q for x, q in zip(c, self.space.basis))) != 0:
                return False
        if any(o.expr not in self.space for o in self.others):
            return False
        vecs = [self.space.coordinates(d) for _, d in self.imbalance_entries]
        vecs += [self.space.coordinates(o.expr) for o in self.others]
        return (_rank(vecs) == self.dim == self.imbalance_rank + len(self.others)
                and _rank(vecs[:len(self.imbalance_entries)]) == self.imbalance_rank)

    def summary(self) -> str:
        lines = [f"depth {self.depth}, shape {self.shape}: invariant space dim {self.dim}, "
                 f"imbalance entries span {self.imbalance_rank}",
                 "other invariants: " + ("none" if not self.others else "")]
        lines += [f"  {o}" for o in self.others]
        return "\n".join(lines)

    def shown(self) -> list:
        """Each invariant beyond the imbalance as ``label = polynomial`` in the weight entries
        (``w^{(1)}_{01}``), for printing."""
        from ._notation import eq, sym
        names = {s: sym(n) for s, n in _entry_names(self.space.states + self.space.params).items()}
        return [eq(sym(o.label), o.expr.xreplace(names)) for o in self.others]



@derivation
def linear_network_invariants(net: int | LinearNetwork, shape: Sequence[int],
                              candidates=None) -> NetworkInvariants:
    """Quadratic invariants of the explicit-entry gradient flow of a linear network.

    States are the weight entries ``w{l}_{ij}``, params the target entries ``y_{ij}``.
    ``candidates(mats)`` yields named forms ``(family, label, expr)`` tried, in order, to name the
    invariants beyond the imbalance (default: the rotation charges); what they leave is reported
    as "unnamed quadratic invariant" basis elements.

    >>> r = linear_network_invariants(2, (1, 2, 1))
    >>> r.dim, r.imbalance_rank, [o.family for o in r.others]
    (4, 3, ['rotation charge'])
    """
    net = net if isinstance(net, LinearNetwork) else LinearNetwork(net)
    shape = tuple(int(s) for s in shape)
    bad = net.explicit_gradient_mismatch(shape)
    if bad:
        raise DerivationError(f"derived gradient disagrees with explicit entries on layers {bad}")
    ents = net.explicit(shape)
    states, field = [], []
    for w in net.weights:
        states += list(ents[w])
        field += list(net.concrete(net.flow[w], shape))
    params = list(ents[net.target])
    space = find_quadratic_invariants(states, field, params)

    mats = [ents[w] for w in net.weights]
    entries, coords = [], []
    for l in range(1, net.depth):
        D = (mats[l - 1].T * mats[l - 1] - mats[l] * mats[l].T).applyfunc(sp.expand)
        for i in range(D.rows):
            for j in range(i, D.cols):
                c = space.coordinates(D[i, j])
                if c is None:  # Lemma 2 says this cannot happen
                    raise DerivationError(f"(D_{l})_{i}{j} is not conserved on shape {shape}")
                entries.append((f"(D_{l})_{{{i}{j}}}", D[i, j]))
                coords.append(c)
    rank = _rank(coords)

    span, others, rejected = list(coords), [], []
    named = list((candidates or rotation_charges)(mats))
    unnamed = [(UNNAMED, f"q_{{{k}}}", q) for k, q in enumerate(space.basis, 1)]
    for family, label, q in named + unnamed:
        c = space.coordinates(q)
        if c is None:
            rejected.append((family, label))
        elif _rank(span + [c]) > _rank(span):
            span.append(c)
            others.append(NamedInvariant(family, label, q))
    return NetworkInvariants(net.depth, shape, space, tuple(entries), tuple(coords), rank,
                             tuple(others), tuple(rejected))


def rotation_charges(mats):
    """Entries of ``W_l^T W_{l+1}^T - W_{l+1} W_l`` where square, as (family, label, expr)."""
    for l in range(1, len(mats)):
        a, b = mats[l - 1], mats[l]
        if a.rows != b.cols:  # W_l^T W_{l+1}^T is square only when h_{l-1} = h_{l+1}
            continue
        A = a.T * b.T
        for i in range(A.rows):
            for j in range(i + 1, A.cols):
                yield ("rotation charge",
                       f"(W_{l}^T W_{l + 1}^T - W_{l + 1} W_{l})_{{{i}{j}}}",
                       sp.expand(A[i, j] - A[j, i]))


def _rank(vectors) -> int:
    if not vectors or not vectors[0]:
        return 0
    return sp.Matrix(vectors).rank(simplify=False)


def _entry_names(symbols):
    """``w1_01 -> w^{(1)}_{01}``: SymPy's default would print ``w_{1 01}``."""
    out = {}
    for s in symbols:
        head, _, idx = s.name.partition("_")
        out[s] = f"{head[0]}^{{({head[1:]})}}_{{{idx}}}" if head[1:] else f"{head}_{{{idx}}}"
    return out
