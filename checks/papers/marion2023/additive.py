"""marion2023 beyond one dimension: the 2-D, 10-D and ReLU experiments of Appendix C (Fig. 6).

Protocol of the authors' notebooks (``shared/theory/marion2023.md`` section 5.3) [code]: an additive
network ``f(x) = sum_k sum_j a_jk sigma((x_k - u_jk) / eta)`` with 10 units per coordinate (ReLU:
``a_j ReLU(x - u_j)``, d = 1), a fixed batch of uniform points without label noise, the criterion
``||f(X) - y||_2 / n`` (the norm, not its square: its gradient is the mean-squared error's divided
by ``2 ||e||``, a step that grows as the error shrinks), ``u ~ U[0, 1]``, ``a ~ 3 U[0, 1]``, and
full-batch gradient descent in two regimes: "standard" (step 1.0 on both layers, 300 epochs) and
"two-timescale" (1.0 outer, 0.01 inner, 5000 epochs), 20 repeats.

Differences from the notebooks, chosen and stated: numpy's PCG64 seeded with ``(seed, repeat)``
replaces torch's generator (seed 0), so draws differ; both regimes of a repeat start from the same
batch and weights (a paired comparison); the gradients are SymPy's (exact ``sigma'``, as the
notebooks' autodiff) evaluated by :class:`flowcert.numerics.AdditiveFit`.

A discontinuity (ReLU: a kink of the teacher) is *covered* when some unit of its coordinate sits
within ``cover`` of it (default ``eta``; 0.01 for ReLU).
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import numpy as np

from flowcert import theory as th
from flowcert.numerics import AdditiveFit, DivergenceError
from flowcert.checks._experiment import (LIFT, Experiment, UsageError, beyond, checkpoint, csv_number, new_figure,
                                         png, register_experiment, set_errors, write_atomic)
from flowcert.checks._experiment import as_int, as_real

__all__ = ["ADDITIVE", "additive_experiment", "batch", "covered_report", "RELU", "REGIMES", "TEN_D", "TWO_D"]

PAPER = "marion2023"
REGIMES = ("standard", "two-timescale")
#: the notebooks' box-plot y-limits [code], drawn as a reference line
PAPER_YLIM = {"marion2023-2d": 0.025, "marion2023-10d": 0.02, "marion2023-relu": 0.002}


def _noop(done, total):
    pass


def _check_list(key, v, inside=None):
    if not isinstance(v, (list, tuple)) or not v or not all(
            not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x) for x in v):
        raise UsageError(f"{key}: expected a non-empty list of numbers, got {v!r}")
    if inside and not all(0 < x < 1 for x in v):
        raise UsageError(f"{key}: expected points strictly inside (0, 1), got {v!r}")
    return [float(x) for x in v]


#: the most unit evaluations (repeats x epochs x batch x dim x neurons) an experiment runs
MAX_WORK = 10 ** 14


def _plan(p: dict) -> dict:
    """The checked parameters of a run (every ``--set`` error is one line naming its key)."""
    relu = "teacher_positions" in p
    q = {"relu": relu, "d": as_int("dim", p.get("dim", 1)), "m": as_int("neurons", p["neurons"]),
         "n": as_int("batch", p["batch"]), "repeats": as_int("repeats", p["repeats"]),
         "seed": as_int("seed", p["seed"], 0), "init_scale": as_real("init_scale", p["init_scale"], positive=False)}
    q["eta"] = None if relu else as_real("eta", p["eta"])
    q["cover"] = as_real("cover", p["cover"]) if p["cover"] is not None else (0.01 if relu else q["eta"])
    q["epochs"] = {"standard": as_int("epochs_standard", p["epochs_standard"], 0),
                   "two-timescale": as_int("epochs_two_timescale", p["epochs_two_timescale"], 0)}
    lr = as_real("lr_standard", p["lr_standard"])
    q["lr"] = {"standard": (lr, lr),
               "two-timescale": (as_real("lr_outer", p["lr_outer"]), as_real("lr_inner", p["lr_inner"]))}
    q["record_every"] = as_int("record_every", p["record_every"])
    # the work of a run is epochs x batch x dim kernel steps (10-D, 10^4 points: 0.7 ms per epoch)
    work = q["repeats"] * sum(q["epochs"].values()) * q["n"] * q["d"] * q["m"]
    if beyond(work, MAX_WORK):
        raise UsageError(f"repeats x epochs x batch x dim x neurons = {work:.3g}; at most {MAX_WORK:.0e} "
                         f"(about a day of computing){LIFT}")
    q["show_repeat"] = None if p["show_repeat"] is None else as_int("show_repeat", p["show_repeat"], 0)
    if q["show_repeat"] is not None and q["show_repeat"] >= q["repeats"]:
        raise UsageError(f"show_repeat: expected an index below repeats = {q['repeats']}, got {q['show_repeat']}")
    if relu:
        q["kinks"] = _check_list("teacher_positions", p["teacher_positions"], inside=True)
        q["teacher_weights"] = _check_list("teacher_weights", p["teacher_weights"])
        if len(q["teacher_weights"]) != len(q["kinks"]):
            raise UsageError(f"teacher_weights: expected {len(q['kinks'])} weights, one per teacher position, "
                             f"got {len(q['teacher_weights'])}")
    else:
        q["kinks"] = sorted(_check_list("thresholds", p["thresholds"], inside=True))
    q["net"] = th.AdditiveNetwork(q["d"], q["m"], "relu" if relu else "smooth-step", p["criterion"])
    return q


def batch(q: dict, repeat: int):
    """``(X, y, a0, u0)`` of one repeat: ``X ~ U[0, 1]^(n x d)``, the labels without noise, ``u0 ~ U[0, 1]``,
    ``a0 ~ init_scale U[0, 1]``, from PCG64 seeded with ``(seed, repeat)``."""
    rng = np.random.default_rng([q["seed"], repeat])
    X = rng.random((q["n"], q["d"]))
    u0 = rng.random((q["m"], q["d"]))
    a0 = q["init_scale"] * rng.random((q["m"], q["d"]))
    return X, target(q, X), a0, u0


def target(q: dict, X) -> np.ndarray:
    """The teacher: ``sum_k sum_t 1{x_k > t}`` (step), or ``sum_i a_i ReLU(x - u_i)``."""
    X = np.asarray(X, dtype=float)
    if q["relu"]:
        return (np.asarray(q["teacher_weights"]) * np.maximum(X[:, :1] - np.asarray(q["kinks"]), 0)).sum(axis=1)
    return (X[:, :, None] > np.asarray(q["kinks"])).sum(axis=(1, 2)).astype(float)


def covered_report(u, kinks, radius) -> list[str]:
    """The discontinuities (kinks) of each coordinate with no unit of that coordinate within ``radius``,
    named ``x_k = t`` (``x = t`` in one dimension)."""
    u = np.asarray(u, dtype=float)
    out = []
    for k in range(u.shape[1]):
        for t in kinks:
            if np.min(np.abs(u[:, k] - t)) > radius:
                out.append(f"x = {t:g}" if u.shape[1] == 1 else f"x_{k + 1} = {t:g}")
    return out


def gaps(u, kinks) -> list[float]:
    """For each coordinate and discontinuity (in ``covered_report``'s order), the distance to the
    nearest unit of that coordinate."""
    u = np.asarray(u, dtype=float)
    return [float(np.min(np.abs(u[:, k] - t))) for k in range(u.shape[1]) for t in kinks]


def _one(q, repeat, regime, fit_cache):
    key = f"{regime}-{repeat}"
    done = checkpoint().get(key)
    if done is not None:
        return done
    if repeat not in fit_cache:
        fit_cache.clear()
        X, y, a0, u0 = batch(q, repeat)
        fit_cache[repeat] = (AdditiveFit(q["net"], X, y, width=q["eta"]), a0, u0)
    fit, a0, u0 = fit_cache[repeat]
    lr_a, lr_u = q["lr"][regime]
    try:
        run = fit.descend(a0, u0, lr_a, lr_u, q["epochs"][regime], record_every=q["record_every"],
                          progress=q["_progress"])
        res = {"error": run.final, "uncovered": covered_report(run.u, q["kinks"], q["cover"]),
               "gaps": gaps(run.u, q["kinks"]),
               "a": run.a.tolist(), "u": run.u.tolist(), "curve": {"epoch": list(run.epochs_recorded),
                                                                  "criterion": list(run.criterion)},
               "seconds": run.seconds, "diverged": None}
    except DivergenceError as e:
        res = {"error": math.inf, "uncovered": covered_report(u0, q["kinks"], -1), "gaps": None,
               "a": None, "u": None,
               "curve": None, "seconds": None, "diverged": str(e)}
    checkpoint().put(key, res)
    return res


def additive_experiment(p: dict, progress: Callable | None = None) -> dict:
    """Both regimes over the repeats; writes no file (claims reuse it). ``regimes[name]["errors"]``
    are the final criteria, ``["uncovered"]`` the uncovered discontinuities per repeat."""
    progress = progress or _noop
    q = _plan(p)
    total = q["repeats"] * sum(q["epochs"].values())
    state = {"done": 0}

    def tick(d, _t):
        progress(state["done"] + d, total)

    q["_progress"] = tick
    t0 = time.perf_counter()
    out = {r: {"errors": [], "uncovered": [], "gaps": [], "diverged": [], "seconds": [], "runs": []}
           for r in REGIMES}
    cache: dict = {}
    for repeat in range(q["repeats"]):
        for regime in REGIMES:
            res = _one(q, repeat, regime, cache)
            state["done"] += q["epochs"][regime]
            progress(state["done"], total)
            o = out[regime]
            o["errors"].append(res["error"])
            o["uncovered"].append(res["uncovered"])
            o["gaps"].append(res["gaps"])
            o["diverged"].append(res["diverged"])
            o["seconds"].append(res["seconds"])
            o["runs"].append(res)
    for regime, o in out.items():
        e = np.asarray(o["errors"])
        o.update(median=float(np.median(e)), mean=float(np.mean(e)), max=float(np.max(e)),
                 runs_with_uncovered=sum(1 for u in o["uncovered"] if u),
                 uncovered_total=sum(len(u) for u in o["uncovered"]),
                 lr={"outer": q["lr"][regime][0], "inner": q["lr"][regime][1]}, epochs=q["epochs"][regime])
    return {"regimes": out, "discontinuities": len(q["kinks"]) * q["d"], "cover": q["cover"],
            "wall_seconds": time.perf_counter() - t0, "_q": q}


# ---------------------------------------------------------------------------------------------
# figures


def shown_repeat(res, choice) -> int:
    """``choice``, or (auto) the first repeat where the two-timescale regime covers every
    discontinuity and the standard one does not, the situation of the paper's Fig. 6; else 0."""
    if choice is not None:
        return choice
    regs = res["regimes"]
    for r, (s, t) in enumerate(zip(regs["standard"]["uncovered"], regs["two-timescale"]["uncovered"])):
        if s and not t:
            return r
    return 0


def _box_figure(res, name) -> bytes:
    fig = new_figure((5.6, 4.2))
    ax = fig.add_subplot()
    regs = res["regimes"]
    data = [[v for v in regs[r]["errors"] if math.isfinite(v)] for r in REGIMES]
    ax.boxplot(data, showfliers=False, tick_labels=[f"standard\nε = 1 ({regs['standard']['epochs']} epochs)",
                                  f"two-timescale\nε = {regs['two-timescale']['lr']['inner'] / regs['two-timescale']['lr']['outer']:g}"
                                  f" ({regs['two-timescale']['epochs']} epochs)"])
    for i, d in enumerate(data, start=1):
        ax.plot(np.full(len(d), i) + np.linspace(-0.12, 0.12, len(d)), d, ".", color="tab:blue", ms=4, alpha=0.6)
    ax.axhline(PAPER_YLIM[name], color="gray", ls=":", lw=0.8, label=f"the notebook's y-limit {PAPER_YLIM[name]:g}")
    ax.set_yscale("log")
    ax.set_ylabel("final criterion ‖f(X) − y‖₂ / n")
    ax.set_title(f"{name}: {len(data[0])} repeats", fontsize=9)
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return png(fig)


def _positions_2d(res, q, r) -> bytes:
    fig = new_figure((10, 4.8))
    grid = np.linspace(0, 1, 401)
    G1, G2 = np.meshgrid(grid, grid)
    F = target(q, np.stack([G1.ravel(), G2.ravel()], axis=1)).reshape(G1.shape)
    for i, regime in enumerate(REGIMES):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.imshow(F, origin="lower", extent=(0, 1, 0, 1), cmap="Greys", alpha=0.45, vmin=0, vmax=F.max() * 1.3)
        run = res["regimes"][regime]["runs"][r]
        if run["u"] is not None:
            u = np.asarray(run["u"])
            for v in u[:, 0]:
                ax.axvline(v, color="tab:blue", lw=0.9)
            for v in u[:, 1]:
                ax.axhline(v, color="tab:orange", lw=0.9)
        for t in q["kinks"]:
            for k, line in ((0, ax.axvline), (1, ax.axhline)):
                lab = f"x_{k + 1} = {t:g}"
                if lab in run["uncovered"]:
                    line(t, color="tab:red", lw=2.2, ls="--")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("x₁ (blue: positions u_j1)")
        ax.set_ylabel("x₂ (orange: positions u_j2)")
        unc = ", ".join(run["uncovered"]) or "none"
        ax.set_title(f"{regime}: criterion {run['error']:.4g}\nuncovered (red): {unc}", fontsize=9)
    fig.suptitle(f"marion2023-2d, repeat {r}: target Σ_k Σ_t 1{{x_k > t}} (shade), units' positions", fontsize=10)
    return png(fig)


def _positions_strip(res, q, r) -> bytes:
    d = q["d"]
    fig = new_figure((10, 1.2 + 0.42 * d))
    for i, regime in enumerate(REGIMES):
        ax = fig.add_subplot(1, 2, i + 1)
        run = res["regimes"][regime]["runs"][r]
        for t in q["kinks"]:
            ax.axvline(t, color="gray", lw=0.8, ls=":")
        if run["u"] is not None:
            u = np.asarray(run["u"])
            for k in range(d):
                ax.plot(u[:, k], np.full(u.shape[0], k + 1), "|", color="tab:blue", ms=10, mew=1.4)
        for lab in run["uncovered"]:
            k = int(lab.split("_")[1].split(" ")[0])
            t = float(lab.split("=")[1])
            ax.plot([t], [k], "x", color="tab:red", ms=9, mew=2)
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(0.3, d + 0.7)
        ax.set_yticks(range(1, d + 1))
        ax.set_ylabel("coordinate k")
        ax.set_xlabel("positions u_jk (|); discontinuities dotted; red x: uncovered")
        ax.set_title(f"{regime}: criterion {run['error']:.4g}, {len(run['uncovered'])} uncovered", fontsize=9)
    fig.suptitle(f"marion2023-10d, repeat {r}", fontsize=10)
    return png(fig)


def _relu_fit(res, q, r) -> bytes:
    fig = new_figure((10, 4.2))
    xs = np.linspace(0, 1, 1001)[:, None]
    teacher = target(q, xs)
    for i, regime in enumerate(REGIMES):
        ax = fig.add_subplot(1, 2, i + 1)
        run = res["regimes"][regime]["runs"][r]
        ax.plot(xs[:, 0], teacher, color="k", lw=2.2, label="teacher Σ a_i ReLU(x − u_i)")
        if run["u"] is not None:
            a, u = np.asarray(run["a"]), np.asarray(run["u"])
            f = (a[None, :, 0] * np.maximum(xs - u[None, :, 0], 0)).sum(axis=1)
            ax.plot(xs[:, 0], f, color="tab:blue", lw=1.3, label="student (10 units)")
            for j, v in enumerate(u[:, 0]):
                ax.axvline(v, color="tab:blue", ls="--", lw=0.6, alpha=0.7, label="student kinks u_j" if j == 0 else None)
        for t in q["kinks"]:
            ax.axvline(t, color="gray", lw=0.8, ls=":")
        ax.set_xlim(0, 1)
        ax.set_xlabel("x")
        unc = ", ".join(run["uncovered"]) or "none"
        ax.set_title(f"{regime}: criterion {run['error']:.3g}; uncovered kinks: {unc}", fontsize=9)
        ax.legend(fontsize=7.5, loc="upper left")
    fig.suptitle(f"marion2023-relu, repeat {r}", fontsize=10)
    return png(fig)


def _curves(res) -> bytes:
    fig = new_figure((7, 4.2))
    ax = fig.add_subplot()
    colors = {"standard": "tab:red", "two-timescale": "tab:blue"}
    for regime in REGIMES:
        for i, run in enumerate(res["regimes"][regime]["runs"]):
            if run["curve"]:
                ax.semilogy(run["curve"]["epoch"], run["curve"]["criterion"], color=colors[regime], lw=0.7,
                            alpha=0.5, label=regime if i == 0 else None)
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("epoch")
    ax.set_ylabel("criterion ‖f(X) − y‖₂ / n")
    ax.grid(alpha=0.3, which="both", lw=0.4)
    ax.legend(fontsize=8)
    ax.set_title("every repeat", fontsize=9)
    return png(fig)


# ---------------------------------------------------------------------------------------------
# the experiments


def _run(name):
    def run(p: dict, out: Path, progress: Callable) -> dict:
        out = Path(out)
        res = additive_experiment(p, progress)
        q = res.pop("_q")
        r = shown_repeat(res, q["show_repeat"])
        files = {"boxplot.png": _box_figure(res, name), "curves.png": _curves(res)}
        if q["relu"]:
            files["fit.png"] = _relu_fit(res, q, r)
        elif q["d"] == 2:
            files["positions.png"] = _positions_2d(res, q, r)
        else:
            files["positions.png"] = _positions_strip(res, q, r)
        for f, data in files.items():
            write_atomic(out / f, data)
        # no wall times here: they differ run to run and live in the report's timing object
        rows = ["regime,repeat,criterion,uncovered_count,uncovered"]
        for regime in REGIMES:
            o = res["regimes"][regime]
            for i, (e, u) in enumerate(zip(o["errors"], o["uncovered"])):
                rows.append(f"{regime},{i},{'' if e is None else csv_number(e)},{len(u)},\"{'; '.join(u)}\"")
        write_atomic(out / "runs.csv", "\n".join(rows) + "\n")
        for o in res["regimes"].values():
            o.pop("runs")
        res["files"] = [*files, "runs.csv"]
        regs = res["regimes"]
        res["summary"] = [
            f"{regime}: median criterion {regs[regime]['median']:.4g} (max {regs[regime]['max']:.3g}); "
            f"runs with an uncovered discontinuity: {regs[regime]['runs_with_uncovered']}/{len(regs[regime]['errors'])} "
            f"({regs[regime]['uncovered_total']} of {res['discontinuities'] * len(regs[regime]['errors'])} in all, "
            f"cover radius {res['cover']:g})" for regime in REGIMES]
        return res
    return run


COMMON = {"neurons": 10, "repeats": 20, "seed": 0, "init_scale": 3.0, "criterion": "norm",
          "epochs_standard": 300, "epochs_two_timescale": 5000, "lr_standard": 1.0, "lr_outer": 1.0,
          "lr_inner": 0.01, "record_every": 10, "show_repeat": None, "cover": None}
KEYS = {
    "dim": "input dimension d (one row of units per coordinate)",
    "neurons": "units per coordinate",
    "batch": "fixed batch size n (uniform points, drawn per repeat)",
    "repeats": "independent repeats (data and initialisation drawn anew)",
    "seed": "seed of numpy's PCG64, used with the repeat index",
    "init_scale": "initial outer weights a ~ init_scale U[0, 1] (positions u ~ U[0, 1])",
    "criterion": "norm: ||f(X) - y||_2 / n (the notebooks'); mse: ||f(X) - y||_2^2 / n",
    "epochs_standard": "full-batch steps of the standard regime",
    "epochs_two_timescale": "full-batch steps of the two-timescale regime",
    "lr_standard": "step size of both layers in the standard regime (eps = 1)",
    "lr_outer": "outer-layer step size in the two-timescale regime",
    "lr_inner": "inner-layer (position) step size in the two-timescale regime (eps = lr_inner / lr_outer)",
    "record_every": "epochs between recorded criterion values (curves.png)",
    "show_repeat": "the repeat drawn in the positions / fit figure (auto: the first where only the standard "
                   "regime leaves a discontinuity uncovered, as in Fig. 6; else 0)",
    "cover": "a discontinuity counts as covered with a unit within this distance (auto: eta; 0.01 for ReLU)",
    "eta": "width eta of the smooth step sigma((x - u) / eta)",
    "thresholds": "discontinuities t of the target sum_k sum_t 1{x_k > t}, in (0, 1)",
    "teacher_positions": "kinks u_i of the teacher sum_i a_i ReLU(x - u_i)",
    "teacher_weights": "weights a_i of the teacher",
}
_STEP = {"eta": 0.01, "thresholds": [0.3, 0.5, 0.7]}


def _experiment(name, description, defaults, figure):
    keys = {k: KEYS[k] for k in defaults}
    return register_experiment(Experiment(
        name=name, paper=PAPER, description=description, defaults=defaults, run=_run(name),
        choices={"criterion": ("norm", "mse")},
        validate=set_errors(_plan), keys=keys, figure=figure, checkpoints=True,
        limits=f"repeats x epochs x batch x dim x neurons at most {MAX_WORK:.0e}"))


TWO_D = _experiment("marion2023-2d", "2-D additive network, target sum of steps at 0.3, 0.5, 0.7 per "
                    "coordinate, 1000 points; standard vs two-timescale gradient descent, 20 repeats",
                    {"dim": 2, "batch": 1000, **_STEP, **COMMON}, "Fig. 6, Appendix C")
TEN_D = _experiment("marion2023-10d", "10-D additive network, the same steps on every coordinate, 10^4 "
                    "points; standard vs two-timescale gradient descent, 20 repeats",
                    {"dim": 10, "batch": 10000, **_STEP, **COMMON}, "Appendix C")
RELU = _experiment("marion2023-relu", "1-D ReLU student (10 units) of the teacher ReLU(x-0.3) - 2 ReLU(x-0.5) "
                   "+ 3 ReLU(x-0.7), 1000 points; standard vs two-timescale gradient descent, 20 repeats",
                   {"batch": 1000, "teacher_positions": [0.3, 0.5, 0.7],
                    "teacher_weights": [1.0, -2.0, 3.0], **COMMON}, "Appendix C")
ADDITIVE = (TWO_D, TEN_D, RELU)
