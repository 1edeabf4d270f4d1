"""Spectral quantities and bound formulas evaluated at the working precision."""
from __future__ import annotations

import math
from typing import Mapping

import mpmath
import numpy as np
import sympy as sp

from ._matexpr import compile_matrix
from ._precision import asarray, current_dps, is_mp

_COMPILED: dict = {}
_LAMBDAS: dict = {}


#: above this order, high-precision eigenvalues come from FLINT (C) rather than mpmath (Python):
#: 200 x 200 at 113 bits takes ~4 s there and minutes in mpmath.eigsy
FLINT_MIN_ORDER = 9


def _to_arb(x):
    import flint
    sign, man, exp, _ = x._mpf_ if hasattr(x, "_mpf_") else mpmath.mpf(x)._mpf_
    man = -man if sign else man
    # exact: an mpf is man * 2^exp
    return flint.arb(flint.fmpq(man * 2**exp, 1) if exp >= 0 else flint.fmpq(man, 2 ** (-exp)))


def _from_arb(x):
    m, e = x.mid().man_exp()
    return mpmath.mpf((int(m), int(e)))


def _eig_flint(a) -> list:
    import flint
    old = flint.ctx.prec
    flint.ctx.prec = mpmath.mp.prec + 32  # guard bits: the result is rounded to mp.prec after
    try:
        M = flint.acb_mat([[_to_arb(x) for x in row] for row in a])
        ev = M.eig(algorithm="approx")
    finally:
        flint.ctx.prec = old
    return sorted((_from_arb(z.real) for z in ev), reverse=True)


def _has_flint() -> bool:
    try:
        import flint  # noqa: F401
    except ImportError:
        return False
    return True


def _matrix_arg(a, name: str, square: bool):
    """``a`` checked as a finite real 2-D matrix (an array of the current backend, or nested
    lists read into it): a NaN has no spectrum, and a 3-D stack is not one matrix."""
    if not isinstance(a, np.ndarray):
        try:
            a = asarray(a)
        except (TypeError, ValueError):
            raise TypeError(f"{name}: expected a real 2-D array, got {type(a).__name__}") from None
    if a.dtype.kind not in "fiub" and not (a.dtype == object and all(not isinstance(x, mpmath.mpc) for x in a.flat)):
        # complex (or text, or times) would be cast to real and silently lose the imaginary part
        raise TypeError(f"{name}: expected real entries, got dtype {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D matrix, got shape {a.shape}")
    if square and a.shape[0] != a.shape[1]:
        raise ValueError(f"{name}: expected a square matrix, got shape {a.shape}")
    finite = all(mpmath.isfinite(x) for x in a.flat) if is_mp(a) else bool(np.isfinite(a).all())
    if not finite:
        raise ValueError(f"{name}: expected finite entries (NaN or infinity found)")
    return a


def eigenvalues(a) -> list:
    """Eigenvalues of a symmetric matrix, decreasing, at the precision of ``a``'s backend.

    >>> [float(x) for x in eigenvalues([[2.0, 1.0], [1.0, 2.0]])]
    [3.0, 1.0]
    """
    a = _matrix_arg(a, "eigenvalues", square=True)
    if a.shape[0] == 0:
        return []
    if is_mp(a):
        if a.shape[0] == 1:
            return [a[0, 0]]
        a = (a + a.T) / 2
        if a.shape[0] >= FLINT_MIN_ORDER and _has_flint():
            return _eig_flint(a)
        ev = mpmath.mp.eigsy(mpmath.matrix(a.tolist()), eigvals_only=True)
        return sorted((ev[i] for i in range(a.shape[0])), reverse=True)
    return list(np.linalg.eigvalsh((a + a.T) / 2)[::-1])


def singular_values(a) -> list:
    """Singular values, decreasing (``min(rows, cols)`` of them)."""
    a = _matrix_arg(a, "singular_values", square=False)
    if 0 in a.shape:
        return []
    if is_mp(a):
        s = mpmath.mp.svd_r(mpmath.matrix(a.tolist()), compute_uv=False)
        return sorted((s[i] for i in range(min(a.shape))), reverse=True)
    return list(np.linalg.svd(a, compute_uv=False))


