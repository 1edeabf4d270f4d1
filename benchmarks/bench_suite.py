"""The quick suite (``flowcert verify``) of this checkout against an earlier commit's, in the same run.

The earlier commit (``--baseline``, default ``HEAD~1``) is built from git into a temporary directory
and run with this interpreter (its dependencies are this environment's); this checkout runs as
installed. Runs alternate, baseline first, so that a drift in the machine's speed affects both.
Each row: wall and CPU seconds (the process and its workers), and whether its JSON report equals
the baseline's apart from the timing object.

    python benchmarks/bench_suite.py [--baseline REV] [--runs 2] [--jobs auto]

Each side runs twice per round: with an empty derivation cache (``cold``: what a first run on a
machine costs) and with the cache that run left (``warm``: every later run); each ratio compares
like with like (cold with the baseline's cold, warm with its warm).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(rev: str, into: Path) -> Path:
    """The package of commit ``rev``, installed (without dependencies) into ``into``."""
    src = into / "src-tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(src), rev],
                   check=True, capture_output=True)
    try:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--target", str(into / "site"), str(src)], check=True, capture_output=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(src)], capture_output=True)
    return into / "site"


def run(pythonpath: str | None, cache: Path, jobs: str, report: Path) -> tuple[float, float]:
    env = {**os.environ, "FLOWCERT_CACHE_DIR": str(cache)}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    cmd = [sys.executable, "-m", "flowcert.checks.cli", "verify", "-q", "--json", str(report)]
    if jobs != "old":
        cmd += ["--jobs", jobs]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)   # includes the workers it waited for
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) not in (0, 3):
        raise SystemExit(f"{' '.join(cmd)}: exit status {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime


def _claims(report: Path) -> dict:
    d = json.loads(report.read_text())
    d.pop("timing", None)
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="HEAD~1", help="git revision to compare with (default HEAD~1)")
    ap.add_argument("--runs", type=int, default=2, help="rounds (default 2)")
    ap.add_argument("--jobs", default="auto", help="--jobs of the current checkout (default auto)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-suite-"))
    try:
        site = build(a.baseline, tmp / "base")
        rows = {"base-cold": [], "base-warm": [], "cold": [], "warm": []}
        same = {}
        for r in range(a.runs):
            cache = tmp / f"cache-{r}"
            # the baseline may predate --jobs; it runs as its own default
            for k in ("base-cold", "base-warm"):
                rows[k].append(run(str(site), tmp / f"cache-base-{r}", "old", tmp / "base.json"))
            rows["cold"].append(run(None, cache, a.jobs, tmp / "cold.json"))
            rows["warm"].append(run(None, cache, a.jobs, tmp / "warm.json"))
            base = {c["id"]: c for c in _claims(tmp / "base.json")["claims"]}
            for k in ("cold", "warm"):
                mine = {c["id"]: c for c in _claims(tmp / f"{k}.json")["claims"]}
                same[k] = sorted(i for i in set(base) | set(mine) if base.get(i) != mine.get(i))
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", a.baseline],
                             capture_output=True, text=True).stdout.strip()
        print(f"quick suite, {a.runs} round(s), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; "
              f"baseline {a.baseline} ({rev})")
        med = {k: (statistics.median(x for x, _ in v), statistics.median(x for _, x in v)) for k, v in rows.items()}
        for k in rows:
            (w, c), (bw, bc) = med[k], med.get("base-" + k, (None, None))
            note = "" if k.startswith("base") else (f"  ratio wall {w / bw:.2f}, CPU {c / bc:.2f}; "
                                               + ("report identical apart from timing" if not same[k] else
                                                  f"claims whose report differs: {', '.join(same[k])}"))
            print(f"  {k:<8} wall {w:6.1f} s  CPU {c:6.1f} s{note}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
