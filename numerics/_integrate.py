"""Integrate a polynomial matrix vector field, given symbolically, at any precision.

One entry point, :func:`solve`, composes orthogonal pieces: a method (``taylor`` | ``rk4`` |
``dop853``), a precision (float64, or mpmath digits from :func:`workdps`), output times and
observers. The field is a dict ``{W: dW/dt}`` of SymPy matrix expressions that are polynomials in
the state symbols (MatAdd / MatMul / Transpose / MatPow with numeric coefficients), with further
MatrixSymbols bound to constants through ``params``.

``taylor`` compiles the field once into straight-line code over Taylor-coefficient sequences:
a product node ``A B`` has coefficients ``(AB)_k = sum_j A_j B_{k-j}`` (one stacked matmul), sums
and transposes act coefficient-wise, constants are ``(c, 0, 0, ...)``; the state then satisfies
``y_{k+1} = F_k / (k + 1)``. The recurrence runs on the time-scaled series ``z(s) = y(t + s h0)``
(coefficients ``h0^k y_k``), so every coefficient has the size of the increment it contributes and
an absolute rounding error suffices. At mpmath precision it runs in *block fixed point*: each node
is an object array of Python ints with one binary exponent per step (``X * 2**e``), ``guard`` bits
beyond the working precision, one rounding per matmul entry. That is exact integer algebra (no
float, no mpf rounding inside dot products) and about 20x cheaper than mpf arithmetic; results
are rounded back to mpf at the working precision. ``arith="array"`` runs the same recurrence on
plain arrays (float64, or mpf objects) and serves as a cross-check.

Backends (``solve(..., backend=...)``, one contract): ``flint`` -- the default at mpmath
precision -- runs the same recurrence on python-flint ``arb_mat`` coefficients: each Cauchy term
``A_j B_{k-j}`` is one small matrix product in C, and order ``k`` is computed with ``gamma k``
fewer bits (its coefficients are ``2^(-gamma k)`` of the top; ``gamma`` is learnt from the previous
step), with 16 guard bits (Arb rounds correctly); about 1.7x faster than the fixed-point ints at 50
digits. ``mpmath`` is the block fixed point above (no compiled dependency), ``numpy`` the float64
arrays, ``heyoka`` heyoka.py's compiled integrator (``numerics._heyoka``, optional).

Step size (Jorba & Zou 2005): with order ``p`` and per-step tolerance ``eps`` (relative to the
largest state entry), ``s = min_{k in {p-1, p}} (eps / |z_k|)^(1/k) * exp(-0.7 / (p - 1))``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field as _dc_field
from fractions import Fraction
from typing import Callable, Mapping

import mpmath
import numpy as np
import sympy as sp

from ._matexpr import compile_matrix
from ._precision import asarray, current_dps, is_mp, workdps

METHODS = ("taylor", "rk4", "dop853")
ARITHS = ("fixed", "flint", "array")
BACKENDS = ("flint", "mpmath", "numpy", "heyoka")
_CURRENT = "current"
_GUARD_BITS = 32       # fixed-point bits beyond the working precision
_FLINT_GUARD_BITS = 16  # Arb rounds correctly: fewer guard bits (182 bits = 3 limbs at 50 digits)
_COLLAPSE = 1e-12      # a step below this fraction of t_end means a singularity, not stiffness
_BLOWUP_LOG2 = 1023.0  # |state| beyond the float64 range counts as a blow-up in every backend


class IntegrationError(RuntimeError):
    """The integration could not reach ``t_end`` (step collapse, blow-up, step budget)."""


@dataclass(frozen=True)
class Solution:
    """Result of :func:`solve`: one entry of ``states`` and of every record per ``times``."""

    times: tuple
    states: tuple                      # of {MatrixSymbol: array}
    final: dict                        # state at t_end
    steps: int
    records: dict = _dc_field(default_factory=dict)   # {name: [value at each time]}
    method: str = "taylor"
    dps: int | None = None
    backend: str | None = None         # taylor: flint | mpmath | numpy | heyoka

    def path(self, sym) -> list:
        """The arrays of one state symbol at every output time."""
        return [s[sym] for s in self.states]


# -- numbers -------------------------------------------------------------------------------------

def number(x):
    """A time, step or rate in the current backend, without a float sneaking in at mp precision.

    Binary floats are read exactly, strings and rationals rounded at the working precision.

    >>> with workdps(30):
    ...     print(number("0.1"), number(Fraction(1, 3)))
    0.1 0.333333333333333333333333333333
    """
    mp = current_dps() is not None
    if isinstance(x, (sp.Basic, Fraction)):
        r = sp.Rational(x.numerator, x.denominator) if isinstance(x, Fraction) else sp.sympify(x)
        if r.is_Rational:
            return mpmath.mpf(int(r.p)) / int(r.q) if mp else int(r.p) / int(r.q)
        if not r.is_number:
            raise ValueError(f"expected a number, got the expression {x}")
        return mpmath.mpf(str(sp.N(r, mpmath.mp.dps + 10))) if mp else float(r)
    if mp:
        return mpmath.mpf(x)
    return float(x)


def _finite(x) -> bool:
    return bool(mpmath.isfinite(x)) if isinstance(x, mpmath.mpf) else math.isfinite(float(x))


def _all_finite(a) -> bool:
    if is_mp(a):
        return all(mpmath.isfinite(v) for v in a.flat)
    return bool(np.isfinite(a).all())


# -- the compiled field --------------------------------------------------------------------------

@dataclass
class _Node:
    kind: str            # var | sym | eye | zero | T | add | scale | mul
    args: tuple = ()
    data: object = None  # var: state index; sym: symbol; eye/zero: shape; scale: sympy number
    const: bool = False


class _Program:
    """The field as straight-line code in SSA form.

    Two rewrites cut the number of Cauchy products (the whole cost): sums of products are
    factored by their common left and right factors (``-W1 W2 W2^T + Y W2^T`` becomes
    ``(Y - W1 W2) W2^T``), and equal subproducts share one node, also up to transposition
    (``W2^T W1^T`` reuses ``W1 W2``).
    """

    def __init__(self, exprs, variables, consts, dims):
        self.nodes: list[_Node] = []
        self._memo: dict = {}
        self._states = {s: i for i, s in enumerate(variables)}
        self._consts = set(consts)
        self._dims = dims
        self.outputs = [self._build(e) for e in exprs]

    def _add(self, node, key):
        if key in self._memo:
            return self._memo[key]
        self.nodes.append(node)
        self._memo[key] = len(self.nodes) - 1
        return len(self.nodes) - 1

    def _int(self, d):
        d = sp.sympify(d).xreplace(self._dims)
        if not d.is_Integer:
            raise ValueError(f"field: cannot resolve the dimension {d} from the given arrays")
        return int(d)

    def _is_const(self, *idx):
        return all(self.nodes[i].const for i in idx)

    def _zero(self, e):
        shape = (self._int(e.rows), self._int(e.cols))
        return self._add(_Node("zero", data=shape, const=True), ("zero", shape))

    def _build(self, e):
        if e in self._memo:
            return self._memo[e]
        if isinstance(e, sp.MatrixSymbol):
            if e in self._states:
                return self._add(_Node("var", data=self._states[e]), e)
            if e in self._consts:
                return self._add(_Node("sym", data=e, const=True), e)
            raise ValueError(f"params: no value for {e}, a constant of the field")
        if isinstance(e, sp.Identity):
            n = self._int(e.rows)
            return self._add(_Node("eye", data=(n, n), const=True), ("eye", n))
        if isinstance(e, sp.ZeroMatrix):
            return self._zero(e)
        if isinstance(e, sp.Transpose):
            i = self._transpose(self._build(e.arg))
        elif isinstance(e, sp.MatAdd):
            i = self._sum([self._term(a) for a in e.args], e)
        elif isinstance(e, (sp.MatMul, sp.Mul)):
            i = self._sum([self._term(e)], e)
        elif isinstance(e, sp.MatPow) and e.exp.is_Integer and e.exp > 0:
            i = self._chain([self._build(e.base)] * int(e.exp))
        else:
            raise ValueError(f"field: unsupported node {type(e).__name__} in {e}; "
                             "the taylor method needs a matrix polynomial")
        self._memo[e] = i
        return i

    def _term(self, e):
        """``(coefficient, [factor node ids])`` of one summand."""
        if not isinstance(e, (sp.MatMul, sp.Mul)):
            return sp.Integer(1), [self._build(e)]
        coeff = sp.Mul(*[a for a in e.args if not getattr(a, "is_Matrix", False)])
        if coeff.free_symbols:
            raise ValueError(f"field: scalar symbols {sorted(map(str, coeff.free_symbols))} in {e}; "
                             "substitute numbers first")
        return coeff, [self._build(a) for a in e.args if getattr(a, "is_Matrix", False)]

    def _transpose(self, a, create=True):
        nd = self.nodes[a]
        if nd.kind == "T":
            return nd.args[0]
        if nd.kind in ("eye", "zero") and nd.data[0] == nd.data[1]:
            return a
        if not create:
            return self._memo.get(("T", a))
        return self._add(_Node("T", (a,), const=nd.const), ("T", a))

    def _mul(self, a, b):
        if ("mul", a, b) not in self._memo:
            ta, tb = self._transpose(a, create=False), self._transpose(b, create=False)
            if ta is not None and tb is not None and ("mul", tb, ta) in self._memo:
                return self._transpose(self._memo[("mul", tb, ta)])   # (AB)^T = B^T A^T
        return self._add(_Node("mul", (a, b), const=self._is_const(a, b)), ("mul", a, b))

    def _chain(self, fs):
        acc = fs[0]
        for b in fs[1:]:
            acc = self._mul(acc, b)
        return acc

    def _sum(self, terms, e):
        terms = [(c, fs) for c, fs in terms if c != 0]
        if not terms:
            return self._zero(e)
        if len(terms) == 1:
            c, fs = terms[0]
            i = self._chain(fs)
            if c == 1:
                return i
            return self._add(_Node("scale", (i,), data=c, const=self._is_const(i)), ("scale", c, i))
        shortest = min(len(fs) for _, fs in terms)
        pre = 0
        while pre < shortest - 1 and len({fs[pre] for _, fs in terms}) == 1:
            pre += 1
        suf = 0
        while pre + suf < shortest - 1 and len({fs[-1 - suf] for _, fs in terms}) == 1:
            suf += 1
        if pre or suf:
            fs0 = terms[0][1]
            mid = self._sum([(c, fs[pre:len(fs) - suf]) for c, fs in terms], e)
            return self._chain(fs0[:pre] + [mid] + fs0[len(fs0) - suf:])
        args = tuple(self._sum([t], e) for t in terms)
        return self._add(_Node("add", args, const=self._is_const(*args)), ("add", args))


    def evaluate(self, leaf: Callable, ops, nodes: Callable = lambda nd: True) -> list:
        """Every node's value (None where ``nodes(node)`` is false): ``leaf(node)`` for ``var`` and
        ``sym`` nodes, ``ops`` (``eye(n)``, ``zeros(r, c)``, ``add``, ``mul``, ``scale(a, c)``)
        for the rest, ``.T`` for a transpose. The interpreter the heyoka backend and the
        constant folding of the float64 right-hand side share."""
        vals: list = [None] * len(self.nodes)
        for i, nd in enumerate(self.nodes):
            if not nodes(nd):
                continue
            a = [vals[j] for j in nd.args]
            if nd.kind in ("var", "sym"):
                vals[i] = leaf(nd)
            elif nd.kind == "eye":
                vals[i] = ops.eye(nd.data[0])
            elif nd.kind == "zero":
                vals[i] = ops.zeros(*nd.data)
            elif nd.kind == "T":
                vals[i] = a[0].T
            elif nd.kind == "add":
                out = a[0]
                for b in a[1:]:
                    out = ops.add(out, b)
                vals[i] = out
            elif nd.kind == "scale":
                vals[i] = ops.scale(a[0], nd.data)
            else:
                vals[i] = ops.mul(a[0], a[1])
        return vals


class _Float64Ops:
    """``_Program.evaluate``'s operations on float64 arrays."""
    eye = staticmethod(np.eye)
    add = staticmethod(np.add)
    mul = staticmethod(np.matmul)

    @staticmethod
    def zeros(r, c):
        return np.zeros((r, c))

    @staticmethod
    def scale(a, c):
        return float(c) * a


