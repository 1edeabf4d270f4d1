"""Certified enclosures: spectra, bounds and inequalities in ball arithmetic (python-flint / Arb).

A value computed at 50 digits *suggests* an inequality; an enclosure *proves* it. Everything here
returns an :class:`flint.arb` ball that contains the exact value of the quantity at the inputs,
which are read as the exact binary numbers they are (a float64 ``0.1`` is
``3602879701896397 / 2**55``, not one tenth). Three layers:

* **matrices** -- a SymPy matrix expression of the inputs evaluated to a *ball matrix*: a float64
  midpoint with a rigorous Frobenius-norm radius (``prec = 53``, :class:`FloatBall`, the fast path:
  numpy/BLAS with a-priori rounding-error bounds), or an ``arb_mat`` at ``prec`` bits (any
  precision, all in Arb);
* **spectra** -- :func:`eigenvalues` of a symmetric ball matrix, decreasing, each an ``arb``:
  an approximate eigendecomposition ``V`` (float64 ``eigh``, refined in Arb past 53 bits by
  Ogita-Aishima steps) and a certificate that needs no assumption on ``V``: Ostrowski's theorem
  (``lambda_k(V^T A V) = theta_k lambda_k(A)`` with ``theta_k`` in the spectrum of ``V^T V``)
  plus Weyl's inequality (``lambda_k(D + F)`` lies within ``||F||_2`` of the ``k``-th largest entry
  of the diagonal ``D``); multiple or clustered eigenvalues need no special care. Singular values
  are the top eigenvalues of the Jordan-Wielandt matrix ``[[0, W], [W^T, 0]]`` (absolute accuracy,
  no squaring);
* **formulas and decisions** -- :class:`CertifiedEvaluator` substitutes the balls into a
  ``theory.Bound``'s instantiated expression (compiled once to straight-line Arb code; ``Max``/
  ``Min`` of overlapping balls are taken endpoint-wise, even powers are non-negative),
  :func:`decide` answers ``True`` / ``False`` / ``None`` (the whole ball satisfies the relation /
  violates it / straddles it), and :func:`certify` escalates the precision
  (:data:`PRECISIONS`: 53, 106, 212, 424, 848 bits) until the answer is decided. Undecided at
  the cap means *uncertified*, never *false*.

The 53-bit fast path rests on the standard a-priori bounds of IEEE-754 binary64 with rounding to
nearest (Higham, *Accuracy and Stability of Numerical Algorithms*, ch. 2-3; Rump, *Verification
methods*, Acta Numerica 2010): a dot product of length ``k`` computed in any order, with or
without FMA, has error at most ``gamma_k |x|^T |y|`` plus ``k eta`` for gradual underflow
(``gamma_k = k u / (1 - k u)``, ``u = 2^-53``, ``eta = 2^-1074``). That holds for numpy's BLAS
(classical matrix products; no Strassen-like algorithm). The bounds themselves are computed in
Arb. Past 53 bits nothing depends on float64.

Use from a claim::

    from flowcert.numerics import certify, decide, exact_ball
    # a scalar inequality of exact inputs: 2 * sqrt(2) > 2.8
    cert = certify(lambda prec: 2 * exact_ball(2).sqrt(), ">", "2.8")
    cert.holds      # True (proved), False (disproved) or None (undecided at every precision)
    cert.verdict_detail()  # "[2.828427124746190, 2.828427124746191] > 2.8 at 53 bits"

    # a bound of theory/ at given float64 weights
    from flowcert.numerics import certify_bound
    cert = certify_bound(theory.delta_star(), {W1: w1, W2: w2, W3: w3}, ">", 0)

    # one spectrum: eigenvalue enclosures of an exact symmetric float64 (or rational) matrix
    from flowcert.numerics import certified_eigenvalues
    lam = certified_eigenvalues(np.array([[2.0, 1.0], [1.0, 2.0]]))   # [3 +/- r, 1 +/- r]

``evaluate(prec)`` passed to :func:`certify` must return an ``arb`` that encloses the exact value
when computed at ``prec`` bits (build it from :func:`exact_ball`, ``flint.fmpq`` or the functions
here; python-flint's ``arb`` arithmetic is rigorous, its comparisons are three-valued).
"""
from __future__ import annotations

import contextlib
import functools
import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Mapping

import numpy as np
import sympy as sp

#: precisions (bits) tried in turn by :func:`certify`
PRECISIONS = (53, 106, 212, 424, 848)
RELATIONS = (">", ">=", "<", "<=")

_U = 2.0 ** -53      # unit round-off of binary64
_ETA = 2.0 ** -1074  # smallest subnormal
_TINY = 2.0 ** -500  # entries at least this large (or zero) cannot underflow in a product


def _flint():
    import flint
    return flint


@contextlib.contextmanager
def workprec(bits: int):
    """Arb's working precision inside the block (python-flint keeps it in a global context)."""
    flint = _flint()
    old = flint.ctx.prec
    flint.ctx.prec = int(bits)
    try:
        yield bits
    finally:
        flint.ctx.prec = old


# -- scalars -------------------------------------------------------------------------------------

def exact_ball(x):
    """An exact ``arb`` (radius 0) for a binary float, an int, a ``Fraction``/``fmpq``, or a
    rational or float SymPy number; a non-rational SymPy number is enclosed at the working precision.

    >>> print(exact_ball(0.5), exact_ball(Fraction(1, 4)))
    0.500000000000000 0.250000000000000
    """
    flint = _flint()
    if isinstance(x, flint.arb):
        return x
    if isinstance(x, (bool, np.bool_)):
        raise TypeError("exact_ball: a boolean is not a number")
    if isinstance(x, (int, np.integer)):
        return flint.arb(flint.fmpz(int(x)))
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if not math.isfinite(x):
            return flint.arb.pos_inf() if x > 0 else flint.arb.neg_inf() if x < 0 else flint.arb.nan()
        return flint.arb(x)  # arb_set_d: exact
    if isinstance(x, Fraction):
        return flint.arb(flint.fmpq(x.numerator, x.denominator))
    if isinstance(x, flint.fmpq):
        return flint.arb(x)
    if isinstance(x, str):
        return flint.arb(x)
    x = sp.sympify(x)
    if isinstance(x, sp.Float):
        x = sp.Rational(x)  # a SymPy Float is a binary float too: read it exactly
    if x.is_Rational:
        return flint.arb(flint.fmpq(int(x.p), int(x.q)))
    if x is sp.oo:
        return flint.arb.pos_inf()
    if x is -sp.oo:
        return flint.arb.neg_inf()
    # an algebraic/transcendental constant: its SymPy value at the working precision, widened
    digits = int(_flint().ctx.prec * 0.302) + 10
    return flint.arb(str(sp.N(x, digits))) * flint.arb(1, 2.0 ** -(_flint().ctx.prec - 2))


