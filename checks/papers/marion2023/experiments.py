"""marion2023 experiments: two-timescale SGD against the eps -> 0 limit (Figs. 3-4), the standard
regime eps = 1 (Fig. 5) and the box plot of the final error over eps (the ``varying_epsilon``
config). Parameters and protocol: ``shared/theory/marion2023.md`` sections 3 and 5.

Everything here is glue: the model and the limit formulas come from :mod:`theory` (derived by
SymPy), the numbers from :mod:`numerics` (closed-form piecewise integrals, the compiled SGD kernel,
the event-driven integrator). Plain functions (:func:`sgd_experiment`, :func:`limit_events`,
:func:`limit_euler`, :func:`epsilon_sweep`) write no files, so claims reuse them.

Protocol of the reference code kept here [code]: ``numpy.random.seed(seed)`` (legacy MT19937),
positions ``sort(rand(m))``, then per step ``rand()`` for x and ``rand()`` for the noise; ``P =
int(tau_max / (h eps))`` and the loop runs ``p = 0..P`` (P + 1 updates); the loss is recorded before
the update at ``p = 0, Q, .., 100 Q`` with ``Q = int(P / 100)``. Unlike the reference, seed 0 is a
seed (the reference's ``if seed:`` skips it).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import sympy as sp

from flowcert.checks._experiment import as_int as _int, as_real as _real
from flowcert.checks._experiment import png as _png, new_figure as _new_figure
from flowcert.checks._experiment import LIFT, Experiment, UsageError, beyond, register_experiment, write_atomic
from flowcert.numerics import (DivergenceError, Template, UnitNetwork, cell_projection, have_numba, online_sgd,
                      solve_events)
from flowcert.theory import SIGMA, CellLimit, StepTarget, TARGETS, piecewise_polynomial
from flowcert.theory._shallow import t as _t

__all__ = ["BadSubdivision", "check_subdivision", "COMMON", "epsilon_sweep", "flanking", "floor_loss",
           "GRADIENTS", "hitting_time_exact", "horizon", "HORIZON_FACTOR", "initial_positions",
           "limit_euler", "limit_events", "limit_hitting_times", "limit_loss", "limit_on_checkpoints",
           "LimitRun", "network", "PAPER", "plan", "REFERENCE", "resolve_target", "sgd_experiment",
           "STANDARD", "SWEEP", "target_arrays", "TAU_PAPER", "template", "tracking", "TWO_TIMESCALE",
           "uncovered"]

PAPER = "marion2023"
TAU_PAPER = 0.035  # tt_config_paper / tt_config_quick [code]
#: auto horizon = this x the limit's last hitting time; 0.035 / 0.028 for the paper's seed-42 run
HORIZON_FACTOR = 1.25
GRADIENTS = ("reference", "exact")  # reference: the code's indicator surrogate; exact: sigma'
#: seed-42 values of the authors' reference code
REFERENCE = {
    "limit_loss": {0.0: 0.899, 0.0035: 0.152, 0.007: 0.114, 0.0105: 0.083, 0.014: 0.075,
                   0.0175: 0.065, 0.021: 0.053, 0.0245: 0.036, 0.028: 0.0026, 0.0315: 0.0, 0.035: 0.0},
    "quick_sgd_loss": [10.60, 0.183, 0.132, 0.096, 0.088, 0.076, 0.067, 0.053, 0.036, 0.011, 0.009],
    "quick_final_positions": [0.0204, 0.0581, 0.1561, 0.1561, 0.1834, 0.1902, 0.2000, 0.2917, 0.3076,
                              0.3499, 0.4330, 0.5000, 0.5993, 0.6499, 0.6924, 0.7346, 0.8001, 0.8657,
                              0.9507, 0.9699],
    "limit_final_positions": [0.020584, 0.058084, 0.155995, 0.156019, 0.181825, 0.186170, 0.2, 0.291229,
                              0.306774, 0.35, 0.433061, 0.5, 0.598658, 0.65, 0.692887, 0.734589, 0.8,
                              0.866176, 0.950714, 0.969910],
    "standard_final_loss_band": [0.46, 0.70],
}


class BadSubdivision(UsageError):
    """Fewer than two neurons in a piece of the target: the eps -> 0 limit is not defined [code]."""


# ---------------------------------------------------------------------------------------------
# theory -> numbers


@lru_cache(maxsize=None)
def template(exact: bool = False) -> Template:
    """sigma as a numerics Template (Fractions when ``exact``), from the derived Piecewise."""
    br, co = piecewise_polynomial(SIGMA, _t)
    conv = (lambda v: Fraction(int(v.p), int(v.q))) if exact else float
    return Template(tuple(conv(b) for b in br), tuple(tuple(conv(c) for c in cc) for cc in co))


@lru_cache(maxsize=None)
def _velocity_functions():
    """The limit velocities (du_L/dtau, du_R/dtau) as float functions of (d_L, d_R, Delta)."""
    c = CellLimit()
    args = (c.dL, c.dR, c.Delta)
    return (sp.lambdify(args, c.velocities[c.uL], "math"), sp.lambdify(args, c.velocities[c.uR], "math"))


@lru_cache(maxsize=None)
def _hitting_integrand():
    c = CellLimit()
    g, k = c.hitting_time_integrand
    return sp.lambdify((c.dL, k, c.Delta), g, "mpmath")


def network(eta) -> UnitNetwork:
    return UnitNetwork(template(), float(eta))


def resolve_target(name="reference-code", positions=None, values=None) -> StepTarget:
    """A named target, with its positions and/or values replaced when given."""
    if name not in TARGETS:
        raise UsageError(f"target: expected one of {', '.join(TARGETS)}, got {name!r}")
    pos, vals = TARGETS[name]
    for key, v in (("target_positions", positions), ("target_values", values)):
        if v is not None and (not isinstance(v, (list, tuple)) or not v or not all(
                not isinstance(e, bool) and isinstance(e, (int, float)) and math.isfinite(e) for e in v)):
            raise UsageError(f"{key}: expected a non-empty list of finite numbers, got {v!r}")
    if positions is not None:
        if any(not 0 < p < 1 for p in positions):
            raise UsageError(f"target_positions: expected points strictly inside (0, 1), got {list(positions)}")
        if any(b <= a for a, b in zip(positions[:-1], positions[1:])):
            raise UsageError(f"target_positions: expected strictly increasing points, got {list(positions)}")
        pos = tuple(positions)
    if values is not None:
        vals = tuple(values)
    if len(vals) != len(pos) + 1:
        raise UsageError(f"target_values: expected {len(pos) + 1} values for {len(pos)} discontinuities "
                         f"(one per piece), got {len(vals)}")
    try:
        custom = positions is not None or values is not None
        return StepTarget(pos, vals, "custom" if custom else name)
    except ValueError as e:
        raise UsageError(str(e)) from None


def target_arrays(tg: StepTarget):
    return np.array([float(p) for p in tg.positions]), np.array([float(v) for v in tg.values])


@lru_cache(maxsize=None)
def _window_divisor() -> float:
    """``1 / c`` for theory's one-unit smoothing error ``c Delta^2 eta`` (SymPy's integral, proved
    equal to the paper's 1/28 by the claim marion2023.act.integrals): the floor takes its
    constant from there, never typed again here."""
    from flowcert.theory._shallow import one_step_constants
    c, _ = one_step_constants()
    if not (c.is_Rational and c > 0):
        raise ValueError(f"one_step_constants: expected a positive rational c, got {c}")
    return float(1 / c)


def floor_loss(tg: StepTarget, eta: float) -> float:
    """``eta sum Delta_i^2 / 28``: one centred unit per jump [derived] (the 28 from theory/)."""
    return float(eta) * float(sum(d ** 2 for d in tg.jumps)) / _window_divisor()


def check_subdivision(u, positions) -> None:
    """At least two neurons in every closed piece ``[v_k, v_{k+1}]`` (v_0 = 0, v_{n+1} = 1) [code]."""
    u = np.asarray(u, dtype=float)
    edges = np.concatenate([[0.0], np.asarray(positions, dtype=float), [1.0]])
    for lo, hi in zip(edges[:-1], edges[1:]):
        n = int(np.sum((u >= lo) & (u <= hi)))
        if n < 2:
            raise BadSubdivision(f"initial positions: {n} neuron(s) in the target piece [{lo:g}, {hi:g}]; "
                                 f"the eps -> 0 limit needs at least two per piece (try another seed or a larger m)")


def flanking(u, positions) -> list[tuple[int, int]]:
    """(left, right) flanking neuron of each discontinuity: last u <= v, first u >= v [code]."""
    u = np.asarray(u, dtype=float)
    out = []
    for v in positions:
        left = np.nonzero(u <= v)[0]
        right = np.nonzero(u >= v)[0]
        if not len(left) or not len(right):
            raise BadSubdivision(f"discontinuity {v:g}: no neuron on one side")
        out.append((int(left[-1]), int(right[0])))
    return out


def uncovered(u, positions, radius) -> list[float]:
    """Discontinuities with no neuron within ``radius``."""
    u = np.asarray(u, dtype=float)
    return [float(v) for v in positions if np.min(np.abs(u - v)) > radius]


# ---------------------------------------------------------------------------------------------
# the eps -> 0, eta -> 0 limit


@dataclass
class LimitRun:
    tau: np.ndarray
    u: np.ndarray            # (len(tau), m)
    loss: np.ndarray         # reduced loss: exact cell projection of f* on the neurons' cells
    hits: list = field(default_factory=list)
    scheme: str = "events"


def limit_loss(u, positions, values) -> float:
    return float(cell_projection(np.sort(np.asarray(u, dtype=float)), positions, values)[1])


def hitting_time_exact(dL: float, dR: float, delta: float, dps: int = 30) -> float:
    """The hitting time by quadrature of the derived integrand (the conserved d_L^3 - d_R^3
    eliminates the farther neuron), at ``dps`` digits."""
    import mpmath
    near, far = min(dL, dR), max(dL, dR)
    g = _hitting_integrand()
    with mpmath.workdps(dps):
        near_ = mpmath.mpf(near)
        k = mpmath.mpf(far) ** 3 - near_ ** 3
        # the integrand changes on the scale k^(1/3) near 0 (tiny when d_L ~ d_R): split there
        c = mpmath.cbrt(k)
        pts = [0] + [p for p in (c / 10, c, 10 * c) if 0 < p < near_] + [near_]
        return float(mpmath.quad(lambda z: g(z, k, mpmath.mpf(delta)), pts))


def limit_events(u0, positions, values, tau_eval, rtol=1e-12, atol=1e-15) -> LimitRun:
    """The limit flow with exact event handling: when a flanking neuron reaches its discontinuity
    it is placed on it and both flanking neurons of that discontinuity stop."""
    u0 = np.asarray(u0, dtype=float)
    pos = np.asarray(positions, dtype=float)
    vals = np.asarray(values, dtype=float)
    check_subdivision(u0, pos)
    pairs = flanking(u0, pos)
    jumps = np.diff(vals)
    fL, fR = _velocity_functions()
    active = [u0[iL] < v < u0[iR] for (iL, iR), v in zip(pairs, pos)]

    def rhs(_t, y):
        dy = np.zeros_like(y)
        for i, ((iL, iR), v, D) in enumerate(zip(pairs, pos, jumps)):
            if active[i]:
                dL, dR = v - y[iL], y[iR] - v
                dy[iL], dy[iR] = fL(dL, dR, D), fR(dL, dR, D)
        return dy

    events = []
    for (iL, iR), v in zip(pairs, pos):
        events.append(lambda _t, y, iL=iL, v=v: v - y[iL])
        events.append(lambda _t, y, iR=iR, v=v: y[iR] - v)
    hits = [None] * len(pos)

    def on_event(e, tt, y):
        i = e // 2
        iL, iR = pairs[i]
        y[iL if e % 2 == 0 else iR] = pos[i]
        active[i] = False
        hits[i] = (tt, "left" if e % 2 == 0 else "right")
        return y, (2 * i, 2 * i + 1)

    t_end = float(tau_eval[-1])
    sol = solve_events(rhs, u0, t_end, events, on_event, t_eval=tau_eval, rtol=rtol, atol=atol)
    loss = np.array([limit_loss(y, pos, vals) for y in sol.y])
    info = []
    for i, ((iL, iR), v, D) in enumerate(zip(pairs, pos, jumps)):
        dL, dR = v - u0[iL], u0[iR] - v
        info.append({"v": float(v), "jump": float(D), "left": iL, "right": iR, "d_L0": float(dL),
                     "d_R0": float(dR), "s0": float(dL + dR), "bound": float(2 * (dL + dR) / D ** 2),
                     "tau_hit": hits[i][0] if hits[i] else (0.0 if min(dL, dR) == 0 else None),
                     "side": hits[i][1] if hits[i] else None,
                     "conserved": float(dL ** 3 - dR ** 3)})
    return LimitRun(np.asarray(tau_eval, dtype=float), sol.y, loss, info, "events")


def limit_hitting_times(u0, positions, values) -> list[float]:
    """Exact hitting time of every discontinuity (quadrature of the derived integrand)."""
    pos, vals = np.asarray(positions, float), np.asarray(values, float)
    check_subdivision(u0, pos)
    out = []
    for (iL, iR), v, D in zip(flanking(u0, pos), pos, np.diff(vals)):
        dL, dR = v - u0[iL], u0[iR] - v
        out.append(0.0 if min(dL, dR) == 0 else hitting_time_exact(dL, dR, D, dps=20))
    return out


def horizon(u0, positions, values) -> float:
    """``HORIZON_FACTOR`` x the limit's last hitting time, rounded up to 2 significant digits."""
    last = max(limit_hitting_times(u0, positions, values))
    raw = HORIZON_FACTOR * last
    if raw <= 0:
        return TAU_PAPER
    scale = 10 ** (math.floor(math.log10(raw)) - 1)
    return math.ceil(raw / scale) * scale


