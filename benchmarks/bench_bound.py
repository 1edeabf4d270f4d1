"""``flowcert bound three-layer`` as the widths grow: the Fig. 1 shape (n = 5, m = 1, fan-out
weights) at h1 = h2 = h, in float64 (``Evaluator``), certified (``--certify``: the 53-bit Arb
certificate and the digits it decides) and at ``--dps`` digits (the certified evaluator at the
working precision, float64 eigenpairs refined there).

Times are CPU seconds of this process for the evaluation alone (the CLI adds ~1.6 s of imports);
the last column is the growth exponent ``log(t_h / t_{h/2}) / log 2`` (3: cubic, as an eigensolve).

    python benchmarks/bench_bound.py                       # h = 100 .. 1600; --dps 30 up to h = 800
    python benchmarks/bench_bound.py --widths 100 200 --dps 50
    python benchmarks/bench_bound.py --compare 200 50       # three ways to the digits, same run
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np


def weights(h: int, seed: int = 0) -> list:
    from flowcert.numerics._init import sample_weights
    return sample_weights("fan_out", (5, h, h, 1), np.random.default_rng([seed, h]))


def timed(fn):
    c0 = time.process_time()
    out = fn()
    return out, time.process_time() - c0


def compare_digits(h: int, dps: int) -> None:
    """The many-digit value three ways in one run, with the same bits: first-order enclosures
    refined to the full precision (before issue #17), Kato-Temple enclosures of whole spectra
    (the first change), and Kato-Temple on only the eigenvalues Delta* keeps (what ``bound --dps``
    uses now); the relative radius says how many digits each decides."""
    from flowcert.numerics import CertifiedEvaluator, serial_blas
    from flowcert.theory import LinearNetwork, delta_star
    net = LinearNetwork(3)
    vals = dict(zip(net.weights, weights(h)))
    bits = int((dps + 8) * 3.33) + 16
    delta_star()   # the formula once, outside the timings
    print(f"--dps {dps} at h = {h} ({bits} bits), Delta*: cpu seconds, best of 2")
    ways = (("first-order, whole spectra", dict(quadratic=False)),
            ("Kato-Temple, whole spectra", dict(quadratic=True, select=False)),
            ("Kato-Temple, kept eigenvalues", dict(quadratic=True, select=True)))
    times = []
    with serial_blas():
        for label, kw in ways:
            best, ball = math.inf, None
            for _ in range(2):
                ball, cpu = timed(lambda: CertifiedEvaluator(vals, bits, **kw).bound(delta_star()))
                best = min(best, cpu)
            times.append(best)
            rel = float(ball.rad()) / abs(float(ball.mid()))
            print(f"  {label:31s} {best:7.3f} s  relative radius {rel:.1e}  ({best / times[0]:.2f}x the first)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", type=int, nargs="+", default=[100, 200, 400, 800, 1600])
    ap.add_argument("--dps", type=int, default=30, help="digits of the --dps column (default 30)")
    ap.add_argument("--dps-max-h", type=int, default=800,
                    help="largest h of the --dps column (its cost grows fastest; default 800)")
    ap.add_argument("--compare", type=int, nargs=2, metavar=("H", "DPS"),
                    help="only the many-digit value at width H and DPS digits, two ways (e.g. 200 50)")
    args = ap.parse_args()
    if args.compare:
        compare_digits(*args.compare)
        return

    from flowcert.checks.papers.min2023.bound import evaluate_bound
    from flowcert.numerics import Evaluator, serial_blas
    from flowcert.theory import LinearNetwork, delta_star
    net = LinearNetwork(3)
    prev = {}
    print("bound three-layer, n = 5, m = 1, fan-out weights; cpu seconds (growth exponent vs h/2)")
    print(f"{'h':>6} {'float64':>16} {'--certify':>16} {'digits':>7} {'--dps ' + str(args.dps):>16}")
    with tempfile.TemporaryDirectory() as tmp, serial_blas():
        evaluate_bound("three-layer", _save(Path(tmp), weights(10)), certify=True)   # imports
        for h in args.widths:
            ws = weights(h)
            path = _save(Path(tmp), ws)
            cells = {}
            _, cells["float64"] = timed(lambda: Evaluator(dict(zip(net.weights, ws))).bound(delta_star()))
            rep, cells["certify"] = timed(lambda: evaluate_bound("three-layer", path, certify=True))
            if h <= args.dps_max_h:
                _, cells["dps"] = timed(lambda: evaluate_bound("three-layer", path, dps=args.dps))
            out = [f"{h:>6}"]
            for k in ("float64", "certify", "dps"):
                if k not in cells:
                    out.append(f"{'-':>16}")
                else:
                    g = (f"({math.log(cells[k] / prev[k][1]) / math.log(h / prev[k][0]):4.1f})"
                         if k in prev and cells[k] > 0 else "      ")
                    out.append(f"{cells[k]:9.3f} {g}")
                    prev[k] = (h, cells[k])
                if k == "certify":
                    out.append(f"{rep['dps']:>7}")
            print(" ".join(out), flush=True)


def _save(d: Path, ws) -> str:
    p = d / f"w{ws[1].shape[0]}.npz"
    np.savez(p, **{f"W{i + 1}": w for i, w in enumerate(ws)})
    return str(p)


if __name__ == "__main__":
    main()
