"""Piecewise polynomials on a common mesh, integrated in closed form (no quadrature).

A univariate network ``f(x) = c + sum_j a_j p((x - u_j)/w)`` with a piecewise-polynomial template
``p`` (constant outside its breakpoints), compared with a step function, is a polynomial between
the points ``u_j + w b`` (b a template breakpoint) and the steps. On the union of those points every
integral of products of such functions is a sum of polynomial integrals, done here exactly in the
array's arithmetic: float64, or object arrays of ``fractions.Fraction`` (exact) or mpmath numbers.
:class:`UnitNetwork` runs an exact call in FLINT's ``fmpq`` (the same rationals, arithmetic in C,
about 10x cheaper than ``Fraction``) and hands ``Fraction`` back.

Coefficients are stored in the *local* variable ``s = x - x_k`` of each piece ``[x_k, x_{k+1}]``,
so a piece of width ``h`` only ever sees powers ``s <= h``: no cancellation from large offsets.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from fractions import Fraction
from math import comb

import numpy as np

__all__ = ["PiecewisePoly", "Template", "UnitNetwork", "cell_projection", "mesh", "step_function"]


def _is_exact(v) -> bool:
    if isinstance(v, Fraction):
        return True
    if isinstance(v, np.ndarray):
        return v.dtype == object and any(isinstance(x, Fraction) for x in v.ravel().tolist())
    return isinstance(v, (list, tuple)) and any(_is_exact(x) for x in v)


def _fast(v):
    """``Fraction`` values (scalars, lists, object arrays, templates) as ``flint.fmpq``."""
    if isinstance(v, Fraction):
        from flint import fmpq
        return fmpq(v.numerator, v.denominator)
    if isinstance(v, np.ndarray) and v.dtype == object:
        out = np.empty(v.size, dtype=object)
        out[:] = [_fast(x) for x in v.ravel().tolist()]
        return out.reshape(v.shape)
    if isinstance(v, (list, tuple)):
        return type(v)(_fast(x) for x in v)
    if isinstance(v, Template):
        return Template(_fast(v.breaks), _fast(v.coef))
    return v


def _fraction(v):
    """The inverse of :func:`_fast`: ``fmpq`` results back as ``Fraction``."""
    if type(v).__name__ == "fmpq":
        return Fraction(int(v.p), int(v.q))
    if isinstance(v, np.ndarray) and v.dtype == object:
        out = np.empty(v.size, dtype=object)
        out[:] = [_fraction(x) for x in v.ravel().tolist()]
        return out.reshape(v.shape)
    if isinstance(v, tuple):
        return tuple(_fraction(x) for x in v)
    if isinstance(v, PiecewisePoly):
        return PiecewisePoly(_fraction(v.breaks), _fraction(v.coef))
    return v


def _in_fmpq(method):
    """Run a call with ``Fraction`` inputs (or network) in ``fmpq``; float calls pass through."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        if not (_is_exact(list(args)) or _is_exact(list(kwargs.values()))):
            return method(self, *args, **kwargs)
        twin = replace(self, template=_fast(self.template), width=_fast(self.width))
        return _fraction(method(twin, *_fast(args), **{k: _fast(v) for k, v in kwargs.items()}))
    return call


def _arr(v):
    a = np.asarray(v)
    return a if a.dtype == object else a.astype(float)


def mesh(points, lo, hi):
    """The sorted distinct points of ``points`` inside ``(lo, hi)``, with ``lo`` and ``hi``."""
    p = _arr(points).ravel()
    p = p[(p > lo) & (p < hi)]
    out = np.concatenate([_arr([lo]), p, _arr([hi])])
    return np.array(sorted(set(out.tolist())), dtype=out.dtype) if out.dtype == object else np.unique(out)


