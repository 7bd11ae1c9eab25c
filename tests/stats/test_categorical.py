"""seawall.stats binned and categorical drift statistics against independent oracles.

The oracles are numpy float64 re-implementations of Evidently's formulas (Evidently cannot be
installed here) written out below, scipy's own functions where Evidently calls them
(``scipy.stats.entropy``, ``scipy.spatial.distance.jensenshannon``) and scipy's references for
the tests and special functions. Random data uses a fresh printed seed per test (``rng``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import scipy.special
import scipy.stats
from scipy.spatial import distance

import seawall.stats as sw
from seawall import _core
from seawall.errors import DTypeError, InvalidInputError

RTOL = 1e-9


def assert_rel(actual: float, expected: float, rtol: float = RTOL, atol: float = 0.0) -> None:
    assert isinstance(actual, float), type(actual)
    assert abs(actual - expected) <= rtol * abs(expected) + atol, (actual, expected)


# --- oracles: Evidently's formulas, in numpy -------------------------------------------------


def counts_over(keys: list[Any], sample: Any) -> np.ndarray:
    c = Counter(sample.tolist() if isinstance(sample, np.ndarray) else list(sample))
    return np.array([c.get(k, 0) for k in keys], dtype=np.float64)


def fill_zeroes(shares: np.ndarray) -> np.ndarray:
    """Evidently's stand-in for empty bins (get_binned_data's feel_zeroes)."""
    out = shares.copy()
    smallest = out[out != 0].min()
    out[out == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return out


def binned(ref: Any, cur: Any, fill: bool = True) -> tuple[Any, np.ndarray, np.ndarray]:
    """Evidently's get_binned_data: Sturges over both samples past 20 distinct reference values,
    else one bin per value (numbers) or category (strings)."""
    numeric = isinstance(ref, np.ndarray) and ref.dtype.kind in "iuf"
    if numeric and len(np.unique(ref)) > 20:
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), "sturges")
        r = np.histogram(ref, edges)[0] / len(ref)
        c = np.histogram(cur, edges)[0] / len(cur)
        labels: Any = edges
    else:
        labels = sorted(set(np.asarray(ref).tolist()) | set(np.asarray(cur).tolist()))
        r = counts_over(labels, ref) / len(ref)
        c = counts_over(labels, cur) / len(cur)
    if fill:
        r, c = fill_zeroes(r), fill_zeroes(c)
    return labels, r, c


def psi_oracle(ref: Any, cur: Any) -> float:
    _, r, c = binned(ref, cur)
    return float(np.sum((r - c) * np.log(r / c)))


def kl_oracle(ref: Any, cur: Any, base: float | None = None) -> float:
    _, r, c = binned(ref, cur)
    return float(scipy.stats.entropy(r, c, base=base))


def js_oracle(ref: Any, cur: Any, base: float | None = None) -> float:
    _, r, c = binned(ref, cur, fill=False)
    return float(distance.jensenshannon(r, c, base))


# Evidently's sqrt(1 - sum sqrt(r c)) keeps only about sqrt(machine epsilon) absolutely near 0,
# where seawall's sqrt(sum (sqrt r - sqrt c)^2 / 2) is exact; comparisons with it allow that.
EVIDENTLY_HELLINGER_ATOL = 1e-7


def hellinger_oracle(ref: Any, cur: Any, accurate: bool = False) -> float:
    """Evidently's hellinger: categories for strings, density histograms over Sturges edges of
    the distinct values for numbers. `accurate` sums (sqrt r - sqrt c)^2 / 2 over the same
    shares instead of Evidently's 1 - sum sqrt(r c)."""
    if isinstance(ref, np.ndarray) and ref.dtype.kind in "iuf":
        keys = np.union1d(ref, cur)
        edges = np.histogram_bin_edges(keys, bins="sturges")
        if accurate:
            r = np.histogram(ref, bins=edges)[0] / len(ref)
            c = np.histogram(cur, bins=edges)[0] / len(cur)
            return float(np.sqrt(np.sum((np.sqrt(r) - np.sqrt(c)) ** 2) / 2))
        h1 = np.histogram(ref, bins=edges, density=True)[0]
        h2 = np.histogram(cur, bins=edges, density=True)[0]
        width = (max(edges) - min(edges)) / (len(edges) - 1)
        bc = float(np.sum(np.sqrt(h1 * h2) * width))
    else:
        keys = sorted(set(ref) | set(cur))
        r, c = counts_over(keys, ref) / len(ref), counts_over(keys, cur) / len(cur)
        if accurate:
            return float(np.sqrt(np.sum((np.sqrt(r) - np.sqrt(c)) ** 2) / 2))
        bc = float(np.sum(np.sqrt(r * c)))
    return float(np.sqrt(1 - np.clip(bc, 0, 1)))