def lower(x) -> float:
    """The largest float at most the ball's lower end (for margins and printing)."""
    v = float(x.lower())
    if math.isfinite(v) and exact_ball(v) > x.lower():
        v = math.nextafter(v, -math.inf)
    return v


def upper(x) -> float:
    """The smallest float at least the ball's upper end."""
    v = float(x.upper())
    if math.isfinite(v) and exact_ball(v) < x.upper():
        v = math.nextafter(v, math.inf)
    return v


def interval(lo, hi):
    """A ball containing the exact points ``lo <= hi``, as small as Arb allows. A ball's radius is
    rounded up, so its lower end can dip below ``lo``; when ``lo >= 0`` (or ``hi <= 0``) the sign
    is kept, so that e.g. an even power stays certainly non-negative."""
    out = lo.union(hi)
    if lo >= 0 and not out >= 0:
        out = out.nonnegative_part()
    elif hi <= 0 and not out <= 0:
        out = -((-out).nonnegative_part())
    return out


def decide(x, relation: str = ">", rhs=0) -> bool | None:
    """``True`` if every point of the ball ``x`` satisfies ``x relation rhs``, ``False`` if none
    does, ``None`` if the ball straddles the boundary (or is NaN).

    >>> from flint import arb
    >>> decide(arb(1, 0.5), ">"), decide(arb(-1, 0.5), ">"), decide(arb(0, 0.5), ">")
    (True, False, None)
    >>> decide(arb(0), ">="), decide(arb(0), ">")
    (True, False)
    """
    if relation not in RELATIONS:
        raise ValueError(f"relation: expected one of {', '.join(RELATIONS)}, got {relation!r}")
    r = exact_ball(rhs) if not isinstance(rhs, _flint().arb) else rhs
    if relation == ">":
        yes, no = x > r, x <= r
    elif relation == ">=":
        yes, no = x >= r, x < r
    elif relation == "<":
        yes, no = x < r, x >= r
    else:
        yes, no = x <= r, x > r
    return True if yes else False if no else None


def fmt_ball(x, digits: int = 16) -> str:
    """``[lower, upper]`` with the ends rounded outwards at ``digits`` significant digits."""
    if x.is_nan():
        return "[nan]"
    lo, hi = ends(x)
    return f"[{_fmt_end(lo, digits, -1)}, {_fmt_end(hi, digits, +1)}]"


def ends(x):
    """The exact ends ``(lower, upper)`` of a ball, at a precision that does not round them."""
    bits = max(64, x.mid().bits() + 64) if x.is_finite() else 64
    with workprec(bits):
        return x.lower(), x.upper()


def _fmt_end(e, digits, direction) -> str:
    """An exact endpoint as a decimal string, rounded outwards (down for -1, up for +1)."""
    import decimal
    if e.is_nan():
        return "nan"
    if not e.is_finite():
        return "inf" if direction > 0 else "-inf"
    m, ex = (int(v) for v in e.mid().man_exp())
    if m == 0:
        return "0"
    exact_ctx = decimal.Context(prec=2 * (abs(ex) + m.bit_length()) + 20)
    value = exact_ctx.multiply(decimal.Decimal(m), exact_ctx.power(decimal.Decimal(2), ex))
    out = decimal.Context(prec=digits, rounding=decimal.ROUND_FLOOR if direction < 0
                          else decimal.ROUND_CEILING).plus(value)
    return str(out)


# -- scalar functions of balls (endpoint-wise, so overlapping balls stay correct) -----------------

def ball_max(*xs):
    """``{max(x1, x2, ...)}`` over the balls: ``[max of lower ends, max of upper ends]``."""
    out = xs[0]
    for y in xs[1:]:
        out = _max2(out, y)
    return out


def ball_min(*xs):
    """``{min(x1, x2, ...)}`` over the balls: ``[min of lower ends, min of upper ends]``."""
    out = xs[0]
    for y in xs[1:]:
        out = _min2(out, y)
    return out


def _max2(a, b):
    if a >= b:
        return a
    if b >= a:
        return b
    if a.is_nan() or b.is_nan():
        return _flint().arb.nan()
    la, lb, ua, ub = a.lower(), b.lower(), a.upper(), b.upper()
    return _exact_or_interval(la if la >= lb else lb, ua if ua >= ub else ub)


def _min2(a, b):
    if a <= b:
        return a
    if b <= a:
        return b
    if a.is_nan() or b.is_nan():
        return _flint().arb.nan()
    la, lb, ua, ub = a.lower(), b.lower(), a.upper(), b.upper()
    return _exact_or_interval(la if la <= lb else lb, ua if ua <= ub else ub)