def frobenius(a):
    if is_mp(a):
        return mpmath.sqrt(mpmath.fsum(x * x for x in a.ravel()))
    return float(np.linalg.norm(a))


def _inf(sign):
    return sign * (mpmath.inf if current_dps() is not None else math.inf)


class Evaluator:
    """Spectral quantities of one set of matrices, each spectrum computed once.

    ``values`` maps the MatrixSymbols of a network (weights, and the target where a bound needs
    it) to arrays; they are read in the backend of the current precision (``workdps``).
    """

    def __init__(self, values: Mapping[sp.MatrixSymbol, object]):
        self.symbols = tuple(values)
        self.arrays = tuple(asarray(values[s]) for s in self.symbols)
        self._spectra: dict = {}

    def matrix(self, expr):
        key = (expr, self.symbols)
        f = _COMPILED.get(key)
        if f is None:
            f = _COMPILED[key] = compile_matrix(expr, self.symbols)
        return f(*self.arrays)

    def spectrum(self, kind: str, expr):
        key = (kind, expr)
        if key not in self._spectra:
            a = self.matrix(expr)
            self._spectra[key] = {"eig": eigenvalues, "sv": singular_values, "fro": frobenius}[kind](a)
        return self._spectra[key]

    def quantity(self, q):
        """A :class:`flowcert.theory.Spectral` with a concrete index, with the paper's conventions:
        ``lambda_j = +inf`` for ``j <= 0``, ``-inf`` past the order; ``sigma_k = 0`` past min."""
        spec = self.spectrum(q.kind, q.matrix)
        if q.kind == "fro":
            return spec
        k = int(q.index)
        if q.kind == "eig":
            if k <= 0:
                return _inf(+1)
            return spec[k - 1] if k <= len(spec) else _inf(-1)
        return spec[k - 1] if 1 <= k <= len(spec) else spec[0] * 0

    def dims(self, network) -> dict:
        shapes = {s: a.shape for s, a in zip(self.symbols, self.arrays)}
        dims = {}
        for l, w in enumerate(network.weights):
            if w not in shapes:
                raise ValueError(f"weights: no array given for {w}")
            r, c = shapes[w]
            for d, v in ((network.dims[l], r), (network.dims[l + 1], c)):
                if dims.setdefault(d, v) != v:
                    raise ValueError(
                        f"weights: {w} has shape {shapes[w]} but the layers around it need "
                        f"{d} = {dims[d]} (shapes must chain W1: n x h1, W2: h1 x h2, ...)")
        t = network.target
        if t in shapes and shapes[t] != (dims[network.n], dims[network.m]):
            raise ValueError(f"target: expected shape {(dims[network.n], dims[network.m])}, "
                             f"got {shapes[t]}")
        return dims

    def bound(self, bound, constants: Mapping | None = None):
        """Value of a :class:`flowcert.theory.Bound` at these matrices."""
        dims = self.dims(bound.network)
        mp = current_dps() is not None
        if bound.spectral is not None:
            return self._from_spectra(bound, dims, constants, mp)
        key = (bound.name, bound.network.depth, tuple(sorted((str(k), v) for k, v in dims.items())), mp)
        hit = _LAMBDAS.get(key)
        if hit is None:
            expr, qs = bound.instantiate(dims)
            consts = dict(bound.constants)
            consts.update(constants or {})
            expr = expr.xreplace({k: sp.sympify(v) for k, v in consts.items()})  # subs is slow on big sums
            syms = list(qs)
            # docstring_limit=0: printing a 10^4-node expression into the docstring costs seconds
            try:
                fn = sp.lambdify(syms, expr, modules="mpmath" if mp else "math", docstring_limit=0)
            except RecursionError:   # wide layers: lambdify's nested source is too deep to compile
                fn = straight_line(expr, syms, mp)
            hit = _LAMBDAS[key] = (fn, [qs[s] for s in syms])
        fn, qs = hit
        return fn(*[self.quantity(q) for q in qs])

    def _from_spectra(self, bound, dims, constants, mp: bool):
        """A bound given over whole spectra: its few symbols' values straight from the spectra,
        then its formula compiled once per bound (not per widths)."""
        from flowcert.theory import Ops
        ops = Ops(max, min, mpmath.fsum if mp else math.fsum)
        vals = bound.spectral(dims, self.spectrum, ops)
        key = (bound.name, "spectral", tuple(sorted((str(k), v) for k, v in (constants or {}).items())), mp)
        fn = _LAMBDAS.get(key)
        if fn is None:
            consts = {**bound.constants, **(constants or {})}
            expr = bound.expr.xreplace({k: sp.sympify(v) for k, v in consts.items()})
            fn = _LAMBDAS[key] = sp.lambdify(list(vals), expr, modules="mpmath" if mp else "math")
        return fn(*vals.values())


