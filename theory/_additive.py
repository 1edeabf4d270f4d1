"""Additive networks on ``[0, 1]^d``: one row of units per input coordinate, fitted to a batch.

``f(x) = sum_{k=1}^{d} sum_{j=1}^{m} a_{jk} phi((x_k - u_{jk}) / w)``, with ``phi`` a piecewise
polynomial (marion2023's cubic smooth step with ``w = eta``, or ReLU with ``w = 1``), fitted to a
batch ``(x_i, y_i)``, ``i = 1..n``, by the criterion of the authors' multi-dimensional notebooks,
``C = ||f(X) - y||_2 / n``: the Euclidean norm of the residual, not its square.

Everything numerics needs is derived here: the activation and its derivative as piecewise
polynomials, the derivative of a unit with respect to each of its two parameters (SymPy
differentiates ``a phi((x - u)/w)`` through an undefined ``phi`` and the factor in front of
``phi`` or ``phi'`` is read off), and the per-sample weight of the criterion's gradient: with
``S = sum_i e_i^2`` and ``e = f(X) - y``, ``dC/df_i = 2 (dC/dS) e_i``.

>>> net = AdditiveNetwork(2, 3)
>>> net.factor("u")
-a/eta
>>> net.sample_weight
1/(sqrt(S)*n)
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ._shallow import SIGMA, piecewise_polynomial, t, to_piecewise
from ._cache import derived

__all__ = ["ACTIVATIONS", "AdditiveNetwork", "RELU"]

#: ReLU as a Piecewise in t (from ``Max(t, 0)``).
RELU = to_piecewise(sp.Max(t, 0), t)

#: name -> (activation in t, whether the unit is scaled by a width eta)
ACTIVATIONS = {"smooth-step": (SIGMA, True), "relu": (RELU, False)}

CRITERIA = ("norm", "mse")


@dataclass(frozen=True)
class AdditiveNetwork:
    """``d`` coordinates, ``m`` units on each; ``activation`` one of :data:`ACTIVATIONS`;
    ``criterion`` ``"norm"`` (``||e||_2 / n``, the notebooks') or ``"mse"`` (``||e||_2^2 / n``)."""

    d: int
    m: int
    activation: str = "smooth-step"
    criterion: str = "norm"

    a_ = sp.Symbol("a", real=True)
    u_ = sp.Symbol("u", real=True)
    x_ = sp.Symbol("x", real=True)
    eta = sp.Symbol("eta", positive=True)
    S = sp.Symbol("S", nonnegative=True)
    n = sp.Symbol("n", positive=True, integer=True)

    def __post_init__(self):
        for name in ("d", "m"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion: expected one of {', '.join(CRITERIA)}, got {self.criterion!r}")

    @property
    def phi(self) -> sp.Piecewise:
        return ACTIVATIONS[self.activation][0]

    @property
    def width(self) -> sp.Expr:
        return self.eta if ACTIVATIONS[self.activation][1] else sp.Integer(1)

    @derived
    def dphi(self) -> sp.Piecewise:
        return sp.piecewise_fold(sp.diff(self.phi, t))

    def templates(self) -> tuple:
        """``((breaks, coefficients) of phi, the same of phi')``, exact rationals."""
        return piecewise_polynomial(self.phi, t), piecewise_polynomial(self.dphi, t)

    @derived
    def params(self) -> tuple:
        """``(a, u)``: ``m x d`` matrices of symbols ``a_{j,k}``, ``u_{j,k}``."""
        # a comma between the indices: ``a_{111}`` would be both (1, 11) and (11, 1)
        a = sp.Matrix(self.m, self.d, lambda j, k: sp.Symbol(f"a_{{{j + 1},{k + 1}}}", real=True))
        u = sp.Matrix(self.m, self.d, lambda j, k: sp.Symbol(f"u_{{{j + 1},{k + 1}}}", real=True))
        return a, u

    def output(self, xs) -> sp.Expr:
        """``f(x)`` at the point ``xs`` (d entries, symbols or numbers)."""
        if len(xs) != self.d:
            raise ValueError(f"xs: expected {self.d} coordinates, got {len(xs)}")
        a, u = self.params
        return sum(a[j, k] * self.phi.subs(t, (xs[k] - u[j, k]) / self.width)
                   for j in range(self.m) for k in range(self.d))

    @derived
    def _unit_derivatives(self) -> dict:
        """``{"a": (factor, 0), "u": (factor, 1)}``: ``d/dp [a phi((x - u)/w)] = factor phi^(order)``."""
        F = sp.Function("phi")
        s = (self.x_ - self.u_) / self.width
        p0, p1 = sp.Dummy("p0"), sp.Dummy("p1")
        out = {}
        for name, p in (("a", self.a_), ("u", self.u_)):
            e = sp.diff(self.a_ * F(s), p)
            e = e.replace(lambda z: isinstance(z, sp.Subs) or isinstance(z, sp.Derivative), lambda z: p1)
            e = e.replace(lambda z: isinstance(z, sp.core.function.AppliedUndef), lambda z: p0)
            e = sp.expand(e)
            c0, c1 = e.coeff(p0), e.coeff(p1)
            if sp.expand(e - c0 * p0 - c1 * p1) != 0 or (c0 != 0) == (c1 != 0):
                raise AssertionError(f"d unit / d {name} = {e} is not a multiple of phi or of phi'")
            out[name] = (c0, 0) if c0 != 0 else (c1, 1)
        return out

    def factor(self, name: str) -> sp.Expr:
        """The factor in front of ``phi`` (``name="a"``) or ``phi'`` (``"u"``) in the unit's derivative."""
        if name not in ("a", "u"):
            raise ValueError(f"name: expected 'a' or 'u', got {name!r}")
        return self._unit_derivatives[name][0]

    def order(self, name: str) -> int:
        """Which derivative of ``phi`` the unit's derivative in ``name`` holds (0 or 1)."""
        self.factor(name)
        return self._unit_derivatives[name][1]

    @derived
    def criterion_of_S(self) -> sp.Expr:
        """The criterion as a function of ``S = ||f(X) - y||^2`` and the batch size ``n``."""
        return sp.sqrt(self.S) / self.n if self.criterion == "norm" else self.S / self.n

    @derived
    def sample_weight(self) -> sp.Expr:
        """``w`` with ``dC/df_i = w e_i``: ``2 dC/dS`` (chain rule through ``S = sum e_i^2``)."""
        return sp.simplify(2 * sp.diff(self.criterion_of_S, self.S))

    def shown(self) -> dict:
        """The model, the criterion and the derived gradient as relations for print (paper notation:
        ``e = f(X) - y``, ``s_{ijk} = (x_{ik} - u_{jk}) / w``)."""
        from ._notation import Norm, Partial, eq, func, sym
        i, j, k = sym("i"), sym("j"), sym("k")
        phi = func(r"\sigma" if self.activation == "smooth-step" else r"\operatorname{ReLU}")
        dphi = func(r"\sigma'" if self.activation == "smooth-step" else r"\operatorname{ReLU}'")
        a, u, C, e = sym("a_{jk}"), sym("u_{jk}"), sym("C"), sym("e")
        w = self.width
        s = (sym("x_{ik}") - u) / w
        f = func("f")
        model = eq(f(sym("x")), sp.Sum(sp.Sum(a * phi((sym("x_{k}") - u) / w), (j, 1, sym("m"))), (k, 1, sym("d"))))
        n = sym("n")
        crit = eq(C, self.criterion_of_S.subs({self.S: Norm(e, 2) ** 2, self.n: n}))
        weight = self.sample_weight.subs({self.S: Norm(e, 2) ** 2, self.n: n})
        grads = {}
        for name, p in (("a", a), ("u", u)):
            unit = (phi if self.order(name) == 0 else dphi)(s)
            fac = self.factor(name).subs(self.a_, a)
            coef = weight * fac
            sign = -1 if coef.could_extract_minus_sign() else 1  # the sign in front of the sum
            grads[name] = eq(Partial(C, p), sign * sp.Sum(sign * coef * sym("e_{i}") * unit, (i, 1, n)))
        return {"model": model, "criterion": crit, "gradient-a": grads["a"], "gradient-u": grads["u"]}