def limit_euler(u0, positions, values, tau_max, n_steps=1000) -> LimitRun:
    """The reference scheme [code]: forward Euler with ``n_steps`` steps of ``tau_max / n_steps``,
    a neuron that would step past its discontinuity placed on it; the >= 2-per-piece check at
    every step. Returns the state before each step (n_steps + 1 states)."""
    pos, vals = np.asarray(positions, float), np.asarray(values, float)
    u = np.array(u0, dtype=float)
    jumps = np.diff(vals)
    dt = tau_max / n_steps
    fL, fR = _velocity_functions()
    states = [u.copy()]
    for _ in range(n_steps):
        check_subdivision(u, pos)
        deriv = np.zeros_like(u)
        dist = np.zeros_like(u)
        for (iL, iR), v, D in zip(flanking(u, pos), pos, jumps):
            dL, dR = v - u[iL], u[iR] - v
            if dL > 0 and dR > 0:
                deriv[iL], deriv[iR] = -fL(dL, dR, D), -fR(dL, dR, D)  # the code's dL_red/du
                dist[iL], dist[iR] = -dL, dR
        snap = np.abs(dist) < np.abs(dt * deriv)
        u = np.where(snap, u - dist, u - dt * deriv)
        states.append(u.copy())
    states = np.array(states)
    tau = np.arange(n_steps + 1) * dt
    return LimitRun(tau, states, np.array([limit_loss(s, pos, vals) for s in states]), [], "euler")


