"""pytest plugin (entry point ``flowcert``): flowcert's claims and profiles inside a researcher's tests.

- ``--flowcert-profile quick|standard|deep`` and ``--flowcert-seed N`` set the run options that the
  ``flowcert_options`` fixture hands to claims.
- A test with a ``flowcert_claim`` argument is parametrised over registered claims, chosen by
  ``@pytest.mark.flowcert("min2023.thm2", ...)`` (paper ids, claim ids or prefixes) or by
  ``--flowcert-claims``; :func:`assert_claim` fails the test with the claim's counterexample.
- Hypothesis profiles ``flowcert-dev`` (derandomized, 30 examples), ``flowcert-ci`` (derandomized,
  no database, 100 examples) and ``flowcert-deep`` (random, 1000 examples) are registered; pick one
  with hypothesis's own ``--hypothesis-profile``.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from ._runner import PROFILES, RunOptions, run_claim

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("flowcert-dev", derandomize=True, database=None, max_examples=30, **_COMMON)
settings.register_profile("flowcert-ci", derandomize=True, database=None, max_examples=100, **_COMMON)
settings.register_profile("flowcert-deep", derandomize=False, database=None, max_examples=1000, **_COMMON)


def pytest_addoption(parser):
    g = parser.getgroup("flowcert")
    g.addoption("--flowcert-profile", default="quick", choices=list(PROFILES),
                help="examples per claim for flowcert_claim tests")
    g.addoption("--flowcert-seed", type=int, default=0, help="seed of the claims' draws")
    g.addoption("--flowcert-claims", action="append", default=[], metavar="TARGET",
                help="claims for tests without a flowcert marker (paper ids, claim ids, prefixes)")


def pytest_configure(config):
    config.addinivalue_line("markers", "flowcert(*targets): registered claims for a flowcert_claim test")


def pytest_generate_tests(metafunc):
    if "flowcert_claim" not in metafunc.fixturenames:
        return
    from ._registry import select
    marker = metafunc.definition.get_closest_marker("flowcert")
    targets = list(marker.args) if marker else metafunc.config.getoption("flowcert_claims")
    claims = select(targets)
    metafunc.parametrize("flowcert_claim", claims, ids=[c.id for c in claims])


@pytest.fixture
def flowcert_options(request) -> RunOptions:
    return RunOptions(profile=request.config.getoption("flowcert_profile"),
                      seed=request.config.getoption("flowcert_seed"))


def assert_claim(claim, opts: RunOptions | None = None):
    """Run a claim; fail the test (with the counterexample) unless it holds; skip if skipped."""
    r = run_claim(claim, opts or RunOptions())
    if r.status == "skipped":
        pytest.skip(f"{claim.id}: {r.detail}")
    assert r.status in ("pass", "certified"), (
        f"{claim.id} {r.status}: {r.detail}" + (f"\ncounterexample: {r.counterexample}" if r.counterexample else ""))
    return r
