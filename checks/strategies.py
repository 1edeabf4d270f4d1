"""Hypothesis strategies for weights of linear networks: public, for a researcher's own tests.

Inputs are *constructed*, never filtered: balanced and unimodal weights are built from orthogonal
factors and sorted spectra, so no health check trips and every draw is valid. Elements are bounded
and never subnormal. Schemes are the usual initialisations: the variance of layer ``W_l`` (``h_{l-1} x h_l``)
is 1 (``ntk``), ``1/h_{l-1}`` (``fan_in``) or ``1/h_l`` (``fan_out``); entries are drawn as bounded
floats with that scale (a Gaussian cannot be shrunk; a bounded uniform-like draw can).

>>> from hypothesis import given
>>> @given(chains(depth=3, max_width=3))
... def test(ws): assert ws[0].shape[1] == ws[1].shape[0]
>>> test()
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = ["balanced", "chains", "entries", "orthonormal", "scalar_chains", "scheme_scale", "targets",
           "three_layer_collapse", "unimodal", "widths"]

_ELEM = dict(allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)


def entries(shape, scale: float = 1.0, bound: float = 2.0):
    """An array of the given shape with entries in ``[-bound, bound] * scale``."""
    el = st.floats(-bound, bound, **_ELEM)
    return hnp.arrays(np.float64, shape, elements=el, fill=el).map(lambda a: a * scale)


@st.composite
def widths(draw, depth: int | None = None, max_width: int = 3, min_depth: int = 2, max_depth: int = 4,
           n: int | None = None, m: int | None = None):
    """``(h_0, ..., h_L)`` with hidden widths ``>= min(n, m)`` (the paper's width condition)."""
    L = depth if depth is not None else draw(st.integers(min_depth, max_depth))
    n = n if n is not None else draw(st.integers(1, max_width))
    m = m if m is not None else draw(st.integers(1, max_width))
    hidden = [draw(st.integers(min(n, m), max(max_width, min(n, m)))) for _ in range(L - 1)]
    return (n, *hidden, m)


def scheme_scale(scheme: str, rows: int, cols: int) -> float:
    return {"gaussian": 1.0, "ntk": 1.0, "fan_in": rows ** -0.5, "fan_out": cols ** -0.5}[scheme]


@st.composite
def chains(draw, depth: int | None = None, max_width: int = 3, scheme: str | None = None,
           shape: tuple | None = None, **kw):
    """Weights ``[W_1, ..., W_L]`` that chain, under a (drawn) initialisation scheme."""
    ws = shape if shape is not None else draw(widths(depth=depth, max_width=max_width, **kw))
    sch = scheme or draw(st.sampled_from(["gaussian", "fan_in", "fan_out", "ntk"]))
    return [draw(entries((r, c), scheme_scale(sch, r, c))) for r, c in zip(ws[:-1], ws[1:])]


@st.composite
def orthonormal(draw, rows: int, cols: int):
    """A ``rows x cols`` matrix with orthonormal columns (QR of a drawn, well-conditioned matrix)."""
    a = draw(entries((rows, cols), bound=1.0)) + np.eye(rows, cols) * 3.0
    q, r = np.linalg.qr(a)
    return q * np.sign(np.diag(r))


@st.composite
def balanced(draw, depth: int | None = None, max_width: int = 3, square: bool = False):
    """Balanced weights (all ``D_l = 0``): ``W_l = Q_{l-1} S^{1/L}... `` built as
    ``W_l = Q_{l-1} S Q_l^T`` with ``Q_l`` orthonormal ``h_l x r`` and one positive diagonal S."""
    L = depth if depth is not None else draw(st.integers(2, 4))
    if square:
        d = draw(st.integers(1, max_width))
        ws = (d,) * (L + 1)
    else:
        ws = draw(widths(depth=L, max_width=max_width))
    r = min(ws)
    s = np.diag(draw(st.lists(st.floats(0.3, 1.5, **_ELEM), min_size=r, max_size=r)))
    qs = [draw(orthonormal(h, r)) for h in ws]
    return [qs[l] @ s @ qs[l + 1].T for l in range(L)]


@st.composite
def unimodal(draw, depth: int | None = None, max_width: int = 3, lstar: int | None = None,
             homogeneous: bool = False):
    """Square weights ``W_l = Q_{l-1} S_l Q_l^T`` whose imbalances ``D_l = Q_l (S_l^2 - S_{l+1}^2)
    Q_l^T`` are PSD before ``lstar`` and NSD from it on (Definition 3). ``homogeneous=True`` makes
    ``D_l = d_l I``. Returns ``(weights, lstar)``."""
    L = depth if depth is not None else draw(st.integers(2, 4))
    k = lstar if lstar is not None else draw(st.integers(1, L))
    d = draw(st.integers(1, max_width))
    gap = st.floats(0.05, 1.0, **_ELEM)
    base = np.array(draw(st.lists(st.floats(0.2, 1.0, **_ELEM), min_size=d, max_size=d)))
    # squared singular values climb away from layer k in both directions
    sq = {k: base**2}
    for l in range(k - 1, 0, -1):
        step = np.full(d, draw(gap)) if homogeneous else np.array(draw(st.lists(gap, min_size=d, max_size=d)))
        sq[l] = sq[l + 1] + step
    for l in range(k + 1, L + 1):
        step = np.full(d, draw(gap)) if homogeneous else np.array(draw(st.lists(gap, min_size=d, max_size=d)))
        sq[l] = sq[l - 1] + step
    qs = [draw(orthonormal(d, d)) for _ in range(L + 1)]
    return [qs[l - 1] @ np.diag(np.sqrt(sq[l])) @ qs[l].T for l in range(1, L + 1)], k


@st.composite
def scalar_chains(draw, depth: int | None = None, bound: float = 2.0):
    """Scalar networks ``(w_1, ..., w_L)`` as 1x1 matrices, entries away from 0."""
    L = depth if depth is not None else draw(st.integers(2, 5))
    mag = st.floats(0.1, bound, **_ELEM)
    vals = [draw(mag) * draw(st.sampled_from([-1.0, 1.0])) for _ in range(L)]
    return [np.array([[v]]) for v in vals]


@st.composite
def three_layer_collapse(draw, max_width: int = 3):
    """Realisable three-layer weights with ``D21 <= 0`` and ``D23 <= 0`` (App. H, l* = 2):
    ``W2 = W1^T C W3^T`` with ``||C||`` small enough that both imbalances are NSD."""
    n, m = draw(st.integers(1, max_width)), draw(st.integers(1, max_width))
    h1, h2 = draw(st.integers(max(n, m), max_width + 1)), draw(st.integers(max(n, m), max_width + 1))
    W1 = draw(entries((n, h1), bound=1.0)) + np.eye(n, h1)
    W3 = draw(entries((h2, m), bound=1.0)) + np.eye(h2, m)
    C = draw(entries((n, m), bound=1.0))
    # ||W1^T C W3^T|| <= 1 relative to both sides makes W2 W2^T <= W1^T W1 and W2^T W2 <= W3 W3^T
    c_scale = 0.9 / max(1e-12, np.linalg.norm(C, 2) * max(np.linalg.norm(W1, 2), np.linalg.norm(W3, 2)))
    C = C * min(1.0, c_scale)
    return [W1, W1.T @ C @ W3.T, W3]


def targets(n: int, m: int, bound: float = 3.0):
    return entries((n, m), bound=bound)