def check_hellinger(actual: float, ref: Any, cur: Any) -> None:
    assert_rel(actual, hellinger_oracle(ref, cur, accurate=True))
    assert_rel(actual, hellinger_oracle(ref, cur), atol=EVIDENTLY_HELLINGER_ATOL)


def category_shares(ref: Any, cur: Any) -> tuple[np.ndarray, np.ndarray]:
    keys = sorted(set(np.asarray(ref).tolist()) | set(np.asarray(cur).tolist()))
    r, c = counts_over(keys, ref), counts_over(keys, cur)
    return r / r.sum(), c / c.sum()


def tvd_oracle(ref: Any, cur: Any) -> float:
    r, c = category_shares(ref, cur)
    return float(0.5 * np.sum(np.abs(r - c)))


def linf_oracle(ref: Any, cur: Any) -> float:
    r, c = category_shares(ref, cur)
    return float(np.max(np.abs(r - c)))


def contingency_oracle(ref: Any, cur: Any) -> Any:
    keys = sorted(set(np.asarray(ref).tolist()) | set(np.asarray(cur).tolist()))
    table = np.array([counts_over(keys, ref), counts_over(keys, cur)])
    return scipy.stats.chi2_contingency(table, correction=False)


def z_oracle(ref: Any, cur: Any) -> tuple[float, float]:
    """Evidently's proportions_diff_z_stat_ind on "not the smallest value"; the p-value is
    2 * norm.sf(|z|) (Evidently writes 2 * (1 - norm.cdf(|z|)), checked separately)."""
    first = sorted(set(np.asarray(ref).tolist()) | set(np.asarray(cur).tolist()))[0]
    a = np.array([0 if x == first else 1 for x in ref])
    b = np.array([0 if x == first else 1 for x in cur])
    n1, n2 = len(a), len(b)
    p1, p2 = float(a.sum()) / n1, float(b.sum()) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(z), float(2 * scipy.stats.norm.sf(abs(z)))


# --- data ------------------------------------------------------------------------------------


def numeric_case(rng: np.random.Generator, shape: str) -> tuple[np.ndarray, np.ndarray]:
    n, m = int(rng.integers(50, 3000)), int(rng.integers(50, 3000))
    if shape == "normal":
        return rng.normal(size=n), rng.normal(rng.uniform(-0.5, 0.5), rng.uniform(0.7, 1.5), m)
    if shape == "cauchy":  # heavy tails: a few extreme values set the Sturges range
        return rng.standard_cauchy(n), rng.standard_cauchy(m) * 2 + 1
    if shape == "pareto":
        return rng.pareto(1.2, n), rng.pareto(1.5, m)
    if shape == "ties":  # many repeats, still more than 20 distinct values
        return np.round(rng.normal(size=n), 1), np.round(rng.normal(0.3, 1, m), 1)
    if shape == "few_values":  # <= 20 distinct reference values: one bin per value
        k = int(rng.integers(2, 21))
        ref = rng.integers(0, k, n).astype(np.float64)
        return ref, rng.integers(0, k + 3, m).astype(np.float64)  # some values only in current
    if shape == "integers":  # numpy's Sturges width of at least 1
        return rng.integers(-40, 40, n * 20), rng.integers(-35, 45, m * 20)
    if shape == "tiny":
        return rng.normal(size=int(rng.integers(1, 4))), rng.normal(size=int(rng.integers(1, 4)))
    if shape == "large":  # past the parallel counting threshold
        return rng.normal(size=200_000), rng.normal(0.01, 1, 150_000)
    raise AssertionError(shape)


SHAPES = ["normal", "cauchy", "pareto", "ties", "few_values", "integers", "tiny", "large"]


