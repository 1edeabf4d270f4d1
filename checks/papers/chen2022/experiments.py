"""chen2022 section 9: gradient descent at the paper's step from starts in every basin k in [0 : d],
and the gradient flow from the same starts at high precision.

The paper states only the setting [paper]: GD with lr 5e-4, s_i = d + 1 - i, N = 6, widths
(d_N, ..., d_0) = (5, 4, 1, 10, 5, 3, 8), "different k in [0 : d] in Theorem 3.1". The protocol is
[inferred]: exact balanced rank-one starts W_j = a q_j q_{j-1}^T in the basin
of s_k u_k v_k^T (k >= 1: u in span(u_k..), v in span(v_k..), p_k > 0; k = 0: u = U_d c, v = -V_d c),
a = 3/5 (sigma_0 = 0.6^6), generic rational orthogonal U, V drawn from the
seed, 2e5 steps (t = 100).

Two runs per k:

- **flow**: chen's derived layer flow, integrated by flowcert's Taylor method at ``precision``
  digits up to the horizon the closed form prescribes (``||W - s_k u_k v_k^T|| <= 1e-6``; for
  k = 0 the GD horizon, capped where tau = 6). A start in a saddle's basin leaves it only by
  rounding, which the theory says grows exactly like ``e^{(s_1 - s_k) tau}``; the digits are raised
  per run to what the horizon needs (``digits``, ``digits_needed`` in the JSON), so the plateau
  the theory predicts is what the run shows. ``precision=float64`` runs as is, and the saddle runs
  escape: that is the arithmetic, not the theorem.
- **gd**: plain float64 GD at ``lr`` for ``steps`` steps (all k batched). Round-off seeds
  ``p_1 ~ 1e-16`` and the saddle runs leave their plateau after a long stuck period -- the
  paper's observation. Reported: when each run reached its plateau, when it left, where it went.
"""
from __future__ import annotations

import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from flowcert import theory as th
from flowcert.checks._experiment import as_int as _int
from flowcert.checks._experiment import set_errors as _prefixed, png as _png
from flowcert.checks._experiment import (LIFT, Experiment, UsageError, beyond, csv_number, register_experiment,
                                         write_atomic)
from flowcert.checks.papers.chen2022.claims import (LOSS_BAND, ORIGIN_TAU, PAPER_A, PAPER_LR, PAPER_S,
                                                    PAPER_WIDTHS_OUT_FIRST, basin_run, build, nearest_critical,
                                                    paper_start, plateau, validate)
from flowcert.numerics import DivergenceError, descend_batch, to_backend

__all__ = ["BASES", "PAPER", "REPRODUCE"]

PAPER = "chen2022"
BASES = ("random", "identity")


def _noop(done, total):
    pass


# ---------------------------------------------------------------------------------------------
# validation: one line naming the key, exit 2 at the CLI


#: the widest layer and the most gradient-descent work (steps x basins x sum d_j d_(j-1)) a run
#: takes: the paper's 2e5 steps cost 2.4e9, ~1 minute here
MAX_WIDTH = 4000
MAX_WORK = 10 ** 13