class _Key:
    """Total order on exact arb points (their comparisons are then decisive)."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def __lt__(self, other):
        return bool(self.v < other.v)


def _exact_or_interval(lo, hi):
    return lo if bool(lo == hi) else interval(lo, hi)


def ball_abs(x):
    lo, hi = x.lower(), x.upper()
    if lo >= 0:
        return x
    if hi <= 0:
        return -x
    return interval(_flint().arb(0), ball_max(-lo, hi))


def ball_pow(x, p: int, q: int = 1):
    """``x^(p/q)``: integer powers exact in sign (even powers are >= 0), rational powers on
    ``x >= 0`` (NaN if the ball reaches below 0: the power is not real there)."""
    flint = _flint()
    if x.is_nan():
        return x
    if q == 1:
        if p == 2 and (x >= 0 or x <= 0):   # one sign: the product is an enclosure of the square
            return x * x
        if p == 0:
            return flint.arb(1)
        if p < 0:
            return 1 / ball_pow(x, -p)
        if p == 1:
            return x
        if p % 2 == 0:
            a = ball_abs(x)
            lo, hi = a.lower(), a.upper()
            return interval(_ipow(lo, p).lower(), _ipow(hi, p).upper()) if not bool(lo == hi) \
                else _ipow(lo, p)
        return _ipow(x, p)
    lo, hi = x.lower(), x.upper()
    if lo < 0:
        return flint.arb.nan()
    e = flint.arb(flint.fmpq(p, q))

    def f(t):
        if t.is_zero():
            return flint.arb(0)
        return t.sqrt() if (p, q) == (1, 2) else (t.log() * e).exp()
    if p < 0:
        if lo.is_zero():
            return flint.arb.nan()
        return interval(f(hi).lower(), f(lo).upper())
    return interval(f(lo).lower(), f(hi).upper()) if not bool(lo == hi) else f(lo)


def _ipow(x, p):
    out = x
    for _ in range(p - 1):
        out = out * x
    return out


def ball_sqrt(x):
    return ball_pow(x, 1, 2) if not (x.lower() >= 0) else x.sqrt()


# -- ball matrices: the fast float64 path ---------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _gamma(k: int):
    """``gamma_k = k u / (1 - k u)`` as an exact-enough arb upper bound."""
    flint = _flint()
    ku = flint.arb(flint.fmpq(k, 2 ** 53))
    return (ku / (1 - ku)).upper()


# Float overflow in the ball matrices is not an error: an infinite or NaN midpoint gives an
# infinite radius (_fro_up), which the callers see and answer in Arb; numpy's warning would only
# reach the user's terminal.
_quiet = np.errstate(over="ignore", invalid="ignore")


@_quiet
def _fro_up(X: np.ndarray):
    """Upper bound (arb) on ``||X||_F`` of an exact float array (its float evaluation bounded)."""
    flint = _flint()
    n = X.size
    if n == 0:
        return flint.arb(0)
    s = float(np.dot(X.ravel(), X.ravel()))
    if not math.isfinite(s):
        return flint.arb.pos_inf()
    if s == 0.0:
        # a sum of squares is 0 only if every square rounded to 0: each was below eta / 2
        return flint.arb(0) if not X.any() else (flint.arb(n) * _ETA).sqrt().upper()
    g = _gamma(n + 1)
    bound = (exact_ball(s) + flint.arb(2 * n) * exact_ball(_ETA)) / (1 - g)
    return bound.upper().sqrt().upper()


@_quiet
def _fro_lo(X: np.ndarray):
    flint = _flint()
    n = X.size
    s = float(np.dot(X.ravel(), X.ravel())) if n else 0.0
    if not math.isfinite(s) or s == 0.0:
        return flint.arb(0)
    g = _gamma(n + 1)
    lo = ((exact_ball(s) - flint.arb(2 * n) * exact_ball(_ETA)) / (1 + g)).lower()
    return lo.sqrt().lower() if lo > 0 else flint.arb(0)


def _may_underflow(*arrays) -> bool:
    for a in arrays:
        if a.size == 0:
            continue
        m = np.abs(a)
        if m.min() >= _TINY:
            continue
        if np.min(m, where=m != 0, initial=np.inf) < _TINY:
            return True
    return False


def _uf(k, shape, *arrays):
    """Frobenius bound of the gradual-underflow error of a product with ``k`` terms per entry
    (``arrays`` are the factors, or booleans saying whether a factor has tiny entries)."""
    flint = _flint()
    if not any(a if isinstance(a, bool) else _may_underflow(a) for a in arrays):
        return flint.arb(0)
    return (flint.arb(k) * exact_ball(_ETA) * flint.arb(int(np.prod(shape)) or 1).sqrt()).upper()


@dataclass
class FloatBall:
    """The set of matrices within Frobenius distance ``rad`` (an arb upper bound) of the float64
    matrix ``mid``. Operations return balls that contain every result of their inputs' points."""

    mid: np.ndarray
    rad: object

    @property
    def shape(self):
        return self.mid.shape

    @property
    def T(self):
        return FloatBall(self.mid.T, self.rad)

    def __neg__(self):
        return FloatBall(-self.mid, self.rad)

    @_quiet
    def __add__(self, other):
        C = self.mid + other.mid
        # |fl(a + b) - (a + b)| <= u |a + b| <= 2u |fl(a + b)|; additions never underflow
        rad = self.rad + other.rad + 2 * exact_ball(_U) * _fro_up(C)
        return FloatBall(C, rad.upper())

    def __sub__(self, other):
        return self + (-other)

    @_quiet
    def __matmul__(self, other):
        A, B = self.mid, other.mid
        C = A @ B
        na, nb = _fro_up(A), _fro_up(B)
        k = A.shape[1]
        # (A + E)(B + F) - fl(AB) = A F + E B + E F + (AB - fl(AB))
        rad = na * other.rad + self.rad * nb + self.rad * other.rad + _gamma(k) * na * nb \
            + _uf(k, C.shape, A, B)
        return FloatBall(C, rad.upper())

    @_quiet
    def scale(self, c):
        """``c * self`` for a rational (or float) ``c``, exactly enclosed."""
        cb = exact_ball(c)
        cf = float(cb.mid()) if cb.is_exact() else float(cb)
        dc = abs(cb - exact_ball(cf))
        C = cf * self.mid
        rad = abs(cb) * self.rad + dc * _fro_up(self.mid) + 2 * exact_ball(_U) * _fro_up(C) \
            + _uf(1, C.shape, self.mid, np.array([cf]))
        return FloatBall(C, rad.upper())

    @_quiet
    def kron(self, other):
        A, B = self.mid, other.mid
        C = np.kron(A, B)
        na, nb = _fro_up(A), _fro_up(B)
        rad = na * other.rad + self.rad * nb + self.rad * other.rad \
            + 2 * exact_ball(_U) * _fro_up(C) + _uf(1, C.shape, A, B)
        return FloatBall(C, rad.upper())


def _float_exact(a, name="input") -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype == object or np.iscomplexobj(arr):
        raise ValueError(f"{name}: expected a real float64 array (read exactly), got dtype {arr.dtype}")
    f = np.asarray(arr, dtype=float)
    if np.issubdtype(arr.dtype, np.integer) and not np.array_equal(f.astype(arr.dtype), arr):
        raise ValueError(f"{name}: integers too large to be read exactly as binary64")
    if not np.isfinite(f).all():
        raise ValueError(f"{name}: non-finite entries")
    return f


# -- ball matrices in Arb -------------------------------------------------------------------------

def _arb_mat(a: np.ndarray):
    flint = _flint()
    rows, cols = a.shape
    if rows == 0 or cols == 0:
        return flint.arb_mat(rows, cols)
    return flint.arb_mat(a.tolist())


def _arb_kron(A, B):
    flint = _flint()
    r1, c1, r2, c2 = A.nrows(), A.ncols(), B.nrows(), B.ncols()
    out = flint.arb_mat(r1 * r2, c1 * c2)
    for i in range(r1):
        for j in range(c1):
            a = A[i, j]
            if a.is_zero():
                continue
            for k in range(r2):
                for l in range(c2):
                    out[i * r2 + k, j * c2 + l] = a * B[k, l]
    return out


