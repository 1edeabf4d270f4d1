"""``flowcert latex``: a standalone document of every derived formula, claim ids beside them.

Sections come from each paper's ``latex_section()``, which writes prose and shows formulas with
:func:`show`. A formula is always a SymPy object printed by :func:`flowcert.theory.latex` -- a
relation, a chain, a listing, or an expression -- and :func:`show` records it with its source so
that ``latex --roundtrip`` can parse the text back and compare (:func:`check_roundtrip`).

Long formulas are broken over lines (``split`` inside ``equation``), at the top-level relations,
list separators and sums; nothing is scaled. Everything emitted needs only ``amsmath`` and
``amssymb``.
"""
from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass

from ._registry import CLAIMS, load, paper, paper_ids

__all__ = ["Formula", "PACKAGES", "check_roundtrip", "document", "formulas", "roundtrip", "show", "snippet",
           "tex_text", "tt", "width"]

#: the only packages anything flowcert emits needs
PACKAGES = ("amsmath", "amssymb")

_PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage{amsmath,amssymb}
\allowdisplaybreaks
\sloppy
\setlength{\textwidth}{6.5in}\setlength{\oddsidemargin}{0in}\setlength{\evensidemargin}{0in}
\title{flowcert: derived formulas}
\date{}
\begin{document}
\maketitle
\noindent Every formula below is printed from the SymPy object it was derived or stated as;
the claim ids (\texttt{paper.section.slug}) name the statements \texttt{flowcert verify} checks.
"""

#: the estimated width (in characters of math, :func:`width`) a displayed line may take: 6.5 in at
#: 10 pt holds about 66 (measured on the overfull boxes pdflatex reported); a few kept in reserve
LINE = 62


@dataclass(frozen=True)
class Formula:
    """One displayed formula: its LaTeX as exported, the SymPy object printed, the claim it shows."""

    paper: str
    latex: str
    source: object = None
    tag: str | None = None


_SINK: contextvars.ContextVar[list | None] = contextvars.ContextVar("flowcert_latex_sink", default=None)
_PAPER: contextvars.ContextVar[str] = contextvars.ContextVar("flowcert_latex_paper", default="")


def tt(s: str) -> str:
    return r"\texttt{" + s.replace("_", r"\_").replace("#", r"\#") + "}"


def width(tex: str) -> int:
    """A rough width of printed math in characters: sub- and superscripts count two thirds, both
    parts of a fraction count (an over-estimate, so that a line breaks early rather than late)."""
    t = re.sub(r"\\(?:left|right)(?![a-zA-Z])", "", tex)
    t = re.sub(r"\\operatorname\{(\w+)\}|\\text\{([^{}]*)\}", lambda m: m.group(1) or m.group(2), t)
    t = re.sub(r"\\(?:mathcal|mathrm|bar|tilde|hat|mathbb)\{(\w)\}", r"\1", t)
    t = re.sub(r"\\[a-zA-Z]+", "x", t)
    scripts = 0
    for m in re.finditer(r"[_^]\{([^{}]*)\}", t):
        scripts += len(re.sub(r"[{}\s]", "", m.group(1)))
    t = re.sub(r"[_^]\{[^{}]*\}", "", t)
    ops = len(re.findall(r" [-+=<>] |x", t))  # binary operators and relations carry space
    return len(re.sub(r"[{}\s]", "", t)) + (2 * scripts) // 3 + ops // 2


def _units(obj) -> list:
    """``obj`` one level down, where a line may break: ``(prefix, part, suffix)`` with ``part`` a
    SymPy object (which may be split further) or a string (which may not). Joined, they print as
    ``latex(obj)`` up to spacing."""
    import sympy as sp
    from flowcert.theory import Chain, Listing
    from flowcert.theory._notation import _Rel, _op
    from flowcert.theory._printing import add_terms
    if isinstance(obj, Listing):
        n = len(obj.args)
        return [("", a, r",\quad" if k < n - 1 else "") for k, a in enumerate(obj.args)]
    rels = obj.args if isinstance(obj, Chain) else (obj,) if isinstance(obj, (sp.core.relational.Relational, _Rel)) \
        else None
    if rels:
        return [("", rels[0].lhs, "")] + [(_op(None, r) + " ", r.rhs, "") for r in rels]
    if isinstance(obj, (sp.Add, sp.MatAdd)) and not obj.has(sp.Piecewise):
        return [("", t, "") for t in add_terms(obj)]
    return []


def _layout(obj) -> str:
    """``latex(obj)``, or a ``split`` of lines within :data:`LINE`, broken at the coarsest level
    that fits: list items first, then relations, then the terms of a sum."""
    from flowcert.theory import latex
    whole = latex(obj)
    # a cases block stacks its rows; its width is a row's, and split cannot break inside it
    if width(whole) <= LINE or r"\begin{cases}" in whole:
        return whole
    lines, cur = [], ""
    todo = [("", obj, "")]
    while todo:
        pre, part, post = todo.pop(0)
        text = pre + (part if isinstance(part, str) else latex(part)) + post
        room = LINE if not lines else LINE - 4  # continuation lines are indented by a quad
        if width(f"{cur} {text}") <= room:
            cur = f"{cur} {text}".strip()
            continue
        sub = [] if isinstance(part, str) else _units(part)
        if width(text) > room and sub:
            # too long for a line of its own: split it one level down, in place
            sub[0] = (pre + sub[0][0], sub[0][1], sub[0][2])
            sub[-1] = (sub[-1][0], sub[-1][1], sub[-1][2] + post)
            todo[:0] = sub
            continue
        if cur:
            lines.append(cur)
        cur = text
    lines.append(cur)
    if len(lines) == 1:
        return whole
    # a list separator at a line end needs no space after it
    lines = [ln[: -len(r"\quad")] if ln.endswith(r",\quad") else ln for ln in lines]
    return "\\begin{split}\n& " + " \\\\\n&\\quad ".join(lines) + "\n\\end{split}"


def show(obj, tag: str | None = None, numbered: bool = True) -> str:
    """A displayed formula printed from ``obj``, with the claim it belongs to named above it;
    recorded for the round trip."""
    body = _layout(obj)
    sink = _SINK.get()
    if sink is not None:
        sink.append(Formula(_PAPER.get(), body, obj, tag))
    env = "equation" if numbered else "equation*"
    head = f"\n\\noindent{{\\small checked by {tt(tag)}}}\n" if tag else ""
    return f"{head}\\begin{{{env}}}\n{body}\n\\end{{{env}}}\n"


def tex_text(s: str) -> str:
    """Plain text safe in LaTeX (for a statement that has no LaTeX of its own)."""
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("^", r"\^{}"), ("&", r"\&"), ("%", r"\%"),
                 ("#", r"\#"), ("~", r"\~{}"), ("$", r"\$"), ("{", r"\{"), ("}", r"\}"), ("<=", r"$\le$"),
                 (">=", r"$\ge$")):
        s = s.replace(a, b)
    return s


def _statement(c) -> str:
    return c.tex or tex_text(c.statement)


def _claims(pid: str) -> str:
    out = [r"\subsection{Claims}"]
    for c in CLAIMS.values():
        if c.paper == pid:
            out.append(f"\\paragraph{{{tt(c.id)}}} [{c.provenance}] {_statement(c)}\n")
            f = c.source()
            if f is not None:
                out.append(show(f, None))
                sink = _SINK.get()
                if sink:  # the claim's own formula: tagged with it for the round trip's report
                    sink[-1] = Formula(sink[-1].paper, sink[-1].latex, f, c.id)
    return "\n".join(out)


def _section(pid: str) -> str:
    """A paper's derived formulas (:meth:`Paper.latex_section`); a heading for a paper known only
    from claims registered in-process."""
    p = paper(pid)
    if p is None:
        return f"\\section{{{tex_text(pid)}}}\n"
    return p.latex_section() or f"\\section{{{tex_text(pid)}: {tex_text(p.citation)}}}\n"


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
    """Every displayed formula of :func:`document`, with the SymPy object it was printed from."""
    sink: list = []
    token = _SINK.set(sink)
    try:
        _body(papers)
    finally:
        _SINK.reset(token)
    return sink


def snippet(claims) -> str:
    """LaTeX of the given claims (:class:`Claim` objects or ids) to paste into a paper: it compiles
    in a plain ``article`` with ``amsmath`` and ``amssymb`` (:data:`PACKAGES`)."""
    out = [f"% flowcert {_version()}: needs \\usepackage{{{','.join(PACKAGES)}}} and no other package\n"]
    for c in claims:
        c = CLAIMS[c] if isinstance(c, str) else c
        # \sloppy: a claim id or inline formula cannot hyphenate; let the spaces stretch instead
        out.append(f"% {c.id} [{c.provenance}]: {c.statement}\n"
                   f"{{\\sloppy\\noindent\\textbf{{{tt(c.id)}}} [{c.provenance}]\\\\\n{_statement(c)}\\par}}\n")
        f = c.source()
        if f is not None:
            out.append(show(f, None, numbered=False))
    return "\n".join(out)


def _version() -> str:
    from flowcert import __version__
    return __version__


def roundtrip(papers=None) -> list[tuple[Formula, str, str]]:
    """:func:`check_roundtrip` over every formula of the papers' document."""
    return check_roundtrip(formulas(papers))


VERDICTS = ("equal", "differs", "unreadable", "no_source")


def check_roundtrip(fs) -> list[tuple[Formula, str, str]]:
    """Parse each exported formula back (:func:`flowcert.theory.parse`, which reads the subset the
    package prints) and compare it with the SymPy object it was printed from, relation included.
    Returns ``(formula, verdict, note)``, verdict one of :data:`VERDICTS`: ``unreadable`` means
    the parser could not read it, ``no_source`` that it has no SymPy object."""
    from flowcert.theory import ParseError, compare, parse
    res = []
    for f in fs:
        if f.source is None:
            res.append((f, "no_source", "no SymPy object"))
            continue
        try:
            parsed = parse(f.latex, f.source)
        except ParseError as e:
            res.append((f, "unreadable", str(e).splitlines()[0][:100]))
            continue
        note = compare(parsed, f.source)
        res.append((f, "differs" if note else "equal", note[:160]))
    return res
