"""``flowcert reproduce weightdecay-imbalance``: ||D(t)||_F along the flow beside exp(-2 lam t) ||D(0)||_F."""

import numpy as np

from flowcert.checks import Experiment, UsageError, register_experiment
from flowcert.checks._experiment import new_figure, png, write_atomic
from flowcert.numerics import sample_weights, solve

from .model import W1, W2, flow, lam, net

__all__ = ["IMBALANCE"]


def _validate(p):
    if not 0 < p["lam"] <= 10:
        raise UsageError(f"--set lam: expected a number in (0, 10], got {p['lam']!r}")
    if not 0 < p["t_end"] <= 100:
        raise UsageError(f"--set t_end: expected a number in (0, 100], got {p['t_end']!r}")
    widths = p["widths"]
    if not (isinstance(widths, (list, tuple)) and len(widths) == 3
            and all(isinstance(h, int) and 1 <= h <= 50 for h in widths)):
        raise UsageError(f"--set widths: expected three integers in [1, 50] (n, h, m), got {widths!r}")


def run(p, out, progress=None) -> dict:
    n, h, m = p["widths"]
    rng = np.random.default_rng(p["seed"])
    w1, w2 = sample_weights("fan_in", (n, h, m), rng)
    Y = rng.standard_normal((n, m))
    field = {k: v.subs(lam, p["lam"]) for k, v in flow.items()}
    ts = np.linspace(0, p["t_end"], 41)
    sol = solve(field, {W1: w1, W2: w2}, p["t_end"], params={net.target: Y}, dps=None, t_eval=ts,
                observers={"D": lambda s: np.linalg.norm(s[W1].T @ s[W1] - s[W2] @ s[W2].T)})
    d = np.asarray(sol.records["D"], dtype=float)
    pred = d[0] * np.exp(-2 * p["lam"] * ts)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "imbalance.csv", "t,norm_D,predicted\n"
                 + "".join(f"{t:.6g},{a:.17g},{b:.17g}\n" for t, a, b in zip(ts, d, pred)))
    fig = new_figure((5, 3.5))
    ax = fig.add_subplot()
    ax.semilogy(ts, d, "o", ms=3, label=r"$\|D(t)\|_F$ (flow)")
    ax.semilogy(ts, pred, "-", label=r"$e^{-2\lambda t}\|D(0)\|_F$")
    ax.set_xlabel("t")
    ax.legend()
    ax.set_title(f"weight decay $\\lambda$ = {p['lam']:g}")
    write_atomic(out / "imbalance.png", png(fig))
    worst = float(np.max(np.abs(d - pred) / pred[0]))
    return {"files": ["imbalance.csv", "imbalance.png"], "max_relative_deviation": worst,
            "summary": [f"||D(t)|| follows exp(-2 lam t)||D(0)|| to {worst:.1e} relative "
                        f"(lam = {p['lam']:g}, t in [0, {p['t_end']:g}])"]}


IMBALANCE = register_experiment(Experiment(
    name="weightdecay-imbalance",
    paper="weightdecay",
    description="||D(t)||_F along the float64 flow beside exp(-2 lam t) ||D(0)||_F",
    defaults={"lam": 0.5, "t_end": 2.0, "widths": (3, 4, 2), "seed": 0},
    run=run,
    validate=_validate,
    keys={"lam": "weight-decay coefficient lambda", "t_end": "horizon of the flow",
          "widths": "(n, h, m): rows of W1, hidden width, columns of W2", "seed": "seed of the initialisation"},
))
