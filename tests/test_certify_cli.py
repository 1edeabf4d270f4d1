"""`flowcert bound --certify` and the `certified` claim status."""
import itertools
import json
from fractions import Fraction

import mpmath
import numpy as np
from hypothesis import strategies as st

from flowcert.checks import Claim, RunOptions, Verdict, certified_verdict, run_claim
from flowcert.checks.cli import main
from flowcert.numerics import certify
from flowcert.numerics._init import sample_weights

from . import reference as ref


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _save(path, ws):
    np.savez(path, **{f"W{i + 1}": w for i, w in enumerate(ws)})
    return str(path)


def test_certify_fan_out_three_layer_encloses_the_exact_value(tmp_path, capsys):
    # the acceptance case, at a smaller width: Fan_out weights, n = 5, m = 1
    rng = np.random.default_rng([0, 2])
    ws = sample_weights("fan_out", (5, 40, 40, 1), rng)
    p = _save(tmp_path / "w.npz", ws)
    code, out, _ = run(["bound", "three-layer", "--weights", p, "--certify", "--json", "--dps", "40"], capsys)
    assert code == 0
    rep = json.loads(out)
    assert rep["certified"] is True and rep["status"] == "certified" and rep["relation"] == "> 0"
    lo, hi = (Fraction(x) for x in rep["enclosure"])
    value = Fraction(rep["value"])
    assert lo <= value <= hi and 0 < lo
    assert abs(float(value) - ref.delta_star(*ws)) <= 1e-9 * abs(float(value))
    code, out, _ = run(["bound", "three-layer", "--weights", p, "--certify"], capsys)
    assert code == 0 and "certificate = delta-star in [" in out and "certified at 53 bits" in out


def test_certify_two_layer_and_lambda_min(tmp_path, capsys):
    rng = np.random.default_rng(4)
    ws = [rng.normal(size=(3, 4)), rng.normal(size=(4, 3))]
    p = _save(tmp_path / "w.npz", ws)
    y = tmp_path / "y.npy"
    np.save(y, np.diag([3.0, 2.0, 1.0]))
    for args in (["two-layer", "--target", str(y)], ["lambda-min-T"]):
        code, out, _ = run(["bound", *args, "--weights", p, "--certify", "--json"], capsys)
        rep = json.loads(out)
        lo, hi = (Fraction(x) for x in rep["enclosure"])
        # no --dps: the value has the digits the enclosure decides, so both ends round to it
        d = rep["dps"]
        with mpmath.workdps(40):
            assert all(mpmath.nstr(mpmath.mpf(x), d) == mpmath.nstr(mpmath.mpf(rep["value"]), d)
                       for x in rep["enclosure"])
        assert d >= 10 and hi - lo > 0   # the 53-bit certificate of a 3 x 4 net decides >= 10 digits
        code, out, _ = run(["bound", *args, "--weights", p, "--certify", "--json", "--dps", "30"], capsys)
        rep = json.loads(out)
        assert rep["dps"] == 30 and lo <= Fraction(rep["value"]) <= hi
        # both bounds are well above 0 on these weights (0.1996 and 1.682 by tests/reference.py's
        # independent numpy formulas): the certificate must say so, not merely be consistent
        truth = (ref.alpha2(*ws, np.diag([3.0, 2.0, 1.0])) if args[0] == "two-layer" else ref.lambda_min_T(ws))
        assert truth > 0.1 and lo > 0 and abs(float(Fraction(rep["value"])) - truth) <= 1e-9 * truth
        assert code == 0 and rep["status"] == "certified" and rep["certified"] is True


def test_certify_balanced_is_disproved_not_failed(tmp_path, capsys):
    # exactly balanced: Delta = 0, so "Delta > 0" is false -- proved false at 106 bits, exit 1
    w = np.array([[0.75, 0.5], [0.25, -1.0]])
    p = _save(tmp_path / "w.npz", [w, w.T])
    code, out, _ = run(["bound", "two-layer", "--weights", p, "--certify", "--json"], capsys)
    rep = json.loads(out)
    assert code == 1 and rep["certified"] is False and rep["status"] == "disproved" and rep["bits"] == 106


