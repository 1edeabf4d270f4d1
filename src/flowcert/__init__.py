"""flowcert: verify published convergence theory of neural-network training.

- :mod:`flowcert.theory` — exact objects: a model defined by its loss, its gradient flow, invariants
  and rate bounds derived by SymPy, one LaTeX printer.
- :mod:`flowcert.numerics` — numbers from theory objects at any precision (mpmath, FLINT/Arb) or in
  float64: spectra, integrators, simulators, certificates. Knows no paper.
- :mod:`flowcert.checks` — claims, papers (plugins of the ``flowcert.papers`` entry-point group),
  the runner, reports, experiments, sweeps and the ``flowcert`` CLI.

Each subpackage is imported when first used, so ``import flowcert`` is cheap.

>>> import flowcert
>>> flowcert.__version__
'0.1.0'
>>> sorted(flowcert.registered_papers())[:4]
['chen2022', 'marcotte2023', 'marion2023', 'min2023']
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

__all__ = ["__version__", "checks", "numerics", "theory", "Claim", "Paper", "RunOptions", "Verdict",
           "register", "registered_papers", "run", "select"]

_SUBPACKAGES = ("theory", "numerics", "checks")
_FROM_CHECKS = ("Claim", "Paper", "RunOptions", "Verdict", "register", "registered_papers", "run", "select")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name in _FROM_CHECKS:
        value = getattr(importlib.import_module(".checks", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