def _check(p: dict) -> None:
    """Validate ``p`` and normalise ``precision`` (digits as an int, or ``"float64"``), ``a`` and
    ``ks`` (``[]`` means every k in [0 : d])."""
    widths = p["widths"]
    if not isinstance(widths, (list, tuple)):
        raise UsageError(f"widths: expected a list (d_N, ..., d_0), got {widths!r}")
    s = p["singular_values"]
    validate(tuple(reversed(list(widths))), list(s) if isinstance(s, (list, tuple)) else s)
    d = len(s)
    ks = p["ks"]
    if not isinstance(ks, (list, tuple)):
        raise UsageError(f"ks: expected a list of k in [0 : d] = [0 : {d}] ([] for all), got {ks!r}")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= d:
            raise UsageError(f"ks: expected integers in [0 : d] = [0 : {d}] ([] for all), got {list(ks)!r}")
    if len(set(ks)) != len(ks):
        raise UsageError(f"ks: expected each k once, got {list(ks)!r}")
    p["ks"] = list(ks) if ks else list(range(d + 1))
    lr = p["lr"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
        raise UsageError(f"lr: expected a finite number > 0, got {lr!r}")
    _int("steps", p["steps"], 1)
    widths = [int(w) for w in p["widths"]]
    # the batched descent costs steps x sum of d_j d_(j-1) multiply-adds per basin
    work = p["steps"] * (len(s) + 1) * sum(a * b for a, b in zip(widths, widths[1:]))
    if beyond(max(widths), MAX_WIDTH):
        raise UsageError(f"widths: {max(widths)}; at most {MAX_WIDTH}{LIFT}")
    if beyond(work, MAX_WORK):
        raise UsageError(f"steps: {p['steps']} steps of widths {widths} are {work:.3g} multiply-adds; "
                         f"at most {MAX_WORK:.0e}{LIFT}")
    _int("seed", p["seed"], 0)
    _int("record_every", p["record_every"], 1)
    prec = str(p["precision"]).strip().lower()
    if prec in ("float64", "double"):
        p["precision"] = "float64"
    else:
        try:
            digits = int(prec)
        except ValueError:
            digits = 0
        if not 16 <= digits <= 2000:
            raise UsageError(f"precision: expected a number of digits in [16, 2000] or 'float64', got {p['precision']!r}")
        p["precision"] = digits
    from flowcert.checks._args import clip, read_fraction
    a = read_fraction(p["a"], "a")
    if a <= 0:
        raise UsageError(f"a: expected a positive scale like 3/5 or 0.6, got {p['a']!r}")
    # sigma0 = a^N: past 100 the descent overflows float64, below 1/100 the escape from the
    # origin (~ sigma0^-(1-2/N)) outlasts any run
    if beyond(a, 100) or beyond(1 / a, 100):
        raise UsageError(f"a: {clip(p['a'])}; expected a scale in [1/100, 100]{LIFT}")
    p["a"] = str(a)
    ft = str(p["flow_time"]).strip().lower()
    if ft != "auto":
        try:
            v = float(ft)
        except ValueError:
            v = -1.0
        if not (math.isfinite(v) and v > 0):
            raise UsageError(f"flow_time: expected 'auto' or a positive time, got {p['flow_time']!r}")
        p["flow_time"] = v
    else:
        p["flow_time"] = "auto"
    if p["basis"] not in BASES:
        raise UsageError(f"basis: expected one of {', '.join(BASES)}, got {p['basis']!r}")


# ---------------------------------------------------------------------------------------------
# the runs


def _starts(p) -> list:
    rng = np.random.default_rng(p["seed"])
    s = [float(x) for x in p["singular_values"]]
    out = []
    for k in range(len(s) + 1):     # draw every basin, so a run's start does not depend on ``ks``
        ex = paper_start(k, rng, rotate=p["basis"] == "random", s=s, widths_out_first=p["widths"],
                         a=Fraction(p["a"]))
        if k in p["ks"]:
            out.append(ex)
    return out


def _flow_job(args):
    """One flow run (in a worker process): the summary of :func:`basin_run` as plain numbers."""
    ex, dps, t_origin, flow_time = args
    from flowcert.numerics import serial_blas
    with serial_blas():
        st_ = build(ex)
        run = basin_run(st_, dps, t_origin=t_origin, tau_origin=ORIGIN_TAU,
                        horizon=None if flow_time == "auto" else flow_time, n_eval=101, log_times=True)
        return _summarise_flow(st_, run)


def _summarise_flow(st_, run) -> dict:
    k = run["k"]
    times = run["times"]
    loss = [float(x) for x in run["loss"]]
    Lk = st_.critical_loss(k)
    U, V = (np.asarray(to_backend(x), float) for x in (st_.U, st_.V))
    W = [np.asarray(x, dtype=float) for x in run["W"]]
    sig = [float(np.linalg.norm(x)) for x in W]
    out = {"digits": run["dps"] if run["dps"] is not None else "float64", "digits_needed": run["digits_needed"],
           "horizon": run["T"], "tau": run["tau"], "taylor_steps": run["steps"], "seconds": round(run["seconds"], 2),
           "times": times, "loss": loss, "sigma": sig, "loss_final": loss[-1]}
    if k >= 1:
        target = float(st_.s[k - 1]) * np.outer(U[:, k - 1], V[:, k - 1])
        out["distance_final"] = float(np.linalg.norm(W[-1] - target))
        out["closed_form_loss_at_horizon"] = float(run["closed"].loss(run["tau"]))
        out.update(plateau(times, loss, Lk, LOSS_BAND))
        # the seed the rounding planted along u_1, v_1, at the end (a saddle run's escape coordinate)
        out["p1_final_over_pk"] = _p_ratio(st_, run, k) if k >= 2 else None
    else:
        out.update(_decay(st_, times, sig))
    out["final_k"] = nearest_critical(loss[-1], st_.s)
    return out


def _p_ratio(st_, run, k) -> float | None:
    """``sqrt(|alpha_1 beta_1| / |alpha_k beta_k|)`` of the final end-to-end matrix, at the run's
    precision: the size of the escape coordinate (~ |p_1 / p_k| once p_1 dominates q_1) that the
    rounding planted along u_1, v_1."""
    import mpmath
    from flowcert.numerics import workdps
    with workdps(run["dps"]):
        U, V = to_backend(st_.U), to_backend(st_.V)
        W = run["W"][-1]
        a11 = abs(U[:, 0] @ W @ V[:, 0])
        akk = abs(U[:, k - 1] @ W @ V[:, k - 1])
        return float(mpmath.sqrt(a11 / akk)) if akk > 0 else None


def _decay(st_, times, sig) -> dict:
    """k = 0: the sandwich bound of section 7.4 at every recorded time and the fitted exponents."""
    N, s = st_.N, [float(x) for x in st_.s]
    t = np.array(times)
    sg = np.array(sig)
    out = {}
    if N >= 3:
        lo, hi = (np.array([float(x) for x in b]) for b in
                  zip(*[th.origin_sandwich(N, s[0], s[-1], float(st_.sigma0), x) for x in t]))
        # slack relative; 1% covers GD's O(lr) departure from the flow on this slow stretch
        out["sandwich_holds"] = bool(np.all(sg[1:] >= 0.99 * lo[1:]) and np.all(sg[1:] <= 1.01 * hi[1:]))
        out["sandwich_final"] = [float(lo[-1]), float(hi[-1])]
        half = t >= t[-1] / 2
        e, p = (float(x) for x in th.origin_exponents(N))
        y = sg ** -e
        # a line through the late half needs three distinct times there (a short run has fewer)
        fit = len(np.unique(t[half])) >= 3 and t[half][0] > 0
        out["y_slope"] = float(np.polyfit(t[half], y[half], 1)[0]) if fit else None
        out["y_slope_band"] = [float(x) for x in th.origin_slopes(N, s[0], s[-1], float(st_.sigma0))]
        out["loglog_exponent"] = float(np.polyfit(np.log(t[half]), np.log(sg[half]), 1)[0]) if fit else None
        out["exponent_limit"] = p
    else:
        hi = np.array([float(th.origin_sandwich(N, s[0], s[-1], float(st_.sigma0), x)[1]) for x in t])
        out["sandwich_holds"] = bool(np.all(sg <= hi * (1 + 1e-9)))
    out["sigma_final"] = float(sg[-1])
    return out


def _gd(p, starts, progress, total) -> tuple[list, dict]:
    sts = [build(ex) for ex in starts]
    N = sts[0].N
    Vs = [np.array([np.asarray(to_backend(s_.weights[j]), float).T for s_ in sts]) for j in range(N)]
    Y = np.array([np.asarray(to_backend(s_.Z), float).T for s_ in sts])
    try:
        tr = descend_batch(Vs, Y, p["lr"], p["steps"], record_every=p["record_every"],
                           progress=lambda d, t: progress(d, total),
                           observe=lambda ws: {"sigma": np.linalg.norm(_end_to_end(ws), axis=(1, 2))})
    except DivergenceError as e:
        raise UsageError(f"--set lr={p['lr']}: gradient descent {e}; expected a smaller step") from None
    steps = list(tr.steps)
    out = []
    for b, st_ in enumerate(sts):
        k = st_.limit()
        loss = [float(x) for x in tr.losses[:, b]]
        Lk = st_.critical_loss(k)
        r = {"loss": loss, "loss_final": loss[-1], "final_k": nearest_critical(loss[-1], st_.s)}
        if k >= 1:
            pl = plateau(steps, loss, Lk, LOSS_BAND)
            r.update(plateau_reached_step=pl["reached_at"], left_plateau_step=pl["left_at"],
                     final_deviation=pl["final_deviation"])
            if r["final_k"] != k:
                Lf = st_.critical_loss(r["final_k"])
                pf = plateau(steps, loss, Lf, LOSS_BAND)
                r["escaped_to_k"] = r["final_k"]
                r["reached_escape_limit_step"] = pf["reached_at"]
        else:
            r.update(_decay(st_, [x * p["lr"] for x in steps], [float(x) for x in tr.records["sigma"][:, b]]))
        out.append(r)
    return out, {"steps": steps}


def _end_to_end(ws):
    acc = ws[0]
    for w in ws[1:]:
        acc = acc @ w
    return acc


def _run(p: dict, out: Path, progress: Callable) -> dict:
    t0 = time.perf_counter()
    out = Path(out)
    starts = _starts(p)
    sts = [build(ex) for ex in starts]
    s = [float(x) for x in p["singular_values"]]
    dps = None if p["precision"] == "float64" else p["precision"]
    total = p["steps"] + len(starts)
    # flows in worker processes (independent; the longest first), GD meanwhile in this one
    jobs = [(ex, dps, p["steps"] * p["lr"], p["flow_time"]) for ex in starts]
    workers = max(1, min(len(jobs), (os.cpu_count() or 1)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futs = [pool.submit(_flow_job, j) for j in jobs]
        gd, meta = _gd(p, starts, progress, total)
        flows = []
        for i, f in enumerate(futs):
            flows.append(f.result())
            progress(p["steps"] + i + 1, total)

    runs = []
    for st_, fl, g in zip(sts, flows, gd):
        k = st_.limit()
        Lk = st_.critical_loss(k)
        rel = abs(fl["loss_final"] - Lk) / Lk
        run = {"k": k, "loss_final": fl["loss_final"], "loss_predicted": Lk,
               "relative_error": rel, "matches_prediction": bool(rel <= LOSS_BAND) if k >= 1 else None,
               "p_at_start": [float(x) for x in st_.pq()[0]],
               "flow": {key: v for key, v in fl.items() if key not in ("times", "loss", "sigma")},
               "gd": {key: v for key, v in g.items() if key != "loss"}}
        if k == 0:
            run["decays_polynomially"] = bool(fl.get("sandwich_holds")) and fl["loss_final"] > Lk
        runs.append(run)

    rows = ["run,k,x,loss"]
    for st_, fl, g in zip(sts, flows, gd):
        k = st_.limit()
        rows += [f"flow,{k},{t!r},{csv_number(l)}" for t, l in zip(fl["times"], fl["loss"])]
        rows += [f"gd,{k},{st!r},{csv_number(l)}" for st, l in zip(meta["steps"], g["loss"])]
    write_atomic(out / "curves.csv", "\n".join(rows) + "\n")
    write_atomic(out / "losses.png", _figure(p, sts, flows, gd, meta["steps"]))

    summary = []
    for r in runs:
        f, g = r["flow"], r["gd"]
        if r["k"] >= 1:
            prec = f"{f['digits']} digits" if f["digits"] != "float64" else "float64"
            line = (f"k={r['k']}: flow ({prec}, t={f['horizon']:.3g}) loss {r['loss_final']:.12g} "
                    f"vs {r['loss_predicted']:g} (rel {r['relative_error']:.1e}); GD float64 ")
            if g.get("escaped_to_k") is not None:
                line += (f"left the plateau at step {g['left_plateau_step']} and ended at loss {g['loss_final']:.6g} "
                         f"(k={g['escaped_to_k']})")
            else:
                line += f"ended at {g['loss_final']:.10g} (plateau reached at step {g['plateau_reached_step']})"
        else:
            line = (f"k=0: flow loss {r['loss_final']:.8g} -> {r['loss_predicted']:g} from above, sigma = "
                    f"{f['sigma_final']:.3g} (sandwich {'holds' if f.get('sandwich_holds') else 'FAILS'}); GD "
                    f"sigma = {g['sigma_final']:.3g} at step {p['steps']} (sandwich "
                    f"{'holds' if g.get('sandwich_holds') else 'FAILS'})")
        summary.append(line)
    return {
        "figure": "chen2022 section 9 (GD at lr 5e-4 from every basin; protocol inferred)",
        "setting": {"N": sts[0].N, "widths_out_first": list(p["widths"]), "d": len(s),
                    "sigma0": float(sts[0].sigma0), "critical_losses": [st_.critical_loss(k) for k in range(len(s) + 1)
                                                                        for st_ in sts[:1]]},
        "runs": runs,
        "all_flows_match": all(r["matches_prediction"] for r in runs if r["k"] >= 1),
        "saddle_gd_escapes": {str(r["k"]): r["gd"].get("left_plateau_step") for r in runs if r["k"] >= 2},
        "summary": summary,
        "files": ["losses.png", "curves.csv", "chen2022.json"],
        "wall_seconds": round(time.perf_counter() - t0, 2),
    }


# ---------------------------------------------------------------------------------------------
# the figure


def _figure(p, sts, flows, gd, steps) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(13, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    colors = ["black", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink"]
    tg = np.array(steps, dtype=float) * p["lr"]
    for st_, fl, g in zip(sts, flows, gd):
        k = st_.limit()
        col = colors[k % len(colors)]
        Lk = st_.critical_loss(k)
        tf = np.array(fl["times"])
        lf = np.array(fl["loss"])
        lg = np.array(g["loss"])
        ax1.plot(tg[1:], lg[1:], "-", color=col, lw=1.4, label=f"k={k}: GD float64")
        ax1.plot(tf[1:], lf[1:], "--", color=col, lw=2.4, alpha=0.8, label=f"k={k}: flow {fl['digits']} dig.")
        ax1.axhline(Lk, color=col, ls=":", lw=0.8)
        dev_g = np.abs(lg - Lk) / Lk
        dev_f = np.abs(lf - Lk) / Lk
        ax2.plot(tg[1:], np.maximum(dev_g[1:], 1e-17), "-", color=col, lw=1.4)
        ax2.plot(tf[1:], np.maximum(dev_f[1:], 1e-17), "--", color=col, lw=2.4, alpha=0.8)
        left = g.get("left_plateau_step")
        if k >= 2 and left is not None:
            ax1.plot([left * p["lr"]], [Lk], "x", color=col, ms=9, mew=2)
            ax2.plot([left * p["lr"]], [LOSS_BAND], "x", color=col, ms=9, mew=2)
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("t = lr x step")
    ax1.set_ylabel("loss 1/2 ||W_N...W_1 - Z||^2")
    ax1.set_title("loss (dotted: the critical values 1/2(sum s^2 - s_k^2), 1/2 sum s^2; x: GD leaves its plateau)",
                  fontsize=9)
    ax1.grid(alpha=0.3, which="both", lw=0.4)
    ax1.legend(fontsize=7, ncol=2, loc="lower left")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.axhline(LOSS_BAND, color="gray", ls=":", lw=0.8)
    ax2.set_xlabel("t = lr x step")
    ax2.set_ylabel("|L - L*_k| / L*_k")
    ax2.set_title("distance to each run's predicted limit (solid GD float64, dashed flow; dotted: 1e-6)", fontsize=9)
    ax2.grid(alpha=0.3, which="both", lw=0.4)
    s = ", ".join(f"{float(x):g}" for x in p["singular_values"])
    fig.suptitle(f"chen2022 Sec. 9: N={sts[0].N}, widths (d_N..d_0)={tuple(p['widths'])}, s=({s}), lr={p['lr']:g}, "
                 f"{p['steps']} steps, a={p['a']}, {p['basis']} U,V (seed {p['seed']}); protocol [inferred]",
                 fontsize=10)
    return _png(fig)


CHEN_KEYS = {
    "singular_values": "singular values s_1 > ... > s_d of the target Z (the paper's s_i = d + 1 - i)",
    "widths": "layer widths d_N, ..., d_0 (output first); exactly one hidden width is 1",
    "lr": "gradient-descent learning rate",
    "steps": "gradient-descent steps",
    "precision": "digits of the gradient-flow runs (raised per run where a plateau needs more), or float64",
    "seed": "seed of the random rational orthogonal U, V",
    "ks": "basins k to run ([]: every k in [0 : d])",
    "a": "scale of the balanced rank-one start W_j = a q_j q_{j-1}^T (a rational, e.g. 3/5)",
    "basis": "U, V: random rational orthogonal, or the identity",
    "flow_time": "horizon of the flow runs (auto: where the closed form is within 1e-6 of the limit)",
    "record_every": "record the gradient-descent loss every this many steps",
}

REPRODUCE = register_experiment(Experiment(
    name="chen2022",
    paper=PAPER,
    description="GD at lr 5e-4 (float64) and the gradient flow (high precision) from exact starts in every "
                "basin k in [0 : d], N = 6, widths (5,4,1,10,5,3,8), s = (5,4,3,2,1); loss curves and limits",
    defaults={"singular_values": list(PAPER_S), "widths": list(PAPER_WIDTHS_OUT_FIRST), "lr": PAPER_LR,
              "steps": 200_000, "precision": "30", "seed": 0, "ks": [], "a": str(PAPER_A),
              "basis": "random", "flow_time": "auto", "record_every": 100},
    run=_run,
    choices={"basis": BASES},
    validate=_prefixed(_check),
    keys=CHEN_KEYS,
    figure="Sec. 9 (loss curves)",
    limits=f"widths at most {MAX_WIDTH}; steps x basins x sum of d_j d_(j-1) at most {MAX_WORK:.0e} "
           "multiply-adds",
))