def compile_field(exprs: Mapping, symbols, shapes: Mapping) -> Callable:
    """``f(*arrays) -> {key: array}`` evaluating a dict of matrix polynomials, with the
    factoring and shared subproducts of the Taylor program (so each product is formed once).

    ``shapes`` ({symbol: (rows, cols)}) resolves symbolic dimensions. Unlike
    :func:`compile_matrix` it handles only polynomials; it is the fast path for gradient descent.

    >>> A = sp.MatrixSymbol("A", 2, 2)
    >>> f = compile_field({"g": A * A.T - A * A.T * 2}, [A], {A: (2, 2)})
    >>> f(np.array([[1.0, 2.0], [0.0, 1.0]]))["g"]
    array([[-5., -2.],
           [-2., -1.]])
    """
    symbols = list(symbols)
    dims = _bind_dims({s: np.empty(shapes[s]) for s in symbols}, {s: str(s) for s in symbols})
    keys = list(exprs)
    prog = _Program([exprs[k] for k in keys], symbols, (), dims)
    nodes = prog.nodes
    coeffs: dict = {}

    def run(*arrays):
        dps = current_dps()
        if dps not in coeffs:   # scalars in the backend of the call's precision
            coeffs[dps] = {i: number(nd.data) for i, nd in enumerate(nodes) if nd.kind == "scale"}
        cs = coeffs[dps]
        mp = dps is not None
        vals: list = [None] * len(nodes)
        for i, nd in enumerate(nodes):
            kind, a = nd.kind, nd.args
            if kind == "var":
                vals[i] = arrays[nd.data]
            elif kind == "mul":
                vals[i] = vals[a[0]] @ vals[a[1]]
            elif kind == "T":
                vals[i] = vals[a[0]].T
            elif kind == "add":
                out = vals[a[0]]
                for j in a[1:]:
                    out = out + vals[j]
                vals[i] = out
            elif kind == "scale":
                vals[i] = cs[i] * vals[a[0]]
            else:  # eye / zero
                z = np.eye(nd.data[0]) if kind == "eye" else np.zeros(nd.data)
                vals[i] = asarray(z) if mp else z
        return {k: vals[o] for k, o in zip(keys, prog.outputs)}

    return run


