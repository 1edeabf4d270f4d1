"""Many digits of a bound over whole spectra from only the eigenvalues it keeps
(numerics/_selected.py): the ball must hold the value computed by an independent eigensolver
(mpmath's Jacobi ``eigsy`` at 80 digits), be as narrow as the digits asked for, and fall back to
the whole spectra where float64 cannot decide a maximum."""
from __future__ import annotations

import flint
import mpmath
import numpy as np
import pytest
import sympy as sp
from flint import arb, fmpq

from flowcert import theory as th
from flowcert.numerics import Evaluator, workdps
from flowcert.numerics._certify import CertifiedEvaluator, _ArbOps, _evaluate_matrix, workprec
from flowcert.numerics._selected import Spectra, Undecided, _apply, selected_spectra

from . import reference


def _contains(ball, v) -> bool:
    with workprec(600):
        # mpf(v) would round v to the current precision: read its exact parts
        sign, m, e, _ = (v if isinstance(v, mpmath.mpf) else mpmath.mpf(v))._mpf_
        m = -m if sign else m
        return bool(ball.contains(arb(fmpq(int(m) * 2 ** max(e, 0), 2 ** max(-e, 0)))))


def _fan_out(shape, seed):
    from flowcert.numerics._init import sample_weights
    return sample_weights("fan_out", shape, np.random.default_rng(seed))


@pytest.mark.parametrize("shape, seed, digits", [((5, 24, 24, 1), 0, 50), ((3, 16, 14, 2), 1, 30),
                                                 ((2, 12, 12, 1), 2, 80)])
def test_selected_delta_star_holds_the_80_digit_value_and_decides_the_digits(shape, seed, digits):
    """Against Delta* from mpmath's eigensolver at digits + 30 (another algorithm, no float64
    eigenvectors): the ball holds it, and its relative radius is under 10^-digits (Kato-Temple:
    eps^2 / gap with eps at half the working precision)."""
    net = th.LinearNetwork(3)
    ws = _fan_out(shape, seed)
    vals = dict(zip(net.weights, ws))
    b = th.delta_star()
    bits = int((digits + 8) * 3.33) + 16
    x = CertifiedEvaluator(vals, bits, quadratic=True).bound(b)
    with workdps(digits + 30):
        ref = Evaluator(vals).bound(b)
    assert x.is_finite() and _contains(x, ref), (x, ref)
    assert float(x.rad()) <= 10.0 ** -digits * abs(float(x.mid()))
    # the float64 value of an implementation that shares nothing with theory/
    assert abs(float(x.mid()) - reference.delta_star(*ws)) <= 1e-12 * (1 + abs(float(x.mid())))


def test_selected_refines_fewer_eigenvalues_than_the_spectra_hold():
    """The point of the method: Fig. 1's shape (scaled down) keeps a fraction of the eigenvalues."""
    import flowcert.numerics._selected as S
    net = th.LinearNetwork(3)
    vals = dict(zip(net.weights, _fan_out((5, 40, 40, 1), 3)))
    seen = []
    real = S._refine_eigenvalues

    def spy(apply, V, first, ks, prec):
        seen.append((V.shape[0], len(ks)))
        return real(apply, V, first, ks, prec)

    S._refine_eigenvalues = spy
    try:
        with workprec(200):
            ev = CertifiedEvaluator(vals)
            out = selected_spectra(th.delta_star(), ev.dims(net), Spectra(ev.arrays), 200)
    finally:
        S._refine_eigenvalues = real
    assert len(out) == 4 and len(seen) == 2
    assert all(k < n for n, k in seen)


def test_an_undecidable_maximum_falls_back_to_the_whole_spectra():
    """Balanced weights W2 = I, W1 = W3^T = 0: D21 = D23 = I, every max(lambda_i(D21),
    lambda_i(D23)) compares equal eigenvalues of different matrices, which no enclosure decides:
    the selection declines and the evaluator still returns the exact value's enclosure."""
    net = th.LinearNetwork(3)
    ws = [np.zeros((2, 4)), np.eye(4), np.zeros((4, 1))]
    vals = dict(zip(net.weights, ws))
    ev = CertifiedEvaluator(vals, 200, quadratic=True)
    with workprec(200), pytest.raises(Undecided):
        selected_spectra(th.delta_star(), ev.dims(net), Spectra(ev.arrays), 200)
    x = ev.bound(th.delta_star())
    with workdps(60):
        ref = Evaluator(vals).bound(th.delta_star())
    assert _contains(x, ref)


def test_apply_equals_the_formed_matrix_times_the_vectors():
    """``_apply`` (factors applied right to left, transposes pushed down) against the matrix
    formed by ``_evaluate_matrix``, on integer matrices where Arb is exact."""
    A, B, C = (sp.MatrixSymbol(s, 3, 3) for s in "ABC")
    rng = np.random.default_rng(4)
    arrays = {s: rng.integers(-5, 6, (3, 3)).astype(float) for s in (A, B, C)}
    env = {s: _ArbOps().leaf(a) for s, a in arrays.items()}
    X = flint.arb_mat(rng.integers(-5, 6, (3, 2)).astype(float).tolist())
    for expr in (A * B.T - 3 * C, (A * B * C).T + A.T * A, sp.Transpose(A + 2 * B) * C, A**2 - sp.Identity(3)):
        got = _apply(expr, env, X, {})
        want = _evaluate_matrix(expr, env, _ArbOps()) * X
        assert got.entries() == want.entries() or all(
            (g - w).is_zero() for g, w in zip(got.entries(), want.entries())), expr


def test_an_eigenvalue_in_a_cluster_keeps_its_first_order_enclosure():
    """A nearly double eigenvalue (W2 W2^T with singular values 3, 2, 2, 1 in a random basis:
    the pair splits at rounding level): Kato-Temple needs the eigenvalue alone between its
    neighbours' enclosures, which it is not, so the refinement keeps the certified 53-bit
    enclosure there; every ball holds mpmath's 60-digit eigenvalue."""
    rng = np.random.default_rng(8)
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    W2 = Q @ np.diag([3.0, 2.0, 2.0, 1.0]) @ Q.T
    net = th.LinearNetwork(3)
    arrays = dict(zip(net.weights, [np.zeros((1, 4)), W2, np.zeros((4, 1))]))
    D21 = th.three_layer_imbalances(net)[0]
    sp_ = Spectra(arrays)
    with workprec(200):
        sp_.spectrum("eig", D21)
        balls = sp_.refine({(D21, k) for k in range(4)}, 200)
    exact = [[sum(fmpq(*float(W2[i, l]).as_integer_ratio()) * fmpq(*float(W2[j, l]).as_integer_ratio())
                  for l in range(4)) for j in range(4)] for i in range(4)]
    with mpmath.workdps(60):
        ref = sorted(mpmath.eigsy(mpmath.matrix([[mpmath.mpf(int(x.p)) / int(x.q) for x in row] for row in exact]),
                                  eigvals_only=True), reverse=True)
        for k in range(4):
            assert _contains(balls[(D21, k)], ref[k]), (k, balls[(D21, k)], ref[k])
    # the separated ones are refined (narrow), the pair is not
    assert float(balls[(D21, 0)].rad()) < 1e-50 and float(balls[(D21, 1)].rad()) > 1e-30


def test_forms_multiply_their_coefficients():
    from flowcert.numerics._selected import _Form
    a, b = ("A", 1), ("B", 2)
    p = (_Form({(a,): 2}) + 1) * (_Form({(b,): 3}) - 5)
    assert p.terms == {(a, b): 6, (a,): -10, (b,): 3, (): -5}

