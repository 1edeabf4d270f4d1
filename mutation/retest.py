"""Apply a session's surviving mutants again, one at a time, and run each one's tests.

    python mutation/retest.py SESSION.sqlite [--module PATH] [--verdicts FILE]

After tests are written for survivors, this says which of them the tests now kill, without a new
whole run: each survivor's diff (as stored by cosmic-ray) is applied with ``git apply``, the
module's tests run as in a session (mutation/run_tests.py), and the file is restored with
``git checkout``. Run it in the scratch clone, never where cosmic-ray is running.

Prints one line per survivor: ``killed`` or ``alive``, its job id, place and changed line.
``--verdicts FILE`` leaves out the mutants listed in FILE, one per line as ``module operator
occurrence`` (the same in every session made from the same source, where job ids are not), ``#``
starting the reason: the equivalent ones already sorted by hand (mutation/survivors.txt).
"""
from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import run_tests  # noqa: E402


def survivors(session: Path, module: str | None = None) -> list[tuple[str, str, int, str, str]]:
    """(job id, module, line, diff, key) of each surviving mutant, by module and line."""
    db = sqlite3.connect(session)
    q = ("SELECT s.job_id, s.module_path, s.start_pos_row, r.diff, "
         "s.module_path || ' ' || s.operator_name || ' ' || s.occurrence FROM mutation_specs s JOIN work_results r "
         "ON r.job_id = s.job_id WHERE lower(r.worker_outcome) = 'normal' AND lower(r.test_outcome) = 'survived'")
    rows = db.execute(q).fetchall()
    return sorted((r for r in rows if module in (None, r[1])), key=lambda r: (r[1], r[2]))


def changed_lines(diff: str) -> str:
    return " => ".join(line[1:].strip() for line in diff.splitlines()
                       if line[:1] in "-+" and not line.startswith(("---", "+++")))


def read_verdicts(path: Path) -> set[str]:
    keys = (" ".join(line.split("#")[0].split()) for line in path.read_text().splitlines())
    return {k for k in keys if k}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("session", type=Path)
    p.add_argument("--module", help="only this module's survivors (a path as in the session)")
    p.add_argument("--verdicts", type=Path, action="append", default=[],
                   help="a file of mutants to leave out, one per line (may be repeated)")
    a = p.parse_args(argv)
    if not a.session.is_file():
        p.error(f"session: no such file {a.session}")
    if run_tests.changed():
        p.error("the tree has changes under theory/ or numerics/: retest needs a clean one")
    skip = set().union(*(read_verdicts(v) for v in a.verdicts))
    alive = 0
    for job, module, row, diff, key in survivors(a.session, a.module):
        if key in skip:
            continue
        # cosmic-ray stores the diff without its last newline, which git apply needs; a line
        # edited near the mutant since the session spoils the context: then one line of it
        patch = diff.rstrip("\n") + "\n"
        for context in ([], ["-C1"]):
            applied = subprocess.run(["git", "apply", *context, "-"], input=patch, text=True, cwd=ROOT,
                                     capture_output=True)
            if not applied.returncode:
                break
        if applied.returncode:
            verdict = "stale"   # the code it mutated has changed since the session
        else:
            try:
                rc = run_tests.run(module, capture_output=True)
            finally:
                subprocess.run(["git", "checkout", "--", module], cwd=ROOT, check=True)
            verdict = "killed" if rc else "alive"
        alive += verdict == "alive"
        print(f"{verdict:6s} {key} (line {row})  {changed_lines(diff)}", flush=True)
    return 1 if alive else 0


if __name__ == "__main__":
    sys.exit(main())
