"""An example paper plugin: gradient flow of a two-layer linear network with weight decay.

The model is defined once, by its loss, in :mod:`.model`; the claims (:mod:`.claims`), the
experiment (:mod:`.experiments`) and the LaTeX are derived from it. flowcert finds this paper
through the ``flowcert.papers`` entry point declared in ``pyproject.toml``; this module stays cheap
(metadata only) because flowcert imports it to list the papers.
"""
from flowcert.checks import Paper

__all__ = ["paper"]

paper = Paper(
    id="weightdecay",
    title="Weight decay breaks the conservation of the layer imbalance (a worked example)",
    authors=("A. Researcher",),
    venue="flowcert examples",
    year=2026,
    claims=(f"{__name__}.claims",),
    experiments=(f"{__name__}.experiments",),
    summary="With weight decay lam the imbalance D = W1^T W1 - W2 W2^T is no longer conserved: it decays "
            "exactly as exp(-2 lam t) D(0).",
)
