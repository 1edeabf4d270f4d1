"""The example paper plugin (examples/weightdecay) installed as a researcher would: found through its
entry point, listed, verified, exported and reproduced by the CLI, and its own tests pass."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "examples" / "weightdecay"
FLOWCERT = [sys.executable, "-m", "flowcert"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The plugin installed (a built wheel, not the source tree) into a directory of its own."""
    target = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "-t", str(target),
                        str(PLUGIN)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.fail(f"pip could not install the example plugin:\n{r.stderr[-2000:]}")
    return target


def _run(args, site, cwd, **kw):
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kw)


def test_plugin_is_listed_verified_exported_and_reproduced(site, tmp_path):
    r = _run([*FLOWCERT, "list", "weightdecay", "--json"], site, tmp_path)
    assert r.returncode == 0, r.stderr
    assert [c["id"] for c in json.loads(r.stdout)] == ["weightdecay.flow.identity", "weightdecay.flow.decay"]
    r = _run([*FLOWCERT, "list"], site, tmp_path)
    assert "weightdecay.flow.decay" in r.stdout and "min2023.thm2" in r.stdout

    r = _run([*FLOWCERT, "verify", "weightdecay", "--json", "v.json"], site, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert {c["status"] for c in json.loads((tmp_path / "v.json").read_text())["claims"]} == {"pass"}

    r = _run([*FLOWCERT, "latex", "weightdecay", "-o", "wd.tex"], site, tmp_path)
    tex = (tmp_path / "wd.tex").read_text()
    assert r.returncode == 0 and r"\section{weightdecay" in tex and "weightdecay.flow.identity" in tex
    assert r"\frac{d W_{1}}{d t} = Y W_{2}^{T} - \lambda W_{1}" in tex  # the flow derived from the plugin's loss

    r = _run([*FLOWCERT, "reproduce", "weightdecay-imbalance", "--out", "out", "--set", "lam=0.25"], site, tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "out" / "weightdecay-imbalance.json").read_text())
    assert res["paper"] == "weightdecay" and res["params"]["lam"] == 0.25
    assert res["max_relative_deviation"] < 1e-10  # float64 flow against exp(-2 lam t): rounding only
    assert (tmp_path / "out" / "imbalance.png").stat().st_size > 1000

    r = _run([*FLOWCERT, "reproduce", "weightdecay-imbalance", "--set", "lam=-1"], site, tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("flowcert: error: --set lam:")


def test_plugin_tests_pass_with_plain_pytest(site, tmp_path):
    r = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGIN / "tests")], site, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "failed" not in r.stdout


def test_without_the_plugin_the_paper_is_unknown(tmp_path):
    r = subprocess.run([*FLOWCERT, "list", "weightdecay"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no such paper" in r.stderr and "min2023" in r.stderr
