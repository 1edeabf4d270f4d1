"""Claims of Marcotte, Gribonval & Peyré (NeurIPS 2023), and the conservation laws of the models of
min2023 and marion2023 (brief: ``shared/theory/conservation-laws.md``).

Every count is exact: the laws are polynomials checked symbolically, and a count is claimed only
where the laws found are *proved* complete (found rank = D - trace dimension, both ranks exact
lower bounds modulo 2^61 - 1 at an integer point; see :mod:`flowcert.theory`)."""
from __future__ import annotations

import math

import sympy as sp
from hypothesis import strategies as st

from flowcert import theory as th
from flowcert.theory import Ddt, Listing, Norm, eq, func, mat, sym

from flowcert.checks._claim import Claim, Verdict
from flowcert.checks._registry import register
from flowcert.checks._runner import options

__all__ = ["claim", "latex_section", "PAPER", "two_layer_count"]

PAPER = "marcotte2023"
PRECISION = "exact (ranks mod 2^61-1 at an integer point)"


def claim(slug, provenance, statement, formula, check, strategy=None, example=None, **kw):
    return register(Claim(f"{PAPER}.{slug}", PAPER, provenance, statement, formula, check, strategy, example, **kw))


def _verdict(bad: list, ok: str) -> Verdict:
    return Verdict(not bad, math.inf if not bad else -math.inf, PRECISION, "; ".join(bad) or ok)


def two_layer_count(n: int, r: int, m: int) -> int:
    """The number of laws of ``U V^T`` (``U`` n x r, ``V`` m x r), derived here: the entries of
    ``U^T U - V^T V = Z^T J Z`` (``Z = [U; V]``, ``J = diag(I_n, -I_m)``) are functionally
    independent exactly when ``r <= n + m``; beyond, ``Z^T J Z`` has rank ``s = n + m`` and ranges
    over the symmetric matrices of rank ``<= s``, a variety of dimension ``s r - s (s - 1) / 2``."""
    s = n + m
    return r * (r + 1) // 2 if r <= s else s * r - s * (s - 1) // 2


# -- the notation of the displayed formulas
N_ = func("N")
n_, r_, m_, d_ = sym("n"), sym("r"), sym("m"), sym("d")


def _formula_exact():
    s = n_ + m_
    return eq(N_(n_, r_, m_), sp.Piecewise((r_ * (r_ + 1) / 2, r_ <= s), (s * r_ - s * (s - 1) / 2, True)))


# -- two-layer linear networks ------------------------------------------------------------------
def _two_layer(shape, paper_regime: bool):
    n, r, m = shape
    res = th.conservation_laws(th.linear_model((n, r, m)))
    want = r * (r + 1) // 2 if paper_regime else two_layer_count(n, r, m)
    bad = []
    if not res.complete:
        bad.append(f"{shape}: not proved complete ({res.verdict()})")
    if res.independent_laws != want:
        bad.append(f"{shape}: {res.independent_laws} laws, expected {want}")
    if any(w.family != "imbalance" for w in res.found):
        bad.append(f"{shape}: a law beyond the imbalance entries")
    return _verdict(bad, f"{shape}: D = {res.parameters}, trace {res.trace_dim}, {res.independent_laws} laws, "
                         f"all imbalance entries (rank {res.found_rank}), complete")


_small = st.integers(1, 4)

claim("linear.two-layer-count", "paper",
      "Two-layer linear U V^T with n, m >= r: exactly r(r+1)/2 independent conservation laws, all functions of "
      "U^T U - V^T V; the set is proved complete on every drawn shape.",
      eq(N_(n_, r_, m_), r_ * (r_ + 1) / 2),
      lambda s: _two_layer(s, True),
      st.integers(1, 3).flatmap(lambda r: st.tuples(st.integers(r, r + 2), st.just(r), st.integers(r, r + 2))),
      examples={"quick": 6, "standard": 20, "deep": 60},
      tex=r"Two-layer linear network $U V^{T}$ with $n, m \ge r$: exactly $r(r+1)/2$ independent "
          r"conservation laws, all functions of $U^{T} U - V^{T} V$; the set found is proved complete on "
          r"every drawn shape.")

claim("linear.two-layer-exact", "derived",
      "Two-layer linear U V^T, any n, m, r: the count is r(r+1)/2 when r <= n + m and (n+m) r - (n+m)(n+m-1)/2 "
      "beyond (the imbalance entries become dependent, e.g. 5 laws for widths (1, 3, 1), not 6); proved "
      "complete on every drawn shape.",
      _formula_exact,
      lambda s: _two_layer(s, False),
      st.tuples(_small, st.integers(1, 6), _small),
      examples={"quick": 8, "standard": 30, "deep": 100},
      tex=r"Two-layer linear network $U V^{T}$, any $n$, $m$, $r$: the count is $r(r+1)/2$ when "
          r"$r \le n + m$ and $(n+m) r - (n+m)(n+m-1)/2$ beyond, where the imbalance entries become "
          r"dependent (5 laws for widths $(1, 3, 1)$, not 6); proved complete on every drawn shape.")


