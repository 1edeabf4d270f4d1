"""The ``heyoka`` backend of :func:`flowcert.numerics.solve`: heyoka.py's Taylor integrator (LLVM-compiled)
in its arbitrary-precision ``real`` type, or in double at float64.

Optional: ``pip install 'flowcert[heyoka]'`` (~240 MB with its bundled LLVM). The field is
translated entry by entry into heyoka expressions (the matrix polynomial evaluated on object
arrays of heyoka variables); constants become ``real`` numbers at the working precision, read
exactly from the binary inputs. The matrices are built from the factored program of flowcert's
own Taylor compiler (shared subproducts), not from the expanded flow. heyoka compiles one
integrator per call (~0.2 s for the two-layer d = 3 flow in compact mode): the time is worth it
for long horizons or many digits.
"""
from __future__ import annotations

import decimal

import mpmath
import numpy as np
import sympy as sp

from ._precision import current_dps


def available() -> bool:
    """heyoka importable and built with ``real`` (mp++): the wheels for Linux x86-64 are."""
    try:
        import heyoka
    except ImportError:
        return False
    return hasattr(heyoka, "real")


def _hy():
    try:
        import heyoka
    except ImportError:
        raise ImportError("backend 'heyoka': heyoka is not installed (pip install 'flowcert[heyoka]')") from None
    return heyoka


def _exact_str(x) -> str:
    """The exact decimal expansion of a binary number (float or mpf): ``m 2^e`` has one."""
    if isinstance(x, mpmath.mpf):
        sign, man, exp, _ = x._mpf_
        man = -man if sign else man
    else:
        man, q = float(x).as_integer_ratio()
        exp = -(q.bit_length() - 1)
    if man == 0:
        return "0"
    ctx = decimal.Context(prec=2 * (abs(exp) + int(man).bit_length()) + 20)
    return str(ctx.multiply(decimal.Decimal(int(man)), ctx.power(decimal.Decimal(2), int(exp))))


class _Ops:
    """Matrix-expression operations on object arrays of heyoka expressions."""

    def __init__(self, hy, prec):
        self.hy, self.prec = hy, prec

    def num(self, x):
        hy = self.hy
        if self.prec is None:
            return hy.expression(float(x))
        return hy.expression(hy.real(_exact_str(x) if not isinstance(x, str) else x, self.prec))

    def leaf(self, a):
        return a

    def eye(self, k):
        out = np.empty((k, k), dtype=object)
        for i in range(k):
            for j in range(k):
                out[i, j] = self.num(1.0 if i == j else 0.0)
        return out

    def zeros(self, r, c):
        out = np.empty((r, c), dtype=object)
        for i in range(r):
            for j in range(c):
                out[i, j] = self.num(0.0)
        return out

    def add(self, a, b):
        return a + b

    def mul(self, a, b):
        r, n = a.shape
        c = b.shape[1]
        out = np.empty((r, c), dtype=object)
        for i in range(r):
            for j in range(c):
                out[i, j] = self.hy.sum([a[i, l] * b[l, j] for l in range(n)]) if n > 1 else a[i, 0] * b[0, j]
        return out

    def T(self, a):
        return a.T

    def scale(self, a, c):
        c = sp.nsimplify(c) if not isinstance(c, sp.Basic) else c
        if c == 1:
            return a
        c = sp.Rational(c) if isinstance(c, sp.Float) else c
        if not c.is_Rational:
            raise ValueError(f"backend 'heyoka': non-rational coefficient {c} in the field")
        if self.prec is None:
            k = self.hy.expression(float(c.p)) / self.hy.expression(float(c.q))
        else:
            k = (self.hy.expression(self.hy.real(str(int(c.p)), self.prec))
                 / self.hy.expression(self.hy.real(str(int(c.q)), self.prec)))
        return np.vectorize(lambda x: k * x, otypes=[object])(a)

    def shape(self, a):
        return a.shape


def factored(field, states, params, dims, env, ops) -> dict:
    """The field's matrices on ``env`` (object arrays of heyoka expressions), built from the Taylor
    compiler's program: sums factored by their common factors, equal subproducts formed once. For
    a 3-layer net of 3 x 3 layers heyoka decomposes 315 terms from it, 603 from the expanded SymPy
    flow (which integrated 1.9x slower)."""
    from ._integrate import _Program
    prog = _Program([field[s] for s in states], states, params, dims)
    vals = prog.evaluate(lambda nd: env[states[nd.data]] if nd.kind == "var" else env[nd.data], ops)
    return {s: vals[o] for s, o in zip(states, prog.outputs)}


def run_heyoka(states, params, arrays, dims, field, t_end, times, tol, max_steps, order):
    """Same contract as ``_run_taylor``: (states at ``times``, final state, steps)."""
    hy = _hy()
    dps = current_dps()
    mp = dps is not None
    if mp and not hasattr(hy, "real"):
        raise ImportError("backend 'heyoka': this heyoka build has no 'real' type (mp++)")
    if order is not None:
        raise ValueError("backend 'heyoka': heyoka chooses its own order (from tol); drop order=")
    prec = mpmath.mp.prec + 8 if mp else None   # a few guard bits, as the other backends
    ops = _Ops(hy, prec)
    env, flat = {}, []
    for s in states:
        r, c = arrays[s].shape
        v = np.empty((r, c), dtype=object)
        for i in range(r):
            for j in range(c):
                v[i, j] = hy.make_vars(f"{s}_{i}_{j}")
                flat.append((s, i, j, v[i, j]))
        env[s] = v
    for s in params:
        a = arrays[s]
        env[s] = np.vectorize(ops.num, otypes=[object])(a) if a.size else a.astype(object)
    rhs = factored(field, states, params, dims, env, ops)
    sys_ = [(var, rhs[s][i, j]) for s, i, j, var in flat]

    def real(x):
        return hy.real(_exact_str(x), prec) if mp else float(x)

    init = [real(arrays[s][i, j]) for s, i, j, _ in flat]
    kw = {"fp_type": hy.real, "prec": prec} if mp else {}
    if tol is not None:
        kw["tol"] = real(tol) if mp else float(tol)
    ta = hy.taylor_adaptive(sys_, init, compact_mode=True, **kw)

    def snapshot():
        st = list(ta.state)
        out, k = {}, 0
        for s in states:
            r, c = arrays[s].shape
            a = np.empty((r, c), dtype=object if mp else float)
            for i in range(r):
                for j in range(c):
                    x = st[k]
                    a[i, j] = mpmath.mpf(str(x)) if mp else float(x)
                    k += 1
            out[s] = a
        return out

    snaps, steps = [], 0
    for t in times:
        if t > 0:
            res = ta.propagate_until(real(t), max_steps=max_steps)
            outcome = res[0]
            steps += int(res[3]) if len(res) > 3 else 0
            if "success" not in str(outcome) and "time_limit" not in str(outcome):
                from ._integrate import IntegrationError
                raise IntegrationError(f"heyoka stopped at t={ta.time}: {outcome}")
        snaps.append(snapshot())
    if not times or times[-1] < t_end:
        res = ta.propagate_until(real(t_end), max_steps=max_steps)
        steps += int(res[3]) if len(res) > 3 else 0
    final = snapshot()
    with mpmath.workprec(mpmath.mp.prec) if mp else _null():
        if mp:   # round to the working precision, as the other backends do
            final = {s: np.vectorize(lambda x: +x, otypes=[object])(a) for s, a in final.items()}
            snaps = [{s: np.vectorize(lambda x: +x, otypes=[object])(a) for s, a in sn.items()} for sn in snaps]
    return snaps, final, steps


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
