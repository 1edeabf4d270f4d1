"""The CLI contract: exit codes, one-line errors, JSON shapes, agreement with tests/reference.py."""
import json
import subprocess
import sys

import numpy as np
import pytest

from flowcert.checks.cli import main

from . import reference as ref


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_bound_three_layer_agrees_with_reference(weights, capsys):
    p, ws = weights
    code, out, _ = run(["bound", "three-layer", "--weights", str(p), "--json", "--dps", "25"], capsys)
    assert code == 0
    value = float(json.loads(out)["value"])
    expect = ref.delta_star(*ws)
    assert abs(value - expect) <= 1e-9 * max(1.0, abs(expect))


def test_bound_lambda_min_and_two_layer(tmp_path, capsys):
    rng = np.random.default_rng(8)
    W1, W2, Y = rng.normal(size=(3, 4)), rng.normal(size=(4, 3)), np.diag([3.0, 2.0, 1.0])
    np.savez(tmp_path / "w.npz", W1=W1, W2=W2)
    np.save(tmp_path / "y.npy", Y)
    code, out, _ = run(["bound", "lambda-min-T", "--weights", str(tmp_path / "w.npz"), "--json"], capsys)
    assert code == 0 and abs(float(json.loads(out)["value"]) - ref.lambda_min_T([W1, W2])) < 1e-9
    code, out, _ = run(["bound", "two-layer", "--weights", str(tmp_path / "w.npz"), "--target",
                        str(tmp_path / "y.npy"), "--json"], capsys)
    assert code == 0 and abs(float(json.loads(out)["value"]) - ref.alpha2(W1, W2, Y)) < 1e-9


def test_bound_deep_finds_lstar(tmp_path, capsys):
    ws = [np.array([[3.0]]), np.array([[2.0]]), np.array([[1.5]]), np.array([[1.0]])]
    np.savez(tmp_path / "w.npz", **{f"W{i + 1}": w for i, w in enumerate(ws)})
    code, out, _ = run(["bound", "deep", "--weights", str(tmp_path / "w.npz"), "--json"], capsys)
    res = json.loads(out)
    assert code == 0 and res["details"]["l*"] == 4
    assert abs(float(res["details"]["prod d~(i) (unimodal bound)"]) - ref.theorem3_unimodal(ws, 4)) < 1e-9


@pytest.mark.parametrize("arrays, needle", [
    ({"W1": np.ones((2, 3)), "W2": np.ones((2, 2))}, "do not chain"),
    ({"W1": np.array([[np.nan]]), "W2": np.ones((1, 1))}, "NaN"),
    ({"A": np.ones((1, 1))}, "W1, W2"),
    ({"W1": np.ones((1, 1)), "W3": np.ones((1, 1))}, "without gaps"),
    ({"W1": np.ones(3), "W2": np.ones((3, 1))}, "2-D"),
])
def test_bad_weights_one_line_exit_2(tmp_path, capsys, arrays, needle):
    np.savez(tmp_path / "w.npz", **arrays)
    code, out, err = run(["bound", "lambda-min-T", "--weights", str(tmp_path / "w.npz")], capsys)
    assert code == 2 and needle in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("args, needle", [
    (["verify", "nosuchclaim"], "no such paper or claim"),
    (["verify", "--dps", "-3"], "--dps"),
    (["verify", "--profile", "huge"], "--profile"),
    (["bound", "deep", "--weights", "missing.npz"], "no such file"),
    (["reproduce", "nosuch"], "experiment"),
    (["list", "nopaper"], "paper"),
])
def test_bad_usage_one_line_exit_2(capsys, args, needle):
    code, out, err = run(args, capsys)
    assert code == 2 and needle in err and err.count("\n") == 1


def test_not_unimodal_is_a_usage_error(tmp_path, capsys):
    np.savez(tmp_path / "w.npz", W1=np.array([[1.0, 0.0]]), W2=np.array([[0.0], [2.0]]),
             W3=np.array([[0.5]]))
    code, _, err = run(["bound", "deep", "--weights", str(tmp_path / "w.npz")], capsys)
    assert code == 2 and "unimodal" in err


def test_verify_subset_json(tmp_path, capsys):
    path = tmp_path / "r.json"
    code, out, _ = run(["verify", "min2023.thm2", "min2023.disc.g9-typo", "--json", str(path)], capsys)
    rep = json.loads(path.read_text())
    assert code == 0
    assert {c["id"] for c in rep["claims"]} >= {"min2023.thm2.scalar-example", "min2023.disc.g9-typo"}
    assert all(c["status"] == "pass" for c in rep["claims"])
    assert "min2023.thm2.scalar-example" in out


def test_list_json(capsys):
    code, out, _ = run(["list", "min2023", "--json"], capsys)
    ids = [c["id"] for c in json.loads(out)]
    assert code == 0 and "min2023.thm2.delta-le-g-le-lambda-min" in ids


def test_console_script_entry_point():
    r = subprocess.run([sys.executable, "-m", "flowcert", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "flowcert" in r.stdout
