"""The runner: a false claim fails with a shrunk counterexample that replays; honest statuses."""
import json

import numpy as np
import pytest
from hypothesis import strategies as st

from flowcert.checks import Claim, RunOptions, Skip, Verdict, replay, run_claim
from flowcert.checks import strategies as S


def _claim(check, strategy=None, **kw):
    return Claim("test.runner.x", "test", "derived", "a planted statement", None, check, strategy, **kw)


def test_false_claim_fails_and_replays():
    # planted false statement: every entry of W1 is below 1
    c = _claim(lambda ws: Verdict(bool(ws[0].max() < 1.0), float(1.0 - ws[0].max())), S.chains(depth=2))
    r = run_claim(c, RunOptions(profile="standard"))
    assert r.status == "fail" and r.counterexample is not None
    v = replay(c, json.dumps(r.counterexample))
    assert v.holds is False
    # shrinking drives the counterexample to the boundary value 1.0
    assert max(np.max(np.abs(np.array(a))) for a in [x["__array__"] for x in r.counterexample["__seq__"]][:1]) == 1.0
    # the examples counted are those drawn up to the first failure, not Hypothesis' shrink replays
    calls = []
    counted = _claim(lambda ws: calls.append(1) or Verdict(bool(ws[0].max() < 1.0), 0.0), S.chains(depth=2))
    r = run_claim(counted, RunOptions(profile="standard"))
    assert r.status == "fail" and 1 <= r.examples <= 50 and r.examples < len(calls)


def test_true_claim_passes_with_margin():
    c = _claim(lambda x: Verdict(x >= 0, x), st.floats(0, 1))
    r = run_claim(c, RunOptions())
    assert r.status == "pass" and r.examples >= 1 and r.worst_margin >= 0


def test_undecided_is_uncertified_not_pass():
    c = _claim(lambda x: Verdict(None if x < 0.5 else True, x), st.floats(0, 1))
    assert run_claim(c, RunOptions()).status == "uncertified"


def test_skip_and_error():
    def skip(_):
        raise Skip("needs an optional extra")
    assert run_claim(_claim(skip), RunOptions()).status == "skipped"

    def broken(_):
        raise ZeroDivisionError("bug")
    r = run_claim(_claim(broken), RunOptions())
    assert r.status == "fail" and "ZeroDivisionError" in r.detail


def test_seed_changes_draws_but_is_deterministic():
    seen = {}
    for s in (0, 0, 1):
        xs = []
        run_claim(_claim(lambda x: (xs.append(x), Verdict(True, 1.0))[1], st.floats(0, 1)), RunOptions(seed=s))
        seen.setdefault(s, []).append(xs)
    assert seen[0][0] == seen[0][1] and seen[0][0] != seen[1][0]


@pytest.mark.parametrize("kw, needle", [({"profile": "x"}, "profile"), ({"seed": -1}, "seed"),
                                        ({"dps": 3}, "dps")])
def test_bad_options(kw, needle):
    with pytest.raises(ValueError, match=needle):
        RunOptions(**kw)


def test_claim_id_validated():
    with pytest.raises(ValueError, match="claim id"):
        Claim("bad id", "test", "derived", "s", "x", lambda _: None)


def test_a_claim_past_its_time_limit_is_stopped_and_undecided():
    """A check that would run for ever (a planted mistake escalating precision on an exact 0):
    stopped at the limit, reported uncertified (not false), with what it checked."""
    import time

    def slow(_):
        while True:
            try:
                time.sleep(0.05)
            except Exception:      # a check's own broad except must not swallow the stop
                pass
    r = run_claim(_claim(slow, None, example=None), RunOptions(timeout=0.5))
    assert r.status == "uncertified" and "stopped after 0.5 s" in r.detail and r.seconds < 5
    with pytest.raises(ValueError, match="timeout"):
        RunOptions(timeout=-1)
