"""The test command of every mutation session: run the tests of the one module a mutant changed.

cosmic-ray mutates a file in place and then runs this; the changed file is the one ``git diff``
names under theory/ or numerics/, and its tests are listed in mutation/all.toml (``[tests]``).
A mutant of numerics/ reuses one warm derivation cache (mutation/.cache, outside git); a mutant of
theory/ changes the cache's digest, so it gets the tests' own throw-away cache (tests/conftest.py).

Exit status: pytest's (0: the mutant survived), or 2 when no single module is changed.

``--baseline`` runs every module's tests on the unmutated tree, with the environment its mutants
get, and prints each one's time: a session is only meaningful if all of them pass.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tests_for(module: str, table: dict | None = None) -> list[str]:
    if table is None:
        table = tomllib.loads((ROOT / "mutation" / "all.toml").read_text())["tests"]
    if module not in table:
        raise SystemExit(f"mutation/all.toml: no tests listed for {module}")
    return shlex.split(table[module])


def changed() -> list[str]:
    out = subprocess.run(["git", "diff", "--name-only", "--", "theory", "numerics"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def run(module: str, **kw) -> int:
    env = dict(os.environ)
    env.pop("FLOWCERT_CACHE_DIR", None)
    if module.startswith("numerics/"):
        env["FLOWCERT_CACHE_DIR"] = str(ROOT / "mutation" / ".cache")
    cmd = [sys.executable, "-B", "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests_for(module)]
    return subprocess.run(cmd, cwd=ROOT, env=env, **kw).returncode


def baseline() -> int:
    if changed():
        print("run_tests --baseline: the tree has changes under theory/ or numerics/", file=sys.stderr)
        return 2
    table = tomllib.loads((ROOT / "mutation" / "all.toml").read_text())["tests"]
    failed = 0
    for module in table:
        t = time.perf_counter()
        rc = run(module, capture_output=True)
        failed += rc != 0
        print(f"{module:28s} {time.perf_counter() - t:6.1f} s  {'pass' if rc == 0 else f'FAIL ({rc})'}", flush=True)
    return 1 if failed else 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--baseline"]:
        return baseline()
    if argv:
        print(f"run_tests: unknown arguments {argv} (expected none, or --baseline)", file=sys.stderr)
        return 2
    files = changed()
    if len(files) != 1:
        print(f"run_tests: expected one mutated module, git diff names {files or 'none'}", file=sys.stderr)
        return 2
    return run(files[0])


if __name__ == "__main__":
    sys.exit(main())
