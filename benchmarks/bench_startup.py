"""Start-up cost of the CLI against a bare ``import numpy``, measured pair by pair in the same run.

Each command runs as a fresh process (``sys.executable``, so the installed ``flowcert`` is timed),
alternating with the baseline so that a drift in the machine's speed affects both alike; the report
gives medians of wall and CPU seconds and the median of the per-pair ratios.

    python benchmarks/bench_startup.py [--runs 11]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

BASELINE = ("import numpy", [sys.executable, "-c", "import numpy"])
COMMANDS = {
    "import flowcert": [sys.executable, "-c", "import flowcert"],
    "flowcert --help": [sys.executable, "-m", "flowcert", "--help"],
    "flowcert reproduce --help": [sys.executable, "-m", "flowcert", "reproduce", "--help"],
    "flowcert list": [sys.executable, "-m", "flowcert", "list"],
}


def timed(cmd) -> tuple[float, float]:
    """(wall, cpu) seconds of one run of ``cmd`` as a child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status:
        raise SystemExit(f"{' '.join(cmd)} exited with status {status}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11)
    a = ap.parse_args()
    for cmd in [BASELINE[1], *COMMANDS.values()]:  # warm the file cache
        timed(cmd)
    print(f"{'command':<28} {'wall s':>8} {'cpu s':>8} {'wall / import numpy':>20}   ({a.runs} pairs each)")
    base_wall = []
    for name, cmd in COMMANDS.items():
        walls, cpus, ratios = [], [], []
        for _ in range(a.runs):
            bw, _ = timed(BASELINE[1])
            w, c = timed(cmd)
            base_wall.append(bw)
            walls.append(w)
            cpus.append(c)
            ratios.append(w / bw)
        print(f"{name:<28} {statistics.median(walls):>8.3f} {statistics.median(cpus):>8.3f} "
              f"{statistics.median(ratios):>20.2f}")
    print(f"{BASELINE[0]:<28} {statistics.median(base_wall):>8.3f}")


if __name__ == "__main__":
    main()
