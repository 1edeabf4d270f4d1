"""marion2023's sweep ``marion2023-epsilon``: two-timescale SGD over epsilons x seeds, one task per
run, built on the experiment functions of :mod:`flowcert.checks.papers.marion2023.experiments`.

Task functions are module-level and pure (workers import them by name); run s starts from the
same positions at every epsilon, its seed derived from the sweep's seed and s.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from flowcert.checks._experiment import set_errors as _prefixed
from flowcert.checks._experiment import LIFT, UsageError, beyond, write_atomic
from flowcert.checks._sweep import Sweep, Task, check_tasks, register_sweep, save_npy

__all__ = ["EPSILON", "marion_run"]

# ---------------------------------------------------------------------------------------------
# marion2023-epsilon

_MARION_KEYS = ("target", "target_positions", "target_values", "neurons", "eta", "gradient", "noise", "h",
                "tau_max", "seed")


def _marion():
    try:
        from flowcert.checks.papers.marion2023 import experiments as M
        M.online_sgd, M.initial_positions, M.uncovered, M.network, M.resolve_target  # noqa: B018
    except (ImportError, AttributeError) as e:
        raise UsageError(f"sweep marion2023-epsilon: needs the marion2023 experiments "
                         f"(flowcert.checks.papers.marion2023.experiments: {e})") from None
    return M


def marion_run(epsilon: float, index: int, seed: int, h: float, tau_max: float, neurons: int, eta: float,
               target: str, target_positions, target_values, gradient: str, noise: float) -> dict:
    """One two-timescale SGD run (a task): ``P = int(tau_max / (h eps))`` steps from ``m`` uniform
    positions (m = ``neurons``); run ``index`` draws from ``RandomState(SeedSequence(seed, spawn_key=(index,)))``
    (positions, then the SGD stream), so every eps starts run ``index`` from the same positions."""
    M = _marion()
    m = neurons
    tg = M.resolve_target(target, target_positions, target_values)
    pos, vals = M.target_arrays(tg)
    rs = np.random.RandomState(np.random.SeedSequence(seed, spawn_key=(index,)).generate_state(1)[0])
    u0 = M.initial_positions(rs, m)
    P = int(tau_max / (h * epsilon))
    out = {"steps_P": P, "discontinuities": len(pos), "initial_positions": u0.tolist()}
    try:
        run = M.online_sgd(np.zeros(m + 1), u0, template=M.template(), width=eta, positions=pos,
                           values=vals, lr=h, ratio=epsilon, steps=P + 1, rng=rs, noise=float(noise),
                           u_grad="uniform" if gradient == "reference" else "exact")
    except M.DivergenceError as e:
        return {**out, "final_loss": None, "uncovered": [float(v) for v in pos], "covered": 0,
                "final_positions": None, "diverged": str(e)}
    unc = M.uncovered(run.u, pos, eta)
    return {**out, "final_loss": float(M.network(eta).loss(run.a, run.u, pos, vals)), "uncovered": unc,
            "covered": len(pos) - len(unc), "final_positions": run.u.tolist(), "diverged": None}


def _check_marion(p):
    M = _marion()
    M.resolve_target(p["target"], p["target_positions"], p["target_values"])
    M._int("neurons", p["neurons"], 2)
    M._int("seed", p["seed"], 0)
    M._int("seeds", p["seeds"])
    for k in ("eta", "h", "tau_max"):
        M._real(k, p[k])
    M._real("noise", p["noise"], positive=False)
    e = p["epsilons"]
    if not isinstance(e, (list, tuple)) or not e or not all(
            not isinstance(v, bool) and isinstance(v, (int, float)) and 0 < v < math.inf for v in e):
        raise UsageError(f"epsilons: expected a non-empty list of positive numbers, got {e!r}")
    if len(set(map(float, e))) != len(e):
        raise UsageError(f"epsilons: expected each value once, got {e!r}")
    for v in e:
        if int(p["tau_max"] / (p["h"] * v)) < 1:
            raise UsageError(f"epsilons: tau_max / (h eps) gives no step at eps = {v:g}")
        if beyond(p["tau_max"] / (p["h"] * v), M.MAX_STEPS):
            raise UsageError(f"epsilons: tau_max / (h eps) = {p['tau_max'] / (p['h'] * v):.3g} steps at "
                             f"eps = {v:g}; at most {M.MAX_STEPS:.0e}{LIFT}")
    check_tasks(len(e) * p["seeds"], "seeds x epsilons")


def _marion_tasks(p) -> list[Task]:
    kw = {k: p[k] for k in _MARION_KEYS}
    return [Task(key=f"eps{float(e)!r}-run{s}", fn=marion_run,
                 kwargs={"epsilon": float(e), "index": s, **kw}, cost=p["tau_max"] / (p["h"] * e))
            for e in p["epsilons"] for s in range(p["seeds"])]


def _marion_identity(p) -> dict:
    return {k: p[k] for k in _MARION_KEYS}  # task keys name eps and the run index


def _marion_aggregate(p, done, out: Path) -> dict:
    eps = [float(e) for e in p["epsilons"]]
    S = p["seeds"]
    final = np.empty((len(eps), S))
    covered = np.empty((len(eps), S), dtype=np.int64)
    runs = {}
    for task, r in done:
        i, s = eps.index(task.kwargs["epsilon"]), task.kwargs["index"]
        final[i, s] = math.nan if r["final_loss"] is None else r["final_loss"]
        covered[i, s] = r["covered"]
        runs[(i, s)] = r
    nd = runs[(0, 0)]["discontinuities"]
    per = []
    for i, e in enumerate(eps):
        f = final[i]
        ok = f[np.isfinite(f)] if np.isfinite(f).any() else np.array([math.nan])
        per.append({"epsilon": e, "steps_P": runs[(i, 0)]["steps_P"], "final_loss": f.tolist(),
                    "covered": covered[i].tolist(), "diverged": int(np.sum(~np.isfinite(f))),
                    "median": float(np.median(ok)), "q25": float(np.quantile(ok, 0.25)),
                    "q75": float(np.quantile(ok, 0.75)), "min": float(ok.min()), "max": float(ok.max()),
                    "all_covered_runs": int(np.sum(covered[i] == nd)),
                    "uncovered_by_position": {repr(v): sum(v in runs[(i, s)]["uncovered"] for s in range(S))
                                              for v in sorted({x for s in range(S)
                                                               for x in runs[(i, s)]["uncovered"]})}})
    order = np.argsort(eps)
    falls = all(per[a]["median"] < per[b]["median"] for a, b in zip(order[:-1], order[1:]))
    falls = falls if all(math.isfinite(q["median"]) for q in per) else None
    save_npy(out / "final_loss.npy", final)
    write_atomic(out / "epsilon.png", _marion_figure(p, eps, final, covered, nd))
    return {
        "protocol": ("run s (s = 0 .. seeds-1) draws from RandomState(SeedSequence(seed, spawn_key=(s,))): "
                     "m sorted uniform positions, then the SGD stream; the same positions for every eps "
                     "(common random numbers). P + 1 updates, P = int(tau_max / (h eps)). Final loss: L2 error "
                     "after the last update; a discontinuity is "
                     "covered when a neuron lies within eta of it"),
        "discontinuities": nd,
        "epsilons": per,
        "median_falls_as_epsilon_falls": falls,
        "files": ["final_loss.npy", "epsilon.png", f"{EPSILON.name}.json"],
        "summary": [f"eps={q['epsilon']:g} (P={q['steps_P']:,}): median final loss {q['median']:.4g} "
                    f"[{q['min']:.3g}, {q['max']:.3g}]; all {nd} discontinuities covered in "
                    f"{q['all_covered_runs']}/{S} runs"
                    + (f"; {q['diverged']} diverged" if q["diverged"] else "") for q in per],
    }


def _marion_figure(p, eps, final, covered, nd) -> bytes:
    from flowcert.checks._experiment import new_figure as _new_figure, png as _png
    fig = _new_figure((10, 4.4))
    ax, bx = fig.subplots(1, 2)
    labels = [f"ε = {e:g}" for e in eps]
    ax.boxplot([f[np.isfinite(f)] for f in final], tick_labels=labels)
    S = final.shape[1]
    for i, f in enumerate(final, start=1):
        ax.plot(np.full(S, i) + np.linspace(-0.15, 0.15, S), f, ".", color="tab:blue", ms=4, alpha=0.6)
    ax.set_yscale("log")
    ax.set_ylabel("final L² error")
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.set_title("final error per ε", fontsize=9)
    width = 0.8 / max(1, len(eps))
    ks = np.arange(nd + 1)
    for i, e in enumerate(eps):
        counts = np.bincount(covered[i], minlength=nd + 1)
        bx.bar(ks + (i - (len(eps) - 1) / 2) * width, counts, width=width, label=labels[i])
    bx.set_xticks(ks)
    from matplotlib.ticker import MaxNLocator
    bx.yaxis.set_major_locator(MaxNLocator(integer=True))
    bx.set_xlabel(f"discontinuities covered (a neuron within η = {p['eta']:g}), of {nd}")
    bx.set_ylabel("runs")
    bx.legend(fontsize=8)
    bx.set_title("covered discontinuities per run", fontsize=9)
    fig.suptitle(f"marion2023 ε × seeds: {S} runs per ε, target {p['target']}, m={p['neurons']}, h={p['h']:g}, "
                 f"τ_max={p['tau_max']:g}, seed {p['seed']}", fontsize=10)
    return _png(fig)


def _marion_requires():
    _marion()


def _marion_keys() -> dict:
    from flowcert.checks.papers.marion2023.experiments import MARION_KEYS, SGD_KEYS
    return {**MARION_KEYS, "h": SGD_KEYS["h"], "tau_max": "horizon in slow time tau = eps h p"}


def _marion_defaults() -> dict:
    return {"target": "reference-code", "target_positions": None, "target_values": None, "neurons": 20,
            "eta": 4e-3, "gradient": "reference", "noise": 1.0, "h": 1e-5, "tau_max": 3.0,
            "epsilons": [0.01, 0.1, 1.0], "seeds": 20, "seed": 42}


EPSILON = register_sweep(Sweep(
    name="marion2023-epsilon",
    paper="marion2023",
    description=("two-timescale SGD over eps x seeds (one task per run): final error, covered "
                 "discontinuities, box plot; the marion2023-epsilon-sweep experiment's setting with "
                 "independent per-run streams instead of one sequential stream"),
    defaults=_marion_defaults(),
    tasks=_marion_tasks,
    aggregate=_marion_aggregate,
    choices={"gradient": ("reference", "exact")},
    validate=_prefixed(_check_marion),
    limits="tau_max / (h eps) at most 1e10 SGD steps per run; seeds x epsilons at most 1e6 tasks",
    identity=_marion_identity,
    requires=_marion_requires,
    keys={**_marion_keys(), "epsilons": "ratios eps of the inner to the outer step, one box each",
          "seeds": "runs per eps; run s starts from the same positions at every eps",
          "seed": "seed from which each run's own stream is derived"},
    figure="the epsilon box plot",
    renamed={"m": "neurons"},
))


