"""Validated integration of polynomial vector fields: enclosures of the exact solution, in Arb.

:func:`solve` (``numerics._integrate``) computes a trajectory to a working precision; this module
*proves* where the exact trajectory is. The field is the same ``{W: matrix polynomial}`` dict, the
Taylor coefficients come from the same compiled program, and every bound is Arb ball arithmetic
(python-flint), so a reported enclosure holds for the exact solution of the exact initial value
(float64 inputs are read as the binary numbers they are).

Each step ``[t_k, t_k + h]`` works in three parts.

1. **A candidate.** ``P(s)``, the order-``p`` Taylor polynomial of the solution at the step's exact
   centre ``c_k`` (coefficients rounded to exact binary numbers: ``P`` is *some* polynomial; nothing
   below assumes it is accurate).
2. **Its defect.** ``delta(s) = P'(s) - f(P(s))`` as exact polynomials with ball coefficients
   (``arb_poly``): ``f(P)`` is formed in full, every product of the matrix program taken as a
   product of polynomial matrices, so no term is truncated and none estimated.
3. **A logarithmic-norm Gronwall bound.** ``e = y - P`` obeys ``e' = A(t) e - delta`` with ``A``
   the mean of ``Df`` on the segment from ``P`` to ``y``. While ``||e|| <= rho``, ``d||e||/dt <=
   mu ||e|| + ||delta||`` with ``mu`` any bound of ``lambda_max((Df + Df^T) / 2)`` over the tube
   ``P([s_j, s_j+1]) + [-rho, rho]`` (the logarithmic 2-norm; for a gradient flow ``Df`` is minus the
   Hessian, so ``mu`` is the largest eigenvalue of ``-Hess L`` -- the true local growth rate). The
   tube is checked a posteriori: the bound must stay below ``rho`` on the whole step.

The enclosure of ``y(t)`` is the 2-norm ball of radius ``eps_k`` around ``P``; because a ball is
invariant under rotation, errors are never re-wrapped into axis-aligned boxes, and they grow at the
rate ``mu`` of the flow itself, not at ``|| |Df| ||``. ``wrapping="box"`` runs the naive method for
comparison: interval Taylor coefficients of the previous box, a first-order Picard-Lindelof a-priori
box for the remainder; its widths grow with the absolute Jacobian (the wrapping effect).

Where the bound cannot be kept below ``max_radius`` (or the step collapses, or the budget runs out)
the integration stops and says at which time: everything up to ``t_certified`` is proved,
nothing after it is claimed.
"""
from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field as _dc_field
from fractions import Fraction
from typing import Callable, Mapping

import numpy as np
import sympy as sp

from ._certify import FloatBall, _eig_float, _fmt_end, ends, exact_ball, workprec
from ._integrate import _FlintArith, _Program, _Taylor, _prepare

WRAPPINGS = ("ball", "box")
_TUBE_FACTOR = 2.0   # the a-priori tube's radius: this many times the error it must hold...
_TUBE_TRIES = 3      # ...widened fourfold this many times before the step is halved


def _flint():
    import flint
    return flint


# -- small ball helpers ---------------------------------------------------------------------------

def _up(x) -> float:
    """A float at or above the ball (outward rounded)."""
    u = x.upper()
    v = float(u.mid()) if u.is_finite() else math.inf
    return v if exact_ball(v) >= u else math.nextafter(v, math.inf)


def _norm_up(values) -> object:
    """An ``arb`` upper bound of the 2-norm of a vector of balls (every entry's largest |value|)."""
    flint = _flint()
    s = flint.arb(0)
    for v in values:
        a = v.abs_upper()
        s += a * a
    return s.sqrt().upper() if s.is_finite() else flint.arb.pos_inf()


def _radius_mat(shape, r):
    flint = _flint()
    rows, cols = shape
    return flint.arb_mat(rows, cols, [flint.arb(0, r)] * (rows * cols)) if rows * cols else flint.arb_mat(rows, cols)


# -- the program evaluated on ball matrices and on polynomial matrices ----------------------------

