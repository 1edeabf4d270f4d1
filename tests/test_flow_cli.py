"""`flowcert flow`: the flow's final weights, loss curve, imbalance drift and the bound's envelope."""
import json

import numpy as np
import pytest

from flowcert.checks.cli import main


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path):
    # an imbalanced pair: D = W1^T W1 - W2 W2^T = 3.75 I > 0, so Theorem 1 gives a positive rate
    w = tmp_path / "w.npz"
    np.savez(w, W1=np.diag([2.0, 2.0]) + 0.1 * np.array([[0.0, 1.0], [1.0, 0.0]]), W2=np.diag([0.5, 0.5]))
    y = tmp_path / "y.npy"
    np.save(y, np.array([[1.0, 0.5], [0.0, 2.0]]))
    return str(w), str(y)


def test_flow_json_high_precision(files, capsys):
    w, y = files
    code, out, _ = run(["flow", "--weights", w, "--target", y, "--t-end", "2", "--dps", "30",
                        "--samples", "5", "--json"], capsys)
    assert code == 0
    rep = json.loads(out)
    assert rep["backend"] == "flint" and rep["dps"] == 30 and len(rep["loss"]) == 5
    assert float(rep["imbalance_drift"]) < 1e-28
    b = rep["bound"]
    assert b["name"] == "alpha2" and float(b["value"]) > 0 and b["holds_on_samples"] is True
    losses = [float(r["loss"]) for r in rep["loss"]]
    assert losses[-1] < losses[0]
    assert set(rep["final_weights"]) == {"W1", "W2"} and len(rep["final_weights"]["W1"][0]) == 2


def test_flow_backends_agree(files, capsys):
    w, y = files
    finals = {}
    for args in (["--dps", "25", "--backend", "mpmath"], ["--dps", "25", "--backend", "flint"], ["--backend", "numpy"]):
        code, out, _ = run(["flow", "--weights", w, "--target", y, "--t-end", "1", "--json", *args], capsys)
        assert code == 0
        finals[args[-1]] = np.array(json.loads(out)["final_weights"]["W2"], dtype=float)
    assert np.abs(finals["mpmath"] - finals["flint"]).max() < 1e-14
    assert np.abs(finals["numpy"] - finals["flint"]).max() < 1e-12


def test_flow_text_and_errors(files, capsys):
    w, y = files
    code, out, _ = run(["flow", "--weights", w, "--target", y, "--t-end", "0.5"], capsys)
    assert code == 0 and "largest imbalance drift" in out and "envelope" in out
    assert "||W1(T)||_F = " in out and "--out FILE.npz saves them" in out  # a summary, not every entry
    for args, msg in ((["--t-end", "-1"], "--t-end"), (["--t-end", "abc"], "--t-end"),
                      (["--t-end", "1", "--backend", "numpy", "--dps", "20"], "--backend numpy"),
                      (["--t-end", "1", "--backend", "mpmath"], "give --dps"),
                      (["--t-end", "1", "--samples", "1"], "--samples")):
        code, _, err = run(["flow", "--weights", w, "--target", y, *args], capsys)
        assert code == 2 and msg in err and len(err.strip().splitlines()) == 1
    code, _, err = run(["flow", "--weights", w, "--t-end", "1"], capsys)
    assert code == 2 and "--target" in err


def test_flow_out_saves_final_weights_and_trajectory(files, tmp_path, capsys):
    w, y = files
    code, out, _ = run(["flow", "--weights", w, "--target", y, "--t-end", "0.5", "--json"], capsys)
    rep = json.loads(out)
    dest = tmp_path / "final.npz"
    code, out, _ = run(["flow", "--weights", w, "--target", y, "--t-end", "0.5", "--samples", "3",
                        "--out", str(dest), "--trajectory"], capsys)
    assert code == 0 and f"saved in {dest}" in out
    z = np.load(dest)
    assert sorted(z.files) == ["W1", "W1_path", "W2", "W2_path", "t"]
    assert z["W1_path"].shape == (3, *z["W1"].shape) and np.array_equal(z["W1_path"][-1], z["W1"])
    assert np.array_equal(z["t"], [0, 0.25, 0.5])
    # the saved float64 weights are the ones --json prints (repr round-trips exactly)
    assert np.array_equal(z["W1"], np.array(rep["final_weights"]["W1"], dtype=float))
    assert oct(dest.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    for args, msg in ((["--out", str(tmp_path / "x.txt")], "ending in .npz"),
                      (["--out", str(tmp_path / "no" / "x.npz")], "no such directory"),
                      (["--trajectory"], "--trajectory: needs --out")):
        code, _, err = run(["flow", "--weights", w, "--target", y, "--t-end", "0.5", *args], capsys)
        assert code == 2 and msg in err, (args, err)


def _umask():
    import os
    m = os.umask(0o022)
    os.umask(m)
    return m
