"""Online-SGD throughput for marion2023: the compiled kernel against the same kernel interpreted,
measured in the same run, and optionally the paper configuration's wall time.

Problem: the reference target (values 1, 5, 1, 3, 1, 5), m = 20, eta = 4e-3, eps = 2e-5, seed 42,
the reference indicator u-gradient, uniforms from the legacy MT19937 stream inside the kernel.

    python benchmarks/bench_sgd.py                 # ns/step, compiled vs interpreted, and the ratio
    python benchmarks/bench_sgd.py --paper         # + the paper config (h = 1e-5, P = 1.75e8), ~20 s
"""
from __future__ import annotations

import argparse
import gc
import sys
import time

import numpy as np


from flowcert.checks.papers.marion2023.experiments import TWO_TIMESCALE, sgd_experiment, template  # noqa: E402
from flowcert.numerics import have_numba, online_sgd  # noqa: E402

POS = np.linspace(0.2, 0.8, 5)
VALS = np.array([1.0, 5.0, 1.0, 3.0, 1.0, 5.0])


def per_step(backend: str, steps: int) -> float:
    rs = np.random.RandomState(42)
    u0 = np.sort(rs.rand(20))
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        online_sgd(np.zeros(21), u0, template=template(), width=4e-3, positions=POS, values=VALS, lr=1e-3,
                   ratio=2e-5, steps=steps, rng=rs, backend=backend)
        return (time.perf_counter() - t0) / steps
    finally:
        gc.enable()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20_000_000, help="compiled steps to time")
    ap.add_argument("--python-steps", type=int, default=20_000, help="interpreted steps to time")
    ap.add_argument("--paper", action="store_true", help="also run the paper config end to end")
    a = ap.parse_args(argv)
    if not have_numba():
        print("numba is not installed: nothing to compare (pip install numba)")
        return 1
    per_step("numba", 10)  # compile or load the cache outside the timing
    fast = per_step("numba", a.steps)
    slow = per_step("python", a.python_steps)
    print(f"compiled kernel   : {fast * 1e9:8.1f} ns/step ({a.steps:,} steps)")
    print(f"interpreted kernel: {slow * 1e9:8.1f} ns/step ({a.python_steps:,} steps)")
    print(f"speed-up          : {slow / fast:8.0f}x")
    print(f"paper config (1.75e8 steps) projected: compiled {1.75e8 * fast:.0f} s, "
          f"interpreted {1.75e8 * slow / 3600:.1f} h")
    if a.paper:
        t0 = time.perf_counter()
        res = sgd_experiment(TWO_TIMESCALE.params({}))
        wall = time.perf_counter() - t0
        print(f"paper config: P = {res['steps_P']:,}, SGD {res['sgd_seconds']:.1f} s "
              f"({res['ns_per_step']:.0f} ns/step), whole run {wall:.1f} s; final loss {res['final_loss']:.5f}; "
              f"uncovered {res['uncovered_discontinuities']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
