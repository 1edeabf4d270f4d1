"""Speed-up of ``flowcert sweep --jobs 2`` over ``--jobs 1``, both measured in the same run.

The min2023-positivity sweep (Delta* and alpha2 over Fan_in, Fan_out, NTK x widths) on one process
and on a dask.distributed LocalCluster of N single-threaded workers; each run starts from an empty
output directory, and the wall time includes starting and stopping the cluster (reported apart).
The outputs of the runs are checked to be byte-identical. The CPU seconds that the processes running
the tasks got (Linux /proc) are reported beside: ``core share`` = CPU / (jobs x time), near 1 on an
idle machine; below it other processes took the cores and the speed-up says as much about them.

    python benchmarks/bench_sweep.py                       # samples=9000 (1000 per scheme and width)
    python benchmarks/bench_sweep.py --samples 500 --jobs 2 3
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


from flowcert.checks._parallel import Engine  # noqa: E402
from flowcert.checks._registry import load
from flowcert.checks._sweep import SWEEPS, run_sweep  # noqa: E402


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_sweep(params: dict, jobs: int, out: Path) -> dict:
    """Wall time, and the CPU seconds the tasks' processes got: on a shared machine the ratio
    cpu / (jobs x wall) says how much of its cores the run had."""
    sw = SWEEPS["min2023-positivity"]
    t0 = time.perf_counter()
    with Engine(jobs) as engine:
        t1 = time.perf_counter()
        pids = list(engine.client.run(os.getpid).values()) if engine.client else [os.getpid()]
        cpu0 = sum(_cpu_seconds(p) for p in pids)
        res = run_sweep(sw, params, out, engine)
        t2 = time.perf_counter()
        cpu = sum(_cpu_seconds(p) for p in pids) - cpu0
    t3 = time.perf_counter()
    return {"jobs": jobs, "wall": t3 - t0, "start": t1 - t0, "sweep": t2 - t1, "stop": t3 - t2,
            "cpu": cpu, "share": cpu / (jobs * (t2 - t1)), "tasks": res["tasks"], "result": res}


def _comparable(out: Path) -> bytes:
    d = json.loads((out / "min2023-positivity.json").read_text())
    d.pop("timing")
    return json.dumps(d, sort_keys=True).encode() + b"".join(
        (out / f).read_bytes() for f in ("delta_star.npy", "alpha2.npy", "positivity.png"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=9000, help="in all, spread over the 9 cells")
    ap.add_argument("--widths", default="[[20, 20], [50, 50], [100, 100]]")
    ap.add_argument("--chunk", type=int, default=250)
    ap.add_argument("--jobs", type=int, nargs="+", default=[2])
    a = ap.parse_args()
    load(None, "sweeps")
    sw = SWEEPS["min2023-positivity"]
    params = sw.params({"samples": str(a.samples), "widths": a.widths, "chunk": str(a.chunk)})
    from flowcert.checks.papers.min2023.sweeps import per_cell
    print(f"min2023-positivity: samples={a.samples} ({per_cell(params)} per scheme and width), "
          f"widths={a.widths}, chunk={a.chunk}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as d:
        base = timed_sweep(params, 1, Path(d) / "jobs1")
        ref = _comparable(Path(d) / "jobs1")
        rows = [base]
        for j in a.jobs:
            r = timed_sweep(params, j, Path(d) / f"jobs{j}")
            r["identical"] = _comparable(Path(d) / f"jobs{j}") == ref
            rows.append(r)
    print(f"{'jobs':>4} {'tasks':>6} {'wall s':>8} {'start s':>8} {'tasks+agg s':>11} {'stop s':>7} "
          f"{'task CPU s':>10} {'core share':>10} {'speed-up':>9} {'identical':>9}")
    for r in rows:
        print(f"{r['jobs']:>4} {r['tasks']:>6} {r['wall']:>8.1f} {r['start']:>8.1f} {r['sweep']:>11.1f} "
              f"{r['stop']:>7.1f} {r['cpu']:>10.1f} {r['share']:>10.2f} {base['wall'] / r['wall']:>9.2f} "
              f"{str(r.get('identical', '-')):>9}")
    print(f"load average {os.getloadavg()[0]:.2f} at end (other processes on the machine skew the ratio)")


if __name__ == "__main__":
    main()