@dataclass(frozen=True)
class PiecewisePoly:
    """Polynomials on the pieces of ``breaks`` (K + 1 points); ``coef[..., k, i]`` is the
    coefficient of ``(x - breaks[k])**i``. Leading axes index several functions at once."""

    breaks: np.ndarray
    coef: np.ndarray

    @property
    def widths(self):
        return self.breaks[1:] - self.breaks[:-1]

    def _same_mesh(self, other):
        if self.breaks is not other.breaks and (len(self.breaks) != len(other.breaks)
                                                or np.any(self.breaks != other.breaks)):
            raise ValueError("other: expected a piecewise polynomial on the same mesh")

    def _pad(self, d):
        c = self.coef
        if c.shape[-1] >= d:
            return c
        z = np.zeros(c.shape[:-1] + (d - c.shape[-1],), dtype=c.dtype)
        if c.dtype == object:
            z[...] = 0
        return np.concatenate([c, z], axis=-1)

    def __add__(self, other):
        if not isinstance(other, PiecewisePoly):
            c = self.coef.copy()
            c[..., 0] = c[..., 0] + other
            return PiecewisePoly(self.breaks, c)
        self._same_mesh(other)
        d = max(self.coef.shape[-1], other.coef.shape[-1])
        return PiecewisePoly(self.breaks, self._pad(d) + other._pad(d))

    __radd__ = __add__

    def __neg__(self):
        return PiecewisePoly(self.breaks, -self.coef)

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        if not isinstance(other, PiecewisePoly):
            return PiecewisePoly(self.breaks, self.coef * _arr(other)[..., None, None]
                                 if np.ndim(other) else self.coef * other)
        self._same_mesh(other)
        a, b = self.coef, other.coef
        da, db = a.shape[-1], b.shape[-1]
        shape = np.broadcast_shapes(a.shape[:-1], b.shape[:-1]) + (da + db - 1,)
        out = np.zeros(shape, dtype=np.result_type(a, b))
        if out.dtype == object:
            out[...] = 0
        for i in range(da):
            out[..., i:i + db] = out[..., i:i + db] + a[..., i:i + 1] * b
        return PiecewisePoly(self.breaks, out)

    __rmul__ = __mul__

    def integral(self):
        """``int_{breaks[0]}^{breaks[-1]}`` of each function (closed form, piece by piece)."""
        h = self.widths
        d = self.coef.shape[-1]
        hp = np.stack([h ** (i + 1) / (i + 1) for i in range(d)], axis=-1)  # (K, d)
        return (self.coef * hp).sum(axis=(-1, -2))

    def sum(self, axis=0):
        return PiecewisePoly(self.breaks, self.coef.sum(axis=axis))

    def __call__(self, xs):
        xs = _arr(xs)
        k = np.clip(np.searchsorted(self.breaks, xs, side="right") - 1, 0, len(self.breaks) - 2)
        s = xs - self.breaks[k]
        c = np.moveaxis(self.coef, -2, 0)[k]  # (len(xs), ..., d)
        out = c[..., -1]
        for i in range(c.shape[-1] - 2, -1, -1):
            out = out * np.expand_dims(s, tuple(range(1, out.ndim))) + c[..., i]
        return np.moveaxis(out, 0, -1)


@dataclass(frozen=True)
class Template:
    """A univariate piecewise polynomial ``p(t)``: ``coef[k]`` (power basis in t, constant first)
    holds on piece k of ``(-inf, b_0], (b_0, b_1], ..., (b_{n-1}, inf)``."""

    breaks: tuple
    coef: tuple

    def __post_init__(self):
        if len(self.coef) != len(self.breaks) + 1:
            raise ValueError(f"coef: expected {len(self.breaks) + 1} pieces for {len(self.breaks)} breaks")
        if list(self.breaks) != sorted(self.breaks):
            raise ValueError("breaks: expected increasing points")

    def arrays(self, dtype=float):
        b = np.array(self.breaks, dtype=dtype)
        d = max(len(c) for c in self.coef)
        c = np.array([list(c) + [0] * (d - len(c)) for c in self.coef], dtype=dtype)
        return b, c

    def derivative(self) -> "Template":
        return Template(self.breaks, tuple(tuple(i * c[i] for i in range(1, len(c))) or (0,)
                                           for c in self.coef))

    @property
    def support(self):
        return self.breaks[0], self.breaks[-1]

    def __call__(self, ts):
        b, c = self.arrays()
        ts = np.asarray(ts, dtype=float)
        k = np.searchsorted(b, ts, side="left")  # t <= b_k lies in piece k
        cc = c[k]
        out = cc[..., -1]
        for i in range(cc.shape[-1] - 2, -1, -1):
            out = out * ts + cc[..., i]
        return out

    def on_mesh(self, breaks, centers, scale) -> PiecewisePoly:
        """``p((x - centers_j)/scale)`` for every j, as a PiecewisePoly on ``breaks`` (which must
        contain every ``centers_j + scale b`` inside its range)."""
        dtype = object if np.asarray(breaks).dtype == object else float
        tb, tc = self.arrays(dtype)
        breaks, centers = _arr(breaks), _arr(centers)
        left = breaks[:-1]
        mid = (breaks[:-1] + breaks[1:]) / 2
        tmid = (mid[None, :] - centers[:, None]) / scale
        k = np.searchsorted(tb, tmid, side="left") if dtype is float else _search_obj(tb, tmid)
        c = tc[k]  # (m, K, d) in the absolute variable t
        t0 = (left[None, :] - centers[:, None]) / scale
        d = c.shape[-1]
        # Taylor shift to t0, then rescale: coefficient of s^q is sum_i C(i, q) c_i t0^(i-q) / scale^q
        out = np.empty_like(c)
        for q in range(d):
            acc = c[..., d - 1] * comb(d - 1, q) if d - 1 >= q else 0
            for i in range(d - 2, q - 1, -1):
                acc = acc * t0 + c[..., i] * comb(i, q)
            out[..., q] = acc / scale ** q
        return PiecewisePoly(breaks, out)


