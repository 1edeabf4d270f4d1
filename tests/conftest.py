"""Hypothesis profiles for flowcert's own tests: every profile sets derandomize and database."""
import os
import sys
import tempfile

import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", derandomize=True, database=None, max_examples=30, print_blob=True, **_COMMON)
settings.register_profile("dev", derandomize=True, database=None, max_examples=30, **_COMMON)
settings.register_profile("deep", derandomize=False, database=None, max_examples=500, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# derivations remembered by the tests go to a directory of this session, not the user's cache
# (FLOWCERT_CACHE_DIR set by the caller wins: a warm cache across runs when one is wanted)
if "FLOWCERT_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    os.environ["FLOWCERT_CACHE_DIR"] = _CACHE = tempfile.mkdtemp(prefix="flowcert-cache-")
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)


class _NoGenericNames:
    """flowcert is installed as flowcert.*; pytest puts the repository on sys.path, where the folders
    theory/, numerics/ and checks/ would import under generic names and hide a module that still
    imports them (as a stale numba cache did). Refuse them, as a user's environment would."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("theory", "numerics", "checks"):
            raise ModuleNotFoundError(f"No module named {name!r} (flowcert's modules are flowcert.{name})")
        return None


sys.meta_path.insert(0, _NoGenericNames())


@pytest.fixture
def weights(tmp_path):
    """``(path, [W1, W2, W3])``: a three-layer .npz of seeded normal weights, shapes 2x4, 4x5, 5x3."""
    import numpy as np
    rng = np.random.default_rng(7)
    ws = [rng.normal(size=s) for s in [(2, 4), (4, 5), (5, 3)]]
    p = tmp_path / "w.npz"
    np.savez(p, W1=ws[0], W2=ws[1], W3=ws[2])
    return p, ws