def limit_on_checkpoints(euler: LimitRun, steps_P: int, checkpoints: Sequence[int]) -> np.ndarray:
    """The reference's limit loss at SGD checkpoint p: the state after the Euler steps taken at SGD
    steps 0, I, 2I, ... < p (``I = int(P / n_steps)``)."""
    n = len(euler.tau) - 1
    interval = max(1, steps_P // n)
    idx = [min(n, -(-p // interval)) for p in checkpoints]
    return euler.loss[idx]


# ---------------------------------------------------------------------------------------------
# SGD


def initial_positions(rs: np.random.RandomState, m: int) -> np.ndarray:
    return np.sort(rs.rand(m))


def _noop(done, total):
    pass


#: the most SGD steps a run takes (the paper's deep profile needs 1.75e8; 1e10 is ~20 minutes)
MAX_STEPS = 10 ** 10


def plan(p: dict) -> dict:
    """Resolve a parameter dict: the target, the horizon and the step count (validated)."""
    tg = resolve_target(p["target"], p["target_positions"], p["target_values"])
    pos, vals = target_arrays(tg)
    m, eta = _int("neurons", p["neurons"], 2), _real("eta", p["eta"])
    eps, h = _real("epsilon", p["epsilon"]), _real("h", p["h"])
    seed = _int("seed", p["seed"], 0)
    _real("noise", p["noise"], positive=False)
    if p["gradient"] not in GRADIENTS:
        raise UsageError(f"gradient: expected one of {', '.join(GRADIENTS)}, got {p['gradient']!r}")
    cps = _int("checkpoints", p["checkpoints"], 1)
    rs = np.random.RandomState(seed)
    if p.get("init_positions") is not None:
        u0 = p["init_positions"]
        if not isinstance(u0, (list, tuple)) or len(u0) != m or not all(
                not isinstance(e, bool) and isinstance(e, (int, float)) and 0 <= e <= 1 for e in u0):
            raise UsageError(f"init_positions: expected {m} numbers in [0, 1] (m = {m}), got {u0!r}")
        if any(b < a for a, b in zip(u0[:-1], u0[1:])):
            raise UsageError(f"init_positions: expected sorted positions, got {list(u0)}")
        u0 = np.array(u0, dtype=float)
    else:
        u0 = initial_positions(rs, m)
    if p["limit"]:
        check_subdivision(u0, pos)
    if p["steps"] is not None:
        P = _int("steps", p["steps"], 1)
        tau = P * h * eps
    else:
        if p["tau_max"] is not None:
            tau = _real("tau_max", p["tau_max"])
        elif tg.name == "reference-code":
            tau = TAU_PAPER
        else:
            if not p["limit"]:
                raise UsageError("tau_max: required for a target other than reference-code when limit=false "
                                 "(the automatic horizon comes from the limit's hitting times)")
            tau = horizon(u0, pos, vals)
        P = int(tau / (h * eps))
        if P < 1:
            raise UsageError(f"tau_max: {tau:g} / (h eps) gives no step; raise tau_max or h")
    if beyond(P, MAX_STEPS):
        # ~20 s per 1.75e8 steps: beyond this the run takes days, or never ends (eps = 1e-300)
        raise UsageError(f"steps: tau_max / (h eps) = {P:.3g} SGD steps; at most {MAX_STEPS:.0e}{LIFT}")
    if beyond(cps, MAX_STEPS):
        raise UsageError(f"checkpoints: {cps}; at most {MAX_STEPS:.0e}{LIFT}")
    Q = max(1, P // cps)
    record = [k * Q for k in range(cps + 1) if k * Q <= P]
    return {"target": tg, "pos": pos, "vals": vals, "m": m, "eta": eta, "eps": eps, "h": h,
            "seed": seed, "rs": rs, "u0": u0, "tau_max": tau, "P": P, "Q": Q, "record": record}


def sgd_experiment(p: dict, progress: Callable | None = None) -> dict:
    """One SGD run with the limit beside it; the JSON-able results (no files)."""
    progress = progress or _noop
    pl = plan(p)
    pos, vals, eta, eps, h = pl["pos"], pl["vals"], pl["eta"], pl["eps"], pl["h"]
    net = network(eta)
    m = pl["m"]
    t0 = time.perf_counter()
    try:
        run = online_sgd(np.zeros(m + 1), pl["u0"], template=template(), width=eta, positions=pos,
                         values=vals, lr=h, ratio=eps, steps=pl["P"] + 1, rng=pl["rs"],
                         noise=float(p["noise"]), u_grad="uniform" if p["gradient"] == "reference" else "exact",
                         record=pl["record"], progress=progress)
    except DivergenceError as e:
        raise UsageError(f"h={h:g}, epsilon={eps:g}: {e}; lower h") from None
    sgd_seconds = time.perf_counter() - t0
    losses = [float(net.loss(a, u, pos, vals)) for a, u in zip(run.a_rec, run.u_rec)]
    taus = [k * eps * h for k in pl["record"]]
    res = {
        "target": {"name": pl["target"].name, "positions": pos.tolist(), "values": vals.tolist(),
                   "jumps": np.diff(vals).tolist(), "l2_squared": float(pl["target"].l2_squared)},
        "steps_P": pl["P"], "updates": pl["P"] + 1, "tau_max": pl["tau_max"], "checkpoint_every": pl["Q"],
        "initial_positions": pl["u0"].tolist(),
        "loss_curve": {"p": pl["record"], "tau": taus, "loss": losses},
        "final_loss": float(net.loss(run.a, run.u, pos, vals)),
        "final_positions": run.u.tolist(), "final_weights": run.a.tolist(),
        "floor": floor_loss(pl["target"], eta),
        "uncovered_discontinuities": uncovered(run.u, pos, eta),
        "nearest_neuron": [{"v": float(v), "distance": float(np.min(np.abs(run.u - v))),
                            "weight": float(run.a[1 + int(np.argmin(np.abs(run.u - v)))])} for v in pos],
        "cover_radius": eta,
        "sgd_seconds": sgd_seconds, "ns_per_step": 1e9 * sgd_seconds / (pl["P"] + 1), "backend": run.backend,
    }
    if p["limit"]:
        lim = limit_events(pl["u0"], pos, vals, np.array(taus))
        eul = limit_euler(pl["u0"], pos, vals, pl["tau_max"])
        res["limit_loss_curve"] = {"tau": taus, "loss": lim.loss.tolist(),
                                   "reference_scheme": limit_on_checkpoints(eul, pl["P"], pl["record"]).tolist()}
        res["limit_final_positions"] = lim.u[-1].tolist()
        res["limit_hits"] = lim.hits
        res["limit_converged_by"] = (max(h_["tau_hit"] for h_ in lim.hits)
                                     if all(h_["tau_hit"] is not None for h_ in lim.hits) else None)
        res["_limit"] = lim
    else:
        res["limit_loss_curve"] = None
    res["_run"] = run
    res["_net"] = net
    return res


def tracking(res: dict, burn: float = 0.1) -> dict:
    """How closely the SGD loss follows the limit's: at each checkpoint past ``burn`` x horizon,
    ``L_sgd / (L_lim + floor)``, where the floor is the eta-smoothing error of a covered jump."""
    tau = np.array(res["loss_curve"]["tau"])
    ls = np.array(res["loss_curve"]["loss"])
    ll = np.array(res["limit_loss_curve"]["loss"])
    keep = tau >= burn * tau[-1]
    ratio = ls[keep] / (ll[keep] + res["floor"])
    return {"tau": tau[keep].tolist(), "ratio": ratio.tolist(), "max_log_ratio": float(np.max(np.abs(np.log(ratio)))),
            "median_log_ratio": float(np.median(np.abs(np.log(ratio))))}


# ---------------------------------------------------------------------------------------------
# the epsilon sweep


def epsilon_sweep(epsilons, repeats, p: dict, progress: Callable | None = None) -> dict:
    """Final SGD loss (last checkpoint) of ``repeats`` runs per eps, one legacy stream seeded once
    and continued across runs and eps in order, as the reference's ``run_epsilon`` [code]. No
    limit is run, so (as in the reference) no initialisation is rejected."""
    progress = progress or _noop
    tg = resolve_target(p["target"], p["target_positions"], p["target_values"])
    pos, vals = target_arrays(tg)
    m, eta, h = _int("neurons", p["neurons"], 2), _real("eta", p["eta"]), _real("h", p["h"])
    tau = _real("tau_max", p["tau_max"])
    rs = np.random.RandomState(_int("seed", p["seed"], 0))
    net = network(eta)
    plans = [(e, int(tau / (h * e))) for e in epsilons]
    total = sum(P + 1 for _, P in plans) * repeats
    done = 0
    out = {}
    for e, P in plans:
        Q = max(1, P // 100)
        finals, unc = [], []
        for _ in range(repeats):
            u0 = initial_positions(rs, m)
            run = online_sgd(np.zeros(m + 1), u0, template=template(), width=eta, positions=pos, values=vals,
                             lr=h, ratio=e, steps=P + 1, rng=rs, noise=float(p["noise"]),
                             u_grad="uniform" if p["gradient"] == "reference" else "exact", record=[min(100 * Q, P)],
                             progress=lambda d, _t, base=done: progress(base + d, total))
            done += P + 1
            finals.append(float(net.loss(run.a_rec[0], run.u_rec[0], pos, vals)))
            unc.append(len(uncovered(run.u_rec[0], pos, eta)))
        out[repr(e)] = {"epsilon": e, "steps_P": P, "final_loss": finals, "uncovered_count": unc,
                        "median": float(np.median(finals)), "mean": float(np.mean(finals))}
    return out


# ---------------------------------------------------------------------------------------------
# figures


def _iterate_figure(res, p) -> bytes:
    fig = _new_figure((8, 4.8))
    ax = fig.add_subplot()
    pos, vals = np.array(res["target"]["positions"]), np.array(res["target"]["values"])
    xs = np.linspace(0, 1, 4001)
    edges = np.concatenate([[0], pos, [1]])
    ax.step(np.concatenate([edges[:-1], [1]]), np.concatenate([vals, [vals[-1]]]), where="post",
            color="k", lw=2.2, label="target f*")
    net, run = res["_net"], res["_run"]
    Phi, _ = net.pieces(run.u, pos, vals)
    f = (Phi(xs) * run.a[:, None]).sum(axis=0)
    ax.plot(xs, f, color="tab:blue", lw=1.3, label=f"SGD f(·, a, u), final loss {res['final_loss']:.4f}")
    for i, uj in enumerate(run.u):
        ax.axvline(uj, color="tab:blue", ls="--", lw=0.6, alpha=0.7, label="SGD neuron positions" if i == 0 else None)
    if res.get("limit_loss_curve"):
        ul = np.sort(np.array(res["limit_final_positions"]))
        avg, _ = cell_projection(ul, pos, vals)
        cells = np.concatenate([[0], ul, [1]])
        ax.step(np.concatenate([cells[:-1], [1]]), np.concatenate([avg, [avg[-1]]]), where="post",
                color="tab:orange", lw=1.1, ls=(0, (4, 2)), label="ε→0 limit (Heaviside), final")
        ax.plot(ul, np.full_like(ul, min(0, vals.min()) - 0.1), "^", color="tab:orange", ms=5,
                label="limit neuron positions")
    ax.set_xlabel("x")
    ax.set_ylim(min(0, vals.min()) - 0.3, vals.max() + 0.6)
    ax.set_title(f"marion2023: target '{res['target']['name']}', m={p['neurons']}, η={p['eta']:g}, ε={p['epsilon']:g}, "
                 f"h={p['h']:g}, P={res['steps_P']:,}, seed {p['seed']}", fontsize=9)
    ax.legend(fontsize=7.5, loc="upper left")
    return _png(fig)


def _loss_figure(res, p) -> bytes:
    fig = _new_figure((8, 4.8))
    ax = fig.add_subplot()
    lc = res["loss_curve"]
    ax.semilogy(lc["p"], lc["loss"], color="tab:blue", lw=1.5, label="SGD, exact population loss")
    if res.get("limit_loss_curve"):
        ll = np.array(res["limit_loss_curve"]["loss"])
        clip = res["floor"] / 10
        ax.semilogy(lc["p"], np.maximum(ll, clip), color="tab:orange", lw=1.5,
                    label=f"ε→0 limit (events); drawn at {clip:.1e} once exactly 0")
        ax.semilogy(lc["p"], np.maximum(res["limit_loss_curve"]["reference_scheme"], clip), color="tab:red",
                    lw=0.8, ls=":", label="limit, reference Euler scheme (1000 steps)")
    ax.axhline(res["floor"], color="gray", ls="--", lw=0.8, label=f"η ΣΔ²/28 = {res['floor']:.4g}")
    ax.set_xlabel("p = τ / (εh)")
    ax.set_ylabel("L²-error ∫(f − f*)²")
    ax.set_title(f"marion2023 loss: target '{res['target']['name']}', ε={p['epsilon']:g}, h={p['h']:g}, "
                 f"τ_max={res['tau_max']:.4g}", fontsize=9)
    ax.grid(alpha=0.3, which="both", lw=0.4)
    ax.legend(fontsize=8)
    return _png(fig)


def _box_figure(sweep, p) -> bytes:
    fig = _new_figure((6.5, 4.5))
    ax = fig.add_subplot()
    keys = list(sweep)
    data = [sweep[k]["final_loss"] for k in keys]
    ax.boxplot(data, tick_labels=[f"ε = {sweep[k]['epsilon']:g}" for k in keys])
    for i, d in enumerate(data, start=1):
        ax.plot(np.full(len(d), i) + np.linspace(-0.12, 0.12, len(d)), d, ".", color="tab:blue", ms=4, alpha=0.6)
    ax.set_yscale("log")
    ax.set_ylabel("final L²-error (last checkpoint)")
    ax.set_title(f"marion2023 ε sweep: {len(data[0])} repeats per ε, τ_max={p['tau_max']:g}, h={p['h']:g}, "
                 f"seed {p['seed']}", fontsize=9)
    ax.grid(axis="y", alpha=0.3, which="both")
    return _png(fig)


# ---------------------------------------------------------------------------------------------
# experiments


def _public(res):
    return {k: v for k, v in res.items() if not k.startswith("_")}


def _summary(res) -> list[str]:
    lines = [f"final loss {res['final_loss']:.5f} (floor eta*sum(jump^2)/28 = {res['floor']:.4g}); "
             f"P = {res['steps_P']:,} steps ({res['backend']}; time in the timing object)",
             "uncovered discontinuities (no neuron within eta): "
             + (", ".join(f"{v:g}" for v in res["uncovered_discontinuities"]) or "none")]
    if res.get("limit_loss_curve"):
        lines.append(f"limit: every discontinuity reached by tau = {res['limit_converged_by']:.4g} "
                     f"(horizon {res['tau_max']:.4g})" if res["limit_converged_by"] is not None
                     else "limit: not converged within the horizon")
    return lines


def _run_sgd(p: dict, out: Path, progress: Callable) -> dict:
    out = Path(out)
    res = sgd_experiment(p, progress)
    write_atomic(out / "iterate.png", _iterate_figure(res, p))
    write_atomic(out / "loss.png", _loss_figure(res, p))
    rows = ["p,tau,sgd_loss,limit_loss"]
    ll = res["limit_loss_curve"]["loss"] if res.get("limit_loss_curve") else [math.nan] * len(res["loss_curve"]["p"])
    rows += [f"{a},{b!r},{c!r},{d!r}" for a, b, c, d in zip(res["loss_curve"]["p"], res["loss_curve"]["tau"],
                                                            res["loss_curve"]["loss"], ll)]
    write_atomic(out / "loss_curve.csv", "\n".join(rows) + "\n")
    pub = _public(res)
    if res.get("limit_loss_curve"):
        pub["tracking"] = tracking(res)
    pub["files"] = ["iterate.png", "loss.png", "loss_curve.csv"]
    pub["summary"] = _summary(res)
    if not have_numba():
        pub["summary"].append("numba missing: the interpreted kernel was used (pip install numba)")
    return pub


def _check(p: dict) -> None:
    """``--set`` validation before anything runs (the random draw is checked at run time)."""
    try:
        if p.get("epsilons") is None:
            plan(dict(p, limit=False, tau_max=p["tau_max"] or TAU_PAPER))
        else:
            resolve_target(p["target"], p["target_positions"], p["target_values"])
            _int("neurons", p["neurons"], 2)
            _int("seed", p["seed"], 0)
            _int("repeats", p["repeats"])
            for k in ("eta", "h", "tau_max"):
                _real(k, p[k])
            _real("noise", p["noise"], positive=False)
            e = p["epsilons"]
            if not isinstance(e, (list, tuple)) or not e or not all(
                    not isinstance(v, bool) and isinstance(v, (int, float)) and v > 0 for v in e):
                raise UsageError(f"epsilons: expected a non-empty list of positive numbers, got {e!r}")
            steps = p["repeats"] * sum(p["tau_max"] / (p["h"] * v) for v in e)
            if beyond(steps, MAX_STEPS):
                raise UsageError(f"repeats: {p['repeats']} runs of tau_max / (h eps) steps per eps are {steps:.3g} "
                                 f"SGD steps; at most {MAX_STEPS:.0e}{LIFT}")
    except UsageError as e:
        raise UsageError(f"--set {e}") from None


def _run_sweep(p: dict, out: Path, progress: Callable) -> dict:
    out = Path(out)
    t0 = time.perf_counter()
    sweep = epsilon_sweep(p["epsilons"], p["repeats"], p, progress)
    write_atomic(out / "boxplot.png", _box_figure(sweep, p))
    med = [sweep[k]["median"] for k in sweep]
    order = sorted(sweep, key=lambda k: sweep[k]["epsilon"])
    falls = all(sweep[a]["median"] < sweep[b]["median"] for a, b in zip(order[:-1], order[1:]))
    return {"sweep": sweep, "medians": med, "median_falls_as_epsilon_falls": falls,
            "final_loss": {k: sweep[k]["final_loss"] for k in sweep},
            "files": ["boxplot.png"], "wall_seconds": time.perf_counter() - t0,
            "summary": [f"eps={sweep[k]['epsilon']:g}: median final loss {sweep[k]['median']:.4g} "
                        f"(min {min(sweep[k]['final_loss']):.3g}, max {max(sweep[k]['final_loss']):.3g}); "
                        f"runs with an uncovered discontinuity: {sum(c > 0 for c in sweep[k]['uncovered_count'])}"
                        f"/{len(sweep[k]['uncovered_count'])}" for k in sweep]}


MARION_KEYS = {
    "target": "the step target: reference-code (values 1, 5, 1, 3, 1, 5) or paper-text (1, 4, 1, 2, 1, 4)",
    "target_positions": "discontinuities of a target of your own, sorted in (0, 1) (with target_values)",
    "target_values": "its values, one more than the positions",
    "neurons": "neurons m of the shallow network",
    "eta": "width eta of the smooth step sigma((x - u) / eta)",
    "seed": "seed of the initial positions and of the SGD stream (MT19937)",
    "gradient": "slow-layer gradient: the reference code's indicator surrogate, or the exact sigma'",
    "noise": "label noise: y = f*(x) + noise (2U - 1), U uniform (0: none)",
}
SGD_KEYS = {
    "epsilon": "ratio eps of the inner (slow) to the outer (fast) step size",
    "h": "outer step size; the inner one is eps h",
    "tau_max": "horizon in slow time tau = eps h p (auto: 0.035 for reference-code, else 1.25 x the limit's "
               "last hitting time)",
    "steps": "SGD steps P (auto: tau_max / (eps h)); overrides tau_max",
    "limit": "also integrate the eps -> 0 limit from the same start",
    "checkpoints": "points of the loss curve recorded along the run",
    "init_positions": "initial positions u_j, sorted in [0, 1] (auto: sort(rand(neurons)) from the seed)",
}

COMMON = {"target": "reference-code", "target_positions": None, "target_values": None, "neurons": 20,
          "eta": 4e-3, "seed": 42, "gradient": "reference", "noise": 1.0}

TWO_TIMESCALE = register_experiment(Experiment(
    name="marion2023",
    paper=PAPER,
    description="two-timescale SGD (eps = 2e-5, h = 1e-5, P = 1.75e8) against the eps -> 0 "
                "limit; --set h=1e-3 is the reference's quick config",
    defaults={**COMMON, "epsilon": 2e-5, "h": 1e-5, "tau_max": None, "steps": None, "limit": True,
              "checkpoints": 100, "init_positions": None},
    run=_run_sgd,
    choices={"gradient": GRADIENTS, "target": tuple(TARGETS)},
    validate=_check,
    keys={**MARION_KEYS, **SGD_KEYS},
    figure="Figs. 3-4",
    limits=f"SGD steps tau_max / (h eps) and checkpoints at most {MAX_STEPS:.0e}",
    renamed={"m": "neurons"},
))

STANDARD = register_experiment(Experiment(
    name="marion2023-standard",
    paper=PAPER,
    description="the standard regime eps = 1 (h = 1e-5, tau_max = 10, P = 999,999)",
    defaults={**COMMON, "epsilon": 1.0, "h": 1e-5, "tau_max": 10.0, "steps": None, "limit": False,
              "checkpoints": 100, "init_positions": None},
    run=_run_sgd,
    choices={"gradient": GRADIENTS, "target": tuple(TARGETS)},
    validate=_check,
    keys={**MARION_KEYS, **SGD_KEYS},
    figure="Fig. 5",
    limits=f"SGD steps tau_max / (h eps) and checkpoints at most {MAX_STEPS:.0e}",
    renamed={"m": "neurons"},
))

SWEEP = register_experiment(Experiment(
    name="marion2023-epsilon-sweep",
    paper=PAPER,
    description="Box plot of the final error over 20 repeats for eps in (0.01, 0.1, 1) (tau_max = 3, "
                "h = 1e-5), one stream seeded once",
    defaults={**COMMON, "epsilons": [0.01, 0.1, 1.0], "repeats": 20, "h": 1e-5, "tau_max": 3.0},
    run=_run_sweep,
    choices={"gradient": GRADIENTS, "target": tuple(TARGETS)},
    validate=_check,
    keys={**MARION_KEYS, "epsilons": "ratios eps of the inner to the outer step, one box each",
          "repeats": "SGD runs per eps (one stream, seeded once)", "h": SGD_KEYS["h"],
          "tau_max": "horizon in slow time tau = eps h p"},
    figure="the epsilon box plot",
    limits=f"repeats x tau_max / (h eps) summed over epsilons at most {MAX_STEPS:.0e} SGD steps",
    renamed={"m": "neurons"},
))