def _search_obj(tb, t):
    flat = [sum(1 for b in tb if v > b) for v in t.ravel().tolist()]
    return np.array(flat, dtype=int).reshape(t.shape)


def step_function(breaks, positions, values) -> PiecewisePoly:
    """The step function equal to ``values[k]`` between ``positions[k-1]`` and ``positions[k]``,
    on a mesh ``breaks`` containing the positions (a constant per piece)."""
    breaks = _arr(breaks)
    values = _arr(values)
    if len(values) != len(positions) + 1:
        raise ValueError(f"values: expected {len(positions) + 1}, got {len(values)}")
    pos = _arr(positions)
    # searchsorted (and the piece a position starts) assume increasing positions and breaks
    if any(not (a < b) for a, b in zip(pos.tolist(), pos.tolist()[1:])):
        raise ValueError(f"positions: expected strictly increasing positions, got {pos.tolist()}")
    if any(not (a < b) for a, b in zip(breaks.tolist(), breaks.tolist()[1:])):
        raise ValueError("breaks: expected a strictly increasing mesh")
    mid = (breaks[:-1] + breaks[1:]) / 2
    # the piece's value: how many positions are <= its midpoint (searchsorted's side="right")
    k = (np.searchsorted(pos, mid, side="right") if pos.dtype != object
         else np.array([sum(1 for p in pos if p <= m) for m in mid.tolist()], dtype=int))
    return PiecewisePoly(breaks, values[k][:, None])


