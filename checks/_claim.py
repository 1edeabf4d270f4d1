"""A claim: one named statement of a paper, the strategy that draws its inputs, and its check."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

PROVENANCES = ("paper", "code", "derived", "inferred")
#: ``certified``: held on every input with a ball-arithmetic proof (``Verdict.certified``)
STATUSES = ("certified", "pass", "fail", "uncertified", "skipped")
_ID = re.compile(r"^[a-z0-9]+\.[a-z0-9.\-]+$")


@dataclass(frozen=True)
class Verdict:
    """What one check showed on one input.

    ``holds``: True (shown), False (refuted) or None (undecided at this precision). ``margin`` is
    how far the input was from failing, in flowcert's one unit: the room left as a fraction of what
    the check allows, ``(allowed - observed) / allowed`` -- the tolerance of a comparison up to
    rounding (1: no error at all, 0: error at the tolerance), or the threshold of a claim with one
    (a loss below 0.02: ``1 - loss / 0.02``); a ball-arithmetic check gives the ball's distance from
    the threshold. Negative exactly when it fails; ``inf`` for an exact proof. ``precision`` says what backed the decision (e.g. ``"float64"``, ``"50 dps"``,
    ``"exact"``). ``certified``: the decision is proved by ball arithmetic (Arb enclosures, see
    :func:`certified_verdict`), not just evaluated; a claim all of whose verdicts are certified and
    hold gets the status ``certified``.
    """

    holds: bool | None
    margin: float
    precision: str = "float64"
    detail: str = ""
    certified: bool = False

    def __post_init__(self):
        if self.holds is None:
            object.__setattr__(self, "certified", False)
        # numpy comparisons give numpy.bool_, which `is False` would not recognise
        if self.holds is not None:
            object.__setattr__(self, "holds", bool(self.holds))
        object.__setattr__(self, "margin", float(self.margin))
        if self.margin != self.margin:  # a NaN decides nothing: never report it as a pass
            object.__setattr__(self, "holds", False)
            object.__setattr__(self, "detail", f"NaN margin: {self.detail}")
        elif (self.holds is False and self.margin > 0) or (self.holds is True and self.margin < 0):
            # a margin that measures one condition of several: the check itself is wrong
            raise ValueError(f"inconsistent verdict: holds={self.holds} with margin {self.margin:.3g} (a margin "
                             f"is negative exactly when the claim fails); {self.detail}")


def certified_verdict(cert, detail: str = "") -> Verdict:
    """A :class:`Verdict` from a :class:`flowcert.numerics.Certificate` (``numerics.certify``): holds if the
    whole ball satisfies the relation, fails if none of it does, undecided otherwise."""
    d = cert.verdict_detail(12)
    return Verdict(cert.holds, cert.margin(), f"certified, Arb {cert.prec} bits", f"{detail}: {d}" if detail else d,
                   certified=cert.holds is not None)


@dataclass(frozen=True)
class Claim:
    """A statement of a paper, checked on inputs drawn by ``strategy``.

    ``check(example) -> Verdict``. A claim with ``strategy=None`` is checked once on ``example``
    (a fixed input: a worked example of the paper, an experiment).

    ``statement`` is plain text for terminals; ``tex`` the same statement in LaTeX for the export
    (inline math only; escaped ``statement`` when empty). ``formula`` is the claim's displayed
    formula as a SymPy object -- a relation, a :class:`~flowcert.theory.Chain` or
    :class:`~flowcert.theory.Listing` -- or a function returning one (built when first printed), or
    None for a claim stated in words only. It is printed by :func:`flowcert.theory.latex`, never typed.
    """

    id: str
    paper: str
    provenance: str
    statement: str
    formula: Any
    check: Callable[[Any], Verdict]
    strategy: Any = None
    example: Any = None
    examples: dict = field(default_factory=dict)  # profile -> max examples override
    tags: tuple = ()
    discrepancy: bool = False  # documents where the paper is wrong/ambiguous
    tex: str = ""
    #: the name of an experiment this claim computes with others (a cached run): claims that name
    #: the same one are run in one worker process, so that it is computed once
    shares: str = ""

    def __post_init__(self):
        if not _ID.match(self.id) or not self.id.startswith(self.paper + "."):
            raise ValueError(f"claim id: expected '{self.paper}.section.slug', got {self.id!r}")
        if self.provenance not in PROVENANCES:
            raise ValueError(f"provenance: expected one of {PROVENANCES}, got {self.provenance!r}")
        f = self.formula
        if f is not None and not callable(f) and not hasattr(f, "free_symbols"):
            raise TypeError(f"{self.id}: formula: expected a SymPy object or a function returning one, got "
                            f"{type(f).__name__} (formulas are printed from SymPy, not typed)")

    def source(self):
        """The displayed formula as a SymPy object (None if the claim has none)."""
        f = self.formula
        if callable(f) and not hasattr(f, "free_symbols"):
            f = f()
            if f is not None and not hasattr(f, "free_symbols"):
                raise TypeError(f"{self.id}: formula(): expected a SymPy object, got {type(f).__name__}")
        return f

    def latex_text(self) -> str:
        """The displayed formula, printed ('' if the claim has none)."""
        from flowcert.theory import latex
        f = self.source()
        return "" if f is None else latex(f)
