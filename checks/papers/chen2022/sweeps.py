"""chen2022's sweep ``chen2022-basins``: the experiment's starts near each saddle's basin, rotated by
~10^-m towards the minimum's, over ks x m x samples; built on
:mod:`flowcert.checks.papers.chen2022.claims` (starts, closed form).

Task functions are module-level and pure (workers import them by name); every draw's seed is derived
from the sweep's seed and the draw's own parameters.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from flowcert.checks._experiment import set_errors as _prefixed
from flowcert.checks._experiment import LIFT, UsageError, beyond, write_atomic
from flowcert.checks._sweep import Sweep, Task, check_tasks, register_sweep, save_npy

__all__ = ["BASINS", "chen_chunk"]

# ---------------------------------------------------------------------------------------------
# chen2022-basins


def _chen():
    try:
        from flowcert.checks.papers.chen2022 import claims as C
        C.paper_start, C.build, C.ClosedForm.of, C.ClosedForm.settle, C.Start.limit  # noqa: B018
    except (ImportError, AttributeError) as e:
        raise UsageError(f"sweep chen2022-basins: needs the chen2022 experiments (flowcert.checks.papers.chen2022.claims: {e})") from None
    return C


def chen_chunk(k: int, m: int, start: int, stop: int, seed: int, singular_values, widths, a: str,
               band: float) -> dict:
    """Samples ``start .. stop - 1`` of basin ``k`` at perturbation ``10^-m`` (a task).

    Sample i is chen2022's experiment start (:func:`flowcert.checks.papers.chen2022.claims.paper_start`: random rational
    rotations U, V, unit directions, balanced rank-one layers of scale ``a``) in the basin of the
    saddle ``k``, rotated by ~``10^-m`` towards ``u_1, v_1`` (``m = 0``: exactly in the basin), drawn
    from ``SeedSequence(seed, spawn_key=(k, m, i))``. From the closed form of section 5: the limit
    (exact), the flow time spent with the loss within ``band`` (relative) of the saddle's critical
    loss, and the time after which ``||W - W_limit|| <= band`` for good."""
    C = _chen()
    from fractions import Fraction
    out: dict = {"limit": [], "plateau_t": [], "settle_t": [], "settle_tau": []}
    for i in range(start, stop):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k, m, i)))
        ex = C.paper_start(k, rng, kind="perturbed" if m else "basin", m=m, s=list(singular_values),
                           widths_out_first=list(widths), a=Fraction(a))
        st = C.build(ex)
        lim = st.limit()
        cf = C.ClosedForm.of(st)
        tau_s, t_s = cf.settle(lim, band)
        grid = np.linspace(0.0, max(tau_s, 1e-12), 4001)
        Lk = st.critical_loss(k)
        on = np.abs(np.asarray(cf.loss(grid), dtype=float) - Lk) <= band * abs(Lk)
        t = np.asarray(cf.at(grid)[1], dtype=float)
        dt = np.diff(t)
        out["limit"].append(int(lim))
        out["plateau_t"].append(float(np.sum(dt[on[:-1] & on[1:]])))
        out["settle_t"].append(float(t_s))
        out["settle_tau"].append(float(tau_s))
    return out


_CHEN_KEYS = ("singular_values", "widths", "a", "band", "seed")


def _check_chen(p):
    C = _chen()
    s = p["singular_values"]
    try:
        C.validate(tuple(reversed(list(p["widths"]))) if isinstance(p["widths"], (list, tuple)) else p["widths"],
                   list(s) if isinstance(s, (list, tuple)) else s)
    except ValueError as e:  # UsageError included
        raise UsageError(str(e).removeprefix("--set ")) from None
    d = len(s)
    for key in ("samples", "chunk"):
        v = p[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise UsageError(f"{key}: expected a positive integer, got {v!r}")
    if isinstance(p["seed"], bool) or not isinstance(p["seed"], int) or p["seed"] < 0:
        raise UsageError(f"seed: expected a non-negative integer, got {p['seed']!r}")
    ks = p["ks"]
    if (not isinstance(ks, (list, tuple)) or not ks or len(set(ks)) != len(ks)
            or not all(isinstance(k, int) and not isinstance(k, bool) and 2 <= k <= d for k in ks)):
        raise UsageError(f"ks: expected distinct saddles k in [2 : d] = [2 : {d}], got {ks!r}")
    ms = p["perturbation_exponents"]
    if (not isinstance(ms, (list, tuple)) or not ms or len(set(ms)) != len(ms)
            or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 12 for x in ms)):
        raise UsageError(f"perturbation_exponents: expected distinct integers in [0, 12] (0: in the basin), got {ms!r}")
    b = p["band"]
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 < b < 1:
        raise UsageError(f"band: expected a number in (0, 1), got {b!r}")
    from flowcert.checks._args import read_fraction
    a = read_fraction(p["a"], "a")
    if not a > 0:
        raise UsageError(f"a: expected a positive scale like 3/5 or 0.6, got {p['a']!r}")
    if beyond(a, 100) or beyond(1 / a, 100):   # as for the chen2022 experiment: sigma0 = a^N
        raise UsageError(f"a: {p['a']!r}; expected a scale in [1/100, 100]{LIFT}")
    check_tasks(len(ks) * len(ms) * -(-p["samples"] // p["chunk"]), "samples / chunk x ks x perturbation_exponents")


def _chen_tasks(p) -> list[Task]:
    kw = {k: p[k] for k in _CHEN_KEYS}
    tasks = []
    for k in p["ks"]:
        for m in p["perturbation_exponents"]:
            for start in range(0, p["samples"], p["chunk"]):
                stop = min(p["samples"], start + p["chunk"])
                tasks.append(Task(key=f"k{k}-m{m}-{start}-{stop}", fn=chen_chunk,
                                  kwargs={"k": k, "m": m, "start": start, "stop": stop, **kw},
                                  cost=float(stop - start)))
    return tasks


def _chen_aggregate(p, done, out: Path) -> dict:
    ks, ms, S = list(p["ks"]), list(p["perturbation_exponents"]), p["samples"]
    data = {f: np.empty((len(ks), len(ms), S)) for f in ("limit", "plateau_t", "settle_t", "settle_tau")}
    for task, r in done:
        i, j = ks.index(task.kwargs["k"]), ms.index(task.kwargs["m"])
        for f in data:
            data[f][i, j, task.kwargs["start"]:task.kwargs["stop"]] = r[f]
    cells = []
    for i, k in enumerate(ks):
        for j, m in enumerate(ms):
            lim = data["limit"][i, j].astype(int)
            pt, stt = data["plateau_t"][i, j], data["settle_t"][i, j]
            cells.append({"k": k, "m": m, "limits": {str(x): int(np.sum(lim == x)) for x in sorted(set(lim))},
                          "plateau_t": {"median": float(np.median(pt)), "min": float(pt.min()),
                                        "max": float(pt.max())},
                          "settle_t": {"median": float(np.median(stt)), "min": float(stt.min()),
                                       "max": float(stt.max())}})
    for f in data:
        save_npy(out / f"{f}.npy", data[f])
    write_atomic(out / "basins.png", _chen_figure(p, data))
    return {
        "protocol": ("chen2022's experiment starts (flowcert.checks.papers.chen2022.claims.paper_start) in the basin of saddle k, "
                     "rotated by ~10^-m towards u_1, v_1 (m = 0: in the basin); sample i of (k, m) from "
                     "SeedSequence(seed, spawn_key=(k, m, i)). limit: exact (first nonzero p_i); plateau_t: "
                     "flow time t with |L - L_k| <= band L_k; settle_t: time after which ||W - W_limit|| <= band "
                     "for good; all from the closed form of section 5 (float64)"),
        "cells": cells,
        "files": ["limit.npy", "plateau_t.npy", "settle_t.npy", "settle_tau.npy", "basins.png",
                  f"{BASINS.name}.json"],
        "summary": [f"k={c['k']} m={c['m']}: limits {c['limits']}; on the saddle's plateau for t = "
                    f"{c['plateau_t']['median']:.3g} (median), settled by t = {c['settle_t']['median']:.3g}"
                    for c in cells],
    }


def _chen_figure(p, data) -> bytes:
    from flowcert.checks._experiment import new_figure as _new_figure, png as _png
    ks, ms = list(p["ks"]), list(p["perturbation_exponents"])
    fig = _new_figure((10, 4.4))
    ax, bx = fig.subplots(1, 2)
    labels = [f"k={k}\nm={m}" for k in ks for m in ms]
    flat = lambda f: [data[f][i, j] for i in range(len(ks)) for j in range(len(ms))]  # noqa: E731
    ax.boxplot(flat("plateau_t"), tick_labels=labels)
    ax.set_ylabel("flow time t on the saddle's loss plateau")
    ax.set_title(f"how long stuck near saddle k (loss within {p['band']:g} of L_k)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    bx.boxplot(flat("settle_t"), tick_labels=labels)
    for x, lim in enumerate(flat("limit"), start=1):
        vals, counts = np.unique(lim.astype(int), return_counts=True)
        txt = "\n".join(f"→ {int(v)}: {c}" for v, c in zip(vals, counts))
        bx.annotate(txt, (x, 1.0), xycoords=("data", "axes fraction"), xytext=(0, -3),
                    textcoords="offset points", ha="center", va="top", fontsize=7)
    bx.set_ylabel(f"time t to settle within {p['band']:g} of the limit")
    bx.set_title("which limit (→ limit: runs), and when reached", fontsize=9)
    bx.margins(y=0.15)
    bx.grid(axis="y", alpha=0.3)
    fig.suptitle(f"chen2022 basins: {p['samples']} random balanced starts per (k, m), perturbation ~10^-m, "
                 f"N = {len(p['widths']) - 1}, s = {tuple(p['singular_values'])}, a = {p['a']}, seed {p['seed']}",
                 fontsize=9)
    return _png(fig)


def _chen_defaults() -> dict:
    return {"singular_values": [5, 4, 3, 2, 1], "widths": [5, 4, 1, 10, 5, 3, 8], "a": "3/5",
            "ks": [2, 3, 5], "perturbation_exponents": [0, 2, 6], "samples": 20, "chunk": 5, "band": 1e-2, "seed": 0}


BASINS = register_sweep(Sweep(
    name="chen2022-basins",
    paper="chen2022",
    description=("random balanced initialisations near saddle basins (chen2022's experiment setting): "
                 "which limit, how long on the saddle's plateau, when settled"),
    defaults=_chen_defaults(),
    tasks=_chen_tasks,
    aggregate=_chen_aggregate,
    validate=_prefixed(_check_chen),
    limits="samples / chunk x ks x perturbation_exponents at most 1e6 tasks",
    identity=lambda p: {k: p[k] for k in _CHEN_KEYS},
    requires=lambda: _chen() and None,
    keys={
        "singular_values": "singular values s_1 > ... > s_d of the target Z",
        "widths": "layer widths d_N, ..., d_0 (output first); exactly one hidden width is 1",
        "a": "scale of the balanced rank-one start (a rational, e.g. 3/5)",
        "ks": "saddles k whose basins are sampled",
        "perturbation_exponents": "m: starts rotated by ~10^-m towards the minimum's basin (0: exactly in the "
                                  "saddle's basin)",
        "samples": "random starts per (k, m) cell",
        "chunk": "starts per task",
        "band": "relative loss band around a critical value that counts as being on its plateau",
        "seed": "seed from which every start's own seed is derived",
    },
    figure="Sec. 9 setting",
    renamed={"m": "perturbation_exponents"},
))

