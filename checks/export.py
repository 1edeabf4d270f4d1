"""``flowcert latex``: a standalone document of every derived formula, claim ids beside them.

Sections come from each paper's claims module (``latex_section()``), which writes its formulas
with :func:`eq`. ``eq`` also records each formula with the SymPy object it was printed from, so
tests can parse the LaTeX back and compare (:func:`formulas`).
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass

from ._registry import CLAIMS, load, paper, paper_ids

__all__ = ["Formula", "check_roundtrip", "document", "eq", "formulas", "roundtrip", "snippet", "sym_eq", "tt"]

_PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage{amsmath,amssymb,graphicx}
\allowdisplaybreaks
% shrink a formula to #1 of the line width only when it is wider than that
\newsavebox{\fcbox}
\newcommand{\fit}[2]{\sbox{\fcbox}{$\displaystyle #2$}%
  \ifdim\wd\fcbox>#1\linewidth\resizebox{#1\linewidth}{!}{\usebox{\fcbox}}\else\usebox{\fcbox}\fi}
\setlength{\textwidth}{6.5in}\setlength{\oddsidemargin}{0in}\setlength{\evensidemargin}{0in}
\title{flowcert: derived formulas}
\date{}
\begin{document}
\maketitle
\noindent Every formula below was derived or evaluated by SymPy from the model's loss; claim ids
(\texttt{paper.section.slug}) name the statements \texttt{flowcert verify} checks.
"""

#: longer bodies are scaled to the line width rather than running off the page
_LONG = 110


@dataclass(frozen=True)
class Formula:
    """One exported equation: its LaTeX, and where known the SymPy object and symbol names it was
    printed from (``rhs`` is the printed part when the body is ``lhs = rhs``)."""

    paper: str
    latex: str
    tag: str | None = None
    expr: object = None
    names: tuple = ()
    rhs: str | None = None


_SINK: contextvars.ContextVar[list | None] = contextvars.ContextVar("flowcert_latex_sink", default=None)
_PAPER: contextvars.ContextVar[str] = contextvars.ContextVar("flowcert_latex_paper", default="")


def tt(s: str) -> str:
    return r"\texttt{" + s.replace("_", r"\_").replace("#", r"\#") + "}"


def eq(body: str, tag: str | None = None, expr=None, names: dict | None = None, rhs: str | None = None) -> str:
    """A numbered equation with an optional claim id beside it; recorded for the round trip.

    ``expr`` is the SymPy object printed as ``rhs`` (the whole ``body`` by default)."""
    sink = _SINK.get()
    if sink is not None:
        sink.append(Formula(_PAPER.get(), body, tag, expr, tuple((names or {}).items()), rhs))
    lab = f"\\quad\\text{{{tt(tag)}}}" if tag else ""
    if len(body) > _LONG:
        width = "0.62" if tag else "0.92"  # leave room for the claim id beside it
        return f"\\begin{{equation}}\n\\fit{{{width}}}{{{body}}}{lab}\n\\end{{equation}}\n"
    return f"\\begin{{equation}}\n{body}{lab}\n\\end{{equation}}\n"


def sym_eq(lhs: str, expr, tag: str | None = None, names: dict | None = None) -> str:
    """``lhs = <expr printed>`` recorded with its SymPy source, so the round trip can check it."""
    from flowcert.theory import latex
    rhs = latex(expr, names)
    return eq(f"{lhs} = {rhs}" if lhs else rhs, tag, expr, names, rhs)


# the names the first paper modules used
_eq, _tt = eq, tt


def _text(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("^", r"\^{}"), ("&", r"\&"), ("%", r"\%"),
                 ("#", r"\#"), ("~", r"\~{}"), ("<=", r"$\le$"), (">=", r"$\ge$")):
        s = s.replace(a, b)
    return s


def _claims(paper: str) -> str:
    out = [r"\subsection{Claims}"]
    for c in CLAIMS.values():
        if c.paper == paper:
            out.append(f"\\paragraph{{{tt(c.id)}}} [{c.provenance}] {_text(c.statement)}\n")
            out.append(eq(c.latex_text(), c.id))
    return "\n".join(out)


def _section(pid: str) -> str:
    """A paper's derived formulas (:meth:`Paper.latex_section`); a heading for a paper known only
    from claims registered in-process."""
    p = paper(pid)
    if p is None:
        return f"\\section{{{_text(pid)}}}\n"
    return p.latex_section() or f"\\section{{{_text(pid)}: {_text(p.citation)}}}\n"


def _body(papers) -> list[str]:
    papers = list(papers or paper_ids())
    load(papers, "claims")
    out = []
    for p in papers:
        token = _PAPER.set(p)
        try:
            out.append(_section(p))
            out.append(_claims(p))
        finally:
            _PAPER.reset(token)
    return out


def document(papers=None) -> str:
    """The standalone document for ``papers`` (all registered papers by default)."""
    return "\n".join([_PREAMBLE, *_body(papers), r"\end{document}"]) + "\n"


def formulas(papers=None) -> list[Formula]:
    """Every equation of :func:`document`, with its SymPy source where it has one."""
    sink: list = []
    token = _SINK.set(sink)
    try:
        _body(papers)
    finally:
        _SINK.reset(token)
    return sink


def snippet(claim_ids) -> str:
    """Bare LaTeX of the named claims, to paste into a paper (amsmath)."""
    load([c.split(".")[0] for c in claim_ids], "claims")
    out = []
    for cid in claim_ids:
        if cid not in CLAIMS:
            from ._experiment import UsageError
            raise UsageError(f"--claim {cid}: no such claim (see 'flowcert list')")
        c = CLAIMS[cid]
        out.append(f"% {c.id} [{c.provenance}]: {c.statement}\n" + eq(c.latex_text()))
    return "\n".join(out)


def roundtrip(papers=None) -> list[tuple[Formula, str, str]]:
    """:func:`check_roundtrip` over every formula of the papers' document."""
    return check_roundtrip(formulas(papers))


def check_roundtrip(fs) -> list[tuple[Formula, str, str]]:
    """Parse each exported formula back (``sympy.parsing.latex``, lark backend) and compare with
    the SymPy object it was printed from. Returns ``(formula, verdict, note)`` with verdict one of
    ``equal``, ``differs``, ``unreadable`` (the parser cannot read it) or ``no source`` (written by
    hand, or a matrix formula: the parser reads scalars only)."""
    import sympy as sp
    from sympy.parsing.latex import parse_latex
    from flowcert.theory import latex

    def parse(text):
        out = parse_latex(text, backend="lark")
        if not isinstance(out, sp.Basic):
            raise ValueError("ambiguous parse")
        return out

    res = []
    for f in fs:
        if f.expr is None or isinstance(f.expr, sp.MatrixExpr) or getattr(f.expr, "is_Matrix", False) \
                or f.expr.has(sp.MatrixSymbol):
            res.append((f, "no source", "hand-written" if f.expr is None else "matrix formula"))
            continue
        names = dict(f.names)
        try:
            parsed = parse(f.rhs or f.latex)
            # the parser names symbols after their LaTeX; map each back to its source symbol
            back = {parse(latex(s, names)): s for s in f.expr.free_symbols}
            back.setdefault(sp.Symbol("e"), sp.E)  # SymPy prints exp(x) as e^{x}
            diff = sp.simplify(parsed.xreplace(back) - f.expr)
        except Exception as e:  # the parser's grammar is narrower than LaTeX's
            res.append((f, "unreadable", f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"))
            continue
        res.append((f, "equal" if diff == 0 else "differs", "" if diff == 0 else str(diff)[:120]))
    return res
