"""One precision context for every backend, scoped like mpmath's ``workdps``."""
from __future__ import annotations

import contextlib
import contextvars
from fractions import Fraction

import mpmath
import numpy as np
from mpmath.libmp import from_rational, round_nearest

#: ``None`` means float64 numpy; an integer means mpmath at that many decimal digits.
_DPS: contextvars.ContextVar[int | None] = contextvars.ContextVar("flowcert_dps", default=None)

FLOAT64_DPS = 15  # what float64 resolves, for tolerances
MAX_DPS = 100_000


def check_dps(dps) -> int | None:
    """Validate a precision argument: ``None`` (float64) or a positive integer number of digits."""
    if dps is None:
        return None
    if isinstance(dps, bool) or not isinstance(dps, (int, np.integer)):
        raise ValueError(f"dps: expected a positive integer number of digits, got {dps!r}")
    if not 1 <= int(dps) <= MAX_DPS:
        raise ValueError(f"dps: expected 1 <= dps <= {MAX_DPS}, got {dps}")
    return int(dps)


@contextlib.contextmanager
def workdps(dps: int | None):
    """Evaluate at ``dps`` decimal digits (mpmath) inside the block; ``None`` selects float64.

    >>> with workdps(30):
    ...     current_dps()
    30
    >>> current_dps() is None
    True
    """
    dps = check_dps(dps)
    token = _DPS.set(dps)
    try:
        if dps is None:
            yield None
        else:
            with mpmath.workdps(dps):
                yield dps
    finally:
        _DPS.reset(token)


def current_dps() -> int | None:
    return _DPS.get()


def eps() -> float | mpmath.mpf:
    """Unit round-off of the current precision."""
    dps = current_dps()
    return np.finfo(float).eps if dps is None else mpmath.mpf(2) ** (1 - mpmath.mp.prec)


def to_mpf(x) -> mpmath.mpf:
    """``x`` at the working precision, rounded once (a ``Fraction`` too: ``mpf(p) / q`` would
    round twice when ``p`` has more bits than the precision)."""
    if isinstance(x, Fraction):
        return mpmath.mpf(from_rational(x.numerator, x.denominator, mpmath.mp.prec, round_nearest))
    return mpmath.mpf(x)


def is_mp(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype == object


def asarray(a, dps: int | None = "current"):
    """Array in the backend of ``dps``: float64 ndarray, or an object ndarray of ``mpf``.

    Binary floats are read exactly; strings and rationals (``Fraction``, SymPy's) are rounded once
    at the working precision.
    """
    if dps == "current":
        dps = current_dps()
    if dps is None:
        return np.array(a, dtype=float)   # mpf, Fraction, SymPy numbers: each float() once
    arr = np.asarray(a, dtype=object)
    return np.vectorize(to_mpf, otypes=[object])(arr) if arr.size else arr


def scalar(x):
    """A number in the current backend (``float`` or ``mpf``) from a Python/SymPy number."""
    if current_dps() is None:
        return float(x)
    import sympy as sp
    x = sp.sympify(x)
    if x.is_Rational:
        return mpmath.mpf(int(x.p)) / int(x.q)
    return mpmath.mpf(str(sp.N(x, current_dps() + 10)))
