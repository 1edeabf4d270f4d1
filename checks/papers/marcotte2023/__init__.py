"""Marcotte, Gribonval & Peyré (NeurIPS 2023): conservation laws of gradient flows, counted as ``D``
minus the dimension of the trace of a Lie algebra of vector fields.

flowcert counts them exactly and proves the laws it finds complete (:func:`flowcert.theory.conservation_laws`);
the claims check the paper's counts for two-layer linear and ReLU networks, the exact count where the
paper's formula does not apply, and the laws of min2023's deep linear networks and of marion2023's
two-timescale network and its limit. ``flowcert laws MODEL`` runs the same on any model.
"""
from flowcert.checks import Paper

__all__ = ["paper"]

paper = Paper(
    id="marcotte2023",
    title="Abide by the Law and Follow the Flow: Conservation Laws for Gradient Flows",
    authors=("Sibylle Marcotte", "Rémi Gribonval", "Gabriel Peyré"),
    venue="NeurIPS",
    year=2023,
    claims=(f"{__name__}.claims",),
    summary=("The number of independent conservation laws (D minus the trace dimension of the Lie algebra "
             "of the model's fields), computed exactly, with the laws found proved complete; the paper's "
             "two-layer linear and ReLU counts, and the laws of the other papers' models."),
    url="https://arxiv.org/abs/2307.00144",
)
