"""numerics._init (random initialisation schemes) and numerics._precision (the precision context):
the variance of each scheme, measured, and the context's bounds, nesting and conversions."""
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp

from flowcert.numerics import (FLOAT64_DPS, SCHEMES, asarray, check_dps, check_widths, current_dps, eps,
                               is_mp, sample_weights, scalar, workdps)
from flowcert.numerics._precision import MAX_DPS

WIDTHS = (300, 100, 50)


@pytest.mark.parametrize("scheme, variances", [
    ("gaussian", (0.25, 0.25)), ("ntk", (1.0, 1.0)),
    ("fan_in", (1 / 300, 1 / 100)), ("fan_out", (1 / 100, 1 / 50)),
])
def test_each_scheme_draws_centred_gaussians_of_its_variance(scheme, variances):
    ws = sample_weights(scheme, WIDTHS, np.random.default_rng(7), scale=0.5)
    assert [w.shape for w in ws] == [(300, 100), (100, 50)]
    for w, var in zip(ws, variances):
        N = w.size
        # (N - 1) s^2 / var is chi-square with N - 1 degrees of freedom: relative sd sqrt(2/(N-1));
        # the mean has sd sqrt(var / N). Six of each: a fixed seed, and room for no wrong variance
        # among the four schemes (their nearest two differ by a factor 2)
        assert abs(w.var(ddof=1) / var - 1) <= 6 * math.sqrt(2 / (N - 1))
        assert abs(w.mean()) <= 6 * math.sqrt(var / N)


def test_gaussian_has_variance_one_by_default():
    w = sample_weights("gaussian", WIDTHS, np.random.default_rng(8))[0]
    assert abs(w.var(ddof=1) - 1) <= 6 * math.sqrt(2 / (w.size - 1))


def test_the_same_generator_state_gives_the_same_weights():
    a = sample_weights("fan_in", WIDTHS, np.random.default_rng(3))
    b = sample_weights("fan_in", WIDTHS, np.random.default_rng(3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert SCHEMES == ("gaussian", "fan_in", "fan_out", "ntk")


@pytest.mark.parametrize("widths, ok", [
    ((5, 3, 1), (5, 3, 1)), ([np.int64(2), 2, 2, 2], (2, 2, 2, 2)), ((2.0, 3, 4), (2, 3, 4)),
    ((5, 3), None), ((5, 0, 1), None), ((5, -1, 1), None), ((2.5, 3, 4), None), (("a", 3, 4), None), (7, None),
])
def test_widths_are_at_least_three_positive_integers(widths, ok):
    if ok is None:
        with pytest.raises(ValueError, match="widths: expected"):
            check_widths(widths)
    else:
        got = check_widths(widths)
        assert got == ok and all(type(w) is int for w in got)


@pytest.mark.parametrize("scale", [0, -1.0, float("inf"), float("nan"), True, "1"])
def test_a_scale_that_is_not_finite_and_positive_is_refused(scale):
    with pytest.raises(ValueError, match="scale: expected a finite positive number"):
        sample_weights("gaussian", WIDTHS, np.random.default_rng(0), scale=scale)


def test_a_scheme_not_listed_is_refused_by_name():
    with pytest.raises(ValueError, match="scheme: expected one of gaussian, fan_in, fan_out, ntk, got 'xavier'"):
        sample_weights("xavier", WIDTHS, np.random.default_rng(0))


@pytest.mark.parametrize("dps, ok", [(None, None), (1, 1), (MAX_DPS, MAX_DPS), (np.int64(30), 30),
                                     (0, "1 <= dps"), (MAX_DPS + 1, "1 <= dps"), (-5, "1 <= dps"),
                                     (True, "positive integer"), (30.0, "positive integer"), ("30", "positive integer")])
def test_dps_is_none_or_an_integer_in_range(dps, ok):
    if isinstance(ok, str):
        with pytest.raises(ValueError, match=ok):
            check_dps(dps)
    else:
        got = check_dps(dps)
        assert got == ok and (got is None or type(got) is int)


def test_the_largest_precision_is_a_hundred_thousand_digits():
    assert check_dps(100_000) == 100_000
    with pytest.raises(ValueError, match="1 <= dps <= 100000, got 100001"):
        check_dps(100_001)


def test_workdps_nests_and_restores_even_on_error():
    base = mpmath.mp.dps
    assert current_dps() is None
    with workdps(40) as d:
        assert d == 40 and current_dps() == 40 and mpmath.mp.dps == 40
        with workdps(None) as d2:
            assert d2 is None and current_dps() is None
        assert current_dps() == 40
        with pytest.raises(RuntimeError):
            with workdps(80):
                assert mpmath.mp.dps == 80
                raise RuntimeError
        assert current_dps() == 40 and mpmath.mp.dps == 40
    assert current_dps() is None and mpmath.mp.dps == base


def test_eps_is_the_unit_roundoff_of_the_precision():
    assert eps() == 2.0 ** -52 and FLOAT64_DPS == 15
    with workdps(50):
        assert eps() == mpmath.mpf(2) ** (1 - mpmath.mp.prec)
        assert 1 + eps() != 1 and 1 + eps() / 4 == 1


def test_asarray_reads_binary_floats_exactly_and_rounds_decimals_at_the_precision():
    with workdps(50):
        a = asarray([[0.1, "0.1"], [Fraction(1, 3), 2]])
        assert is_mp(a) and a.shape == (2, 2)
        assert a[0, 0] == mpmath.mpf(Fraction(3602879701896397, 2**55).numerator) / 2**55
        assert a[0, 1] == mpmath.mpf("0.1") and a[0, 1] != a[0, 0]
        assert a[1, 0] == mpmath.mpf(1) / 3 and a[1, 1] == 2
        assert asarray(np.zeros((0, 2))).shape == (0, 2)
    f = asarray(a)                               # back to float64, each rounded once
    assert f.dtype == float and f.tolist() == [[0.1, 0.1], [1 / 3, 2.0]]
    assert asarray([1, 2], dps=20)[0] == 1 and is_mp(asarray([1, 2], dps=20))
    assert not is_mp(np.zeros(2)) and not is_mp([1])


def test_scalar_is_a_number_of_the_backend():
    assert scalar(sp.Rational(1, 3)) == 1 / 3 and type(scalar(2)) is float
    with workdps(40):
        assert scalar(sp.Rational(1, 3)) == mpmath.mpf(1) / 3
        assert abs(scalar(sp.pi) - mpmath.pi) <= mpmath.mpf(10) ** -40
        assert abs(scalar(sp.sqrt(2)) - mpmath.sqrt(2)) <= mpmath.mpf(10) ** -40
