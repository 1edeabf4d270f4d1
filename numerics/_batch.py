"""Gradient descent on many chains of the same shapes at once (float64, batched matmuls).

The loss is ``1/2 ||Y - W_1 ... W_L||_F^2`` per member (``W_l`` of shape ``h_{l-1} x h_l``), the
gradients ``G_l = P_l^T (W - Y) S_l^T`` with prefix ``P_l = W_1..W_{l-1}`` and suffix
``S_l = W_{l+1}..W_L`` (as :func:`~flowcert.numerics.chain_gradients`); ``(W - Y) S_l^T`` is accumulated from
the right, ``A_{l-1} = A_l W_l^T``, so a step costs 3L - 2 batched products. Stacking B runs turns B x (4L)
small matmuls per step into 4L batched ones: the Python overhead, not the arithmetic, is what
small chains cost.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field as _dc_field
from typing import Callable, Sequence

import numpy as np

from ._descent import DivergenceError

_WEIGHT_BLOWUP = 1e12
_CHECK = 64


@dataclass(frozen=True)
class BatchTrajectory:
    """``losses[i, b]``: loss of member b at recorded step ``steps[i]``; ``records[name][i]``: what
    ``observe`` returned there; ``final``: the weights after the last step (stacked)."""

    steps: tuple
    losses: np.ndarray
    records: dict = _dc_field(default_factory=dict)
    final: tuple = ()
    lr: float = 0.0


def _check(weights, target):
    if not isinstance(weights, (list, tuple)) or not weights:
        raise ValueError("weights: expected a non-empty list of stacked (B, rows, cols) arrays")
    ws = [np.array(w, dtype=float) for w in weights]
    for l, w in enumerate(ws):
        if w.ndim != 3:
            raise ValueError(f"weights[{l}]: expected a (B, rows, cols) array, got shape {w.shape}")
        if not np.isfinite(w).all():
            raise ValueError(f"weights[{l}]: non-finite entries")
    B = ws[0].shape[0]
    for l in range(1, len(ws)):
        if ws[l].shape[0] != B or ws[l].shape[1] != ws[l - 1].shape[2]:
            raise ValueError(f"weights[{l}]: shape {ws[l].shape} does not chain with {ws[l - 1].shape}")
    Y = np.array(target, dtype=float)
    if Y.shape != (B, ws[0].shape[1], ws[-1].shape[2]):
        raise ValueError(f"target: expected shape {(B, ws[0].shape[1], ws[-1].shape[2])}, got {Y.shape}")
    if not np.isfinite(Y).all():
        raise ValueError("target: non-finite entries")
    return ws, Y


def batch_losses(weights: Sequence[np.ndarray], target: np.ndarray) -> np.ndarray:
    """``1/2 ||Y - W_1..W_L||_F^2`` for every member."""
    acc = weights[0]
    for w in weights[1:]:
        acc = acc @ w
    r = acc - target
    return 0.5 * np.einsum("bij,bij->b", r, r)


def descend_batch(weights: Sequence[np.ndarray], target: np.ndarray, lr: float, steps: int, *,
                  record_every: int = 1, observe: Callable | None = None,
                  progress: Callable | None = None) -> BatchTrajectory:
    """``steps`` steps of ``W_l <- W_l - lr G_l`` for every member, all layers simultaneously.

    ``observe(weights) -> {name: array over members}`` is called at every recorded step (step 0,
    every ``record_every`` steps, the last step). Raises :class:`DivergenceError` when a weight
    becomes non-finite or exceeds 1e12 (max|W0| + 1).

    >>> W1 = np.array([[[1.0]], [[2.0]]]); W2 = np.array([[[1.0]], [[0.5]]]); Y = np.ones((2, 1, 1))
    >>> tr = descend_batch([W1, W2], Y, 0.1, 2)
    >>> tr.losses.shape, [round(float(x), 6) for x in tr.losses[0]]
    ((3, 2), [0.0, 0.0])
    """
    ws, Y = _check(weights, target)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps: expected an integer >= 0, got {steps!r}")
    if isinstance(record_every, bool) or not isinstance(record_every, (int, np.integer)) or record_every < 1:
        raise ValueError(f"record_every: expected a positive integer, got {record_every!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) or not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr: expected a finite positive step, got {lr!r}")
    lr = float(lr)
    L = len(ws)
    limit = _WEIGHT_BLOWUP * (max(float(np.abs(w).max()) for w in ws) + 1)
    rec_steps, losses, records = [], [], {}

    def record(k):
        rec_steps.append(k)
        losses.append(batch_losses(ws, Y))
        if observe is not None:
            for name, val in observe(ws).items():
                records.setdefault(name, []).append(np.asarray(val))

    every = max(1, steps // 100)
    record(0)
    wT = [np.swapaxes(w, 1, 2) for w in ws]    # views: the updates below are in place
    # every intermediate in a buffer of its own, allocated once (on these small stacks an
    # allocation costs about what a product does): pre[l] = W_1 .. W_{l-1} (None: identity),
    # A[l] = R W_L^T .. W_{l+1}^T, G[l] the gradient of layer l
    B, d0 = Y.shape[0], ws[0].shape[1]
    pre = [None, ws[0]] + [np.empty((B, d0, ws[l - 1].shape[2])) for l in range(2, L)]
    preT = [None] + [np.swapaxes(p, 1, 2) for p in pre[1:]]
    A = [np.empty((B, d0, w.shape[2])) for w in ws]
    G = [A[0]] + [np.empty(w.shape) for w in ws[1:]]     # G_1 = A_1 (no prefix)

    def step():
        for l in range(2, L):
            np.matmul(pre[l - 1], ws[l - 1], out=pre[l])
        if L > 1:
            np.matmul(pre[L - 1], ws[L - 1], out=A[L - 1])
        np.subtract(A[L - 1] if L > 1 else ws[0], Y, out=A[L - 1])   # A_L = R; A_{l-1} = A_l W_l^T
        for l in range(L - 1, 0, -1):           # G_l = P_l^T A_l
            np.matmul(preT[l], A[l], out=G[l])
            np.matmul(A[l], wT[l], out=A[l - 1])
        for l in range(L):
            ws[l] -= np.multiply(lr, G[l], out=G[l])

    def bounded():
        return all(np.abs(w).max() <= limit for w in ws)   # NaN fails the comparison too

    # the bound is checked every _CHECK steps and before anything is recorded or reported (a
    # third of a step's cost when checked every step); past it, the steps since the last check
    # are replayed from a copy, one check each, to name the first step beyond it
    good, snap = 0, [w.copy() for w in ws]
    with np.errstate(all="ignore"):
        for k in range(1, steps + 1):
            step()
            due = k % record_every == 0 or k == steps
            tick = progress is not None and (k % every == 0 or k == steps)
            if due or tick or k % _CHECK == 0:
                if not bounded():
                    for w, c in zip(ws, snap):
                        w[...] = c
                    for j in range(good + 1, k + 1):
                        step()
                        if not bounded():
                            raise DivergenceError(f"diverged at step {j}")
                    raise DivergenceError(f"diverged by step {k}")   # a replay that differs: never seen
                good = k
                for w, c in zip(ws, snap):
                    c[...] = w
            if due:
                record(k)
            if tick:
                progress(k, steps)
    return BatchTrajectory(steps=tuple(rec_steps), losses=np.array(losses),
                           records={k: np.array(v) for k, v in records.items()}, final=tuple(ws), lr=lr)