def _arb_fro_up(M):
    """Upper bound on the Frobenius norm of every matrix in the arb ball matrix ``M``: the ball sum
    of the entries' ball squares encloses every point's sum of squares."""
    flint = _flint()
    if M.nrows() == 0 or M.ncols() == 0:
        return flint.arb(0)
    # entry by entry (n^2 ball squares), not tr(M^T M) (an n^3 product: 0.2 s at n = 200, 170 bits)
    s = flint.arb(0)
    for x in M.entries():
        s += x * x
    s = s.upper()
    return s.sqrt().upper() if s > 0 else flint.arb(0)


# -- matrix expressions ---------------------------------------------------------------------------

class _FloatOps:
    name = "float64"

    def leaf(self, a):
        return FloatBall(a, _flint().arb(0))

    def eye(self, k):
        return self.leaf(np.eye(k))

    def zeros(self, r, c):
        return self.leaf(np.zeros((r, c)))

    def add(self, a, b):
        return a + b

    def mul(self, a, b):
        return a @ b

    def T(self, a):
        return a.T

    def scale(self, a, c):
        return a if c == 1 else a.scale(c)

    def kron(self, a, b):
        return a.kron(b)

    def shape(self, a):
        return a.shape


class _ArbOps:
    name = "arb"

    def leaf(self, a):
        return _arb_mat(a)

    def eye(self, k):
        return _flint().arb_mat.eye(k) if hasattr(_flint().arb_mat, "eye") else \
            _flint().arb_mat([[1 if i == j else 0 for j in range(k)] for i in range(k)])

    def zeros(self, r, c):
        return _flint().arb_mat(r, c)

    def add(self, a, b):
        return a + b

    def mul(self, a, b):
        return a * b

    def T(self, a):
        return a.transpose()

    def scale(self, a, c):
        return a if c == 1 else a * exact_ball(c)

    def kron(self, a, b):
        return _arb_kron(a, b)

    def shape(self, a):
        return (a.nrows(), a.ncols())


def _evaluate_matrix(expr, env: Mapping, ops):
    """``expr`` (MatrixSymbol, Transpose, MatAdd, MatMul, MatPow, KroneckerProduct, Identity,
    ZeroMatrix; numeric coefficients) evaluated on the ball matrices bound in ``env``."""
    memo: dict = {}
    shapes = {s: ops.shape(v) for s, v in env.items()}

    def dim(d):
        d = sp.sympify(d)
        if d.is_Integer:
            return int(d)
        for s, (r, c) in shapes.items():
            if s.rows == d:
                return r
            if s.cols == d:
                return c
        raise ValueError(f"dimension {d} is not the size of any bound matrix")

    def go(e):
        if e in memo:
            return memo[e]
        if isinstance(e, sp.MatrixSymbol):
            if e not in env:
                raise KeyError(f"no array bound to {e}")
            out = env[e]
        elif isinstance(e, sp.Transpose):
            out = ops.T(go(e.arg))
        elif isinstance(e, sp.MatAdd):
            args = [go(a) for a in e.args]
            out = args[0]
            for a in args[1:]:
                out = ops.add(out, a)
        elif isinstance(e, sp.MatMul):
            coeff = sp.Mul(*[a for a in e.args if not a.is_Matrix])
            fs = [go(a) for a in e.args if a.is_Matrix]
            out = fs[0]
            for f in fs[1:]:
                out = ops.mul(out, f)
            out = ops.scale(out, coeff)
        elif isinstance(e, sp.MatPow) and e.exp.is_Integer and e.exp > 0:
            base = out = go(e.base)
            for _ in range(int(e.exp) - 1):
                out = ops.mul(out, base)
        elif isinstance(e, sp.KroneckerProduct):
            fs = [go(a) for a in e.args]
            out = fs[0]
            for f in fs[1:]:
                out = ops.kron(out, f)
        elif isinstance(e, sp.Identity):
            out = ops.eye(dim(e.rows))
        elif isinstance(e, sp.ZeroMatrix):
            out = ops.zeros(dim(e.rows), dim(e.cols))
        else:
            raise TypeError(f"certified evaluation: unsupported matrix node {type(e).__name__}: {e}")
        memo[e] = out
        return out

    return go(expr)


# -- spectra --------------------------------------------------------------------------------------

def _sorted_enclosures(d_mid, f, g, rho, order=None):
    """``lambda_k in (d_(k) +- f) / [1 - g, 1 + g] +- rho`` for the decreasing order of ``d``
    (``order``: that order if known, ties in index order)."""
    flint = _flint()
    if not (g < 1):
        return [flint.arb.nan()] * len(d_mid)
    theta = interval((1 - g).lower(), (1 + g).upper())
    fr = interval(-f, f) if not f.is_zero() else flint.arb(0)
    rr = interval(-rho, rho) if not rho.is_zero() else flint.arb(0)
    if order is None:
        order = sorted(range(len(d_mid)), key=lambda i: _Key(d_mid[i]), reverse=True)
    out = []
    for i in order:
        x = (d_mid[i] + fr) / theta if not (f.is_zero() and g.is_zero()) else d_mid[i]
        out.append(x + rr if not rho.is_zero() else x)
    return out


# a matrix near float64's limit overflows in its norms and products: the bounds then hold
# infinities (an unusable, never a wrong, enclosure), so numpy's warnings say nothing more
@np.errstate(over="ignore", invalid="ignore")
def _eig_float(b: FloatBall, vectors: bool = False):
    """Eigenvalue enclosures (decreasing) of the symmetric matrices in a float ball; with
    ``vectors``, ``(V, enclosures)``, ``V`` the float eigenvectors (columns in increasing order)."""
    flint = _flint()
    M = b.mid
    n = M.shape[0]
    if n == 0:
        return (np.zeros((0, 0)), []) if vectors else []
    Ms = (M + M.T) * 0.5
    # the true matrix A is symmetric: ||A - (M + M^T)/2||_F <= rad; the float average rounds
    rho = b.rad + 2 * exact_ball(_U) * _fro_up(Ms) + _uf(1, Ms.shape, M)
    if not np.isfinite(Ms).all():
        out = [flint.arb.nan()] * n
        return (None, out) if vectors else out
    if not Ms.any():
        out = [interval(-rho.upper(), rho.upper()) if not rho.is_zero() else flint.arb(0)] * n
        return (np.eye(n), out) if vectors else out
    w, V = np.linalg.eigh(Ms)
    P = Ms @ V
    S = V.T @ P
    G = V.T @ V - np.eye(n)
    nM, nV, nP = _fro_up(Ms), _fro_up(V), _fro_up(P)
    # G: V^T V rounded (gamma_n), then I subtracted (<= 2u |fl(G)|)
    tM, tV, tP = _may_underflow(Ms), _may_underflow(V), _may_underflow(P)
    eG = _gamma(n) * nV * nV + _uf(n, G.shape, tV) + 2 * exact_ball(_U) * _fro_up(G)
    g = (_fro_up(G) + eG).upper()
    # ||V||_2^2 = lambda_max(V^T V) <= 1 + ||V^T V - I||_2
    nV2 = (1 + g).sqrt().upper()
    eP = _gamma(n) * nM * nV + _uf(n, P.shape, tM, tV)                 # ||P - Ms V||_F
    eS = _gamma(n) * nV * nP + _uf(n, S.shape, tV, tP) + nV2 * eP        # ||S - V^T Ms V||_F
    d = np.diag(S).copy()
    off = S - np.diag(d)
    f = (_fro_up(off) + eS).upper()
    A = _flint().arb
    # arb(float) is exact: the floats' order is the points' (a stable sort keeps ties in index order)
    out = _sorted_enclosures([A(x) for x in d.tolist()], f, g, rho.upper(),
                             np.argsort(-d, kind="stable").tolist())
    return (V, out) if vectors else out


