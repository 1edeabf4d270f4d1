"""Hypothesis profiles for flowcert's own tests: every profile sets derandomize and database."""
import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", derandomize=True, database=None, max_examples=30, print_blob=True, **_COMMON)
settings.register_profile("dev", derandomize=True, database=None, max_examples=30, **_COMMON)
settings.register_profile("deep", derandomize=False, database=None, max_examples=500, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
