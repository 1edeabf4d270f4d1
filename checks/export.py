"""``flowcert latex``: a standalone document of every derived formula, claim ids beside them."""
from __future__ import annotations

import sympy as sp

import theory as th

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


def _min2023() -> str:
    out = [r"\section{min2023: Min, Vidal, Mallada (ICML 2023)}"]
    net3 = th.LinearNetwork(3)
    out.append(r"\subsection{Model and gradient flow}")
    out.append(_eq(r"\mathcal{L}(W_1, \dots, W_L) = " + th.latex(th.LinearNetwork(2).loss).replace(
        "W_{1} W_{2}", r"W_{1} \cdots W_{L}"), None))
    for L in (2, 3):
        net = th.LinearNetwork(L)
        for w, f in net.flow.items():
            out.append(_eq(f"\\frac{{d {th.latex(w)}}}{{dt}} = {th.latex(f)}", "min2023.d1.gradient-formula"))
    out.append(r"\subsection{Conserved imbalance}")
    for l in (1, 2):
        out.append(_eq(f"D_{{{l}}} = {th.latex(net3.imbalance(l))}"))
    from theory._linear import _ddt
    raw = _ddt(sp.expand(net3.imbalance(1)), net3.flow)
    out.append(r"Substituting the flow (\(L = 3\), \(l = 1\)) gives terms that cancel in pairs:")
    out.append(_eq(r"\frac{dD_1}{dt} = " + th.latex(raw) + " = 0", "min2023.lemma2.conservation-symbolic"))
    out.append(_eq(r"D_l(k+1) - D_l(k) = \eta^2 \big(G_l^{T} G_l - G_{l+1} G_{l+1}^{T}\big)",
                   "min2023.gd.exact-identity"))
    out.append(r"\subsection{Quadratic invariants found by search}")
    from .min2023 import INVARIANT_SHAPES
    for depth, shape in INVARIANT_SHAPES:
        r = th.linear_network_invariants(depth, shape)
        out.append(f"Depth {depth}, widths {shape}: dimension {r.dim}, of which the imbalance entries span "
                   f"{r.imbalance_rank}; other invariants: {'none' if not r.others else ''}\n")
        for o in r.others:
            out.append(_eq(th.latex(o.expr) if not isinstance(o.expr, str) else o.expr,
                           "min2023.lemma2.invariant-search"))
    out.append(r"\subsection{Rate bounds}")
    bounds = [th.lambda_min_T(3), th.two_layer_closed_form(), th.balanced(3), th.delta_two_layer(),
              th.lemma3_rhs(), th.alpha2(), th.alpha2(printed=True), th.g_three_layer(), th.delta_star(),
              th.delta_star(appendix=True), th.theorem3_unimodal(4, 2), th.theorem3_homogeneous(3, 3)]
    for b in bounds:
        out.append(f"\\paragraph{{{_tt(b.name)}}} {b.label.replace('_', ' ')}.\n")
        out.append(_eq(b.latex()))
        for d in b.latex_definitions():
            out.append(_eq(d))
    return "\n".join(out)


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


SECTIONS = {"min2023": _min2023}


def document(papers=None) -> str:
    load(papers)
    body = [_PREAMBLE]
    for p in papers or PAPERS:
        body.append(SECTIONS[p]())
        body.append(_claims(p))
    body.append(r"\end{document}")
    return "\n".join(body) + "\n"
