"""The claim registry: claims register themselves by paper; lookup by id, id prefix or paper."""
from __future__ import annotations

import importlib

from ._claim import Claim
from ._experiment import UsageError

CLAIMS: dict[str, Claim] = {}
#: paper id -> module that registers its claims and experiments (imported on demand)
PAPERS = {
    "min2023": ("checks.min2023", "checks.experiments_min2023"),
    "chen2022": ("checks.chen2022", "checks.experiments_chen2022"),
    "marion2023": ("checks.marion2023", "checks.experiments_marion2023"),
}


def register(claim: Claim) -> Claim:
    if claim.id in CLAIMS:
        raise ValueError(f"claim {claim.id!r} registered twice")
    CLAIMS[claim.id] = claim
    return claim


def load(papers=None) -> None:
    for p in papers or PAPERS:
        for mod in PAPERS[p]:
            importlib.import_module(mod)


def select(targets=()) -> list[Claim]:
    """Claims named by ``targets`` (paper ids, claim ids or id prefixes); all when empty."""
    load()
    if not targets:
        return list(CLAIMS.values())
    out = []
    for t in targets:
        hits = [c for c in CLAIMS.values()
                if t == c.paper or c.id == t or c.id.startswith(t.rstrip(".") + ".")]
        if not hits and t in PAPERS:
            raise UsageError(f"paper {t!r}: no claims registered yet")
        if not hits:
            raise UsageError(f"target {t!r}: no such paper or claim; papers: {', '.join(PAPERS)} "
                             f"(see 'flowcert list')")
        out.extend(h for h in hits if h not in out)
    return out
