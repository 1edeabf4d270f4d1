"""numerics.compile_matrix against SymPy's own explicit evaluation of the same expression: integer
entries and dyadic coefficients keep every float64 and mpf result exact, so the two routes must
agree to the last bit in both backends (and through FLINT's product for large object arrays)."""
import zlib

import mpmath
import numpy as np
import pytest
import sympy as sp

from flowcert.numerics import asarray, compile_matrix, workdps
from flowcert.numerics._matexpr import FLINT_MIN_WORK

n = sp.Symbol("n", integer=True, positive=True)
A, B, C = sp.MatrixSymbol("A", 2, 3), sp.MatrixSymbol("B", 3, 2), sp.MatrixSymbol("C", 2, 2)
S = sp.MatrixSymbol("S", n, n)
SYMS = [A, B, C, S]
HALF = sp.Rational(1, 2)

EXPRS = [
    A, A.T, A * B, B * A, A * B + C, C - A * B, 3 * A * B, HALF * A * B * C, (A * B).T * C,
    C ** 3, sp.MatPow(C.T * C, 2), sp.KroneckerProduct(C, A), sp.KroneckerProduct(C, C, C.T),
    sp.Trace(C), sp.Trace(A * B) * sp.Trace(C), HALF * sp.Trace(C.T * C), sp.Trace(C) + sp.Trace(A * B),
    sp.Trace(A * B) - 2 * sp.Trace(C) * sp.Trace(C), C + sp.Identity(2), S + 2 * sp.Identity(n),
    S * S.T - sp.Identity(n), A * B + sp.ZeroMatrix(2, 2), sp.ZeroMatrix(n, n) + S,
    sp.Trace(C) * A * B, HALF * sp.Trace(C.T * C) * C, sp.Trace(C) ** 2 * sp.Trace(A * B) * C.T,
]


def _values(seed, size=3):
    rng = np.random.default_rng(seed)
    return {A: rng.integers(-4, 5, (2, 3)), B: rng.integers(-4, 5, (3, 2)), C: rng.integers(-4, 5, (2, 2)),
            S: rng.integers(-4, 5, (size, size))}


def _explicit(expr, vals):
    """SymPy's route: substitute explicit integer matrices (and n) and let SymPy evaluate."""
    size = vals[S].shape[0]
    # the matrices first: after n -> size, S would be another symbol (S of shape size x size)
    e = expr.xreplace({s: sp.ImmutableMatrix(vals[s].tolist()) for s in SYMS}).subs(n, size).doit()
    e = e.as_explicit() if hasattr(e, "as_explicit") else e
    return np.array(e.tolist(), dtype=object) if isinstance(e, sp.MatrixBase) else e


@pytest.mark.parametrize("expr", EXPRS, ids=str)
@pytest.mark.parametrize("dps", [None, 30])
def test_compiled_expression_equals_sympys_explicit_evaluation(expr, dps):
    vals = _values(zlib.crc32(str(expr).encode()))
    want = _explicit(expr, vals)
    f = compile_matrix(expr, SYMS)
    with workdps(dps):
        got = f(*[asarray(vals[s].astype(float)) for s in SYMS])
    if isinstance(want, np.ndarray):
        assert np.shape(got) == want.shape
        assert all(sp.Rational(str(g)) == w for g, w in zip(np.asarray(got).flat, want.flat))
        if dps is not None:
            assert all(isinstance(g, mpmath.mpf) for g in np.asarray(got).flat)
    else:
        assert sp.Rational(str(got)) == want


@pytest.mark.parametrize("k", [10, 30])
def test_large_object_products_go_through_flint_exactly(k):
    # k = 30: k^3 = 27000 multiply-adds, past FLINT_MIN_WORK; k = 10 stays in numpy
    assert (k ** 3 >= FLINT_MIN_WORK) == (k == 30)
    P, Q = sp.MatrixSymbol("P", k, k), sp.MatrixSymbol("Q", k, k)
    rng = np.random.default_rng(k)
    p, q = rng.integers(-10**6, 10**6, (k, k)), rng.integers(-10**6, 10**6, (k, k))
    want = np.array((sp.Matrix(p.tolist()) * sp.Matrix(q.tolist())).tolist(), dtype=object)
    with workdps(40):
        got = compile_matrix(P * Q, [P, Q])(asarray(p.astype(float)), asarray(q.astype(float)))
    assert got.shape == (k, k) and all(int(g) == w for g, w in zip(got.flat, want.flat))


def test_what_cannot_be_compiled_is_named():
    D = sp.MatrixSymbol("D", 2, 2)
    with pytest.raises(KeyError, match="no array bound to D"):
        compile_matrix(C + D, [C])
    with pytest.raises(TypeError, match="compile_matrix: unsupported node"):
        compile_matrix(sp.Inverse(C), [C])
    m = sp.Symbol("m", integer=True, positive=True)
    with pytest.raises(ValueError, match="dimension m is not the size of any bound matrix"):
        compile_matrix(sp.Identity(m) + sp.MatrixSymbol("T", m, m) * 0 + sp.MatrixSymbol("T", m, m), [C])


def test_zero_and_identity_blocks_in_both_backends():
    """A ZeroMatrix and an Identity as compiled leaves: float64 zeros and ones without a precision,
    mpf ones with one (an object array, never a float one mixed in)."""
    A = sp.MatrixSymbol("A", 2, 3)
    f = compile_matrix(sp.ZeroMatrix(2, 3), [A])
    g = compile_matrix(sp.Identity(2) + A * A.T, [A])
    a = np.arange(6.0).reshape(2, 3)
    z = f(a)
    assert z.dtype == float and z.shape == (2, 3) and not z.any()
    assert np.array_equal(g(a), np.eye(2) + a @ a.T)
    with workdps(30):
        am = asarray(a)
        z = f(am)
        assert z.dtype == object and z.shape == (2, 3) and all(isinstance(x, mpmath.mpf) and x == 0 for x in z.flat)
        assert all(isinstance(x, mpmath.mpf) for x in g(am).flat) and (g(am) == np.eye(2) + a @ a.T).all()