# its float estimates (which pairs count as separated) may overflow near float64's limit and
# then only make the refinement treat more pairs as a cluster; they never enter an enclosure
@np.errstate(over="ignore", invalid="ignore")
def _refine(A_mid, X, steps: int):
    """Ogita-Aishima (2018) refinement of approximate eigenvectors ``X`` (arb_mat of exact
    entries) of the symmetric ``A_mid`` at the working precision; quadratic for separated
    eigenvalues, harmless (first-order) in clusters. The n^3 work is in arb_mat products (C); the
    elementwise step runs over numpy object arrays of arb (no interpreter loop per entry)."""
    flint = _flint()
    n = X.nrows()
    eye = _eye_arb(n)
    prec = flint.ctx.prec
    nA = None
    for k in range(steps):
        # each step doubles the correct bits (from float64's ~45): until the last, work at the
        # precision the step can use, where the products cost less
        flint.ctx.prec = prec if k == steps - 1 else min(prec, 45 * 2 ** (k + 1) + 20)
        try:
            R = (eye - X.transpose() * X).mid()
            S = (X.transpose() * (A_mid * X)).mid()
            Ro = np.array(R.entries(), dtype=object).reshape(n, n)
            So = np.array(S.entries(), dtype=object).reshape(n, n)
            lam = np.array([So[i, i] / (1 - Ro[i, i]) for i in range(n)], dtype=object)
            # which pairs count as separated: a float estimate is enough (the enclosure does
            # not depend on it, only how fast a cluster's vectors improve)
            Sf, Rf = (np.array([float(x) for x in M.entries()]).reshape(n, n) for M in (S, R))
            if nA is None:
                nA = float(np.linalg.norm([float(x) for x in A_mid.entries()]))
            delta = 2 * (np.linalg.norm(Sf - np.diag(np.diag(Sf))) + nA * np.linalg.norm(Rf))
            gap = lam[None, :] - lam[:, None]                      # lambda_j - lambda_i
            lamf = np.array([float(x.mid()) for x in lam])
            sep = np.abs(lamf[None, :] - lamf[:, None]) > delta
            np.fill_diagonal(sep, False)
            one = flint.arb(1)
            E = Ro / 2
            num = So + Ro * lam[None, :]
            E[sep] = num[sep] / np.where(sep, gap, one)[sep]
            X = (X + X * flint.arb_mat(E.tolist()).mid()).mid()
        finally:
            flint.ctx.prec = prec
    return X


def _refine_float_steps(A_mid, X, steps: int):
    """Ogita-Aishima steps as :func:`_refine`, the correction ``E`` formed in float64: its entries
    are ~2^-b after b correct bits, and a step needs them to about b relative bits only while b
    stays under ~50 -- and past that, to the bits still missing, which float64 also carries.
    The products stay in Arb at the working precision; the n^2 elementwise work is numpy's."""
    flint = _flint()
    n = X.nrows()
    eye = _eye_arb(n)
    nA = float(np.linalg.norm([float(x) for x in A_mid.entries()]))
    prec = flint.ctx.prec
    for k in range(steps):
        # step k can make at most ~45 2^(k+1) bits correct: its products need no more
        flint.ctx.prec = min(prec, 45 * 2 ** (k + 1) + 30)
        R = np.array([float(x) for x in (eye - X.transpose() * X).mid().entries()]).reshape(n, n)
        S = np.array([float(x) for x in (X.transpose() * (A_mid * X)).mid().entries()]).reshape(n, n)
        lam = np.diag(S) / (1 - np.diag(R))
        delta = 2 * (np.linalg.norm(S - np.diag(np.diag(S))) + nA * np.linalg.norm(R))
        gap = lam[None, :] - lam[:, None]
        sep = np.abs(gap) > delta
        np.fill_diagonal(sep, False)
        E = R / 2
        E[sep] = (S + R * lam[None, :])[sep] / gap[sep]
        X = (X + X * flint.arb_mat(E.tolist())).mid()
    flint.ctx.prec = prec
    return X


def _eye_arb(n):
    return _flint().arb_mat([[1 if i == j else 0 for j in range(n)] for i in range(n)])


def _eig_arb(A) -> list:
    """Eigenvalue enclosures (decreasing) of the symmetric matrices in the arb ball matrix ``A``."""
    flint = _flint()
    n = A.nrows()
    if n == 0:
        return []
    At = A.transpose()
    As = (A + At) * flint.arb(0.5)  # exact halving; contains the symmetric true matrix
    mid = As.mid()
    Mf = np.array([[float(mid[i, j]) for j in range(n)] for i in range(n)])
    if not np.isfinite(Mf).all():
        # entries beyond float64's range: the spectrum of 2^-e A, scaled back exactly
        e = max((int(ex) + int(man).bit_length() for man, ex in
                 (x.mid().man_exp() for x in mid.entries() if x.is_finite() and not x.is_zero())), default=None)
        if e is None or not all(x.is_finite() for x in As.entries()):
            return [flint.arb.nan()] * n
        scale = flint.arb(2) ** e
        return [x * scale for x in _eig_arb(A / scale)]
    _, V = np.linalg.eigh((Mf + Mf.T) / 2)
    X = _arb_mat(V)
    prec = flint.ctx.prec
    steps = max(0, math.ceil(math.log2(prec / 45.0)))
    if steps:
        X = _refine(mid, X, steps)
    B = X.transpose() * (As * X)
    G = X.transpose() * X - _eye_arb(n)
    d = [B[i, i].mid() for i in range(n)]
    F = flint.arb_mat(n, n)
    for i in range(n):
        for j in range(n):
            F[i, j] = B[i, j] - d[i] if i == j else B[i, j]
    f = _arb_fro_up(F)
    g = _arb_fro_up(G)
    return _sorted_enclosures(d, f, g, flint.arb(0))