def category_case(rng: np.random.Generator, kind: str) -> tuple[list[str], list[str]]:
    names = [f"c{i}" for i in range(int(rng.integers(2, 40)))] + ["", "é", "日本"]
    n, m = int(rng.integers(20, 2000)), int(rng.integers(20, 2000))
    weights = rng.dirichlet(np.ones(len(names)))
    ref = list(rng.choice(names, n, p=weights))
    cur = list(rng.choice(names, m, p=rng.dirichlet(np.ones(len(names)))))
    if kind == "only_in_current":
        cur += ["new"] * int(rng.integers(1, 20))
    elif kind == "only_in_reference":
        ref += ["old"] * int(rng.integers(1, 20))
    elif kind == "one_category":
        ref, cur = ["x"] * n, ["x"] * m
    return ref, cur


KINDS = ["plain", "only_in_current", "only_in_reference", "one_category"]


# --- special functions -----------------------------------------------------------------------


def test_gamma_q_matches_scipy(rng: np.random.Generator) -> None:
    grid = [0.5, 1, 1.5, 2.5, 9.5, 10, 10.5, 37.5, 200, 5000]
    cases = [(a, a * f) for a in grid for f in (1e-3, 0.3, 0.8, 1.0, 1.2, 2, 6)]
    cases += [
        (float(a), float(x))
        for a, x in zip(rng.uniform(0.5, 300, 200), rng.uniform(0, 600, 200), strict=True)
    ]
    for a, x in cases:
        expected = scipy.special.gammaincc(a, x)
        if expected > 1e-300:
            assert_rel(_core.gamma_q(a, x), expected, rtol=1e-12)
        assert_rel(
            _core.chi2_sf(2 * x, 2 * a), scipy.stats.chi2.sf(2 * x, 2 * a), rtol=1e-12, atol=1e-300
        )


def test_normal_sf_matches_scipy(rng: np.random.Generator) -> None:
    for z in [*rng.normal(0, 5, 200), 0.0, 1e-10, 8.0, 20.0, 37.0, -37.0]:
        assert_rel(_core.normal_sf(float(z)), scipy.stats.norm.sf(z), rtol=1e-13)


# --- binned statistics on numbers ------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_binned_statistics_match_evidently(rng: np.random.Generator, shape: str) -> None:
    ref, cur = numeric_case(rng, shape)
    assert_rel(sw.psi(ref, cur), psi_oracle(ref, cur))
    assert_rel(sw.kl_divergence(ref, cur), kl_oracle(ref, cur))
    assert_rel(sw.jensenshannon(ref, cur), js_oracle(ref, cur))
    check_hellinger(sw.hellinger(ref, cur), ref, cur)


@pytest.mark.parametrize("shape", SHAPES)
def test_histogram_shares_are_evidentlys_bit_for_bit(rng: np.random.Generator, shape: str) -> None:
    ref, cur = numeric_case(rng, shape)
    for fill in (True, False):
        labels, r, c = binned(ref, cur, fill)
        got = sw.histogram_shares(ref, cur, fill_empty=fill)
        assert np.array_equal(got.bins, np.asarray(labels, dtype=np.float64))
        assert np.array_equal(got.reference, r)
        assert np.array_equal(got.current, c)


def test_log_base(rng: np.random.Generator) -> None:
    ref, cur = numeric_case(rng, "normal")
    for base in (2.0, 10.0, np.e):
        assert_rel(sw.jensenshannon(ref, cur, base=base), js_oracle(ref, cur, base))
        assert_rel(sw.kl_divergence(ref, cur, base=base), kl_oracle(ref, cur, base))
    with pytest.raises(InvalidInputError, match="base"):
        sw.jensenshannon(ref, cur, base=1.0)


