"""min2023's sweep ``min2023-positivity``: main-text Delta* (Theorem 2, eq. 15; three layers) and
alpha2 (Theorem 1 with the proof's 1/2; two layers) over initialisation schemes x widths x samples:
the fraction of draws where the bound is positive, quantiles, a figure of the distributions.

Task functions are module-level and pure (workers import them by name); every random draw comes
from a seed derived from the sweep's seed and the draw's own parameters (scheme, widths, sample
index), so a cell's samples do not depend on the chunking, on the other cells asked for, or on
the engine.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from flowcert.checks._experiment import set_errors as _prefixed
from flowcert.checks._experiment import LIFT, UsageError, beyond, write_atomic
from flowcert.checks._sweep import Sweep, Task, check_tasks, register_sweep, save_npy

__all__ = ["alpha2_value", "delta_star_value", "per_cell", "POSITIVITY", "positivity_chunk",
           "positivity_draw", "POSITIVITY_QUANTILES", "positivity_stats", "ROUNDING"]

# ---------------------------------------------------------------------------------------------
# min2023-positivity

POSITIVITY_QUANTILES = (0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999)
_QNAMES = tuple(f"q{q * 100:g}" for q in POSITIVITY_QUANTILES)  # q0.1, q1, ..., q99.9
_BOUNDS = ("delta_star", "alpha2")


def _positivity_rng(seed: int, scheme: str, n: int, m: int, h1: int, h2: int, i: int):
    from flowcert.checks.papers.min2023.experiments import _STREAM
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_STREAM[scheme], n, m, h1, h2, i)))


def positivity_draw(scheme: str, n: int, m: int, h1: int, h2: int, seed: int, i: int):
    """Sample ``i`` of a cell: the three-layer chain ``(n, h1, h2, m)`` of Delta*, then from the
    same stream the two-layer chain ``(n, h1, m)`` of alpha2."""
    from flowcert.numerics import sample_weights
    rng = _positivity_rng(seed, scheme, n, m, h1, h2, i)
    return sample_weights(scheme, (n, h1, h2, m), rng), sample_weights(scheme, (n, h1, m), rng)


#: a value within ROUNDING * h * eps * scale of 0 is "zero within float64 rounding": eigvalsh is
#: backward stable (eigenvalue errors ~ h eps ||D||), and Delta* is a sum of O(h) terms quadratic
#: in those eigenvalues (scale ||D||^2), alpha2 linear in them (scale ||D||, ||Y||, ||W - Y||).
#: Delta* = 0 is not rare (D-bar ^ D can equal D-bar): float64 then returns +-1e-14 noise.
ROUNDING = 64.0


def delta_star_value(w3) -> tuple[float, float]:
    """Main-text Delta* (eq. 15) of a three-layer chain, float64, and its rounding tolerance."""
    from flowcert.numerics import Evaluator
    from flowcert.theory import LinearNetwork, delta_star, three_layer_imbalances
    net = LinearNetwork(3)
    ev = Evaluator(dict(zip(net.weights, w3)))
    v = float(ev.bound(delta_star()))
    lam = max(max(abs(x) for x in ev.spectrum("eig", d)) for d in three_layer_imbalances(net))
    h = max(w3[0].shape[1], w3[1].shape[1])
    return v, ROUNDING * h * np.finfo(float).eps * lam**2


def alpha2_value(w1, w2, Y) -> tuple[float, float]:
    """Theorem 1(ii)'s alpha2 (with the 1/2 of App. F) at ``(W1, W2)`` and target ``Y``, float64,
    and its rounding tolerance."""
    from flowcert.numerics import Evaluator
    from flowcert.theory import LinearNetwork, alpha2
    net = LinearNetwork(2)
    ev = Evaluator({net.weights[0]: w1, net.weights[1]: w2, net.target: Y})
    v = float(ev.bound(alpha2()))
    lam = max(abs(x) for x in ev.spectrum("eig", net.imbalance(1)))
    scale = max(lam, float(np.linalg.norm(Y)), float(np.linalg.norm(w1 @ w2 - Y)))
    return v, ROUNDING * w1.shape[1] * np.finfo(float).eps * scale


def positivity_chunk(scheme: str, n: int, m: int, h1: int, h2: int, target: float, seed: int,
                     start: int, stop: int) -> dict:
    """Delta* and alpha2 of samples ``start .. stop - 1`` of one cell (a task); ``*_zero`` lists
    the samples whose value is zero within float64 rounding (see :data:`ROUNDING`)."""
    Y = np.full((n, m), float(target))
    out: dict = {b: [] for b in _BOUNDS}
    out.update({f"{b}_zero": [] for b in _BOUNDS})
    for i in range(start, stop):
        w3, w2 = positivity_draw(scheme, n, m, h1, h2, seed, i)
        for b, (v, tol) in (("delta_star", delta_star_value(w3)), ("alpha2", alpha2_value(*w2, Y))):
            out[b].append(v)
            if abs(v) <= tol:
                out[f"{b}_zero"].append(i)
    return out


def _check_positivity(p):
    from flowcert.checks.papers.min2023.experiments import _int, _schemes, _widths_ok
    for k in ("n", "m", "samples", "chunk"):
        _int(k, p[k])
    _int("seed", p["seed"], 0)
    t = p["target"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise UsageError(f"target: expected a finite number, got {t!r}")
    _schemes(p["schemes"])
    w = p["widths"]
    if (not isinstance(w, (list, tuple)) or not w
            or not all(isinstance(x, (list, tuple)) and len(x) == 2 for x in w)):
        raise UsageError(f"widths: expected a non-empty list of [h1, h2] pairs, got {w!r}")
    for h1, h2 in w:
        _int("widths", h1), _int("widths", h2)
        _widths_ok(p["n"], p["m"], h1, h2, key="widths")
        if beyond(max(h1, h2), 2000):
            raise UsageError(f"widths: ({h1}, {h2}); at most 2000 (a sample is two h x h eigen-solves){LIFT}")
    if len({tuple(x) for x in w}) != len(w):
        raise UsageError(f"widths: expected each pair once, got {w!r}")
    from flowcert.checks.papers.min2023.experiments import MAX_BOX_WORK
    work = p["samples"] * max(h1 ** 3 + h2 ** 3 for h1, h2 in w)
    if beyond(work, MAX_BOX_WORK):
        raise UsageError(f"samples: {p['samples']} draws are up to {work:.3g} eigen-solve operations; at most "
                         f"{MAX_BOX_WORK:.0e}{LIFT}")
    check_tasks(len(p["schemes"]) * len(w) * -(-per_cell(p) // p["chunk"]), "samples / chunk x cells")




def per_cell(p) -> int:
    """Samples per (scheme, widths) cell: ``samples`` is the total, spread evenly (rounded up)."""
    return -(-p["samples"] // (len(p["schemes"]) * len(p["widths"])))


def _positivity_tasks(p) -> list[Task]:
    tasks = []
    C, S = p["chunk"], per_cell(p)
    for scheme in p["schemes"]:
        for h1, h2 in p["widths"]:
            for start in range(0, S, C):
                stop = min(S, start + C)
                tasks.append(Task(
                    key=f"{scheme}-{h1}x{h2}-{start}-{stop}", fn=positivity_chunk,
                    kwargs={"scheme": scheme, "n": p["n"], "m": p["m"], "h1": h1, "h2": h2,
                            "target": float(p["target"]), "seed": p["seed"], "start": start, "stop": stop},
                    # two eigen-solves of order h1, h2 (~h^3) and Definition 2's O(h) sums
                    cost=(stop - start) * (h1**3 + h2**3 + 2000.0 * (h1 + h2))))
    return tasks


def _positivity_identity(p) -> dict:
    # a task's key names its scheme, widths and sample range; the rest of what its result
    # depends on is here, so a store can be extended with more samples, schemes or widths
    return {k: p[k] for k in ("n", "m", "target", "seed")}


def positivity_stats(values, zero) -> dict:
    """``zero``: a boolean mask of the values that are 0 within rounding (neither sign counted)."""
    zero = np.asarray(zero, dtype=bool)
    v = np.where(zero, 0.0, np.asarray(values, dtype=float))  # rounding noise counts as the 0 it is
    finite = v[np.isfinite(v)]
    qs = np.quantile(finite, POSITIVITY_QUANTILES) if len(finite) else [math.nan] * len(_QNAMES)
    pos = int(np.sum((v > 0) & ~zero))
    return {"samples": int(len(v)), "positive": pos, "fraction_positive": pos / len(v) if len(v) else None,
            "zero_within_rounding": int(zero.sum()), "negative": int(np.sum((v < 0) & ~zero)),
            "non_finite": int(len(v) - len(finite)),
            "min": float(finite.min()) if len(finite) else None,
            **{k: float(q) for k, q in zip(_QNAMES, qs)},
            "max": float(finite.max()) if len(finite) else None,
            "mean": float(finite.mean()) if len(finite) else None}


def _positivity_aggregate(p, done, out: Path) -> dict:
    schemes, widths = list(p["schemes"]), [tuple(w) for w in p["widths"]]
    S = per_cell(p)
    arrays = {b: np.empty((len(schemes), len(widths), S)) for b in _BOUNDS}
    zeros = {b: np.zeros((len(schemes), len(widths), S), dtype=bool) for b in _BOUNDS}
    for task, res in done:
        kw = task.kwargs
        i, j = schemes.index(kw["scheme"]), widths.index((kw["h1"], kw["h2"]))
        for b in _BOUNDS:
            arrays[b][i, j, kw["start"]:kw["stop"]] = np.array(
                [math.nan if x is None else x for x in res[b]], dtype=float)
            zeros[b][i, j, res[f"{b}_zero"]] = True
    cells = []
    for i, s in enumerate(schemes):
        for j, (h1, h2) in enumerate(widths):
            cells.append({"scheme": s, "h1": h1, "h2": h2,
                          **{b: positivity_stats(arrays[b][i, j], zeros[b][i, j]) for b in _BOUNDS}})
    for b in _BOUNDS:  # .npy: deterministic bytes (an .npz would carry zip timestamps)
        save_npy(out / f"{b}.npy", arrays[b])
    write_atomic(out / "positivity.png", _positivity_figure(p, cells, arrays, zeros))
    summary = []
    for c in cells:
        summary.append(f"{c['scheme']:<8} {c['h1']:>4}x{c['h2']:<4}  " + "  ".join(
            f"{b}: {c[b]['positive']}/{c[b]['samples']} > 0"
            + (f" ({c[b]['zero_within_rounding']} = 0)" if c[b]['zero_within_rounding'] else "")
            + (f" ({c[b]['negative']} < 0)" if c[b]['negative'] else "")
            + f", median {c[b]['q50']:.4g}" for b in _BOUNDS))
    return {
        "positive_means": (f"> 0 beyond float64 rounding: |value| > {ROUNDING:g} h eps scale (scale "
                           "||D||^2 for Delta*, max(||D||, ||Y||, ||W - Y||) for alpha2); within it the "
                           "value counts as zero_within_rounding (the bound guarantees no rate there) "
                           "and as 0 in the quantiles; the .npy files keep the float64 values"),
        "normalisation": ("delta_star: main-text Delta* (eq. 15) of a three-layer chain (n, h1, h2, m), "
                          "unscaled also for NTK; alpha2: Theorem 1(ii) with the 1/2 of App. F, "
                          "two-layer chain (n, h1, m), target Y = target * ones(n, m); float64"),
        "seeding": ("sample i of (scheme, h1, h2) draws from SeedSequence(seed, spawn_key=(stream(scheme), "
                    "n, m, h1, h2, i)): the three-layer chain, then the two-layer chain"),
        "samples_per_cell": S,
        "quantiles": list(POSITIVITY_QUANTILES),
        "cells": cells,
        "all_positive": {b: all(c[b]["positive"] == c[b]["samples"] for c in cells) for b in _BOUNDS},
        "files": ["delta_star.npy", "alpha2.npy", "positivity.png", f"{POSITIVITY.name}.json"],
        "summary": summary,
    }


def _positivity_figure(p, cells, arrays, zeros) -> bytes:
    from flowcert.checks.papers.min2023.experiments import _LABEL, _new_figure, _png
    schemes, widths = list(p["schemes"]), [tuple(w) for w in p["widths"]]
    fig = _new_figure((3.6 * len(schemes) + 1, 7.6))
    axes = np.array(fig.subplots(2, len(schemes), squeeze=False))
    titles = {"delta_star": "Δ* (Thm 2, eq. 15; L = 3)", "alpha2": "α₂ (Thm 1, with ½; L = 2)"}
    pos = np.arange(1, len(widths) + 1)
    for r, b in enumerate(_BOUNDS):
        for c, s in enumerate(schemes):
            ax = axes[r, c]
            data = []
            for j in range(len(widths)):
                d = np.where(zeros[b][c, j], 0.0, arrays[b][c, j])  # rounding noise drawn as 0
                data.append(d[np.isfinite(d)])
            ax.boxplot(data, positions=pos, widths=0.5, whis=(1, 99), showfliers=False,
                       tick_labels=[f"{h1}×{h2}" if b == "delta_star" else f"{h1}" for h1, h2 in widths])
            for x, d in zip(pos, data):
                if len(d):
                    ax.plot([x, x], [d.min(), d.max()], "_", color="tab:red", ms=10, mew=1.2)
            alld = np.concatenate(data) if data else np.array([1.0])
            if len(alld) and alld.min() > 0:
                ax.set_yscale("log")
            else:  # zeros (or worse): linear near 0, logarithmic from the smallest typical value
                posv = alld[alld > 0]
                lin = 10.0 ** math.floor(math.log10(np.quantile(posv, 0.01))) if len(posv) else 1.0
                ax.set_yscale("symlog", linthresh=lin)
                ax.axhline(0, color="k", lw=0.6)
            ax.margins(y=0.12)
            for x, j in zip(pos, range(len(widths))):
                st = cells[c * len(widths) + j][b]
                frac = st["positive"] / st["samples"]
                label = "100% > 0" if frac == 1 else f"{100 * frac:.4g}% > 0"
                if st["zero_within_rounding"]:
                    label += f"\n{100 * st['zero_within_rounding'] / st['samples']:.3g}% = 0"
                if st["negative"]:
                    label += f"\n{100 * st['negative'] / st['samples']:.3g}% < 0"
                ax.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"), xytext=(0, -3),
                            textcoords="offset points", ha="center", va="top", fontsize=7,
                            color="tab:green" if frac == 1 else "tab:red")
            ax.set_title(f"{titles[b]}, {_LABEL[s]}" + (" (unscaled)" if s == "ntk" and b == "delta_star"
                                                        else ""), fontsize=9)
            ax.set_xlabel("widths h1×h2" if b == "delta_star" else "width h1 (h2 unused)")
            ax.grid(axis="y", alpha=0.3, which="major")
    axes[1, 0].plot([], [], "_", color="tab:red", ms=10, label="min / max")
    axes[1, 0].plot([], [], "s", mfc="none", mec="k", label="box: quartiles; whiskers: 1% and 99%")
    axes[1, 0].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"min2023 positivity: n={p['n']}, m={p['m']}, target Y={p['target']:g}·1, "
                 f"{per_cell(p)} samples per scheme and width, seed {p['seed']} "
                 "(= 0: zero within float64 rounding)", fontsize=10)
    return _png(fig)


POSITIVITY = register_sweep(Sweep(
    name="min2023-positivity",
    paper="min2023",
    description=("Delta* (three layers) and alpha2 (two layers) over init schemes x widths x samples: "
                 "fraction positive, quantiles, box plots; `samples` initialisations in all, "
                 "spread evenly over the cells"),
    defaults={"n": 5, "m": 1, "samples": 9000, "schemes": ["fan_in", "fan_out", "ntk"],
              "widths": [[20, 20], [50, 50], [100, 100]], "target": 1.0, "seed": 0, "chunk": 500},
    tasks=_positivity_tasks,
    aggregate=_positivity_aggregate,
    validate=_prefixed(_check_positivity),
    limits="widths at most 2000; samples x (h1^3 + h2^3) at most 1e14; samples / chunk x cells at most 1e6 tasks",
    identity=_positivity_identity,
    keys={"n": "n: rows of the target Y and of W (the paper's n)", "m": "m: columns of Y and of W",
          "samples": "initialisations in all, spread evenly over the (scheme, widths) cells",
          "schemes": "initialisation schemes (fan_in, fan_out, ntk)",
          "widths": "hidden widths [h1, h2] of each cell (alpha2 uses h1)",
          "target": "the target Y = target * ones(n, m)", "seed": "seed from which every draw's seed is derived",
          "chunk": "initialisations per task"},
    figure="Fig. 1 left, beyond its widths",
))


