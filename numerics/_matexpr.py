"""Compile a SymPy matrix expression into a function of arrays, for any backend.

The tree is walked once; the closure works on float64 arrays and on object arrays of ``mpf``
alike (``@``, ``.T``, ``+`` are the only operations it needs), so one symbolic source serves every
precision.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import sympy as sp

from ._precision import scalar


#: object-array products with more multiply-adds than this go through FLINT's arb_mat (C)
FLINT_MIN_WORK = 20_000


def _matmul(a, b):
    if a.dtype == object and a.shape[0] * a.shape[1] * b.shape[1] >= FLINT_MIN_WORK:
        try:
            import flint
        except ImportError:
            return a @ b
        from ._spectral import _from_arb, _to_arb
        import mpmath
        old = flint.ctx.prec
        flint.ctx.prec = mpmath.mp.prec + 32  # guard bits, rounded back to mp.prec below
        try:
            A = flint.arb_mat([[_to_arb(x) for x in row] for row in a])
            B = flint.arb_mat([[_to_arb(x) for x in row] for row in b])
            C = A * B
            out = np.empty((a.shape[0], b.shape[1]), dtype=object)
            for i in range(out.shape[0]):
                for j in range(out.shape[1]):
                    out[i, j] = +_from_arb(C[i, j])
        finally:
            flint.ctx.prec = old
        return out
    return a @ b


def _kron(a, b):
    if a.dtype == object or b.dtype == object:
        return np.block([[a[i, j] * b for j in range(a.shape[1])] for i in range(a.shape[0])])
    return np.kron(a, b)


def _eye(k, like):
    e = np.eye(k)
    return e.astype(object) * scalar(1) if like is not None and like.dtype == object else e


def compile_matrix(expr, symbols: Sequence[sp.MatrixSymbol]) -> Callable:
    """``f(*arrays)`` evaluating ``expr`` (a matrix expression or a Trace) at the arrays bound to
    ``symbols`` in order. Shapes must already be concrete in the arrays; symbolic dimensions in
    ``expr`` are read from them.

    >>> import sympy as sp, numpy as np
    >>> A = sp.MatrixSymbol("A", 2, 2)
    >>> f = compile_matrix(A.T * A / 2, [A])
    >>> f(np.array([[1.0, 2.0], [0.0, 1.0]]))
    array([[0.5, 1. ],
           [1. , 2.5]])
    """
    index = {s: i for i, s in enumerate(symbols)}

    def build(e):
        if isinstance(e, sp.MatrixSymbol):
            if e not in index:
                raise KeyError(f"no array bound to {e}")
            i = index[e]
            return lambda args: args[i]
        if isinstance(e, sp.Transpose):
            f = build(e.arg)
            return lambda args: f(args).T
        if isinstance(e, sp.MatAdd):
            fs = [build(a) for a in e.args]

            def add(args):
                out = fs[0](args)
                for f in fs[1:]:
                    out = out + f(args)
                return out
            return add
        if isinstance(e, sp.MatMul):
            # a scalar factor is a number or holds a trace (tr(A^T A) A): the latter is evaluated
            coeff = sp.Mul(*[a for a in e.args if not (a.is_Matrix or a.has(sp.Trace))])
            ts = [build(a) for a in e.args if not a.is_Matrix and a.has(sp.Trace)]
            fs = [build(a) for a in e.args if a.is_Matrix]

            def mul(args):
                out = fs[0](args)
                for f in fs[1:]:
                    out = _matmul(out, f(args))
                for t in ts:
                    out = t(args) * out
                return out if coeff == 1 else scalar(coeff) * out
            return mul
        if isinstance(e, sp.MatPow) and e.exp.is_Integer and e.exp > 0:
            f, k = build(e.base), int(e.exp)

            def power(args):
                base = out = f(args)
                for _ in range(k - 1):
                    out = out @ base
                return out
            return power
        if isinstance(e, sp.KroneckerProduct):
            fs = [build(a) for a in e.args]

            def kron(args):
                out = fs[0](args)
                for f in fs[1:]:
                    out = _kron(out, f(args))
                return out
            return kron
        if isinstance(e, sp.Trace):
            f = build(e.arg)
            return lambda args: np.trace(f(args))
        if isinstance(e, sp.Identity):
            k = _dim(e.rows, symbols)
            return lambda args: _eye(k(args), args[0] if args else None)
        if isinstance(e, sp.ZeroMatrix):
            r, c = _dim(e.rows, symbols), _dim(e.cols, symbols)
            return lambda args: np.zeros((r(args), c(args))) * (scalar(0) if args[0].dtype == object else 1)
        if isinstance(e, sp.Mul) and any(a.is_Matrix or a.has(sp.Trace) for a in e.args):
            coeff = sp.Mul(*[a for a in e.args if not (a.is_Matrix or a.has(sp.Trace))])
            fs = [build(a) for a in e.args if a.is_Matrix or a.has(sp.Trace)]

            def smul(args):
                out = scalar(coeff)
                for f in fs:
                    out = out * f(args)
                return out
            return smul
        if isinstance(e, sp.Add) and any(a.has(sp.Trace) for a in e.args):
            fs = [build(a) for a in e.args]
            return lambda args: sum(f(args) for f in fs)
        if isinstance(e, sp.Pow) and e.base.has(sp.Trace) and e.exp.is_Integer and e.exp > 0:
            f, k = build(e.base), int(e.exp)   # e.g. a squared trace in a loss
            return lambda args: f(args) ** k
        raise TypeError(f"compile_matrix: unsupported node {type(e).__name__}: {e}")

    return_fn = build(expr)
    return lambda *arrays: return_fn(arrays)


def _dim(d, symbols):
    """A function reading a (possibly symbolic) dimension off the bound arrays."""
    if isinstance(d, (int, sp.Integer)):
        k = int(d)
        return lambda args: k
    for i, s in enumerate(symbols):
        if s.rows == d:
            return lambda args, i=i: args[i].shape[0]
        if s.cols == d:
            return lambda args, i=i: args[i].shape[1]
    raise ValueError(f"dimension {d} is not the size of any bound matrix")
