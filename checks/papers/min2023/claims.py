"""Claims of Min, Vidal & Mallada (ICML 2023), "On the Convergence of Gradient Flow on Multi-layer
Linear Models". Formulas, parameters and typos: ``shared/theory/min2023.md``.

Float64 claims compare quantities whose rounding errors are bounded by the tolerances of
:mod:`flowcert.checks._tol`; every tolerance names the error it covers.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from flowcert import theory as th
from flowcert.theory import (MIN, Approx, Chain, Ddt, Eig, Listing, Norm, Partial, Sing, eq, func, ge, gt, le, lt,
                             mat, sym)
from flowcert.numerics import Evaluator, asarray, compile_matrix, eigenvalues, solve, workdps

from flowcert.checks import strategies as S
from flowcert.checks._claim import Claim, Verdict
from flowcert.checks._registry import register
from flowcert.checks._runner import options
from flowcert.checks._tol import EPS, eig_tol

__all__ = ["at_least", "bound", "certified_or", "claim", "DEPTHS", "depths", "equal", "exact", "FLOW_REL",
           "GD_RUNS", "INVARIANT_SHAPES", "lam_min_T", "latex_section", "mpmath_exp", "net", "PAPER",
           "values"]

PAPER = "min2023"


@lru_cache(maxsize=None)
def net(depth: int) -> th.LinearNetwork:
    return th.LinearNetwork(depth)


@lru_cache(maxsize=None)
def bound(name: str, *args, **flags):
    return getattr(th, name)(*args, **flags)


# -- the notation of the displayed formulas (each claim's formula is a SymPy object built from it)
LOSS, LOSS_S, LOSS_A = func(r"\mathcal{L}"), sym(r"\mathcal{L}"), func(r"\mathcal{L}_{\mathrm{A}}")
IM = func(r"\operatorname{Im}")
t_, k_, l_, i_, h_, L_ = (sym(x) for x in "tklihL")
eta_, eps_, gamma_ = sym(r"\eta"), sym(r"\epsilon"), th.gamma
#: gamma of the envelopes exp(-alpha gamma t) L(0): the squared loss's, from theory (2)
GAMMA = int(th.SQUARED_LOSS[th.gamma])
W_l, W_l1 = mat("W_{l}"), mat("W_{l+1}")
T_MIN = Eig(th.T_OPERATOR, MIN)
DSTAR = th.DELTA_STAR(th.D21_SHOWN, th.D23_SHOWN)
G_, A2, A2_PRINTED = sym("g"), sym(r"\alpha_{2}"), sym(r"\alpha_{2}^{\mathrm{printed}}")
PROD_DTILDE = sp.Product(th.D_TILDE(i_), (i_, 1, L_ - 1))


def GD_IDENTITY():
    """``D_l(k+1) - D_l(k) = eta^2 (G_l^T G_l - G_{l+1} G_{l+1}^T)``, in the paper's notation."""
    G, G1 = mat("G_{l}"), mat("G_{l+1}")
    return eq(mat("D_{l}(k+1)") - mat("D_{l}(k)"), eta_**2 * (G.T * G - G1 * G1.T))


def values(ws, Y=None) -> dict:
    n = net(len(ws))
    d = dict(zip(n.weights, ws))
    if Y is not None:
        d[n.target] = Y
    return d


def claim(slug, provenance, statement, latex, check, strategy=None, example=None, **kw):
    return register(Claim(f"{PAPER}.{slug}", PAPER, provenance, statement, latex, check, strategy,
                          example, **kw))


def _positive(tol: float) -> float:
    return max(float(tol), 1e-300)  # a zero tolerance (exact comparison) still divides


def exact(ok: bool, detail: str = "") -> Verdict:
    return Verdict(bool(ok), math.inf if ok else -math.inf, "exact", detail)


def at_least(lhs: float, rhs: float, tol: float, detail: str = "") -> Verdict:
    """``lhs >= rhs`` up to the rounding error ``tol``; the margin ``(lhs - rhs + tol) / tol`` is how
    far from failing in units of that tolerance (1: equality, >= 0 exactly when it holds)."""
    return Verdict(lhs - rhs >= -tol, (lhs - rhs + tol) / _positive(tol), "float64",
                   detail or f"lhs={lhs:.6g} rhs={rhs:.6g} tol={tol:.2g}")


def equal(a: float, b: float, tol: float, detail: str = "") -> Verdict:
    """``a = b`` up to the rounding error ``tol``; margin ``(tol - |a - b|) / tol`` (1: identical)."""
    return Verdict(abs(a - b) <= tol, (tol - abs(a - b)) / _positive(tol), "float64",
                   detail or f"a={a:.12g} b={b:.12g} |a-b|={abs(a - b):.3g} tol={tol:.3g}")


def lam_min_T(ws) -> tuple[float, float]:
    """``lambda_min(T)`` and the rounding bound of its float64 value."""
    ev = Evaluator(values(ws))
    T = ev.matrix(net(len(ws)).lemma1_operator())
    # LAPACK's smallest eigenvalue, not flowcert's spectral code: the bounds evaluated through
    # that code are compared with a route that does not share it (a reversed order shows)
    return float(np.linalg.eigvalsh(T).min()), eig_tol(T)


# ---------------------------------------------------------------------------------------------
# D.1, Lemma 1, Lemma 2 and the GD identity: exact symbolic statements

DEPTHS = range(2, 7)


def depths(quick_max: int, full_max: int) -> range:
    """Depths of a symbolic claim: the costliest expansions grow fast with L, so the quick profile
    stops earlier; the claim's detail says which depths were shown."""
    return range(2, (quick_max if options().profile == "quick" else full_max) + 1)


def _gradient_formula(_):
    bad = []
    for L in DEPTHS:
        N = net(L)
        for l in range(1, L + 1):
            if sp.expand(N.gradient[l - 1] - N.paper_gradient(l)) != sp.ZeroMatrix(*N.weights[l - 1].shape):
                bad.append(f"L={L}, l={l}: derived != D.1")
    explicit = depths(5, 6)
    for L in explicit:
        shape = tuple(2 if i % 2 == 0 else 1 for i in range(L + 1))  # non-square: catches transposes
        for l in net(L).explicit_gradient_mismatch(shape):
            bad.append(f"L={L}, W{l}: MatrixSymbol derivative != explicit entries on {shape}")
    return exact(not bad, "; ".join(bad) or f"derived = D.1 for L = 2..6, explicit entries agree for "
                                           f"L = 2..{explicit[-1]}")


claim("d1.gradient-formula", "paper",
      "The gradient derived by SymPy from 1/2||Y - W1...WL||^2 equals (D.1) for L = 2..6, and agrees "
      "with entry-by-entry differentiation on concrete shapes.",
      lambda: Listing(*[eq(Partial(LOSS_S, w), net(3).paper_gradient_shown(l + 1))
                       for l, w in enumerate(net(3).weights)]),
      _gradient_formula, example=None,
      tex=r"The gradient SymPy derives from $\mathcal{L} = \frac{1}{2}\|Y - W_1 \cdots W_L\|_F^2$ equals (D.1), $\partial \mathcal{L}/\partial W_l = (W_1 \cdots W_{l-1})^{T} (W - Y) (W_{l+1} \cdots W_L)^{T}$, for $L = 2, \dots, 6$ (shown for $L = 3$), and agrees with entry-by-entry differentiation on concrete shapes.")


def _paper_loss(ws, Y):
    """The paper's loss 1/2 ||Y - W1 ... WL||_F^2 written out in numpy: a route to the gradient
    that shares nothing with theory/'s loss (a dropped 1/2 or a transposed product there shows)."""
    R = Y - _product(ws)
    return 0.5 * (R * R).sum()   # no conjugate: the complex step needs the analytic continuation


def _grad_numeric(ex):
    ws, Y = ex
    N = net(len(ws))
    syms = N.weights + (N.target,)
    h = 1e-30  # complex step: the loss is analytic, so no cancellation and O(h^2) truncation
    worst, tol_all = math.inf, 0.0
    for l, (w, g) in enumerate(zip(N.weights, N.gradient)):
        G = compile_matrix(g, syms)(*ws, Y)
        for idx in np.ndindex(*ws[l].shape):
            pert = [x.astype(complex) for x in ws]
            pert[l][idx] += 1j * h
            fd = _paper_loss(pert, Y.astype(complex)).imag / h
            # both sides are sums of L+1-fold products: rounding <= (terms) * eps * |products|
            scale = float(np.prod([np.abs(x).sum() + 1 for x in ws]) ** 2 * (np.abs(Y).sum() + 1))
            tol = 8 * (len(ws) + 2) * EPS * scale
            worst = min(worst, (tol - abs(fd - G[idx])) / tol)
            tol_all = max(tol_all, tol)
    return Verdict(worst >= 0, worst, "float64", f"complex-step vs derived gradient, tol {tol_all:.2g}")


claim("d1.gradient-numeric", "paper",
      "The derived gradient matches complex-step differentiation of the paper's loss, computed "
      "directly in numpy, on random weights.",
      lambda: Approx(Partial(LOSS_S, sym(r"(W_{l})_{ij}")), IM(LOSS(W_l + sp.I * h_ * mat("E_{ij}"))) / h_),
      _grad_numeric,
      st.integers(2, 4).flatmap(lambda L: S.widths(depth=L)).flatmap(
          lambda w: st.tuples(S.chains(shape=w), S.targets(w[0], w[-1]))),
      tex=r"The derived gradient matches complex-step differentiation of the loss (step $h$, $E_{ij}$ the unit matrix) on random weights.")


def _lemma1(ex):
    ws, Y = ex
    N = net(len(ws))
    ev = Evaluator(values(ws, Y))
    T = ev.matrix(N.lemma1_operator())
    E = ev.matrix(N.residual)
    G = [ev.matrix(g) for g in N.gradient]
    lhs = sum(float((g * g).sum()) for g in G)
    v = E.flatten(order="F")
    rhs = float(v @ T @ v)
    # rounding of both sides is bounded by eps times the same sum of absolute values
    scale = float(np.abs(v) @ np.abs(T) @ np.abs(v)) + sum(float((np.abs(g) ** 2).sum()) for g in G)
    tol = 16 * (T.shape[0] + len(ws)) * EPS * (scale + 1)
    sym = float(np.abs(T - T.T).max())  # kron of Gram matrices: symmetric up to their rounding
    lam = float(eigenvalues(T)[-1])
    ok = abs(lhs - rhs) <= tol and sym <= tol and lam >= -eig_tol(T)
    return Verdict(ok, min((tol - abs(lhs - rhs)) / tol, (tol - sym) / tol), "float64",
                   f"||grad L||^2={lhs:.12g} <T grad f, grad f>={rhs:.12g} asym={sym:.1g} lam_min(T)={lam:.3g}")


