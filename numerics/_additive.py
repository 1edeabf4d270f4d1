"""Additive models ``f(x) = sum_k sum_j a_{jk} p((x_k - u_{jk}) / w)`` on a fixed batch, fast.

``p`` is a :class:`Template` (a piecewise polynomial). The batch is sorted once per coordinate;
then a unit touches the samples of each bounded piece of ``p`` one by one (for marion2023's step
of width 0.01 about ``n / 100`` of them) and the two unbounded pieces through prefix sums of
``g_i x_i^r`` (for the forward pass, difference arrays): an epoch costs ``O(n d + m d log n)``
instead of the dense ``O(n m d)``. On an unbounded piece the polynomial is re-expanded in powers
of ``x`` (exact for the constant pieces of a step and the linear piece of ReLU; a high-degree
unbounded piece would lose digits to cancellation).

:class:`AdditiveFit` is full-batch gradient descent of a criterion ``C(S, n)`` of the residual's
squared norm ``S``; it is built from a theory object (``flowcert.theory.AdditiveNetwork``) that
supplies the templates, the factors of the unit's derivatives and the criterion, all derived there.
"""
from __future__ import annotations

import math
import time
import types
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._descent import DivergenceError
from ._piecewise import Template

__all__ = ["AdditiveFit", "AdditiveUnits", "FitRun"]


