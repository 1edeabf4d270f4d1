"""Fuzz the CLI with generated bad input: every case must end with status 2, one line on stderr
naming what was wrong and what was expected, no traceback, and no output file left behind."""
import re
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from flowcert.checks.cli import main

BOUNDS = ["two-layer", "three-layer", "deep", "lambda-min-T"]
EXPERIMENTS = ["min2023-boxplot", "min2023-gd"]
# 4 x 260 + 3 x 120 = 1400 generated bad inputs per run
MESSAGES: set = set()  # distinct messages, numbers and paths masked (reported by the summary test)

junk = st.text(st.characters(min_codepoint=48, max_codepoint=122), min_size=1, max_size=8)
not_positive = st.one_of(st.integers(-10**6, 0).map(str), st.sampled_from(["abc", "1.5", "", "1e-3", "-0"]))


def _write_npz(path: Path, kind: str, rng: np.random.Generator):
    ok = [rng.normal(size=(2, 3)), rng.normal(size=(3, 2)), rng.normal(size=(2, 2))]
    arrays = {f"W{i + 1}": a for i, a in enumerate(ok)}
    if kind == "nan":
        arrays["W2"][1, 1] = np.nan
    elif kind == "inf":
        arrays["W1"][0, 0] = -np.inf
    elif kind == "chain":
        arrays["W2"] = rng.normal(size=(4, 2))
    elif kind == "1d":
        arrays["W1"] = rng.normal(size=3)
    elif kind == "3d":
        arrays["W3"] = rng.normal(size=(2, 2, 2))
    elif kind == "empty":
        arrays["W1"] = np.zeros((0, 3))
    elif kind == "complex":
        arrays["W2"] = arrays["W2"] + 1j
    elif kind == "gap":
        del arrays["W2"]
    elif kind == "names":
        arrays = {"A": ok[0], "B": ok[1]}
    elif kind == "single":
        arrays = {"W1": ok[0]}
    elif kind == "strings":
        arrays["W1"] = np.array([["a", "b", "c"]] * 2)
    np.savez(path, **arrays)


@st.composite
def bad_bound(draw, d: Path):
    name = draw(st.sampled_from(BOUNDS))
    defect = draw(st.sampled_from(["nan", "inf", "chain", "1d", "3d", "empty", "complex", "gap", "names",
                                   "single", "strings", "missing", "garbage", "dps", "target-shape",
                                   "target-nan", "target-missing", "name"]))
    w = d / "w.npz"
    argv = ["bound", name, "--weights", str(w)]
    rng = np.random.default_rng(draw(st.integers(0, 3)))
    if defect in ("missing",):
        return argv, "--weights"
    if defect == "garbage":
        w.write_bytes(draw(st.binary(min_size=0, max_size=64)))
        return argv, "--weights"
    _write_npz(w, defect if defect not in ("dps", "name") and not defect.startswith("target") else "ok", rng)
    if defect == "dps":
        return argv + ["--dps", draw(not_positive)], "--dps"
    if defect == "name":
        argv[1] = "zz" + draw(junk)
        return argv, "name"
    if defect.startswith("target"):
        argv[1] = "lambda-min-T"  # the target is read before any bound, so any valid name serves
        t = d / "y.npy"
        if defect == "target-shape":
            np.save(t, np.ones((draw(st.integers(3, 5)), 1)))
        elif defect == "target-nan":
            np.save(t, np.full((2, 2), np.nan))
        return argv + ["--target", str(t)], "--target"
    return argv, "--weights"


@st.composite
def bad_verify(draw, d: Path):
    out = d / "report.json"
    case = draw(st.sampled_from(["target", "profile", "seed", "dps", "replay", "resume", "checkpoint"]))
    base = ["verify", "--json", str(out)]
    if case == "target":
        return base + ["zz" + draw(junk)], "target", out
    if case == "profile":
        return base + ["--profile", draw(junk.filter(lambda s: s not in ("quick", "standard", "deep")))], "--profile", out
    if case == "seed":
        return base + ["--seed", draw(st.sampled_from(["-1", "-7", "x", "1.5"]))], "--seed", out
    if case == "dps":
        return base + ["--dps", draw(st.one_of(not_positive, st.integers(1, 14).map(str)))], "--dps", out
    if case == "replay":
        bad = draw(st.one_of(st.just("{"), st.just("[1, 2"), st.just('{"__seq__": 3}'), junk))
        return base + ["min2023.sec3.two-layer-closed-form", "--replay", bad], "--replay", out
    if case == "resume":
        return base + ["min2023.disc.g9-typo", "--resume"], "--resume", out
    (d / "ck").mkdir()
    (d / "ck" / "stray.txt").write_text("not a checkpoint")
    return base + ["min2023.disc.g9-typo", "--checkpoint", str(d / "ck"), "--resume"], "--checkpoint", out


