"""Min, Vidal & Mallada (ICML 2023): conserved layer imbalance, rate bounds (alpha2, Delta*, deep
unimodal / homogeneous), the Fig. 1 box plot and GD runs.

``claims`` (Lemmas 1-3, Theorems 1-3, Corollaries, the appendix and the discrepancies found),
``experiments`` (``min2023-boxplot``, ``min2023-gd``), ``sweeps`` (``min2023-positivity``) and the
``flowcert bound`` / ``flowcert flow`` commands on a linear network's weights (``commands``).
"""
from flowcert.checks import Paper

from .commands import COMMANDS

__all__ = ["paper"]

paper = Paper(
    id="min2023",
    title="On the Convergence of Gradient Flow on Multi-layer Linear Models",
    authors=("Hancheng Min", "René Vidal", "Enrique Mallada"),
    venue="ICML",
    year=2023,
    claims=(f"{__name__}.claims",),
    experiments=(f"{__name__}.experiments",),
    sweeps=(f"{__name__}.sweeps",),
    commands=COMMANDS,
    summary=("The conserved layer imbalance and the rate bounds alpha2, Delta* and Theorem 3's, checked "
             "against the paper's statements; each typo or ambiguity of the paper is kept as a "
             "discrepancy claim beside the corrected version."),
)