def _count_le(x, v):
    """How many of the ascending ``x`` are ``<= v``."""
    lo, hi = 0, x.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if x[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _in_x(c, u, w, out):
    """Coefficients in powers of ``x`` of ``sum_p c_p ((x - u)/w)^p`` (binomial expansion)."""
    q = c.shape[0]
    for r in range(q):
        out[r] = 0.0
    for p in range(q):
        if c[p] != 0.0:
            scale = c[p] / w ** p
            for r in range(p + 1):
                out[r] += scale * _binom(p, r) * (-u) ** (p - r)


def _binom(p, r):
    b = 1.0
    for i in range(r):
        b = b * (p - i) / (i + 1)
    return b


def _bounds(x, uj, w, tb, idx):
    for l in range(tb.shape[0]):
        idx[l] = _count_le(x, uj + w * tb[l])


def _horner(c, s):
    q = c.shape[0]
    v = c[q - 1]
    for p in range(q - 2, -1, -1):
        v = v * s + c[p]
    return v


def _outer_piece(side, nb, n, idx):
    """``(piece, lo, hi)`` of an unbounded piece (side 0: below the first breakpoint, 1: above the
    last): its row of the template and the samples ``lo <= i < hi`` it covers."""
    if side == 0:
        return 0, 0, idx[0]
    return nb, idx[nb - 1], n


def _outer_terms(tc):
    """1 + the degree of the two unbounded pieces (0 if both vanish): the powers of x their sums need."""
    nb = tc.shape[0] - 1
    q = 0
    for r in range(tc.shape[1]):
        if tc[0, r] != 0.0 or tc[nb, r] != 0.0:
            q = r + 1
    return q


def _forward(xs, perm, a, u, w, tb, tc, out):
    """``out[i] = sum_k sum_j a[j, k] p((X[i, k] - u[j, k]) / w)``; ``xs[k]`` sorted, ``perm[k]`` its order."""
    d, n = xs.shape
    m = a.shape[0]
    nb = tb.shape[0]
    q = _outer_terms(tc)
    idx = np.empty(nb, np.int64)
    diff = np.zeros((q, n + 1))
    g = np.zeros(n)
    ex = np.zeros(tc.shape[1])
    for i in range(n):
        out[i] = 0.0
    for k in range(d):
        x = xs[k]
        pk = perm[k]
        for j in range(m):
            aj = a[j, k]
            if aj == 0.0:
                continue
            uj = u[j, k]
            _bounds(x, uj, w, tb, idx)
            for side in range(2):
                l, lo, hi = _outer_piece(side, nb, n, idx)
                if lo >= hi:
                    continue
                _in_x(tc[l], uj, w, ex)
                for r in range(q):
                    if ex[r] != 0.0:
                        diff[r, lo] += aj * ex[r]
                        diff[r, hi] -= aj * ex[r]
            for l in range(1, nb):
                for i in range(idx[l - 1], idx[l]):
                    g[i] += aj * _horner(tc[l], (x[i] - uj) / w)
        # row by row, the last row's pass also scattering into out; each pass leaves the buffers
        # it read at zero for the next coordinate (no separate clearing passes)
        for r in range(q):
            dr = diff[r]
            acc = 0.0
            last = r == q - 1
            for i in range(n):
                acc += dr[i]
                dr[i] = 0.0
                t = acc if r == 0 else acc * x[i] ** r
                if last:
                    out[pk[i]] += g[i] + t
                    g[i] = 0.0
                else:
                    g[i] += t
            dr[n] = 0.0
        if q == 0:
            for i in range(n):
                out[pk[i]] += g[i]
                g[i] = 0.0


def _moments(xs, perm, u, w, tb, tc, gw, out):
    """``out[j, k] = sum_i gw[i] p((X[i, k] - u[j, k]) / w)``."""
    d, n = xs.shape
    m = u.shape[0]
    q = _outer_terms(tc)
    idx = np.empty(tb.shape[0], np.int64)
    P = np.zeros((q, n + 1))
    gs = np.empty(n)
    ex = np.zeros(tc.shape[1])
    for k in range(d):
        x = xs[k]
        _gather_prefix(x, gw, perm[k], gs, q, P)
        for j in range(m):
            out[j, k] = _unit_moment(x, gs, u[j, k], w, tb, tc, q, P, idx, ex)


def _prefix(x, gs, q, P, start=0):
    """``P[r, i] = sum_{i' < i} gs[i'] x[i']^r`` for ``start <= r < q`` (``P[r, n]``: the whole sum)."""
    n = x.shape[0]
    for r in range(start, q):
        Pr = P[r]
        acc = 0.0
        if r == 0:
            for i in range(n):
                Pr[i] = acc
                acc += gs[i]
        else:
            for i in range(n):
                Pr[i] = acc
                acc += gs[i] * x[i] ** r
        Pr[n] = acc


def _gather_prefix(x, gw, pk, gs, q, P):
    """``gs[i] = gw[pk[i]]`` (the weights in ``x``'s order) and :func:`_prefix`'s ``P``, the
    gather in the same pass as the first row."""
    n = x.shape[0]
    if q == 0:
        for i in range(n):
            gs[i] = gw[pk[i]]
        return
    P0 = P[0]
    acc = 0.0
    for i in range(n):
        v = gw[pk[i]]
        gs[i] = v
        P0[i] = acc
        acc += v
    P0[n] = acc
    _prefix(x, gs, q, P, 1)


def _unit_moment(x, gs, uj, w, tb, tc, q, P, idx, ex):
    """``sum_i gs[i] p((x[i] - uj) / w)`` over the ascending ``x``, ``P`` from :func:`_prefix`."""
    n = x.shape[0]
    nb = tb.shape[0]
    _bounds(x, uj, w, tb, idx)
    tot = 0.0
    for side in range(2):
        l, lo, hi = _outer_piece(side, nb, n, idx)
        if lo >= hi:
            continue
        _in_x(tc[l], uj, w, ex)
        for r in range(q):
            if ex[r] != 0.0:
                tot += ex[r] * (P[r, hi] - P[r, lo])
    for l in range(1, nb):
        for i in range(idx[l - 1], idx[l]):
            tot += gs[i] * _horner(tc[l], (x[i] - uj) / w)
    return tot


def _moments2(xs, perm, u, w, tb1, tc1, tb2, tc2, gw, out1, out2):
    """:func:`_moments` for two templates at once (the gradient's ``p`` and ``p'``): one gather of
    the weights per coordinate instead of two; each output computed as :func:`_moments` does."""
    d, n = xs.shape
    m = u.shape[0]
    q1, q2 = _outer_terms(tc1), _outer_terms(tc2)
    idx1, idx2 = np.empty(tb1.shape[0], np.int64), np.empty(tb2.shape[0], np.int64)
    P1, P2 = np.zeros((q1, n + 1)), np.zeros((q2, n + 1))
    gs = np.empty(n)
    ex1, ex2 = np.zeros(tc1.shape[1]), np.zeros(tc2.shape[1])
    for k in range(d):
        x = xs[k]
        _gather_prefix(x, gw, perm[k], gs, q1, P1)
        _prefix(x, gs, q2, P2)
        for j in range(m):
            out1[j, k] = _unit_moment(x, gs, u[j, k], w, tb1, tc1, q1, P1, idx1, ex1)
            out2[j, k] = _unit_moment(x, gs, u[j, k], w, tb2, tc2, q2, P2, idx2, ex2)


_KERNELS = {}


def _kernels(backend: str | None = None):
    """``(forward, moments, moments2)``: compiled with numba (cached on disk) when it is installed,
    else the same functions in the interpreter (correct, about 100x slower)."""
    from ._sgd import have_numba
    backend = backend or ("numba" if have_numba() else "python")
    if backend == "python":
        return _forward, _moments, _moments2
    if backend != "numba":
        raise ValueError(f"backend: expected 'numba' or 'python', got {backend!r}")
    if "numba" not in _KERNELS:
        import numba
        jit = numba.njit(cache=True, nogil=True, error_model="numpy")
        # The compiled kernels find their helpers by global name, so they get a namespace of their
        # own: rebinding this module's globals would make the interpreted kernels call compiled
        # helpers too, which check no index, once numba had been used in the process.
        ns = dict(globals())

        def compiled(f):
            return jit(types.FunctionType(f.__code__, ns, f.__name__, f.__defaults__, f.__closure__))

        for name in ("_count_le", "_binom", "_in_x", "_bounds", "_horner", "_outer_piece", "_outer_terms",
                     "_prefix", "_gather_prefix", "_unit_moment"):
            ns[name] = compiled(ns[name])
        _KERNELS["numba"] = tuple(compiled(f) for f in (_forward, _moments, _moments2))
    return _KERNELS["numba"]


def _compile_now() -> None:
    """Compile (or load from numba's cache) the kernels for the argument types the callers pass:
    C-contiguous float64 arrays, int64 orders, a float width."""
    f, m, m2 = _kernels("numba")
    xs, perm = np.zeros((1, 1)), np.zeros((1, 1), dtype=np.int64)
    a, out, tb, tc, gw = np.zeros((1, 1)), np.zeros(1), np.zeros(1), np.zeros((2, 1)), np.zeros(1)
    f(xs, perm, a, a, 1.0, tb, tc, out)
    m(xs, perm, a, 1.0, tb, tc, gw, a.copy())
    m2(xs, perm, a, 1.0, tb, tc, tb, tc, gw, a.copy(), a.copy())


class AdditiveUnits:
    """The units ``p((X[i, k] - u[j, k]) / width)`` of one fixed batch ``X`` (``n x d``).

    >>> p = Template((0.0,), ((0.0, 0.0), (0.0, 1.0)))          # ReLU
    >>> X = np.array([[0.1], [0.4], [0.9]])
    >>> units = AdditiveUnits(p, 1.0, X)
    >>> units.forward(np.array([[2.0]]), np.array([[0.3]])).round(12).tolist()
    [0.0, 0.2, 1.2]
    >>> units.moments(np.array([[0.3]]), np.array([1.0, 1.0, -1.0])).round(12).tolist()
    [[-0.5]]
    """

    def __init__(self, template: Template, width: float, X, backend: str | None = None):
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"X: expected an n x d array with n, d >= 1, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X: expected finite numbers")
        if not (width > 0):
            raise ValueError(f"width: expected a positive number, got {width!r}")
        self.template, self.width = template, float(width)
        self.n, self.d = X.shape
        self.perm = np.ascontiguousarray(np.argsort(X, axis=0, kind="stable").T)
        self.xs = np.ascontiguousarray(np.take_along_axis(X, self.perm.T, axis=0).T)
        self._tb, self._tc = (np.ascontiguousarray(v) for v in template.arrays(float))
        self._f, self._m, self._m2 = _kernels(backend)

    def _shape(self, name, v, m=None):
        v = np.ascontiguousarray(v, dtype=float)
        if v.ndim != 2 or v.shape[1] != self.d or (m is not None and v.shape[0] != m):
            raise ValueError(f"{name}: expected an m x {self.d} array, got shape {v.shape}")
        return v

    def forward(self, a, u) -> np.ndarray:
        """``f(X[i]) = sum_{j,k} a[j, k] p((X[i, k] - u[j, k]) / width)`` for every sample."""
        a = self._shape("a", a)
        u = self._shape("u", u, a.shape[0])
        out = np.empty(self.n)
        self._f(self.xs, self.perm, a, u, self.width, self._tb, self._tc, out)
        return out

    def moments(self, u, weights, template: Template | None = None) -> np.ndarray:
        """``M[j, k] = sum_i weights[i] q((X[i, k] - u[j, k]) / width)``, ``q`` the units' template
        or ``template`` (e.g. its derivative)."""
        u = self._shape("u", u)
        gw = np.ascontiguousarray(weights, dtype=float)
        if gw.shape != (self.n,):
            raise ValueError(f"weights: expected {self.n} entries, got shape {gw.shape}")
        if template is None:
            tb, tc = self._tb, self._tc
        else:
            tb, tc = (np.ascontiguousarray(v) for v in template.arrays(float))
        out = np.empty(u.shape)
        self._m(self.xs, self.perm, u, self.width, tb, tc, gw, out)
        return out


