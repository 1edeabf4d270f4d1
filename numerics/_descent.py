"""Gradient descent ``W <- W - lr G(W)`` on matrices, at float64 or mpmath precision.

It knows the update rule only: the gradients come as SymPy expressions (compiled once, with
shared subproducts) or as a callable, e.g. :func:`chain_gradients` for ``1/2 ||Y - W_1...W_L||^2``.
"""
from __future__ import annotations

from dataclasses import dataclass, field as _dc_field
from typing import Callable, Mapping, Sequence

import mpmath
import numpy as np
import sympy as sp

from ._integrate import _all_finite, _bind_dims, _observers, compile_field, number
from ._matexpr import compile_matrix
from ._precision import asarray, current_dps, is_mp, workdps

_CURRENT = "current"
_LOSS_BLOWUP = 1e12     # loss > this * (initial loss + 1) counts as divergence
_WEIGHT_BLOWUP = 1e12   # max |W| > this * (initial max |W| + 1) as well


class DivergenceError(RuntimeError):
    """Gradient descent left every sensible range; the message says at which step."""


@dataclass(frozen=True)
class Trajectory:
    """What :func:`descend` recorded: at each of ``steps`` a loss (if asked) and observer values."""

    steps: tuple                                    # step numbers recorded (0 = initial weights)
    losses: tuple | None                            # loss at each recorded step, or None
    records: dict = _dc_field(default_factory=dict)  # {name: [value at each recorded step]}
    final: dict = _dc_field(default_factory=dict)    # weights after the last step
    lr: object = None


def chain_gradients(weights: Sequence[sp.MatrixSymbol], target: sp.MatrixSymbol) -> Callable:
    """Gradients of ``1/2 ||Y - W_1 ... W_L||_F^2`` by prefix and suffix products, formed once per
    call: ``G_l = P_l^T (W - Y) S_l^T`` with ``P_l = W_1..W_{l-1}``, ``S_l = W_{l+1}..W_L``.

    Returns ``grad(state) -> {W_l: G_l}``; ``state`` maps the weights and ``target`` to arrays.
    Each ``G_l`` is associated as ``(P^T R) S^T`` or ``P^T (R S^T)``, whichever is cheaper.

    >>> W1, W2, Y = sp.MatrixSymbol("W1", 1, 2), sp.MatrixSymbol("W2", 2, 1), sp.MatrixSymbol("Y", 1, 1)
    >>> g = chain_gradients([W1, W2], Y)
    >>> G = g({W1: np.array([[1.0, 2.0]]), W2: np.array([[1.0], [1.0]]), Y: np.array([[1.0]])})
    >>> G[W1], G[W2].ravel()
    (array([[2., 2.]]), array([2., 4.]))
    """
    weights = tuple(weights)
    if len(weights) < 1:
        raise ValueError("weights: expected at least one MatrixSymbol")

    def grad(state):
        ws = [state[w] for w in weights]
        n = len(ws)
        pre = [None] * n          # pre[l] = W_1 .. W_{l-1}; None is the identity
        acc = None
        for l in range(n):
            pre[l] = acc
            acc = ws[l] if acc is None else acc @ ws[l]
        r = acc - state[target]
        suf = [None] * n          # suf[l] = W_{l+1} .. W_L
        acc = None
        for l in range(n - 1, -1, -1):
            suf[l] = acc
            acc = ws[l] if acc is None else ws[l] @ acc
        out = {}
        for l, w in enumerate(weights):
            p, s = pre[l], suf[l]
            if p is None and s is None:
                g = r
            elif p is None:
                g = r @ s.T
            elif s is None:
                g = p.T @ r
            else:
                (rows, k), (h, _) = p.shape, s.shape    # p: n x h_{l-1}, s: h_l x m
                m = r.shape[1]
                left = k * rows * m + k * m * h         # (P^T R) S^T
                right = rows * m * h + k * rows * h     # P^T (R S^T)
                g = (p.T @ r) @ s.T if left <= right else p.T @ (r @ s.T)
            out[w] = g
        return out

    grad.weights, grad.target = weights, target
    return grad


