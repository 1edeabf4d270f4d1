"""Conservation laws: the counts agree with an independent exact computation on drawn shapes, every
law is exactly conserved, a "complete" verdict is never given without found rank = D - trace, and
``flowcert laws`` reads well and refuses bad input in one line."""
import json
import random

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flowcert.theory as th
from flowcert.checks.cli import main

from .reference import naive_jacobian_rank, naive_trace_rank

SETTINGS = settings(max_examples=25, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck))


def _point(params, seed):
    rng = random.Random(seed)
    return [sp.Rational(rng.randint(-40, 40), rng.randint(1, 9)) for _ in params]


def _independent(model, result, seed=1):
    """(laws counted independently, Jacobian rank of the laws found) at a random rational point."""
    pt = _point(model.params, seed)
    trace = naive_trace_rank(model.phi, model.params, pt)
    return model.D - trace, naive_jacobian_rank([w.expr for w in result.found], model.params, pt)


def _params(widths):
    return sum(a * b for a, b in zip(widths, widths[1:]))


# the independent computation keeps every bracket: seconds at D = 12, minutes at D = 20
@settings(SETTINGS, max_examples=15)
@given(st.lists(st.integers(1, 3), min_size=3, max_size=4).filter(lambda w: _params(w) <= 12))
def test_linear_counts_agree_with_an_independent_computation(widths):
    m = th.linear_model(widths)
    r = th.conservation_laws(m, degree=2)
    laws, found_rank = _independent(m, r)
    assert found_rank == r.found_rank
    if r.complete:
        assert laws == r.independent_laws == r.found_rank, widths
    else:  # only a law that is no low-degree polynomial may be missing; the count is still right
        assert laws == r.independent_laws > r.found_rank, widths


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3))
def test_relu_counts_agree_with_an_independent_computation(d, n):
    m = th.relu_model(d, n)
    r = th.conservation_laws(m)
    laws, found_rank = _independent(m, r)
    assert r.complete and laws == r.independent_laws == found_rank == n


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 7), st.integers(1, 4))
def test_two_layer_count_formula(n, rank, k):
    from flowcert.checks.papers.marcotte2023.claims import two_layer_count
    r = th.conservation_laws(th.linear_model((n, rank, k)))
    assert r.complete and r.independent_laws == two_layer_count(n, rank, k)


def test_every_law_is_conserved_along_the_flow():
    # an independent route: d/dt h along theta' = -grad L for a loss with symbolic gradient l_i
    m = th.linear_model((1, 2, 2, 1))
    r = th.conservation_laws(m, degree=4, exhaust=True)
    ls = sp.symbols(f"l0:{len(m.phi)}")
    x = sp.Matrix(m.params)
    flow = -sum((li * sp.Matrix([f]).jacobian(x).T for li, f in zip(ls, m.phi)), sp.zeros(m.D, 1))
    for w in r.found + r.dependent:
        assert sp.expand((sp.Matrix([w.expr]).jacobian(x) * flow)[0]) == 0, w.label


def test_a_wrong_candidate_is_rejected_and_a_missing_law_is_not_called_complete():
    base = th.linear_model((2, 2, 2))
    a11 = base.params[0]
    fake = th.Model("fake", base.blocks, base.phi, candidates=(("planted", "h", a11**2),))
    r = th.conservation_laws(fake)
    assert r.rejected == ("h",) and not r.found and not r.complete
    assert r.verdict().startswith("incomplete: at most 3 laws")


def test_a_truncated_trace_cannot_prove_completeness():
    # with no bracket at all the trace rank is 4 at (2, 2, 2); the 3 laws cannot reach 8 - 4
    m = th.linear_model((2, 2, 2))
    r = th.conservation_laws(m, max_level=0)
    assert (r.trace_dim, r.found_rank, r.complete) == (4, 3, False)
    assert th.conservation_laws(m).complete


def test_dependent_laws_are_listed_not_counted():
    r = th.conservation_laws(th.linear_model((1, 2, 1)), degree=2, exhaust=True)
    assert r.found_rank == 3 and len(r.dependent) == 1
    assert r.dependent[0].family == "search" and r.dependent[0].degree == 2


def test_limit_law_is_the_cubic():
    r = th.conservation_laws(th.shallow_limit_model(), degree=3)
    dL, dR = th.shallow_limit_model().params
    assert r.complete and [w.expr for w in r.found] == [dL**3 - dR**3]