claim("lemma1.identity", "paper",
      "dL/dt = -||grad L||^2 = -<T grad f, grad f> with T = sum_l (S_l^T S_l)^T kron P_l P_l^T "
      "symmetric PSD.",
      lambda: eq(th.T_OPERATOR, net(3).lemma1_operator()),
      _lemma1,
      st.integers(2, 4).flatmap(lambda L: S.widths(depth=L)).flatmap(
          lambda w: st.tuples(S.chains(shape=w), S.targets(w[0], w[-1]))),
      tex=r"$\frac{d\mathcal{L}}{dt} = -\|\nabla \mathcal{L}\|_F^2 = -\langle \mathcal{T} \nabla f, \nabla f\rangle$ with $\mathcal{T}$ a sum of Kronecker products, symmetric and positive semi-definite (shown for $L = 3$).")


def _zero_for_every_imbalance(residual: str, what: str, quick_max: int = 6):
    """An exact check: ``net(L).<residual>(l)`` is the zero matrix for every l and depth L."""
    def check(_):
        Ls = depths(quick_max, 6)
        bad = [f"L={L}, D{l}" for L in Ls for l in range(1, L)
               if getattr(net(L), residual)(l) != sp.ZeroMatrix(*net(L).imbalance(l).shape)]
        return exact(not bad, "not zero: " + ", ".join(bad) if bad else f"{what}, L = 2..{Ls[-1]}")
    return check


_conservation = _zero_for_every_imbalance("conservation_residual",
                                          "dD_l/dt simplifies to the zero matrix for every l")


claim("lemma2.conservation-symbolic", "paper",
      "Along the gradient flow dD_l/dt = 0 for D_l = W_l^T W_l - W_{l+1} W_{l+1}^T (proved by "
      "SymPy for every layer of depths 2..6).",
      lambda: eq(Ddt(W_l.T * W_l - W_l1 * W_l1.T), sp.ZeroMatrix(2, 2)),
      _conservation,
      tex=r"Along the gradient flow $D_l = W_l^{T} W_l - W_{l+1} W_{l+1}^{T}$ is constant: SymPy proves it for every layer of depths 2 to 6.")


_gd_identity = _zero_for_every_imbalance(
    "gd_identity_residual", "D_l(k+1) - D_l(k) - eta^2 (G_l^T G_l - G_{l+1} G_{l+1}^T) expands to 0", 4)


claim("gd.exact-identity", "derived",
      "One gradient-descent step changes D_l by exactly eta^2 (G_l^T G_l - G_{l+1} G_{l+1}^T) "
      "(proved for L = 2..4 on the quick profile, 2..6 on the others).",
      lambda: GD_IDENTITY(),
      _gd_identity,
      tex=r"One gradient-descent step of size $\eta$ changes $D_l$ by exactly $\eta^2 (G_l^{T} G_l - G_{l+1} G_{l+1}^{T})$, $G_l$ the layer gradients (proved for $L = 2, \dots, 4$ on the quick profile, $2, \dots, 6$ on the others).")


def _gd_identity_mp(ex):
    ws, Y, lr = ex
    N = net(len(ws))
    dps = max(50, options().dps)
    with workdps(dps):
        ev = Evaluator(values(ws, Y))
        G = [ev.matrix(g) for g in N.gradient]
        W = list(ev.arrays[: len(ws)])
        eta = asarray(np.array(lr))[()]
        new = [w - eta * g for w, g in zip(W, G)]
        # the identity holds for any multiple of the gradient: pin G to (D.1) computed here,
        # P_l^T (W1...WL - Y) S_l^T, so that a mis-scaled step or gradient cannot pass
        R = _product(W) - ev.arrays[len(ws)]
        d1 = max(max(abs(x) for x in (G[l] - _product(W[:l], W[0].shape[0]).T @ R
                                      @ _product(W[l + 1:], W[-1].shape[1]).T).ravel())
                 for l in range(len(ws)))
        worst = 0
        scale = 1
        for l in range(len(ws) - 1):
            D0 = W[l].T @ W[l] - W[l + 1] @ W[l + 1].T
            D1 = new[l].T @ new[l] - new[l + 1] @ new[l + 1].T
            pred = eta**2 * (G[l].T @ G[l] - G[l + 1] @ G[l + 1].T)
            worst = max(worst, max(abs(x) for x in (D1 - D0 - pred).ravel()))
            scale = max(scale, max(abs(x) for x in np.concatenate([D0.ravel(), D1.ravel()])))
        tol = 100 * 10.0 ** (-dps) * float(scale)  # a few roundings of entries of size `scale`
        # (D.1) against the derived gradient: sums of L+1-fold products of the same entries
        gscale = float(np.prod([1 + max(abs(x) for x in w.ravel()) * max(w.shape) for w in W])
                       * (1 + max(abs(x) for x in R.ravel())))
        gtol = 100 * 10.0 ** (-dps) * gscale
        margin = min((tol - float(worst)) / tol, (gtol - float(d1)) / gtol)
        return Verdict(margin >= 0, margin, f"{dps} dps",
                       f"max |residual| = {float(worst):.3g} (tol {tol:.3g}); gradient vs (D.1): "
                       f"{float(d1):.3g} (tol {gtol:.3g})")


def _product(ws, size: int | None = None):
    """``W1 @ ... @ Wk`` on any backend's arrays; the identity of order ``size`` when empty."""
    if not ws:
        return asarray(np.eye(size))
    out = ws[0]
    for w in ws[1:]:
        out = out @ w
    return out


claim("gd.exact-identity-numeric", "derived",
      "The GD identity holds on random weights at >= 50 digits (to a few roundings).",
      lambda: GD_IDENTITY(),
      _gd_identity_mp,
      st.integers(2, 4).flatmap(lambda L: S.widths(depth=L)).flatmap(
          lambda w: st.tuples(S.chains(shape=w), S.targets(w[0], w[-1]),
                              st.floats(1e-4, 0.5, allow_subnormal=False))),
      examples={"quick": 4},
      tex=r"The gradient-descent identity holds on random weights at 50 digits or more, to a few roundings.")


def _explicit_step(ws, Y, lr):
    """``W_l - lr P_l^T (W - Y) S_l^T`` written out in numpy ((D.1), one step, all layers at once)."""
    R = _product(ws) - Y
    n, m = ws[0].shape[0], ws[-1].shape[1]
    return [w - lr * (_product(ws[:l], n).T @ R @ _product(ws[l + 1:], m).T) for l, w in enumerate(ws)]


def _gd_step(ex):
    """One step of each gradient descent flowcert runs -- numerics.descend on the derived flow and on
    chain_gradients, numerics.descend_batch, and the Fig. 1 experiment's three-layer loop --
    against the explicit update (D.1) in numpy."""
    from flowcert.checks.papers.min2023.experiments import _Chain
    from flowcert.numerics import chain_gradients, descend, descend_batch
    ws, Y, lr = ex
    L = len(ws)
    N = net(L)
    want = _explicit_step(ws, Y, lr)
    w0 = dict(zip(N.weights, ws))
    got = {
        "descend (derived)": [descend({w: g for w, g in zip(N.weights, N.gradient)}, w0, lr, 1,
                                      params={N.target: Y}, dps=None).final[w] for w in N.weights],
        "descend (chain)": [descend(chain_gradients(N.weights, N.target), w0, lr, 1, params={N.target: Y},
                                    dps=None).final[w] for w in N.weights],
        "descend_batch": [np.asarray(x)[0] for x in descend_batch([w[None] for w in ws], Y[None], lr, 1).final],
    }
    if L == 3:
        ch = _Chain(*ws, Y)
        ch.residual()
        ch.step(lr)
        got["Fig. 1 loop"] = [ch.W1, ch.W2, ch.W3]
    # the same products in another association: a few roundings of terms of size |W| + lr |G|
    scale = max(float(np.abs(w).max()) for w in ws) + lr * float(np.prod([np.abs(w).sum() + 1 for w in ws])
                                                                  * (np.abs(Y).sum() + 1))
    tol = 16 * (L + 2) * EPS * scale
    worst, parts = math.inf, []
    for name, new in got.items():
        err = max(float(np.abs(np.asarray(a, dtype=float) - b).max()) for a, b in zip(new, want))
        worst = min(worst, (tol - err) / tol)
        parts.append(f"{name} {err:.2g}")
    return Verdict(worst >= 0, worst, "float64", f"L={L}, lr={lr:.3g}: |W(1) - explicit| " + ", ".join(parts)
                   + f" (tol {tol:.2g})")


claim("gd.step-numeric", "derived",
      "One gradient-descent step of every implementation flowcert runs (numerics.descend on the derived "
      "gradient and on chain products, descend_batch, the Fig. 1 loop) equals W_l - eta (D.1) computed "
      "directly.",
      lambda: Listing(eq(mat("W_{l}(k+1)"), W_l - eta_ * mat("G_{l}")),
                      eq(mat("G_{l}"), mat("P_{l}").T * (mat("W") - mat("Y")) * mat("S_{l}").T)),
      _gd_step,
      st.integers(2, 4).flatmap(lambda L: S.widths(depth=L)).flatmap(
          lambda w: st.tuples(S.chains(shape=w), S.targets(w[0], w[-1]),
                              st.floats(1e-3, 0.2, allow_subnormal=False))),
      tex=r"One gradient-descent step of every implementation flowcert runs (on the derived gradient, on chain products, batched, and the loop of Fig. 1) equals $W_l - \eta\, (W_1 \cdots W_{l-1})^{T} (W - Y) (W_{l+1} \cdots W_L)^{T}$ computed directly.")


# ---------------------------------------------------------------------------------------------
# Two layers


def _closed_form(ws):
    lam, tol = lam_min_T(ws)
    cf = Evaluator(values(ws)).bound(bound("two_layer_closed_form"))
    Ms = [ws[0] @ ws[0].T, ws[1].T @ ws[1]]
    return equal(lam, cf, tol + sum(eig_tol(M) for M in Ms))


