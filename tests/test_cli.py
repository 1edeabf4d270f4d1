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


@pytest.fixture
def weights(tmp_path):
    rng = np.random.default_rng(7)
    ws = [rng.normal(size=s) for s in [(2, 4), (4, 5), (5, 3)]]
    p = tmp_path / "w.npz"
    np.savez(p, W1=ws[0], W2=ws[1], W3=ws[2])
    return p, ws


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


@pytest.mark.parametrize("command", [["bound", "two-layer"], ["flow", "--t-end", "1", "--target", "{y}"]])
def test_a_npy_file_as_weights_is_one_line_naming_the_format(tmp_path, capsys, command):
    one = tmp_path / "W.npy"
    np.save(one, np.eye(2))
    code, out, err = run([x.format(y=one) for x in command] + ["--weights", str(one)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--weights" in err and ".npz of W1, W2" in err


@pytest.mark.parametrize("command", [["bound", "two-layer"], ["flow", "--t-end", "1", "--target", "{y}"]])
def test_dps_beyond_the_limit_is_refused_by_the_parser(weights, tmp_path, capsys, command):
    y = tmp_path / "y.npy"
    np.save(y, np.zeros((2, 3)))
    assert main([x.format(y=y) for x in command] + ["--weights", str(weights[0]), "--dps", "200000"]) == 2
    assert "at most 10000 digits" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_exit_70_and_debug_shows_it(monkeypatch, capsys):
    from flowcert.checks import cli
    def broken(a):
        raise ZeroDivisionError("planted")
    monkeypatch.setitem(cli.COMMANDS, "list", broken)
    code, out, err = run(["list"], capsys)
    assert code == 70 and out == "" and err.count("\n") == 1
    assert "internal error: ZeroDivisionError: planted" in err and "--debug" in err
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "list"])


def test_replay_of_an_input_with_nan_is_refused_not_a_refutation(capsys):
    nan = '{"__seq__": [{"__array__": [[NaN]], "dtype": "float64"}, {"__array__": [[0.0]], "dtype": "float64"}], ' \
          '"tuple": false}'
    code, out, err = run(["verify", "min2023.thm1.delta-le-lambda-min", "--replay", nan], capsys)
    assert code == 2 and out == "" and "NaN or infinity" in err and err.count("\n") == 1
    code, out, err = run(["verify", "min2023.thm1.delta-le-lambda-min", "--replay", nan.replace("NaN", "0.5")],
                         capsys)
    assert code == 0 and "holds=True" in out


def _npy_bytes(shape, dtype="<f8", data=b""):
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


@pytest.mark.parametrize("members, needle", [
    ({"W1.npy": _npy_bytes((10 ** 6, 10 ** 6)), "W2.npy": _npy_bytes((10 ** 6, 1))}, "numbers; at most"),
    ([("W1.npy", _npy_bytes((1, 1), data=np.ones(1).tobytes())),
      ("W1.npy", _npy_bytes((1, 1), data=np.zeros(1).tobytes())),
      ("W2.npy", _npy_bytes((1, 1), data=np.ones(1).tobytes()))], "more than once"),
    ({"W1.npy": _npy_bytes((1, 1), "<m8[s]", np.ones(1, "m8[s]").tobytes()),
      "W2.npy": _npy_bytes((1, 1), data=np.ones(1).tobytes())}, "must hold real numbers"),
])
def test_hostile_npz_is_refused_from_its_headers(tmp_path, capsys, members, needle):
    """A header claiming 10^12 numbers (the file is a few bytes), a member stored twice, a
    timedelta64 array: one line naming --weights, exit 2, nothing allocated or guessed."""
    import warnings
    import zipfile
    p = tmp_path / "w.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # zipfile warns about the duplicate name
        with zipfile.ZipFile(p, "w") as zf:
            for name, data in (members.items() if isinstance(members, dict) else members):
                zf.writestr(name, data)
    code, out, err = run(["bound", "two-layer", "--weights", str(p)], capsys)
    assert code == 2 and out == "" and needle in err and "--weights" in err and err.count("\n") == 1


def test_the_entry_limit_can_be_raised(tmp_path, capsys, monkeypatch):
    p = tmp_path / "w.npz"
    np.savez(p, W1=np.ones((3, 4)), W2=np.ones((4, 3)))
    monkeypatch.setenv("FLOWCERT_MAX_ENTRIES", "20")
    code, _, err = run(["bound", "lambda-min-T", "--weights", str(p)], capsys)
    assert code == 2 and "24 numbers; at most 20" in err and "FLOWCERT_MAX_ENTRIES" in err
    monkeypatch.setenv("FLOWCERT_MAX_ENTRIES", "24")
    assert run(["bound", "lambda-min-T", "--weights", str(p)], capsys)[0] == 0


