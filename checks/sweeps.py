"""The registered sweeps (``flowcert sweep NAME``): work that outgrows one core, in chunks.

- ``min2023-positivity``: main-text Delta* (Theorem 2, eq. 15; three layers) and alpha2 (Theorem 1
  with the proof's 1/2; two layers) over initialisation schemes x widths x samples: the fraction of
  draws where the bound is positive, quantiles, a figure of the distributions.
- ``chen2022-basins`` and ``marion2023-epsilon``: built on those papers' experiment functions.

Task functions are module-level and pure (workers import them by name); every random draw comes
from a seed derived from the sweep's seed and the draw's own parameters (scheme, widths, sample
index), so a cell's samples do not depend on the chunking, on the other cells asked for, or on
the engine.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._experiment import set_errors as _prefixed
from ._experiment import UsageError, write_atomic
from ._sweep import Sweep, Task, register_sweep

# ---------------------------------------------------------------------------------------------
# min2023-positivity

POSITIVITY_QUANTILES = (0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999)
_QNAMES = tuple(f"q{q * 100:g}" for q in POSITIVITY_QUANTILES)  # q0.1, q1, ..., q99.9
_BOUNDS = ("delta_star", "alpha2")


def _positivity_rng(seed: int, scheme: str, n: int, m: int, h1: int, h2: int, i: int):
    from .experiments_min2023 import _STREAM
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_STREAM[scheme], n, m, h1, h2, i)))


def positivity_draw(scheme: str, n: int, m: int, h1: int, h2: int, seed: int, i: int):
    """Sample ``i`` of a cell: the three-layer chain ``(n, h1, h2, m)`` of Delta*, then from the
    same stream the two-layer chain ``(n, h1, m)`` of alpha2."""
    from numerics import sample_weights
    rng = _positivity_rng(seed, scheme, n, m, h1, h2, i)
    return sample_weights(scheme, (n, h1, h2, m), rng), sample_weights(scheme, (n, h1, m), rng)


#: a value within ROUNDING * h * eps * scale of 0 is "zero within float64 rounding": eigvalsh is
#: backward stable (eigenvalue errors ~ h eps ||D||), and Delta* is a sum of O(h) terms quadratic
#: in those eigenvalues (scale ||D||^2), alpha2 linear in them (scale ||D||, ||Y||, ||W - Y||).
#: Delta* = 0 is not rare (D-bar ^ D can equal D-bar): float64 then returns +-1e-14 noise.
ROUNDING = 64.0


def delta_star_value(w3) -> tuple[float, float]:
    """Main-text Delta* (eq. 15) of a three-layer chain, float64, and its rounding tolerance."""
    from numerics import Evaluator
    from theory import LinearNetwork, delta_star, three_layer_imbalances
    net = LinearNetwork(3)
    ev = Evaluator(dict(zip(net.weights, w3)))
    v = float(ev.bound(delta_star()))
    lam = max(max(abs(x) for x in ev.spectrum("eig", d)) for d in three_layer_imbalances(net))
    h = max(w3[0].shape[1], w3[1].shape[1])
    return v, ROUNDING * h * np.finfo(float).eps * lam**2


def alpha2_value(w1, w2, Y) -> tuple[float, float]:
    """Theorem 1(ii)'s alpha2 (with the 1/2 of App. F) at ``(W1, W2)`` and target ``Y``, float64,
    and its rounding tolerance."""
    from numerics import Evaluator
    from theory import LinearNetwork, alpha2
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
    from .experiments_min2023 import BOX_SCHEMES, _int, _scheme, _widths_ok
    for k in ("n", "m", "samples", "chunk"):
        _int(k, p[k])
    _int("seed", p["seed"], 0)
    t = p["target"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise UsageError(f"target: expected a finite number, got {t!r}")
    s = p["schemes"]
    if not isinstance(s, (list, tuple)) or not s:
        raise UsageError(f"schemes: expected a non-empty list from {', '.join(BOX_SCHEMES)}, got {s!r}")
    for x in s:
        _scheme("schemes", x)
    if len(set(s)) != len(s):
        raise UsageError(f"schemes: expected each scheme once, got {s!r}")
    w = p["widths"]
    if (not isinstance(w, (list, tuple)) or not w
            or not all(isinstance(x, (list, tuple)) and len(x) == 2 for x in w)):
        raise UsageError(f"widths: expected a non-empty list of [h1, h2] pairs, got {w!r}")
    for h1, h2 in w:
        _int("widths", h1), _int("widths", h2)
        _widths_ok(p["n"], p["m"], h1, h2, key="widths")
        if max(h1, h2) > 2000:
            raise UsageError(f"widths: expected widths <= 2000 (a sample is two h x h eigen-solves), "
                             f"got ({h1}, {h2})")
    if len({tuple(x) for x in w}) != len(w):
        raise UsageError(f"widths: expected each pair once, got {w!r}")




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
        _save_npy(out / f"{b}.npy", arrays[b])
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


def _save_npy(path: Path, a: np.ndarray) -> None:
    import io
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    write_atomic(path, buf.getvalue())


def _positivity_figure(p, cells, arrays, zeros) -> bytes:
    from .experiments_min2023 import _LABEL, _new_figure, _png
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
    identity=_positivity_identity,
))


# ---------------------------------------------------------------------------------------------
# marion2023-epsilon

_MARION_KEYS = ("target", "target_positions", "target_values", "m", "eta", "gradient", "noise", "h",
                "tau_max", "seed")


def _marion():
    try:
        from . import experiments_marion2023 as M
        M.online_sgd, M.initial_positions, M.uncovered, M.network, M.resolve_target  # noqa: B018
    except (ImportError, AttributeError) as e:
        raise UsageError(f"sweep marion2023-epsilon: needs the marion2023 experiments "
                         f"(checks.experiments_marion2023: {e})") from None
    return M


def marion_run(epsilon: float, index: int, seed: int, h: float, tau_max: float, m: int, eta: float,
               target: str, target_positions, target_values, gradient: str, noise: float) -> dict:
    """One two-timescale SGD run (a task): ``P = int(tau_max / (h eps))`` steps from ``m`` uniform
    positions; run ``index`` draws from ``RandomState(SeedSequence(seed, spawn_key=(index,)))``
    (positions, then the SGD stream), so every eps starts run ``index`` from the same positions."""
    M = _marion()
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
    M._int("m", p["m"], 2)
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
        if p["tau_max"] / (p["h"] * v) > 1e10:
            raise UsageError(f"epsilons: tau_max / (h eps) = {p['tau_max'] / (p['h'] * v):.3g} steps at "
                             f"eps = {v:g}; at most 1e10")


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
    _save_npy(out / "final_loss.npy", final)
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
    from .experiments_min2023 import _new_figure, _png
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
    fig.suptitle(f"marion2023 ε × seeds: {S} runs per ε, target {p['target']}, m={p['m']}, h={p['h']:g}, "
                 f"τ_max={p['tau_max']:g}, seed {p['seed']}", fontsize=10)
    return _png(fig)


def _marion_requires():
    _marion()


def _marion_defaults() -> dict:
    return {"target": "reference-code", "target_positions": None, "target_values": None, "m": 20,
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
    identity=_marion_identity,
    requires=_marion_requires,
))


# ---------------------------------------------------------------------------------------------
# chen2022-basins


def _chen():
    try:
        from . import chen2022 as C
        C.paper_start, C.build, C.ClosedForm.of, C.ClosedForm.settle, C.Start.limit  # noqa: B018
    except (ImportError, AttributeError) as e:
        raise UsageError(f"sweep chen2022-basins: needs the chen2022 experiments (checks.chen2022: {e})") from None
    return C


def chen_chunk(k: int, m: int, start: int, stop: int, seed: int, singular_values, widths, a: str,
               band: float) -> dict:
    """Samples ``start .. stop - 1`` of basin ``k`` at perturbation ``10^-m`` (a task).

    Sample i is chen2022's experiment start (:func:`checks.chen2022.paper_start`: random rational
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
    from fractions import Fraction
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
    ms = p["m"]
    if (not isinstance(ms, (list, tuple)) or not ms or len(set(ms)) != len(ms)
            or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 12 for x in ms)):
        raise UsageError(f"m: expected distinct perturbation digits in [0, 12] (0: in the basin), got {ms!r}")
    b = p["band"]
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 < b < 1:
        raise UsageError(f"band: expected a number in (0, 1), got {b!r}")
    try:
        ok = Fraction(str(p["a"])) > 0
    except (ValueError, ZeroDivisionError):
        ok = False
    if not ok:
        raise UsageError(f"a: expected a positive scale like 3/5 or 0.6, got {p['a']!r}")


