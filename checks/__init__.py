"""The framework: claims, papers (plugins), the runner, reports, experiments, sweeps, the CLI.

A paper plugin defines a :class:`Paper` and registers :class:`Claim` s, :class:`Experiment` s and
:class:`Sweep` s; :func:`select` and :func:`run` check claims; ``flowcert`` (:mod:`.cli`) is a thin
layer over them. Names import on first use, so a plugin's ``from flowcert.checks import Paper``
costs no SymPy, NumPy or Hypothesis.

>>> import sympy as sp
>>> from flowcert.checks import Claim, Verdict
>>> from flowcert.theory import ge
>>> x = sp.Symbol("x", real=True)
>>> c = Claim("demo.sec1.square", "demo", "derived", "x^2 >= 0", ge(x**2, 0),
...           lambda x: Verdict(x * x >= 0, x * x), example=3.0, tex=r"$x^2 \\ge 0$ for real $x$")
>>> c.check(c.example).holds
True
>>> c.latex_text()
'x^{2} \\\\geq 0'
"""
from __future__ import annotations

import importlib

__all__ = ["CLAIMS", "Claim", "Command", "EXPERIMENTS", "Experiment", "PROFILES", "PROVENANCES", "Paper",
           "Result", "RunOptions", "STATUSES", "SWEEPS", "Skip", "Sweep", "Task", "UsageError", "Verdict",
           "certified_verdict", "options", "register", "register_experiment", "register_paper",
           "register_sweep", "registered_papers", "replay", "run", "run_claim", "select", "strategies"]

_HOME = {
    "._claim": ("PROVENANCES", "STATUSES", "Claim", "Verdict", "certified_verdict"),
    "._registry": ("CLAIMS", "Command", "Paper", "register", "register_paper", "select"),
    "._experiment": ("EXPERIMENTS", "Experiment", "UsageError", "register_experiment"),
    "._sweep": ("SWEEPS", "Sweep", "Task", "register_sweep"),
    "._runner": ("PROFILES", "Result", "RunOptions", "Skip", "options", "replay", "run", "run_claim"),
}
_WHERE = {name: mod for mod, names in _HOME.items() for name in names}


def __getattr__(name: str):
    if name == "registered_papers":  # ``papers`` is the subpackage of flowcert's own papers
        from ._registry import papers
        return papers
    if name == "strategies":
        return importlib.import_module(".strategies", __name__)
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