@st.composite
def bad_reproduce(draw, d: Path):
    out = d / "out"
    name = draw(st.sampled_from(EXPERIMENTS))
    case = draw(st.sampled_from(["name", "key", "value", "format", "config", "resume"]))
    base = ["reproduce", name, "--out", str(out), "--json", str(d / "r.json")]
    if case == "name":
        base[1] = "zz" + draw(junk)
        return base, "experiment", out
    if case == "key":
        return base + ["--set", f"zz{draw(junk)}=1"], "--set", out
    if case == "format":
        return base + ["--set", draw(junk.filter(lambda s: "=" not in s))], "--set", out
    if case == "config":
        cfg = d / "c.toml"
        cfg.write_text(draw(st.sampled_from(["x = [", "= 1", "[t]\na = 1", "zz = 1", 'seed = "a"'])))
        return base + ["--config", str(cfg)], "--config", out
    if case == "resume":
        return base + ["--resume"], "--resume", out
    if name == "min2023-boxplot":
        key, val = draw(st.sampled_from([
            ("samples", draw(not_positive)), ("h1", draw(not_positive)), ("n", draw(not_positive)),
            ("schemes", "['bogus']"), ("schemes", "[]"), ("seed", "-3"), ("schemes", "'fan_in'")]))
    else:
        key, val = draw(st.sampled_from([
            ("lr", draw(st.sampled_from(["0", "-1e-3", "nan", "inf", "x"]))), ("steps_n1", draw(not_positive)),
            ("record_every", draw(not_positive)), ("widths", "[[0, 2]]"), ("widths", "[1, 2]"),
            ("scheme", "bogus"), ("m", draw(not_positive))]))
    return base + ["--set", f"{key}={val}"], "--set", out


@st.composite
def bad_marion(draw, d: Path):
    out = d / "out"
    name = draw(st.sampled_from(["marion2023", "marion2023-standard"]))
    key, val = draw(st.sampled_from([
        ("eta", draw(st.sampled_from(["0", "-0.004", "nan", "x"]))), ("h", draw(st.sampled_from(["0", "-1e-5"]))),
        ("epsilon", draw(st.sampled_from(["0", "-2", "inf"]))), ("m", draw(st.sampled_from(["1", "0", "-4", "2.5"]))),
        ("gradient", "zz" + draw(junk)), ("target", "zz" + draw(junk)),
        ("target_positions", "[0.5, 0.2]"), ("target_positions", "[0.2, 0.2]"), ("target_positions", "[-0.1, 0.5]"),
        ("seed", "-1"), ("steps", draw(not_positive))]))
    return ["reproduce", name, "--out", str(out), "--set", f"{key}={val}"], "--set", out


@st.composite
def bad_flow(draw, d: Path):
    w, y = d / "w.npz", d / "y.npy"
    rng = np.random.default_rng(draw(st.integers(0, 3)))
    case = draw(st.sampled_from(["weights", "target", "t-end", "dps", "backend"]))
    _write_npz(w, draw(st.sampled_from(["nan", "chain", "1d", "gap"])) if case == "weights" else "ok", rng)
    np.save(y, np.ones((3, 2)) if case == "target" else np.ones((2, 2)))
    argv = ["flow", "--weights", str(w), "--target", str(y), "--t-end", "1"]
    if case == "t-end":
        argv[-1] = draw(st.sampled_from(["-1", "0", "nan", "inf", "x"]))
    elif case == "dps":
        argv += ["--dps", draw(not_positive)]
    elif case == "backend":
        argv += ["--backend", "zz" + draw(junk)]
    needle = {"weights": "--weights", "target": "--target", "t-end": "--t-end", "dps": "--dps",
              "backend": "--backend"}[case]
    return argv, needle


