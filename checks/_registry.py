"""Papers and their claims.

A paper is a plugin: a :class:`Paper` (metadata and the modules that hold its claims, experiments
and sweeps) found through the entry-point group ``flowcert.papers`` or registered in-process with
:func:`register_paper`. flowcert's own papers come through the same door as a researcher's; nothing
here names one. A paper's modules are imported only when something of that kind is asked for, so
discovering the papers costs the import of each plugin's small ``__init__``.
"""
from __future__ import annotations

import argparse
import importlib
import re
import warnings
from dataclasses import dataclass
from typing import Callable

from ._claim import Claim
from ._experiment import UsageError

__all__ = ["CLAIMS", "Command", "Paper", "PluginWarning", "ENTRY_POINT_GROUP", "claims_of", "load", "paper",
           "paper_ids", "papers", "register", "register_paper", "select"]

ENTRY_POINT_GROUP = "flowcert.papers"
KINDS = ("claims", "experiments", "sweeps")
_PAPER_ID = re.compile(r"^[a-z][a-z0-9]*$")

CLAIMS: dict[str, Claim] = {}


class PluginWarning(UserWarning):
    """A paper plugin that could not be loaded (the others still are)."""


def resolve(ref: str):
    """The object named by ``"package.module:attribute"``."""
    mod, _, attr = ref.partition(":")
    obj = importlib.import_module(mod)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Command:
    """A command a paper adds to the ``flowcert`` CLI (``flowcert NAME ...``).

    ``arguments(parser)`` declares its options (keep the module it lives in cheap to import: it runs
    when any ``flowcert`` command line is parsed); ``run`` is ``"module:function"``, called with the
    parsed arguments and returning the exit status, imported only when the command runs."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: str


@dataclass(frozen=True)
class Paper:
    """One paper verified by flowcert: metadata, and where its pieces live.

    ``claims``, ``experiments`` and ``sweeps`` are module names; importing them registers the
    paper's :class:`Claim` s (:func:`register`), experiments and sweeps. ``latex`` is
    ``"module:function"`` returning the paper's section of ``flowcert latex`` (default: the
    ``latex_section`` function of a claims module, if one has it). ``summary`` says in a sentence or
    two what is verified and on what evidence (e.g. that a theorem is reconstructed). ``models``:
    ``(name, "module:function")`` pairs, models for ``flowcert laws NAME`` (the function takes the
    command's options as keywords and returns a :class:`flowcert.theory.Model`)."""

    id: str
    title: str
    authors: tuple[str, ...]
    venue: str
    year: int
    claims: tuple[str, ...] = ()
    experiments: tuple[str, ...] = ()
    sweeps: tuple[str, ...] = ()
    latex: str | None = None
    commands: tuple[Command, ...] = ()
    summary: str = ""
    url: str = ""
    models: tuple = ()

    def __post_init__(self):
        if not isinstance(self.id, str) or not _PAPER_ID.match(self.id):
            raise ValueError(f"Paper id: expected lowercase letters and digits starting with a letter "
                             f"(e.g. 'smith2024'), got {self.id!r}")
        for name in ("title", "venue"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"Paper {self.id} {name}: expected a non-empty string")
        for name in ("authors", *KINDS, "commands", "models"):
            v = getattr(self, name)
            if isinstance(v, str) or not isinstance(v, (tuple, list)):
                raise TypeError(f"Paper {self.id} {name}: expected a tuple, got {type(v).__name__}")
            object.__setattr__(self, name, tuple(v))
        if not self.authors:
            raise ValueError(f"Paper {self.id} authors: expected at least one author")
        if isinstance(self.year, bool) or not isinstance(self.year, int):
            raise TypeError(f"Paper {self.id} year: expected an int, got {self.year!r}")

    @property
    def citation(self) -> str:
        """``Min, Vidal, Mallada, *title* (ICML 2023)`` in plain text."""
        return f"{', '.join(self.authors)}, {self.title} ({self.venue} {self.year})"

    def load(self, kinds=KINDS) -> None:
        """Import the modules of the given kinds (they register what they define)."""
        for kind in ([kinds] if isinstance(kinds, str) else kinds):
            for mod in getattr(self, kind):
                importlib.import_module(mod)

    def latex_section(self) -> str:
        """The paper's derived formulas for ``flowcert latex`` ('' if it has none)."""
        if self.latex:
            return resolve(self.latex)()
        for mod in self.claims:
            make = getattr(importlib.import_module(mod), "latex_section", None)
            if make is not None:
                return make()
        return ""


_REGISTERED: dict[str, Paper] = {}   # in-process, by register_paper
_DISCOVERED: dict[str, Paper] | None = None


def _discover() -> dict[str, Paper]:
    from importlib.metadata import entry_points
    found: dict[str, Paper] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        where = f"paper plugin {ep.name!r} ({ep.value})"
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, Paper):
                obj = obj()
        except Exception as e:  # one broken plugin must not take the others down
            warnings.warn(f"{where} could not be loaded: {type(e).__name__}: {e}", PluginWarning, stacklevel=3)
            continue
        if not isinstance(obj, Paper):
            warnings.warn(f"{where} is a {type(obj).__name__}, expected a flowcert.checks.Paper",
                          PluginWarning, stacklevel=3)
        elif obj.id != ep.name:
            warnings.warn(f"{where} defines paper {obj.id!r}; the entry point's name must be the paper id",
                          PluginWarning, stacklevel=3)
        elif obj.id in found and found[obj.id] != obj:
            warnings.warn(f"{where}: paper {obj.id!r} is provided twice; keeping the first",
                          PluginWarning, stacklevel=3)
        else:
            found[obj.id] = obj
    return found


