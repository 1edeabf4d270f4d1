"""Planted mistakes, each of which some *claim* must reject (issue #19).

A reviewer planted one-line mistakes that the claims let through: a bound made weaker still
satisfies an inequality claim, and a check that compares the code with itself cannot see a
mistake both sides share. Each case here plants one such mistake through the production code
(the theory object, the numerical routine) and runs the claim that now has to catch it through
the production runner. The unplanted claims pass in ``test_suite.py``.
"""
import dataclasses

import numpy as np
import pytest
import sympy as sp

from flowcert import theory as th
from flowcert.checks import run_claim, select


@pytest.fixture(autouse=True)
def no_remembered_theory(monkeypatch):
    """A planted theory object must never be read from (or written to) the derivation cache, nor
    outlive its test in the claims' memo of bounds."""
    from flowcert import _cachedir
    from flowcert.checks.papers.min2023 import claims as C
    was = _cachedir.enabled()
    _cachedir.disable()
    C.bound.cache_clear()
    yield
    C.bound.cache_clear()
    if was:
        _cachedir.enable()


def _mutated(bound, change):
    """``bound`` with ``change`` applied to its formula, under a new name (compiled afresh)."""
    return dataclasses.replace(bound, name=bound.name + "-planted", expr=change(bound.expr),
                               compact=change(bound.compact))


def plant_theorem3_exponent(monkeypatch):
    """Theorem 3's homogeneous bound with sigma_min^(2 - 1/L) for sigma_min^(2 - 2/L)."""
    real = th.theorem3_homogeneous

    def wrong(depth, lstar):
        b = real(depth, lstar)
        s = next(q for q in b.quantities if str(q) == "sigma_min_W")
        return _mutated(b, lambda e: e.replace(lambda x: x.is_Pow and x.base == s,
                                               lambda x: s ** (2 - sp.Rational(1, depth))))
    monkeypatch.setattr(th, "theorem3_homogeneous", wrong)


def plant_lemma3_weakened(monkeypatch):
    """Lemma 3's (9) with 2 sigma^2 under the square roots for 4 sigma^2 (a weaker bound)."""
    real = th.lemma3_rhs

    def wrong(depth=2):
        b = real(depth)
        ss = {q for q in b.quantities if str(q) in ("sigma_n_W", "sigma_m_W")}
        return _mutated(b, lambda e: e.replace(lambda x: x.is_Mul and any(a.is_Pow and a.base in ss for a in x.args)
                                               and sp.Integer(4) in x.args, lambda x: x / 2))
    monkeypatch.setattr(th, "lemma3_rhs", wrong)


def plant_loss_without_half(monkeypatch):
    """The network's loss ||Y - W||^2 without its 1/2: the derived gradient doubles."""
    from flowcert.checks.papers.min2023 import claims as C

    class Wrong(th.LinearNetwork):
        @property
        def loss(self):
            r = self.target - self.product
            return sp.Trace(r.T * r)
    monkeypatch.setattr(C, "net", lambda depth: Wrong(depth))


def plant_eigenvalues_increasing(monkeypatch):
    """flowcert's eigenvalues in increasing order (its contract is decreasing)."""
    from flowcert.numerics import _spectral
    real = _spectral.Evaluator.spectrum

    def wrong(self, kind, matrix):
        return list(reversed(real(self, kind, matrix)))
    monkeypatch.setattr(_spectral.Evaluator, "spectrum", wrong)


def plant_gradient_halved(monkeypatch):
    """The derived gradient at half its size (a step of eta/2): the GD identity itself still holds."""
    from flowcert.checks.papers.min2023 import claims as C

    class Wrong(th.LinearNetwork):
        @property
        def gradient(self):
            return tuple(sp.MatMul(sp.Rational(1, 2), g) for g in super().gradient)
    monkeypatch.setattr(C, "net", lambda depth: Wrong(depth))


def plant_sigma_prime_sign(monkeypatch):
    """The SGD kernel's exact sigma' with its sign flipped (nothing caught it before)."""
    from flowcert.numerics import _piecewise
    real = _piecewise.Template.derivative

    def wrong(self):
        d = real(self)
        return _piecewise.Template(d.breaks, tuple(tuple(-c for c in cc) for cc in d.coef))
    monkeypatch.setattr(_piecewise.Template, "derivative", wrong)


def plant_descent_half_step(monkeypatch):
    """numerics.descend taking half a step."""
    import flowcert.numerics as N
    real = N.descend
    monkeypatch.setattr(N, "descend", lambda g, w0, lr, steps, **kw: real(g, w0, lr / 2, steps, **kw))


def plant_figure_loop_half_step(monkeypatch):
    """The Fig. 1 experiment's own three-layer loop taking half a step."""
    from flowcert.checks.papers.min2023 import experiments as E
    real = E._Chain.step
    monkeypatch.setattr(E._Chain, "step", lambda self, lr: real(self, lr / 2))


def plant_linear_rate_max(monkeypatch):
    """chen2022's linear rate mu with max for min (theory.linear_rate with that one word changed)."""
    def wrong(k, s, N, null_space=True):
        s = [sp.sympify(x) for x in s]
        N = sp.sympify(N)
        d, sk = len(s), s[k - 1]
        e = 1 - 2 / N
        if k == d and not null_space:
            return N * sk ** (1 + e) if d == 1 else sp.Max(N * sk, sk + s[k - 2]) * sk ** e
        nxt = s[k] if k < d else sp.Integer(0)
        return sp.Max(N * sk ** (1 + e), sk ** e * (sk - nxt))
    monkeypatch.setattr(th, "linear_rate", wrong)