def _eig_arb_quadratic(A):
    """Eigenvalue enclosures (decreasing) of the symmetric matrices in the arb ball ``A``, of
    width ~ (residual)^2 / gap instead of ~ residual: Kato-Temple's bound.

    For a vector ``x`` with Rayleigh quotient ``rho`` and residual ``eps = ||M x - rho x|| / ||x||``,
    if ``(alpha, beta)`` holds ``rho`` and exactly one eigenvalue ``lambda`` of the symmetric
    ``M``, then ``rho - eps^2 / (beta - rho) <= lambda <= rho + eps^2 / (rho - alpha)``. The
    neighbours' certified first-order enclosures (from float64, cheap) give ``alpha`` and
    ``beta``; float eigenvectors refined to half the working precision (Ogita-Aishima, products at
    that half) make ``eps^2`` ~2^-prec relative, where the first-order enclosure needs them at the
    full precision. Returns None where an eigenvalue is not isolated at float precision (a
    cluster): the caller falls back to the first-order enclosure. ``M`` is the midpoint of the
    symmetrised ball; its radius enters through Weyl's inequality."""
    flint = _flint()
    n = A.nrows()
    At = A.transpose()
    As = (A + At) * flint.arb(0.5)
    M = As.mid()
    Mf = np.array([float(x) for x in M.entries()]).reshape(n, n)
    if not np.isfinite(Mf).all():
        return None
    rho_a = _arb_fro_up(As - M)                         # Weyl: the ball's own radius
    rad_f = _arb_fro_up(M - _arb_mat(Mf))               # M rounded to float64 for the isolation
    V, first = _eig_float(FloatBall(Mf, rad_f), vectors=True)   # vectors, and isolating intervals
    lo = [x.lower() for x in first]
    hi = [x.upper() for x in first]
    if any(not (x.is_finite() and y.is_finite()) for x, y in zip(lo, hi)):
        return None
    if any(not (hi[k + 1] < lo[k]) for k in range(n - 1)):
        return None                                     # a cluster: not isolated at float precision
    prec = flint.ctx.prec
    # eps^2 needs half the working precision in the vectors (float64 gives ~45 bits, a step
    # doubles them): the refinement runs at that half, plus guard bits, where products cost less
    X = _arb_mat(V)
    need = prec / 2 + 10
    steps = max(0, math.ceil(math.log2(need / 45.0)))
    if steps:
        flint.ctx.prec = min(prec, int(need) + 40)
        try:
            X = _refine_float_steps(M, X, steps)
        finally:
            flint.ctx.prec = prec
    Y = M * X
    Xo = np.array(X.entries(), dtype=object).reshape(n, n)
    Yo = np.array(Y.entries(), dtype=object).reshape(n, n)
    xx = (Xo * Xo).sum(axis=0)
    xy = (Xo * Yo).sum(axis=0)
    yy = (Yo * Yo).sum(axis=0)
    out = []
    zero = flint.arb(0)
    for k in range(n):                                  # V's columns in increasing order of eigenvalue
        j = n - 1 - k                                   # the k-th largest
        if not (xx[j] > 0):
            return None
        rho = xy[j] / xx[j]
        e2 = (yy[j] / xx[j] - rho * rho).upper()
        e2 = e2 if e2 > 0 else zero
        alpha = hi[k + 1] if k + 1 < n else None
        beta = lo[k - 1] if k > 0 else None
        if (alpha is not None and not (rho > alpha)) or (beta is not None and not (rho < beta)):
            return None
        up = (rho + e2 / (rho - alpha)).upper() if alpha is not None else rho.upper()
        down = (rho - e2 / (beta - rho)).lower() if beta is not None else rho.lower()
        x = interval(down, up)
        # never wider than the first-order enclosure, which is certified too
        out.append(x if x.rad() < first[k].rad() else first[k])
    if not rho_a.is_zero():
        w = interval(-rho_a, rho_a)
        out = [x + w for x in out]
    return out


def eigenvalues(ball) -> list:
    """Enclosures of the eigenvalues, decreasing, of the symmetric matrices in a ball matrix
    (:class:`FloatBall` or ``arb_mat``); the k-th ball contains the k-th largest eigenvalue."""
    if isinstance(ball, FloatBall):
        return _eig_float(ball)
    return _eig_arb(ball)


def singular_values(ball) -> list:
    """Enclosures of the singular values, decreasing (``min(rows, cols)`` of them)."""
    flint = _flint()
    if isinstance(ball, FloatBall):
        r, c = ball.shape
        J = np.zeros((r + c, r + c))
        J[:r, r:] = ball.mid
        J[r:, :r] = ball.mid.T
        two = exact_ball(2).sqrt().upper()
        ev = _eig_float(FloatBall(J, (ball.rad * two).upper()))
    else:
        r, c = ball.nrows(), ball.ncols()
        J = flint.arb_mat(r + c, r + c)
        for i in range(r):
            for j in range(c):
                J[i, r + j] = ball[i, j]
                J[r + j, i] = ball[i, j]
        ev = _eig_arb(J)
    return [_nonneg(x) for x in ev[:min(r, c)]]


def _nonneg(x):
    """A ball for a quantity known to be >= 0: its part at or above 0."""
    if x.is_nan() or x.lower() >= 0:
        return x
    hi = x.upper()
    return _flint().arb(0) if hi <= 0 else interval(_flint().arb(0), hi)


def frobenius(ball):
    flint = _flint()
    if isinstance(ball, FloatBall):
        lo = _fro_lo(ball.mid) - ball.rad
        hi = _fro_up(ball.mid) + ball.rad
        lo = lo.lower() if lo.lower() > 0 else flint.arb(0)
        return _exact_or_interval(lo, hi.upper())
    s = flint.arb(0)
    for x in ball.entries():
        s += ball_pow(x, 2)
    return ball_sqrt(s)


def matrix_ball(a, prec: int = 53):
    """A ball matrix holding exactly the float64 (or integer) array ``a``: a :class:`FloatBall`
    at 53 bits, an ``arb_mat`` above."""
    a = _float_exact(a)
    return FloatBall(a, _flint().arb(0)) if prec <= 53 else _arb_mat(a)


def certified_eigenvalues(a, prec: int = 53) -> list:
    """Enclosures (decreasing) of the eigenvalues of the exact symmetric float64 matrix ``a``.

    >>> ev = certified_eigenvalues(np.array([[2.0, 1.0], [1.0, 2.0]]))
    >>> [decide(x, ">", 2.999) and decide(x, "<", 3.001) for x in ev[:1]]
    [True]
    """
    with workprec(prec):
        return eigenvalues(matrix_ball(a, prec))