def test_other_binnings_match_numpy(rng: np.random.Generator) -> None:
    ref, cur = numeric_case(rng, "normal")
    both = np.concatenate([ref, cur])

    def shares_for(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.histogram(ref, edges)[0] / len(ref), np.histogram(cur, edges)[0] / len(cur)

    # Sturges whatever the number of distinct values, and equal-width counts.
    for bins, edges in [
        ("sturges", np.histogram_bin_edges(both, "sturges")),
        (7, np.histogram_bin_edges(both, 7)),
    ]:
        got = sw.histogram_shares(ref, cur, bins, fill_empty=False)
        assert np.array_equal(got.bins, edges)
        r, c = shares_for(edges)
        assert np.array_equal(got.reference, r) and np.array_equal(got.current, c)
        fr, fc = fill_zeroes(r), fill_zeroes(c)
        assert_rel(sw.psi(ref, cur, bins), float(np.sum((fr - fc) * np.log(fr / fc))))

    # Reference quantiles, outer edges widened to the current extremes.
    q = int(rng.integers(2, 20))
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, q + 1)))
    edges[0], edges[-1] = min(edges[0], cur.min()), max(edges[-1], cur.max())
    got = sw.histogram_shares(ref, cur, "quantile", n_quantiles=q, fill_empty=False)
    assert np.array_equal(got.bins, edges)
    r, c = shares_for(edges)
    assert np.array_equal(got.reference, r) and np.array_equal(got.current, c)
    assert_rel(
        sw.jensenshannon(ref, cur, "quantile", n_quantiles=q), float(distance.jensenshannon(r, c))
    )

    # Explicit edges: values outside count in the sample size only (numpy.histogram / Evidently).
    edges = np.array([-1.0, -0.2, 0.0, 0.5, 1.0])
    got = sw.histogram_shares(ref, cur, edges, fill_empty=False)
    r, c = shares_for(edges)
    assert np.array_equal(got.reference, r) and np.array_equal(got.current, c)
    assert got.reference.sum() < 1
    # Values bins on continuous data: every distinct value its own bin.
    small_ref, small_cur = ref[:40], cur[:30]
    assert_rel(
        sw.hellinger(small_ref, small_cur, "values"), hellinger_values_oracle(small_ref, small_cur)
    )


def hellinger_values_oracle(ref: np.ndarray, cur: np.ndarray) -> float:
    keys = sorted(set(ref.tolist()) | set(cur.tolist()))
    bc = np.sum(np.sqrt(counts_over(keys, ref) / len(ref) * counts_over(keys, cur) / len(cur)))
    return float(np.sqrt(1 - np.clip(bc, 0, 1)))


def test_identical_samples_are_zero_apart(rng: np.random.Generator) -> None:
    ref, _ = numeric_case(rng, "normal")
    cur = rng.permutation(ref)
    assert sw.psi(ref, cur) == 0.0
    assert sw.kl_divergence(ref, cur) == 0.0
    assert sw.jensenshannon(ref, cur) == 0.0
    # Exactly 0 here; Evidently's sqrt(1 - sum sqrt(r c)) gives the square root of its rounding.
    assert sw.hellinger(ref, cur) == 0.0
    assert hellinger_oracle(ref, cur) < EVIDENTLY_HELLINGER_ATOL


def test_integer_and_float_samples_mix(rng: np.random.Generator) -> None:
    # Integers with floats: numpy's integer-width rule no longer applies, as in pd.concat.
    ref = rng.integers(0, 30, 5000)
    cur = rng.integers(0, 30, 4000).astype(np.float64) + 0.5
    assert_rel(sw.psi(ref, cur), psi_oracle(ref, cur))
    check_hellinger(sw.hellinger(ref, cur), ref, cur)


def test_input_containers_agree(rng: np.random.Generator) -> None:
    ref, cur = numeric_case(rng, "normal")
    expected = sw.psi(ref, cur)
    for convert in (
        list,
        pa.array,
        pd.Series,
        pl.Series,
        lambda a: pa.chunked_array([a[:10], a[10:]]),
    ):
        assert sw.psi(convert(ref), convert(cur)) == expected
    assert sw.psi(ref.astype(np.float32), cur.astype(np.float32)) == sw.psi(
        ref.astype(np.float32).astype(np.float64), cur.astype(np.float32).astype(np.float64)
    )


# --- categorical statistics ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_categorical_statistics_match_references(rng: np.random.Generator, kind: str) -> None:
    ref, cur = category_case(rng, kind)
    assert_rel(sw.psi(ref, cur), psi_oracle(ref, cur))
    assert_rel(sw.kl_divergence(ref, cur), kl_oracle(ref, cur))
    assert_rel(sw.jensenshannon(ref, cur), js_oracle(ref, cur))
    check_hellinger(sw.hellinger(ref, cur), ref, cur)
    assert_rel(sw.total_variation(ref, cur), tvd_oracle(ref, cur))
    assert_rel(sw.l_infinity(ref, cur), linf_oracle(ref, cur))

    result = sw.chi2_contingency_test(ref, cur)
    expected = contingency_oracle(ref, cur)
    assert result.dof == expected.dof
    assert_rel(result.statistic, float(expected.statistic), atol=1e-12)
    assert_rel(result.pvalue, float(expected.pvalue), atol=1e-300)

    shares = sw.histogram_shares(ref, cur)
    labels, r, c = binned(ref, cur)
    assert shares.bins == labels
    assert np.array_equal(shares.reference, r) and np.array_equal(shares.current, c)


