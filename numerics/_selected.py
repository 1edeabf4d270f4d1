"""Many digits of a bound over whole spectra, refining only the eigenvalues the bound keeps.

A bound such as min2023's Delta* is a sum over two spectra of maxima and minima of eigenvalues
(Definition 2), but most terms cancel: ``D-bar_i - min(D-bar_i, lambda_j)`` is 0 whenever the
minimum picks ``D-bar_i``. The bound is first evaluated on *forms*: polynomials with integer
coefficients in eigenvalue handles, each maximum or minimum decided by the handles' certified
53-bit enclosures (:func:`._certify._eig_float`). Only the handles left in the forms (Fig. 1's
shape at h = 200: about 80 of 400) need the working precision. Each is refined alone, in O(n^2)
per step: its residual, taken at the working precision through the factors of the matrix (the
matrix itself is never formed in Arb), is projected onto the float64 eigenbasis and removed,
which gains ~40 bits a step; then Kato-Temple's bound encloses the eigenvalue, isolated by its
neighbours' certified enclosures. A maximum or minimum the 53-bit enclosures cannot decide raises
:class:`Undecided`: the caller evaluates the whole spectra instead.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from ._certify import (FloatBall, _ArbOps, _FloatOps, _arb_mat, _eig_float, _evaluate_matrix, _flint,
                       exact_ball, interval)

__all__ = ["Spectra", "Undecided", "selected_spectra"]


class Undecided(Exception):
    """A maximum or minimum of eigenvalues that float64 enclosures cannot decide."""


class _Form:
    """``sum c * h1 * h2 * ...`` over eigenvalue handles ``(matrix, k)``; integer coefficients."""

    __slots__ = ("terms", "_ball")

    def __init__(self, terms=None):
        self.terms = {k: v for k, v in (terms or {}).items() if v}
        self._ball = None

    def __add__(self, other):
        t = dict(self.terms)
        for k, v in _form(other).terms.items():
            t[k] = t.get(k, 0) + v
        return _Form(t)

    __radd__ = __add__

    def __neg__(self):
        return _Form({k: -v for k, v in self.terms.items()})

    def __sub__(self, other):
        return self + (-_form(other))

    def __rsub__(self, other):
        return _form(other) - self

    def __mul__(self, other):
        t: dict = {}
        for k1, v1 in self.terms.items():
            for k2, v2 in _form(other).terms.items():
                k = tuple(sorted(k1 + k2))
                t[k] = t.get(k, 0) + v1 * v2
        return _Form(t)

    __rmul__ = __mul__

    def __pow__(self, e):
        if not (isinstance(e, int) and e >= 0):
            raise Undecided(f"power {e!r} of a form")
        out = _Form({(): 1})
        for _ in range(e):
            out = out * self
        return out

    def handles(self):
        return {h for k in self.terms for h in k}

    def value(self, balls):
        flint = _flint()
        s = flint.arb(0)
        for k, c in self.terms.items():
            p = exact_ball(c)
            for h in k:
                p = p * balls[h]
            s += p
        return s


def _form(x) -> _Form:
    if isinstance(x, _Form):
        return x
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return _Form({(): int(x)})
    raise Undecided(f"a form of {x!r}")


class _FormOps:
    """``theory.Ops`` over forms: maxima and minima decided by the handles' 53-bit enclosures."""

    def __init__(self, first):
        self.first = first          # handle -> certified enclosure
        self.zero = _Form()

    def _ball(self, f: _Form):
        if f._ball is None:
            f._ball = f.value(self.first)
        return f._ball

    def _pick(self, xs, larger: bool):
        best = xs[0]
        for x in xs[1:]:
            if x.terms == best.terms:
                continue
            a, b = self._ball(best), self._ball(x)
            if (b > a) if larger else (b < a):
                best = x
            elif not ((a >= b) if larger else (a <= b)):
                raise Undecided("a maximum or minimum of eigenvalues not decided at float64 precision")
        return best

    def max(self, *xs):
        return self._pick([_form(x) for x in xs], True)

    def min(self, *xs):
        return self._pick([_form(x) for x in xs], False)

    def total(self, xs):
        t: dict = {}
        for x in xs:
            for k, v in _form(x).terms.items():
                t[k] = t.get(k, 0) + v
        return _Form(t)