# -- bound formulas -------------------------------------------------------------------------------

def compile_scalar(expr, symbols) -> Callable:
    """``f(*balls)``: the SymPy scalar ``expr`` in ``symbols`` as straight-line Arb code (one
    assignment per distinct node, so 10^4-node expressions compile in milliseconds and never hit
    the parser's nesting limit). Numbers are exact (rationals stay rationals); ``Max``, ``Min``,
    ``Abs``, integer and rational powers (``sqrt``) are taken endpoint-wise."""
    flint = _flint()
    names = {s: f"a{i}" for i, s in enumerate(symbols)}
    consts: dict = {}
    lines: list[str] = []
    memo: dict = {}

    def const(v):
        key = ("c", v)
        if key not in consts:
            consts[key] = (f"c{len(consts)}", v)
        return consts[key][0]

    def go(e):
        if e in names:
            return names[e]
        if e in memo:
            return memo[e]
        if e.is_Number or e in (sp.oo, -sp.oo):
            if e is sp.nan:
                raise ValueError("compile_scalar: NaN in the expression")
            r = const(e)
        elif isinstance(e, sp.Add):
            r = " + ".join(go(a) for a in e.args)
        elif isinstance(e, sp.Mul):
            r = " * ".join(go(a) for a in e.args)
        elif isinstance(e, sp.Pow):
            ex = e.exp
            if not ex.is_Rational:
                raise ValueError(f"compile_scalar: non-rational exponent in {e}")
            r = f"_pow({go(e.base)}, {int(ex.p)}, {int(ex.q)})"
        elif isinstance(e, sp.Max):
            r = f"_max({', '.join(go(a) for a in e.args)})"
        elif isinstance(e, sp.Min):
            r = f"_min({', '.join(go(a) for a in e.args)})"
        elif isinstance(e, sp.Abs):
            r = f"_abs({go(e.args[0])})"
        elif isinstance(e, sp.Symbol):
            raise ValueError(f"compile_scalar: free symbol {e} has no value")
        else:
            raise ValueError(f"compile_scalar: unsupported node {type(e).__name__} in {e}")
        t = f"t{len(memo)}"
        lines.append(f"    {t} = {r}")
        memo[e] = t
        return t

    out = go(sp.sympify(expr))
    src = f"def _f({', '.join(names[s] for s in symbols)}):\n" + "\n".join(lines) + f"\n    return {out}\n"
    ns = {"_pow": ball_pow, "_max": ball_max, "_min": ball_min, "_abs": ball_abs}
    code = compile(src, "<certified bound>", "exec")
    cache: dict = {}

    def fn(*args):
        prec = flint.ctx.prec
        if prec not in cache:   # constants at the precision of the call
            env = dict(ns)
            for name, v in consts.values():
                env[name] = exact_ball(v)
            exec(code, env)
            cache[prec] = env["_f"]
        return cache[prec](*args)

    return fn


_COMPILED: dict = {}


class CertifiedEvaluator:
    """Enclosures of the spectral quantities of one set of float64 matrices (read exactly) and of
    the ``theory.Bound`` formulas built on them, at ``prec`` bits; each spectrum computed once.

    ``prec = 53`` uses the float64 fast path (:class:`FloatBall`); higher precisions compute in
    Arb, with ``quadratic`` eigenvalue enclosures of Kato-Temple's bound where they apply. Conventions as :class:`flowcert.numerics.Evaluator`: ``lambda_j = +inf`` for ``j <= 0``, ``-inf``
    past the order; ``sigma_k = 0`` past ``min(rows, cols)``.
    """

    def __init__(self, values: Mapping, prec: int = 53, quadratic: bool = False, select: bool = True):
        self.prec = int(prec)
        # Kato-Temple enclosures of eigenvalues (width ~ residual^2 / gap) where every eigenvalue
        # is isolated at float precision: what a many-digit value needs, at a fraction of the cost
        self.quadratic = bool(quadratic) and self.prec > 53
        # with quadratic, a bound over whole spectra refines only the eigenvalues it keeps
        self.select = bool(select)
        self._selected = None
        self.symbols = tuple(values)
        self.arrays = {s: _float_exact(values[s], str(s)) for s in self.symbols}
        self._ops = _FloatOps() if self.prec <= 53 else _ArbOps()
        self._env = None
        self._matrices: dict = {}
        self._spectra: dict = {}

    @property
    def method(self) -> str:
        return "float64 + a-priori bounds" if self.prec <= 53 else "arb"

    def _ctx(self):
        return workprec(self.prec)

    def matrix(self, expr):
        with self._ctx():
            if self._env is None:
                self._env = {s: self._ops.leaf(a) for s, a in self.arrays.items()}
            if expr not in self._matrices:
                self._matrices[expr] = _evaluate_matrix(expr, self._env, self._ops)
            return self._matrices[expr]

    def spectrum(self, kind: str, expr):
        key = (kind, expr)
        if key not in self._spectra:
            m = self.matrix(expr)
            with self._ctx():
                fn = {"eig": eigenvalues, "sv": singular_values, "fro": frobenius}[kind]
                quick = _eig_arb_quadratic(m) if self.quadratic and kind == "eig" and m.nrows() else None
                self._spectra[key] = quick if quick is not None else fn(m)
        return self._spectra[key]

    def quantity(self, q):
        flint = _flint()
        spec = self.spectrum(q.kind, q.matrix)
        if q.kind == "fro":
            return spec
        k = int(q.index)
        if q.kind == "eig":
            if k <= 0:
                return flint.arb.pos_inf()
            return spec[k - 1] if k <= len(spec) else flint.arb.neg_inf()
        return spec[k - 1] if 1 <= k <= len(spec) else flint.arb(0)

    def dims(self, network) -> dict:
        from ._spectral import Evaluator
        return Evaluator.dims(_Shapes(self.arrays), network)

    def bound(self, bound, constants: Mapping | None = None):
        """Enclosure of a :class:`flowcert.theory.Bound` at these matrices."""
        dims = self.dims(bound.network)
        if bound.spectral is not None:
            return self._from_spectra(bound, dims, constants)
        key = (bound.name, bound.network.depth, tuple(sorted((str(k), v) for k, v in dims.items())),
               tuple(sorted((str(k), str(v)) for k, v in (constants or {}).items())))
        hit = _COMPILED.get(key)
        if hit is None:
            expr, qs = bound.instantiate(dims)
            consts = dict(bound.constants)
            consts.update(constants or {})
            expr = sp.sympify(expr)
            used = {k: v for k, v in consts.items() if k in expr.free_symbols}
            if used:   # a 10^4-node expression: subs only when a constant occurs
                expr = expr.subs(used)
            syms = list(qs)
            hit = _COMPILED[key] = (compile_scalar(expr, syms), [qs[s] for s in syms])
        fn, qs = hit
        vals = [self.quantity(q) for q in qs]
        with self._ctx():
            return fn(*vals)

    def _from_spectra(self, bound, dims, constants):
        """A bound given over whole spectra (see ``theory.Bound.spectral``): ball max/min/sum over
        the certified spectra, then its few-symbol formula compiled once (not per widths)."""
        from flowcert.theory import Ops
        flint = _flint()

        def total(xs):
            s = flint.arb(0)
            for x in xs:
                s += x
            return s

        ops = Ops(lambda *a: functools.reduce(_max2, a), lambda *a: functools.reduce(_min2, a), total,
                  flint.arb(0))
        vals = None
        with self._ctx():
            if self.quadratic and self.select:
                from ._selected import Spectra, Undecided, selected_spectra
                if self._selected is None:
                    self._selected = Spectra(self.arrays)
                try:
                    vals = selected_spectra(bound, dims, self._selected, self.prec)
                except Undecided:
                    vals = None     # a decision float64 cannot make: the whole spectra
            if vals is None:
                vals = bound.spectral(dims, self.spectrum, ops)
        key = (bound.name, "spectral", tuple(sorted((str(k), str(v)) for k, v in (constants or {}).items())))
        fn = _COMPILED.get(key)
        if fn is None:
            consts = {**bound.constants, **(constants or {})}
            expr = sp.sympify(bound.expr).xreplace({k: sp.sympify(v) for k, v in consts.items()})
            fn = _COMPILED[key] = compile_scalar(expr, list(vals))
        with self._ctx():
            return fn(*vals.values())