def _maxabs(a):
    if is_mp(a):
        return max((abs(x) for x in a.flat), default=mpmath.mpf(0))
    return float(np.max(np.abs(a))) if a.size else 0.0


def descend(gradients, w0, lr, steps: int, *, params=None, record_every: int = 1, observers=(),
            loss=None, progress: Callable | None = None, dps=_CURRENT) -> Trajectory:
    """Run ``steps`` steps of ``W_l <- W_l - lr G_l(W)``, all layers updated simultaneously.

    ``gradients``: {MatrixSymbol: matrix expression} (compiled once), or a callable
    ``state -> {MatrixSymbol: array}`` such as :func:`chain_gradients`. ``w0``, ``params``:
    {MatrixSymbol: array}. ``loss``: a scalar SymPy expression (Trace allowed), recorded with the
    observers (callables ``state -> value``, state = weights and params) at step 0, every
    ``record_every`` steps and at the end. ``progress(step, steps)`` is called about 100 times.
    ``dps``: digits, None for float64, default the current :func:`workdps`.

    Raises :class:`DivergenceError` when the weights become non-finite or exceed 1e12 (max|W0| + 1)
    (checked every step) or the loss exceeds 1e12 (loss0 + 1) (checked when recorded).

    >>> A = sp.MatrixSymbol("A", 1, 1)
    >>> tr = descend({A: A}, {A: [[1.0]]}, 0.5, 3, loss=sp.Trace(A.T * A) / 2)
    >>> tr.steps, [float(l) for l in tr.losses]
    ((0, 1, 2, 3), [0.5, 0.125, 0.03125, 0.0078125])
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps: expected an integer >= 0, got {steps!r}")
    if isinstance(record_every, bool) or not isinstance(record_every, (int, np.integer)) or record_every < 1:
        raise ValueError(f"record_every: expected a positive integer, got {record_every!r}")
    if progress is not None and not callable(progress):
        raise ValueError("progress: expected a callable(step, total)")
    if dps == _CURRENT:
        dps = current_dps()
    with workdps(dps):
        return _descend(gradients, w0, lr, int(steps), params, int(record_every), observers, loss, progress)


def _descend(gradients, w0, lr, steps, params, record_every, observers, loss, progress):
    if not isinstance(w0, Mapping) or not w0:
        raise ValueError("w0: expected a non-empty dict {MatrixSymbol: array}")
    params = dict(params or {})
    state = {}
    for name, src in (("w0", w0), ("params", params)):
        for s, a in src.items():
            if not isinstance(s, sp.MatrixSymbol):
                raise ValueError(f"{name}: keys must be MatrixSymbols, got {s!r}")
            try:
                arr = asarray(a)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{name}[{s}]: not a numeric array ({err})") from None
            if arr.ndim != 2:
                raise ValueError(f"{name}[{s}]: expected a 2-d array, got shape {arr.shape}")
            if not _all_finite(arr):
                raise ValueError(f"{name}[{s}]: non-finite entries")
            state[s] = arr
    weights = list(w0)
    _bind_dims(state, {s: f"{'w0' if s in w0 else 'params'}[{s}]" for s in state})
    try:
        lr = number(lr)
    except (TypeError, ValueError):
        raise ValueError(f"lr: expected a number, got {lr!r}") from None
    if not (mpmath.isfinite(lr) and lr > 0):
        raise ValueError(f"lr: expected a finite positive step, got {lr}")
    grad = _gradient_fn(gradients, weights, params, state)
    lossf = None
    if loss is not None:
        lsyms = sorted(sp.sympify(loss).atoms(sp.MatrixSymbol), key=str)
        for s in lsyms:
            if s not in state:
                raise ValueError(f"loss: no value for {s}")
        f = compile_matrix(loss, lsyms)
        lossf = lambda st: f(*[st[s] for s in lsyms])  # noqa: E731
    obs = _observers(observers)

    # shapes are checked by one gradient evaluation, naming the offender
    with np.errstate(all="ignore"):
        try:
            g0 = grad(state)
        except (ValueError, TypeError) as err:
            shapes = ", ".join(f"{s} {a.shape}" for s, a in state.items())
            raise ValueError(f"gradients: cannot evaluate at the given shapes ({shapes}): {err}") from None
    for w in weights:
        if np.shape(g0[w]) != state[w].shape:
            raise ValueError(f"gradients[{w}]: has shape {np.shape(g0[w])} but w0[{w}] has shape {state[w].shape}")

    rec_steps, losses, records = [], [] if lossf else None, {k: [] for k in obs}
    loss0 = None
    w_limit = _WEIGHT_BLOWUP * (max(_maxabs(state[w]) for w in weights) + 1)

    def record(k):
        nonlocal loss0
        rec_steps.append(k)
        if lossf:
            val = lossf(state)
            if loss0 is None:
                loss0 = val
            elif not mpmath.isfinite(val) or val > _LOSS_BLOWUP * (loss0 + 1):
                raise DivergenceError(f"diverged at step {k} (loss {_fmt(val)})")
            losses.append(val)
        for name, f in obs.items():
            records[name].append(f(state))

    every = max(1, steps // 100)
    with np.errstate(all="ignore"):   # overflow is detected below and reported as divergence
        record(0)
        g = g0
        for k in range(1, steps + 1):
            if g is None:
                g = grad(state)
            new = {w: state[w] - lr * g[w] for w in weights}
            state.update(new)
            g = None
            for w in weights:
                m = _maxabs(new[w])
                if not (m <= w_limit):   # NaN fails every comparison
                    lv = _fmt(lossf(state)) if lossf else "not computed"
                    raise DivergenceError(f"diverged at step {k} (loss {lv}; max|{w}| = {_fmt(m)})")
            if k % record_every == 0 or k == steps:
                record(k)
            if progress is not None and (k % every == 0 or k == steps):
                progress(k, steps)
    return Trajectory(steps=tuple(rec_steps), losses=tuple(losses) if lossf else None, records=records,
                      final={w: state[w] for w in weights}, lr=lr)


def _fmt(x) -> str:
    return mpmath.nstr(x, 6) if isinstance(x, mpmath.mpf) else f"{float(x):.6g}"


def _gradient_fn(gradients, weights, params, state):
    if callable(gradients) and not isinstance(gradients, Mapping):
        def grad(st):
            out = gradients(st)
            missing = [w for w in weights if w not in out]
            if missing:
                raise ValueError(f"gradients: the callable returned no gradient for {missing[0]}")
            return out
        return grad
    if not isinstance(gradients, Mapping):
        raise ValueError("gradients: expected a dict {MatrixSymbol: expression} or a callable")
    for w in weights:
        if w not in gradients:
            raise ValueError(f"gradients: no expression for {w}")
    for w in gradients:
        if w not in state or w not in weights:
            raise ValueError(f"gradients: {w} has no initial value in w0")
    syms = weights + list(params)
    free = set().union(*[sp.sympify(e).atoms(sp.MatrixSymbol) for e in gradients.values()]) - set(syms)
    for s in sorted(free, key=str):
        raise ValueError(f"params: no value for {s}, a constant of the gradients")
    try:   # polynomial gradients: factored, each subproduct once
        f = compile_field({w: gradients[w] for w in weights}, syms, {s: state[s].shape for s in syms})
    except ValueError:   # not a polynomial: evaluate each expression as it stands
        fns = {w: compile_matrix(gradients[w], syms) for w in weights}
        return lambda st: {w: fn(*[st[s] for s in syms]) for w, fn in fns.items()}
    return lambda st: f(*[st[s] for s in syms])
