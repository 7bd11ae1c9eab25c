"""seawall.drift.compare on two Profiles: estimates from sketches, checked against compare on the
raw data with fresh seeds (error bounds in seawall/drift/from_profiles.py)."""

from __future__ import annotations

from html import escape as html_escape

import numpy as np
import pytest

import seawall
from seawall import _core
from seawall.drift import compare
from seawall.drift.from_profiles import kolmogorov_sf
from seawall.errors import DTypeError, InvalidInputError, MissingColumnError

EPS = _core.KllSketch.rank_error_bound(200)  # default sketch_k


def _both(ref, cur, **kw):
    from_profiles = compare(seawall.Profile.from_data(ref), seawall.Profile.from_data(cur), **kw)
    exact = compare(ref, cur, **kw)
    return from_profiles, exact


def _numbers(rng, family: str, n: int, shift: float = 0.0):
    if family == "normal":
        return rng.normal(shift, 1.0, n)
    if family == "lognormal":
        return rng.lognormal(shift, 1.0, n)
    half = n // 2
    return np.concatenate([rng.normal(shift, 1.0, half), rng.exponential(2.0, n - half) + 3])


# Empirical Wasserstein bounds (absolute, on the normalised distance), k=200, stated in the
# module docstring; lognormal tails make the sketch's extreme quantiles noisy.
W_TOL = {"normal": 0.03, "mixed": 0.03, "lognormal": 0.25}


@pytest.mark.parametrize("family", ["normal", "lognormal", "mixed"])
def test_wasserstein_and_ks_close_to_exact(rng, family):
    n = int(rng.integers(50_000, 200_001))
    ref = {"x": _numbers(rng, family, n)}
    for shift in (0.0, 0.05, 0.5):
        cur = {"x": _numbers(rng, family, int(rng.integers(50_000, 200_001)), shift)}
        est, exact = _both(ref, cur)
        e, x = est["x"], exact["x"]
        assert e.method == x.method == "wasserstein"
        assert e.source == "profile" and x.source == "data" and e.note
        assert abs(e.statistic - x.statistic) <= W_TOL[family], (shift, e.statistic, x.statistic)
        assert e.reference_count == x.reference_count and e.current_count == x.current_count
        ks_est, ks_exact = _both(ref, cur, methods={"x": "ks"})
        assert abs(ks_est["x"].statistic - ks_exact["x"].statistic) <= 2 * EPS


def test_ks_small_samples_and_flags(rng):
    # n_ref <= 1000: the default is ks on both paths
    ref = {"x": rng.normal(size=800)}
    stable = {"x": rng.normal(size=900)}
    drifted = {"x": rng.normal(1.0, 1.0, size=900)}
    for cur, flag in ((stable, None), (drifted, True)):
        est, exact = _both(ref, cur)
        assert est["x"].method == exact["x"].method == "ks"
        assert abs(est["x"].statistic - exact["x"].statistic) <= 2 * EPS
        if flag:
            assert est["x"].drifted and exact["x"].drifted
    # clearly stable: same sample on both sides
    est = compare(seawall.Profile.from_data(ref), seawall.Profile.from_data(ref))
    assert est["x"].statistic <= 2 * EPS and not est["x"].drifted


def test_drift_flags_agree_on_clear_cases(rng):
    # 200k rows: at 100k a stable lognormal's estimated Wasserstein exceeds 0.1 in about 1% of
    # draws with k=200 (heavy tails, module docstring)
    n = 200_000
    ref = {
        "a": rng.normal(size=n),
        "b": rng.lognormal(size=n),
        "s": rng.choice(list("abcdef"), n),
        "few": rng.integers(0, 4, n).astype(float),
    }
    stable = {
        "a": rng.normal(size=n),
        "b": rng.lognormal(size=n),
        "s": rng.choice(list("abcdef"), n),
        "few": rng.integers(0, 4, n).astype(float),
    }
    drifted = {
        "a": rng.normal(1.0, 1.0, n),
        "b": rng.lognormal(1.0, 1.0, n),
        "s": rng.choice(list("abcdef"), n, p=[0.5, 0.1, 0.1, 0.1, 0.1, 0.1]),
        "few": rng.integers(2, 6, n).astype(float),
    }
    for cur, expected in ((stable, False), (drifted, True)):
        est, exact = _both(ref, cur)
        for col in ref:
            assert est[col].method == exact[col].method, col
            assert est[col].drifted == exact[col].drifted == expected, col
        assert est.dataset_drift == exact.dataset_drift == expected


def test_categorical_exact_when_top_k_exact(rng):
    cats = [f"c{i}" for i in range(30)]
    for n_ref, n_cur in ((700, 650), (20_000, 30_000)):
        ref = {"s": rng.choice(cats, n_ref)}
        cur = {"s": rng.choice([*cats[3:], "new"], n_cur)}
        for method in (None, "jensenshannon", "chisquare", "psi", "tvd", "linf", "kl_div"):
            kw = {} if method is None else {"methods": {"s": method}}
            est, exact = _both(ref, cur, **kw)
            e, x = est["s"], exact["s"]
            assert e.method == x.method
            assert e.statistic == pytest.approx(x.statistic, rel=1e-9, abs=1e-12)
            if x.pvalue is not None:
                assert e.pvalue == pytest.approx(x.pvalue, rel=1e-6, abs=1e-300)
            assert e.drifted == x.drifted
            assert "exact" in (e.note or "")