claim("sec3.two-layer-closed-form", "paper",
      "For L = 2, lambda_min(T) = lambda_n(W1 W1^T) + lambda_m(W2^T W2).",
      lambda: eq(T_MIN, bound("two_layer_closed_form").shown()),
      _closed_form, S.chains(depth=2),
      tex=r"For $L = 2$, $\lambda_{\min}(\mathcal{T}) = \lambda_n(W_1 W_1^{T}) + \lambda_m(W_2^{T} W_2)$.")


def _balanced(ws):
    lam, tol = lam_min_T(ws)
    b = Evaluator(values(ws)).bound(bound("balanced", len(ws)))
    W = np.linalg.multi_dot(ws) if len(ws) > 2 else ws[0] @ ws[1]
    s_tol = len(ws) * 2 * eig_tol(W.T @ W)  # sigma_min^(2-2/L) is Lipschitz in sigma^2 near >= 0.1
    return equal(lam, b, tol + s_tol * len(ws))


claim("table1.balanced-identity", "paper",
      "Balanced square weights (all D_l = 0): lambda_min(T) = L sigma_min(W)^(2 - 2/L).",
      lambda: eq(T_MIN, L_ * Sing(th.W_SHOWN, MIN) ** (2 - 2 / L_)),
      _balanced, S.balanced(square=True),
      tex=r"Balanced square weights (every $D_l = 0$): $\lambda_{\min}(\mathcal{T}) = L\, \sigma_{\min}(W)^{2 - 2/L}$.")


def _lemma3_parts(ws):
    lam, tol = lam_min_T(ws)
    ev = Evaluator(values(ws))
    D = ws[0].T @ ws[0] - ws[1] @ ws[1].T
    W = ws[0] @ ws[1]
    t = tol + 8 * eig_tol(D) + 4 * eig_tol(W.T @ W)
    return lam, ev.bound(bound("lemma3_rhs")), ev.bound(bound("delta_two_layer")), t


def _lemma3(ws):
    lam, rhs, d, t = _lemma3_parts(ws)
    v1, v2 = at_least(2 * lam, rhs, 2 * t), at_least(lam, d, t)
    worst = min((v1, v2), key=lambda v: v.margin)
    return Verdict(v1.holds and v2.holds, worst.margin, "float64",
                   f"2 lam_min(T)={2 * lam:.6g} >= RHS(9)={rhs:.6g}; lam_min(T) >= Delta={d:.6g}")


@st.composite
def _square_two_layer(draw):
    n = draw(st.integers(1, 3))
    return draw(S.chains(shape=(n, draw(st.integers(n, 4)), n)))


claim("lemma3.inequality", "paper",
      "Lemma 3 (n = m): 2 lambda_min(T) >= RHS of (9), and lambda_min(T) >= Delta.",
      lambda: ge(2 * T_MIN, bound("lemma3_rhs").shown()),
      _lemma3, _square_two_layer(),
      tex=r"Lemma 3 ($n = m$): $2\lambda_{\min}(\mathcal{T})$ is at least the right-hand side of (9), and $\lambda_{\min}(\mathcal{T}) \ge \Delta$.")


def certified_or(fallback: Verdict, ws, pairs, Y=None) -> Verdict:
    """Prove ``lhs >= rhs`` for every pair of bound names in ball arithmetic (53, then 106 bits):
    a certified verdict if all hold, a certified failure if one is disproved, else ``fallback``
    (the float64 verdict: equality cases that no ball can separate stay plain passes)."""
    from flowcert.numerics import certify
    from flowcert.numerics._certify import CertifiedEvaluator
    vals = values(ws, Y)
    evs: dict = {}
    certs = []
    for lhs, rhs in pairs:
        def evaluate(prec, lhs=lhs, rhs=rhs):
            ev = evs.setdefault(prec, CertifiedEvaluator(vals, prec))
            val = (lambda b: 0 if b is None else ev.bound(bound(*b)))
            return val(lhs) - val(rhs)
        c = certify(evaluate, ">=", 0, precisions=(53, 106))
        if c.holds is False:
            return Verdict(False, c.margin(), f"certified, Arb {c.prec} bits",
                           f"disproved: {lhs} - {rhs} in {c.interval(12)}", certified=True)
        certs.append(c)
    if all(c.holds for c in certs):
        return Verdict(True, fallback.margin, f"certified, Arb {max(c.prec for c in certs)} bits",
                       fallback.detail, certified=True)
    return fallback


def _delta_any(ws):
    lam, _, d, t = _lemma3_parts(ws)
    return certified_or(at_least(lam, d, t), ws, [(("lambda_min_T", 2), ("delta_two_layer",))])


claim("thm1.delta-le-lambda-min", "paper",
      "Theorem 1(i) for any n, m: lambda_min(T) >= Delta = [lambda_n(D)]_+ + [lambda_m(-D)]_+.",
      lambda: Listing(ge(T_MIN, th.DELTA), *bound("delta_two_layer").shown_definitions()),
      _delta_any, S.chains(depth=2),
      tex=r"Theorem 1(i), for any $n$ and $m$: $\lambda_{\min}(\mathcal{T}) \ge \Delta = [\lambda_n(D)]_+ + [\lambda_m(-D)]_+$.")

#: integer weights found by a search over small integer matrices (n = 3 > m = 1); W1 is singular,
#: so lambda_min(T) = 0 + ||W2||^2 = 2 exactly, while RHS(9) = 8 sqrt(3) = 13.86
_RECT = [np.array([[-1.0, -2.0, 2.0], [1.0, 2.0, -2.0], [0.0, -2.0, 2.0]]), np.array([[0.0], [1.0], [-1.0]])]


def _lemma3_rect(_):
    lam, rhs, d, t = _lemma3_parts(_RECT)
    # both conditions, each as the room left beyond its rounding allowance t
    margin = min((rhs - 2 * t - 2 * lam) / max(1.0, rhs), (lam - d + t) / max(1.0, abs(d), t))
    return Verdict(2 * lam < rhs - 2 * t and lam >= d - t, margin, "float64",
                   f"n=3, h=3, m=1: 2 lam_min(T) = {2 * lam:.6g} < RHS(9) = {rhs:.6g} "
                   f"(sigma_m(W) = sigma_1(W) > 0 enters, sigma_n(W) = 0); lam_min(T) >= Delta = {d:.6g} holds")


claim("disc.lemma3-rectangular", "derived",
      "Discrepancy: read with sigma_k(W) = 0 for k > min(n, m), (9) fails for n != m (here n = 3, "
      "m = 1); it held on every square draw, and lambda_min(T) >= Delta holds for all shapes.",
      lambda: lt(2 * T_MIN, bound("lemma3_rhs").shown()),
      _lemma3_rect, discrepancy=True,
      tex=r"Discrepancy: read with $\sigma_k(W) = 0$ for $k > \min(n, m)$, (9) fails when $n \ne m$ (here $n = 3$, $m = 1$); it held on every square draw, and $\lambda_{\min}(\mathcal{T}) \ge \Delta$ holds for all shapes.")


# ---------------------------------------------------------------------------------------------
# Three layers: Theorem 2


def _chain(ws):
    ev = Evaluator(values(ws))
    ds = ev.bound(bound("delta_star"))
    g = ev.bound(bound("g_three_layer"))
    T = ev.matrix(net(3).lemma1_operator())
    lam = float(eigenvalues(T)[-1])
    D21, D23 = (ev.matrix(x) for x in th.three_layer_imbalances(net(3)))
    h = max(D21.shape[0], D23.shape[0])
    tol_ds = 8 * h * eig_tol(D21) * (1 + np.abs(D21).sum()) + 8 * h * eig_tol(D23) * (1 + np.abs(D23).sum())
    tol = eig_tol(T) + 4 * sum(eig_tol(ev.matrix(q.matrix)) for q in bound("g_three_layer").quantities.values())
    v1, v2, v3 = at_least(g, ds, tol_ds + tol), at_least(lam, g, tol), at_least(ds, 0.0, tol_ds)
    worst = min((v1, v2, v3), key=lambda v: v.margin)
    v = Verdict(v1.holds and v2.holds and v3.holds, worst.margin, "float64",
                f"Delta*={ds:.6g} <= g={g:.6g} <= lam_min(T)={lam:.6g}")
    return certified_or(v, ws, [(("g_three_layer",), ("delta_star",)), (("lambda_min_T", 3), ("g_three_layer",)),
                                (("delta_star",), None)])


_three = st.builds(lambda s: s, S.widths(depth=3, max_width=4)).flatmap(lambda w: S.chains(shape=w))

claim("thm2.delta-le-g-le-lambda-min", "paper",
      "Theorem 2 and Lemma G.1: 0 <= Delta*(D21, D23) <= g(W1, W2, W3) <= lambda_min(T) "
      "(Delta* >= 0 on realisable imbalances is [inferred]).",
      lambda: Listing(Chain(le(0, DSTAR), le(DSTAR, G_), le(G_, T_MIN)), eq(DSTAR, bound("delta_star").shown()),
                      eq(G_, bound("g_three_layer").shown())),
      _chain, _three,
      tex=r"Theorem 2 and Lemma G.1: $0 \le \Delta^{*}(D_{21}, D_{23}) \le g(W_1, W_2, W_3) \le \lambda_{\min}(\mathcal{T})$ ($\Delta^{*} \ge 0$ on realisable imbalances is [inferred]).")


def _scalar_example(_):
    b = bound("delta_star")
    n_, h1, h2, m_ = b.network.dims
    expr, qs = b.instantiate({n_: 1, h1: 1, h2: 1, m_: 1})
    # D21 = w2^2 - w1^2 = 3, D23 = w2^2 - w3^2 = -5 at (1, 2, 3); exact, 1x1 spectra
    spec = {s: (sp.Integer(3) if "D21" in s.name else sp.Integer(-5)) for s in qs}
    ds = sp.simplify(expr.subs(spec))
    s = sp.Symbol("s", positive=True)  # s = w2^2 on the constraint set w1^2 = s - 3, w3^2 = s + 5
    g = (s - 3) * s + (s - 3) * (s + 5) + s * (s + 5)
    gmin = sp.Min(*[g.subs(s, c) for c in [sp.Integer(3)] + [r for r in sp.solve(sp.diff(g, s), s) if r >= 3]])
    app = sp.simplify(th.delta_star_formula(appendix=True) - 2 * th.delta_star_formula())
    ok = ds == 24 and gmin == 24 and app == 0
    return exact(ok, f"Delta*(1,2,3) = {ds}, min g on the constraint set = {gmin} (at w2^2 = 3), "
                     f"appendix - 2 main = {app}")