def _rotation(_):
    res = th.conservation_laws(th.linear_model((1, 2, 1)), degree=2, exhaust=True)
    a1, a2, b1, b2 = th.linear_model((1, 2, 1)).params
    p11, p12, p22 = a1**2 - b1**2, a1 * a2 - b1 * b2, a2**2 - b2**2
    c = a1 * b2 - a2 * b1
    bad = []
    quadratic = len(th.search_laws(th.linear_model((1, 2, 1)), 2))
    if quadratic != 4:
        bad.append(f"{quadratic} linearly independent quadratic laws, expected 4")
    if (res.independent_laws, res.found_rank, res.complete) != (3, 3, True):
        bad.append(res.verdict())
    if not any(sp.expand(w.expr - c) == 0 or sp.expand(w.expr + c) == 0 for w in res.dependent):
        bad.append("the rotation charge is not among the dependent laws")
    if sp.expand(c**2 - (p12**2 - p11 * p22)) != 0:
        bad.append("c^2 != p12^2 - p11 p22")
    return _verdict(bad, "4 quadratic laws (linearly independent), 3 functionally: c^2 = p12^2 - p11 p22 exactly")


_a1, _a2, _b1, _b2 = sym("a_{1}"), sym("a_{2}"), sym("b_{1}"), sym("b_{2}")
_c = _a1 * _b2 - _a2 * _b1
_p = {k: sym(f"p_{{{k}}}") for k in ("11", "12", "22")}

claim("linear.rotation-charge", "derived",
      "Widths (1, 2, 1): 4 linearly independent quadratic laws but 3 independent ones: the rotation charge "
      "c = a1 b2 - a2 b1 satisfies c^2 = p12^2 - p11 p22 in the imbalance entries p = a a^T - b b^T.",
      Listing(eq(sym("c"), _c), eq(sym("c") ** 2, _p["12"] ** 2 - _p["11"] * _p["22"])),
      _rotation,
      tex=r"Widths $(1, 2, 1)$, $W_1 = a^{T}$, $W_2 = b$: 4 linearly independent quadratic laws but 3 "
          r"functionally independent ones; the rotation charge $c$ is a function of the imbalance entries "
          r"$p = a a^{T} - b b^{T}$.")


# -- two-layer ReLU networks --------------------------------------------------------------------
def _relu(shape):
    d, m = shape
    res = th.conservation_laws(th.relu_model(d, m), degree=2, exhaust=True)
    bad = []
    if (res.independent_laws, res.complete) != (m, True):
        bad.append(f"d={d}, m={m}: {res.verdict()}")
    if [w.family for w in res.found] != ["neuron norm"] * m:
        bad.append(f"d={d}, m={m}: found {[w.label for w in res.found]}")
    return _verdict(bad, f"d={d}, m={m}: {m} laws, the neuron norms, complete; {len(res.dependent)} more "
                         f"quadratic laws, all functions of them")


claim("relu.one-per-neuron", "paper",
      "Two-layer ReLU network (on an activation region), m neurons: exactly m independent laws, "
      "||u_j||^2 - v_j^2, and no other (proved complete; the quadratic search finds nothing independent).",
      Listing(eq(N_(d_, m_), m_), eq(sym("h_{j}"), Norm(mat("u_{j}", 2, 1)) ** 2 - sym("v_{j}") ** 2)),
      _relu, st.tuples(_small, _small), examples={"quick": 5, "standard": 16, "deep": 40},
      tex=r"Two-layer ReLU network on an activation region, $m$ neurons with input weights $u_j$ and output "
          r"weights $v_j$: exactly $m$ independent laws, $\|u_j\|^2 - v_j^2$, and no other (proved "
          r"complete; the quadratic search finds nothing independent).")


# -- deep linear networks (min2023) -------------------------------------------------------------
#: shapes of depth 3 and 4, and the laws beyond the imbalance entries each has
DEEP = {(1, 1, 1, 1): 0, (1, 2, 1, 1): 0, (2, 1, 2, 1): 0, (2, 2, 1, 2): 0, (2, 2, 2, 2): 0, (3, 2, 2, 3): 0,
        (1, 2, 2, 1): 1, (1, 1, 1, 1, 1): 0, (1, 2, 1, 2, 1): 0, (2, 2, 2, 2, 2): 0}


def _deep(_):
    degree = 6 if options().profile == "quick" else 8
    bad, parts = [], []
    for shape, extra in DEEP.items():
        res = th.conservation_laws(th.linear_model(shape), degree=degree if extra else 0)
        imbalance = sum(w.family == "imbalance" for w in res.found)
        if extra == 0 and not res.complete:
            bad.append(f"{shape}: {res.verdict()}")
        if extra and (res.complete or res.missing != extra or res.trace_dim != 1):
            bad.append(f"{shape}: expected {extra} law(s) beyond the imbalance absent up to degree {degree}: "
                       f"{res.verdict()}")
        parts.append(f"{shape}: {res.independent_laws} laws, {imbalance} from the imbalance"
                     + (f", {res.missing} not polynomial of degree <= {degree}" if not res.complete else ""))
    return _verdict(bad, "; ".join(parts))