# -- arithmetic ----------------------------------------------------------------------------------

class _ArrayArith:
    """Plain arrays (float64 or mpf objects); every exponent is 0."""

    #: every exponent is 0 and a sum is plain addition: the Taylor recurrence can skip them
    plain = True

    def __init__(self, mp: bool):
        self.mp = mp
        self.dtype = object if mp else float

    def load(self, a):
        return np.array(a, dtype=self.dtype), 0

    def store(self, x, e, prec=None):
        if not self.mp:
            return np.array(x, dtype=float)
        return np.frompyfunc(lambda v: mpmath.mp.make_mpf(mpmath.libmp.mpf_pos(v._mpf_, prec, "n")),
                             1, 1)(x).astype(object)

    def const(self, node, value):
        if node.kind == "eye":
            value = np.eye(node.data[0])
        elif node.kind == "zero":
            value = np.zeros(node.data)
        return self.load(asarray(value) if self.mp else np.asarray(value, dtype=float))

    def zeros(self, shape):
        z = np.zeros(shape)
        return z.astype(object) * mpmath.mpf(0) if self.mp else z

    def add(self, xs, es, e):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out

    def mul_exp(self, ea, eb):
        return 0

    def shape(self, x):
        return x.shape

    def T(self, x):
        return x.T

    def prep_h(self, h0):
        return h0

    def matmul(self, a, b):
        return a @ b

    def scale_prep(self, c):
        return number(c)

    def scale(self, x, c):
        return c * x

    def scale_exp(self, c, e):
        return e

    def next_coef(self, f, ef, ev, h0, k):
        return f * (h0 / (k + 1))

    def horner(self, zs, sigma):
        acc = zs[-1]
        for z in reversed(zs[:-1]):
            acc = acc * sigma + z
        return acc

    def log2max(self, x, e):
        m = np.max(np.abs(x)) if x.size else 0
        if m == 0:
            return -math.inf
        return float(mpmath.log(m, 2)) if self.mp else math.log2(m)

    def normalize(self, x, e):
        return x, e


def _man_exp(v):
    """Signed ``(man, exp)`` with ``v = man 2^exp`` (mpf's own ``man_exp`` drops the sign)."""
    sign, man, ex, _ = mpmath.mpf(v)._mpf_ if not isinstance(v, mpmath.mpf) else v._mpf_
    return (-man if sign else man), ex


