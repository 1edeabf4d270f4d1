"""Random initialisation schemes for chains of matrices ``W_l`` of shape ``h_{l-1} x h_l``."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

SCHEMES = ("gaussian", "fan_in", "fan_out", "ntk")


def check_widths(widths: Sequence[int], name: str = "widths") -> tuple[int, ...]:
    try:
        ws = tuple(int(w) for w in widths)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a sequence of positive integers, got {widths!r}") from None
    if len(ws) < 3 or min(ws) < 1 or any(int(w) != w for w in widths):
        raise ValueError(f"{name}: expected at least 3 positive integer widths (h0, ..., hL), got {widths!r}")
    return ws


def sample_weights(scheme: str, widths: Sequence[int], rng: np.random.Generator,
                   scale: float = 1.0) -> list[np.ndarray]:
    """i.i.d. Gaussian weights; the variance of layer ``l`` (``h_{l-1} x h_l``) is

    - ``gaussian``: ``scale**2``;
    - ``ntk``: 1 (``scale`` is not used; the NTK parametrisation's ``1/sqrt(width)`` factors
      belong to the model, not to its weights);
    - ``fan_in``: ``1 / h_{l-1}`` (rows: the layer's input dimension);
    - ``fan_out``: ``1 / h_l`` (columns).

    >>> [w.shape for w in sample_weights("fan_in", (5, 3, 1), np.random.default_rng(0))]
    [(5, 3), (3, 1)]
    """
    ws = check_widths(widths)
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator (numpy.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) \
            or not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale: expected a finite positive number, got {scale!r}")
    out = []
    for r, c in zip(ws[:-1], ws[1:]):
        std = {"gaussian": scale, "ntk": 1.0, "fan_in": 1 / np.sqrt(r), "fan_out": 1 / np.sqrt(c)}[scheme]
        out.append(rng.normal(0.0, std, size=(r, c)))
    return out
