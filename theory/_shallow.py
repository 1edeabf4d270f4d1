"""The univariate two-timescale network of marion2023, defined once; everything else is derived.

``f(x; a, u) = a_0 + sum_j a_j sigma((x - u_j) / eta)`` on ``[0, 1]`` with the cubic smooth step
``sigma``, fitted to a piecewise-constant target ``f*`` by the population loss
``L = int_0^1 (f - f*)^2`` (no 1/2). The activation is taken from the reference code's min/max
formula and turned into a piecewise polynomial here; the flow, the eps -> 0 (Heaviside) limit, its
reduced loss, velocities, hitting-time bound and conserved quantity are derived by SymPy.

Exact evaluation: every integrand is a polynomial between finitely many points (the switches of
Min/Max/Piecewise/Heaviside), so :func:`integrate_exact` splits there and integrates each
polynomial symbolically. SymPy's own ``integrate`` cannot do ``int (sigma - H)^2`` (it returns
unevaluated integrals), hence this route.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from ._cache import derivation, derived


HALF = sp.Rational(1, 2)
t = sp.Symbol("t", real=True)
x = sp.Symbol("x", real=True)

__all__ = [
    "SIGMA", "SIGMA_CODE", "TARGETS", "CellLimit", "ShallowNetwork", "StepTarget",
    "integrate_exact", "piecewise_polynomial", "resolve", "switch_points", "to_piecewise",
]


# -- exact piecewise calculus -----------------------------------------------------------------
def _leaves(e):
    """The polynomial values a Min/Max can take (its non-Min/Max leaves)."""
    if isinstance(e, (sp.Min, sp.Max)):
        return [v for a in e.args for v in _leaves(a)]
    return [e]


def _roots(p, var):
    """Real roots of a polynomial in ``var``: linear ones in closed form (coefficients may be
    symbols of known sign), others exactly when numeric and rational."""
    p = sp.expand(p)
    if not p.has(var):
        return set()
    if not p.is_polynomial(var):
        raise ValueError(f"expr: {p} is not polynomial in {var}; cannot locate its switch points")
    poly = sp.Poly(p, var)
    if poly.degree() == 1:
        c1, c0 = poly.all_coeffs()
        return {sp.simplify(-c0 / c1)}
    if poly.free_symbols - {var}:
        raise ValueError(f"expr: {p} has symbolic coefficients; cannot order its roots")
    roots = set(sp.real_roots(poly))
    if any(not r.is_rational for r in roots):
        raise ValueError(f"expr: {p} has an irrational root")
    return roots


def switch_points(expr, var) -> list:
    """Where the branch of a Min, Max, Piecewise or Heaviside inside ``expr`` may change.

    Conditions and arguments must be polynomial in ``var`` with numeric coefficients; only rational
    switch points are supported (a cubic's irrational root raises, it never occurs here).
    """
    pts = set()
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Min, sp.Max)):
            leaves = [_leaves(a) for a in node.args]
            for i in range(len(leaves)):
                for j in range(i + 1, len(leaves)):
                    for p in leaves[i]:
                        for q in leaves[j]:
                            pts |= _roots(p - q, var)
        elif isinstance(node, sp.Piecewise):
            for _, cond in node.args:
                for rel in cond.atoms(sp.Rel):
                    pts |= _roots(rel.lhs - rel.rhs, var)
        elif isinstance(node, sp.Heaviside):
            pts |= _roots(node.args[0], var)
    return sorted(pts, key=sp.default_sort_key) if any(not p.is_number for p in pts) else sorted(pts)


def resolve(expr, var, at):
    """``expr`` with every Min/Max/Piecewise/Heaviside replaced by its branch at ``var = at``
    (``at`` strictly inside an interval free of switch points, so the branch holds on all of it)."""
    if isinstance(expr, (sp.Min, sp.Max)):
        args = [resolve(a, var, at) for a in expr.args]
        vals = [a.subs(var, at) for a in args]
        pick = min if isinstance(expr, sp.Min) else max
        return args[vals.index(pick(vals))]
    if isinstance(expr, sp.Piecewise):
        for e, cond in expr.args:
            c = cond.subs(var, at)
            if c == sp.true:
                return resolve(e, var, at)
            if c != sp.false:
                raise ValueError(f"condition {cond} undecided at {var} = {at}")
        raise ValueError(f"no branch of {expr} holds at {var} = {at}")
    if isinstance(expr, sp.Heaviside):
        s = expr.args[0].subs(var, at)
        if s == 0:
            raise ValueError(f"Heaviside at its jump ({var} = {at})")
        return sp.Integer(1 if s > 0 else 0)
    if not expr.args or not expr.has(sp.Min, sp.Max, sp.Piecewise, sp.Heaviside):
        return expr
    return expr.func(*[resolve(a, var, at) for a in expr.args])


def _deciders(expr, var):
    """Each relational and Heaviside atom of ``expr`` as an exact rational affine function of ``var``."""
    out = {}
    for atom in expr.atoms(sp.Rel, sp.Heaviside):
        d = atom.lhs - atom.rhs if isinstance(atom, sp.Rel) else atom.args[0]
        poly = sp.Poly(sp.expand(d), var)
        if poly.degree() > 1 or poly.free_symbols - {var}:
            return None
        c = [sp.Rational(v) for v in poly.all_coeffs()]
        out[atom] = (0, c[0]) if len(c) == 1 else (c[0], c[1])
    return out


def _branch_at(expr, var, at, deciders):
    """Fast :func:`resolve` for affine conditions: replace every condition by its truth value."""
    vals = {}
    for atom, (c1, c0) in deciders.items():
        d = c1 * at + c0
        if isinstance(atom, sp.Heaviside):
            vals[atom] = sp.Integer(1 if d > 0 else 0)
        else:
            vals[atom] = sp.true if atom.func(d, 0) else sp.false
    return expr.xreplace(vals)


def integrate_exact(expr, var, lo, hi):
    """``int_lo^hi expr dvar`` exactly, for an integrand polynomial between its switch points."""
    lo, hi = sp.nsimplify(lo, rational=True), sp.nsimplify(hi, rational=True)
    pts = [lo] + [p for p in switch_points(expr, var) if lo < p < hi] + [hi]
    dec = None if expr.has(sp.Min, sp.Max) else _deciders(expr, var)
    total = sp.Integer(0)
    for a, b in zip(pts[:-1], pts[1:]):
        mid = (a + b) / 2
        branch = resolve(expr, var, mid) if dec is None else _branch_at(expr, var, mid, dec)
        # expand: an integrand substituted without evaluation may hold unevaluated numeric products
        poly = sp.Poly(sp.expand(branch), var).integrate()
        total += poly.eval(b) - poly.eval(a)
    return sp.expand(total)


def to_piecewise(expr, var) -> sp.Piecewise:
    """``expr`` as one Piecewise in ``var`` with polynomial branches (adjacent equal ones merged)."""
    pts = switch_points(expr, var)
    if not pts:
        return sp.Piecewise((sp.expand(resolve(expr, var, 0)), True))
    probes = [pts[0] - 1] + [(a + b) / 2 for a, b in zip(pts[:-1], pts[1:])] + [pts[-1] + 1]
    branches = [sp.expand(resolve(expr, var, p)) for p in probes]
    pieces = []
    for i, br in enumerate(branches):
        cond = var <= pts[i] if i < len(pts) else True
        if pieces and sp.expand(pieces[-1][0] - br) == 0:
            pieces[-1] = (br, cond)
        else:
            pieces.append((br, cond))
    return sp.Piecewise(*pieces)


def piecewise_polynomial(pw: sp.Piecewise, var):
    """``(breaks, coefficients)`` of a Piecewise whose conditions are ``var <= b`` (ascending):
    ``coefficients[k]`` are the power-basis coefficients (constant first) of piece k, piece 0
    being ``var <= breaks[0]`` and the last ``var > breaks[-1]``."""
    breaks, coefs = [], []
    for e, cond in pw.args:
        if cond != sp.true:
            if not (isinstance(cond, sp.LessThan) and cond.lhs == var):
                raise ValueError(f"condition {cond}: expected '{var} <= b'")
            breaks.append(cond.rhs)
        coefs.append(sp.Poly(e, var).all_coeffs()[::-1])
    d = max(len(c) for c in coefs)
    return tuple(breaks), tuple(tuple(c) + (sp.Integer(0),) * (d - len(c)) for c in coefs)


# -- the activation ---------------------------------------------------------------------------
#: The reference code's formula [code]: min(max(4(t+1/2)^3, 0), 1/2) + min(max(1/2 - 4(1/2-t)^3, 0), 1/2)
SIGMA_CODE = sp.Min(sp.Max(4 * (t + HALF) ** 3, 0), HALF) + sp.Min(sp.Max(HALF - 4 * (HALF - t) ** 3, 0), HALF)
#: The same function as a piecewise cubic (derived from :data:`SIGMA_CODE`).
SIGMA = to_piecewise(SIGMA_CODE, t)


def sigma_of(arg):
    return SIGMA.subs(t, arg)


# -- targets ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepTarget:
    """A piecewise-constant ``f*`` on [0, 1]: ``values[k]`` on ``(v_k, v_{k+1})`` with
    ``v_0 = 0``, ``v_{n+1} = 1`` and the discontinuities ``positions = (v_1, ..., v_n)``."""

    positions: tuple
    values: tuple
    name: str = ""

    def __post_init__(self):
        pos = tuple(sp.nsimplify(p, rational=True) if not isinstance(p, sp.Basic) else p
                    for p in self.positions)
        vals = tuple(sp.nsimplify(v, rational=True) if not isinstance(v, sp.Basic) else v
                     for v in self.values)
        if len(vals) != len(pos) + 1:
            raise ValueError(f"target_values: expected {len(pos) + 1} values for {len(pos)} "
                             f"discontinuities, got {len(vals)}")
        if any(p.is_number and not 0 < p < 1 for p in pos):
            raise ValueError(f"target_positions: expected points strictly inside (0, 1), got {self.positions}")
        if any(p.is_number and q.is_number and not p < q for p, q in zip(pos[:-1], pos[1:])):
            raise ValueError(f"target_positions: expected strictly increasing points, got {self.positions}")
        if any((b - a) == 0 for a, b in zip(vals[:-1], vals[1:])):
            raise ValueError(f"target_values: expected a jump at every discontinuity, got {self.values}")
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "values", vals)

    @classmethod
    def named(cls, name: str) -> "StepTarget":
        if name not in TARGETS:
            raise ValueError(f"target: expected one of {', '.join(TARGETS)}, got {name!r}")
        pos, vals = TARGETS[name]
        return cls(pos, vals, name)

    @property
    def jumps(self) -> tuple:
        return tuple(b - a for a, b in zip(self.values[:-1], self.values[1:]))

    @property
    def edges(self) -> tuple:
        return (sp.Integer(0),) + self.positions + (sp.Integer(1),)

    def function(self, var=x) -> sp.Expr:
        """``f*`` as a sum of Heaviside steps (the value at a discontinuity is immaterial)."""
        return self.values[0] + sum(d * sp.Heaviside(var - v) for d, v in zip(self.jumps, self.positions))

    @derived
    def l2_squared(self) -> sp.Expr:
        """``int_0^1 f*^2`` (the loss at a = 0)."""
        return integrate_exact(self.function() ** 2, x, 0, 1)


#: The two named targets: the reference code's values, and the seed summary read literally.
TARGETS = {
    "reference-code": ((sp.Rational(1, 5), sp.Rational(7, 20), HALF, sp.Rational(13, 20), sp.Rational(4, 5)),
                       (1, 5, 1, 3, 1, 5)),
    "paper-text": ((sp.Rational(1, 5), sp.Rational(7, 20), HALF, sp.Rational(13, 20), sp.Rational(4, 5)),
                   (1, 4, 1, 2, 1, 4)),
}


# -- the network ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShallowNetwork:
    """``f = a_0 + sum_{j=1}^m a_j sigma((x - u_j)/eta)`` and its population loss against a target.

    >>> net = ShallowNetwork(1)
    >>> net.params
    (a0, a1, u1)
    >>> net.output.subs({net.u[0]: 0, net.eta: 1, x: 0})
    a0 + a1/2
    """

    m: int

    def __post_init__(self):
        if isinstance(self.m, bool) or not isinstance(self.m, int) or self.m < 1:
            raise ValueError(f"m: expected a positive integer, got {self.m!r}")

    @derived
    def a(self) -> tuple:
        return sp.symbols(f"a0:{self.m + 1}", real=True)

    @derived
    def u(self) -> tuple:
        return sp.symbols(f"u1:{self.m + 1}", real=True)

    eta = sp.Symbol("eta", positive=True)
    eps = sp.Symbol("epsilon", positive=True)

    def unit(self, j: int) -> sp.Expr:
        """``sigma((x - u_j)/eta)``, j = 1..m, with the conditions written in x (as eta > 0)."""
        pw = sigma_of((x - self.u[j - 1]) / self.eta)
        return sp.Piecewise(*[(e, _scale_condition(c, self.eta)) for e, c in pw.args])

    @derived
    def output(self) -> sp.Expr:
        return self.a[0] + sum(self.a[j] * self.unit(j) for j in range(1, self.m + 1))

    @property
    def params(self) -> tuple:
        return self.a + self.u

    def loss(self, target: StepTarget) -> sp.Integral:
        return _integral((self.output - target.function()) ** 2)

    @derived
    @derivation
    def _integrand_gradient(self):
        """``d/dtheta (f - F)^2`` by SymPy, with ``F`` standing for ``f*(x)`` (free of theta)."""
        F = sp.Symbol("F_star", real=True)
        return F, {p: sp.diff((self.output - F) ** 2, p) for p in self.params}

    def gradient(self, target: StepTarget) -> dict:
        """``dL/dtheta`` for every parameter: the limits 0, 1 are constant, so the derivative passes
        under the integral (Leibniz); the integrand's derivative is SymPy's (derived once per m,
        then the target is substituted)."""
        F, g = self._integrand_gradient
        fs = target.function()
        return {p: _integral(e.xreplace({F: fs})) for p, e in g.items()}

    def flow(self, target: StepTarget) -> dict:
        """``da/dt = -grad_a L``, ``du/dt = -eps grad_u L`` (outer layer fast, inner layer slow)."""
        g = self.gradient(target)
        return {p: (-g[p] if p in self.a else -self.eps * g[p]) for p in self.params}

    @derivation
    def evaluate(self, expr, values: dict):
        """Exact value of ``expr`` (an Integral over x, or a plain expression) at rational values."""
        sub = {k: sp.nsimplify(v, rational=True) for k, v in values.items()}
        if isinstance(expr, sp.Integral):
            (var, lo, hi), = expr.limits
            with sp.evaluate(False):  # no Piecewise re-evaluation: resolve() decides each branch
                f = expr.function.xreplace(sub)
            return integrate_exact(f, var, lo, hi)
        return sp.expand(expr.xreplace(sub))


def _integral(f):
    """``Integral(f, (x, 0, 1))`` built without ``piecewise_fold`` (seconds per integrand, for nothing)."""
    obj = sp.Expr.__new__(sp.Integral)
    obj._args = (f, sp.Tuple(x, 0, 1))
    obj.is_commutative = True  # what ExprWithLimits sets for a commutative integrand
    return obj


def _scale_condition(cond, eta):
    """``(x - u)/eta <= c`` as ``x - u <= c eta`` (valid for eta > 0), so x-roots are polynomial."""
    if isinstance(cond, sp.LessThan):
        lhs = sp.expand(cond.lhs * eta)
        return sp.LessThan(lhs, sp.expand(cond.rhs * eta))
    return cond


# -- the eps -> 0, eta -> 0 (Heaviside) limit ---------------------------------------------------
@dataclass(frozen=True)
class CellLimit:
    """One discontinuity ``v`` (jump ``Delta``, value ``A`` on its left) between flanking neurons
    ``u_L = v - d_L`` and ``u_R = v + d_R``. In the Heaviside limit the fast weights make the
    network constant (``c``) on ``[u_L, u_R]``; all other cells fit ``f*`` exactly."""

    dL = sp.Symbol("d_L", positive=True)
    dR = sp.Symbol("d_R", positive=True)
    A = sp.Symbol("A", real=True)
    Delta = sp.Symbol("Delta", real=True, nonzero=True)
    c = sp.Symbol("c", real=True)
    v = sp.Symbol("v", real=True)
    uL = sp.Symbol("u_L", real=True)
    uR = sp.Symbol("u_R", real=True)
    tau = sp.Symbol("tau", nonnegative=True)

    @derived
    @derivation
    def cell_loss(self) -> sp.Expr:
        """``int_{u_L}^{u_R} (c - f*)^2`` with ``f* = A + Delta H(x - v)``, split at v."""
        fstar = self.A + self.Delta * sp.Heaviside(x - self.v)
        e = (self.c - fstar) ** 2
        left = sp.integrate(resolve(e, x, self.v - 1), (x, self.v - self.dL, self.v))
        right = sp.integrate(resolve(e, x, self.v + 1), (x, self.v, self.v + self.dR))
        return sp.expand(left + right)

    @derived
    @derivation
    def optimal_value(self) -> sp.Expr:
        """The fast weights' optimum on the cell: the cell average of f*."""
        sol = sp.solve(sp.diff(self.cell_loss, self.c), self.c)
        if len(sol) != 1:
            raise ArithmeticError(f"expected one optimum, got {sol}")
        return sp.factor(sol[0])

    @derived
    @derivation
    def reduced_loss(self) -> sp.Expr:
        """``L_red`` of the cell, ``cell_loss`` at the optimum."""
        return sp.factor(self.cell_loss.subs(self.c, self.optimal_value))

    def _in_positions(self, e):
        return e.subs({self.dL: self.v - self.uL, self.dR: self.uR - self.v})

    def _in_distances(self, e):
        return sp.factor(e.subs({self.uL: self.v - self.dL, self.uR: self.v + self.dR}))

    @derived
    @derivation
    def velocities(self) -> dict:
        """``du/dtau = -dL_red/du`` for the two flanking neurons, in terms of d_L, d_R."""
        L = self._in_positions(self.reduced_loss)
        return {self.uL: self._in_distances(-sp.diff(L, self.uL)),
                self.uR: self._in_distances(-sp.diff(L, self.uR))}

    @derived
    def code_velocities(self) -> dict:
        """The reference code's slow derivatives, negated (it returns dL_red/du) [code]."""
        s = self.dL + self.dR
        return {self.uL: (self.dR * self.Delta / s) ** 2, self.uR: -(self.dL * self.Delta / s) ** 2}

    @derived
    @derivation
    def envelope_residual(self) -> sp.Expr:
        """``d/du_L L_red - (dL_cell/du_L at fixed c)|_{c*}``; the envelope theorem says 0."""
        full = self._in_positions(self.cell_loss)
        partial = sp.diff(full, self.uL).subs(self.c, self._in_positions(self.optimal_value))
        total = sp.diff(self._in_positions(self.reduced_loss), self.uL)
        return sp.simplify(partial - total)

    @derived
    @derivation
    def distance_field(self) -> dict:
        """``(d_L', d_R')`` along the limit flow (``d_L = v - u_L``, ``d_R = u_R - v``)."""
        vel = self.velocities
        return {self.dL: -vel[self.uL], self.dR: vel[self.uR]}

    @derived
    def gap_rate(self) -> sp.Expr:
        """``d/dtau (d_L + d_R)``."""
        f = self.distance_field
        return sp.factor(f[self.dL] + f[self.dR])

    @derived
    @derivation
    def gap_rate_excess(self) -> sp.Expr:
        """``d/dtau (d_L + d_R) + Delta^2/2``, factored: ``-Delta^2 (d_L - d_R)^2 / (2 (d_L + d_R)^2)``,
        never positive, so the gap shrinks at rate at least Delta^2/2."""
        return sp.factor(self.gap_rate + self.Delta ** 2 / 2)

    @derived
    @derivation
    def hitting_time_bound(self) -> sp.Expr:
        """``2 s_0 / Delta^2``: the gap ``s = d_L + d_R`` hits 0 no later than this (from
        ``ds/dtau <= -Delta^2/2``, integrated by SymPy)."""
        s0 = sp.Symbol("s_0", positive=True)
        s = sp.Function("s")
        sol = sp.dsolve(sp.Eq(s(self.tau).diff(self.tau), -self.Delta ** 2 / 2), s(self.tau),
                        ics={s(0): s0})
        hit = sp.solve(sp.Eq(sol.rhs, 0), self.tau)
        return hit[0].subs(s0, self.dL + self.dR)

    @derived
    def polynomial_field(self) -> tuple:
        """``(d_L + d_R)^2 (d_L', d_R')``: a positive time change of the flow, same first integrals."""
        f = self.distance_field
        s2 = (self.dL + self.dR) ** 2
        return tuple(sp.factor(s2 * f[v]) for v in (self.dL, self.dR))

    def invariants(self, degree):
        """Polynomial first integrals of the flow of degree ``degree`` (exact search)."""
        from ._invariants import find_quadratic_invariants
        return find_quadratic_invariants((self.dL, self.dR), self.polynomial_field, (self.Delta,),
                                         degree=degree)

    @derived
    def conserved(self) -> sp.Expr:
        return self.dL ** 3 - self.dR ** 3

    @derived
    def conserved_residual(self) -> sp.Expr:
        f = self.distance_field
        return sp.simplify(sum(sp.diff(self.conserved, v) * f[v] for v in (self.dL, self.dR)))

    @derived
    @derivation
    def hitting_time_integrand(self):
        """``(g, k)``: ``dtau = g(d_L) dd_L`` while the left neuron (the nearer one, ``d_L <= d_R``)
        closes in, with ``d_R = (d_L^3 + k)^(1/3)`` eliminated by the conserved quantity
        (``k = d_R^3 - d_L^3 >= 0``); ``tau_hit = int_0^{d_L(0)} g``. Swap sides when d_R < d_L."""
        k = sp.Symbol("k", nonnegative=True)
        g = (-1 / self.distance_field[self.dL]).subs(self.dR, (self.dL ** 3 + k) ** sp.Rational(1, 3))
        return sp.simplify(g), k

    def shown(self) -> dict:
        """The limit's formulas as relations for printing, by name: ``cell-loss``, ``optimum``,
        ``reduced-loss``, ``velocities``, ``gap-rate``, ``hitting-bound``, ``invariant``."""
        from ._notation import Chain, Ddt, Listing, eq, func, le, sym
        fstar, tau = func("f^{*}"), self.tau
        return {
            "cell-loss": eq(sp.Integral((self.c - fstar(x)) ** 2, (x, self.uL, self.uR)), self.cell_loss),
            "optimum": eq(func("c^{*}")(sym("u")), self.optimal_value),
            "reduced-loss": eq(sym(r"\mathcal{L}_{\mathrm{red}}"), self.reduced_loss),
            "velocities": Listing(eq(Ddt(self.uL, tau), self.velocities[self.uL]),
                                  eq(Ddt(self.uR, tau), self.velocities[self.uR])),
            "gap-rate": Chain(eq(Ddt(self.dL + self.dR, tau) + self.Delta**2 / 2, self.gap_rate_excess),
                              le(self.gap_rate_excess, 0)),
            "hitting-bound": le(sym(r"\tau_{\mathrm{hit}}"), self.hitting_time_bound),
            "invariant": eq(Ddt(self.dL**3 - self.dR**3, tau), 0),
        }


# -- facts about sigma ------------------------------------------------------------------------
@lru_cache(maxsize=None)   # per function object: a planted copy of it computes afresh
def one_step_constants() -> tuple[sp.Rational, sp.Rational]:
    """``(c, g)`` of one unit of weight Delta centred on a jump Delta of the target: its squared error
    is ``c Delta^2 eta`` (:func:`one_step_loss`; 1/28) and the loss's derivative in the unit's
    weight ``g eta Delta`` (``2 int (sigma - H) sigma``; -3/56). The floors and claims take the
    constants from here."""
    expr = one_step_loss()
    c = sp.nsimplify(expr.subs({s: 1 for s in expr.free_symbols}))
    g = 2 * integrate_exact((sigma_of(t) - sp.Heaviside(t)) * sigma_of(t), t, -HALF, HALF)
    return c, sp.nsimplify(g)


@derivation
def one_step_loss() -> sp.Expr:
    """``int (Delta sigma((x-v)/eta) - Delta H(x-v))^2 dx`` over the window, by the substitution
    ``x = v + eta t`` (SymPy's Integral.transform supplies the factor eta)."""
    Delta, v, eta = sp.Symbol("Delta", real=True), sp.Symbol("v", real=True), sp.Symbol("eta", positive=True)
    integrand = (Delta * sigma_of((x - v) / eta) - Delta * sp.Heaviside(x - v)) ** 2
    I = sp.Integral(integrand, (x, v - eta / 2, v + eta / 2)).transform(x, (v + eta * t, t))
    (var, lo, hi), = I.limits
    return sp.factor(integrate_exact(sp.simplify(I.function), var, lo, hi))