claim("thm2.scalar-example", "derived",
      "Scalar weights (1, 2, 3): Delta* = 24 exactly, and 24 is the minimum of g = lambda_min(T) "
      "over all weights with the same imbalances (the bound is attained).",
      eq(th.DELTA_STAR(3, -5), 24),
      _scalar_example,
      tex=r"Scalar weights $(1, 2, 3)$, so $(D_{21}, D_{23}) = (3, -5)$: $\Delta^{*} = 24$ exactly, and 24 is the minimum of $g = \lambda_{\min}(\mathcal{T})$ over all weights with the same imbalances (the bound is attained).")


@st.composite
def _with_rotations(draw):
    ws = draw(_three)
    Q = draw(S.orthonormal(ws[0].shape[1], ws[0].shape[1]))
    R = draw(S.orthonormal(ws[2].shape[0], ws[2].shape[0]))
    return ws, Q, R


def delta_star_lapack(ws) -> float:
    """Eq. (15) on LAPACK's spectra (``numpy.linalg.eigvalsh``) of the imbalances, through theory's
    Definition 2 on plain floats: the route shares the formula with the bound (one source), not
    flowcert's spectral code, its ordering or its compiled bound."""
    from flowcert.theory._bounds import D21_2, D21_SYM, D23_2, D23_SYM
    ev = Evaluator(values(ws))
    a, b = (np.linalg.eigvalsh(ev.matrix(x))[::-1].tolist() for x in th.three_layer_imbalances(net(3)))
    n, m = ws[0].shape[0], ws[2].shape[1]   # W = W1 W2 W3 is n x m
    parts = th.definition2_parts(a, b, n, m, th.Ops(max, min, sum, 0.0))
    return float(th.delta_star_formula().subs(dict(zip((D21_SYM, D21_2, D23_SYM, D23_2), parts))))


def _invariance(ex):
    (W1, W2, W3), Q, R = ex
    b = bound("delta_star")
    a = Evaluator(values([W1, W2, W3])).bound(b)
    rotated = [W1 @ Q, Q.T @ W2 @ R, R.T @ W3]
    c = Evaluator(values(rotated)).bound(b)
    D = W2 @ W2.T - W1.T @ W1
    E = W2.T @ W2 - W3 @ W3.T
    h = max(D.shape[0], E.shape[0])
    # two eigen-solves of similar matrices: eigenvalues differ by eig_tol each; Delta* is a sum of
    # <= 4h terms each at most quadratic in eigenvalues bounded by ||D||
    tol = 8 * h * (eig_tol(D) + eig_tol(E)) * (1 + np.abs(D).sum() + np.abs(E).sum()) * 4
    # invariance alone holds for any function of the spectra: the rotated value is also compared
    # with eq. (15) on LAPACK's spectra (a wrong order or pairing of eigenvalues shows there)
    lapack = delta_star_lapack(rotated)
    v1, v2 = equal(a, c, tol), equal(c, lapack, tol)
    worst = min((v1, v2), key=lambda v: v.margin)
    return Verdict(v1.holds and v2.holds, worst.margin, "float64",
                   f"Delta* = {a:.6g}, rotated {c:.6g}, eq. (15) on LAPACK's spectra {lapack:.6g} (tol {tol:.2g})")


claim("thm2.orthogonal-invariance", "inferred",
      "Delta* is unchanged by W1 -> W1 Q, W2 -> Q^T W2 R, W3 -> R^T W3 (Q, R orthogonal), and equals eq. (15) "
      "evaluated on LAPACK's spectra of the rotated imbalances.",
      lambda: eq(th.DELTA_STAR(mat("Q").T * th.D21_SHOWN * mat("Q"), mat("R").T * th.D23_SHOWN * mat("R")), DSTAR),
      _invariance, _with_rotations(),
      tex=r"$\Delta^{*}$ is unchanged by $W_1 \mapsto W_1 Q$, $W_2 \mapsto Q^{T} W_2 R$, $W_3 \mapsto R^{T} W_3$ ($Q$, $R$ orthogonal), and equals eq.~(15) evaluated on LAPACK's spectra of the rotated imbalances.")


# ---------------------------------------------------------------------------------------------
# Deep networks: Theorem 3


def _thm3_parts(ws, lstar, kind):
    """``(lambda_min(T), Theorem 3's bound, the rounding allowance of their difference)``."""
    L = len(ws)
    lam, tol = lam_min_T(ws)
    b = bound(f"theorem3_{kind}", L, lstar)
    val = Evaluator(values(ws)).bound(b)
    Ds = [ws[l].T @ ws[l] - ws[l + 1] @ ws[l + 1].T for l in range(L - 1)]
    # the product of L-1 sums of eigenvalues: relative error adds up over its factors
    t = tol + L * L * max(eig_tol(D) for D in Ds) * (1 + abs(val)) * (1 + max(np.abs(D).sum() for D in Ds)) ** (L - 2)
    if kind == "homogeneous":
        # sigma_min(W)^(2-2/L) from the eigenvalues of W^T W, as in table1.balanced-identity
        W = np.linalg.multi_dot(ws) if L > 2 else ws[0] @ ws[1]
        t += 2 * L * L * eig_tol(W.T @ W)
    return lam, val, t


def _thm3(ex, kind):
    ws, lstar = ex
    lam, val, t = _thm3_parts(ws, lstar, kind)
    v = at_least(lam, val, t)
    return Verdict(v.holds, v.margin, v.precision, f"L={len(ws)}, l*={lstar}: " + v.detail)


claim("thm3.unimodal", "paper",
      "Theorem 3: for unimodal weights lambda_min(T) >= prod_{i=1}^{L-1} d~(i).",
      lambda: ge(T_MIN, PROD_DTILDE),
      lambda ex: _thm3(ex, "unimodal"), S.unimodal(),
      tex=r"Theorem 3: for unimodal weights $\lambda_{\min}(\mathcal{T}) \ge \prod_{i=1}^{L-1} \tilde{d}(i)$.")

claim("thm3.homogeneous", "paper",
      "Theorem 3: with homogeneous imbalance lambda_min(T) >= sqrt((prod d~)^2 + (L sigma_min^(2-2/L))^2).",
      lambda: ge(T_MIN, sp.sqrt(sp.Pow(PROD_DTILDE, 2, evaluate=False)
                               + sp.Pow(L_ * Sing(th.W_SHOWN, MIN) ** (2 - 2 / L_), 2, evaluate=False))),
      lambda ex: _thm3(ex, "homogeneous"), S.unimodal(homogeneous=True),
      tex=r"Theorem 3: with homogeneous imbalance $\lambda_{\min}(\mathcal{T}) \ge \sqrt{(\prod_i \tilde{d}(i))^2 + (L \sigma_{\min}(W)^{2-2/L})^2}$.")


# -- tightness: where the bounds are attained (a weakened constant or exponent still satisfies
# an inequality claim; it cannot equal the truth where the paper's bound does)

def _scalar_pair(w1: float, w2: float):
    """Two-layer scalar weights ``(w1, w2)`` with their unimodal index (D = w1^2 - w2^2)."""
    return [np.array([[w1]]), np.array([[w2]])], (2 if w1 * w1 >= w2 * w2 else 1)


_SCALAR = st.floats(-2, 2, allow_nan=False, allow_subnormal=False).filter(lambda x: abs(x) > 0.05)
_PAIRS = st.tuples(_SCALAR, _SCALAR).map(lambda p: _scalar_pair(*p))


def _thm3_attained(ex):
    ws, lstar = ex
    lam, val, t = _thm3_parts(ws, lstar, "homogeneous")
    v = equal(lam, val, t)
    return Verdict(v.holds, v.margin, v.precision, f"L={len(ws)}, l*={lstar}: bound {val:.12g} = lambda_min(T) "
                   f"{lam:.12g} (|diff| {abs(lam - val):.2g}, tol {t:.2g})")


claim("tight.theorem3-homogeneous", "derived",
      "Theorem 3's homogeneous bound is attained: it equals lambda_min(T) on balanced square weights "
      "(L sigma_min(W)^(2-2/L)) and on two-layer scalar weights (sqrt(d~^2 + 4 w1^2 w2^2) = w1^2 + w2^2).",
      lambda: eq(T_MIN, sp.sqrt(sp.Pow(PROD_DTILDE, 2, evaluate=False)
                                + sp.Pow(L_ * Sing(th.W_SHOWN, MIN) ** (2 - 2 / L_), 2, evaluate=False))),
      _thm3_attained, st.one_of(S.balanced(square=True).map(lambda ws: (ws, len(ws))), _PAIRS),
      tex=r"Theorem 3's homogeneous bound is attained: $\lambda_{\min}(\mathcal{T}) = \sqrt{(\prod_i \tilde{d}(i))^2 + (L \sigma_{\min}(W)^{2-2/L})^2}$ on balanced square weights and on two-layer scalar weights.")


def _lemma3_attained(ws):
    lam, rhs, d, t = _lemma3_parts(ws)
    v = equal(2 * lam, rhs, 2 * t)
    checks = [v]
    if not (ws[0].any() and ws[1].any()):
        checks.append(equal(lam, d, t))      # a zero layer: T is the other's Gram matrix, Delta its eigenvalue
    worst = min(checks, key=lambda x: x.margin)
    return Verdict(all(c.holds for c in checks), worst.margin, "float64",
                   f"2 lam_min(T) = {2 * lam:.12g}, RHS(9) = {rhs:.12g}, Delta = {d:.12g} (tol {2 * t:.2g})")


claim("tight.lemma3", "derived",
      "Lemma 3 is attained: 2 lambda_min(T) equals the right-hand side of (9) on balanced square two-layer "
      "weights (4 sigma_min(W)) and on scalar pairs (2 (w1^2 + w2^2)); lambda_min(T) = Delta when a "
      "scalar weight is 0.",
      lambda: eq(2 * T_MIN, bound("lemma3_rhs").shown()),
      _lemma3_attained,
      st.one_of(S.balanced(depth=2, square=True), _PAIRS.map(lambda p: p[0]),
                _SCALAR.map(lambda w: [np.array([[w]]), np.array([[0.0]])]),
                _SCALAR.map(lambda w: [np.array([[0.0]]), np.array([[w]])])),
      tex=r"Lemma 3 is attained: $2\lambda_{\min}(\mathcal{T})$ equals the right-hand side of (9) on balanced square two-layer weights and on scalar pairs, and $\lambda_{\min}(\mathcal{T}) = \Delta$ when a scalar weight is 0.")


