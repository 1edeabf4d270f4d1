"""Marion & Berthier (NeurIPS 2023): a shallow network with a slow inner and a fast outer layer, its
epsilon -> 0 limit, and SGD that converges in the two-timescale regime and fails outside it.

The model, parameters and limit come from the authors' reference code (the theorem statements were
unavailable). ``claims`` (``appendix_c``: Fig. 6 and Appendix C), ``experiments`` (``marion2023``, ``marion2023-standard``,
``marion2023-epsilon-sweep``; ``additive``: ``marion2023-2d``, ``marion2023-10d``,
``marion2023-relu``), ``sweeps`` (``marion2023-epsilon``).
"""
from flowcert.checks import Paper

__all__ = ["paper"]

paper = Paper(
    id="marion2023",
    title="Leveraging the two-timescale regime to demonstrate convergence of neural networks",
    authors=("Pierre Marion", "Raphaël Berthier"),
    venue="NeurIPS",
    year=2023,
    claims=(f"{__name__}.claims", f"{__name__}.appendix_c"),
    experiments=(f"{__name__}.experiments", f"{__name__}.additive"),
    sweeps=(f"{__name__}.sweeps",),
    summary=("The model f = a0 + sum a_j sigma((x - u_j)/eta), its epsilon -> 0 limit (derived here) and "
             "the reference code's behaviour; no claim verifies a theorem of the paper, whose statements "
             "were unavailable."),
)