def _apply(expr, env, X, cache):
    """``expr @ X`` in Arb without forming ``expr``: products applied right to left, sums summed
    (MatrixSymbol, Transpose, MatAdd, MatMul, MatPow, Identity, ZeroMatrix; else formed once)."""
    flint = _flint()

    def go(e, Y, t):
        if isinstance(e, sp.MatrixSymbol):
            key = (e, t)
            if key not in cache:
                cache[key] = env[e].transpose() if t else env[e]
            return cache[key] * Y
        if isinstance(e, sp.Transpose):
            return go(e.arg, Y, not t)
        if isinstance(e, sp.MatAdd):
            out = None
            for a in e.args:
                v = go(a, Y, t)
                out = v if out is None else out + v
            return out
        if isinstance(e, sp.MatMul):
            coeff = sp.Mul(*[a for a in e.args if not a.is_Matrix])
            fs = [a for a in e.args if a.is_Matrix]
            # (A B C)^T Y = C^T (B^T (A^T Y)): the factors in the other order
            for f in (fs if t else reversed(fs)):
                Y = go(f, Y, t)
            return Y if coeff == 1 else Y * exact_ball(coeff)
        if isinstance(e, sp.MatPow) and e.exp.is_Integer and e.exp > 0:
            for _ in range(int(e.exp)):
                Y = go(e.base, Y, t)
            return Y
        if isinstance(e, sp.Identity):
            return Y
        if isinstance(e, sp.ZeroMatrix):
            return flint.arb_mat(Y.nrows(), Y.ncols())
        key = (e, t)
        if key not in cache:
            M = _evaluate_matrix(e, env, _ArbOps())
            cache[key] = M.transpose() if t else M
        return cache[key] * Y

    return go(expr, X, False)


def _diag_products(A, B):
    """``[A[:, c] . B[:, c]]`` as arbs."""
    P = A.transpose() * B
    return [P[c, c] for c in range(P.nrows())]