def _super_exponential(_):
    bad = []
    eps_ = sp.Symbol("epsilon", positive=True)
    for L in depths(6, 8):
        ys = sp.symbols(f"y1:{L}", nonnegative=True)
        prod = sp.Mul(*[sum(eps_ + ys[l] for l in range(i, L - 1)) for i in range(L - 1)])
        poly = sp.Poly(sp.expand(prod), *ys, eps_)
        if any(c < 0 for c in poly.coeffs()):
            bad.append(f"L={L}: negative coefficient")
        const = poly.coeff_monomial(eps_ ** (L - 1))  # the term free of every excess y_l
        if const != sp.factorial(L - 1):
            bad.append(f"L={L}: coefficient of eps^(L-1) is {const}")
    return exact(not bad, "; ".join(bad) or "prod d~(i) - eps^(L-1)(L-1)! has nonnegative coefficients "
                 f"in the excesses lambda_n(D_l) - eps, L = 2..{L}")


claim("thm3.super-exponential", "paper",
      "If lambda_n(D_l) >= eps for all l (l* = L), prod d~(i) >= eps^(L-1) (L-1)!.",
      lambda: ge(sp.Product(sp.Sum(Eig(th.D_of("l"), sym("n")), (l_, i_, L_ - 1)), (i_, 1, L_ - 1)),
                 eps_ ** (L_ - 1) * sp.factorial(L_ - 1)),
      _super_exponential,
      tex=r"If $\lambda_n(D_l) \ge \epsilon$ for every $l$ ($l^{*} = L$), then $\prod_i \tilde{d}(i) \ge \epsilon^{L-1} (L-1)!$.")


def _collapse(ex):
    ws, lstar = ex
    ev = Evaluator(values(ws))
    ds = ev.bound(bound("delta_star"))
    prod = ev.bound(bound("theorem3_unimodal", 3, lstar))
    D = [ws[0].T @ ws[0] - ws[1] @ ws[1].T, ws[1].T @ ws[1] - ws[2] @ ws[2].T]
    h = max(x.shape[0] for x in D)
    tol = 16 * h * max(eig_tol(x) for x in D) * (1 + sum(np.abs(x).sum() for x in D))
    v = equal(ds, prod, tol)
    return Verdict(v.holds, v.margin, v.precision, f"l*={lstar}: Delta*={ds:.10g}, prod d~={prod:.10g}")


claim("apph.collapse", "paper",
      "App. H: for unimodal three-layer weights Delta*(D21, D23) equals Theorem 3's prod d~(i) "
      "(l* = 2 drawn as W2 = W1^T C W3^T; l* = 1, 3 square).",
      lambda: eq(DSTAR, th.D_TILDE(1) * th.D_TILDE(2)),
      _collapse,
      st.one_of(S.three_layer_collapse().map(lambda ws: (ws, 2)),
                st.sampled_from([1, 3]).flatmap(lambda k: S.unimodal(depth=3, lstar=k))),
      tex=r"Appendix H: for unimodal three-layer weights $\Delta^{*}(D_{21}, D_{23})$ equals Theorem 3's $\prod_i \tilde{d}(i)$ ($l^{*} = 2$ drawn as $W_2 = W_1^{T} C W_3^{T}$; $l^{*} = 1, 3$ square).")


# ---------------------------------------------------------------------------------------------
# Documented discrepancies of the paper


def _alpha2_printed(_):
    ws = [np.array([[1.0]]), np.array([[0.0]])]
    Y = np.array([[1.0]])
    ev = Evaluator(values(ws, Y))
    printed, fixed = ev.bound(bound("alpha2", printed=True)), ev.bound(bound("alpha2"))
    lam, _ = lam_min_T(ws)
    # exact facts: dL/dt(0) = -lam_min(T)*2L(0)... here -2 L(0), so exp(-2*printed*t) fails for small t
    ok = printed == 2.0 and fixed == 1.0 and lam == 1.0 and printed > lam
    return exact(ok, f"(w1, w2) = (1, 0), y = 1: printed alpha2 = {printed}, with 1/2: {fixed}, "
                     f"lambda_min(T) = {lam}; dL/dt(0) = -2 L(0) < -4 L(0) is false, so "
                     "L(t) <= exp(-4t) L(0) fails for small t")


claim("disc.alpha2-printed", "derived",
      "Discrepancy: alpha2 as printed in eq. (12)/F.3 (no 1/2) exceeds lambda_min(T); the 1/2 of the "
      "App. F proof restores alpha2 = Delta at zero margin.",
      lambda: Chain(eq(A2_PRINTED, bound("alpha2", printed=True).shown()),
                     gt(bound("alpha2", printed=True).shown(), T_MIN)),
      _alpha2_printed, discrepancy=True,
      tex=r"Discrepancy: $\alpha_2$ as printed in eq.~(12) and (F.3), without the factor $\frac{1}{2}$, exceeds $\lambda_{\min}(\mathcal{T})$; the $\frac{1}{2}$ of the proof in Appendix F restores $\alpha_2 = \Delta$ at zero margin.")


def _appendix(_):
    main, app = th.delta_star_formula(), th.delta_star_formula(appendix=True)
    diff = sp.simplify(app - 2 * main)
    ws = [np.array([[1.0]]), np.array([[2.0]]), np.array([[3.0]])]
    ev = Evaluator(values(ws))
    a, m_, lam = ev.bound(bound("delta_star", appendix=True)), ev.bound(bound("delta_star")), lam_min_T(ws)[0]
    ok = diff == 0 and a == 48 and m_ == 24 and lam == 49
    return exact(ok, f"appendix - 2 main = {diff}; at (1,2,3) appendix {a}, main {m_}, lambda_min(T) {lam}; "
                     "the minimum of lambda_min(T) at these imbalances is 24 < 48")


claim("disc.appendix-delta-star", "paper",
      "Discrepancy: Theorem G.2's Delta* is twice the main-text Delta* (48 vs 24 at (1, 2, 3)); "
      "only the main-text one is a lower bound on lambda_min(T).",
      lambda: Chain(eq(sym(r"\Delta^{*}_{\mathrm{G.2}}"), th.delta_star_formula(appendix=True)),
                     eq(th.delta_star_formula(appendix=True), 2 * sym(r"\Delta^{*}"))),
      _appendix, discrepancy=True,
      tex=r"Discrepancy: Theorem G.2's $\Delta^{*}$ is twice the main text's (48 against 24 at $(1, 2, 3)$); only the main-text one is a lower bound on $\lambda_{\min}(\mathcal{T})$.")


def _g9(_):
    ws = [np.array([[3.0]]), np.array([[2.0]]), np.array([[1.0]])]
    ev = Evaluator(values(ws))
    right, typo = ev.bound(bound("delta_star")), ev.bound(bound("delta_star", g9_typo=True))
    return exact(right == 24 and typo == 0,
                 f"(3, 2, 1): D21 = -5, D23 = 3; Definition 2 gives Delta* = {right}, G.9 as printed {typo}")


claim("disc.g9-typo", "paper",
      "Discrepancy: (G.9) prints max{lambda_i(D21), lambda_i(D21), 0}; read literally it changes D-bar "
      "(Delta* 24 -> 0 at (3, 2, 1)); Definition 2 has lambda_i(D23).",
      lambda: th.definition2()[0],
      _g9, discrepancy=True,
      tex=r"Discrepancy: (G.9) prints $\max\{\lambda_i(D_{21}), \lambda_i(D_{21}), 0\}$; read literally it changes $\bar{D}$ ($\Delta^{*}$ drops from 24 to 0 at $(3, 2, 1)$); Definition 2, shown here, has $\lambda_i(D_{23})$.")


def _exp_one(_):
    t, a, g, L0 = sp.symbols("t alpha gamma L0", positive=True)
    printed = sp.exp(1 - g * a * t) * L0
    at0 = printed.subs(t, 0)
    return exact(sp.simplify(at0 - sp.E * L0) == 0,
                 f"printed envelope at k = 0: {at0} = e L(0) > L(0); the plotted lines start at L(0)")


claim("disc.exp-one", "inferred",
      "Discrepancy: App. A's envelope exp(1 - gamma Delta* k eta) L(0) starts at e L(0); the figure "
      "and Corollary 1 use exp(-gamma Delta* k eta) L(0).",
      lambda: Listing(eq(LOSS_A(k_), sp.exp(1 - gamma_ * sym(r"\Delta^{*}") * eta_ * k_) * LOSS(0)), eq(LOSS_A(0), sp.E * LOSS(0))),
      _exp_one, discrepancy=True,
      tex=r"Discrepancy: the envelope $\mathcal{L}_{\mathrm{A}}(k) = e^{1 - \gamma \Delta^{*} k \eta} \mathcal{L}(0)$ of Appendix A starts at $e\,\mathcal{L}(0)$; the figure and Corollary 1 use $e^{-\gamma \Delta^{*} k \eta} \mathcal{L}(0)$.")


@st.composite
def _unequal(draw):
    n, m = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h1 = draw(st.integers(max(n, m), 4))
    h2 = draw(st.integers(max(n, m), 4).filter(lambda x: x != h1))
    return draw(S.chains(shape=(n, h1, h2, m)))


def _dbar(ws):
    """flowcert's D-bar (which reads a missing eigenvalue as -inf) against the reading as 0."""
    W1, W2, W3 = ws
    a = [float(x) for x in np.linalg.eigvalsh(W2 @ W2.T - W1.T @ W1)[::-1]]
    b = [float(x) for x in np.linalg.eigvalsh(W2.T @ W2 - W3 @ W3.T)[::-1]]
    k = max(len(a), len(b))
    ours = th.definition2_dbar(a, b, th.Ops(max, min, math.fsum))
    zero = [max(x, y, 0.0) for x, y in zip(a + [0.0] * (k - len(a)), b + [0.0] * (k - len(b)))]
    diff = max(abs(x - y) for x, y in zip(ours, zero))
    # the same maxima of the same numbers: no rounding, so any difference is a different reading
    tol = 4 * max(eig_tol(W2 @ W2.T - W1.T @ W1), eig_tol(W2.T @ W2 - W3 @ W3.T))
    return Verdict(diff <= tol and len(ours) == k, (tol - diff) / _positive(tol), "float64",
                   f"h1={len(a)}, h2={len(b)}: flowcert's D-bar and the reading as 0 differ by {diff:.2g}")