class _Shapes:
    """Just enough of an Evaluator for ``Evaluator.dims``."""

    def __init__(self, arrays):
        self.symbols = tuple(arrays)
        self.arrays = tuple(arrays[s] for s in self.symbols)


# -- certification --------------------------------------------------------------------------------

@dataclass
class Certificate:
    """Outcome of :func:`certify`: ``holds`` is True (proved), False (disproved) or None
    (undecided at every precision tried: *uncertified*, not false)."""

    holds: bool | None
    enclosure: object          # the arb of the last precision tried
    prec: int                  # bits of that precision
    relation: str
    rhs: object
    attempts: list = field(default_factory=list)   # [(bits, decision, seconds)]
    seconds: float = 0.0

    @property
    def certified(self) -> bool:
        return self.holds is not None

    def interval(self, digits: int = 16) -> str:
        return fmt_ball(self.enclosure, digits)

    def margin(self) -> float:
        """Signed distance of the ball from the boundary (positive when it holds)."""
        x, r = self.enclosure, exact_ball(self.rhs) if not isinstance(self.rhs, _flint().arb) else self.rhs
        if x.is_nan():
            return float("nan")
        lo, hi = ends(x)
        if self.relation in (">", ">="):
            d = lo - r if self.holds is not False else hi - r
        else:
            d = r - hi if self.holds is not False else r - lo
        return float(d.mid())

    def verdict_detail(self, digits: int = 16) -> str:
        word = {True: "certified", False: "disproved", None: "undecided"}[self.holds]
        return f"{self.interval(digits)} {self.relation} {self.rhs} {word} at {self.prec} bits"

    def to_json(self, digits: int = 20) -> dict:
        x = self.enclosure
        lo, hi = ends(x) if not x.is_nan() else (None, None)
        return {"certified": self.holds is True, "holds": self.holds,
                "enclosure": [_fmt_end(lo, digits, -1), _fmt_end(hi, digits, +1)]
                if not x.is_nan() else None,
                "midpoint": x.mid().str(digits, radius=False) if not x.is_nan() else None,
                "radius": x.rad().str(3, radius=False) if not x.is_nan() else None,
                "relation": f"{self.relation} {self.rhs}", "bits": self.prec,
                "attempts": [{"bits": b, "decided": d is not None, "seconds": round(s, 4)}
                             for b, d, s in self.attempts],
                "seconds": round(self.seconds, 4)}


def certify(evaluate: Callable[[int], object], relation: str = ">", rhs=0,
            precisions=PRECISIONS) -> Certificate:
    """Decide ``evaluate(prec) relation rhs`` with balls, escalating the precision.

    ``evaluate(prec)`` returns an ``arb`` enclosing the exact value, computed at ``prec`` bits
    (it runs with the Arb context at ``prec``). The first decided answer is returned; a ball that
    straddles the boundary at every precision gives ``holds=None``. An exception inside
    ``evaluate`` (e.g. an eigenvalue cluster that cannot be separated) counts as undecided.

    >>> from flint import arb
    >>> c = certify(lambda prec: arb(2).sqrt() * arb(2).sqrt(), ">=", 2)   # sqrt(2)^2 >= 2 ?
    >>> c.holds, c.prec     # never decided: the exact value sits on the boundary
    (None, 848)
    >>> certify(lambda prec: arb(1) / 3, ">", Fraction(33, 100)).holds
    True
    """
    if relation not in RELATIONS:
        raise ValueError(f"relation: expected one of {', '.join(RELATIONS)}, got {relation!r}")
    precisions = tuple(precisions)
    if not precisions:
        raise ValueError("precisions: expected at least one precision")
    t0 = time.perf_counter()
    attempts = []
    x = None
    for prec in precisions:
        t1 = time.perf_counter()
        # float64 balls that overflow become NaN balls, which escalate to Arb (exponents
        # unbounded): the overflow is expected, not worth a warning
        with workprec(prec), np.errstate(over="ignore", invalid="ignore"):
            try:
                x = evaluate(prec)
                ans = decide(x, relation, rhs)
            except (ValueError, ZeroDivisionError, ArithmeticError):
                x, ans = _flint().arb.nan(), None
        attempts.append((prec, ans, time.perf_counter() - t1))
        if ans is not None:
            break
    return Certificate(ans, x, prec, relation, rhs, attempts, time.perf_counter() - t0)


def certify_bound(bound, values: Mapping, relation: str = ">", rhs=0, constants: Mapping | None = None,
                  precisions=PRECISIONS) -> Certificate:
    """:func:`certify` applied to a ``theory.Bound`` at float64 matrices ``values`` (read exactly)."""
    evs: dict = {}

    def evaluate(prec):
        ev = evs.setdefault(prec, CertifiedEvaluator(values, prec))
        return ev.bound(bound, constants)

    return certify(evaluate, relation, rhs, precisions)