def _mutate_source(monkeypatch, module, name: str, old: str, new: str):
    """Replace ``module.name`` by its own source with ``old`` changed to ``new`` (a one-line
    mutation, compiled in the module's namespace)."""
    import inspect
    import textwrap
    real = getattr(module, name)
    src = textwrap.dedent(inspect.getsource(real))
    assert src.count(old) == 1, (name, old)
    ns = dict(vars(inspect.getmodule(real)))     # the names the function's own module gives it
    exec(compile(src.replace(old, new), f"<planted {module.__name__}.{name}>", "exec"), ns)
    monkeypatch.setattr(module, name, ns[name])


def plant_rk4_stage(monkeypatch):
    """RK4's third stage evaluated from k1 instead of k2 (still consistent, no longer order 4)."""
    from flowcert.numerics import _integrate
    _mutate_source(monkeypatch, _integrate, "_run_rk4", "k3 = f([a + half * dt * b for a, b in zip(y, k2)])",
                   "k3 = f([a + half * dt * b for a, b in zip(y, k1)])")


def plant_sandwich_loosened(monkeypatch):
    """chen2022's origin sandwich with its upper bound's slope halved (a looser, still true bound)."""
    from flowcert.theory import _rank_one     # where origin_sandwich looks the slopes up
    _mutate_source(monkeypatch, _rank_one, "origin_slopes", "return (N - 2) * sd,", "return (N - 2) * sd / 2,")


def plant_window_constant_doubled(monkeypatch):
    """marion2023's one-unit smoothing error c = 1/28 doubled in theory (the floor's /28 read as /14)."""
    from flowcert.theory import _shallow
    _mutate_source(monkeypatch, _shallow, "one_step_constants", "return c, sp.nsimplify(g)",
                   "return 2 * c, sp.nsimplify(g)")
    from flowcert.checks.papers.marion2023 import claims as M
    monkeypatch.setattr(M, "one_step_constants", _shallow.one_step_constants)


def plant_flow_time_scale(monkeypatch):
    """min2023's flow with its first layer on another time scale (dW_1/dt = -2 dL/dW_1): Lemma 2's
    conservation no longer holds (before, only a unit test of a hand-made flow showed that)."""
    from flowcert.checks.papers.min2023 import claims as C

    class Wrong(th.LinearNetwork):
        @property
        def flow(self):
            f = dict(super().flow)
            f[self.weights[0]] = 2 * f[self.weights[0]]
            return f
    monkeypatch.setattr(C, "net", lambda depth: Wrong(depth))


def plant_chen_layer_time_scale(monkeypatch):
    """chen2022's derived layer flow with one layer on another time scale: balance is no longer
    conserved (before, only a unit test of the rank-one reduction saw such a flow)."""
    from flowcert.theory import _rank_one as R

    def wrong(N):
        c = R.ChenNetwork(N)           # a private copy: the cached network stays intact
        flow = dict(c.flow)
        flow[c.weights[1]] = 2 * flow[c.weights[1]]
        c.__dict__["flow"] = flow
        return c
    monkeypatch.setattr(th, "chen_network", wrong)


PLANTS = [
    (plant_theorem3_exponent, "min2023.tight.theorem3-homogeneous"),
    (plant_lemma3_weakened, "min2023.tight.lemma3"),
    (plant_loss_without_half, "min2023.d1.gradient-numeric"),
    (plant_eigenvalues_increasing, "min2023.sec3.two-layer-closed-form"),
    (plant_eigenvalues_increasing, "min2023.thm2.orthogonal-invariance"),
    (plant_gradient_halved, "min2023.gd.exact-identity-numeric"),
    (plant_sigma_prime_sign, "marion2023.sgd.step-gradient"),
    (plant_descent_half_step, "min2023.gd.step-numeric"),
    (plant_figure_loop_half_step, "min2023.gd.step-numeric"),
    (plant_linear_rate_max, "chen2022.s7.linear-rate"),
    (plant_rk4_stage, "min2023.flow.integrators"),
    (plant_sandwich_loosened, "chen2022.s7.origin-sandwich-tight"),
    (plant_window_constant_doubled, "marion2023.floor.one-unit-per-jump"),
    (plant_flow_time_scale, "min2023.lemma2.conservation-symbolic"),
    (plant_chen_layer_time_scale, "chen2022.s4.conservation"),
]


@pytest.mark.parametrize("plant, claim_id", PLANTS, ids=[p.__name__.removeprefix("plant_") for p, _ in PLANTS])
def test_a_planted_mistake_fails_a_claim(monkeypatch, plant, claim_id):
    claim = select(claim_id)[0]
    plant(monkeypatch)
    r = run_claim(claim)
    assert r.status == "fail", (claim_id, r.status, r.detail)
    assert "error:" not in r.detail, r.detail         # refuted by the check, not broken by the plant
    assert r.worst_margin is None or r.worst_margin < 0, r.worst_margin


def test_the_tightness_claims_would_not_see_a_stronger_bound_as_a_mistake_of_theirs():
    """The converse, so that the planted cases above are not passing by accident: the real bounds
    equal lambda_min(T) on the equality cases (a claim run without any plant)."""
    for cid in ("min2023.tight.theorem3-homogeneous", "min2023.tight.lemma3"):
        r = run_claim(select(cid)[0])
        assert r.status == "pass", (cid, r.detail)
    ws = [np.array([[1.5]]), np.array([[0.5]])]
    from flowcert.numerics import Evaluator
    net = th.LinearNetwork(2)
    ev = Evaluator(dict(zip(net.weights, ws)))
    # scalar pair: 2 lambda_min(T) = 2 (w1^2 + w2^2) = RHS(9) exactly
    assert abs(ev.bound(th.lemma3_rhs()) - 2 * (1.5 ** 2 + 0.5 ** 2)) < 1e-12