class _FixedArith(_ArrayArith):
    """Block fixed point: an object array ``X`` of Python ints and one exponent, value ``X 2^e``.

    Products round once per entry (after the whole dot product); sums align to the larger
    exponent, so errors are normwise, like a floating-point matmul, at ``bits`` bits.
    """

    plain = False

    def __init__(self, bits: int):
        super().__init__(mp=True)
        self.bits = bits

    def _shift(self, x, s):
        """``x 2^-s`` rounded to the nearest int (half up)."""
        if s > 0:
            return (x + (1 << (s - 1))) >> s
        if s < 0:
            return x << (-s)
        return x

    def load(self, a):
        parts = [_man_exp(v) for v in a.flat]
        tops = [ex + abs(m).bit_length() for m, ex in parts if m]
        e = (max(tops) if tops else 0) - self.bits
        ints = [m << (ex - e) if ex >= e else ((m + (1 << (e - ex - 1))) >> (e - ex)) for m, ex in parts]
        x = np.empty(len(ints), dtype=object)
        x[:] = ints
        return x.reshape(a.shape), e

    def store(self, x, e, prec=None):
        from_man_exp, make = mpmath.libmp.from_man_exp, mpmath.mp.make_mpf
        prec = prec or mpmath.mp.prec
        return np.frompyfunc(lambda m: make(from_man_exp(int(m), e, prec, "n")), 1, 1)(x).astype(object)

    def const(self, node, value):
        if node.kind == "eye":
            value = np.eye(node.data[0])
        elif node.kind == "zero":
            value = np.zeros(node.data)
        return self.load(asarray(value))

    def zeros(self, shape):
        return np.zeros(shape, dtype=int).astype(object)

    def add(self, xs, es, e):
        out = self._shift(xs[0], e - es[0])
        for x, ex in zip(xs[1:], es[1:]):
            out = out + self._shift(x, e - ex)
        return out

    def mul_exp(self, ea, eb):
        return ea + eb + self.bits

    def matmul(self, a, b):
        return self._shift(a @ b, self.bits)

    def scale_prep(self, c):
        c = sp.sympify(c)
        if isinstance(c, sp.Float):   # a binary float is a dyadic rational: read it exactly
            c = sp.Rational(c)
        elif not c.is_Rational:       # irrational: its rounding at the working precision
            man, ex = _man_exp(number(c))
            c = sp.Rational(man) * sp.Rational(2) ** ex
        p, q = int(c.p), int(c.q)
        t = q.bit_length() if q > 1 else 0
        return (p << t, q, t)

    def scale(self, x, c):
        pt, q, _ = c
        if q == 1:
            return x * pt
        return (x * pt + q // 2) // q

    def scale_exp(self, c, e):
        return e - c[2]

    def next_coef(self, f, ef, ev, h0, k):
        hm, he = h0   # h0 prepared by _h_fixed: (int, exponent)
        num = f * hm
        s = ev - (ef + he)
        den = k + 1
        if s >= 0:
            den <<= s
        else:
            num = num << (-s)
        return (num + den // 2) // den

    def horner(self, zs, sigma):
        sig = int(mpmath.nint(sigma * mpmath.ldexp(1, self.bits)))
        acc = zs[-1]
        for z in reversed(zs[:-1]):
            acc = self._shift(acc * sig, self.bits) + z
        return acc

    def log2max(self, x, e):
        m = max((abs(v) for v in x.flat), default=0)
        return -math.inf if m == 0 else math.log2(m) + e

    def normalize(self, x, e):
        m = max((abs(v) for v in x.flat), default=0)
        if m == 0:
            return x, e
        s = m.bit_length() - self.bits
        return self._shift(x, s), e + s

    def prep_h(self, h0):
        man, ex = _man_exp(h0)
        s = self.bits - abs(man).bit_length()
        return (man << s, ex - s) if s >= 0 else (self._shift(man, -s), ex - s)


class _FlintArith(_ArrayArith):
    """Coefficients as python-flint ``arb_mat`` (Arb, in C) at ``bits`` bits; exponents are 0.

    A Cauchy term ``A_j B_{k-j}`` is one small ``arb_mat`` product in C (27 multiply-adds of a
    3 x 3 network in ~2 us) instead of 27 Python big-int operations. Ball radii are dropped at
    every step (``normalize``): the arithmetic serves as fast floating point here, not as a proof.
    """

    def __init__(self, bits: int):
        super().__init__(mp=True)
        import flint
        self.flint, self.bits = flint, bits
        self.gamma = 0.0   # bits lost per order by the scaled coefficients (learnt step to step)

    def begin_order(self, k):
        """Order ``k``'s coefficients are ~2^(-gamma k) of the top: that many fewer bits suffice
        for the same absolute accuracy (``None``: back to full precision)."""
        cut = 0 if k is None else int(k * self.gamma)
        self.flint.ctx.prec = max(64, self.bits - cut)

    def decay_ok(self, z, state, p) -> bool:
        """Every order's coefficients at most 2^(-gamma k) of the top (1 bit of slack): then the
        bits cut at order k were below the absolute accuracy of order 0."""
        top = max(self.log2max(zv[0], e) for zv, (_, e) in zip(z, state))
        if top == -math.inf:
            return True
        for k in range(1, p + 1):
            nk = max(self.log2max(zv[k], e) for zv, (_, e) in zip(z, state))
            if nk > top - int(k * self.gamma) + 1:
                return False
        return True

    def learn(self, gamma_measured: float, log2_rescale: float):
        # next step's h0 is this one's times 2^log2_rescale: its series decays that much slower
        self.gamma = max(0.0, 0.8 * (gamma_measured - log2_rescale))

    def _arb(self, v):
        from ._spectral import _to_arb
        return _to_arb(v)

    def load(self, a):
        rows, cols = a.shape
        M = self.flint.arb_mat(rows, cols)
        for i in range(rows):
            for j in range(cols):
                M[i, j] = self._arb(a[i, j])
        return M, 0

    def store(self, x, e, prec=None):
        from_man_exp, make = mpmath.libmp.from_man_exp, mpmath.mp.make_mpf
        prec = prec or mpmath.mp.prec
        out = np.empty((x.nrows(), x.ncols()), dtype=object)
        for i in range(x.nrows()):
            for j in range(x.ncols()):
                m, ex = x[i, j].mid().man_exp()
                out[i, j] = make(from_man_exp(int(m), int(ex), prec, "n"))
        return out

    def const(self, node, value):
        if node.kind == "eye":
            value = np.eye(node.data[0])
        elif node.kind == "zero":
            value = np.zeros(node.data)
        return self.load(asarray(value))

    def zeros(self, shape):
        return self.flint.arb_mat(*shape)

    def shape(self, x):
        return (x.nrows(), x.ncols())

    def T(self, x):
        return x.transpose()

    def matmul(self, a, b):
        return a * b

    def cauchy(self, a, b, k):
        acc = a[0] * b[k]
        for j in range(1, k + 1):
            acc += a[j] * b[k - j]
        return acc.mid()   # radii are not used: drop them, exact inputs multiply faster

    def scale_prep(self, c):
        c = sp.sympify(c)
        if isinstance(c, sp.Float):
            c = sp.Rational(c)
        if c.is_Rational:
            return self.flint.arb(self.flint.fmpq(int(c.p), int(c.q)))
        return self._arb(number(c))

    def scale(self, x, c):
        return x * c

    def prep_h(self, h0):
        return self._arb(h0)

    def next_coef(self, f, ef, ev, h0, k):
        return (f * (h0 / (k + 1))).mid()

    def horner(self, zs, sigma):
        sig = self._arb(sigma)
        acc = zs[-1]
        for z in reversed(zs[:-1]):
            acc = acc * sig + z
        return acc

    def log2max(self, x, e):
        m = -math.inf
        for v in x.entries():
            man, ex = v.mid().man_exp()
            man = int(man)
            if man:
                m = max(m, math.log2(abs(man)) + int(ex))
        return m

    def normalize(self, x, e):
        return x.mid(), e


# -- the Taylor step -----------------------------------------------------------------------------

# opcodes of _Taylor.plan: a product of two series, a constant times a series (either side), a
# sum, a transpose, a scalar multiple
_CAUCHY, _LEFT, _RIGHT, _ADD, _TRANSPOSE, _SCALE = range(6)


class _Taylor:
    def __init__(self, prog: _Program, arith, shapes, const_values, order: int):
        self.prog, self.ar, self.p = prog, arith, order
        n = len(prog.nodes)
        self.shape = [None] * n
        self.cval = [None] * n   # (value, exponent) of constant nodes, computed once
        for i, nd in enumerate(prog.nodes):
            if nd.kind == "var":
                self.shape[i] = shapes[nd.data]
            elif nd.kind == "sym":
                self.shape[i] = const_values[nd.data].shape
            elif nd.kind in ("eye", "zero"):
                self.shape[i] = nd.data
            elif nd.kind == "T":
                r, c = self.shape[nd.args[0]]
                self.shape[i] = (c, r)
            elif nd.kind in ("add", "scale"):
                self.shape[i] = self.shape[nd.args[0]]
            elif nd.kind == "mul":
                self.shape[i] = (self.shape[nd.args[0]][0], self.shape[nd.args[1]][1])
        self.scales = {i: arith.scale_prep(nd.data) for i, nd in enumerate(prog.nodes) if nd.kind == "scale"}
        for i, nd in enumerate(prog.nodes):
            if nd.const:
                self.cval[i] = self._const(i, nd, const_values)
        # Cauchy buffers: [A_0 .. A_k] side by side, [B_k .. B_0] stacked, one matmul per order
        self.buf = {}
        self.cauchy = getattr(arith, "cauchy", None)
        for i, nd in enumerate(prog.nodes):
            if self.cauchy is not None:
                break
            if nd.kind == "mul" and not nd.const and not any(prog.nodes[a].const for a in nd.args):
                (r, m), (_, c) = self.shape[nd.args[0]], self.shape[nd.args[1]]
                self.buf[i] = (np.empty((r, order * m), dtype=arith.dtype),
                               np.empty((order * m, c), dtype=arith.dtype))
        self.dyn = [i for i, nd in enumerate(prog.nodes) if not nd.const and nd.kind != "var"]
        # the recurrence as (node, opcode, operands) for plain arithmetic, decoded once, not per
        # node and order (the interpreter's dispatch was most of a small network's step)
        self.plan = []
        for i in self.dyn:
            nd = prog.nodes[i]
            if nd.kind == "mul":
                ca, cb = (prog.nodes[j].const for j in nd.args)
                self.plan.append((i, _LEFT if ca else _RIGHT if cb else _CAUCHY, nd.args))
            else:
                op = {"T": _TRANSPOSE, "scale": _SCALE, "add": _ADD}[nd.kind]
                self.plan.append((i, op, nd.args))

    def _const(self, i, nd, values):
        ar = self.ar
        if nd.kind in ("sym", "eye", "zero"):
            return ar.const(nd, values.get(nd.data) if nd.kind == "sym" else None)
        vals = [self.cval[a] for a in nd.args]
        return self._apply(i, nd, [[v] for v, _ in vals], [e for _, e in vals], 0)

    def _exp(self, i, nd, es):
        if nd.kind == "T":
            return es[0]
        if nd.kind == "add":
            return max(es)
        if nd.kind == "scale":
            return self.ar.scale_exp(self.scales[i], es[0])
        return self.ar.mul_exp(es[0], es[1])

    def _apply(self, i, nd, cs, es, k):
        """Coefficient ``k`` of node ``i`` from its children's coefficient lists ``cs`` (a constant
        child's list is ``[c]``: higher coefficients are zero) and exponents ``es``."""
        ar, e = self.ar, self._exp(i, nd, es)
        if nd.kind == "T":
            return ar.T(cs[0][k]), e
        if nd.kind == "scale":
            return ar.scale(cs[0][k], self.scales[i]), e
        if nd.kind == "add":
            live = [(c[k], ex) for c, ex in zip(cs, es) if k < len(c)]
            return ar.add([x for x, _ in live], [ex for _, ex in live], e), e
        a, b = cs
        ca, cb = (self.prog.nodes[j].const for j in nd.args)
        if ca or cb:   # a constant factor has one nonzero coefficient: no convolution
            return ar.matmul(a[0] if ca else a[k], b[0] if cb else b[k]), e
        return self._convolve(i, a, b, k), e

    def _convolve(self, i, a, b, k):
        """Coefficient ``k`` of the product of two series: the arithmetic's Cauchy sum, or one matmul
        of node ``i``'s buffers ([A_0 .. A_k] side by side times [B_k .. B_0] stacked)."""
        if self.cauchy is not None:
            return self.cauchy(a, b, k)
        ha, vb = self.buf[i]
        m = a[0].shape[1]
        lo, hi = (self.p - 1 - k) * m, (self.p - k) * m
        ha[:, k * m:(k + 1) * m] = a[k]
        vb[lo:hi] = b[k]
        return self.ar.matmul(ha[:, :(k + 1) * m], vb[lo:])

    def _order_plain(self, coef, k):
        """Order ``k`` of every dynamic node, for arithmetic whose exponents are all 0: the same
        operations, in the same order, as :meth:`_apply`."""
        ar, scales = self.ar, self.scales
        matmul, T = ar.matmul, ar.T
        for i, op, args in self.plan:
            if op == _CAUCHY:
                c = self._convolve(i, coef[args[0]], coef[args[1]], k)
            elif op == _LEFT:
                c = matmul(coef[args[0]][0], coef[args[1]][k])
            elif op == _RIGHT:
                c = matmul(coef[args[0]][k], coef[args[1]][0])
            elif op == _ADD:
                c = None
                for j in args:
                    cj = coef[j]
                    if k < len(cj):
                        c = cj[k] if c is None else c + cj[k]
            elif op == _TRANSPOSE:
                c = T(coef[args[0]][k])
            else:
                c = ar.scale(coef[args[0]][k], scales[i])
            coef[i].append(c)

    def coefficients(self, state, h0, order=None):
        """Coefficients ``z_0 .. z_order`` of every state variable, scaled by ``h0``."""
        p = self.p if order is None else order
        ar, nodes = self.ar, self.prog.nodes
        z = [[x] for x, _ in state]
        ev = [e for _, e in state]
        coef: list = [None] * len(nodes)
        exps: list = [None] * len(nodes)
        for i, nd in enumerate(nodes):
            if nd.const:
                coef[i], exps[i] = [self.cval[i][0]], self.cval[i][1]
            elif nd.kind == "var":
                coef[i], exps[i] = z[nd.data], ev[nd.data]
            else:
                coef[i] = []
        hp = ar.prep_h(h0)
        begin = getattr(ar, "begin_order", None)
        plain = getattr(ar, "plain", False)
        if plain:   # exponents stay 0 (the dynamic nodes' are never read)
            exps = [0 if e is None else e for e in exps]
        for k in range(p):
            if begin is not None:
                begin(k)
            if plain:
                self._order_plain(coef, k)
            else:
                for i in self.dyn:
                    nd = nodes[i]
                    c, e = self._apply(i, nd, [coef[a] for a in nd.args], [exps[a] for a in nd.args], k)
                    coef[i].append(c)
                    exps[i] = e
            for v, out in enumerate(self.prog.outputs):
                f = coef[out]
                fk = f[k] if k < len(f) else None
                if fk is None:
                    z[v].append(ar.zeros(ar.shape(state[v][0])))
                else:
                    z[v].append(ar.next_coef(fk, exps[out], ev[v], hp, k))
        if begin is not None:
            begin(None)
        return z


# -- validation ----------------------------------------------------------------------------------

def _bind_dims(arrays: dict, where: dict) -> dict:
    """Unify the symbolic dimensions of the MatrixSymbols with the arrays' shapes."""
    dims, origin = {}, {}
    for s, a in arrays.items():
        if a.ndim != 2:
            raise ValueError(f"{where[s]}: expected a 2-d array for {s} ({s.rows} x {s.cols}), "
                             f"got shape {a.shape}")
        for d, n in zip(s.shape, a.shape):
            d = sp.sympify(d)
            if d.is_Integer and int(d) != n:
                raise ValueError(f"{where[s]}: shape {a.shape} does not fit {s} ({s.rows} x {s.cols})")
            if d.is_Symbol:
                if d in dims and dims[d] != n:
                    raise ValueError(f"{where[s]}: shape {a.shape} does not fit {s} ({s.rows} x {s.cols}): "
                                     f"{d} = {dims[d]} from {origin[d]}")
                dims[d], origin[d] = n, where[s]
    return dims


def _observers(observers) -> dict:
    if isinstance(observers, Mapping):
        obs = dict(observers)
    else:
        obs = {}
        for i, f in enumerate(observers):
            name = getattr(f, "__name__", f"obs{i}")
            obs[name if name not in obs and name != "<lambda>" else f"obs{i}"] = f
    for name, f in obs.items():
        if not callable(f):
            raise ValueError(f"observers: {name!r} is not callable")
    return obs


def expr_observer(expr) -> Callable:
    """An observer evaluating a SymPy matrix (or Trace) expression on a state dict.

    >>> A = sp.MatrixSymbol("A", 2, 2)
    >>> f = expr_observer(A.T * A)
    >>> f({A: np.eye(2)})
    array([[1., 0.],
           [0., 1.]])
    """
    syms = sorted(expr.atoms(sp.MatrixSymbol), key=str)
    fn = compile_matrix(expr, syms)
    return lambda state: fn(*[state[s] for s in syms])


def _prepare(field, y0, params, t_end, t_eval):
    if not isinstance(field, Mapping) or not field:
        raise ValueError("field: expected a non-empty dict {MatrixSymbol: matrix expression}")
    states = list(field)
    for s in states:
        if not isinstance(s, sp.MatrixSymbol):
            raise ValueError(f"field: keys must be MatrixSymbols, got {s!r}")
    if not isinstance(y0, Mapping):
        raise ValueError("y0: expected a dict {MatrixSymbol: array}")
    for s in states:
        if s not in y0:
            raise ValueError(f"y0: missing initial value for {s}")
    for s in y0:
        if s not in field:
            raise ValueError(f"y0: {s} has no equation in field")
    params = dict(params or {})
    for s in params:
        if s in field:
            raise ValueError(f"params: {s} is a state variable of field")
    free = set().union(*[e.atoms(sp.MatrixSymbol) for e in field.values()]) - set(states)
    for s in sorted(free, key=str):
        if s not in params:
            raise ValueError(f"params: no value for {s}, a constant of the field")
    arrays, where = {}, {}
    for name, src in (("y0", y0), ("params", params)):
        for s, a in src.items():
            try:
                arr = asarray(a)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{name}[{s}]: not a numeric array ({err})") from None
            if not _all_finite(arr):
                raise ValueError(f"{name}[{s}]: non-finite entries")
            arrays[s], where[s] = arr, f"{name}[{s}]"
    dims = _bind_dims(arrays, where)
    try:
        t_end = number(t_end)
    except (TypeError, ValueError):
        raise ValueError(f"t_end: expected a number, got {t_end!r}") from None
    if not _finite(t_end) or t_end < 0:
        raise ValueError(f"t_end: expected a finite time >= 0, got {t_end}")
    if t_eval is None:
        times = [number(0), t_end]
    else:
        try:
            times = [number(t) for t in t_eval]
        except (TypeError, ValueError):
            raise ValueError("t_eval: expected a sequence of numbers") from None
        if any(b < a for a, b in zip(times, times[1:])):
            raise ValueError("t_eval: times must be non-decreasing")
        if times and (times[0] < 0 or times[-1] > t_end):
            raise ValueError(f"t_eval: times must lie in [0, t_end = {t_end}]")
    # one evaluation: catches shapes that symbolic unification cannot see (numeric dims)
    syms = states + list(params)
    fns = []
    for s in states:
        try:
            fn = compile_matrix(field[s], syms)
            with np.errstate(all="ignore"):
                val = fn(*[arrays[x] for x in syms])
        except (ValueError, TypeError) as err:
            shapes = ", ".join(f"{x} {arrays[x].shape}" for x in syms)
            raise ValueError(f"field[{s}]: cannot evaluate at the given shapes ({shapes}): {err}") from None
        if np.shape(val) != arrays[s].shape:
            raise ValueError(f"field[{s}]: has shape {np.shape(val)} but y0[{s}] has shape {arrays[s].shape}")
        fns.append(fn)
    return states, params, arrays, dims, t_end, times, syms, fns


# -- methods -------------------------------------------------------------------------------------

def _default_order(log2tol: float, mp: bool) -> int:
    # Jorba-Zou: cost per unit time ~ p^2 e^{L/p} is least at p = L/2 with L = ln(1/tol)
    return max(8, math.ceil(-log2tol * math.log(2) / 2) + 1)


# overflow of a blowing-up solution shows as a step that collapses (an IntegrationError naming
# the time), never as numpy's warnings: a NaN coefficient fails the acceptance test
@np.errstate(all="ignore")
def _run_taylor(states, params, arrays, dims, field, t_end, times, tol, max_steps, order, arith, progress=None):
    mp = current_dps() is not None
    user_prec = mpmath.mp.prec if mp else 53
    if tol is None:
        log2tol = -(user_prec + 3) if mp else math.log2(np.finfo(float).eps)
    else:
        tol = number(tol)
        if not (_finite(tol) and tol > 0):
            raise ValueError(f"tol: expected a positive number, got {tol}")
        log2tol = float(mpmath.log(tol, 2)) if mp else math.log2(tol)
    p = order or _default_order(log2tol, mp)
    if not isinstance(p, int) or p < 2:
        raise ValueError(f"order: expected an integer >= 2, got {order!r}")
    if arith is None:
        arith = ("flint" if _has_flint() else "fixed") if mp else "array"
    if arith not in ARITHS:
        raise ValueError(f"arith: expected one of {', '.join(ARITHS)}, got {arith!r}")
    if arith in ("fixed", "flint") and not mp:
        raise ValueError(f"arith: {arith!r} needs mpmath precision (workdps / dps=...)")
    prog = _Program([field[s] for s in states], states, params, dims)
    bits = user_prec + (_FLINT_GUARD_BITS if arith == "flint" else _GUARD_BITS)
    ctx = mpmath.workprec(bits) if mp else _nullctx()
    snaps: list = []
    with ctx, (_flint_prec(bits) if arith == "flint" else _nullctx()):
        ar = (_FixedArith(bits) if arith == "fixed" else _FlintArith(bits) if arith == "flint"
              else _ArrayArith(mp))
        shapes = [arrays[s].shape for s in states]
        ts = _Taylor(prog, ar, shapes, {s: arrays[s] for s in params}, p)
        num = (lambda x: mpmath.mpf(x)) if mp else float
        state = [ar.normalize(*ar.load(arrays[s])) for s in states]
        safety = math.exp(-0.7 / (p - 1))
        t, steps, ev = num(0), 0, 0
        while ev < len(times) and times[ev] <= t:
            snaps.append(state)
            ev += 1
        h0 = _first_guess(ts, state, t_end, num)
        while t < t_end:
            if steps >= max_steps:
                raise IntegrationError(f"max_steps={max_steps} reached at t={_fmt(t)} before t_end={_fmt(t_end)}")
            z = ts.coefficients(state, h0)
            if getattr(ar, "gamma", 0) > 0 and not ar.decay_ok(z, state, p):
                ar.gamma = 0.0   # the series decays slower than the precision assumed: redo in full
                z = ts.coefficients(state, h0)
            top = max(ar.log2max(x[0], e) for x, (_, e) in zip(z, state))
            log2eps = log2tol + (top if top > -math.inf else 0.0)
            log2s = math.inf
            for k in (p - 1, p):
                nk = max(ar.log2max(zv[k], e) for zv, (_, e) in zip(z, state))
                if nk > -math.inf:
                    log2s = min(log2s, (log2eps - nk) / k)
            s_star = 2.0 ** min(log2s, 10.0) * safety  # an all-zero tail: grow at most 2^10 at once
            if hasattr(ar, "learn"):
                n_p = max(ar.log2max(zv[p], e) for zv, (_, e) in zip(z, state))
                if n_p > -math.inf and top > -math.inf:
                    ar.learn((top - n_p) / p, math.log2(min(s_star, 1e3)))
            s = num(min(s_star, 1.0))
            last = t + s * h0 >= t_end
            if last:
                s = (t_end - t) / h0
            h = s * h0
            if not last and (h < _COLLAPSE * t_end or t + h == t):
                raise IntegrationError(f"step size collapsed to {_fmt(h)} at t={_fmt(t)} "
                                       "(singularity or blow-up of the solution?)")
            t_new = t_end if last else t + h
            sigmas = []
            while ev < len(times) and times[ev] < t_new:
                sigmas.append((times[ev] - t) / h0)
                ev += 1
            if sigmas:
                snaps.extend(_dense(ar, z, state, sigmas))
            state = [ar.normalize(ar.horner(zv, s), e) for zv, (_, e) in zip(z, state)]
            steps += 1
            t = t_new
            size = max(ar.log2max(x, e) for x, e in state)
            if not (size < _BLOWUP_LOG2):   # NaN compares False as well
                raise IntegrationError(f"state became non-finite (|y| > 2^{_BLOWUP_LOG2:.0f}) at t={_fmt(t)}")
            while ev < len(times) and times[ev] <= t:
                snaps.append(state)
                ev += 1
            h0 = h0 * num(min(s_star, 1e3))
            if progress is not None:
                progress(float(t), float(t_end))
    out = [{s: ar.store(x, e, user_prec) for s, (x, e) in zip(states, snap)} for snap in snaps]
    final = {s: ar.store(x, e, user_prec) for s, (x, e) in zip(states, state)}
    return out, final, steps


def _dense(ar, z, state, sigmas) -> list:
    """The states at the step's output points ``sigmas`` (in units of h0) from its series ``z``.
    In float64 all points are evaluated at once, each by the same Horner operations as
    ``ar.horner`` (elementwise, so the same roundings): one numpy call per order, not per point."""
    if type(ar) is not _ArrayArith or ar.mp or len(sigmas) == 1:
        return [[(ar.horner(zv, sg), e) for zv, (_, e) in zip(z, state)] for sg in sigmas]
    s = np.array(sigmas, dtype=float)
    per_var = []
    for zv in z:
        sv = s.reshape((-1,) + (1,) * zv[-1].ndim)
        acc = np.broadcast_to(zv[-1], (len(s),) + zv[-1].shape)
        for c in reversed(zv[:-1]):
            acc = acc * sv + c
        per_var.append(acc)
    return [[(per_var[v][i], e) for v, (_, e) in enumerate(state)] for i in range(len(s))]


def _first_guess(ts, state, t_end, num):
    """A characteristic time |y| / |dy/dt|, so the first step's series is neither wild nor tiny."""
    z = ts.coefficients(state, num(1), order=1)
    ar = ts.ar
    n0 = max(ar.log2max(x, e) for x, e in state)
    n1 = max(ar.log2max(zv[1], e) for zv, (_, e) in zip(z, state))
    if n1 == -math.inf or t_end == 0:
        return t_end if t_end > 0 else num(1)
    guess = num(2.0 ** max(min((n0 if n0 > -math.inf else 0.0) - n1, 60.0), -60.0))
    return min(t_end, guess)


def _has_flint() -> bool:
    try:
        import flint  # noqa: F401
    except ImportError:
        return False
    return True


class _flint_prec:
    """python-flint's global precision, set for the block."""

    def __init__(self, bits):
        self.bits = bits

    def __enter__(self):
        import flint
        self.old, flint.ctx.prec = flint.ctx.prec, self.bits
        return self

    def __exit__(self, *exc):
        import flint
        flint.ctx.prec = self.old
        return False


class _nullctx:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _fmt(t) -> str:
    # 12 digits: a time just short of a singularity must not print as the singularity
    return mpmath.nstr(t, 12) if isinstance(t, mpmath.mpf) else f"{float(t):.12g}"


def _run_rk4(states, params, arrays, fns, syms, t_end, times, h, max_steps, progress=None):
    h = number(h) if h is not None else t_end / 1000
    if not (_finite(h) and h > 0):
        raise ValueError(f"h: expected a positive step, got {h}")
    consts = [arrays[s] for s in params]
    half, sixth, two = number(sp.Rational(1, 2)), number(sp.Rational(1, 6)), number(2)
    y = [arrays[s] for s in states]

    def f(y):
        return [fn(*y, *consts) for fn in fns]

    t, steps, ev, out = number(0), 0, 0, []
    marks = sorted(set(times) | {t_end})
    with np.errstate(all="ignore"):
        for mark in marks:
            while ev < len(times) and times[ev] <= t:
                out.append(dict(zip(states, y)))
                ev += 1
            if mark <= t:
                continue
            n = int(mpmath.ceil((mark - t) / h)) if is_mp(y[0]) else math.ceil((mark - t) / h - 1e-12)
            dt = (mark - t) / max(n, 1)
            for _ in range(max(n, 1)):
                if steps >= max_steps:
                    raise IntegrationError(f"max_steps={max_steps} reached at t={_fmt(t)}")
                k1 = f(y)
                k2 = f([a + half * dt * b for a, b in zip(y, k1)])
                k3 = f([a + half * dt * b for a, b in zip(y, k2)])
                k4 = f([a + dt * b for a, b in zip(y, k3)])
                y = [a + sixth * dt * (b1 + two * b2 + two * b3 + b4)
                     for a, b1, b2, b3, b4 in zip(y, k1, k2, k3, k4)]
                t += dt
                steps += 1
                if not is_mp(y[0]) and not all(np.isfinite(a).all() for a in y):
                    raise IntegrationError(f"state became non-finite at t={_fmt(t)}")
                if progress is not None:
                    progress(float(t), float(t_end))
            t = mark
        while ev < len(times):
            out.append(dict(zip(states, y)))
            ev += 1
    return out, dict(zip(states, y)), steps


def _flat_rhs(states, params, arrays, dims, field, fns):
    """``rhs(t, v)`` on the flattened state for scipy: the Taylor compiler's program (sums
    factored, each subproduct formed once, constants folded) when the field is a matrix
    polynomial, else the per-state compiled expressions. The program costs about what a
    hand-written numpy right-hand side does; the expressions, expanded and evaluated state by
    state, 2-4x that on a linear network's flow."""
    shapes = [arrays[s].shape for s in states]
    bounds = np.cumsum([0] + [int(np.prod(sh)) for sh in shapes])
    cuts = [(int(a), int(b), sh) for a, b, sh in zip(bounds[:-1], bounds[1:], shapes)]
    try:
        prog = _Program([field[s] for s in states], states, params, dims)
    except ValueError:   # not a matrix polynomial: the general compiled expressions
        consts = [arrays[s] for s in params]

        def rhs(t, v):
            return np.concatenate([fn(*[v[a:b].reshape(sh) for a, b, sh in cuts], *consts).ravel()
                                   for fn in fns])
        return rhs
    nodes = prog.nodes
    folded = prog.evaluate(lambda nd: arrays[nd.data], _Float64Ops, lambda nd: nd.const)   # constants once
    consts = {f"c{i}": v for i, (nd, v) in enumerate(zip(nodes, folded)) if nd.const}
    name = {i: f"c{i}" if nd.const else f"n{i}" for i, nd in enumerate(nodes)}
    # straight-line code: a Python loop over the nodes would cost more than the products
    lines = ["def rhs(t, v):"]
    for i, nd in enumerate(nodes):
        if nd.const:
            continue
        a = [name[j] for j in nd.args]
        if nd.kind == "var":
            lo, hi, sh = cuts[nd.data]
            expr = f"v[{lo}:{hi}].reshape({tuple(int(x) for x in sh)})"
        elif nd.kind == "mul":
            expr = f"{a[0]} @ {a[1]}"
        elif nd.kind == "T":
            expr = f"{a[0]}.T"
        elif nd.kind == "add":
            expr = " + ".join(a)
        else:
            consts[f"k{i}"] = float(nd.data)
            expr = f"k{i} * {a[0]}"
        lines.append(f"    n{i} = {expr}")
    lines.append("    out = empty_like(v)")
    for k, (lo, hi, _) in enumerate(cuts):
        lines.append(f"    out[{lo}:{hi}] = {name[prog.outputs[k]]}.ravel()")
    lines.append("    return out")
    scope = {**consts, "empty_like": np.empty_like}
    exec("\n".join(lines), scope)
    return scope["rhs"]


def _run_dop853(states, params, arrays, dims, field, fns, t_end, times, tol, max_steps):
    from scipy.integrate import solve_ivp

    tol = 1e-12 if tol is None else float(tol)
    shapes = [arrays[s].shape for s in states]
    sizes = [int(np.prod(sh)) for sh in shapes]
    cuts = np.cumsum(sizes)[:-1]

    def split(v):
        return [a.reshape(sh) for a, sh in zip(np.split(v, cuts), shapes)]

    rhs = _flat_rhs(states, params, arrays, dims, field, fns)

    y0 = np.concatenate([arrays[s].ravel() for s in states])
    if t_end == 0:
        return [dict(zip(states, split(y0.copy()))) for _ in times], dict(zip(states, split(y0))), 0
    with np.errstate(all="ignore"):
        # the interpolant only where an output time falls inside the interval: it costs a
        # quarter of the run on a short horizon
        sol = solve_ivp(rhs, (0.0, float(t_end)), y0, method="DOP853", rtol=tol, atol=tol,
                        dense_output=any(0 < t < t_end for t in times))
    if sol.status != 0 or not np.isfinite(sol.y[:, -1]).all():
        raise IntegrationError(f"dop853 stopped at t={sol.t[-1]:.8g}: {sol.message}")
    steps = len(sol.t) - 1
    if steps > max_steps:
        raise IntegrationError(f"max_steps={max_steps} exceeded by dop853 ({steps} steps)")
    out = []
    for t in times:
        v = y0 if t == 0 else sol.y[:, -1] if t == t_end else sol.sol(float(t))
        out.append(dict(zip(states, split(np.array(v)))))
    return out, dict(zip(states, split(sol.y[:, -1].copy()))), steps


# -- entry point ---------------------------------------------------------------------------------

def solve(field, y0, t_end, *, params=None, method: str = "taylor", dps=_CURRENT, t_eval=None,
          observers=(), tol=None, max_steps: int = 100_000, order: int | None = None, h=None,
          arith: str | None = None, backend: str | None = None,
          progress: Callable[[float, float], None] | None = None) -> Solution:
    """Integrate ``dy/dt = field(y)`` from ``y(0) = y0`` to ``t_end``.

    ``field``: {MatrixSymbol: matrix polynomial}; ``y0``, ``params``: {MatrixSymbol: array}.
    ``dps``: digits (mpmath) or None (float64); default: the current :func:`workdps`.
    ``t_eval``: output times in [0, t_end] (default ``(0, t_end)``), hit exactly (Taylor: dense
    output of the step's series; rk4: steps end on them). ``observers``: callables ``state ->
    value`` (dict name -> callable, or a sequence), called at every output time on the state with
    ``params`` merged in. ``tol``: per-step tolerance (taylor: relative to the largest state entry,
    default one unit below the working precision; dop853: rtol = atol, default 1e-12).
    ``order``: Taylor order (default from tol). ``h``: rk4 step (default t_end / 1000).
    ``backend`` (taylor): where the Taylor coefficients are computed --
    ``"flint"`` (default at mp precision: ``arb_mat`` Cauchy products in C, per-order precision),
    ``"mpmath"`` (block fixed point in Python ints, no compiled dependency), ``"numpy"`` (float64
    arrays, the default without ``dps``) or ``"heyoka"`` (heyoka's LLVM-compiled Taylor integrator
    in its ``real`` type; optional extra ``flowcert[heyoka]``, one JIT build per call). All give
    the same interface and results to the working precision. ``arith`` is the older spelling:
    'flint', 'fixed' (= mpmath) or 'array' (float64 or plain mpf arrays). ``progress(t, t_end)``
    is called after each step (taylor, rk4) or at the end (dop853, heyoka), with floats.

    >>> A = sp.MatrixSymbol("A", 1, 1)
    >>> sol = solve({A: -A}, {A: [[1.0]]}, 1)
    >>> bool(abs(sol.final[A][0, 0] - math.exp(-1)) < 1e-15)
    True
    >>> sol = solve({A: -A}, {A: [[1]]}, 1, dps=30)
    >>> mpmath.nstr(sol.final[A][0, 0], 30)
    '0.367879441171442321595523770161'
    """
    if method not in METHODS:
        raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    if backend is not None:
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
        if method != "taylor":
            raise ValueError(f"backend: only the taylor method has backends, got method={method!r}")
        if arith is not None:
            raise ValueError("backend: give either backend or arith, not both")
        if backend != "heyoka":
            arith = {"flint": "flint", "mpmath": "fixed", "numpy": "array"}[backend]
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps: expected a positive integer, got {max_steps!r}")
    if dps == _CURRENT:
        dps = current_dps()
    with workdps(dps):
        if method == "dop853" and dps is not None:
            raise ValueError(f"method: 'dop853' runs in float64 only, got dps={dps} "
                             "(use 'taylor' or 'rk4' at mpmath precision)")
        obs = _observers(observers)
        states, params, arrays, dims, t_end, times, syms, fns = _prepare(field, y0, params, t_end, t_eval)
        if backend == "heyoka":
            from ._heyoka import run_heyoka
            out, final, steps = run_heyoka(states, params, arrays, dims, field, t_end, times, tol,
                                           max_steps, order)
        elif method == "taylor":
            out, final, steps = _run_taylor(states, params, arrays, dims, field, t_end, times,
                                            tol, max_steps, order, arith, progress)
        elif method == "rk4":
            out, final, steps = _run_rk4(states, params, arrays, fns, syms, t_end, times, h, max_steps, progress)
        else:
            out, final, steps = _run_dop853(states, params, arrays, dims, field, fns, t_end, times, tol,
                                             max_steps)
        if progress is not None and (method == "dop853" or backend == "heyoka"):
            progress(float(t_end), float(t_end))
        consts = {s: arrays[s] for s in params}
        records = {name: [f({**st, **consts}) for st in out] for name, f in obs.items()}
    if method == "taylor" and backend is None:
        backend = {"flint": "flint", "fixed": "mpmath", "array": "numpy"}.get(
            arith or (("flint" if _has_flint() else "fixed") if dps is not None else "array"))
    return Solution(times=tuple(times), states=tuple(out), final=final, steps=steps,
                    records=records, method=method, dps=dps, backend=backend)
