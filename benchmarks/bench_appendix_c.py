"""Appendix C of marion2023 (additive networks): the gradient of one epoch through the sorted-batch
kernels of :class:`flowcert.numerics.AdditiveFit`, against a baseline measured in the same run: the
dense numpy evaluation of the same gradient (every unit ``sigma((x_ik - u_jk) / eta)`` of the
``n x m x d`` array, as an autodiff framework would form it). Both gradients are compared entry by
entry before any time is reported.

Sizes are the paper's: d = 2 (n = 1000), d = 10 (n = 10^4), ReLU d = 1 (n = 1000); m = 10.

    python benchmarks/bench_appendix_c.py            # ms per epoch, kernel vs dense, and the ratio
    python benchmarks/bench_appendix_c.py --paper    # + the three experiments at 20 repeats (~70 s)
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import flowcert.theory as th
from flowcert.checks.papers.marion2023.additive import ADDITIVE, additive_experiment
from flowcert.numerics import AdditiveFit

SIZES = (("2-D", 2, 1000, "smooth-step"), ("10-D", 10, 10000, "smooth-step"), ("ReLU", 1, 1000, "relu"))


def dense_gradient(fit: AdditiveFit, X, y, a, u, eta):
    """The norm criterion's gradient from the full n x m x d array of units."""
    Z = (X[:, None, :] - u[None, :, :]) / eta
    e = np.einsum("imk,mk->i", fit.phi(Z), a) - y
    r = np.sqrt(e @ e)
    g = e / (r * len(y))
    return np.einsum("i,imk->mk", g, fit.phi(Z)), -np.einsum("i,imk->mk", g, fit.dphi(Z)) * a / eta


def per_epoch(f, repeat: int) -> float:
    f()  # compile / warm caches
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="store_true", help="also run the three experiments at the paper's size")
    ap.add_argument("--repeat", type=int, default=20, help="timings per figure; the best is kept (default 20)")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'model':<6} {'n':>6} {'d':>3} {'kernel ms':>10} {'dense ms':>10} {'dense / kernel':>15} "
          f"{'max rel diff':>13}")
    for label, d, n, act in SIZES:
        net = th.AdditiveNetwork(d, 10, act, "norm")
        eta = 0.01 if act != "relu" else 1.0
        X = rng.random((n, d))
        y = (X > 0.5).sum(axis=1).astype(float)
        fit = AdditiveFit(net, X, y, width=eta if act != "relu" else None)
        a0, u0 = 3 * rng.random((10, d)), rng.random((10, d))
        _, ga, gu = fit.gradient(a0, u0)
        da, du = dense_gradient(fit, X, y, a0, u0, eta)
        diff = max(np.abs(ga - da).max() / np.abs(da).max(), np.abs(gu - du).max() / np.abs(du).max())
        if diff > 1e-9:  # both sum the same n terms in float64; 1e-9 is far above their rounding
            raise SystemExit(f"{label}: kernel and dense gradients differ by {diff:.2e}")
        tk = per_epoch(lambda: fit.gradient(a0, u0), a.repeat)
        td = per_epoch(lambda: dense_gradient(fit, X, y, a0, u0, eta), max(3, a.repeat // 4))
        print(f"{label:<6} {n:>6} {d:>3} {1e3 * tk:>10.3f} {1e3 * td:>10.3f} {td / tk:>15.1f} {diff:>13.1e}",
              flush=True)
    if a.paper:
        total = 0.0
        for ex in ADDITIVE:
            t0 = time.perf_counter()
            res = additive_experiment(dict(ex.defaults))
            dt = time.perf_counter() - t0
            total += dt
            med = {r: res["regimes"][r]["median"] for r in res["regimes"]}
            print(f"{ex.name}: {dt:.1f} s for {ex.defaults['repeats']} repeats; medians "
                  + ", ".join(f"{r} {v:.3g}" for r, v in med.items()), flush=True)
        print(f"all three: {total:.1f} s")


if __name__ == "__main__":
    main()