def test_cli_text_json_and_exit_codes(capsys):
    assert main(["laws", "linear", "--widths", "1,2,1", "--degree", "2"]) == 0
    out = capsys.readouterr().out
    assert "exactly 3" in out and "complete" in out and "a_{1} b_{2} - a_{2} b_{1}" in out
    assert main(["laws", "linear", "--widths", "1,2,2,1", "--json"]) == 3
    d = json.loads(capsys.readouterr().out)
    assert (d["parameters"], d["trace_dim"], d["independent_laws"], d["found_rank"], d["complete"]) == (8, 1, 7, 6, False)
    assert all({"latex", "degree", "family"} <= set(w) for w in d["found"])
    assert main(["laws", "relu", "--input-dim", "2", "--neurons", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["independent_laws"] == 3


@pytest.mark.parametrize("argv, needle", [
    (["laws", "nope"], "unknown model"),
    (["laws", "linear"], "--widths is required"),
    (["laws", "linear", "--widths", "1,x,1"], "--widths '1,x,1'"),
    (["laws", "linear", "--widths", "1,2"], "at least three"),
    (["laws", "relu", "--neurons", "0", "--input-dim", "2"], "--neurons '0'"),
    (["laws", "relu", "--widths", "1,2,1"], "does not apply"),
    (["laws", "shallow", "--neurons", "1", "--epsilon", "-1"], "--epsilon '-1'"),
    (["laws", "linear", "--widths", "1,2,1", "--degree", "40"], "--degree 40"),
])
def test_cli_bad_input_is_one_line(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("flowcert: error:") and err.count("\n") == 1 and needle in err, err


def my_model():
    """A user's model: a scalar product of two vectors."""
    x = sp.Matrix(sp.symbols("x1:3"))
    y = sp.Matrix(sp.symbols("y1:3"))
    return th.Model("dot", (("x", x), ("y", y)), ((x.T * y)[0],))


def test_a_plugin_model_is_found_by_name(capsys):
    from flowcert.checks import Paper, register_paper
    register_paper(Paper("lawdemo", "Demo", ("Me",), "x", 2026, models=(("dot", "tests.test_laws:my_model"),)))
    assert main(["laws", "dot", "--degree", "2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    # phi = x . y: 3 laws = the entries of x x^T - y y^T restricted... the count is D - 1
    assert (d["parameters"], d["independent_laws"], d["complete"]) == (4, 3, True)


def test_shallow_model_features_are_the_network_outputs():
    """Each phi_k of marion2023's model is a_0 + sum_j a_j sigma(x_k - u_j) at its sample point (one
    left of every unit, four at 2j +- 1/5, 2j +- 2/5), with sigma the reference code's Piecewise
    step evaluated independently, near the reference positions u_j = 2j and shifted by 1/20."""
    from flowcert.theory._shallow import sigma_of
    m = 2
    model = th.shallow_model(m)
    a, u = (dict(model.blocks)[k] for k in ("a", "u"))
    points = [sp.Integer(0)] + [2 * j + sp.Rational(k, 10) for j in range(1, m + 1) for k in (-4, -2, 2, 4)]
    assert len(model.phi) == len(points)
    for x, ph in zip(points, model.phi):
        for shift in (0, sp.Rational(1, 20)):
            at = {u[j - 1]: 2 * j + shift for j in range(1, m + 1)}
            direct = a[0] + sum(a[j] * sigma_of(x - at[u[j - 1]]) for j in range(1, m + 1))
            assert sp.expand(ph.subs(at) - direct) == 0, (x, shift)


def test_parameter_blocks_are_named_from_one():
    from flowcert.theory._laws import _block
    assert [str(x) for x in _block("W", 2, 3, ",")] == ["W_{1,1}", "W_{1,2}", "W_{1,3}", "W_{2,1}", "W_{2,2}", "W_{2,3}"]
    assert [str(x) for x in _block("v", 1, 3)] == ["v_{1}", "v_{2}", "v_{3}"]
    assert [str(x) for x in _block("u", 2, 1)] == ["u_{1}", "u_{2}"]
    labels = [lab for fam, lab, _ in th.linear_model((1, 2, 1)).candidates if fam == "imbalance"]
    assert labels == ["(D_{1})_{11}", "(D_{1})_{12}", "(D_{1})_{22}"]   # the upper triangle, from one


def test_a_used_model_keys_its_derivations_like_a_fresh_one():
    """Model.cache_key: a model whose ring and generators are built (not spellable) keys a
    remembered derivation by its fields, the same as a fresh equal model."""
    from flowcert.theory._cache import _spell
    used = th.linear_model((1, 2, 1))
    used.ring, used.generators   # built here: conservation_laws may be answered from the cache
    assert "ring" in vars(used)
    assert _spell(used) == _spell(th.linear_model((1, 2, 1))) != _spell(th.linear_model((1, 3, 1)))


def test_rationals_modulo_the_prime():
    from fractions import Fraction
    from flowcert.theory._laws import PRIME, _mod
    for c in (Fraction(1, 3), Fraction(-2, 5), Fraction(7), sp.Rational(-11, 13), Fraction(3, PRIME - 1)):
        num, den = int(c.numerator), int(c.denominator)
        assert 0 <= _mod(c) < PRIME and _mod(c) * den % PRIME == num % PRIME, c

