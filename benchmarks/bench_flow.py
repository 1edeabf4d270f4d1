"""Gradient-flow integration and gradient-descent throughput, against mpmath.odefun in the same run.

Problem (docs: shared/notes/ecosystem.md, "Performance baselines"): 2-layer linear network,
d = 3, Y = diag(3, 2, 1), W1, W2 ~ 0.1 N(0, 1) (seed 0), T = 5.

    python benchmarks/bench_flow.py                  # float64, 30 and 50 digits, odefun at both
    python benchmarks/bench_flow.py --no-odefun      # skip odefun (64 s at 50 digits)
    python benchmarks/bench_flow.py --gd-steps 15000 # the full GD run on 5x300, 300x500, 500x1
"""
from __future__ import annotations

import argparse
import gc
import time

import mpmath
import numpy as np


from flowcert.numerics import workdps  # noqa: E402
from flowcert.numerics._descent import chain_gradients, descend  # noqa: E402
from flowcert.numerics._integrate import expr_observer, solve  # noqa: E402
from flowcert.numerics._matexpr import compile_matrix  # noqa: E402
from flowcert.theory import LinearNetwork  # noqa: E402

T = 5


def timed(fn):
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t0
    finally:
        gc.enable()


def problem():
    net = LinearNetwork(2)
    rng = np.random.default_rng(0)
    w0 = {w: 0.1 * rng.standard_normal((3, 3)) for w in net.weights}
    return net, w0, {net.target: np.diag([3.0, 2.0, 1.0])}


def flowcert(dps, net, w0, params):
    obs = {"D": expr_observer(net.imbalance(1))}
    ts = [k / 2 for k in range(2 * T + 1)]
    sol, dt = timed(lambda: solve(net.flow, w0, T, params=params, dps=dps, t_eval=ts, observers=obs))
    with workdps(dps):
        d0 = sol.records["D"][0]
        drift = max(abs(x) for d in sol.records["D"] for x in (d - d0).flat)
    return sol, dt, drift


def odefun(dps, w0, y):
    """mpmath.odefun on the flattened state, the right-hand side written out with mpmath matrices."""
    with mpmath.workdps(dps):
        Y = mpmath.matrix(y.tolist())
        W1, W2 = (mpmath.matrix(a.tolist()) for a in w0.values())

        def F(t, v):
            A = mpmath.matrix(3, 3)
            B = mpmath.matrix(3, 3)
            for i in range(9):
                A[i // 3, i % 3] = v[i]
                B[i // 3, i % 3] = v[9 + i]
            R = Y - A * B
            dA, dB = R * B.T, A.T * R
            return [dA[i // 3, i % 3] for i in range(9)] + [dB[i // 3, i % 3] for i in range(9)]

        v0 = [W1[i // 3, i % 3] for i in range(9)] + [W2[i // 3, i % 3] for i in range(9)]
        f = mpmath.odefun(F, 0, v0)
        v, dt = timed(lambda: f(T))
        A = mpmath.matrix(3, 3)
        B = mpmath.matrix(3, 3)
        for i in range(9):
            A[i // 3, i % 3], B[i // 3, i % 3] = v[i], v[9 + i]
        D = A.T * A - B * B.T
        D0 = W1.T * W1 - W2 * W2.T
        drift = max(abs(x) for x in (D - D0))
        return np.array(v[:9], dtype=object).reshape(3, 3), dt, drift


def bench_flow(dps_list, with_odefun):
    net, w0, params = problem()
    net.flow  # derive once, outside the timings
    W1 = net.weights[0]
    print(f"2-layer, d=3, Y=diag(3,2,1), W ~ 0.1 N(0,1) seed 0, T={T}")
    solve(net.flow, w0, T, params=params, method="dop853")   # imports scipy: not part of the timing
    ref64, dt64 = timed(lambda: solve(net.flow, w0, T, params=params, method="dop853", tol=1e-13))
    sol, dt, drift = flowcert(None, net, w0, params)
    print(f"  float64  dop853  {dt64 * 1e3:8.1f} ms  {ref64.steps:4d} steps")
    print(f"  float64  taylor  {dt * 1e3:8.1f} ms  {sol.steps:4d} steps  drift {float(drift):.1e}  "
          f"|taylor - dop853| {np.max(np.abs(sol.final[W1] - ref64.final[W1])):.1e}")
    for dps in dps_list:
        sol, dt, drift = flowcert(dps, net, w0, params)
        ref, _, _ = flowcert(dps + 20, net, w0, params)   # 20 more digits: the error of sol
        with workdps(dps + 20):
            err = max(abs(a - b) for a, b in zip(sol.final[W1].flat, ref.final[W1].flat))
        line = (f"  {dps:3d} dps  taylor  {dt:8.2f} s   {sol.steps:4d} steps  drift {mpmath.nstr(drift, 2)}  "
                f"error {mpmath.nstr(err, 2)}")
        if with_odefun:
            v, dto, drifto = odefun(dps, w0, params[net.target])
            with workdps(dps + 20):
                erro = max(abs(a - b) for a, b in zip(v.flat, ref.final[W1].flat))
            line += (f"\n  {dps:3d} dps  odefun  {dto:8.2f} s                drift {mpmath.nstr(drifto, 2)}  "
                     f"error {mpmath.nstr(erro, 2)}\n           ratio odefun / taylor = {dto / dt:.1f}x")
        print(line, flush=True)


def bench_gd(steps):
    """3 layers 5x300, 300x500, 500x1 in float64: gradient-descent steps per second."""
    net = LinearNetwork(3)
    W, Y = net.weights, net.target
    rng = np.random.default_rng(1)
    shape = (5, 300, 500, 1)
    w0 = {w: rng.standard_normal((shape[i], shape[i + 1])) / np.sqrt(shape[i]) for i, w in enumerate(W)}
    y = {Y: rng.standard_normal((5, 1))}
    print(f"gradient descent, widths {shape}, float64, {steps} steps, loss every 100")
    grads = dict(zip(W, net.gradient))
    for name, g in (("expressions (factored, shared)", grads), ("chain_gradients", chain_gradients(W, Y))):
        tr, dt = timed(lambda: descend(g, w0, 1e-3, steps, params=y, record_every=100, loss=net.loss))
        print(f"  {name:31s} {steps / dt:8.0f} steps/s   final loss {float(tr.losses[-1]):.2e}")
    syms = list(W) + [Y]
    fns = [compile_matrix(g, syms) for g in net.gradient]
    args = [w0[w] for w in W] + [y[Y]]
    n = 50
    _, dt = timed(lambda: [[f(*args) for f in fns] for _ in range(n)])
    print(f"  {'compile_matrix per gradient':31s} {n / dt:8.0f} gradient evaluations/s (upper bound on steps/s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dps", type=int, nargs="*", default=[30, 50])
    ap.add_argument("--no-odefun", action="store_true")
    ap.add_argument("--gd-steps", type=int, default=2000, help="0 skips the descent benchmark")
    args = ap.parse_args()
    bench_flow(args.dps, not args.no_odefun)
    if args.gd_steps:
        bench_gd(args.gd_steps)


if __name__ == "__main__":
    main()
