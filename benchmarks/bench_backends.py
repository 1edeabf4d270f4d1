"""Issue #6 targets: flowcert's Taylor integrator against mpmath.odefun, heyoka `real` and scipy's
DOP853, each measured in this process; the depth / width scaling; and the certify time of the
Fig. 1 box-plot shape.

Problem (shared/notes/ecosystem.md, "Performance baselines"): 2-layer linear network, d = 3,
Y = diag(3, 2, 1), W1, W2 ~ 0.1 N(0, 1) (seed 0), T = 5.

Times are CPU seconds of this process (``time.process_time``): the machines are shared, and wall
time would charge other jobs' load to whichever run they overlap. Wall seconds are printed too.

    python benchmarks/bench_backends.py                 # everything (odefun alone is ~1-4 min)
    python benchmarks/bench_backends.py --no-odefun     # skip the 50-digit odefun baseline
    python benchmarks/bench_backends.py --only scaling  # one section: odefun|heyoka|float64|scaling|certify
"""
from __future__ import annotations

import argparse
import gc
import time

import mpmath
import numpy as np


from flowcert.numerics import expr_observer, serial_blas, workdps  # noqa: E402
from flowcert.numerics._integrate import solve  # noqa: E402
from flowcert.theory import LinearNetwork  # noqa: E402

T = 5
DPS = 50


def timed(fn):
    gc.collect()
    gc.disable()
    try:
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        return out, time.process_time() - c0, time.perf_counter() - w0
    finally:
        gc.enable()


def problem(depth=2, d=3, seed=0):
    net = LinearNetwork(depth)
    rng = np.random.default_rng(seed)
    w0 = {w: 0.1 * rng.standard_normal((d, d)) for w in net.weights}
    y = np.diag(np.arange(d, 0, -1, dtype=float))
    return net, w0, {net.target: y}


def drift_of(net, sol, dps):
    with workdps(dps):
        out = mpmath.mpf(0) if dps else 0.0
        for l in range(1, net.depth):
            d = sol.records[f"D{l}"]
            out = max([out] + [abs(x) for x in (d[-1] - d[0]).flat])
        return out


def observers(net):
    return {f"D{l}": expr_observer(net.imbalance(l)) for l in range(1, net.depth)}


def flowcert(net, w0, params, dps, backend=None, t_end=T, tol=None):
    obs = observers(net)
    sol, cpu, wall = timed(lambda: solve(net.flow, w0, t_end, params=params, dps=dps, observers=obs,
                                         backend=backend, tol=tol))
    return sol, cpu, wall, drift_of(net, sol, dps)


def err_vs(sol, ref, w, dps):
    with workdps(dps):
        return max(abs(mpmath.mpf(a) - mpmath.mpf(b)) for a, b in zip(sol.final[w].flat, ref.final[w].flat))


