"""Regenerate docs/figures/: every installed experiment at its paper's defaults, PNGs copied per
experiment (the documentation shows them on each paper's page).

    python docs/make_figures.py [NAME ...]     # all experiments by default; ~20 min on 2 cores
"""
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from flowcert.checks import EXPERIMENTS
from flowcert.checks._registry import load

HERE = Path(__file__).resolve().parent / "figures"


def main(names) -> int:
    load(None, "experiments")
    for name in names or sorted(EXPERIMENTS):
        with tempfile.TemporaryDirectory() as tmp:
            print(f"{name}: running", flush=True)
            r = subprocess.run([sys.executable, "-m", "flowcert", "reproduce", name, "--out", tmp])
            if r.returncode:
                return r.returncode
            dest = HERE / name
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            for png in sorted(Path(tmp).rglob("*.png")):
                shutil.copy(png, dest / png.name)
            shutil.copy(Path(tmp) / f"{name}.json", dest / f"{name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
