"""Score a cosmic-ray session: killed / run, per module and in all, with a 95% interval for a sample.

    python mutation/score.py SESSION.sqlite [SESSION ...] [--population N]

Several sessions are added up (a sample split between scratch clones run side by side).

A mutant is killed when its tests failed or timed out; one whose worker failed to run, or that
cosmic-ray calls incompetent, is reported apart (neither killed nor surviving). ``--population N``
says the session is a uniform sample of N mutants: the interval is then Wilson's score interval
for the killed fraction (the finite-population correction, which would narrow it, is left out).
"""
from __future__ import annotations

import argparse
import math
import sqlite3
import sys
from collections import Counter
from pathlib import Path

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a binomial proportion k / n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # at k = 0 or k = n one end is exactly 0 or 1 (the formula gives it up to rounding)
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def outcomes(session: Path) -> dict[str, Counter]:
    db = sqlite3.connect(session)
    rows = db.execute("SELECT s.module_path, r.worker_outcome, r.test_outcome FROM mutation_specs s "
                      "LEFT JOIN work_results r ON r.job_id = s.job_id").fetchall()
    per: dict[str, Counter] = {}
    for module, worker, test in rows:
        c = per.setdefault(module, Counter())
        worker, test = (x.lower() if x else x for x in (worker, test))   # stored as NORMAL, KILLED, ...
        if worker is None:
            c["pending"] += 1
        elif worker != "normal":
            c["error"] += 1
        elif test == "killed":  # a test failed, or the tests ran past the session's timeout
            c["killed"] += 1
        elif test == "incompetent":
            c["error"] += 1
        else:
            c["survived"] += 1
    return per


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("session", type=Path, nargs="+")
    p.add_argument("--population", type=int, help="the session is a uniform sample of this many mutants")
    a = p.parse_args(argv)
    per: dict[str, Counter] = {}
    for path in a.session:
        if not path.is_file():
            p.error(f"session: no such file {path}")
        for module, c in outcomes(path).items():
            per[module] = per.get(module, Counter()) + c
    total = Counter()
    print(f"{'module':28s} {'killed':>7s} {'survived':>8s} {'pending':>7s}")
    for module in sorted(per):
        c = per[module]
        total += c
        print(f"{module:28s} {c['killed']:7d} {c['survived']:8d} {c['pending']:7d}"
              + (f"  ({c['error']} not run)" if c["error"] else ""))
    run = total["killed"] + total["survived"]
    print(f"{'all':28s} {total['killed']:7d} {total['survived']:8d} {total['pending']:7d}")
    if run:
        lo, hi = wilson(total["killed"], run)
        line = f"killed {total['killed']} of {run} run: {100 * total['killed'] / run:.1f}%"
        if a.population:
            line += f", 95% interval {100 * lo:.1f}-{100 * hi:.1f}% of the {a.population} mutants sampled from"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
