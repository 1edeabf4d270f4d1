"""``flowcert latex``: a standalone document of every derived formula, claim ids beside them."""
from __future__ import annotations



from ._registry import CLAIMS, PAPERS, load

_PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage{amsmath,amssymb}
\allowdisplaybreaks
\setlength{\textwidth}{6.5in}\setlength{\oddsidemargin}{0in}\setlength{\evensidemargin}{0in}
\title{flowcert: derived formulas}
\date{}
\begin{document}
\maketitle
\noindent Every formula below was derived or evaluated by SymPy from the model's loss; claim ids
(\texttt{paper.section.slug}) name the statements \texttt{flowcert verify} checks.
"""


def _tt(s: str) -> str:
    return r"\texttt{" + s.replace("_", r"\_").replace("#", r"\#") + "}"


def _eq(body: str, tag: str | None = None) -> str:
    lab = f"\\quad\\text{{{_tt(tag)}}}" if tag else ""
    return f"\\begin{{equation}}\n{body}{lab}\n\\end{{equation}}\n"


def _claims(paper: str) -> str:
    out = [r"\subsection{Claims}"]
    for c in CLAIMS.values():
        if c.paper != paper:
            continue
        out.append(f"\\paragraph{{{_tt(c.id)}}} [{c.provenance}] {_text(c.statement)}\n")
        out.append(_eq(c.latex_text()))
    return "\n".join(out)


def _text(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("^", r"\^{}"), ("&", r"\&"), ("%", r"\%"),
                 ("#", r"\#"), ("~", r"\~{}"), ("<=", r"$\le$"), (">=", r"$\ge$")):
        s = s.replace(a, b)
    return s


def _section(paper: str) -> str:
    """A paper's derived formulas: ``latex_section()`` of its claims module, if it has one."""
    import importlib
    mod = importlib.import_module(PAPERS[paper][0])
    make = getattr(mod, "latex_section", None)
    return make() if make else ""


def document(papers=None) -> str:
    load(papers)
    body = [_PREAMBLE]
    for p in papers or PAPERS:
        body.append(_section(p))
        body.append(_claims(p))
    body.append(r"\end{document}")
    return "\n".join(body) + "\n"
