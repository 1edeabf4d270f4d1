"""Exact objects: models defined by their loss, flows, invariants and bounds derived by SymPy."""
from ._printing import LATEX_SETTINGS, latex
from ._linear import DerivationError, LinearNetwork, diff_termwise
