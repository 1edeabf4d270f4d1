"""pytest plugin (entry point ``flowcert``): flowcert's claims and profiles inside a researcher's tests.

- A test with a ``flowcert_claim`` argument runs once per registered claim chosen by
  ``@pytest.mark.flowcert("min2023.thm2", ...)`` (paper ids, claim ids or prefixes) or, for tests
  without the marker, by ``--flowcert-claims TARGET``; with neither, that test fails with a one-line
  usage error (it never runs every claim by default). A marker naming no claim fails its test with
  one line; the rest of the file still runs. :func:`assert_claim` fails a test with the claim's
  counterexample, as the values drawn.
- ``--flowcert-profile quick|standard|deep`` and ``--flowcert-seed N`` set the ``flowcert_options``
  fixture's :class:`~flowcert.checks.RunOptions`.
- Hypothesis profiles ``flowcert-dev`` (derandomized, 30 examples), ``flowcert-ci`` (derandomized,
  no database, 100 examples) and ``flowcert-deep`` (random, 1000 examples), for hypothesis's own
  ``--hypothesis-profile``.

Loading the plugin imports only pytest: flowcert's claims, NumPy and Hypothesis are imported when a
test asks for a flowcert fixture or a flowcert profile is chosen.
"""
from __future__ import annotations

import pytest

__all__ = ["assert_claim", "flowcert_claim", "flowcert_options", "register_profiles"]

PROFILE_NAMES = ("quick", "standard", "deep")


def register_profiles() -> None:
    """Register the ``flowcert-*`` Hypothesis profiles (each sets derandomize and database)."""
    from hypothesis import HealthCheck, settings
    common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("flowcert-dev", derandomize=True, database=None, max_examples=30, **common)
    settings.register_profile("flowcert-ci", derandomize=True, database=None, max_examples=100, **common)
    settings.register_profile("flowcert-deep", derandomize=False, database=None, max_examples=1000, **common)


def pytest_addoption(parser):
    g = parser.getgroup("flowcert")
    g.addoption("--flowcert-profile", default="quick", choices=list(PROFILE_NAMES),
                help="examples per claim for flowcert_claim tests")
    g.addoption("--flowcert-seed", type=int, default=0, help="seed of the claims' draws")
    g.addoption("--flowcert-claims", action="append", default=[], metavar="TARGET",
                help="claims for flowcert_claim tests without a flowcert marker (paper ids, claim ids, prefixes)")


@pytest.hookimpl(tryfirst=True)  # before hypothesis's plugin loads the profile named on the command line
def pytest_configure(config):
    config.addinivalue_line("markers", "flowcert(*targets): registered claims for a flowcert_claim test")
    profile = config.getoption("hypothesis_profile", None)
    if isinstance(profile, str) and profile.startswith("flowcert-"):
        register_profiles()


class _NoClaims:
    """Stands in for the claims of a test whose selection is wrong: the test fails with ``message``."""

    def __init__(self, message: str):
        self.message = message


def pytest_generate_tests(metafunc):
    if "flowcert_claim" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("flowcert")
    targets = list(marker.args) if marker else metafunc.config.getoption("flowcert_claims")
    if not targets:
        problem = _NoClaims("flowcert_claim needs @pytest.mark.flowcert(TARGET, ...) or --flowcert-claims "
                            "TARGET (paper ids, claim ids or id prefixes)")
        metafunc.parametrize("flowcert_claim", [problem], ids=["no-claims-selected"], indirect=True)
        return
    from ._experiment import UsageError
    from ._registry import select
    try:
        claims = select(targets)
    except UsageError as e:
        metafunc.parametrize("flowcert_claim", [_NoClaims(f"flowcert marker: {e}")], ids=["unknown-claims"],
                             indirect=True)
        return
    metafunc.parametrize("flowcert_claim", claims, ids=[c.id for c in claims], indirect=True)


@pytest.fixture
def flowcert_claim(request):
    """The claim this test instance checks (see the ``flowcert`` marker)."""
    claim = getattr(request, "param", None)
    if isinstance(claim, _NoClaims):
        pytest.fail(claim.message, pytrace=False)
    if claim is None:
        pytest.fail("flowcert_claim is parametrised by the flowcert plugin; it cannot be requested "
                    "indirectly", pytrace=False)
    return claim


@pytest.fixture
def flowcert_options(request):
    """:class:`~flowcert.checks.RunOptions` from ``--flowcert-profile`` and ``--flowcert-seed``."""
    from ._runner import RunOptions
    try:
        return RunOptions(profile=request.config.getoption("flowcert_profile"),
                          seed=request.config.getoption("flowcert_seed"))
    except ValueError as e:
        pytest.fail(f"--flowcert-{e}", pytrace=False)


def assert_claim(claim, opts=None):
    """Run a claim; fail the test (with the counterexample, as drawn) unless it holds; skip if skipped."""
    from ._runner import RunOptions, decode, run_claim
    r = run_claim(claim, opts or RunOptions())
    if r.status == "skipped":
        pytest.skip(f"{claim.id}: {r.detail}")
    if r.status not in ("pass", "certified"):
        msg = f"{claim.id} {r.status}: {r.detail}"
        if r.counterexample is not None:
            msg += f"\ncounterexample: {_show(decode(r.counterexample))}"
        pytest.fail(msg, pytrace=False)
    return r


def _show(example) -> str:
    """The drawn values as a reader would type them: tuples, lists and arrays, not their JSON form."""
    import numpy as np
    with np.printoptions(precision=17, threshold=200, linewidth=100):
        return repr(example)
