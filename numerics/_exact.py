"""Exact rational building blocks: unit vectors, orthogonal matrices, rank-one chains.

Everything here is exact (``fractions.Fraction`` in object arrays) until :func:`to_backend` rounds
it once, at the working precision of :func:`~flowcert.numerics.workdps` (or to float64). So an invariant
set that is a linear condition on exact data (``x in span(...)``) holds exactly before rounding,
and the only departure from it is the one rounding — whose size the caller knows.

- :func:`rational_unit`: inverse stereographic projection ``x -> (2x, |x|^2 - 1) / (|x|^2 + 1)``
  of a rational point is a rational point of the unit sphere.
- :func:`rational_orthogonal`: a product of Householder reflections ``I - 2 w w^T / w^T w`` with
  integer ``w`` is an exactly orthogonal rational matrix.
- :func:`rank_one_chain`: ``W_j = a q_j q_{j-1}^T`` (layer j maps ``q_{j-1}`` to ``q_j``).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import numpy as np

from ._precision import current_dps, to_mpf


def _frac(x) -> Fraction:
    if isinstance(x, Fraction):
        return x
    if isinstance(x, (int, np.integer)):
        return Fraction(int(x))
    if isinstance(x, (float, np.floating)):
        return Fraction(float(x))          # a binary float is a dyadic rational: exact
    return Fraction(x)                     # SymPy's Rational is a numbers.Rational: exact too


def exact(a) -> np.ndarray:
    """An object array of ``Fraction`` (floats read exactly, strings parsed as decimals)."""
    arr = np.asarray(a, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        out[idx] = _frac(arr[idx])
    return out


def rational_unit(n: int, rng: np.random.Generator, bound: int = 4) -> np.ndarray:
    """A random exact unit vector of length ``n`` with no zero coordinate: the stereographic image
    of a rational point with nonzero numerators in ``[-bound, bound]`` over a denominator in
    ``[1, bound]``.

    >>> v = rational_unit(3, np.random.default_rng(0))
    >>> sum(x * x for x in v)
    Fraction(1, 1)
    """
    if n < 1:
        raise ValueError(f"n: expected a length >= 1, got {n}")
    # for n = 2 the points +-1/1 all land on the equator (last coordinate 0): no draw would do
    if isinstance(bound, bool) or not isinstance(bound, (int, np.integer)) or bound < (2 if n == 2 else 1):
        raise ValueError(f"bound: expected an integer >= {2 if n == 2 else 1} for n = {n}, got {bound!r}")
    if n == 1:
        return exact([1 if rng.integers(2) else -1])
    while True:   # generic: no exact zero coordinate (a zero could put a start in an invariant set)
        den = int(rng.integers(1, bound + 1))
        x = [Fraction(int(rng.integers(1, bound + 1)) * (1 if rng.integers(2) else -1), den)
             for _ in range(n - 1)]
        v = stereographic(x)
        if all(c != 0 for c in v):
            return v


def stereographic(x: Sequence) -> np.ndarray:
    """``(2 x, |x|^2 - 1) / (|x|^2 + 1)``: rational in, rational unit vector out."""
    x = [_frac(v) for v in x]
    r2 = sum(v * v for v in x)
    return exact([2 * v / (r2 + 1) for v in x] + [(r2 - 1) / (r2 + 1)])


def householder(w: Sequence) -> np.ndarray:
    """``I - 2 w w^T / (w^T w)``, exactly (``w`` nonzero, rational)."""
    w = exact(w)
    ww = sum(v * v for v in w)
    if ww == 0:
        raise ValueError("w: expected a nonzero vector")
    n = len(w)
    out = np.empty((n, n), dtype=object)
    for i in range(n):
        for j in range(n):
            out[i, j] = (1 if i == j else 0) - 2 * w[i] * w[j] / ww
    return out


def rational_orthogonal(n: int, rng: np.random.Generator, bound: int = 3) -> np.ndarray:
    """A random exactly orthogonal ``n x n`` rational matrix: ``n`` Householder reflections with
    integer vectors in ``[-bound, bound]^n`` (a zero draw is redrawn).

    >>> Q = rational_orthogonal(3, np.random.default_rng(1))
    >>> bool((Q.T @ Q == np.eye(3, dtype=int)).all())
    True
    """
    Q = exact(np.eye(n, dtype=int))
    for _ in range(n):
        Q = Q @ householder(_integer_vector(n, rng, bound))
    return Q


def _integer_vector(n: int, rng: np.random.Generator, bound: int) -> list[int]:
    """``n`` integers drawn uniformly from ``[-bound, bound]``, drawn again while all are zero."""
    while True:
        w = [int(v) for v in rng.integers(-bound, bound + 1, size=n)]
        if any(w):
            return w


def rank_one_chain(scale, dirs: Sequence) -> list[np.ndarray]:
    """``[scale * q_j q_{j-1}^T for j = 1..N]`` from ``dirs = [q_0, ..., q_N]``: a balanced tuple
    (``W_{j+1}^T W_{j+1} = W_j W_j^T = scale^2 q_j q_j^T``) whose product is ``scale^N q_N q_0^T``."""
    if len(dirs) < 2:
        raise ValueError(f"dirs: expected at least 2 vectors q_0..q_N, got {len(dirs)}")
    vs = [np.asarray(q, dtype=object if np.asarray(q).dtype == object else float).reshape(-1) for q in dirs]
    return [scale * np.outer(vs[j + 1], vs[j]) for j in range(len(vs) - 1)]


def to_backend(a) -> np.ndarray:
    """Round exact (or float) data once: float64, or ``mpf`` at the current :func:`workdps`."""
    arr = np.asarray(a, dtype=object)
    if current_dps() is None:
        out = np.empty(arr.shape, dtype=float)
        for idx in np.ndindex(arr.shape):
            out[idx] = float(arr[idx])     # Fraction, mpf, int: each rounded once to nearest
        return out
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        out[idx] = to_mpf(arr[idx])
    return out


def rank_one_factors(weights: Sequence) -> tuple[list[float], list[np.ndarray]]:
    """Read ``W_j = a_j q_j q_{j-1}^T`` back from float64 layers of rank <= 1 (layer j maps
    ``q_{j-1}`` to ``q_j``). Returns the scales ``a_j`` (largest singular values) and unit vectors
    ``q_0..q_N``, with signs chosen so that consecutive layers share their vector. The caller
    judges the fit (e.g. ``||W_j - a_j q_j q_{j-1}^T||``)."""
    ws = [np.asarray(w, dtype=float) for w in weights]
    scales, dirs = [], []
    for j, w in enumerate(ws):
        U, S, Vt = np.linalg.svd(w)
        u, v = U[:, 0], Vt[0]
        if j == 0:
            dirs.append(v)
        elif float(v @ dirs[-1]) < 0:   # the shared vector keeps the previous layer's sign
            u = -u
        scales.append(float(S[0]))
        dirs.append(u)
    return scales, dirs
