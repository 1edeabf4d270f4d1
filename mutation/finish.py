"""Run the mutants a session never reached, on today's tree.

    python mutation/finish.py SESSION.sqlite [SESSION ...] --source REV [--part K/N]

A sample that ran out of time leaves pending mutants. Running them later on a tree that has moved on
means the session's positions no longer fit, so each mutant is made where it was drawn: in a
temporary worktree at ``REV`` (the commit the session was made from), ``cosmic-ray apply`` mutates
the file and ``git diff`` keeps the change. The diff is then applied here (one line of context when
the code near it was edited since), the module's tests run as in a session
(mutation/run_tests.py), and the file is restored.

Several sessions (a sample split between clones) count as one: a mutant is pending when no session
has a result for it. ``--part K/N`` takes every N-th pending mutant from the K-th (0-based), so N
clones can share the work. Prints one line per mutant: ``killed``, ``alive``, ``timeout`` (counted
as killed, as cosmic-ray does) or ``stale`` (the code it mutated is gone), then its key
``module operator occurrence`` as in survivors.txt. Run it in a scratch clone with cosmic-ray.
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import run_tests  # noqa: E402

TIMEOUT = 900  # seconds: ten times the slowest module's tests (mutation/run_tests.py --baseline)


def pending(sessions: list[Path]) -> list[tuple[str, str, int]]:
    """``(module, operator, occurrence)`` of each mutant some session holds and none has run."""
    drawn, ran = set(), set()
    for s in sessions:
        db = sqlite3.connect(s)
        for module, op, occ, outcome in db.execute(
                "SELECT s.module_path, s.operator_name, s.occurrence, r.worker_outcome FROM mutation_specs s "
                "LEFT JOIN work_results r ON r.job_id = s.job_id"):
            drawn.add((module, op, int(occ)))
            if outcome is not None:
                ran.add((module, op, int(occ)))
    return sorted(drawn - ran)


def make_diff(tree: Path, module: str, op: str, occ: int, cosmic_ray: str) -> str:
    """The mutant as a diff, made in ``tree`` (left clean)."""
    subprocess.run([cosmic_ray, "apply", module, op, str(occ)], cwd=tree, check=True, capture_output=True)
    try:
        return subprocess.run(["git", "diff", "--", module], cwd=tree, check=True, capture_output=True,
                              text=True).stdout
    finally:
        subprocess.run(["git", "checkout", "--", module], cwd=tree, check=True)


def run_here(module: str, diff: str) -> str:
    for context in ([], ["-C1"]):
        applied = subprocess.run(["git", "apply", *context, "-"], input=diff, text=True, cwd=ROOT,
                                 capture_output=True)
        if not applied.returncode:
            break
    else:
        return "stale"
    try:
        rc = run_tests.run(module, capture_output=True, timeout=TIMEOUT)
        return "killed" if rc else "alive"
    except subprocess.TimeoutExpired:
        return "timeout"
    finally:
        subprocess.run(["git", "checkout", "--", module], cwd=ROOT, check=True)


def _part(text: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N with integers, got {text!r}") from None
    if not (n >= 1 and 0 <= k < n):
        raise argparse.ArgumentTypeError(f"expected 0 <= K < N, got {text!r}")
    return k, n


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("session", type=Path, nargs="+")
    p.add_argument("--source", required=True, help="the commit the session was made from")
    p.add_argument("--part", type=_part, default=(0, 1), help="K/N: every N-th pending mutant from the K-th")
    a = p.parse_args(argv)
    for s in a.session:
        if not s.is_file():
            p.error(f"session: no such file {s}")
    cosmic_ray = shutil.which("cosmic-ray") or str(Path(sys.executable).with_name("cosmic-ray"))
    if not Path(cosmic_ray).exists():
        p.error("cosmic-ray: not installed here (pip install -e '.[mutation]')")
    if run_tests.changed():
        p.error("the tree has changes under theory/ or numerics/: finish needs a clean one")
    k, n = a.part
    todo = pending(a.session)[k::n]
    alive = 0
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "source"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), a.source], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            for module, op, occ in todo:
                verdict = run_here(module, make_diff(tree, module, op, occ, cosmic_ray))
                alive += verdict == "alive"
                print(f"{verdict:7s} {module} {op} {occ}", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=True)
    return 1 if alive else 0


if __name__ == "__main__":
    sys.exit(main())
