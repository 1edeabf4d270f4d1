"""Validated integration (``certify_flow``) against the non-validated flint Taylor backend of
``solve`` at the same precision, measured in the same run: the two-layer linear network with
d x d x d weights (2 d^2 states), a random start and target (seed 1, entries N(0, 1/4) and N(0, 1)).

Reports time, the ratio validated / non-validated, and the enclosure's largest width, against the
horizon T (d = 3) and against the dimension d (T = 2); the plain-interval ("box") enclosure is
shown beside the ball for the wrapping effect.

    python benchmarks/bench_validated.py [--digits 30]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import flowcert.theory as th
from flowcert.numerics import certify_flow, solve

NET = th.LinearNetwork(2)


def problem(d, seed=1):
    rng = np.random.default_rng(seed)
    ws = [rng.normal(size=(d, d)) * 0.5, rng.normal(size=(d, d)) * 0.5]
    return dict(zip(NET.weights, ws)), rng.normal(size=(d, d))


def best(f, repeat=3):
    out, t_best = None, float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        t_best = min(t_best, time.perf_counter() - t0)
    return out, t_best


def row(d, T, digits):
    y0, Y = problem(d)
    solve(NET.flow, y0, T, params={NET.target: Y}, dps=digits)   # compile, warm caches
    sol, t_plain = best(lambda: solve(NET.flow, y0, T, params={NET.target: Y}, dps=digits))
    enc, t_ball = best(lambda: certify_flow(NET.flow, y0, T, params={NET.target: Y}, digits=digits))
    box = certify_flow(NET.flow, y0, T, params={NET.target: Y}, digits=digits, wrapping="box")
    reach = "T" if box.certified else f"{float(box.t_certified):.3g}"
    print(f"{d:>2} {2 * d * d:>6} {T:>5g} {t_plain:>9.3f} {sol.steps:>6} {t_ball:>9.3f} {len(enc.steps):>6} "
          f"{t_ball / t_plain:>7.1f} {enc.width():>10.1e} {'yes' if enc.certified else 'NO':>5} "
          f"{box.width():>10.1e} {reach:>7}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digits", type=int, default=30)
    a = ap.parse_args()
    print(f"{'d':>2} {'states':>6} {'T':>5} {'solve s':>9} {'steps':>6} {'certify s':>9} {'steps':>6} "
          f"{'ratio':>7} {'width':>10} {'cert':>5} {'box width':>10} {'box to':>7}")
    for T in (1, 2, 5, 10):
        row(3, T, a.digits)
    for d in (2, 4, 5):
        row(d, 2, a.digits)


if __name__ == "__main__":
    main()
