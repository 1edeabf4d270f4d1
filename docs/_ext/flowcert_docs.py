"""Sphinx extension: one page per paper, generated from the installed plugins (``flowcert.papers``).

Each page lists the paper's metadata, every claim (id, provenance, statement, rendered LaTeX, the
check that decides it and the strategy that draws its inputs), its experiments and sweeps with
their parameters, and the figures found under ``docs/figures/<experiment>/``.
"""
from __future__ import annotations

import inspect
from pathlib import Path

from flowcert.checks import EXPERIMENTS, SWEEPS
from flowcert.checks._registry import load, papers, select
from flowcert.checks._runner import PROFILES

_SPECIAL = "\\*`|_[]<>"


def rst(text: str) -> str:
    """Plain text safe inside reST inline markup."""
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in text)


def heading(text: str, ch: str) -> list[str]:
    return [text, ch * len(text), ""]


def _first_line(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def _where(fn) -> str:
    mod = getattr(fn, "__module__", None) or "?"
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return f"{mod}.{name}".replace(".<locals>", "").replace("<lambda>", "(lambda)")


def _strategy(claim) -> str:
    if claim.strategy is None:
        return "one fixed input (a worked example or an experiment)"
    text = repr(claim.strategy).replace("\n", " ")
    counts = ", ".join(f"{p} {claim.examples.get(p, n)}" for p, n in PROFILES.items())
    return f"``{text if len(text) <= 150 else text[:147] + '...'}`` (examples: {counts})"


def _math(latex: str) -> list[str]:
    return ["   " + line for line in latex.strip().splitlines()]


def paper_page(pid: str, figures: Path) -> str:
    p = papers()[pid]
    load([pid])
    out = heading(f"{pid}: {p.title}", "=")
    out += [f"{rst(', '.join(p.authors))}. *{rst(p.venue)} {p.year}*." + (f" {p.url}" if p.url else ""), ""]
    if p.summary:
        out += [rst(p.summary), ""]
    claims = select([pid])
    out += [f"``flowcert verify {pid}`` checks {len(claims)} claims; ``flowcert latex {pid}`` exports the "
            "formulas.", ""]
    out += heading("Claims", "-")
    for c in claims:
        out += heading(f"``{c.id}``", "~")
        tag = f"[{c.provenance}]" + (" — documents a discrepancy of the paper" if c.discrepancy else "")
        out += [f"**{rst(tag)}** {rst(c.statement)}", "", ".. math::", "", *_math(c.latex_text()), ""]
        doc = _first_line(c.check)
        out += [f":Check: ``{_where(c.check)}``" + (f" — {rst(doc)}" if doc else ""),
                f":Inputs: {_strategy(c)}", ""]
    for kind, registry in (("Experiments", EXPERIMENTS), ("Sweeps", SWEEPS)):
        items = [x for x in registry.values() if x.paper == pid]
        if not items:
            continue
        out += heading(kind, "-")
        for x in items:
            cmd = "reproduce" if kind == "Experiments" else "sweep"
            out += heading(f"``flowcert {cmd} {x.name}``", "~")
            out += [rst(x.description), "", ".. list-table::", "   :header-rows: 1", "", "   * - key",
                    "     - default"]
            for k, v in x.defaults.items():
                out += [f"   * - ``{k}``", f"     - ``{v!r}``"]
            out.append("")
            for png in sorted((figures / x.name).glob("*.png")):
                out += [f".. figure:: /figures/{x.name}/{png.name}", "   :width: 90%", "",
                        f"   ``{png.name}`` of ``flowcert {cmd} {x.name}`` at the defaults above.", ""]
    return "\n".join(out) + "\n"


def generate(app) -> None:
    src = Path(app.srcdir)
    target = src / "_generated" / "papers"
    target.mkdir(parents=True, exist_ok=True)
    wanted = {f"{pid}.rst": paper_page(pid, src / "figures") for pid in papers()}
    for old in target.glob("*.rst"):
        if old.name not in wanted:
            old.unlink()
    for name, text in wanted.items():
        path = target / name
        if not path.exists() or path.read_text() != text:  # unchanged pages keep their mtime: no rebuild
            path.write_text(text)


def setup(app):
    app.connect("builder-inited", generate)
    return {"version": "1", "parallel_read_safe": True}
