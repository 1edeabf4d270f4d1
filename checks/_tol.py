"""Tolerances from the mathematics of float64 rounding, in one place.

A symmetric eigen-solver is backward stable: the computed eigenvalues are exact for ``A + E`` with
``||E|| <= c n eps ||A||`` (Weyl then bounds each eigenvalue's error by ``||E||``). Matrices formed
as differences of Gram matrices (imbalances) can cancel; their forming error scales with the
operands, which the strategies keep of order one, hence the floor of 1 in the scale.
"""
from __future__ import annotations

import numpy as np

EPS = float(np.finfo(float).eps)


def eig_tol(a, c: float = 16.0) -> float:
    """Bound on the float64 error of any eigenvalue of the symmetric matrix ``a`` as computed."""
    a = np.asarray(a, dtype=float)
    return c * a.shape[0] * EPS * max(1.0, float(np.linalg.norm(a)))