claim("disc.dbar-convention", "derived",
      "Definition 2 leaves lambda_i(D23) undefined for i > h2 (and D21 for i > h1): reading it as "
      "-inf or as 0 gives the same D-bar on realisable pairs.",
      lambda: eq(sym(r"\bar{d}_{i}"), sp.Max(Eig(th.D21_SHOWN, i_), 0)),
      _dbar, _unequal(), discrepancy=True,
      tex=r"Definition 2 leaves $\lambda_i(D_{23})$ undefined for $i > h_2$ (and $\lambda_i(D_{21})$ for $i > h_1$): reading it as $-\infty$ or as 0 gives the same diagonal entry $\bar{d}_i$ of $\bar{D}$ on realisable pairs.")


# ---------------------------------------------------------------------------------------------
# Discovered invariants

INVARIANT_SHAPES = ((2, (1, 2, 1)), (2, (2, 2, 2)), (3, (1, 2, 1, 1)), (3, (1, 2, 2, 1)))


def _invariant_search(_):
    lines, ok = [], True
    for depth, shape in INVARIANT_SHAPES:
        r = th.linear_network_invariants(depth, shape)
        expected_imb = sum(h * (h + 1) // 2 for h in shape[1:-1])
        # every imbalance entry lies in the space (the search re-proves Lemma 2 on this shape)
        ok &= r.imbalance_rank == expected_imb and all(c is not None for c in r.imbalance_coordinates)
        lines.append(f"{shape}: dim {r.dim}, imbalance {r.imbalance_rank}, others "
                     f"{', '.join(o.label for o in r.others) or 'none'}")
    first = th.linear_network_invariants(2, (1, 2, 1))
    ok &= first.dim == 4 and len(first.others) == 1
    return exact(ok, "; ".join(lines))


claim("lemma2.invariant-search", "derived",
      "The quadratic invariants of the flow, found by solving for every quadratic form with zero "
      "derivative, contain the imbalance entries; for n = m = 1, h = 2 there are 4, one more than "
      "the imbalance gives (the rotation charge of W1^T W2^T).",
      lambda: th.linear_network_invariants(2, (1, 2, 1)).shown()[0],
      _invariant_search,
      tex=r"The quadratic invariants of the flow, found by solving for every quadratic form with zero derivative, contain the imbalance entries; for $n = m = 1$, $h = 2$ there are 4, one more than the imbalance gives: the rotation charge of $W_1^{T} W_2^{T}$, shown in the weight entries $w^{(l)}_{ij}$.")


# ---------------------------------------------------------------------------------------------
# Figure 1: the box plot and gradient descent against Corollary 1


def _boxplot(_):
    """Delta* > 0 for every sample, *certified*: each Delta* is enclosed in Arb balls (certified
    spectra of D21, D23; numerics.certify_bound), and so is each median (the k-th smallest of
    values in [l_i, u_i] lies in [k-th smallest l, k-th smallest u]), so the bands are proved too."""
    from flint import arb
    from flowcert.numerics import certify_bound
    from flowcert.checks.papers.min2023.experiments import BANDS, BOX_SCHEMES, BAND_CONFIG, boxplot_weights
    c = BAND_CONFIG
    parts, decided, margin = [], [], math.inf
    for s in BOX_SCHEMES:
        certs = [certify_bound(bound("delta_star"), values(ws), ">", 0)
                 for ws in boxplot_weights(c["n"], c["m"], c["h1"], c["h2"], 100, s, options().seed)]
        lows = sorted((ct.enclosure.lower() for ct in certs), key=float)
        highs = sorted((ct.enclosure.upper() for ct in certs), key=float)
        k = len(certs) // 2   # median of an even count: mean of the k-th and (k+1)-th smallest
        med_lo, med_hi = (lows[k - 1] + lows[k]) / 2, (highs[k - 1] + highs[k]) / 2
        med = float((med_lo + med_hi) / 2)
        refuted = sum(ct.holds is False for ct in certs)
        open_ = sum(ct.holds is None for ct in certs)
        decided.append(False if refuted else None if open_ else True)
        margin = min(margin, float(lows[0]) / med)
        line = (f"{s}: min Delta* >= {float(lows[0]):.4g} (certified > 0 for "
                f"{len(certs) - refuted - open_}/{len(certs)}, {max(ct.prec for ct in certs)} bits), "
                f"median in [{float(med_lo):.6g}, {float(med_hi):.6g}]")
        if s in BANDS:
            lo, hi = BANDS[s]
            inside = bool(med_lo >= arb(lo)) and bool(med_hi <= arb(hi))
            outside = bool(med_hi < arb(lo)) or bool(med_lo > arb(hi))
            decided.append(True if inside else False if outside else None)
            margin = min(margin, min(med - lo, hi - med) / (hi - lo))
            line += f" (band [{lo:g}, {hi:g}] {'in' if inside else 'OUT' if outside else 'undecided'})"
        parts.append(line)
    holds = False if False in decided else None if None in decided else True
    return Verdict(holds, margin, "certified, Arb 53+ bits", "; ".join(parts), certified=holds is not None)


claim("fig1.boxplot", "paper",
      "Fig. 1 (left), n = 5, m = 1, h1 = h2 = 200, 100 samples per scheme: every Delta* > 0 under "
      "Fan_in, Fan_out and NTK; Fan_in and Fan_out medians inside the bands read off the paper's plot and reproduced by an independent numpy run.",
      gt(DSTAR, 0),
      _boxplot,
      tex=r"Figure 1 (left), $n = 5$, $m = 1$, $h_1 = h_2 = 200$, 100 samples per scheme: every $\Delta^{*} > 0$ under Fan\_in, Fan\_out and NTK; the Fan\_in and Fan\_out medians lie inside the bands read off the paper's plot and are reproduced by an independent numpy run.")

GD_RUNS = {  # (n, Y, h1, h2, steps) of Fig. 1 middle and right
    "quick": [(1, -2.0, 100, 200, 1500), (5, 1.0, 100, 200, 1500)],
    "standard": [(1, -2.0, h1, h2, 5000) for h1, h2 in ((100, 200), (200, 300), (300, 500))]
                + [(5, 1.0, h1, h2, 15000) for h1, h2 in ((100, 200), (200, 300), (300, 500))],
}


def _gd(_):
    from flowcert.checks.papers.min2023.experiments import gd_run
    runs = GD_RUNS["quick" if options().profile == "quick" else "standard"]
    parts, ok, worst = [], True, math.inf
    for n, y, h1, h2, steps in runs:
        Y = np.full((n, 1), y)
        r = gd_run(n, h1, h2, Y, 5e-6, steps, options().seed, 100)
        if not r["status"].startswith(("completed", "reached")):
            return Verdict(False, -math.inf, "float64", f"n={n} ({h1},{h2}): {r['status']}")
        ok &= bool(r["below_bound"])
        worst = min(worst, -float(r["worst_log_ratio"]))
        parts.append(f"n={n} ({h1},{h2}) k={r['final_step']}: worst loss/bound {r['worst_ratio']:.4f}, "
                     f"rate/2Delta* {r['empirical_over_2delta']:.2f}")
    return Verdict(ok, worst, "float64", "; ".join(parts))


claim("fig1.gd-below-bound", "paper",
      "Fig. 1 (middle, right): gradient descent from Fan_out initialisations (eta = 5e-6) stays "
      "below L(0) exp(-2 Delta* eta k) at every recorded step (quick profile: 1500 steps, widest "
      "runs in the standard profile).",
      Listing(le(LOSS(k_), sp.exp(-gamma_ * sym(r"\Delta^{*}") * eta_ * k_) * LOSS(0)), eq(gamma_, 2)),
      _gd,
      tex=r"Figure 1 (middle, right): gradient descent from Fan\_out initialisations ($\eta = 5 \cdot 10^{-6}$) stays below $\mathcal{L}(0)\, e^{-2 \Delta^{*} \eta k}$ at every recorded step $k$ (quick profile: 1500 steps; the widest runs in the standard profile).")


# ---------------------------------------------------------------------------------------------
# Along the simulated flow: conservation at high precision, and the loss envelopes


def _losses(sol, net, Y):
    f = compile_matrix(net.loss, net.weights + (net.target,))
    return [f(*[s[w] for w in net.weights], asarray(Y)) for s in sol.states]


def _conservation_flow(ex):
    ws, Y = ex
    N = net(len(ws))
    dps = max(30, options().dps)
    with workdps(dps):
        imb = [compile_matrix(D, N.weights) for D in N.imbalances]
        sol = solve(N.flow, dict(zip(N.weights, ws)), 1, params={N.target: Y}, t_eval=[0, 0.25, 0.5, 0.75, 1])
        D0 = [f(*[asarray(w) for w in ws]) for f in imb]
        drift = max(max(abs(x) for x in (f(*[s[w] for w in N.weights]) - d0).ravel())
                    for s in sol.states for f, d0 in zip(imb, D0))
        scale = max(1, max(max(abs(x) for x in d.ravel()) for d in D0),
                    max(float(np.abs(w).max()) ** 2 for w in ws))
        # each Taylor step errs by about one unit of 10^-dps relative to the state; drift adds up
        # over the steps and is measured on entries of size `scale`
        tol = 10 * (sol.steps + 1) * 10.0 ** (-dps) * float(scale)
        return Verdict(float(drift) <= tol, (tol - float(drift)) / tol, f"{dps} dps",
                       f"max |D_l(t) - D_l(0)| = {float(drift):.3g} over t in [0, 1] "
                       f"({sol.steps} Taylor steps), tol {tol:.3g}")


claim("lemma2.conservation-flow", "paper",
      "Along the gradient flow integrated at >= 30 digits, every D_l stays constant to a small "
      "multiple of the working precision over the horizon.",
      le(Norm(mat("D_{l}(t)") - mat("D_{l}(0)"), sym(r"\max")), sym("C") * 10 ** (-sym("p"))),
      _conservation_flow,
      st.integers(2, 3).flatmap(lambda L: S.widths(depth=L, max_width=3)).flatmap(
          lambda w: st.tuples(S.chains(shape=w, scheme="fan_in"), S.targets(w[0], w[-1], bound=2.0))),
      examples={"quick": 3, "standard": 20, "deep": 100},
      tex=r"Along the gradient flow integrated at $p \ge 30$ digits, every $D_l$ stays constant over the horizon $t \le 1$ to a small multiple $C$ of the working precision (largest entry).")

#: Relative error of the float64 Taylor trajectory: per-step tolerance ~ eps times a few dozen steps
FLOW_REL = 1e-10


#: digits of the validated integration behind a certified envelope, tried in turn: the decision
#: needs an enclosure narrower than the error Y - W(t) it bounds, which shrinks with the loss
#: (16 digits: radius ~1e-16, enough until L ~ 1e-25; then 32)
CERT_DIGITS = (16, 32)
#: seconds one certification may take before the claim settles for the evaluated verdict
CERT_BUDGET = 20.0


def _certify_envelope(N, ws, Y, alpha_ball, horizon):
    """Prove L(t) <= exp(-2 alpha t) L(0) on [0, horizon] through its differential form: the
    validated enclosure of the flow, and ||grad L||^2 - 2 alpha L >= 0 on every piece of it
    (then d/dt L = -||grad L||^2 <= -2 alpha L, and Gronwall). At t = 0 the envelope itself is
    tight, so comparing values could never be decided there; the differential form can.
    Returns (proved, detail)."""
    why = ""
    for k, digits in enumerate(CERT_DIGITS):
        ab = alpha_ball(128 * 4 ** k)   # a bound near 0 needs a narrower ball as ||grad L|| -> 0
        if ab is None:
            return False, "the bound's enclosure is not finite"
        proved, why, undecided = _certify_envelope_at(N, ws, Y, ab, horizon, digits)
        if proved or not undecided:
            break
    return proved, why


def loss_on_boxes(N, Y):
    """``boxes -> arb``: the loss ||Y - W_1 ... W_L||_F^2 / 2 for every weight in the ball matrices
    ``boxes`` ({W_l: arb_mat})."""
    import flint
    from flowcert.numerics import ball_matrix
    E = N.target - sp.MatMul(*N.weights)
    Yb = flint.arb_mat(np.asarray(Y, dtype=float).tolist())

    def loss(boxes):
        env = dict(boxes)
        env[N.target] = Yb
        e2 = flint.arb(0)
        for x in ball_matrix(E, env).entries():
            e2 += x * x
        return e2 / 2

    return loss


def _certify_envelope_at(N, ws, Y, alpha_ball, horizon, digits):
    import flint
    from flowcert.numerics import ball_matrix, certify_flow
    w0 = dict(zip(N.weights, ws))
    enc = certify_flow(N.flow, w0, horizon, params={N.target: Y}, digits=digits, time_budget=CERT_BUDGET)
    if not enc.certified:
        return False, f"enclosure {enc.reason}", False
    E = N.target - sp.MatMul(*N.weights)
    Yb = flint.arb_mat(np.asarray(Y, dtype=float).tolist())

    from flowcert.numerics._certify import interval
    a_plus = flint.arb(max(alpha_ball.upper(), flint.arb(0)))
    a_low = alpha_ball.lower()

    def margin(boxes):
        env = dict(boxes)
        env[N.target] = Yb
        g_lo, g_hi = flint.arb(0), flint.arb(0)
        for F in enc.field(boxes):
            for x in F.entries():
                a, b = x.abs_lower(), x.abs_upper()
                g_lo += a * a
                g_hi += b * b
        e_lo, e_hi = flint.arb(0), flint.arb(0)
        for x in ball_matrix(E, env).entries():
            a, b = x.abs_lower(), x.abs_upper()
            e_lo += a * a
            e_hi += b * b
        # ||grad L||^2 - 2 alpha L (L = ||E||^2 / 2), for every alpha in its ball, between these
        # ends: squares bounded through |x| (never below 0), the sign of alpha minded
        lo = (g_lo - a_plus * e_hi).lower()
        hi = (g_hi - a_low * (e_lo if a_low >= 0 else e_hi)).upper()
        return interval(lo, hi)

    chk = enc.check(margin, ">=", 0, max_depth=8, deadline=None)
    where = (f"Arb {enc.bits} bits, {len(enc.steps)} validated Taylor steps of order {enc.order} "
             f"(enclosure width {enc.width():.1e} at t = {horizon:.3g}), {chk.pieces} pieces")
    if chk.holds:
        return True, f"certified: ||grad L||^2 >= 2 alpha L on every piece of [0, {horizon:.3g}] ({where})", False
    if chk.holds is None:
        # proved on [0, t_u]; after t_u the loss only decreases (dL/dt = -||grad L||^2), so
        # L(t_u) <= exp(-2 alpha+ T) L(0) settles the rest (a bound near 0, a flow slowing down)
        from flowcert.numerics._certify import workprec
        loss = loss_on_boxes(N, Y)
        with workprec(enc.bits):
            Lu = loss(dict(zip(enc.states, enc.at(chk.t))))
            L0 = loss({w: flint.arb_mat(np.asarray(v, dtype=float).tolist()) for w, v in w0.items()})
            T = flint.arb(flint.fmpq(enc.t_end.numerator, enc.t_end.denominator))
            if Lu.upper() < ((-GAMMA * a_plus * T).exp() * L0).lower():
                return True, (f"certified: ||grad L||^2 >= 2 alpha L on [0, {float(chk.t):.4g}], then "
                              f"L(t) <= L({float(chk.t):.4g}) < exp(-2 alpha T) L(0) ({where})"), False
    return False, f"differential form not proved ({chk.detail}; {where})", chk.holds is None


def _envelope(ws, Y, alpha, alpha_ball, label):
    """The simulated loss stays below exp(-alpha gamma t) L(0) (gamma = 2, L* = 0): evaluated along
    a float64 trajectory, then, where it holds, proved on a validated enclosure of the flow."""
    N = net(len(ws))
    alpha = float(alpha)
    horizon = 2.0 if alpha <= 0 else min(2.0, 12.0 / (GAMMA * alpha))  # down to exp(-12), not below
    times = list(np.linspace(0, horizon, 41))
    sol = solve(N.flow, dict(zip(N.weights, ws)), horizon, params={N.target: Y}, t_eval=times, dps=None)
    L = np.array(_losses(sol, N, Y), dtype=float)
    if L[0] == 0.0:  # W(0) = Y in float64: the flow stays at the minimum, every envelope holds
        slack, holds = math.inf, True
        detail = f"{label} = {alpha:.6g}; L(0) = 0"
    else:
        env = np.exp(-GAMMA * alpha * np.array(times)) * L[0]
        rel = (env - L + FLOW_REL * L[0]) / L[0]
        rel[0] = math.inf  # equal at t = 0 by construction
        k = int(np.argmin(rel))
        slack, holds = float(rel.min()), bool(rel.min() >= 0)
        detail = (f"{label} = {alpha:.6g}; worst at t = {times[k]:.3g}: L = {L[k]:.6g}, "
                  f"envelope {env[k]:.6g} (L(0) = {L[0]:.4g})")
    if holds:
        proved, why = _certify_envelope(N, ws, Y, alpha_ball, horizon)
        if proved:
            return Verdict(True, slack, "certified, Arb", f"{detail}; {why}",
                           certified=True)
        detail = f"{detail}; not certified: {why}"
    return Verdict(holds, slack, "float64", detail)


def _alphas(b, vals):
    """The bound evaluated (float64, as the envelope is drawn) and a function of the precision
    (bits) enclosing it in an Arb ball (None where the enclosure is not finite: a bound that
    divides by a vanishing quantity)."""
    from flowcert.numerics import CertifiedEvaluator

    def ball(prec):
        x = CertifiedEvaluator(vals, prec).bound(b)
        return x if x.is_finite() else None

    return Evaluator(vals).bound(b), ball


@st.composite
def _near_target(draw, depth):
    """Weights and a target near their product, so that the A2 margin is sometimes positive."""
    w = draw(S.widths(depth=depth, max_width=3))
    ws = draw(S.chains(shape=w, scheme="fan_in"))
    W = np.linalg.multi_dot(ws) if depth > 2 else ws[0] @ ws[1]
    return ws, W + draw(S.entries(W.shape, scale=0.5))


def _env_alpha2(ex):
    ws, Y = ex
    return _envelope(ws, Y, *_alphas(bound("alpha2"), values(ws, Y)), "alpha2 (with 1/2)")


def _env_delta_star(ex):
    ws, Y = ex
    return _envelope(ws, Y, *_alphas(bound("delta_star"), values(ws)), "Delta*")


def _env_thm3(ex):
    (ws, lstar), Y = ex
    b = bound("theorem3_unimodal", len(ws), lstar)
    return _envelope(ws, Y, *_alphas(b, values(ws)), f"prod d~ (l* = {lstar})")


claim("thm1.loss-envelope", "paper",
      "Theorem 1 (L = 2): the loss along the flow stays below exp(-2 alpha2 t) L(0) with alpha2 "
      "corrected by 1/2 and the A2 margin nu from W(0).",
      lambda: Listing(le(LOSS(t_), sp.exp(-gamma_ * A2 * t_) * LOSS(0)), eq(A2, bound("alpha2").shown())),
      _env_alpha2, _near_target(2), examples={"quick": 4, "standard": 25, "deep": 150},
      tex=r"Theorem 1 ($L = 2$): along the flow the loss stays below $e^{-2 \alpha_2 t} \mathcal{L}(0)$, with $\alpha_2$ corrected by $\frac{1}{2}$ and the margins $\nu$ of assumption A2 taken from $W(0)$.")

claim("cor1.loss-envelope", "paper",
      "Corollary 1 (L = 3): the loss along the flow stays below exp(-2 Delta* t) L(0).",
      le(LOSS(t_), sp.exp(-gamma_ * DSTAR * t_) * LOSS(0)),
      _env_delta_star, _near_target(3), examples={"quick": 4, "standard": 25, "deep": 150},
      tex=r"Corollary 1 ($L = 3$): along the flow the loss stays below $e^{-2 \Delta^{*} t} \mathcal{L}(0)$.")

claim("cor2.loss-envelope", "paper",
      "Corollary 2 (unimodal): the loss along the flow stays below exp(-2 prod d~(i) t) L(0).",
      le(LOSS(t_), sp.exp(-gamma_ * PROD_DTILDE * t_) * LOSS(0)),
      _env_thm3,
      S.unimodal(max_width=2).flatmap(lambda u: st.tuples(st.just(u), S.targets(u[0][0].shape[0],
                                                                                 u[0][-1].shape[1]))),
      examples={"quick": 4, "standard": 25, "deep": 150},
      tex=r"Corollary 2 (unimodal weights): along the flow the loss stays below $e^{-2 \prod_i \tilde{d}(i)\, t} \mathcal{L}(0)$.")


def _logistic(s0: float, y: float, t: float) -> float:
    """s = w1 w2 for balanced scalar weights: s' = 2 s (y - s), so s(t) is the logistic curve."""
    g = math.exp(2 * y * t)
    return y * s0 * g / (y + s0 * (g - 1))


def _integrator_order(ex):
    """Each integrator on the balanced scalar flow against its closed form: RK4's error falls 2^4
    when its step halves; Taylor and DOP853 within their tolerances; Taylor at 30 digits to 1e-25."""
    w0, y = ex
    N = net(2)
    T = 1.0
    exact_s = _logistic(w0 * w0, y, T)
    init = {N.weights[0]: [[w0]], N.weights[1]: [[w0]]}
    prm = {N.target: [[y]]}

    def err(**kw):
        sol = solve(N.flow, init, T, params=prm, **kw)
        f = sol.final
        return abs(float(f[N.weights[0]][0, 0]) * float(f[N.weights[1]][0, 0]) - exact_s) / max(1.0, abs(exact_s))

    with workdps(None):
        e = [err(method="rk4", h=T / n) for n in (20, 40, 80)]
        taylor, dop = err(method="taylor"), err(method="dop853", tol=1e-12)
    # RK4's error ratio tends to 16 from the truncation term (higher orders shift it by a few %;
    # rounding is far below these errors at h >= 1/80)
    ratios = [a / b for a, b in zip(e, e[1:])]
    with workdps(30):
        sol = solve(N.flow, init, T, params=prm)
        hp = abs(sol.final[N.weights[0]][0, 0] * sol.final[N.weights[1]][0, 0]
                 - mpmath_logistic(w0, y, T)) / max(1, abs(exact_s))
    checks = [(min(r for r in ratios) / 16 - 0.75) / 0.25, (1.25 - max(ratios) / 16) / 0.25,
              (1e-13 - taylor) / 1e-13, (1e-9 - dop) / 1e-9, (1e-25 - float(hp)) / 1e-25]
    margin = min(checks)
    return Verdict(margin >= 0, margin, "float64 and 30 dps",
                   f"w0={w0:.4g}, y={y:.4g}: rk4 error ratios on halving h = {', '.join(f'{r:.2f}' for r in ratios)} "
                   f"(order 4: 16); taylor {taylor:.2g}, dop853 {dop:.2g}, taylor at 30 digits {float(hp):.2g}")


def mpmath_logistic(w0, y, t):
    """:func:`_logistic` at the working precision, from the float w0 exactly (s0 = w0^2 unrounded)."""
    import mpmath
    s0, y = mpmath.mpf(w0) ** 2, mpmath.mpf(y)
    g = mpmath.exp(2 * y * t)
    return y * s0 * g / (y + s0 * (g - 1))


claim("flow.integrators", "derived",
      "On balanced two-layer scalar weights the flow of s = w1 w2 is the logistic s' = 2 s (y - s): RK4 "
      "converges at order 4 (error ratio 16 +- 25% on halving the step), Taylor and DOP853 meet their "
      "tolerances in float64, and Taylor at 30 digits is within 1e-25.",
      lambda: eq(Ddt(sym("s")), 2 * sym("s") * (sym("y") - sym("s"))),
      _integrator_order,
      st.tuples(st.floats(0.3, 1.5, allow_subnormal=False), st.floats(0.5, 2.0, allow_subnormal=False)),
      examples={"quick": 2, "standard": 10, "deep": 40},
      tex=r"On balanced two-layer scalar weights the flow of $s = w_1 w_2$ is the logistic $\dot s = 2 s (y - s)$: RK4 converges at order 4 (error ratio $16 \pm 25\%$ on halving the step), Taylor and DOP853 meet their tolerances in float64, and Taylor at 30 digits is within $10^{-25}$.")


def _alpha2_printed_flow(_):
    N = net(2)
    with workdps(30):
        sol = solve(N.flow, {N.weights[0]: [[1]], N.weights[1]: [[0]]}, 0.01, params={N.target: [[1]]},
                    t_eval=[0, 0.01])
        L = _losses(sol, N, np.array([[1.0]]))
        printed = L[0] * mpmath_exp(-4 * 0.01)
        fixed = L[0] * mpmath_exp(-2 * 0.01)
        ok = L[1] > printed and L[1] <= fixed
        # above the printed envelope and below the corrected one: the smaller room of the two
        return Verdict(ok, float(min(L[1] - printed, fixed - L[1]) / (fixed - printed)), "30 dps",
                       f"L(0.01) = {float(L[1]):.6f} > exp(-4t) L(0) = {float(printed):.6f} (printed alpha2 = 2); "
                       f"<= exp(-2t) L(0) = {float(fixed):.6f} (alpha2 = 1)")


def mpmath_exp(x):
    import mpmath
    return mpmath.exp(x)


claim("disc.alpha2-printed-flow", "derived",
      "Discrepancy, along the flow: from (w1, w2) = (1, 0), y = 1 the loss at t = 0.01 exceeds the "
      "envelope of the printed alpha2 = 2 and respects that of the corrected alpha2 = 1.",
      Listing(gt(LOSS(t_), sp.exp(-4 * t_) * LOSS(0)), eq(t_, sp.Float("0.01"))),
      _alpha2_printed_flow, discrepancy=True,
      tex=r"Discrepancy, along the flow: from $(w_1, w_2) = (1, 0)$ and $y = 1$ the loss at $t = 0.01$ exceeds the envelope $e^{-4t}\mathcal{L}(0)$ of the printed $\alpha_2 = 2$ and respects that of the corrected $\alpha_2 = 1$.")


# ---------------------------------------------------------------------------------------------
# LaTeX export


def latex_section() -> str:
    """The derived formulas of this paper for `flowcert latex`."""
    from flowcert.checks.export import show, tt
    out = [r"\section{min2023: Min, Vidal, Mallada (ICML 2023)}", r"\subsection{Model and gradient flow}"]
    out.append(show(eq(LOSS(*net(2).weights), net(2).loss)))
    out.append("SymPy derives the gradient flow from the loss (two and three layers):")
    for L in (2, 3):
        for w, f in net(L).flow.items():
            out.append(show(eq(Ddt(w), f), "min2023.d1.gradient-formula"))
    out.append(r"\subsection{Conserved imbalance}")
    for l in (1, 2):
        out.append(show(eq(th.D_of(l), net(3).imbalance(l))))
    from flowcert.theory._linear import _ddt
    raw = _ddt(sp.expand(net(3).imbalance(1)), net(3).flow)
    terms = list(sp.MatAdd.make_args(raw))
    while any(isinstance(t, sp.MatAdd) for t in terms):
        terms = [a for t in terms for a in sp.MatAdd.make_args(t)]
    flat = sp.MatAdd(*terms)
    out.append(r"Substituting the flow (\(L = 3\), \(l = 1\)) gives terms that cancel in pairs:")
    out.append(show(Chain(eq(Ddt(th.D_of(1)), flat), eq(flat, sp.ZeroMatrix(*flat.shape))),
                    "min2023.lemma2.conservation-symbolic"))
    out.append(r"One step of gradient descent with step \(\eta\) and layer gradients \(G_l\):")
    out.append(show(GD_IDENTITY(), "min2023.gd.exact-identity"))
    out.append(r"\subsection{Quadratic invariants found by search}")
    for depth, shape in INVARIANT_SHAPES:
        r = th.linear_network_invariants(depth, shape)
        out.append(f"Depth {depth}, widths {shape}: the quadratic invariants span dimension {r.dim}, of which the "
                   f"imbalance entries span {r.imbalance_rank}; other invariants: {'none' if not r.others else ''}\n")
        for o in r.shown():
            out.append(show(o, "min2023.lemma2.invariant-search"))
    out.append(r"\subsection{Rate envelopes}")
    a, c0 = sp.symbols("alpha c_0", positive=True)
    Lstar = sym(r"\mathcal{L}^{*}")
    out.append(r"With \(c_0 = \mathcal{L}(0) - \mathcal{L}^{*}\): Gr\"onwall under A1, and Theorem 4 under A1'.")
    out.append(show(le(LOSS(t_) - Lstar, c0 * th.loss_envelope(a, t_)), "min2023.cor1.loss-envelope"))
    out.append(show(le(LOSS(t_) - Lstar, c0 / (c0 * a * gamma_**2 * t_ + 1))))
    e = sym(r"\epsilon")
    out.append(show(ge(PROD_DTILDE, e ** (L_ - 1) * sp.factorial(L_ - 1)), "min2023.thm3.super-exponential"))
    out.append(r"\subsection{Rate bounds}")
    out.append(r"Each bound in the paper's notation, then the abbreviations it uses.")
    # (bound, how the paper states it): an identity, a lower bound on lambda_min(T), or a named quantity
    bounds = [(th.two_layer_closed_form(), lambda x: eq(T_MIN, x)), (th.balanced(3), lambda x: eq(T_MIN, x)),
              (th.delta_two_layer(), None), (th.lemma3_rhs(), lambda x: ge(2 * T_MIN, x)),
              (th.alpha2(), lambda x: eq(A2, x)), (th.alpha2(printed=True), lambda x: eq(A2_PRINTED, x)),
              (th.g_three_layer(), lambda x: eq(G_, x)), (th.delta_star(), lambda x: eq(DSTAR, x)),
              (th.delta_star(appendix=True), lambda x: eq(sym(r"\Delta^{*}_{\mathrm{G.2}}"), x)),
              (th.theorem3_unimodal(4, 2), lambda x: ge(T_MIN, x)),
              (th.theorem3_homogeneous(3, 3), lambda x: ge(T_MIN, x))]
    shown = set()
    for b, stated in bounds:
        out.append(f"\\paragraph{{{tt(b.name)}}} {b.label.replace('_', ' ')}.\n")
        if stated is not None:
            out.append(show(stated(b.shown())))
        for d in b.shown_definitions():
            if d not in shown:  # each abbreviation once, where it first appears
                shown.add(d)
                out.append(show(d))
    return "\n".join(out)
