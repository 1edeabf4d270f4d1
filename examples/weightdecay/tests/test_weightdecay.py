"""The plugin's own tests, as a researcher writes them: flowcert's strategies, runner and pytest plugin.

Run with plain pytest once the plugin is installed:  pytest examples/weightdecay/tests
"""
import pytest
import sympy as sp
from hypothesis import given

from flowcert.checks import Claim, RunOptions, run_claim, select
from flowcert.checks.pytest_plugin import assert_claim
from flowcert.checks.strategies import chains
from flowcert_weightdecay import claims as C
from flowcert_weightdecay.model import D, imbalance_rate_residual


def test_identity_holds_only_at_rate_two():
    assert imbalance_rate_residual(2) == sp.ZeroMatrix(*D.shape)
    assert imbalance_rate_residual(1) != sp.ZeroMatrix(*D.shape)


def test_planted_wrong_rate_fails_through_the_runner():
    wrong = Claim("weightdecay.flow.wrong", "weightdecay", "derived", "planted: exp(-lam t)", None,
                  lambda ex: C.decay(ex, rate=1.0), C.inputs)
    r = run_claim(wrong, RunOptions(profile="quick"))
    assert r.status == "fail" and r.worst_margin < 0


def test_the_paper_is_found_through_its_entry_point():
    assert [c.id for c in select("weightdecay")] == ["weightdecay.flow.identity", "weightdecay.flow.decay"]


@given(chains(depth=3, max_width=3))
def test_strategies_are_public(ws):
    assert ws[0].shape[1] == ws[1].shape[0]


@pytest.mark.flowcert("weightdecay", "min2023.thm2.scalar-example")
def test_registered_claims(flowcert_claim, flowcert_options):
    assert_claim(flowcert_claim, flowcert_options)