def _refine_eigenvalues(apply, V, first, ks, prec):
    """Enclosures at ``prec`` bits of the eigenvalues ``ks`` (0: the largest) of the exact
    symmetric matrix whose product with a vector ``apply`` computes, from the float eigenvectors
    ``V`` (columns increasing) and the certified enclosures ``first`` (decreasing)."""
    flint = _flint()
    n = V.shape[0]
    cols = [n - 1 - k for k in ks]
    X0 = V[:, cols]
    mids = np.array([float(x.mid()) for x in first])[::-1]      # increasing, as V's columns
    scale = float(np.max(np.abs(mids))) or 1.0
    lo = [x.lower() for x in first]
    hi = [x.upper() for x in first]
    # the gap to the nearest neighbour's enclosure sets Kato-Temple's width eps^2 / gap
    gaps = []
    for k in ks:
        g = [abs(float(first[k].mid()) - float(first[j].mid())) for j in (k - 1, k + 1) if 0 <= j < n]
        gaps.append(min(g) if g else scale)
    gaps = np.array(gaps)
    X = _arb_mat(X0)
    # eps^2 / gap under 2^-prec of |lambda| (or of ||M|| for an eigenvalue near 0) needs eps to
    # about half the bits: each step removes the residual's components along the other float
    # eigenvectors and gains ~log2(gap / (u ||M||)) bits
    target = np.maximum(np.abs(mids[cols]), scale * 2.0 ** -40) * gaps * 2.0 ** -(prec + 4)
    last, Y = None, None
    for _ in range(2 + prec // 30):
        # at the working precision from the first step: a product of these shapes costs about the
        # same at 110 bits, and the last one is Kato-Temple's
        Y = apply(X)
        xx = _diag_products(X, X)
        rho = [(a / b).mid() for a, b in zip(_diag_products(X, Y), xx)]
        D = flint.arb_mat(len(ks), len(ks))
        for c, r in enumerate(rho):
            D[c, c] = r
        R = Y - X * D
        Rf = np.array([float(x.mid()) for x in R.entries()]).reshape(n, len(ks))
        eps2 = (Rf * Rf).sum(axis=0) / np.array([float(x.mid()) for x in xx])
        if (eps2 <= target).all() or (last is not None and not (eps2 < last * 2.0 ** -8).any()):
            break
        last, Y = eps2, None
        rf = np.array([float(r) for r in rho])
        C = V.T @ Rf
        den = mids[:, None] - rf[None, :]
        # a neighbour float64 cannot tell apart (a cluster): its component is left alone, and the
        # eigenvalue keeps its first-order enclosure below (not isolated)
        near = np.abs(den) <= scale * 2.0 ** -40
        near[cols, range(len(cols))] = True
        C = np.where(near, 0.0, C / np.where(near, 1.0, den))
        X = (X - _arb_mat(V @ C)).mid()
    # Kato-Temple at the working precision, with the exact product (balls) M X
    if Y is None:
        Y = apply(X)
    xx = _diag_products(X, X)
    rho = [a / b for a, b in zip(_diag_products(X, Y), xx)]
    D = flint.arb_mat(len(ks), len(ks))
    for c, r in enumerate(rho):
        D[c, c] = r.mid()
    R = Y - X * D
    rr = _diag_products(R, R)
    out = []
    zero = flint.arb(0)
    for c, k in enumerate(ks):
        r = rho[c]
        # ||M x - s x|| >= ||M x - rho x|| for every shift s: the residual at rho's midpoint bounds eps
        e2 = (rr[c] / xx[c]).upper() if xx[c] > 0 else None
        alpha = hi[k + 1] if k + 1 < n else None
        beta = lo[k - 1] if k > 0 else None
        # (alpha, beta) holds no eigenvalue but lambda_k; Kato-Temple needs lambda_k itself in it
        # (its enclosure apart from the neighbours') and the Rayleigh quotient too
        isolated = (alpha is None or alpha < lo[k]) and (beta is None or hi[k] < beta)
        if e2 is None or not isolated or (alpha is not None and not (r > alpha)) or \
                (beta is not None and not (r < beta)):
            out.append(first[k])
            continue
        e2 = e2 if e2 > 0 else zero
        up = (r + e2 / (r - alpha)).upper() if alpha is not None else r.upper()
        down = (r - e2 / (beta - r)).lower() if beta is not None else r.lower()
        x = interval(down, up)
        out.append(x if x.rad() < first[k].rad() else first[k])
    return out


class Spectra:
    """What one evaluator knows of its spectra: per matrix the float eigenvectors and certified
    53-bit enclosures, per eigenvalue handle its enclosure at the working precision once refined
    (a second bound on the same matrices refines only what the first did not)."""

    def __init__(self, arrays):
        self.arrays = arrays
        self.float_env = self.arb_env = None
        self.mats: dict = {}       # expr -> (V, certified 53-bit enclosures)
        self.first: dict = {}      # handle -> 53-bit enclosure
        self.balls: dict = {}      # handle -> enclosure at the working precision

    def spectrum(self, kind, expr):
        """The ``spectrum`` callback of ``theory.Bound.spectral``: forms of eigenvalue handles."""
        if kind != "eig":
            raise Undecided(f"spectrum {kind!r}")
        if expr not in self.mats:
            if self.float_env is None:
                self.float_env = {s: _FloatOps().leaf(a) for s, a in self.arrays.items()}
            ball = _evaluate_matrix(expr, self.float_env, _FloatOps())
            if not isinstance(ball, FloatBall) or ball.shape[0] == 0:
                raise Undecided("not a square matrix")
            V, first = _eig_float(ball, vectors=True)
            if V is None or not all(x.is_finite() for x in first):
                raise Undecided("eigenvalues beyond float64")
            self.mats[expr] = (V, first)
            for k, x in enumerate(first):
                self.first[(expr, k)] = x
        return [_Form({((expr, k),): 1}) for k in range(len(self.mats[expr][1]))]

    def refine(self, handles, prec):
        need: dict = {}
        for expr, k in handles:
            if (expr, k) not in self.balls:
                need.setdefault(expr, set()).add(k)
        if need and self.arb_env is None:
            self.arb_env = {s: _ArbOps().leaf(a) for s, a in self.arrays.items()}
        for expr, ks in need.items():
            ks = sorted(ks)
            V, first = self.mats[expr]
            cache: dict = {}
            encl = _refine_eigenvalues(lambda X: _apply(expr, self.arb_env, X, cache), V, first, ks, prec)
            self.balls.update({(expr, k): x for k, x in zip(ks, encl)})
        return self.balls


def selected_spectra(bound, dims, spectra: Spectra, prec: int) -> dict:
    """``bound.spectral``'s values as arbs at ``prec`` bits (run in an Arb context at ``prec``),
    only the eigenvalues left after the cancellations refined; raises :class:`Undecided` where the
    float64 enclosures cannot decide a maximum or minimum."""
    forms = bound.spectral(dims, spectra.spectrum, _FormOps(spectra.first))
    forms = {k: _form(v) for k, v in forms.items()}
    balls = spectra.refine(set().union(*(f.handles() for f in forms.values())), prec)
    return {k: f.value(balls) for k, f in forms.items()}