def test_certify_deep_checks_theorem3_hypotheses(tmp_path, capsys):
    # W1 = 2 I, W2 = W3 = I: D_1 = 3 I (PSD), D_2 = 0: unimodal with l* = 2, homogeneous
    ws = [2 * np.eye(2), np.eye(2), np.eye(2)]
    p = _save(tmp_path / "w.npz", ws)
    code, out, _ = run(["bound", "deep", "--weights", p, "--certify", "--json"], capsys)
    rep = json.loads(out)
    assert code == 0 and rep["hypotheses"] and all(rep["hypotheses"].values())
    assert rep["certified"] is True


def _claim(verdicts):
    it = itertools.cycle(verdicts)
    return Claim("demo.cert.x", "demo", "derived", "s", None, lambda ex: next(it),
                 strategy=st.integers(0, 10 ** 6), examples={"quick": len(verdicts)})


def test_runner_certified_status():
    yes = certified_verdict(certify(lambda prec: __import__("flint").arb(1) / 3, ">", 0))
    assert yes.certified and yes.holds and yes.precision.startswith("certified")
    assert run_claim(_claim([yes] * 3), RunOptions()).status == "certified"
    assert run_claim(_claim([yes, Verdict(True, 1.0)] * 2), RunOptions()).status == "pass"
    undecided = certified_verdict(certify(lambda prec: __import__("flint").arb(0, 1), ">", 0, precisions=(53,)))
    assert undecided.holds is None and not undecided.certified
    assert run_claim(_claim([yes, undecided] * 2), RunOptions()).status == "uncertified"


def test_weights_beyond_float_range_neither_lie_nor_warn(tmp_path, capsys, recwarn):
    """Entries ~1e200 (products ~1e400 overflow float64): the value agrees with a 1200-digit
    evaluation and lies in the certificate's enclosure; lambda_min(T) is certified through Arb's
    unbounded exponents; no RuntimeWarning is raised (pytest records warnings instead of letting
    them reach stderr, so stderr alone would not show one)."""
    rng = np.random.default_rng(0)
    ws = [1e200 * rng.normal(size=(3, 4)), 1e200 * rng.normal(size=(4, 3)), rng.normal(size=(3, 2))]
    p = _save(tmp_path / "w.npz", ws)
    code, out, err = run(["bound", "three-layer", "--weights", p, "--certify", "--json"], capsys)
    rep = json.loads(out)
    lo, hi = (Fraction(x) for x in rep["enclosure"])
    assert lo <= Fraction(rep["value"]) <= hi and code == 3 and "Warning" not in err
    from flowcert import theory as th
    from flowcert.numerics import Evaluator, workdps
    with workdps(1200):
        exact = Evaluator(dict(zip(th.LinearNetwork(3).weights, ws))).bound(th.delta_star())
    assert abs(Fraction(rep["value"]) - Fraction(str(exact))) <= hi - lo
    code, out, err = run(["bound", "lambda-min-T", "--weights", p, "--certify", "--json"], capsys)
    rep = json.loads(out)
    assert code == 0 and rep["certified"] and "Warning" not in err
    assert [str(w.message) for w in recwarn if issubclass(w.category, RuntimeWarning)] == []


def test_certify_json_is_the_same_on_every_run_apart_from_timing(tmp_path, capsys):
    rng = np.random.default_rng(5)
    p = _save(tmp_path / "w.npz", [rng.normal(size=(3, 4)), rng.normal(size=(4, 3)), rng.normal(size=(3, 2))])
    reps = []
    for _ in range(2):
        code, out, _ = run(["bound", "three-layer", "--weights", p, "--certify", "--json"], capsys)
        rep = json.loads(out)
        assert set(rep["timing"]) == {"certify_seconds", "attempt_seconds"}
        rep.pop("timing")
        assert "seconds" not in json.dumps(rep)
        reps.append(rep)
    assert reps[0] == reps[1]