@st.composite
def bad_sweep(draw, d: Path):
    out = d / "sw"
    case = draw(st.sampled_from(["name", "key", "value", "jobs"]))
    argv = ["sweep", "min2023-positivity", "--out", str(out)]
    if case == "name":
        argv[1] = "zz" + draw(junk)
        return argv, "sweep", out
    if case == "key":
        return argv + ["--set", f"zz{draw(junk)}=1"], "--set", out
    if case == "jobs":
        return argv + ["--jobs", draw(not_positive)], "--jobs", out
    return argv + ["--set", f"samples={draw(not_positive)}"], "--set", out


@st.composite
def bad_other(draw, d: Path):
    case = draw(st.sampled_from(["latex-paper", "latex-claim", "list", "command", "none"]))
    out = d / "x.tex"
    if case == "latex-paper":
        return ["latex", "zz" + draw(junk), "-o", str(out)], "paper", out
    if case == "latex-claim":
        return ["latex", "--claim", "zz." + draw(junk), "-o", str(out)], "--claim", out
    if case == "list":
        return ["list", "zz" + draw(junk)], "paper", None
    if case == "command":
        return ["zz" + draw(junk)], "argument", None
    return [], "argument", None


def _check(argv, needle, out, capsys):
    code = main(argv)
    o, err = capsys.readouterr()
    assert code == 2, (argv, o[-500:], err)
    assert err.startswith("flowcert: error:") and err.count("\n") == 1, (argv, err)
    assert "Traceback" not in err and "Traceback" not in o
    assert needle in err, (argv, needle, err)
    if out is not None:
        assert not Path(out).exists(), (argv, out)
    masked = re.sub(r"'[^']*'|\"[^\"]*\"|zz\S*|\([^()]*\)$", "#", err.strip())  # drawn values
    MESSAGES.add(re.sub(r"(/[^\s,:;)]+)|(-?\d+(\.\d+)?(e-?\d+)?)", "#", masked))


SETTINGS = settings(max_examples=260, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck))


@SETTINGS
@given(st.data())
def test_bad_bound_inputs(capsys, data):
    with tempfile.TemporaryDirectory() as d:
        argv, needle = data.draw(bad_bound(Path(d)))
        _check(argv, needle, None, capsys)


@SETTINGS
@given(st.data())
def test_bad_verify_inputs(capsys, data):
    with tempfile.TemporaryDirectory() as d:
        argv, needle, out = data.draw(bad_verify(Path(d)))
        _check(argv, needle, out, capsys)


@SETTINGS
@given(st.data())
def test_bad_reproduce_inputs(capsys, data):
    with tempfile.TemporaryDirectory() as d:
        argv, needle, out = data.draw(bad_reproduce(Path(d)))
        _check(argv, needle, out, capsys)


@SETTINGS
@given(st.data())
def test_bad_other_inputs(capsys, data):
    with tempfile.TemporaryDirectory() as d:
        argv, needle, out = data.draw(bad_other(Path(d)))
        _check(argv, needle, out, capsys)


@settings(SETTINGS, max_examples=120)
@given(st.data())
def test_bad_marion_inputs(capsys, data):
    with tempfile.TemporaryDirectory() as d:
        argv, needle, out = data.draw(bad_marion(Path(d)))
        _check(argv, needle, out, capsys)


@settings(SETTINGS, max_examples=120)
@given(st.data())
def test_bad_flow_inputs(capsys, data):
    with tempfile.TemporaryDirectory() as d:
        argv, needle = data.draw(bad_flow(Path(d)))
        _check(argv, needle, None, capsys)


@settings(SETTINGS, max_examples=120)
@given(st.data())
def test_bad_sweep_inputs(capsys, data):
    with tempfile.TemporaryDirectory() as d:
        argv, needle, out = data.draw(bad_sweep(Path(d)))
        _check(argv, needle, out, capsys)


def test_zz_summary(capsys):
    # pytest runs a module's tests in definition order, so this comes after the fuzz tests
    if not MESSAGES:
        import pytest
        pytest.skip("run together with the fuzz tests above")
    with capsys.disabled():
        print(f"\nfuzz: {len(MESSAGES)} distinct error messages")
    assert len(MESSAGES) >= 20