def papers() -> dict[str, Paper]:
    """Every known paper by id, in id order: the ``flowcert.papers`` entry points (discovered once)
    and the papers registered in this process."""
    global _DISCOVERED
    if _DISCOVERED is None:
        _DISCOVERED = _discover()
    out = {**_DISCOVERED, **_REGISTERED}
    return {k: out[k] for k in sorted(out)}


def register_paper(p: Paper) -> Paper:
    """Make a paper known in this process (as an installed plugin would be)."""
    if not isinstance(p, Paper):
        raise TypeError(f"register_paper: expected a Paper, got {type(p).__name__}")
    known = papers().get(p.id)
    if known is not None and known != p:
        raise ValueError(f"paper {p.id!r} is already registered")
    _REGISTERED[p.id] = p
    return p


def paper_ids() -> list[str]:
    """Ids of the known papers and of any paper that claims registered in-process name."""
    return sorted({*papers(), *(c.paper for c in CLAIMS.values())})


def paper(pid: str, option: str = "paper") -> Paper | None:
    """The paper ``pid``; None for a paper known only from claims registered in-process; a
    :class:`UsageError` naming ``option`` when nothing knows it."""
    ps = papers()
    if pid in ps:
        return ps[pid]
    if any(c.paper == pid for c in CLAIMS.values()):
        return None
    raise UsageError(f"{option} {pid!r}: no such paper; expected one of {', '.join(paper_ids()) or '(none installed)'}")


def register(claim: Claim) -> Claim:
    if not isinstance(claim, Claim):
        raise TypeError(f"register: expected a Claim, got {type(claim).__name__}")
    if claim.id in CLAIMS:
        raise ValueError(f"claim {claim.id!r} registered twice")
    CLAIMS[claim.id] = claim
    return claim


def load(ids=None, kinds=KINDS) -> None:
    """Import the modules of ``kinds`` of the papers ``ids`` (all by default)."""
    if isinstance(ids, str):
        ids = [ids]
    ps = papers()
    for pid in (ids if ids is not None else ps):
        if pid in ps:
            ps[pid].load(kinds)


def claims_of(pid: str) -> list[Claim]:
    load([pid], "claims")
    return [c for c in CLAIMS.values() if c.paper == pid]


def select(targets=()) -> list[Claim]:
    """Claims named by ``targets`` (paper ids, claim ids or id prefixes; one string or several); all
    when empty. Only the papers named are imported."""
    if isinstance(targets, str):
        targets = [targets]
    targets = list(targets)
    for t in targets:
        if not isinstance(t, str) or not t:
            raise UsageError(f"target {t!r}: expected a paper id, claim id or id prefix")
    ps = papers()
    heads = {t.split(".")[0] for t in targets}
    load(None if not targets or not heads <= set(ps) else sorted(heads), "claims")
    if not targets:
        return _ordered(CLAIMS.values())
    out = []
    for t in targets:
        hits = [c for c in CLAIMS.values()
                if t == c.paper or c.id == t or c.id.startswith(t.rstrip(".") + ".")]
        if not hits and t in ps:
            raise UsageError(f"paper {t!r}: no claims registered")
        if not hits:
            raise UsageError(f"target {t!r}: no such paper or claim; papers: {', '.join(paper_ids())} "
                             f"(see 'flowcert list')")
        out.extend(h for h in hits if h not in out)
    return out


def _ordered(claims) -> list[Claim]:
    """Papers in id order, each paper's claims in the order its modules registered them (which
    does not depend on which paper happened to be imported first)."""
    rank = {p: i for i, p in enumerate(paper_ids())}
    return sorted(claims, key=lambda c: rank.get(c.paper, len(rank)))