def test_long_category_values_compare_as_on_the_data(rng):
    """Categories longer than a profile keeps (TOP_VALUE_MAX_BYTES) are named by their truncated
    keys on both sides, reference and current alike: the statistics are those of the data."""
    cats = [f"c{i}-" + "v" * int(rng.integers(300, 5000)) for i in range(12)]
    ref = {"s": rng.choice(cats, 5000)}
    cur = {"s": rng.choice(cats[2:], 4000)}
    est, exact = _both(ref, cur)
    e, x = est["s"], exact["s"]
    assert e.method == x.method
    assert e.statistic == pytest.approx(x.statistic, rel=1e-9, abs=1e-12)
    assert e.drifted == x.drifted
    labels = e.distribution.bins
    limit = _core.TOP_VALUE_MAX_BYTES
    assert all(len(label.encode()) <= limit and label.endswith(" bytes)") for label in labels)
    markers = {label: f"…({len(label)} bytes)" for label in x.distribution.bins}  # ASCII labels
    assert sorted(labels) == sorted(
        label[: limit - len(marker.encode())] + marker for label, marker in markers.items()
    )


def test_categorical_z_test_exact(rng):
    ref = {"s": rng.choice(["no", "yes"], 500)}
    cur = {"s": rng.choice(["no", "yes"], 600, p=[0.3, 0.7])}
    est, exact = _both(ref, cur)
    assert est["s"].method == exact["s"].method == "z"
    assert est["s"].statistic == pytest.approx(exact["s"].statistic, rel=1e-9)
    assert est["s"].pvalue == pytest.approx(exact["s"].pvalue, rel=1e-6, abs=1e-300)


def test_categorical_tail_pooled_when_not_exact(rng):
    cats = [f"c{i}" for i in range(200)]
    weights = 1.0 / np.arange(1, 201)
    ref = {"s": rng.choice(cats, 50_000, p=weights / weights.sum())}
    cur = {"s": rng.choice(cats, 50_000, p=weights / weights.sum())}
    est, exact = _both(ref, cur)
    e = est["s"]
    assert e.method == exact["s"].method == "jensenshannon"
    assert "other" in (e.note or "") and "approximate" in (e.note or "")
    assert not e.drifted and not exact["s"].drifted
    assert e.distribution is not None


def test_few_numeric_values_by_value(rng):
    # one bin per value: the values are exact, each share within 2 eps of the truth (counts from
    # ranks), so chisquare on numbers is approximate (no tight bound on the statistic itself)
    ref = {"x": rng.integers(0, 4, 3000).astype(float)}
    cur = {"x": rng.integers(1, 5, 3000).astype(float)}
    est, exact = _both(ref, cur, methods={"x": "chisquare"})
    e, x = est["x"].distribution, exact["x"].distribution
    assert e is not None and x is not None
    assert e.bins == x.bins == ("0", "1", "2", "3", "4")
    np.testing.assert_allclose(e.reference, x.reference, atol=2 * EPS)
    np.testing.assert_allclose(e.current, x.current, atol=2 * EPS)
    assert est["x"].drifted and exact["x"].drifted


def test_missing_and_infinite_values_dropped(rng):
    a = rng.normal(size=60_000)
    a[:100] = np.nan
    a[100:110] = np.inf
    b = rng.normal(size=60_000)
    b[:5] = -np.inf
    est, exact = _both({"x": a}, {"x": b})
    e, x = est["x"], exact["x"]
    assert (e.reference_count, e.current_count) == (x.reference_count, x.current_count)
    assert (e.reference_missing, e.reference_infinite) == (
        x.reference_missing,
        x.reference_infinite,
    )
    assert e.current_infinite == x.current_infinite == 5
    assert abs(e.statistic - x.statistic) <= W_TOL["normal"]


def test_report_serialises():
    p = seawall.Profile.from_data({"x": np.arange(5000.0), "s": ["a", "b"] * 2500})
    report = compare(p, p)
    d = report.to_dict()
    assert all(c["source"] == "profile" for c in d["columns"])
    html = report.to_html()
    assert "<svg" in html
    # Each column says it is an estimate, and how it was made.
    assert html.count("Estimated from two profiles") == len(report.columns)
    for c in report.columns:
        assert c.note and html_escape(c.note) in html
    assert report.number_of_drifted_columns == 0


def test_errors():
    p1 = seawall.Profile.from_data({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]})
    p2 = seawall.Profile.from_data({"a": [1.0, 2.0, 3.0]})
    with pytest.raises(MissingColumnError, match="'b'"):
        compare(p1, p2)
    with pytest.raises(MissingColumnError):
        compare({"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0, 3.0]}, {"a": [1.0, 2.0, 3.0]})
    # empty profiles and columns without values are reported, not raised: test_no_data.py
    strings = seawall.Profile.from_data({"a": ["x", "y", "z"]})
    with pytest.raises(DTypeError):
        compare(strings, p2)
    with pytest.raises(InvalidInputError, match="raw values"):
        compare(p2, p2, methods={"a": "energy"})
    with pytest.raises(InvalidInputError, match="not a drift method"):
        compare(p2, p2, methods={"a": "nope"})


def test_kolmogorov_sf():
    # reference values of Kolmogorov's limit distribution (scipy.special.kolmogorov)
    assert kolmogorov_sf(0.0) == 1.0
    assert kolmogorov_sf(1.0) == pytest.approx(0.26999967167735456, rel=1e-12)
    assert kolmogorov_sf(1.36) == pytest.approx(0.049485876755377876, rel=1e-12)
    assert kolmogorov_sf(3.0) == pytest.approx(3.045995948942526e-08, rel=1e-10)
    assert kolmogorov_sf(0.3) == pytest.approx(0.9999906941986655, rel=1e-12)