@pytest.mark.parametrize("shapes, command, needle", [
    ([(2, 2)] * 65, "lambda-min-T", "65 layers; at most 64"),
    ([(40, 3), (3, 30)], "lambda-min-T", "order n m = 40 x 30 = 1200"),
])
def test_work_beyond_the_documented_limits_is_refused_at_once(tmp_path, capsys, shapes, command, needle):
    p = tmp_path / "w.npz"
    np.savez(p, **{f"W{i + 1}": np.ones(s) for i, s in enumerate(shapes)})
    code, out, err = run(["bound", command, "--weights", str(p)], capsys)
    assert code == 2 and out == "" and needle in err


@pytest.mark.parametrize("args, needle", [
    (["min2023-boxplot", "--set", "samples=1000000000000"], "eigen-solve operations; at most"),
    (["min2023-boxplot", "--set", "h1=100000", "--set", "h2=100000"], "h1: 100000; at most 4000"),
    (["marion2023", "--set", "epsilon=1e-300"], "SGD steps; at most"),
    (["marion2023-2d", "--set", "repeats=1000000000"], "at most 1e+14"),
    (["chen2022", "--set", "steps=1000000000000000"], "multiply-adds; at most"),
    (["chen2022", "--set", "widths=[100000,1,100000]"], "at most 4000"),
])
def test_reproduce_refuses_unbounded_work_before_it_starts(tmp_path, capsys, args, needle):
    code, out, err = run(["reproduce", *args, "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 2 and needle in err and err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_out_of_memory_is_one_line_exit_2(monkeypatch, capsys):
    from flowcert.checks import cli
    def hungry(a):
        raise MemoryError("Unable to allocate 7.28 TiB")
    monkeypatch.setitem(cli.COMMANDS, "list", hungry)
    code, out, err = run(["list"], capsys)
    assert code == 2 and "out of memory" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, needle", [
    (["flow", "--weights", "{w}", "--target", "{y}", "--t-end", "1e-5000"], "exponent -5000 out of range"),
    (["flow", "--weights", "{w}", "--target", "{y}", "--t-end", "1" + "0" * 5000], "at most 100 characters"),
    (["flow", "--weights", "{w}", "--target", "{y}", "--t-end", "1", "--samples", "1000000000"], "at most 100000"),
    (["reproduce", "chen2022", "--set", "a=1e5000", "--out", "{d}/o"], "exponent 5000 out of range"),
    (["reproduce", "chen2022", "--set", "a=" + "[" * 500, "--out", "{d}/o"], "at most 100 characters"),
])
def test_huge_numbers_are_one_short_line(weights, tmp_path, capsys, argv, needle):
    """Python refuses integers of more than 4300 digits with a traceback; a text that long, a huge
    exponent or an unbounded count is refused first, and the message quotes it cut short."""
    y = tmp_path / "y.npy"
    np.save(y, np.zeros((2, 3)))
    code, out, err = run([x.format(w=weights[0], y=y, d=tmp_path) for x in argv], capsys)
    assert code == 2 and needle in err and err.count("\n") == 1 and len(err) < 300


@pytest.mark.parametrize("out", ["/", "~"])
def test_out_refuses_the_root_and_the_home_directory(tmp_path, capsys, out):
    import os
    code, _, err = run(["reproduce", "min2023-boxplot", "--set", "samples=2", "--set", "h1=5", "--set", "h2=5",
                        "--out", os.path.expanduser(out), "-q"], capsys)
    assert code == 2 and "--out" in err and "give a directory of its own" in err


def test_ctrl_c_while_the_cli_loads_is_one_line_exit_130(monkeypatch, capsys):
    import builtins
    import sys as _sys
    from flowcert import _command
    real = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name == "flowcert.checks.cli":
            raise KeyboardInterrupt
        return real(name, *args, **kwargs)
    monkeypatch.delitem(_sys.modules, "flowcert.checks.cli")
    monkeypatch.setattr(builtins, "__import__", interrupted)
    assert _command.main(["list"]) == 130
    assert capsys.readouterr().err == "flowcert: interrupted\n"
