"""Validation from profiles (agreement with the data's verdicts where a profile is exact, within
the stated error elsewhere) and TFDV's skew and drift comparators against independent
computations: numpy for L-infinity, scipy's jensenshannon (base 2, squared: the divergence) for
Jensen-Shannon, on the same counts."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from scipy.spatial.distance import jensenshannon

from seawall import _core
from seawall.contracts import Schema
from seawall.contracts.from_profile import HISTOGRAM_BINS, jensen_shannon
from seawall.profiles import Profile

EPS = _core.KllSketch.rank_error_bound(200)
HLL_SE = _core.profile_hll_standard_error(12)


def mixed_table(rng, n: int) -> pa.Table:
    x = rng.normal(0, 5, n)
    x[rng.random(n) < 0.05] = np.nan
    x[rng.random(n) < 0.02] = np.inf
    return pa.table(
        {
            "x": pa.array(x, mask=rng.random(n) < 0.1),
            "s": pa.array(rng.choice(["a", "b", "c", "d"], n), mask=rng.random(n) < 0.05),
            "u": rng.choice([f"k{i}" for i in range(n)], n),
            "extra": rng.normal(size=n),
        }
    )


def mixed_schema() -> Schema:
    s = Schema()
    s.add("x", "float").range(-3, 4).max_missing(0.05).allow_nan(False).allow_inf(False)
    s.add("s", "string").domain(["a", "b"]).max_missing(0.01)
    s.add("u", "string").unique().distinct(5, 20)
    s.add("gone", "integer").min_present(1)
    return s


def kinds_and_counts(report):
    return {(a.column, a.kind): a.count for a in report.anomalies}


def test_exact_profiles_agree_with_the_data(rng):
    # Fewer values than the sketch's k: every count a profile gives is exact.
    table = mixed_table(rng, 150)
    schema = mixed_schema()
    on_data = kinds_and_counts(schema.validate(table))
    report = schema.validate(Profile.from_data(table))
    assert report.source == "profile"
    assert set(kinds_and_counts(report)) == set(on_data)
    for a in report.anomalies:
        assert not a.rows
        if a.approximate:
            # "u" has more distinct strings than the summary's 64: repeats are lower bounds,
            # distinct counts HyperLogLog estimates
            assert a.column == "u"
            exact = on_data[(a.column, a.kind)]
            if a.kind == "not_unique":
                assert a.count <= exact
            else:
                assert abs(a.count - exact) <= 3 * HLL_SE * exact + 1
        else:
            assert a.count == on_data[(a.column, a.kind)], (a.column, a.kind)


def test_large_profiles_find_the_same_anomalies_within_the_error(rng):
    n = 200_000
    table = mixed_table(rng, n)
    schema = mixed_schema()
    schema["u"].unique(False).distinct(None, None)  # HLL: tested below
    on_data = kinds_and_counts(schema.validate(table))
    on_profile = {
        (a.column, a.kind): a for a in schema.validate(Profile.from_data(table)).anomalies
    }
    assert set(on_profile) == set(on_data)
    for key, a in on_profile.items():
        if a.approximate:  # the range: counts read off the sketch
            assert abs(a.count - on_data[key]) <= 2 * EPS * n, key
        else:
            assert a.count == on_data[key], key


def test_uniqueness_and_distinct_from_sketches(rng):
    n = 100_000
    heavy = rng.integers(0, n // 2, n)  # about 43% of the values repeat
    table = pa.table({"i": heavy, "k": [f"k{i}" for i in range(n)]})
    schema = Schema()
    schema.add("i", "integer").unique()
    schema.add("k", "string").unique().distinct(n // 2, 2 * n)
    report = schema.validate(Profile.from_data(table))
    assert report.kinds("i") == {"not_unique"} and report["i"][0].approximate
    assert report.kinds("k") == set()  # every key distinct: the estimate is within its error
    schema["k"].distinct(None, n // 2)
    high = schema.validate(Profile.from_data(table))["k"]
    assert [a.kind for a in high] == ["high_unique"] and high[0].approximate


def test_domain_beyond_the_summary(rng):
    n = 50_000
    table = pa.table({"s": [f"v{i}" for i in rng.integers(0, 1000, n)]})
    schema = Schema()
    schema.add("s", "string").domain([f"v{i}" for i in range(900)])
    report = schema.validate(Profile.from_data(table))
    assert report.kinds() == {"unexpected_string_values"}
    schema["s"].domain([f"v{i}" for i in range(1000)])
    assert schema.validate(Profile.from_data(table)).ok


def test_type_mismatch_from_a_profile():
    schema = Schema()
    schema.add("x", "float")
    schema.add("s", "string")
    schema.add("n", "string")
    profile = Profile.from_data(
        pa.table({"x": ["a"], "s": [1.0], "n": pa.array([None], pa.float64())})
    )
    report = schema.validate(profile)
    assert {(a.column, a.kind) for a in report.anomalies} == {
        ("x", "type_mismatch"),
        ("s", "type_mismatch"),
    }  # a column without values has no type to mismatch


# --- skew and drift --------------------------------------------------------------------------


def numpy_histogram_counts(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sides' counts on 10 bins over their finite values, plus -inf, +inf, NaN bins."""
    fa, fb = a[np.isfinite(a)], b[np.isfinite(b)]
    both = np.concatenate([fa, fb])
    lo, hi = both.min(), both.max()
    edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1) if hi > lo else np.array([lo, hi])
    ca = np.histogram(fa, edges)[0].astype(float)
    cb = np.histogram(fb, edges)[0].astype(float)
    for pick in (lambda v: v == -np.inf, lambda v: v == np.inf, np.isnan):
        if pick(a).any() or pick(b).any():
            ca = np.append(ca, pick(a).sum())
            cb = np.append(cb, pick(b).sum())
    return ca, cb