def _chen_tasks(p) -> list[Task]:
    kw = {k: p[k] for k in _CHEN_KEYS}
    tasks = []
    for k in p["ks"]:
        for m in p["m"]:
            for start in range(0, p["samples"], p["chunk"]):
                stop = min(p["samples"], start + p["chunk"])
                tasks.append(Task(key=f"k{k}-m{m}-{start}-{stop}", fn=chen_chunk,
                                  kwargs={"k": k, "m": m, "start": start, "stop": stop, **kw},
                                  cost=float(stop - start)))
    return tasks


def _chen_aggregate(p, done, out: Path) -> dict:
    ks, ms, S = list(p["ks"]), list(p["m"]), p["samples"]
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
        _save_npy(out / f"{f}.npy", data[f])
    write_atomic(out / "basins.png", _chen_figure(p, data))
    return {
        "protocol": ("chen2022's experiment starts (checks.chen2022.paper_start) in the basin of saddle k, "
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
    from .experiments_min2023 import _new_figure, _png
    ks, ms = list(p["ks"]), list(p["m"])
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
            "ks": [2, 3, 5], "m": [0, 2, 6], "samples": 20, "chunk": 5, "band": 1e-2, "seed": 0}


BASINS = register_sweep(Sweep(
    name="chen2022-basins",
    paper="chen2022",
    description=("random balanced initialisations near saddle basins (chen2022's experiment setting): "
                 "which limit, how long on the saddle's plateau, when settled"),
    defaults=_chen_defaults(),
    tasks=_chen_tasks,
    aggregate=_chen_aggregate,
    validate=_prefixed(_check_chen),
    identity=lambda p: {k: p[k] for k in _CHEN_KEYS},
    requires=lambda: _chen() and None,
))