class _MatOps:
    """``arb_mat`` values (with radii: the field over a box)."""

    def __init__(self, arrays):
        self.arrays = arrays

    def sym(self, s):
        return self.arrays[s]

    def eye(self, n):
        flint = _flint()
        return flint.arb_mat([[1 if i == j else 0 for j in range(n)] for i in range(n)])

    def zero(self, shape):
        return _flint().arb_mat(*shape)

    def T(self, a):
        return a.transpose()

    def add(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out

    def scale(self, a, c):
        return a * c

    def mul(self, a, b):
        return a * b


class _PolyOps:
    """Matrices of ``arb_poly`` (lists of rows): the field applied to the candidate polynomial."""

    def __init__(self, arrays):
        flint = _flint()
        self.arrays = {s: [[flint.arb_poly([v]) for v in row] for row in m.tolist()] for s, m in arrays.items()}

    def sym(self, s):
        return self.arrays[s]

    def eye(self, n):
        flint = _flint()
        return [[flint.arb_poly([1 if i == j else 0]) for j in range(n)] for i in range(n)]

    def zero(self, shape):
        flint = _flint()
        return [[flint.arb_poly([]) for _ in range(shape[1])] for _ in range(shape[0])]

    def T(self, a):
        return [list(col) for col in zip(*a)] if a else []

    def add(self, xs):
        out = [[v for v in row] for row in xs[0]]
        for x in xs[1:]:
            out = [[u + v for u, v in zip(ru, rv)] for ru, rv in zip(out, x)]
        return out

    def scale(self, a, c):
        return [[v * c for v in row] for row in a]

    def mul(self, a, b):
        flint = _flint()
        inner = len(b)
        cols = len(b[0]) if b else 0
        out = []
        for row in a:
            r = []
            for j in range(cols):
                acc = flint.arb_poly([])
                for k in range(inner):
                    if row[k].length() and b[k][j].length():
                        acc += row[k] * b[k][j]
                r.append(acc)
            out.append(r)
        return out


def _run_program(prog: _Program, shapes, ops, inputs, scales):
    """Every node's value; ``inputs[i]`` is state ``i``'s value."""
    vals: list = [None] * len(prog.nodes)
    for i, nd in enumerate(prog.nodes):
        k, a = nd.kind, nd.args
        if k == "var":
            vals[i] = inputs[nd.data]
        elif k == "sym":
            vals[i] = ops.sym(nd.data)
        elif k == "eye":
            vals[i] = ops.eye(nd.data[0])
        elif k == "zero":
            vals[i] = ops.zero(nd.data)
        elif k == "T":
            vals[i] = ops.T(vals[a[0]])
        elif k == "add":
            vals[i] = ops.add([vals[j] for j in a])
        elif k == "scale":
            vals[i] = ops.scale(vals[a[0]], scales[i])
        else:
            vals[i] = ops.mul(vals[a[0]], vals[a[1]])
    return vals


def _jacobian(prog: _Program, shapes, vals, scales):
    """``Df`` at the point (or box) whose node values are ``vals``: an n x n ``arb_mat``, one
    forward-mode tangent per state entry (a tangent that is identically zero is skipped)."""
    flint = _flint()
    sizes = [r * c for r, c in shapes]
    offs = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    n = int(offs[-1])
    J = flint.arb_mat(n, n)
    nodes = prog.nodes
    for v, (r, c) in enumerate(shapes):
        for e in range(r * c):
            tan: list = [None] * len(nodes)
            for i, nd in enumerate(nodes):
                k, a = nd.kind, nd.args
                if k == "var":
                    if nd.data == v:
                        m = flint.arb_mat(r, c)
                        m[e // c, e % c] = 1
                        tan[i] = m
                elif k == "T":
                    tan[i] = None if tan[a[0]] is None else tan[a[0]].transpose()
                elif k == "add":
                    live = [tan[j] for j in a if tan[j] is not None]
                    if live:
                        out = live[0]
                        for x in live[1:]:
                            out = out + x
                        tan[i] = out
                elif k == "scale":
                    tan[i] = None if tan[a[0]] is None else tan[a[0]] * scales[i]
                elif k == "mul":
                    ta, tb = tan[a[0]], tan[a[1]]
                    if ta is not None and tb is not None:
                        tan[i] = ta * vals[a[1]] + vals[a[0]] * tb
                    elif ta is not None:
                        tan[i] = ta * vals[a[1]]
                    elif tb is not None:
                        tan[i] = vals[a[0]] * tb
            col = offs[v] + e
            for w, out in enumerate(prog.outputs):
                t = tan[out]
                if t is None:
                    continue
                rw, cw = shapes[w]
                for q, x in enumerate(t.entries()):
                    J[offs[w] + q, col] = x
    return J


def _mu_upper(J) -> object:
    """An ``arb`` upper bound of ``lambda_max((M + M^T) / 2)`` over every matrix ``M`` in the ball
    matrix ``J``: the float64 midpoint's certified top eigenvalue plus the Frobenius norm of the
    rest (Weyl)."""
    flint = _flint()
    n = J.nrows()
    S = (J + J.transpose()) * flint.arb(0.5)
    mid = np.array([[float(S[i, j].mid()) for j in range(n)] for i in range(n)])
    mid = (mid + mid.T) / 2   # exactly symmetric
    rest = flint.arb(0)
    for i in range(n):
        for j in range(n):
            d = (S[i, j] - flint.arb(mid[i, j])).abs_upper()
            rest += d * d
    ev = _eig_float(FloatBall(mid, rest.sqrt()))
    return ev[0].upper()


# -- the enclosure --------------------------------------------------------------------------------

@dataclass
class Step:
    """One validated step: for ``t = t0 + sigma h`` (``sigma`` in [0, 1]) the exact state lies in
    the 2-norm ball of radius ``tube`` around ``P(sigma) = sum_i coef[v][i] sigma^i`` (ball mode);
    in box mode ``coef`` is empty and ``box`` holds the interval enclosure for the whole step."""

    t0: Fraction
    h: Fraction
    coef: list          # per state: list of arb_mat, the candidate in the scaled variable sigma
    tube: object        # arb: radius valid on the whole step
    end_radius: object  # arb: radius at t0 + h
    box: list | None = None

    def enclose(self, lo: Fraction = Fraction(0), hi: Fraction = Fraction(1)) -> list:
        """Boxes (``arb_mat`` per state) holding the exact state for every ``t0 + sigma h`` with
        ``sigma`` in ``[lo, hi]``."""
        flint = _flint()
        if self.box is not None:
            return self.box
        # mean-value form about the piece's midpoint: P(m) + P'([lo, hi]) ([lo, hi] - m); its width
        # follows the solution's speed, not the size of the Taylor coefficients
        m = (lo + hi) / 2
        sm = flint.arb(_fmpq(m))
        s = flint.arb(_fmpq(lo)).union(flint.arb(_fmpq(hi)))
        ds = s - sm
        out = []
        for cs in self.coef:
            acc = cs[-1]
            for c in reversed(cs[:-1]):
                acc = acc * sm + c
            if len(cs) > 1 and lo != hi:
                d = cs[-1] * (len(cs) - 1)
                for i in range(len(cs) - 2, 0, -1):
                    d = d * s + cs[i] * i
                acc = acc + d * ds
            out.append(acc + _radius_mat((acc.nrows(), acc.ncols()), _up(self.tube)))
        return out


@dataclass
class FlowEnclosure:
    """Result of :func:`certify_flow`. ``certified``: the enclosure reaches ``t_end``;
    ``t_certified``: how far it is proved; ``final``: boxes of the state at ``t_certified``."""

    states: tuple
    t_end: Fraction
    t_certified: Fraction
    final: dict
    radius: object
    steps: list
    digits: int
    order: int
    bits: int
    wrapping: str
    seconds: float
    reason: str = ""
    widths: list = _dc_field(default_factory=list)   # (t, radius) after every step
    _field: Callable | None = None

    def field(self, boxes: Mapping) -> list:
        """The field at every state in ``boxes`` (``{symbol: arb_mat}``), one ``arb_mat`` per state,
        through the compiled program, whose sums of products are factored (``(Y - W1 W2) W2^T``
        rather than ``Y W2^T - W1 W2 W2^T``): near a minimum that keeps its width proportional to
        its size."""
        return self._field([boxes[s] for s in self.states])

    @property
    def certified(self) -> bool:
        return self.t_certified == self.t_end

    def width(self) -> float:
        """The largest width (2 x radius) of an entry of the final boxes."""
        return max((2 * _up(x.rad()) if x.is_finite() else math.inf for m in self.final.values()
                    for x in m.entries()), default=0.0)

    def contains(self, state: Mapping, t=None) -> bool:
        """Whether the final boxes (or, with ``t``, the boxes of the step holding ``t``) contain
        the exact values of the arrays in ``state``."""
        boxes = self.final if t is None else dict(zip(self.states, self.at(t)))
        for s in self.states:
            a = np.asarray(state[s])
            m = boxes[s]
            for i in range(a.shape[0]):
                for j in range(a.shape[1]):
                    x = _exactify(a[i, j])
                    if isinstance(x, Fraction):
                        bits = x.numerator.bit_length() + x.denominator.bit_length() + 64
                    else:
                        bits = 128
                    with workprec(max(bits, 128)):
                        inside = m[i, j].contains(exact_ball(x))
                    if not inside:
                        return False
        return True

    def at(self, t) -> list:
        """Boxes of the state at time ``t`` (0 <= t <= t_certified)."""
        t = _fraction(t, "t")
        if not (0 <= t <= self.t_certified):
            raise ValueError(f"t: expected a time in [0, {float(self.t_certified):g}] (the certified range), got {float(t):g}")
        for st in self.steps:
            if st.t0 <= t <= st.t0 + st.h:
                sig = (t - st.t0) / st.h
                return st.enclose(sig, sig)
        return [self.final[s] for s in self.states]

    def over(self, lo, hi) -> list:
        """Boxes holding the exact state at every time in ``[lo, hi]`` (within [0, t_certified])."""
        lo, hi = _fraction(lo, "lo"), _fraction(hi, "hi")
        if not (0 <= lo <= hi <= self.t_certified):
            raise ValueError(f"[lo, hi]: expected 0 <= lo <= hi <= {float(self.t_certified):g}, "
                             f"got [{float(lo):g}, {float(hi):g}]")
        out = None
        with workprec(self.bits):
            for st in self.steps:
                a, b = max(lo, st.t0), min(hi, st.t0 + st.h)
                if a > b:
                    continue
                boxes = st.enclose((a - st.t0) / st.h, (b - st.t0) / st.h)
                out = boxes if out is None else [_hull(x, y) for x, y in zip(out, boxes)]
        return out if out is not None else [self.final[s] for s in self.states]

    def pieces(self, sub: int = 1):
        """``(t0, t1, boxes)`` covering ``[0, t_certified]``: each step cut into ``sub`` pieces."""
        for st in self.steps:
            for j in range(sub):
                lo, hi = Fraction(j, sub), Fraction(j + 1, sub)
                yield st.t0 + lo * st.h, st.t0 + hi * st.h, st.enclose(lo, hi)

    def check(self, fn: Callable, relation: str = ">=", rhs=0, max_depth: int = 10,
              deadline: float | None = None) -> "PathCheck":
        """Decide ``fn(boxes) relation rhs`` for every state on ``[0, t_certified]``: each step is
        bisected (to ``max_depth`` levels) until the ball ``fn`` returns decides it. ``fn`` takes
        ``{symbol: arb_mat}`` and returns an ``arb``."""
        from ._certify import decide
        with workprec(self.bits):
            return self._check(fn, relation, exact_ball(rhs), max_depth, deadline, decide)

    def _check(self, fn, relation, rhs, max_depth, deadline, decide):
        worst = None
        undecided = None
        pieces = 0
        for st in self.steps:
            stack = [(Fraction(0), Fraction(1), 0)]
            while stack:
                lo, hi, d = stack.pop()
                if deadline is not None and _time.perf_counter() > deadline:
                    return PathCheck(None, st.t0 + lo * st.h, pieces, worst, "deadline")
                v = fn(dict(zip(self.states, st.enclose(lo, hi))))
                pieces += 1
                ok = decide(v - rhs, relation, 0)
                if ok is True:
                    m = v - rhs
                    lowm = m.lower() if relation in (">=", ">") else -m.upper()
                    worst = lowm if worst is None or lowm < worst else worst
                    continue
                if ok is False:   # the whole ball violates it: so does the exact state there
                    t = st.t0 + lo * st.h
                    return PathCheck(False, t, pieces, worst, f"violated on [{float(t):.6g}, "
                                     f"{float(st.t0 + hi * st.h):.6g}]")
                if d >= max_depth or st.box is not None:
                    if undecided is None:
                        undecided = st.t0 + lo * st.h
                    continue
                m = (lo + hi) / 2
                stack.append((m, hi, d + 1))
                stack.append((lo, m, d + 1))
        if undecided is not None:
            return PathCheck(None, undecided, pieces, worst,
                             f"undecided from t = {float(undecided):.6g} after {max_depth} bisections")
        return PathCheck(True, self.t_certified, pieces, worst, "")

    def value_range(self, fn: Callable, sub: int = 2):
        """An ``arb`` holding ``fn(state)`` for every state on ``[0, t_certified]``."""
        out = None
        with workprec(self.bits):
            for _, _, boxes in self.pieces(sub):
                v = fn(dict(zip(self.states, boxes)))
                out = v if out is None else out.union(v)
        return out

    def to_json(self, digits: int = 25) -> dict:
        def mat(m):
            rows = []
            for i in range(m.nrows()):
                row = []
                for j in range(m.ncols()):
                    lo, hi = ends(m[i, j])
                    row.append([_fmt_end(lo, digits, -1), _fmt_end(hi, digits, +1)])
                rows.append(row)
            return rows

        return {"certified": self.certified, "t_certified": str(float(self.t_certified)),
                "t_end": str(float(self.t_end)),
                "reason": self.reason, "wrapping": self.wrapping, "digits": self.digits, "order": self.order,
                "bits": self.bits, "steps": len(self.steps), "seconds": round(self.seconds, 3),
                "radius": _fmt_end(ends(self.radius)[1], 3, +1).lower() if self.radius.is_finite() else "inf",
                "width": self.width(),
                "enclosure": {str(s): mat(self.final[s]) for s in self.states}}


@dataclass(frozen=True)
class PathCheck:
    """Result of :meth:`FlowEnclosure.check`: ``holds`` True (proved on every piece), False (a
    piece provably violates it), None (undecided from ``t``)."""

    holds: bool | None
    t: Fraction
    pieces: int
    margin: object   # arb: the least lower bound of fn - rhs over the decided pieces
    detail: str


def _exactify(x):
    if isinstance(x, (float, np.floating, int, np.integer, Fraction)):
        return x
    try:
        import mpmath
        if isinstance(x, mpmath.mpf):
            sign, m, e, _ = x._mpf_   # not mpf(x): that would round to the current precision
            return (-1) ** sign * Fraction(int(m)) * Fraction(2) ** int(e)
    except ImportError:
        pass
    return sp.Rational(str(x)) if not isinstance(x, sp.Basic) else x


def _fraction(t, name) -> Fraction:
    if isinstance(t, Fraction):
        return t
    if isinstance(t, (int, np.integer)):
        return Fraction(int(t))
    if isinstance(t, (float, np.floating)):
        if not math.isfinite(t):
            raise ValueError(f"{name}: expected a finite number, got {t}")
        return Fraction(float(t))
    if isinstance(t, str):
        try:
            return Fraction(t)
        except ValueError:
            raise ValueError(f"{name}: expected a number, got {t!r}") from None
    r = sp.nsimplify(t) if isinstance(t, sp.Basic) else None
    if r is not None and r.is_Rational:
        return Fraction(int(r.p), int(r.q))
    raise ValueError(f"{name}: expected a rational or binary number, got {t!r}")


def _fmpq(x: Fraction):
    flint = _flint()
    return flint.fmpq(x.numerator, x.denominator)


def _dyadic_below(x: float, bits: int = 24) -> Fraction:
    """A dyadic rational in (x/2, x] with ``bits`` significant bits: exact step sizes."""
    m, e = math.frexp(x)
    return Fraction(math.floor(m * 2 ** bits)) * Fraction(2) ** (e - bits)


# -- the integrator -------------------------------------------------------------------------------

def certify_flow(field, y0, t_end, *, params=None, digits: int = 30, order: int | None = None,
                 max_radius: float | None = None, wrapping: str = "ball", sub: int = 4,
                 max_steps: int = 10_000, time_budget: float | None = None,
                 progress: Callable[[float, float], None] | None = None) -> FlowEnclosure:
    """Enclose the exact solution of ``dy/dt = field(y)``, ``y(0) = y0``, on ``[0, t_end]``.

    ``field``, ``y0``, ``params`` as for :func:`flowcert.numerics.solve` (a matrix-polynomial
    field). ``digits``: the accuracy sought; sets Arb's precision (``3.33 digits + 32`` bits), the
    Taylor order (``1.15 digits + 2``, Jorba-Zou) and the per-step tolerance ``10^-digits``.
    ``max_radius``: the integration stops (uncertified past that time) once the enclosure's radius
    would exceed it (default ``10^(-digits/2) max(1, |y0|)``). ``wrapping``: ``"ball"`` (the
    logarithmic-norm method, see the module) or ``"box"`` (plain intervals, for comparison).
    ``sub``: pieces per step for the growth rate ``mu``. ``time_budget``: seconds, then stop
    (uncertified past the time reached).

    >>> A = sp.MatrixSymbol("A", 1, 1)
    >>> enc = certify_flow({A: -A}, {A: [[1.0]]}, 1, digits=20)
    >>> enc.certified
    True
    >>> with workprec(200):    # e^-1 to 60 digits lies inside the enclosure
    ...     print(enc.final[A][0, 0].contains(_flint().arb(-1).exp()))
    True
    >>> enc.width() < 1e-18
    True
    """
    if wrapping not in WRAPPINGS:
        raise ValueError(f"wrapping: expected one of {', '.join(WRAPPINGS)}, got {wrapping!r}")
    if not isinstance(digits, int) or isinstance(digits, bool) or not 5 <= digits <= 1000:
        raise ValueError(f"digits: expected an integer in [5, 1000], got {digits!r}")
    if order is not None and (not isinstance(order, int) or order < 2):
        raise ValueError(f"order: expected an integer >= 2, got {order!r}")
    if not isinstance(sub, int) or sub < 1:
        raise ValueError(f"sub: expected a positive integer, got {sub!r}")
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps: expected a positive integer, got {max_steps!r}")
    T = _fraction(t_end, "t_end")
    if T < 0:
        raise ValueError(f"t_end: expected a time >= 0, got {float(T)}")
    states, params, arrays, dims, _, _, _, _ = _prepare(field, y0, params, float(T), None)
    bits = int(math.ceil(digits * math.log2(10))) + 32
    p = order or max(8, math.ceil(1.15 * digits) + 2)
    prog = _Program([field[s] for s in states], states, params, dims)
    shapes = [arrays[s].shape for s in states]
    scale0 = max([1.0] + [float(abs(v)) for s in states for v in np.asarray(arrays[s], dtype=object).ravel()])
    if max_radius is None:
        max_radius = 10.0 ** (-digits / 2) * scale0
    if not (max_radius > 0):
        raise ValueError(f"max_radius: expected a positive number, got {max_radius!r}")
    t_start = _time.perf_counter()
    from ._precision import workdps
    from ._spectral import _from_arb
    with workprec(bits):
        ar = _FlintArith(bits)
        # the exact inputs as balls: rationals such as 1/3 are not binary numbers; the ball
        # holds them, its radius joins the error at t = 0, the constants keep theirs throughout
        mats = {s: _load_exact(params[s], s) for s in params}
        balls = [_load_exact(y0[s], s) for s in states]
        centre = [b.mid() for b in balls]
        radius0 = _norm_up([x - x.mid() for b in balls for x in b.entries()])
        with workdps(bits // 3 + 10):   # the candidate's constants at full precision (mpf rounds to mp.prec)
            consts = {s: np.array([[_from_arb(m[i, j].mid()) for j in range(m.ncols())] for i in range(m.nrows())],
                                  dtype=object).reshape(m.nrows(), m.ncols()) for s, m in mats.items()}
            ts = _Taylor(prog, ar, shapes, consts, p)
        scales = {i: ts.scales[i] for i in ts.scales}
        run = _Runner(prog, shapes, ts, ar, scales, mats, p, digits, sub, max_radius, wrapping)
        run.consts = consts
        return run.go(states, centre, T, max_steps, time_budget, progress, t_start, radius0, balls)


class _Runner:
    def __init__(self, prog, shapes, ts, ar, scales, mats, p, digits, sub, max_radius, wrapping):
        self.prog, self.shapes, self.ts, self.ar, self.scales = prog, shapes, ts, ar, scales
        self.mats, self.p, self.digits, self.sub = mats, p, digits, sub
        self.max_radius, self.wrapping = max_radius, wrapping
        self.flint = _flint()

    # the step size: Jorba-Zou from the last two coefficients, a dyadic number
    def _step(self, z, left: Fraction) -> Fraction:
        p = self.p
        lg = self.ar.log2max
        top = max(lg(zv[0], 0) for zv in z)
        log2eps = -self.digits * math.log2(10) + (max(top, 0.0) if top > -math.inf else 0.0)
        log2s = math.inf
        for k in (p - 1, p):
            nk = max(lg(zv[k], 0) for zv in z)
            if nk > -math.inf:
                log2s = min(log2s, (log2eps - nk) / k)
        h = 2.0 ** min(log2s, 20.0) * math.exp(-0.7 / (p - 1))
        hq = _dyadic_below(h)
        return left if hq >= left else hq

    def go(self, states, centre, T, max_steps, time_budget, progress, t_start, radius0, balls):
        flint = self.flint
        t = Fraction(0)
        radius = radius0
        steps: list = []
        widths = [(0.0, _up(radius0))]
        reason = ""
        box = list(balls) if self.wrapping == "box" else None
        halvings = 0
        while t < T:
            if len(steps) >= max_steps:
                reason = f"max_steps={max_steps} reached"
                break
            if time_budget is not None and _time.perf_counter() - t_start > time_budget:
                reason = f"time budget of {time_budget:g} s spent"
                break
            z = self.ts.coefficients([(c, 0) for c in centre], 1)
            h = self._step(z, T - t)
            for _ in range(halvings):
                h = h / 2
            if h == 0 or (h < T * Fraction(1, 10 ** 12) and h < T - t):
                reason = f"step size collapsed at t = {float(t):.6g}"
                break
            if self.wrapping == "box":
                res = self._box_step(box, z, h)
            else:
                res = self._ball_step(centre, z, radius, h)
            if res is None:   # the a-priori tube/box did not close: a smaller step
                halvings += 1
                if halvings > 30:
                    reason = f"no a-priori enclosure at t = {float(t):.6g}"
                    break
                continue
            halvings = max(0, halvings - 1)
            st, new_centre, new_radius, new_box = res
            st.t0 = t
            worst = (_up(new_radius) if self.wrapping == "ball"
                     else max(_up(x.rad()) for m in new_box for x in m.entries()))
            if not worst <= self.max_radius:
                reason = (f"uncertified past t = {float(t):.6g}: the enclosure's radius would grow to "
                          f"{worst:.3g} > max_radius {self.max_radius:.3g}")
                break
            steps.append(st)
            t = t + h
            centre, radius, box = new_centre, new_radius, new_box
            widths.append((float(t), worst))
            if progress is not None:
                progress(float(t), float(T))
        if self.wrapping == "box":
            final = dict(zip(states, box))
            radius = flint.arb(max(max((_up(x.rad()) for x in m.entries()), default=0.0) for m in box))
        else:
            final = {s: c + _radius_mat((c.nrows(), c.ncols()), _up(radius)) for s, c in zip(states, centre)}
        return FlowEnclosure(tuple(states), T, t, final, radius, steps, self.digits, self.p, self.ar.bits,
                             self.wrapping, _time.perf_counter() - t_start, reason, widths, self._field)

    # ---- ball (logarithmic norm) ----
    def _ball_step(self, centre, z, radius, h):
        flint = self.flint
        hq = flint.arb(_fmpq(h))
        # the candidate in sigma = (t - t0) / h: exact coefficients
        coef = []
        for zv in z:
            cs, hk = [], flint.arb(1)
            for c in zv:
                cs.append((c * hk).mid())
                hk = hk * hq
            coef.append(cs)
        polys = []
        for v, (r, c) in enumerate(self.shapes):
            polys.append([[flint.arb_poly([m[i, j] for m in coef[v]]) for j in range(c)] for i in range(r)])
        # defect in t: (1/h) dP/dsigma - f(P)
        vals = _run_program(self.prog, self.shapes, _PolyOps(self.mats), polys, self.scales)
        inv_h = flint.arb(_fmpq(1 / h))
        dcoef: dict = {}
        for v, out in enumerate(self.prog.outputs):
            F = vals[out]
            r, c = self.shapes[v]
            for i in range(r):
                for j in range(c):
                    d = polys[v][i][j].derivative() * inv_h - F[i][j]
                    for k, x in enumerate(d.coeffs()):
                        dcoef.setdefault(k, []).append(x)
        norms = [(k, _norm_up(xs)) for k, xs in sorted(dcoef.items())]

        def integral(lo, hi):   # int over sigma in [lo, hi] of ||delta||, in units of t
            s = flint.arb(0)
            a, b = flint.arb(_fmpq(lo)), flint.arb(_fmpq(hi))
            for k, nk in norms:
                s += nk * (b ** (k + 1) - a ** (k + 1)) / (k + 1)
            return (s * hq).upper()

        total = integral(Fraction(0), Fraction(1))
        tiny = flint.arb(2) ** (-self.ar.bits) * self.max_radius
        rho = (_TUBE_FACTOR * (radius + total) + tiny).upper()
        st = Step(Fraction(0), h, coef, None, None)
        for _attempt in range(_TUBE_TRIES):
            eps = radius
            tube = flint.arb(0)
            ok = True
            for j in range(self.sub):
                lo, hi = Fraction(j, self.sub), Fraction(j + 1, self.sub)
                st.tube = rho
                boxes = st.enclose(lo, hi)
                bvals = _run_program(self.prog, self.shapes, _MatOps(self.mats), boxes, self.scales)
                mu = _mu_upper(_jacobian(self.prog, self.shapes, bvals, self.scales))
                dt = flint.arb(_fmpq((hi - lo) * h))
                grow = (mu * dt).exp().upper()
                growp = grow if grow > 1 else flint.arb(1)   # exp(max(mu, 0) dt)
                part = integral(lo, hi)
                sup = (growp * (eps + part)).upper()
                sup = sup if sup > eps else eps
                if not sup < rho:
                    ok = False
                    break
                tube = tube if tube > sup else sup
                eps = (grow * eps + growp * part).upper()
            if ok:
                break
            rho = (4 * rho).upper()
        else:
            return None
        st.tube = tube
        # the new centre: P(1), rounded; its rounding joins the radius
        end = []
        for cs in coef:
            acc = cs[0]
            for c in cs[1:]:
                acc = acc + c
            end.append(acc)
        rnd = _norm_up([x - x.mid() for m in end for x in m.entries()])
        new_radius = (eps + rnd).upper()
        st.end_radius = new_radius
        return st, [m.mid() for m in end], new_radius, None

    # ---- plain interval boxes (the wrapping effect, for comparison) ----
    def _box_step(self, box, z_mid, h):
        flint = self.flint
        hq = flint.arb(_fmpq(h))
        f0 = self._field(box)
        unit = flint.arb(0.5, 0.5)   # [0, 1]
        # a-priori box: Y = box + [0, h] f(Y), by inflation and one verification
        guess = [b + f * (hq * unit) for b, f in zip(box, f0)]
        guess = [g + _radius_mat((g.nrows(), g.ncols()), 2 * _up(_width(g)) + 1e-30) for g in guess]
        fy = self._field(guess)
        img = [b + f * (hq * unit) for b, f in zip(box, fy)]
        if not all(g.contains(i) for g, i in zip(guess, img)):
            return None
        zb = self._coefficients_ball(box)
        zr = self._coefficients_ball(guess)
        new = []
        for v in range(len(box)):
            acc = zr[v][self.p] * hq ** self.p
            for k in range(self.p - 1, -1, -1):
                acc = acc + zb[v][k] * hq ** k
            new.append(acc)
        st = Step(Fraction(0), h, [], flint.arb(0), flint.arb(0), box=img)
        return st, [m.mid() for m in new], flint.arb(0), new

    def _field(self, boxes):
        vals = _run_program(self.prog, self.shapes, _MatOps(self.mats), boxes, self.scales)
        return [vals[o] for o in self.prog.outputs]

    def _coefficients_ball(self, box):
        """Taylor coefficients (unscaled) of the solution from every point of ``box``: the program's
        recurrence with radii kept."""
        ar = _BallArith(self.ar.bits)
        ts = _Taylor(self.prog, ar, self.shapes, self.consts, self.p)
        ts.cval = self.ts.cval
        ts.scales = self.ts.scales
        return ts.coefficients([(b, 0) for b in box], 1)


def _hull(A, B):
    out = A.__class__(A.nrows(), A.ncols())
    for i in range(A.nrows()):
        for j in range(A.ncols()):
            out[i, j] = A[i, j].union(B[i, j])
    return out


def _load_exact(a, name) -> object:
    """An ``arb_mat`` of balls holding the exact entries of ``a``: binary floats, ints, mpf and
    dyadic rationals exactly, other rationals (``Fraction``, SymPy ``Rational``) rounded with a radius."""
    flint = _flint()
    arr = np.asarray(a, dtype=object)
    if arr.ndim != 2:
        arr = np.atleast_2d(arr)
    out = flint.arb_mat(*arr.shape)
    for i in range(arr.shape[0]):
        for j in range(arr.shape[1]):
            x = arr[i, j]
            if isinstance(x, sp.Basic):
                x = sp.Rational(x) if x.is_Float else x
                if not x.is_Rational:
                    raise ValueError(f"{name}: entry ({i}, {j}) = {x} is not a rational number")
                x = Fraction(int(x.p), int(x.q))
            x = _exactify(x)
            if isinstance(x, Fraction):
                out[i, j] = flint.arb(_fmpq(x))
            elif isinstance(x, (int, np.integer)):
                out[i, j] = flint.arb(flint.fmpz(int(x)))
            else:
                out[i, j] = flint.arb(float(x))
    return out


def _width(m):
    flint = _flint()
    w = flint.arb(0)
    for x in m.entries():
        r = x.rad()
        w = w if w > r else flint.arb(r)
    return w


class _BallArith(_FlintArith):
    """The flint recurrence with every radius kept: interval Taylor coefficients."""

    def cauchy(self, a, b, k):
        acc = a[0] * b[k]
        for j in range(1, k + 1):
            acc += a[j] * b[k - j]
        return acc

    def next_coef(self, f, ef, ev, h0, k):
        return f * (h0 / (k + 1))

    def normalize(self, x, e):
        return x, e

    def begin_order(self, k):
        self.flint.ctx.prec = self.bits


def ball_matrix(expr, env: Mapping):
    """The matrix expression ``expr`` (products, sums, transposes, numeric scalars) on the ball
    matrices (``arb_mat``) or arrays bound in ``env``: an ``arb_mat`` holding its value for every
    choice of the inputs inside their balls.

    >>> A = sp.MatrixSymbol("A", 1, 1)
    >>> print(ball_matrix(2 * A * A, {A: np.array([[3.0]])}))
    [18.0000000000000]
    """
    from ._certify import _ArbOps, _arb_mat, _evaluate_matrix
    flint = _flint()
    env = {k: v if isinstance(v, flint.arb_mat) else _arb_mat(np.asarray(v, dtype=float)) for k, v in env.items()}
    return _evaluate_matrix(expr, env, _ArbOps())
