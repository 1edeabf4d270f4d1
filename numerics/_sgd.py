"""Online SGD for ``f(x) = a_0 + sum_j a_j p((x - u_j)/w)`` with two stepsizes, compiled.

One sample per step: ``x ~ U[lo, hi]``, label ``y = f*(x) + noise (2 U - 1)`` (two uniforms per
step, in that order), squared loss ``(y - f(x))^2``. The outer weights move with stepsize ``lr``,
the positions with ``lr * ratio``; both gradients are taken at the same sample and the same
(pre-update) parameters. The u-gradient uses either the exact template derivative ``p'`` or a
uniform kernel of unit mass on the template's transition interval (``u_grad="uniform"``).

The step loop is one plain-Python function (:func:`_kernel`). With numba it is compiled (``cache``
on disk, ``nogil``); without, the same function runs in the interpreter (correct, ~200x slower).
Uniforms are drawn in blocks from the caller's generator, in the per-step order, so a legacy
``numpy.random.RandomState`` reproduces the stream of per-step ``rand()`` calls exactly.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ._descent import DivergenceError
from ._piecewise import Template

__all__ = ["SGDRun", "compile_kernels", "have_numba", "online_sgd", "sgd_kernel"]

U_GRADS = ("exact", "uniform")


def _kernel(a, u, n, mt, st, U, tb, tc, dc, pos, vals, lr, ulr, width, noise, exact,
            klo, khi, kval, sig, kv, act, w):
    """Run ``n`` steps in place on ``a`` (m + 1) and ``u`` (m).

    Uniforms: from the MT19937 state ``mt`` (624 words, position ``st[0]``; numpy's legacy
    ``random_sample`` conversion) when ``mt`` is non-empty, else from ``U`` (2 per step).
    """
    m = u.shape[0]
    nb = tb.shape[0]
    d = tc.shape[1]
    dd = dc.shape[1]
    npos = pos.shape[0]
    # outside the template's breakpoints the unit is constant: no division, no Horner there
    left = tc[0, 0]
    right = tc[nb, 0]
    flat = True
    for q in range(1, d):
        if tc[0, q] != 0.0 or tc[nb, q] != 0.0:
            flat = False
    wlo = width * tb[0]
    whi = width * tb[nb - 1]
    pad = 1e-9 * (whi - wlo)  # decide near the window's edges with the reference's own tests
    use_mt = mt.shape[0] > 0
    mti = st[0]
    for p in range(n):
        if use_mt:
            for q in range(4):
                if mti >= 624:
                    for kk in range(624):  # the twist
                        k1 = kk + 1 if kk < 623 else 0
                        k2 = kk + 397 if kk < 227 else kk - 227
                        y = (int(mt[kk]) & 0x80000000) | (int(mt[k1]) & 0x7FFFFFFF)
                        z = int(mt[k2]) ^ (y >> 1)
                        if y & 1:
                            z ^= 0x9908B0DF
                        mt[kk] = z
                    mti = 0
                y = int(mt[mti])
                mti += 1
                y ^= y >> 11
                y ^= (y << 7) & 0x9D2C5680
                y ^= (y << 15) & 0xEFC60000
                y ^= y >> 18
                w[q] = y
            x = ((w[0] >> 5) * 67108864.0 + (w[1] >> 6)) / 9007199254740992.0
            v = ((w[2] >> 5) * 67108864.0 + (w[3] >> 6)) / 9007199254740992.0
        else:
            x = U[2 * p]
            v = U[2 * p + 1]
        xi = noise * (2.0 * v - 1.0)
        k = 0
        for q in range(npos):  # branch-free: x > pos[q] for a prefix of q
            k += x > pos[q]
        f = a[0]
        na = 0
        for j in range(m):
            dx = x - u[j]
            s = right if dx > 0.0 else left  # a select, not a jump: the side of x is random
            if not flat or (dx >= wlo - pad and dx <= whi + pad):  # rare: inside the window
                t = dx / width
                i = 0
                while i < nb and t > tb[i]:
                    i += 1
                s = tc[i, d - 1]
                for q in range(d - 2, -1, -1):
                    s = s * t + tc[i, q]
                if exact:
                    c = dc[i, dd - 1]
                    for q in range(dd - 2, -1, -1):
                        c = c * t + dc[i, q]
                else:
                    c = kval if (x >= u[j] + width * klo and x <= u[j] + width * khi) else 0.0
                if c != 0.0:
                    kv[na] = c
                    act[na] = j
                    na += 1
            sig[j] = s
            f += a[j + 1] * s
        r = (vals[k] + xi) - f
        g = -2.0 * r
        for q in range(na):  # positions first: they use the pre-update weights
            j = act[q]
            u[j] = u[j] - ulr * (((2.0 * r) * a[j + 1]) * kv[q] / width)
        a[0] = a[0] - lr * g
        for j in range(m):  # sig = 0 leaves a_j exactly as it is
            a[j + 1] = a[j + 1] - lr * (g * sig[j])
    st[0] = mti


_COMPILED = None


def have_numba() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def compile_kernels() -> bool:
    """Compile now, or load from numba's disk cache, every numba kernel of numerics (the SGD step
    loop, the additive models' passes); False, doing nothing, without numba. A process about to
    fork workers calls it so that they share the kernels instead of each loading them again
    (~0.3 s of CPU a process)."""
    if not have_numba():
        return False
    from ._additive import _compile_now
    sgd_kernel("numba")
    _compile_now()
    return True


def sgd_kernel(backend: str | None = None):
    """The step loop: ``"numba"`` (compiled once, cached on disk) or ``"python"``."""
    global _COMPILED
    backend = backend or ("numba" if have_numba() else "python")
    if backend == "python":
        return _kernel
    if backend != "numba":
        raise ValueError(f"backend: expected 'numba' or 'python', got {backend!r}")
    if _COMPILED is None:
        import numba
        # The disk cache is keyed by this file's path and stamp, and its entries name the module they
        # were compiled in: a cache written when this module had another name (before flowcert.*)
        # fails to load, which is why editing this file (a new stamp) invalidates such caches.
        kern = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")(_kernel)
        # compile (or load from the disk cache) now, with the argument types of online_sgd, so that
        # callers time the steps and not the compiler
        f1, f2, i1 = np.zeros(1), np.zeros((1, 1)), np.zeros(1, dtype=np.int64)
        kern(f1, np.zeros(0), 0, np.zeros(0, np.uint32), i1, f1, f1, f2, f2, f1, f1, 1.0, 1.0, 1.0, 1.0, False,
             -0.5, 0.5, 1.0, f1, f1, i1, np.zeros(4, dtype=np.int64))
        _COMPILED = kern
    return _COMPILED


@dataclass
class SGDRun:
    """Final parameters, and snapshots taken *before* the update of each recorded step."""

    a: np.ndarray
    u: np.ndarray
    steps: int
    record_steps: list
    a_rec: list
    u_rec: list
    seconds: float
    backend: str


def _mt_state(rng):
    """``(key, pos, put_back)`` of an MT19937 generator (legacy RandomState or a Generator over
    MT19937); None for any other generator."""
    if isinstance(rng, np.random.RandomState):
        name, key, pos, has_gauss, gauss = rng.get_state(legacy=True)
        if name == "MT19937":
            return (np.array(key, dtype=np.uint32), int(pos),
                    lambda k, p: rng.set_state((name, k, p, has_gauss, gauss)))
    bg = getattr(rng, "bit_generator", None)
    if isinstance(bg, np.random.MT19937):
        state = bg.state

        def put_back(k, p):
            state["state"] = {"key": k, "pos": p}
            bg.state = state
        return np.array(state["state"]["key"], dtype=np.uint32), int(state["state"]["pos"]), put_back
    return None


def online_sgd(a, u, *, template: Template, width: float, positions: Sequence[float],
               values: Sequence[float], lr: float, ratio: float, steps: int, rng,
               noise: float = 1.0, u_grad: str = "uniform", record: Sequence[int] = (),
               progress: Callable[[int, int], None] | None = None, block: int = 1 << 20,
               backend: str | None = None) -> SGDRun:
    """``steps`` SGD updates from ``(a, u)`` (copied); ``record``: steps to snapshot before updating.

    ``positions``/``values``: the target's discontinuities (increasing) and its ``len + 1`` values
    (``x > positions[k]`` selects ``values[k + 1]``). ``rng`` supplies the uniforms: an MT19937
    generator (``RandomState`` or ``Generator(MT19937)``) is advanced inside the kernel, exactly as
    ``2 * steps`` calls of its ``random_sample``/``random`` would, and left in that state; any
    other generator is drawn from in blocks of ``rng.random``.
    """
    a = np.array(a, dtype=float)
    u = np.array(u, dtype=float)
    if a.shape != (len(u) + 1,):
        raise ValueError(f"a: expected {len(u) + 1} weights (constant first) for {len(u)} positions, "
                         f"got {a.shape}")
    if not (width > 0 and math.isfinite(width)):
        raise ValueError(f"width: expected a positive number, got {width!r}")
    if u_grad not in U_GRADS:
        raise ValueError(f"u_grad: expected one of {', '.join(U_GRADS)}, got {u_grad!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps: expected a non-negative integer, got {steps!r}")
    pos = np.asarray(positions, dtype=float)
    vals = np.asarray(values, dtype=float)
    if len(vals) != len(pos) + 1:
        raise ValueError(f"values: expected {len(pos) + 1} values for {len(pos)} positions, got {len(vals)}")
    if np.any(np.diff(pos) <= 0):
        raise ValueError("positions: expected strictly increasing points")
    tb, tc = template.arrays()
    _, dc = template.derivative().arrays()
    klo, khi = (float(v) for v in template.support)
    if u_grad == "uniform" and not khi > klo:
        raise ValueError(f"u_grad: 'uniform' needs a template whose breaks span an interval, got [{klo}, {khi}] "
                         "(use u_grad='exact')")
    kval = 1.0 / (khi - klo) if khi > klo else 0.0  # unused by the exact gradient
    backend = backend or ("numba" if have_numba() else "python")
    kern = sgd_kernel(backend)
    m = len(u)
    sig, kv, act, w = np.empty(m), np.empty(m), np.empty(m, dtype=np.int64), np.empty(4, dtype=np.int64)
    mts = _mt_state(rng)
    mt, st = (mts[0], np.array([mts[1]], dtype=np.int64)) if mts else (np.empty(0, np.uint32), np.zeros(1, np.int64))
    noU = np.empty(0)
    rec = sorted({int(s) for s in record if 0 <= int(s) <= steps})
    bounds = sorted(set(rec) | {steps} | set(range(0, steps, block)))
    a_rec, u_rec = [], []
    rec_set = set(rec)
    t0 = time.perf_counter()
    done = 0
    try:
        for nxt in bounds:
            if nxt > done:
                n = nxt - done
                U = noU if mts else np.asarray(rng.random(2 * n), dtype=float)
                with np.errstate(all="ignore"):  # overflow is detected below and reported, not warned
                    kern(a, u, n, mt, st, U, tb, tc, dc, pos, vals, float(lr), float(lr * ratio),
                         float(width), float(noise), u_grad == "exact", klo, khi, kval, sig, kv, act, w)
                done = nxt
                if not (np.all(np.isfinite(a)) and np.all(np.isfinite(u))):
                    raise DivergenceError(f"SGD left the finite range by step {done} (lr={lr}, ratio={ratio})")
                if progress:
                    progress(done, steps)
            if done in rec_set:
                a_rec.append(a.copy())
                u_rec.append(u.copy())
    finally:
        if mts:
            mts[2](mt, int(st[0]))
    return SGDRun(a, u, steps, rec, a_rec, u_rec, time.perf_counter() - t0, backend)
