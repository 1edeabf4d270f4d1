"""ODE integration with terminal events that change the state: stop at the event, apply a jump
(e.g. snap a coordinate onto a kink and freeze it), restart. DOP853 with dense output locates each
event to the root-finder's tolerance on the interpolant, not to a step size.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ._integrate import IntegrationError

__all__ = ["EventSolution", "solve_events"]


@dataclass
class EventSolution:
    t: np.ndarray                 # the requested output times
    y: np.ndarray                 # (len(t), n) states at those times (after any jump at that time)
    events: list = field(default_factory=list)  # (time, event index) in order of occurrence
    y_final: np.ndarray | None = None


def solve_events(rhs: Callable, y0, t_end: float, events: Sequence[Callable], on_event: Callable,
                 t_eval=None, rtol: float = 1e-12, atol: float = 1e-14,
                 max_events: int = 10_000) -> EventSolution:
    """Integrate ``y' = rhs(t, y)`` on ``[0, t_end]``.

    ``events[i](t, y)`` is watched while armed; when it falls through 0 the integration stops there,
    ``y = on_event(i, t, y)`` (the caller may also change what ``rhs`` does) and event i is
    disarmed. ``on_event`` may return ``(y, disarm)`` to disarm further events (an iterable of
    indices). Output at ``t_eval`` (default: ``[0, t_end]``).
    """
    from scipy.integrate import solve_ivp   # ~0.5 s to import: paid by the callers only
    y = np.array(y0, dtype=float)
    t_eval = np.asarray([0.0, t_end] if t_eval is None else t_eval, dtype=float)
    if np.any(np.diff(t_eval) < 0) or (len(t_eval) and (t_eval[0] < 0 or t_eval[-1] > t_end)):
        raise ValueError("t_eval: expected increasing times in [0, t_end]")
    armed = [True] * len(events)
    out = np.empty((len(t_eval), len(y)))
    log = []
    t = 0.0
    k = 0  # next output index

    def wrap(i):
        def g(tt, yy):
            return events[i](tt, yy)
        g.terminal = True
        g.direction = -1
        return g

    while True:
        while k < len(t_eval) and t_eval[k] <= t:  # at t = 0 or exactly at an event (after the jump)
            out[k] = y
            k += 1
        if t >= t_end:
            break
        live = [i for i, a in enumerate(armed) if a]
        sol = solve_ivp(rhs, (t, t_end), y, method="DOP853", rtol=rtol, atol=atol, dense_output=True,
                        events=[wrap(i) for i in live] or None)
        if sol.status < 0:
            raise IntegrationError(f"event integration failed at t={t}: {sol.message}")
        hit = None
        if sol.status == 1:
            cands = [(te[0], live[j]) for j, te in enumerate(sol.t_events) if len(te)]
            hit = min(cands)
        t_stop = hit[0] if hit else t_end
        while k < len(t_eval) and t_eval[k] < t_stop:
            out[k] = sol.sol(t_eval[k])
            k += 1
        y = sol.sol(t_stop) if hit else sol.y[:, -1]
        t = t_stop
        if hit:
            i = hit[1]
            res = on_event(i, t, y.copy())
            y, disarm = (res if isinstance(res, tuple) else (res, ()))
            y = np.asarray(y, dtype=float)
            armed[i] = False
            for j in disarm:
                armed[j] = False
            log.append((t, i))
            if len(log) > max_events:
                raise IntegrationError(f"more than {max_events} events by t={t}")
    while k < len(t_eval):
        out[k] = y
        k += 1
    return EventSolution(t_eval, out, log, y)