def test_categories_only_in_one_sample_are_counted() -> None:
    shares = sw.histogram_shares(["a", "a", "b"], ["b", "c"], fill_empty=False)
    assert shares.bins == ["a", "b", "c"]
    np.testing.assert_array_equal(shares.reference, [2 / 3, 1 / 3, 0])
    np.testing.assert_array_equal(shares.current, [0, 0.5, 0.5])
    assert sw.total_variation(["a"], ["b"]) == 1.0
    assert sw.l_infinity(["a", "b"], ["b", "b"]) == 0.5


def test_one_category_is_no_evidence() -> None:
    result = sw.chi2_contingency_test(["x", "x"], ["x"])
    assert (result.statistic, result.pvalue, result.dof) == (0.0, 1.0, 0)
    z = sw.z_test_proportions(["x"], ["x", "x"])
    assert (z.statistic, z.pvalue) == (0.0, 1.0)
    assert sw.psi(["x"], ["x"]) == 0.0


def test_arrow_and_pandas_categories(rng: np.random.Generator) -> None:
    ref, cur = category_case(rng, "only_in_current")
    expected = sw.jensenshannon(ref, cur)
    forms = [
        pa.array,
        lambda v: pa.array(v, pa.large_string()),
        lambda v: pa.array(v, pa.string_view()),
        lambda v: pa.array(v).dictionary_encode(),
        lambda v: pa.chunked_array(
            [pa.array(v[:5]).dictionary_encode(), pa.array(v[5:]).dictionary_encode()]
        ),
        lambda v: pd.Series(v, dtype="category"),
        lambda v: np.array(v, dtype=object),
        lambda v: np.array(v),
        pl.Series,
    ]
    for form in forms:
        assert sw.jensenshannon(form(ref), form(cur)) == expected


def test_numbers_as_categories(rng: np.random.Generator) -> None:
    ref = rng.integers(0, 8, 500)
    cur = rng.integers(2, 12, 300)
    result = sw.chi2_contingency_test(ref, cur)
    expected = contingency_oracle(ref, cur)
    assert result.dof == expected.dof
    assert_rel(result.statistic, float(expected.statistic))
    assert_rel(result.pvalue, float(expected.pvalue), atol=1e-300)
    assert_rel(sw.total_variation(ref, cur), tvd_oracle(ref, cur))
    assert_rel(sw.l_infinity(ref, cur), linf_oracle(ref, cur))


@pytest.mark.parametrize("values", ["strings", "booleans", "numbers"])
def test_z_test_matches_evidently(rng: np.random.Generator, values: str) -> None:
    n, m = int(rng.integers(5, 3000)), int(rng.integers(5, 3000))
    pr, pc = rng.uniform(0.05, 0.95, 2)
    ref_bits, cur_bits = rng.random(n) < pr, rng.random(m) < pc
    if values == "strings":
        ref: Any = ["yes" if b else "no" for b in ref_bits]
        cur: Any = ["yes" if b else "no" for b in cur_bits]
    elif values == "booleans":
        ref, cur = ref_bits, cur_bits
    else:
        ref, cur = np.where(ref_bits, 7.5, -2.0), np.where(cur_bits, 7.5, -2.0)
    result = sw.z_test_proportions(ref, cur)
    z, p = z_oracle(ref, cur)
    assert_rel(result.statistic, z, atol=1e-15)
    assert_rel(result.pvalue, p, atol=1e-300)
    assert abs(result.pvalue - 2 * (1 - scipy.stats.norm.cdf(abs(z)))) <= 1e-15


def test_z_test_far_tail_keeps_precision() -> None:
    ref, cur = ["a"] * 5000 + ["b"] * 5000, ["a"] * 5800 + ["b"] * 4200
    result = sw.z_test_proportions(ref, cur)
    assert 0 < result.pvalue < 1e-20
    assert 2 * (1 - scipy.stats.norm.cdf(abs(result.statistic))) == 0.0  # Evidently's form
    assert_rel(result.pvalue, float(2 * scipy.stats.norm.sf(abs(result.statistic))))