claim("linear.deep", "derived",
      "Deep linear networks (min2023), depths 3 and 4: the imbalance entries are all the laws on every shape "
      "tried (proved complete) except the scalar-output (1, 2, 2, 1), which has 7 laws: the 6 imbalance "
      "entries and one that is no polynomial of degree <= 8 (6 on the quick profile).",
      Listing(eq(func("N")(1, 2, 2, 1), 7), eq(sym(r"\operatorname{rank} \partial D"), 6)),
      _deep,
      tex=r"Deep linear networks of min2023, depths 3 and 4: the imbalance entries are all the laws on every "
          r"shape tried (proved complete), except the scalar-output widths $(1, 2, 2, 1)$: $D = 8$, a "
          r"one-dimensional trace, so 7 laws, of which the 6 imbalance entries give rank 6 and the seventh "
          r"is no polynomial of degree $\le 8$ ($\le 6$ on the quick profile).")


# -- marion2023's two-timescale network -------------------------------------------------------
def _shallow(_):
    bad, parts = [], []
    for m in (1, 2):
        for eps in (sp.Integer(1), sp.Rational(1, 50), sp.Rational(1, 10**4)):
            res = th.conservation_laws(th.shallow_model(m, eps))
            if (res.independent_laws, res.complete) != (0, True):
                bad.append(f"m={m}, eps={eps}: {res.verdict()}")
        parts.append(f"m={m}: no law for eps = 1, 1/50, 1e-4")
    lim = th.conservation_laws(th.shallow_limit_model(), degree=3)
    dL, dR = th.shallow_limit_model().params
    if not (lim.complete and len(lim.found) == 1 and sp.expand(lim.found[0].expr - (dL**3 - dR**3)) == 0
            and lim.found[0].degree == 3):
        bad.append(f"limit: {lim.verdict()} {[w.expr for w in lim.found]}")
    parts.append("limit: exactly one law, d_L^3 - d_R^3 (degree 3; none of degree 1 or 2)")
    return _verdict(bad, "; ".join(parts))


claim("shallow.two-timescale", "derived",
      "marion2023's network with the two-timescale metric diag(1, eps) (slow u) has no conservation law on an "
      "activation region, for eps = 1, 1/50, 1e-4 (trace of full dimension); its eps -> 0 limit at a "
      "discontinuity has exactly one, d_L^3 - d_R^3, found at degree 3.",
      Listing(eq(func(r"N_{\varepsilon}")(m_), 0),
              eq(Ddt(sym("d_{L}") ** 3 - sym("d_{R}") ** 3, sym(r"\tau")), 0)),
      _shallow,
      tex=r"marion2023's network with the two-timescale metric $M = \operatorname{diag}(1, \varepsilon)$ "
          r"(slow $u$) has no conservation law on an activation region, for $\varepsilon = 1, 1/50, 10^{-4}$ "
          r"(the trace has full dimension); its $\varepsilon \to 0$ limit at a discontinuity has exactly "
          r"one, found at degree 3 (none at degrees 1 and 2).")


# -- LaTeX export -------------------------------------------------------------------------------
def latex_section() -> str:
    from flowcert.checks.export import show
    out = [r"\section{marcotte2023: Marcotte, Gribonval, Peyr\'e (NeurIPS 2023)}",
           r"The number of independent conservation laws is \(D\) minus the dimension of the trace of the Lie "
           r"algebra generated by the fields \(M \nabla \varphi_i\); flowcert finds polynomial laws, checks each "
           r"exactly, and proves a set complete when its Jacobian rank equals that number.",
           r"\subsection{Two-layer linear networks}",
           r"The count, derived here for every shape (the paper's \(r(r+1)/2\) when \(r \le n + m\)):"]
    out.append(show(_formula_exact(), "marcotte2023.linear.two-layer-exact"))
    res = th.conservation_laws(th.linear_model((1, 2, 1)), degree=2, exhaust=True)
    out.append(r"Widths \((1, 2, 1)\): the imbalance entries, then the rotation charge, a function of them:")
    for w in res.found + res.dependent:
        out.append(show(w.shown(), "marcotte2023.linear.rotation-charge"))
    out.append(r"\subsection{Two-layer ReLU networks}")
    for w in th.conservation_laws(th.relu_model(2, 2)).found:
        out.append(show(w.shown(), "marcotte2023.relu.one-per-neuron"))
    out.append(r"\subsection{The marion2023 limit}")
    for w in th.conservation_laws(th.shallow_limit_model(), degree=3).found:
        out.append(show(w.shown(), "marcotte2023.shallow.two-timescale"))
    return "\n".join(out)