@pytest.mark.parametrize("special", [False, True])
def test_jensen_shannon_matches_scipy_on_the_same_counts(rng, special):
    a = rng.normal(0, 1, 150)
    b = rng.normal(rng.uniform(0, 1), rng.uniform(0.5, 2), 120)
    if special:
        a[:3] = np.nan
        b[:2] = np.inf
        a[3] = -np.inf
    schema = Schema()
    schema.add("x", "float").drift(jsd=0.0)
    report = schema.validate(pa.table({"x": a}), previous=pa.table({"x": b}))
    ca, cb = numpy_histogram_counts(a, b)
    keep = (ca + cb) > 0  # a bin empty on both sides adds nothing (scipy warns on 0/0)
    want = jensenshannon(ca[keep], cb[keep], base=2) ** 2
    (measured,) = report.drift
    assert measured.measure == "jsd" and not measured.approximate
    assert measured.value == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert jensen_shannon(ca, cb) == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert report.kinds() == ({"drift_jsd_high"} if want > 0 else set())


def test_jensen_shannon_from_large_sketches_is_close(rng):
    n = 200_000
    a = rng.normal(0, 1, n)
    b = rng.normal(0.3, 1.2, n)
    schema = Schema()
    schema.add("x", "float").skew(jsd=0.01)
    report = schema.validate(Profile.from_data(pa.table({"x": a})), serving=pa.table({"x": b}))
    ca, cb = numpy_histogram_counts(a, b)
    keep = (ca + cb) > 0
    exact = jensenshannon(ca[keep], cb[keep], base=2) ** 2
    (measured,) = report.skew
    assert measured.approximate
    # each bin's share within 2 * 4/k of the truth on each side; measured error is far smaller
    assert abs(measured.value - exact) <= 0.01, (measured.value, exact)


def test_l_infinity_matches_numpy(rng):
    cats = ["a", "b", "c", "d", "e"]
    a = rng.choice(cats, 3000, p=[0.4, 0.3, 0.1, 0.1, 0.1])
    b = rng.choice([*cats[:4], "zz"], 2000)
    schema = Schema()
    schema.add("s", "string").skew(linf=0.05, jsd=0.5)
    report = schema.validate(pa.table({"s": a}), serving=pa.table({"s": b}))
    keys = sorted(str(k) for k in set(a) | set(b))
    p = np.array([np.sum(a == k) for k in keys]) / len(a)
    q = np.array([np.sum(b == k) for k in keys]) / len(b)
    linf, jsd = report.skew
    assert linf.value == pytest.approx(np.abs(p - q).max(), rel=1e-12)
    assert linf.detail == f"largest difference at {keys[int(np.argmax(np.abs(p - q)))]!r}"
    assert jsd.value == pytest.approx(jensenshannon(p, q, base=2) ** 2, rel=1e-12)
    assert linf.anomalous and report.kinds() >= {"skew_linf_high"}
    assert not report.drift  # skew and drift are reported apart


def test_booleans_compare_their_shares(rng):
    a = rng.random(5000) < 0.3
    b = rng.random(4000) < 0.5
    schema = Schema()
    schema.add("f", "boolean").drift(linf=0.1)
    (m,) = schema.validate(pa.table({"f": a}), previous=pa.table({"f": b})).drift
    assert m.value == pytest.approx(abs(a.mean() - b.mean()), rel=1e-9)


def test_skew_and_drift_apart_and_missing_control(rng):
    n = 2000
    train = pa.table({"s": rng.choice(["a", "b"], n), "x": rng.normal(size=n)})
    serving = pa.table({"s": rng.choice(["a", "b", "c"], n)})
    schema = Schema()
    schema.add("s", "string").skew(linf=0.01).drift(linf=0.01)
    schema.add("x", "float").skew(jsd=0.1)
    report = schema.validate(train, serving=serving, previous=train)
    assert {(m.column, m.measure) for m in report.skew} == {("s", "linf")}
    assert {(m.column, m.measure) for m in report.drift} == {("s", "linf")}
    assert report.drift[0].value == 0.0 and not report.drift[0].anomalous
    assert report.kinds("x") == {"skew_control_missing"}
    assert report.kinds("s") == {"skew_linf_high"}
    doc = report.to_dict()
    assert doc["skew"][0]["comparison"] == "skew" and doc["drift"][0]["comparison"] == "drift"
    assert "Training-serving skew" in report.to_html()


def test_a_profile_of_100_columns_is_validated(rng):
    n = 1000
    cols = {f"x{i}": rng.normal(size=n) for i in range(80)}
    cols.update({f"s{i}": rng.choice(["a", "b", "c"], n) for i in range(20)})
    table = pa.table(cols)
    schema = Schema.infer(table)
    report = schema.validate(Profile.from_data(table))
    assert report.ok and len(report.columns) == 100
    assert math.isfinite(report.rows)