def test_results_are_frozen() -> None:
    result = sw.chi2_contingency_test(["a", "b"], ["a"])
    with pytest.raises(AttributeError):
        result.pvalue = 0.5  # type: ignore[misc]


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        sw.psi,
        sw.kl_divergence,
        sw.jensenshannon,
        sw.hellinger,
        sw.total_variation,
        sw.l_infinity,
        sw.chi2_contingency_test,
        sw.z_test_proportions,
        sw.histogram_shares,
    ],
)
def test_empty_and_missing_values_are_rejected(fn: Any) -> None:
    with pytest.raises(InvalidInputError, match="reference sample is empty"):
        fn([], [1.0])
    with pytest.raises(InvalidInputError, match="current sample is empty"):
        fn(np.array(["a"]), np.array([], dtype=str))
    with pytest.raises(InvalidInputError, match="drop or impute"):
        fn(np.array([1.0, np.nan]), np.array([1.0]))
    with pytest.raises(InvalidInputError, match="drop or impute"):
        fn([1.0, None], [1.0])
    # Nulls in categorical data are an error too, not a category of their own.
    with pytest.raises(InvalidInputError, match="drop or impute"):
        fn(["a", None], ["a"])
    with pytest.raises(InvalidInputError, match="drop or impute"):
        fn(pa.array(["a", "b"]), pa.array(["a", None]).dictionary_encode())
    with pytest.raises(DTypeError, match="reference sample holds numbers but the current"):
        fn([1.0, 2.0], ["a", "b"])
    with pytest.raises(DTypeError, match="strings but the current sample holds numbers"):
        fn(pa.array(["a"]).dictionary_encode(), np.arange(3))
    with pytest.raises(DTypeError):
        fn(pa.array([b"bytes"]), pa.array([b"bytes"]))
    with pytest.raises(InvalidInputError, match="one-dimensional"):
        fn(np.zeros((2, 2)), np.zeros(2))


def test_invalid_input_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="impute"):
        sw.psi([np.nan], [1.0])


def test_constant_columns() -> None:
    same = sw.histogram_shares(np.full(30, 4.0), np.full(10, 4.0), "sturges", fill_empty=False)
    np.testing.assert_array_equal(same.bins, [3.5, 4.5])  # numpy widens a zero range by 0.5
    assert sw.psi(np.full(30, 4.0), np.full(10, 4.0)) == 0.0
    assert sw.hellinger(np.full(30, 4.0), np.full(10, 4.0)) == 0.0
    assert sw.chi2_contingency_test(np.full(3, 4.0), np.full(2, 4.0)).pvalue == 1.0
    # Two different constants: disjoint distributions.
    ref, cur = np.full(30, 4.0), np.full(10, 5.0)
    assert_rel(sw.psi(ref, cur), psi_oracle(ref, cur))
    assert sw.hellinger(ref, cur) == 1.0
    check_hellinger(sw.hellinger(ref, cur), ref, cur)
    assert sw.total_variation(ref, cur) == 1.0


def test_bad_bins_are_rejected() -> None:
    ref, cur = np.arange(50.0), np.arange(40.0)
    for bins, match in [
        ("fd", "bins must be one of"),
        (0, "must be positive"),
        ([0.0, 0.0, 1.0], "increase strictly"),
        ([1.0], "at least two edges"),
        ([0.0, np.nan], "NaN"),
        ([[0.0, 1.0]], "one-dimensional"),
        (["a", "b"], "not a rule"),
    ]:
        with pytest.raises(InvalidInputError, match=match):
            sw.psi(ref, cur, bins)
    with pytest.raises(InvalidInputError, match="n_quantiles"):
        sw.psi(ref, cur, "quantile", n_quantiles=0)
    with pytest.raises(InvalidInputError, match="applies to numbers"):
        sw.psi(["a"], ["b"], "sturges")
    with pytest.raises(InvalidInputError, match="infinite"):
        sw.psi(np.r_[ref, np.inf], cur, "sturges")
    # An infinite value is an ordinary category when each value is its own bin.
    assert_rel(sw.total_variation(np.array([1.0, np.inf]), np.array([1.0])), 0.5)
    with pytest.raises(InvalidInputError, match="no value of the reference"):
        sw.psi(ref, cur, [100.0, 200.0])