def odefun(w0, y, dps):
    """mpmath.odefun on the flattened state, the right-hand side with mpmath matrices."""
    with mpmath.workdps(dps):
        Y = mpmath.matrix(y.tolist())
        W1, W2 = (mpmath.matrix(a.tolist()) for a in w0.values())
        d = Y.rows

        def unflat(v):
            A, B = mpmath.matrix(d, d), mpmath.matrix(d, d)
            for i in range(d * d):
                A[i // d, i % d], B[i // d, i % d] = v[i], v[d * d + i]
            return A, B

        def F(t, v):
            A, B = unflat(v)
            R = Y - A * B
            dA, dB = R * B.T, A.T * R
            return [dA[i // d, i % d] for i in range(d * d)] + [dB[i // d, i % d] for i in range(d * d)]

        v0 = [W1[i // d, i % d] for i in range(d * d)] + [W2[i // d, i % d] for i in range(d * d)]
        f = mpmath.odefun(F, 0, v0)
        v, cpu, wall = timed(lambda: f(T))
        A, B = unflat(v)
        drift = max(abs(x) for x in ((A.T * A - B * B.T) - (W1.T * W1 - W2 * W2.T)))
        return np.array(A.tolist(), dtype=object), cpu, wall, drift


def section_odefun(run_odefun):
    net, w0, params = problem()
    net.flow
    W1 = net.weights[0]
    print(f"== {DPS} digits: flowcert vs mpmath.odefun (2-layer, d=3, Y=diag(3,2,1), W ~ 0.1 N(0,1), T={T})")
    ref, _, _, _ = flowcert(net, w0, params, DPS + 20)
    res = {}
    for backend in ("flint", "mpmath"):
        sol, cpu, wall, drift = flowcert(net, w0, params, DPS, backend)
        res[backend] = cpu
        print(f"  flowcert[{backend:6s}] {cpu:8.3f} s cpu ({wall:7.3f} wall)  {sol.steps} steps  "
              f"drift {mpmath.nstr(drift, 2)} (target <= 1e-45: {'ok' if drift <= 1e-45 else 'MISSED'})  "
              f"error {mpmath.nstr(err_vs(sol, ref, W1, DPS + 20), 2)}")
    if run_odefun:
        A, cpu, wall, drift = odefun(w0, params[net.target], DPS)
        with workdps(DPS + 20):
            err = max(abs(a - b) for a, b in zip(A.flat, ref.final[W1].flat))
        print(f"  mpmath.odefun     {cpu:8.3f} s cpu ({wall:7.3f} wall)             drift {mpmath.nstr(drift, 2)}  "
              f"error {mpmath.nstr(err, 2)}")
        for backend, t in res.items():
            r = cpu / t
            print(f"  RATIO odefun / flowcert[{backend}] = {r:.0f}x  (target >= 100x: {'ok' if r >= 100 else 'MISSED'})")
    return res


def _heyoka_system(hy, net, w0, params, prec, how):
    """heyoka's equations for the flow: ``direct`` written by hand as a heyoka user would (the
    residual once, each gradient from shared products), ``factored`` what the backend builds,
    ``expanded`` the expanded SymPy flow entry by entry (the backend before issue #17)."""
    from flowcert.numerics._certify import _evaluate_matrix
    from flowcert.numerics._heyoka import _Ops, _exact_str, factored
    from flowcert.numerics._integrate import _bind_dims
    ops = _Ops(hy, prec)
    env, flat = {}, []
    for s, a in w0.items():
        v = np.empty(a.shape, dtype=object)
        for i in range(a.shape[0]):
            for j in range(a.shape[1]):
                v[i, j] = hy.make_vars(f"{s}_{i}_{j}")
                flat.append((s, i, j, v[i, j]))
        env[s] = v
    env[net.target] = np.vectorize(ops.num, otypes=[object])(params[net.target])
    if how == "direct":
        Ws = [env[w] for w in net.weights]
        pre = [None]                                   # W_1 .. W_{l-1}
        for W in Ws[:-1]:
            pre.append(W if pre[-1] is None else ops.mul(pre[-1], W))
        R = ops.add(env[net.target], -ops.mul(pre[-1], Ws[-1]) if len(Ws) > 1 else -Ws[0])
        rhs, suf = {}, None                            # suf = W_{l+1} .. W_L
        for l in range(len(Ws) - 1, -1, -1):
            A = R if suf is None else ops.mul(R, suf.T)
            rhs[net.weights[l]] = A if pre[l] is None else ops.mul(pre[l].T, A)
            suf = Ws[l] if suf is None else ops.mul(Ws[l], suf)
    elif how == "factored":
        states = list(w0)
        arrays = {**w0, **params}
        dims = _bind_dims(arrays, {s: str(s) for s in arrays})
        rhs = factored(net.flow, states, list(params), dims, env, ops)
    else:
        rhs = {s: _evaluate_matrix(net.flow[s], env, ops) for s in w0}
    sys_ = [(var, rhs[s][i, j]) for s, i, j, var in flat]
    init = [hy.real(_exact_str(w0[s][i, j]), prec) for s, i, j, _ in flat]
    return sys_, init


def section_heyoka():
    print(f"== {DPS} digits: flowcert vs heyoka real (same problem; cpu seconds, best of 2)")
    try:
        import heyoka as hy
    except ImportError:
        print("  heyoka not installed (pip install 'flowcert[heyoka]'): skipped")
        return
    if not hasattr(hy, "real"):
        print("  this heyoka build has no real type: skipped")
        return
    with workdps(DPS):
        prec = mpmath.mp.prec + 8       # what the heyoka backend uses (flint uses + 16)
    for depth in (2, 3):
        net, w0, params = problem(depth)
        net.flow
        row = {}
        for how in ("direct", "factored", "expanded"):
            sys_, init = _heyoka_system(hy, net, w0, params, prec, how)
            best = None
            for _ in range(2):
                ta, build, _ = timed(lambda: hy.taylor_adaptive(sys_, init, fp_type=hy.real, prec=prec,
                                                                compact_mode=True))
                _, integ, _ = timed(lambda: ta.propagate_until(hy.real(T, prec)))
                best = (build, integ) if best is None else (min(best[0], build), min(best[1], integ))
            row[how] = (*best, len(ta.decomposition), ta.order)
            print(f"  L = {depth} heyoka {how:9s} {len(ta.decomposition):5d} decomposed terms, "
                  f"build {best[0]:6.3f} s, integrate {best[1]:6.3f} s (order {ta.order})")
        backend = min(flowcert(net, w0, params, DPS, "heyoka")[1] for _ in range(2))
        flint_cpu = min(flowcert(net, w0, params, DPS, "flint")[1] for _ in range(2))
        direct = sum(row["direct"][:2])
        print(f"  L = {depth} flowcert[heyoka] backend (build + integrate + I/O) {backend:6.3f} s: "
              f"RATIO backend / direct heyoka = {backend / direct:.2f}x "
              f"(expanded flow: {sum(row['expanded'][:2]) / direct:.2f}x)")
        print(f"  L = {depth} flowcert[flint] ({DPS} digits + 16 guard bits) {flint_cpu:6.3f} s: "
              f"RATIO flint / direct heyoka build+integrate = {flint_cpu / direct:.2f}x, "
              f"integrate only = {flint_cpu / row['direct'][1]:.2f}x")


def _plain_rhs(w0, y):
    """The 2-layer flow written by hand in numpy on the flattened state (the baseline a user
    would write for scipy): R = Y - W1 W2, W1' = R W2^T, W2' = W1^T R."""
    (a1, b1), (a2, b2) = (w.shape for w in w0)
    k = a1 * b1

    def rhs(t, v):
        W1, W2 = v[:k].reshape(a1, b1), v[k:].reshape(a2, b2)
        R = y - W1 @ W2
        return np.concatenate([(R @ W2.T).ravel(), (W1.T @ R).ravel()])
    return rhs


def section_float64():
    print("== float64: flowcert Taylor vs scipy DOP853 at equal achieved error (same problem; "
          "best of 3, cpu ms)")
    from scipy.integrate import solve_ivp
    from flowcert.numerics._integrate import _flat_rhs, _prepare
    net, w0, params = problem()
    net.flow
    W1, W2 = net.weights
    y = params[net.target]
    ref, _, _, _ = flowcert(net, w0, params, 30)
    exact = np.concatenate([np.array(ref.final[w], dtype=float).ravel() for w in net.weights])
    plain = _plain_rhs([w0[W1], w0[W2]], y)
    v0 = np.concatenate([w0[W1].ravel(), w0[W2].ravel()])
    prep = _prepare(net.flow, w0, params, T, None)
    states, prm, arrays, dims, *_, fns = prep
    wrapper = _flat_rhs(states, prm, arrays, dims, net.flow, fns)
    assert np.allclose(wrapper(0.0, v0), plain(0.0, v0), rtol=1e-14, atol=1e-15)

    def per_call(f, n=3000):
        _, cpu, _ = timed(lambda: [f(0.0, v0) for _ in range(n)])
        return cpu / n * 1e6
    print(f"  right-hand side per call: plain numpy {per_call(plain):.1f} us, flowcert's dop853 "
          f"wrapper {per_call(wrapper):.1f} us")

    def best(fn):
        out = None
        for _ in range(3):
            r, cpu, _ = timed(fn)
            out = (r, cpu) if out is None or cpu < out[1] else out
        return out

    def scipy_run(tol):
        return solve_ivp(plain, (0.0, float(T)), v0, method="DOP853", rtol=tol, atol=tol)
    for tol in (1e-10, 1e-13):
        s, t_cpu = best(lambda: solve(net.flow, w0, T, params=params, tol=tol))
        e_t = float(np.max(np.abs(np.concatenate([s.final[w].ravel() for w in net.weights]) - exact)))
        # the loosest DOP853 tolerance (quarter decades) that reaches Taylor's achieved error
        for k in np.arange(6, 13.76, 0.25):          # scipy raises rtol below 2.2e-14 to that
            d = scipy_run(10.0 ** -k)
            e_d = float(np.max(np.abs(d.y[:, -1] - exact)))
            if e_d <= e_t:
                break
        reached = "" if e_d <= e_t else " -- Taylor's error NOT reached: DOP853's smallest"
        d, d_cpu = best(lambda: scipy_run(10.0 ** -k))
        w, w_cpu = best(lambda: solve(net.flow, w0, T, params=params, method="dop853", tol=10.0 ** -k))
        print(f"  taylor tol {tol:.0e}: {t_cpu * 1e3:6.1f} ms ({s.steps} steps, error {e_t:.1e}); scipy DOP853 "
              f"with the plain rhs at tol 1e-{k:g} (error {e_d:.1e}{reached}): {d_cpu * 1e3:6.1f} ms ({len(d.t) - 1} steps); "
              f"flowcert method='dop853' there: {w_cpu * 1e3:6.1f} ms")
        print(f"    RATIO DOP853 (plain rhs) / taylor = {d_cpu / t_cpu:.2f}x; "
              f"method='dop853' / DOP853 (plain rhs) = {w_cpu / d_cpu:.2f}x")


def section_scaling(dps, t_end):
    print(f"== scaling at {dps} digits, T = {t_end}, flowcert[flint]: N layers of d x d, W ~ 0.1 N(0,1), "
          f"Y = diag(d..1); cpu seconds (steps) [imbalance drift]")
    depths, widths = (2, 3, 4, 6), (2, 3, 5, 10)
    print("  " + "N \\ d".ljust(6) + "".join(f"{d:>26}" for d in widths))
    for N in depths:
        cells = []
        for d in widths:
            net, w0, params = problem(N, d)
            net.flow
            sol, cpu, wall, drift = flowcert(net, w0, params, dps, "flint", t_end=t_end)
            cells.append(f"{cpu:8.2f} ({sol.steps:3d}) [{mpmath.nstr(drift, 1):>7}]")
        print("  " + str(N).ljust(6) + "".join(f"{c:>26}" for c in cells), flush=True)


def section_certify():
    print("== certify: Delta* > 0 for Fan_out weights of the box-plot shape (n=5, h1=h2=200, m=1)")
    from flowcert.numerics import certify_bound
    from flowcert.numerics._init import sample_weights
    from flowcert.theory import delta_star
    net = LinearNetwork(3)
    rng = np.random.default_rng([0, 2])
    samples = [sample_weights("fan_out", (5, 200, 200, 1), rng) for _ in range(21)]
    b = delta_star()
    first, cpu0, _ = timed(lambda: certify_bound(b, dict(zip(net.weights, samples[0])), ">", 0))
    certs, cpu, wall = timed(lambda: [certify_bound(b, dict(zip(net.weights, ws)), ">", 0) for ws in samples[1:]])
    print(f"  first sample (compiles the 10^4-node formula): {cpu0:.2f} s cpu; then {cpu / 20 * 1e3:.1f} ms cpu "
          f"per sample; bits needed: {sorted({c.prec for c in [first] + certs})}; "
          f"all certified: {all(c.holds for c in [first] + certs)}")
    print(f"  e.g. Delta* in {first.interval(18)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-odefun", action="store_true")
    ap.add_argument("--only", choices=["odefun", "heyoka", "float64", "scaling", "certify"])
    ap.add_argument("--scaling-dps", type=int, default=DPS)
    ap.add_argument("--scaling-t", type=float, default=1.0)
    args = ap.parse_args()
    with serial_blas():
        if args.only in (None, "odefun"):
            section_odefun(not args.no_odefun)
        if args.only in (None, "heyoka"):
            section_heyoka()
        if args.only in (None, "float64"):
            section_float64()
        if args.only in (None, "certify"):
            section_certify()
        if args.only in (None, "scaling"):
            section_scaling(args.scaling_dps, args.scaling_t)


if __name__ == "__main__":
    main()
