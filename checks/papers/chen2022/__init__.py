"""Chen, Lin & Zhang (ICML 2022): balanced deep linear networks with a one-neuron layer — which
critical point a trajectory reaches, rates by stage, stuck periods near saddles.

The paper's full text was not available: Theorem 3.1 is reconstructed, so the claims are
``[derived]`` for the paper's setting. ``claims``, ``experiments`` (``chen2022``), ``sweeps``
(``chen2022-basins``).
"""
from flowcert.checks import Paper

__all__ = ["paper"]

paper = Paper(
    id="chen2022",
    title="On Non-local Convergence Analysis of Deep Linear Networks",
    authors=("Kun Chen", "Dachao Lin", "Zhihua Zhang"),
    venue="ICML",
    year=2022,
    claims=(f"{__name__}.claims",),
    experiments=(f"{__name__}.experiments",),
    sweeps=(f"{__name__}.sweeps",),
    summary=("The full text was unavailable: the rank-one reduction, limit selection, rates by stage and "
             "saddle escapes are derived here for the paper's setting (one width-1 layer, balanced "
             "starts), so the claims are [derived], not [paper]."),
)