@dataclass(frozen=True)
class UnitNetwork:
    """``f(x) = a_0 + sum_j a_j p((x - u_j)/width)`` on ``[lo, hi]`` against a step function.

    ``a`` has ``m + 1`` entries (``a[0]`` the constant). All integrals are closed-form. With
    object arrays of Fractions everything is exact.
    """

    template: Template
    width: float
    lo: float = 0.0
    hi: float = 1.0

    def __post_init__(self):
        w = self.width
        if not (w > 0):
            raise ValueError(f"width: expected a positive number, got {w!r}")

    def _mesh(self, u, positions):
        exact = _arr(u).dtype == object
        tb = np.asarray(self.template.breaks, dtype=object if exact else float)
        pts = np.concatenate([(_arr(u)[:, None] + self.width * tb[None, :]).ravel(),
                              np.asarray(positions, dtype=object if exact else float)])
        lo, hi = (_fast(Fraction(self.lo)), _fast(Fraction(self.hi))) if exact else (self.lo, self.hi)
        return mesh(pts, lo, hi)

    @_in_fmpq
    def pieces(self, u, positions, values):
        """``(Phi, fstar)``: the m + 1 features (constant first) and the target on one mesh."""
        u = _arr(u)
        br = self._mesh(u, positions)
        units = self.template.on_mesh(br, u, self.width)
        one = np.zeros((1,) + units.coef.shape[1:], dtype=units.coef.dtype)
        if one.dtype == object:
            one[...] = 0
        one[..., 0] = 1
        Phi = PiecewisePoly(br, np.concatenate([one, units.coef], axis=0))
        return Phi, step_function(br, positions, values)

    @_in_fmpq
    def residual(self, a, u, positions, values):
        Phi, fs = self.pieces(u, positions, values)
        return Phi, PiecewisePoly(Phi.breaks, (Phi.coef * _arr(a)[:, None, None]).sum(axis=0)) - fs

    @_in_fmpq
    def loss(self, a, u, positions, values):
        """``int (f - f*)^2``."""
        _, r = self.residual(a, u, positions, values)
        return (r * r).integral()

    @_in_fmpq
    def gradient(self, a, u, positions, values, kernel: "Template | None" = None):
        """``(dL/da, dL/du)``: ``2 int r phi_j`` and ``-(2 a_j / width) int r p'((x - u_j)/width)``.

        ``kernel`` replaces ``p'`` in the u-gradient (e.g. a uniform kernel: a surrogate gradient);
        its breakpoints must be among the template's."""
        a, u = _arr(a), _arr(u)
        Phi, r = self.residual(a, u, positions, values)
        ga = 2 * (Phi * r).integral()
        dunits = (kernel or self.template.derivative()).on_mesh(Phi.breaks, u, self.width)
        gu = -2 * a[1:] / self.width * (dunits * r).integral()
        return ga, gu

    @_in_fmpq
    def normal_equations(self, u, positions, values):
        """``G = int phi phi^T`` and ``b = int f* phi``: the optimal ``a`` solves ``G a = b``."""
        Phi, fs = self.pieces(u, positions, values)
        P1 = PiecewisePoly(Phi.breaks, Phi.coef[:, None])
        P2 = PiecewisePoly(Phi.breaks, Phi.coef[None, :])
        return (P1 * P2).integral(), (Phi * fs).integral()

    def optimal_weights(self, u, positions, values):
        G, b = self.normal_equations(u, positions, values)
        if G.dtype == object:
            G, b = _fraction(G), _fraction(b)
            import sympy as sp
            sol = sp.Matrix(G.tolist()).LUsolve(sp.Matrix(b.tolist()))
            return np.array([Fraction(int(v.p), int(v.q)) for v in sol], dtype=object)
        sol, *_ = np.linalg.lstsq(G, b, rcond=None)
        return sol


def cell_projection(partition, positions, values, lo=0.0, hi=1.0):
    """L2 projection of a step function onto functions constant on the cells of ``partition``.

    Returns ``(averages, loss)``: the cell averages (cells ``[lo, p_1), [p_1, p_2), ..., [p_n, hi]``)
    and ``int (projection - f*)^2``. Closed form: every integrand is constant per piece.
    """
    part = _arr(partition)
    if part.dtype == object:
        lo, hi = Fraction(lo), Fraction(hi)
    br = mesh(np.concatenate([part, _arr(positions)]) if part.dtype != object
              else np.array(list(part) + list(positions), dtype=object), lo, hi)
    fs = step_function(br, positions, values)
    cells = np.concatenate([[lo], np.sort(part) if part.dtype != object else sorted(part), [hi]])
    mid = (br[:-1] + br[1:]) / 2
    w = br[1:] - br[:-1]
    val = fs.coef[:, 0]
    n = len(cells) - 1
    if part.dtype != object and np.isfinite(cells).all():
        # the same sums in the same order (bincount adds each bin's terms by increasing index,
        # as the loop below does), without a Python pass over the pieces per cell
        which = np.searchsorted(cells[1:-1], mid, side="left")
        mass = np.bincount(which, weights=w * val, minlength=n)
        size = np.bincount(which, weights=w, minlength=n)
    else:
        which = np.array([sum(1 for c in cells[1:-1] if m > c) for m in mid.tolist()], dtype=int)
        mass = np.array([sum((w * val)[which == i]) for i in range(n)], dtype=w.dtype)
        size = np.array([sum(w[which == i]) for i in range(n)], dtype=w.dtype)
    avg = np.array([m / s if s else 0 for m, s in zip(mass, size)], dtype=w.dtype)
    loss = sum((w * (val - avg[which]) ** 2).tolist())
    return avg, loss
