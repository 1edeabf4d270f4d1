"""numerics.eigenvalues, singular_values, frobenius on matrices whose spectra are known exactly:
``Q diag(d) Q^T`` with ``Q`` an exactly orthogonal rational matrix (numerics.rational_orthogonal)
and integer ``d``. A backward-stable solver returns the spectrum of a matrix within ``p(n) u ||A||``
of its input, and rounding the input adds ``u ||A||_F`` (Weyl): the tolerance is ``10 n u ||A||_F``,
``u`` the unit round-off of the backend (float64; 30 digits through mpmath below FLINT_MIN_ORDER
and through FLINT at or above it)."""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from flowcert.numerics import (Evaluator, eigenvalues, eps, exact, frobenius, rational_orthogonal, singular_values, to_backend,
                               workdps)
from flowcert.numerics._spectral import FLINT_MIN_ORDER


def _spectral(d, seed):
    n = len(d)
    Q = rational_orthogonal(n, np.random.default_rng(seed))
    return Q @ np.diag(exact(d)) @ Q.T


@pytest.mark.parametrize("dps", [None, 30])
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(-20, 20), min_size=1, max_size=11))
def test_eigenvalues_of_a_known_spectrum(dps, seed, d):
    A = _spectral(d, seed)
    with workdps(dps):
        got = eigenvalues(to_backend(A))
        tol = 10 * len(d) * eps() * math.sqrt(sum(x * x for x in d))
        assert len(got) == len(d)
        assert all(abs(g - w) <= tol for g, w in zip(got, sorted(d, reverse=True)))
        assert all(a >= b for a, b in zip(got, got[1:]))        # decreasing
        if dps is not None:
            assert all(isinstance(g, mpmath.mpf) for g in got)


def test_both_high_precision_routes_are_exercised():
    # orders on both sides of FLINT_MIN_ORDER at 30 digits, against the exact spectrum (the draws
    # above reach 11 as well, but not necessarily at both precisions)
    for n in (FLINT_MIN_ORDER - 1, FLINT_MIN_ORDER + 2):
        d = [(-1) ** i * (i + 1) for i in range(n)]
        with workdps(30):
            got = eigenvalues(to_backend(_spectral(d, n)))
            assert all(abs(g - w) <= 10 * n * eps() * 30 for g, w in zip(got, sorted(d, reverse=True)))


@pytest.mark.parametrize("dps", [None, 30])
@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.integers(1, 5), st.data())
def test_singular_values_of_a_known_factorisation(dps, seed, m, n, data):
    k = min(m, n)
    s = data.draw(st.lists(st.integers(-9, 9), min_size=k, max_size=k))
    rng = np.random.default_rng(seed)
    U, V = rational_orthogonal(m, rng), rational_orthogonal(n, rng)
    S = exact(np.zeros((m, n), dtype=int))
    for i, x in enumerate(s):
        S[i, i] = exact([x])[0]
    A = U @ S @ V.T
    with workdps(dps):
        got = singular_values(to_backend(A))
        tol = 10 * max(m, n) * eps() * math.sqrt(sum(x * x for x in s))
        assert len(got) == k
        assert all(abs(g - w) <= tol for g, w in zip(got, sorted(map(abs, s), reverse=True)))


@pytest.mark.parametrize("dps", [None, 30])
def test_frobenius_is_the_root_of_the_sum_of_squares(dps):
    a = np.array([[1.0, -2.0, 2.0], [4.0, 0.0, -4.0]])        # sum of squares 41
    with workdps(dps):
        f = frobenius(to_backend(a))
        assert abs(f - (mpmath.sqrt(41) if dps else math.sqrt(41))) <= 2 * eps() * 7
    assert frobenius(np.zeros((0, 3))) == 0


@pytest.mark.parametrize("a, err, match", [
    (np.zeros((2, 3)), ValueError, "expected a square matrix, got shape"),
    (np.zeros((2, 2, 2)), ValueError, "expected a 2-D matrix"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), ValueError, "expected finite entries"),
    (np.array([[1j, 0], [0, 1]]), TypeError, "expected real entries, got dtype complex128"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "expected real entries, got dtype <U1"),
    ("ab", TypeError, "expected a real 2-D array, got str"),
    (object(), TypeError, "expected a real 2-D array, got object"),
])
def test_what_has_no_real_spectrum_is_refused_by_name(a, err, match):
    with pytest.raises(err, match=match):
        eigenvalues(a)


def test_small_and_empty_matrices():
    assert eigenvalues(np.zeros((0, 0))) == [] and singular_values(np.zeros((0, 4))) == []
    with workdps(30):
        assert eigenvalues(to_backend([[sp.Rational(1, 3)]])) == [mpmath.mpf(1) / 3]
    assert eigenvalues([[2.0, 1.0], [1.0, 2.0]]) == pytest.approx([3.0, 1.0], abs=4 * 2.0 ** -52 * 3)


def test_mpf_to_arb_is_exact_for_any_exponent():
    import flint
    from flowcert.numerics._spectral import _to_arb
    cases = [(mpmath.mpf(3) * 2 ** 70, flint.fmpq(3 * 2 ** 70)), (-mpmath.mpf(5) / 2 ** 60, flint.fmpq(-5, 2 ** 60)),
             (mpmath.mpf(7), flint.fmpq(7)), (mpmath.mpf(0), flint.fmpq(0))]
    for v, want in cases:   # a positive binary exponent (the first) and a negative one
        assert _to_arb(v).is_exact() and _to_arb(v) == flint.arb(want), v


def test_eigenvalue_indices_past_either_end_follow_the_papers():
    """lambda_j = +inf for j <= 0 and -inf past the order; sigma_k = 0 past min(n, m)."""
    from flowcert.theory import Spectral
    A = sp.MatrixSymbol("A", 2, 2)
    ev = Evaluator({A: np.array([[2.0, 0.0], [0.0, -1.0]])})
    got = [float(ev.quantity(Spectral("eig", A, k))) for k in (0, 1, 2, 3)]
    assert got == [math.inf, 2.0, -1.0, -math.inf]
    assert float(ev.quantity(Spectral("sv", A, 3))) == 0.0 and float(ev.quantity(Spectral("sv", A, 1))) == 2.0


def test_serial_blas_blocks_nest_and_the_next_block_still_limits():
    # an inner block changes nothing; once both are left, a new block must limit BLAS again
    from threadpoolctl import threadpool_info
    from flowcert.numerics._blas import serial_blas

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    with serial_blas():
        with serial_blas():
            assert all(n == 1 for n in blas_threads())
        assert all(n == 1 for n in blas_threads())
    with serial_blas():
        assert all(n == 1 for n in blas_threads())
