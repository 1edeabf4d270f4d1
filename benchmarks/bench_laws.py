"""Conservation laws against the number of parameters D: the law search with its completeness proof
(``conservation_laws``) and the full trace of the Lie algebra (``trace_dimension``, run until the
bracket span closes), against a baseline measured in the same run: the plain SymPy computation of
the generators' rank at a rational point (``Matrix.jacobian``, ``subs``, ``rank``), which is only
the first level of the trace, not a count.

Shapes: linear (k, k/2, k), D = k^2, while each figure stays within the budget (60 s by default).

    python benchmarks/bench_laws.py [--budget 60]
"""
from __future__ import annotations

import argparse
import random
import time

import sympy as sp

import flowcert.theory as th


def naive_generator_rank(model) -> int:
    x = sp.Matrix(model.params)
    J = sp.Matrix(model.phi).jacobian(x)
    rng = random.Random(0)
    return J.subs({p: sp.Rational(rng.randint(2, 99)) for p in model.params}).rank()


def timed(f, *args, **kw):
    t0 = time.perf_counter()
    out = f(*args, **kw)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=60.0, help="seconds a figure may take (default 60)")
    a = ap.parse_args()
    print(f"{'shape':<14} {'D':>4} {'laws':>5} {'proof s':>8} {'full trace s':>13} {'baseline s':>11} "
          f"{'proof / baseline':>17}")
    skip_trace = skip_base = False
    for k in range(2, 40, 2):
        m = th.linear_model((k, k // 2, k))
        res, t_laws = timed(th.conservation_laws, m)
        if not res.complete:
            raise SystemExit(f"{m.name}: {res.verdict()}")
        t_trace = t_base = float("nan")
        if not skip_trace:
            tr, t_trace = timed(th.trace_dimension, m, deadline=time.perf_counter() + a.budget)
            skip_trace = tr.stopped == "deadline" or t_trace > a.budget / 4
            if tr.stopped == "deadline":
                t_trace = float("inf")
        if not skip_base:
            _, t_base = timed(naive_generator_rank, m)
            skip_base = t_base > a.budget / 8  # it grows about tenfold a step
        print(f"{str((k, k // 2, k)):<14} {m.D:>4} {res.independent_laws:>5} {t_laws:>8.2f} {t_trace:>13.2f} "
              f"{t_base:>11.2f} {t_laws / t_base if t_base == t_base else float('nan'):>17.2f}", flush=True)
        if t_laws > a.budget:
            print(f"stopped: the proof took more than {a.budget:g} s at D = {m.D}")
            break


if __name__ == "__main__":
    main()
