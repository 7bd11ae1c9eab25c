"""seawall.stats numeric drift statistics against scipy.stats on fresh random data.

Every statistic and p-value must match scipy to 1e-9 relative. The one exception is documented
where it is used: the asymptotic Cramér-von Mises p-value is 1 - CDF, so both libraries carry
an absolute error of a few 1e-15 there, and p-values below ~1e-5 are compared absolutely.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

import seawall.stats as ss
from seawall import _core
from seawall.errors import DTypeError, InvalidInputError

RTOL = 1e-9
# p-values that underflow (exp(-700) and below) are compared absolutely.
UNDERFLOW = 1e-300
# 1 - CDF: an absolute error of a few ulps of 1 in either library (see the module docstring).
CVM_ASYMPTOTIC_ATOL = 1e-13

KINDS = ["normal", "cauchy", "pareto", "ties"]


def draw(rng: np.random.Generator, kind: str, n: int, shift: float = 0.0) -> np.ndarray:
    if kind == "normal":
        x = rng.normal(size=n)
    elif kind == "cauchy":
        x = rng.standard_cauchy(size=n)
    elif kind == "pareto":
        x = rng.pareto(1.2, size=n)
    else:  # heavily tied: a handful of integers
        x = rng.integers(0, 5, size=n).astype(np.float64)
    return x + shift


def assert_close(actual: float, expected: float, rtol: float = RTOL, atol: float = 0.0) -> None:
    assert math.isfinite(actual), actual
    assert actual == pytest.approx(float(expected), rel=rtol, abs=atol)


def call_recording(fn, *args, **kwargs):
    """fn(...) and the RuntimeWarning messages it raised (scipy and seawall warn alike)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    return result, [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


def check_ks(a, b, alternative="two-sided", method="auto"):
    expected, expected_warnings = call_recording(
        stats.ks_2samp, a, b, alternative=alternative, method=method
    )
    actual, actual_warnings = call_recording(ss.ks_2samp, a, b, alternative, method)
    assert actual_warnings == expected_warnings
    assert_close(actual.statistic, expected.statistic)
    assert_close(actual.pvalue, expected.pvalue, atol=UNDERFLOW)
    assert actual.statistic_location == expected.statistic_location
    assert actual.statistic_sign == expected.statistic_sign
    return actual


# ---- Kolmogorov-Smirnov -----------------------------------------------------------------------

KS_SIZES = [
    (1, 1), (1, 2), (2, 3), (3, 3), (5, 8), (10, 10), (20, 31), (50, 37),
    (139, 141), (140, 140), (300, 301), (999, 1000), (1000, 1000), (2000, 1500),
]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n1", "n2"), KS_SIZES)
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_ks_auto_matches_scipy(rng, kind, n1, n2, alternative):
    shift = rng.choice([0.0, 0.1, 0.5])
    check_ks(draw(rng, kind, n1), draw(rng, kind, n2, shift), alternative)


@pytest.mark.parametrize(
    ("n1", "n2"), [(9999, 10000), (10000, 10000), (10000, 10001), (10001, 3000), (20000, 20000)]
)
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_ks_around_the_exact_asymptotic_switch(rng, n1, n2, alternative):
    shift = rng.choice([0.0, 0.02, 0.05])
    check_ks(draw(rng, "normal", n1), draw(rng, "normal", n2, shift), alternative)


# Effective sizes round(n1 n2 / (n1 + n2)) and shifts that reach each algorithm scipy's kstwo
# chooses: Durbin matrix, Pomeranz and Smirnov for n <= 140; Durbin, Pelz-Good and Smirnov above.
@pytest.mark.parametrize(
    ("n1", "n2"), [(2, 5), (30, 200), (150, 151), (300, 420), (4000, 5000), (150000, 160000)]
)
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
@pytest.mark.parametrize("shift_sd", [0.0, 1.0, 2.5, 5.0])
def test_ks_asymptotic_matches_scipy(rng, n1, n2, alternative, shift_sd):
    en = n1 * n2 / (n1 + n2)
    a = draw(rng, "normal", n1)
    b = draw(rng, "normal", n2, shift_sd / math.sqrt(en))
    check_ks(a, b, alternative, "asymp")


@pytest.mark.parametrize(("n1", "n2"), [(3, 4), (25, 25), (60, 45), (700, 500), (1200, 1100)])
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_ks_exact_matches_scipy(rng, n1, n2, alternative):
    """method='exact' everywhere, including one-sided unequal sizes whose exact computation
    overflows: both fall back to the asymptotic p-value with the same warning."""
    check_ks(draw(rng, "ties", n1), draw(rng, "normal", n2, 0.2), alternative, "exact")
    check_ks(draw(rng, "normal", n1), draw(rng, "normal", n2, 0.2), alternative, "exact")


def test_ks_exact_with_lcm_too_large_warns_as_scipy(rng):
    check_ks(draw(rng, "normal", 50000), draw(rng, "normal", 49999), "two-sided", "exact")


def test_ks_extreme_separation_underflows_like_scipy(rng):
    a = draw(rng, "normal", 3000)
    for alternative in ["two-sided", "less", "greater"]:
        check_ks(a, a + 50, alternative, "asymp")
        check_ks(a[:2000], a + 50, alternative)


def test_ks_with_infinities_matches_scipy(rng):
    a = np.concatenate([draw(rng, "normal", 40), [np.inf, -np.inf]])
    b = np.concatenate([draw(rng, "normal", 30, 0.3), [np.inf, np.inf]])
    for alternative in ["two-sided", "less", "greater"]:
        check_ks(a, b, alternative)


def test_ks_result_is_a_frozen_dataclass():
    # 2 of the C(6, 3) orderings put all three reference values on one side.
    r = ss.ks_2samp([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert (r.statistic, r.statistic_location, r.statistic_sign) == (1.0, 3.0, 1)
    assert_close(r.pvalue, 0.1, rtol=1e-15)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.pvalue = 0.5  # type: ignore[misc]


# ---- Cramér-von Mises -------------------------------------------------------------------------

CVM_EXACT_SIZES = [(2, 2), (2, 3), (3, 7), (5, 19), (12, 12), (20, 20), (20, 13)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n1", "n2"), CVM_EXACT_SIZES)
def test_cvm_exact_matches_scipy(rng, kind, n1, n2):
    a, b = draw(rng, kind, n1), draw(rng, kind, n2, rng.choice([0.0, 0.5, 2.0]))
    for method in ["auto", "exact"]:
        expected = stats.cramervonmises_2samp(a, b, method=method)
        actual = ss.cramervonmises_2samp(a, b, method)
        assert_close(actual.statistic, expected.statistic, atol=1e-15)  # T can be exactly 0
        assert_close(actual.pvalue, expected.pvalue)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("n1", "n2"), [(2, 21), (21, 20), (21, 21), (50, 80), (333, 250), (2000, 3000)]
)
@pytest.mark.parametrize("shift_sd", [0.0, 1.0, 3.0])
def test_cvm_asymptotic_matches_scipy(rng, kind, n1, n2, shift_sd):
    a = draw(rng, kind, n1)
    b = draw(rng, kind, n2, shift_sd / math.sqrt(n1 * n2 / (n1 + n2)))
    for method in ["auto", "asymptotic"]:
        expected = stats.cramervonmises_2samp(a, b, method=method)
        actual = ss.cramervonmises_2samp(a, b, method)
        assert_close(actual.statistic, expected.statistic, atol=1e-15)
        assert_close(actual.pvalue, expected.pvalue, atol=CVM_ASYMPTOTIC_ATOL)


def test_cvm_with_infinities_matches_scipy(rng):
    a = np.concatenate([draw(rng, "normal", 30), [np.inf, -np.inf]])
    b = np.concatenate([draw(rng, "normal", 25, 0.3), [np.inf]])
    expected = stats.cramervonmises_2samp(a, b)
    actual = ss.cramervonmises_2samp(a, b)
    assert_close(actual.statistic, expected.statistic)
    assert_close(actual.pvalue, expected.pvalue, atol=CVM_ASYMPTOTIC_ATOL)


def test_cvm_exact_refuses_what_would_take_hours(rng):
    with pytest.raises(InvalidInputError, match="method='asymptotic'"):
        ss.cramervonmises_2samp(draw(rng, "normal", 500), draw(rng, "normal", 499), "exact")


# ---- distances -----------------------------------------------------------------------------------

DISTANCE_SIZES = [(1, 1), (1, 5), (2, 3), (10, 10), (100, 37), (5000, 7000)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n1", "n2"), DISTANCE_SIZES)
def test_distances_match_scipy(rng, kind, n1, n2):
    a, b = draw(rng, kind, n1), draw(rng, kind, n2, rng.choice([0.0, 0.3, 5.0]))
    assert_close(ss.wasserstein_distance(a, b), stats.wasserstein_distance(a, b), atol=1e-300)
    assert_close(ss.energy_distance(a, b), stats.energy_distance(a, b), atol=1e-300)
    std = np.std(a)
    if std > 0:
        expected = stats.wasserstein_distance(a, b) / std
        assert_close(ss.wasserstein_distance_norm(a, b), expected, atol=1e-300)


def test_wasserstein_norm_constant_reference_raises():
    assert ss.wasserstein_distance([3.0, 3.0, 3.0], [1.0, 2.0]) == 1.5
    with pytest.raises(InvalidInputError, match="reference is constant"):
        ss.wasserstein_distance_norm([3.0, 3.0, 3.0], [1.0, 2.0])


def test_distances_of_scipy_docs():
    assert ss.wasserstein_distance([0, 1, 3], [5, 6, 8]) == 5.0
    assert_close(ss.energy_distance([0], [2]), 2.0)


# ---- inputs -------------------------------------------------------------------------------------


def test_accepted_input_types(rng):
    a = rng.integers(-50, 50, size=200)
    b = rng.normal(size=150).astype(np.float32)
    expected = stats.ks_2samp(a.astype(np.float64), b.astype(np.float64))
    for ref, cur in [
        (a, b),
        (a.tolist(), b.tolist()),
        (pa.array(a), pa.array(b)),
        (pa.chunked_array([a[:100], a[100:]]), pa.array(b)),
        (a.astype(np.int8), b),
        (a.astype(np.uint64) + 100, b + 100),
        (a[::-1][::-1], np.asfortranarray(b)),
    ]:
        if isinstance(ref, np.ndarray) and ref.dtype == np.uint64:
            exp = stats.ks_2samp(ref.astype(np.float64), np.asarray(cur, dtype=np.float64))
        else:
            exp = expected
        got = ss.ks_2samp(ref, cur)
        assert_close(got.statistic, exp.statistic)
        assert_close(got.pvalue, exp.pvalue)
    strided = np.arange(20.0)[::2]
    assert_close(
        ss.wasserstein_distance(strided, [1.0]), stats.wasserstein_distance(strided, [1.0])
    )


ALL_FUNCTIONS = [
    ss.ks_2samp,
    ss.cramervonmises_2samp,
    ss.wasserstein_distance,
    ss.wasserstein_distance_norm,
    ss.energy_distance,
]


@pytest.mark.parametrize("fn", ALL_FUNCTIONS)
def test_bad_samples_raise_typed_errors_naming_the_argument(fn):
    good = [1.0, 2.0, 3.5]
    with pytest.raises(InvalidInputError, match="reference is empty"):
        fn([], good)
    with pytest.raises(InvalidInputError, match="current is empty"):
        fn(good, np.array([]))
    with pytest.raises(
        InvalidInputError, match=r"current has 2 NaN values, the first at index 1: drop or impute"
    ):
        fn(good, [1.0, np.nan, 2.0, np.nan])
    with pytest.raises(
        InvalidInputError,
        match=r"reference has 1 missing \(null\) value, the first at index 2: drop or impute",
    ):
        fn(pa.array([1.0, 2.0, None, 4.0]), good)
    with pytest.raises(InvalidInputError, match="reference has 1 NaN"):
        fn([1.0, None, 3.0], good)
    with pytest.raises(InvalidInputError, match="reference must be 1-D"):
        fn(np.ones((3, 2)), good)
    with pytest.raises(InvalidInputError, match="current must be 1-D"):
        fn(good, 4.0)
    with pytest.raises(DTypeError, match="reference must hold real numbers"):
        fn(["a", "b"], good)
    with pytest.raises(DTypeError, match="current must hold real numbers"):
        fn(good, np.array([1 + 2j, 3j]))
    with pytest.raises(DTypeError, match="current must hold real numbers"):
        fn(good, pa.array(["x", "y"]))
    with pytest.raises(DTypeError, match="reference must hold real numbers"):
        fn(np.array([True, False, True]), good)


@pytest.mark.parametrize(
    "fn", [ss.wasserstein_distance, ss.wasserstein_distance_norm, ss.energy_distance]
)
def test_infinities_raise_for_distances(fn):
    with pytest.raises(InvalidInputError, match="current has an infinite value at index 1"):
        fn([1.0, 2.0], [0.0, np.inf])
    with pytest.raises(InvalidInputError, match="reference has an infinite value at index 0"):
        fn([-np.inf, 2.0], [0.0, 1.0])
    # Indices are the caller's, also for unsorted samples (the wrappers sort before the core).
    with pytest.raises(InvalidInputError, match="current has an infinite value at index 0"):
        fn([1.0, 2.0], [np.inf, 0.0])
    with pytest.raises(InvalidInputError, match="reference has an infinite value at index 2"):
        fn([5.0, 2.0, np.inf, -1.0], [0.0, 1.0])


@pytest.mark.parametrize("fn", ALL_FUNCTIONS)
def test_nan_index_is_the_callers_in_unsorted_samples(fn):
    with pytest.raises(InvalidInputError, match="current has 2 NaN values, the first at index 2"):
        fn([1.0, 2.0, 3.5], [9.0, 1.0, np.nan, -3.0, np.nan])


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: _core.ks_2samp(a, b, "two-sided", "auto"),
        lambda a, b: _core.cramervonmises_2samp(a, b, "auto"),
        _core.wasserstein_distance,
        _core.wasserstein_distance_norm,
        _core.energy_distance,
    ],
    ids=["ks", "cvm", "wasserstein", "wasserstein_norm", "energy"],
)
def test_the_core_reads_sorted_samples_in_place_and_sorts_the_others(fn, rng):
    # Sorted samples are read where they lie; unsorted ones are copied and sorted by the core.
    # Both paths, and one of each, must agree exactly. Ties included.
    a = np.round(rng.standard_t(3, size=int(rng.integers(2, 9000))), 1)
    b = np.round(rng.standard_t(3, size=int(rng.integers(2, 9000))) + 0.2, 1)
    expected = fn(np.sort(a), np.sort(b))
    for x, y in [(a, b), (np.sort(a), b), (a, np.sort(b))]:
        assert fn(x, y) == expected


def test_bad_options_raise():
    a, b = [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]
    for alternative in ["g", "twosided", "", None, 1]:
        with pytest.raises(InvalidInputError, match="alternative must be one of"):
            ss.ks_2samp(a, b, alternative)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="method must be one of"):
        ss.ks_2samp(a, b, method="asymptotic")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="method must be one of"):
        ss.cramervonmises_2samp(a, b, "asymp")  # type: ignore[arg-type]


def test_small_sample_rules():
    with pytest.raises(InvalidInputError, match=r"reference has 1 value: .* at least 2"):
        ss.cramervonmises_2samp([1.0], [1.0, 2.0])
    with pytest.raises(InvalidInputError, match="current has 1 value"):
        ss.cramervonmises_2samp([1.0, 2.0], [3.0])
    # scipy gives NaN for asymptotic KS on one value each: seawall refuses, exact works.
    with pytest.raises(InvalidInputError, match="method='exact'"):
        ss.ks_2samp([1.0], [2.0], method="asymp")
    assert ss.ks_2samp([1.0], [2.0]).pvalue == 1.0


def test_large_inputs(rng):
    a = rng.normal(size=1_000_000)
    b = rng.normal(0.001, 1, size=800_000)
    r = ss.ks_2samp(a, b)
    assert 0.0 <= r.pvalue <= 1.0
    assert_close(ss.wasserstein_distance(a, b), stats.wasserstein_distance(a, b))
    assert_close(ss.energy_distance(a, b), stats.energy_distance(a, b))
    c = ss.cramervonmises_2samp(a, b)
    assert 0.0 <= c.pvalue <= 1.0