@dataclass(frozen=True)
class FitRun:
    """Result of :meth:`AdditiveFit.descend`: final weights, the criterion at ``epochs_recorded``."""

    a: np.ndarray
    u: np.ndarray
    epochs_recorded: tuple
    criterion: tuple
    final: float
    seconds: float


class AdditiveFit:
    """Full-batch gradient descent of ``C(||f(X) - y||^2, n)`` for an additive network on ``(X, y)``.

    ``network`` is a theory object (``flowcert.theory.AdditiveNetwork``); its activation and
    derivative become templates, its derived factors (``dC/df_i = weight(S, n) e_i``; ``d unit /
    d a = factor_a phi``, ``d unit / d u = factor_u phi'``) are compiled with ``lambdify``.
    """

    def __init__(self, network, X, y, width: float | None = None, backend: str | None = None):
        import sympy as sp
        from fractions import Fraction

        scaled = network.width != 1
        if scaled and width is None:
            raise ValueError("width: this network's units have a width eta; pass a positive number")
        w = float(width) if scaled else 1.0
        (tb, tc), (db, dc) = network.templates()
        conv = (lambda c: float(Fraction(int(c.p), int(c.q))))
        self.phi = Template(tuple(map(conv, tb)), tuple(tuple(map(conv, c)) for c in tc))
        self.dphi = Template(tuple(map(conv, db)), tuple(tuple(map(conv, c)) for c in dc))
        self.units = AdditiveUnits(self.phi, w, X, backend)
        y = np.asarray(y, dtype=float)
        if y.shape != (self.units.n,):
            raise ValueError(f"y: expected {self.units.n} labels, got shape {y.shape}")
        self.y = y
        subs = {network.eta: w}
        args = (network.S, network.n)
        self._crit = sp.lambdify(args, network.criterion_of_S, "math")
        self._weight = sp.lambdify(args, network.sample_weight, "math")
        self._factor = {name: sp.lambdify(network.a_, network.factor(name).subs(subs), "numpy")
                        for name in ("a", "u")}
        self._order = {name: network.order(name) for name in ("a", "u")}

    def criterion(self, a, u) -> float:
        e = self.units.forward(a, u) - self.y
        return float(self._crit(float(e @ e), self.units.n))

    def gradient(self, a, u):
        """``(C, dC/da, dC/du)`` at ``(a, u)``."""
        a = self.units._shape("a", a)
        u = self.units._shape("u", u, a.shape[0])
        return self._stepper(a.shape)(a, u)

    def _stepper(self, shape):
        """``step(a, u) -> (C, dC/da, dC/du)`` for checked ``m x d`` arrays of ``shape``, its buffers
        allocated once: :meth:`descend` calls it every epoch, where per-call checks and
        allocations would cost more than the kernels on small batches."""
        U = self.units
        f, mom2, xs, perm, w, y, n = U._f, U._m2, U.xs, U.perm, U.width, self.y, U.n
        fb, fc = U._tb, U._tc
        tmpl = {name: ((fb, fc) if self._order[name] == 0 else
                       tuple(np.ascontiguousarray(v) for v in self.dphi.arrays(float)))
                for name in ("a", "u")}
        fx, e, gw = np.empty(n), np.empty(n), np.empty(n)
        ma, mu, ga, gu = (np.empty(shape) for _ in range(4))
        crit, weight, fa, fu = self._crit, self._weight, self._factor["a"], self._factor["u"]

        (ta, ca), (tu, cu) = tmpl["a"], tmpl["u"]

        # into buffers: on small batches an allocation per array costs about what a kernel does
        def step(a, u):
            f(xs, perm, a, u, w, fb, fc, fx)
            np.subtract(fx, y, out=e)
            S = float(e @ e)
            if S > 0:
                np.multiply(weight(S, n), e, out=gw)
            else:
                gw.fill(0.0)   # at S = 0 the norm has no gradient
            mom2(xs, perm, u, w, ta, ca, tu, cu, gw, ma, mu)
            np.multiply(fa(a), ma, out=ga)
            np.multiply(fu(a), mu, out=gu)
            return float(crit(S, n)), ga, gu
        return step

    def descend(self, a0, u0, lr_a: float, lr_u: float, epochs: int, record_every: int = 0,
                progress: Callable[[int, int], None] | None = None) -> FitRun:
        """``epochs`` steps ``a -= lr_a dC/da``, ``u -= lr_u dC/du`` (both at the same point).

        Records the criterion before the first step, every ``record_every`` epochs, and after the
        last; raises :class:`DivergenceError` if it stops being finite."""
        a = np.array(a0, dtype=float)
        u = np.array(u0, dtype=float)
        if a.shape != u.shape:
            raise ValueError(f"a0, u0: expected the same shape, got {a.shape} and {u.shape}")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs: expected an integer >= 0, got {epochs!r}")
        if a.ndim != 2 or a.shape[1] != self.units.d:
            raise ValueError(f"a0: expected an m x {self.units.d} array, got shape {a.shape}")
        rec_e, rec_c = [], []
        t0 = time.perf_counter()
        tick = max(1, epochs // 100)
        step = self._stepper(a.shape)
        for ep in range(epochs):
            c, ga, gu = step(a, u)   # the stepper's buffers, overwritten at the next step
            if record_every and ep % record_every == 0 or ep == 0:
                rec_e.append(ep)
                rec_c.append(c)
            if not math.isfinite(c):
                raise DivergenceError(f"gradient descent: the criterion is {c} at epoch {ep}")
            a -= np.multiply(lr_a, ga, out=ga)
            u -= np.multiply(lr_u, gu, out=gu)
            if progress is not None and (ep + 1) % tick == 0:
                progress(ep + 1, epochs)
        final = self.criterion(a, u)
        if not np.isfinite(final):
            raise DivergenceError(f"gradient descent: the criterion is {final} after epoch {epochs}")
        rec_e.append(epochs)
        rec_c.append(final)
        return FitRun(a, u, tuple(rec_e), tuple(rec_c), final, time.perf_counter() - t0)