def straight_line(expr, symbols, mp: bool):
    """``f(*numbers)`` evaluating the scalar SymPy ``expr`` (Add, Mul, Pow, Max, Min, Abs, numbers)
    as straight-line code, one assignment per distinct node and sums as flat lists, so its depth
    does not grow with the expression (``lambdify``'s single nested expression fails to compile
    from ~10^4 nodes). ``mp``: mpmath numbers at the working precision, else floats.

    >>> x, y = sp.symbols("x y")
    >>> straight_line(sp.Max(x, y) + x * y ** 2 / 3, [x, y], False)(2.0, 3.0)
    9.0
    """
    names = {s: f"a{i}" for i, s in enumerate(symbols)}
    lines: list[str] = []
    memo: dict = {}
    consts: dict = {}

    def const(v):
        if v not in consts:
            consts[v] = f"c{len(consts)}"
        return consts[v]

    def go(e):
        if e in names:
            return names[e]
        if e in memo:
            return memo[e]
        if e.is_Number:
            r = const(e)
        elif isinstance(e, sp.Add):
            r = f"_sum([{', '.join(go(a) for a in e.args)}])"
        elif isinstance(e, sp.Mul):
            r = f"_prod([{', '.join(go(a) for a in e.args)}])"
        elif isinstance(e, sp.Pow):
            if e.exp.is_Integer:
                r = f"{go(e.base)} ** {int(e.exp)}"
            elif e.exp == sp.Rational(1, 2):
                r = f"_sqrt({go(e.base)})"
            else:
                r = f"{go(e.base)} ** {const(e.exp)}"
        elif isinstance(e, (sp.Max, sp.Min)):
            r = f"{'max' if isinstance(e, sp.Max) else 'min'}([{', '.join(go(a) for a in e.args)}])"
        elif isinstance(e, sp.Abs):
            r = f"abs({go(e.args[0])})"
        else:
            raise ValueError(f"straight_line: unsupported node {type(e).__name__} in {e}")
        t = f"t{len(memo)}"
        lines.append(f"    {t} = {r}")
        memo[e] = t
        return t

    out = go(sp.sympify(expr))
    src = f"def _f({', '.join(names[s] for s in symbols)}):\n" + "\n".join(lines) + f"\n    return {out}\n"
    code = compile(src, "<bound>", "exec")

    def _sum(xs):
        acc = xs[0]
        for x in xs[1:]:
            acc = acc + x
        return acc

    def _prod(xs):
        acc = xs[0]
        for x in xs[1:]:
            acc = acc * x
        return acc

    cache: dict = {}

    def fn(*args):
        key = mpmath.mp.prec if mp else None
        if key not in cache:   # constants at the precision of the call
            env = {"_sum": _sum, "_prod": _prod, "_sqrt": mpmath.sqrt if mp else math.sqrt}
            for v, name in consts.items():
                env[name] = (mpmath.mpf(int(v.p)) / int(v.q)) if mp else float(v)
            exec(code, env)
            cache[key] = env["_f"]
        if mp:   # floats exactly to mpf, so that no sum runs in float64
            args = [a if isinstance(a, mpmath.mpf) else mpmath.mpf(a) for a in args]
        return cache[key](*args)

    return fn


def evaluate(bound, values: Mapping, constants: Mapping | None = None):
    """One bound at one set of matrices (see :class:`Evaluator` to share spectra)."""
    return Evaluator(values).bound(bound, constants)
