"""seawall.drift.compare against Evidently's documented method rules and an independent scipy
oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.stats as ss
from scipy.spatial.distance import jensenshannon

import seawall
import seawall.stats as sws
from seawall.drift import METHODS, compare
from seawall.errors import DTypeError, InvalidInputError, MissingColumnError

# --- the oracle: scipy and numpy only, Evidently's rules written out again ------------------


def _evidently_bins(ref: np.ndarray, cur: np.ndarray, numerical: bool):
    """Evidently's get_binned_data(..., feel_zeroes=False), in numpy."""
    if numerical and len(np.unique(ref)) > 20:
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
        return np.histogram(ref, edges)[0] / len(ref), np.histogram(cur, edges)[0] / len(cur)
    keys = np.union1d(ref, cur)
    r = np.array([(ref == k).sum() for k in keys]) / len(ref)
    c = np.array([(cur == k).sum() for k in keys]) / len(cur)
    return r, c


def _z_pvalue(ref: np.ndarray, cur: np.ndarray) -> float:
    keys = np.union1d(ref, cur)
    if len(keys) == 1:
        return 1.0
    a, b = (ref != keys[0]).astype(float), (cur != keys[0]).astype(float)
    p1, p2 = a.mean(), b.mean()
    pooled = (a.sum() + b.sum()) / (len(a) + len(b))
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / len(a) + 1 / len(b)))
    return float(2 * ss.norm.sf(abs(z)))


def oracle(ref: np.ndarray, cur: np.ndarray, numerical: bool) -> tuple[str, float, bool]:
    """(method, drift score, drifted) by Evidently's defaults, computed with scipy."""
    n_values = len(np.union1d(ref, cur))
    if len(ref) <= 1000:
        if numerical and n_values > 5:
            p = ss.ks_2samp(ref, cur).pvalue
            return "ks", p, p <= 0.05
        if n_values > 2:
            keys = np.union1d(ref, cur)
            table = np.array([[(ref == k).sum() for k in keys], [(cur == k).sum() for k in keys]])
            p = ss.chi2_contingency(table, correction=False).pvalue
            return "chisquare", p, p < 0.05
        p = _z_pvalue(ref, cur)
        return "z", p, p < 0.05
    if numerical and n_values > 5:
        w = ss.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
        return "wasserstein", w, w >= 0.1
    r, c = _evidently_bins(ref, cur, numerical)
    js = float(jensenshannon(r, c))
    return "jensenshannon", js, js >= 0.1


def _frame(rng: np.random.Generator, n_ref: int, n_cur: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    cats = np.array(["red", "green", "blue", "cyan"], dtype=object)

    def make(n: int, shift: float, p: list[float]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "normal": rng.normal(shift, 1, n),
                "ints": rng.integers(0, 4, n),  # 4 distinct: chisquare / jensenshannon
                "wide_ints": rng.integers(0, 40, n) + int(shift * 10),
                "binary": rng.random(n) < 0.3 + shift / 5,
                "colour": cats[rng.choice(4, n, p=p)],
                "uniform": rng.uniform(0, 1 + shift, n),
            }
        )

    return make(n_ref, 0.0, [0.25] * 4), make(n_cur, rng.choice([0.0, 0.3]), [0.4, 0.2, 0.2, 0.2])


def _values(frame: pd.DataFrame, col: str) -> tuple[np.ndarray, bool]:
    s = frame[col]
    if s.dtype == bool:
        return s.astype(str).str.lower().to_numpy(), False
    if not pd.api.types.is_numeric_dtype(s):
        return s.to_numpy().astype(str), False
    return s.to_numpy(), True  # integers stay integers, as in Evidently (numpy's bin widths)


@pytest.mark.parametrize("n_ref", [300, 1000, 1001, 4000])
def test_report_matches_scipy_oracle(rng, n_ref):
    n_cur = int(rng.integers(200, 3000))
    ref, cur = _frame(rng, n_ref, n_cur)
    report = compare(ref, cur)
    assert [c.column for c in report.columns] == list(ref.columns)
    for c in report.columns:
        r, numerical = _values(ref, c.column)
        k, _ = _values(cur, c.column)
        method, score, drifted = oracle(r, k, numerical)
        assert c.kind == ("numerical" if numerical else "categorical")
        assert c.method == method, c.column
        assert c.drift_score == pytest.approx(score, rel=1e-9, abs=1e-12), c.column
        assert c.drifted == drifted
        assert (c.pvalue is None) == (method in ("wasserstein", "jensenshannon"))
    n_drifted = sum(c.drifted for c in report.columns)
    assert report.drift_share == n_drifted / len(report.columns)
    assert report.dataset_drift == (report.drift_share >= 0.5)


def test_statistics_of_the_tests(rng):
    ref, cur = _frame(rng, 800, 600)
    report = compare(ref, cur)
    r, k = ref["normal"].to_numpy(), cur["normal"].to_numpy()
    ks = ss.ks_2samp(r, k)
    assert report["normal"].statistic == pytest.approx(ks.statistic, rel=1e-12)
    keys = np.union1d(ref["ints"], cur["ints"])
    table = [[(ref["ints"] == v).sum() for v in keys], [(cur["ints"] == v).sum() for v in keys]]
    chi = ss.chi2_contingency(np.array(table), correction=False)
    assert report["ints"].statistic == pytest.approx(chi.statistic, rel=1e-9)
    assert report["binary"].statistic == pytest.approx(
        sws.z_test_proportions(ref["binary"].astype(str), cur["binary"].astype(str)).statistic
    )


def _numeric_pair(rng, n_ref: int, n_distinct: int, n_cur: int = 500):
    values = np.arange(n_distinct, dtype=np.float64) * 1.5
    ref = values[np.arange(n_ref) % n_distinct]
    cur = rng.choice(values, n_cur)
    return rng.permutation(ref), cur


@pytest.mark.parametrize(
    ("n_ref", "n_distinct", "method"),
    [
        (1000, 6, "ks"),
        (1000, 5, "chisquare"),
        (1000, 3, "chisquare"),
        (1000, 2, "z"),
        (1001, 6, "wasserstein"),
        (1001, 5, "jensenshannon"),
        (1001, 2, "jensenshannon"),
    ],
)
def test_default_method_numerical(rng, n_ref, n_distinct, method):
    ref, cur = _numeric_pair(rng, n_ref, n_distinct)
    assert compare({"x": ref}, {"x": cur})["x"].method == method


@pytest.mark.parametrize(
    ("n_ref", "n_categories", "method"),
    [(1000, 3, "chisquare"), (1000, 2, "z"), (1000, 1, "z"), (1001, 2, "jensenshannon")],
)
def test_default_method_categorical(rng, n_ref, n_categories, method):
    levels = np.array(["a", "b", "c"][:n_categories], dtype=object)
    ref = levels[np.arange(n_ref) % n_categories]
    cur = rng.choice(levels, 300)
    assert compare({"s": ref}, {"s": cur})["s"].method == method


def test_distinct_values_count_reference_and_current_together(rng):
    # Evidently: n_values = pd.concat([reference, current]).nunique().
    ref = np.array(["a", "b"] * 100, dtype=object)
    cur = np.array(["a", "b", "c"] * 50, dtype=object)
    assert compare({"s": ref}, {"s": cur})["s"].method == "chisquare"
    # one value in the reference, another in the current: two together, the z-test
    assert compare({"s": ref[:1].repeat(50)}, {"s": cur[1:2].repeat(50)})["s"].method == "z"
    # 3 distinct numbers in the reference, 6 together: KS
    x = rng.choice([1.0, 2.0, 3.0], 400)
    y = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 400)
    assert compare({"x": x}, {"x": y})["x"].method == "ks"


def test_size_counts_values_left_after_dropping(rng):
    ref = rng.normal(size=1005)
    ref[:5] = np.nan
    assert compare({"x": ref}, {"x": rng.normal(size=50)})["x"].method == "ks"
    ref[:5] = 0.5
    assert compare({"x": ref}, {"x": rng.normal(size=50)})["x"].method == "wasserstein"


@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_overrides_match_seawall_stats(rng, method):
    ref = rng.normal(0, 1, 700)
    cur = rng.normal(0.2, 1.1, 500)
    if method == "z":
        ref, cur = (ref > 0).astype(float), (cur > 0).astype(float)
    report = compare({"x": ref}, {"x": cur}, methods={"x": method})
    c = report["x"]
    expected = {
        "ks": lambda: sws.ks_2samp(ref, cur).pvalue,
        "chisquare": lambda: sws.chi2_contingency_test(ref, cur).pvalue,
        "z": lambda: sws.z_test_proportions(ref, cur).pvalue,
        "cramer_von_mises": lambda: sws.cramervonmises_2samp(ref, cur).pvalue,
        "wasserstein": lambda: ss.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001),
        "psi": lambda: sws.psi(ref, cur),
        "kl_div": lambda: sws.kl_divergence(ref, cur),
        "jensenshannon": lambda: sws.jensenshannon(ref, cur),
        "hellinger": lambda: sws.hellinger(ref, cur),
        "energy": lambda: ss.energy_distance(ref, cur),
        "tvd": lambda: sws.total_variation(ref, cur),
        "linf": lambda: sws.l_infinity(ref, cur),
    }[method]()
    assert c.method == method
    assert c.drift_score == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert c.threshold == METHODS[method].threshold
    if METHODS[method].test:
        assert c.pvalue is not None
        assert c.drifted == (c.pvalue < c.threshold or (method == "ks" and c.pvalue == 0.05))
    else:
        assert c.pvalue is None
        assert c.drifted == (c.statistic >= c.threshold)


def test_threshold_overrides_and_direction(rng):
    ref = rng.normal(0, 1, 3000)
    cur = ref + 0.05
    w = compare({"x": ref}, {"x": cur})["x"]
    assert w.method == "wasserstein"
    assert not w.drifted
    lower = compare({"x": ref}, {"x": cur}, thresholds={"x": w.statistic / 2})["x"]
    assert lower.drifted and lower.threshold == w.statistic / 2
    exact = compare({"x": ref}, {"x": cur}, thresholds={"x": w.statistic})["x"]
    assert exact.drifted  # distances: drift when >= threshold
    ks = compare({"x": ref}, {"x": cur}, methods={"x": "ks"}, thresholds={"x": 1.0})["x"]
    assert ks.drifted == (ks.pvalue <= 1.0)


def test_dataset_drift_share(rng):
    n = 2000
    ref = {f"c{i}": rng.normal(0, 1, n) for i in range(4)}
    cur = {f"c{i}": rng.normal(3.0 if i < 2 else 0.0, 1, n) for i in range(4)}
    report = compare(ref, cur)
    assert [c.drifted for c in report.columns] == [True, True, False, False]
    assert report.drift_share == 0.5 and report.dataset_drift
    assert not compare(ref, cur, drift_share=0.75).dataset_drift
    assert compare(ref, cur, columns=["c0", "c2", "c3"]).drift_share == pytest.approx(1 / 3)


def test_missing_and_infinite_values_are_dropped_and_counted(rng):
    ref = rng.normal(size=600)
    cur = rng.normal(size=400)
    ref_dirty, cur_dirty = ref.copy(), cur.copy()
    ref_dirty[[3, 7]] = np.nan
    cur_dirty[[1]] = np.inf
    cur_dirty[[2, 5, 9]] = np.nan
    cur_dirty[[11]] = -np.inf
    strings = np.array(["a", "b", "c"], dtype=object)[rng.integers(0, 3, 600)]
    with_none = strings.copy()
    with_none[[0, 10, 20]] = None
    report = compare(
        pa.table({"x": ref_dirty, "s": pa.array(with_none)}),
        pa.table({"x": cur_dirty, "s": pa.array(strings[:400])}),
    )
    x = report["x"]
    assert (x.reference_missing, x.reference_infinite) == (2, 0)
    assert (x.current_missing, x.current_infinite) == (3, 2)
    assert (x.reference_count, x.current_count) == (598, 395)
    keep_r, keep_c = np.isfinite(ref_dirty), np.isfinite(cur_dirty)
    assert x.pvalue == pytest.approx(ss.ks_2samp(ref[keep_r], cur[keep_c]).pvalue, rel=1e-12)
    s = report["s"]
    assert (s.reference_missing, s.current_missing, s.reference_count) == (3, 0, 597)
    # nulls in integer columns are missing too
    ints = pa.array([1, None, 2, 3, 4, 5, 6, None], pa.int64())
    c = compare(pa.table({"i": ints}), pa.table({"i": pa.array(range(8))}))["i"]
    assert (c.reference_missing, c.reference_count, c.current_missing) == (2, 6, 0)


def _formats(table: pa.Table, tmp_path, tag: str):
    path = tmp_path / f"{tag}.parquet"
    pq.write_table(table, path)
    frame = table.to_pandas()
    return {
        "table": table,
        "batch": table.combine_chunks().to_batches()[0],
        "pandas": frame,
        "polars": pl.from_arrow(table),
        "dict": {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names},
        "parquet": str(path),
        "parquet_list": [path],
    }


def test_input_formats_give_identical_reports(rng, tmp_path):
    ref, cur = _frame(rng, 1500, 700)
    ref_t = pa.Table.from_pandas(ref, preserve_index=False)
    cur_t = pa.Table.from_pandas(cur, preserve_index=False)
    expected = compare(ref_t, cur_t).to_dict()
    ref_f, cur_f = _formats(ref_t, tmp_path, "ref"), _formats(cur_t, tmp_path, "cur")
    for name in ref_f:
        assert compare(ref_f[name], cur_f[name]).to_dict() == expected, name
    # pandas categoricals (Arrow dictionaries) read as the same categories
    ref_cat = ref.assign(colour=ref["colour"].astype("category"))
    assert compare(ref_cat, cur).to_dict() == expected


def test_parquet_reads_only_the_compared_columns(rng, tmp_path):
    table = pa.table({"x": rng.normal(size=100), "bad": pa.array([[1]] * 100)})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    report = compare(path, path, columns=["x"])
    assert [c.column for c in report.columns] == ["x"]
    with pytest.raises(DTypeError, match="'bad'"):
        compare(path, path)


def test_results_do_not_depend_on_the_thread_count(rng, restore_threads):
    ref, cur = _frame(rng, 1200, 900)
    seawall.set_num_threads(1)
    one = compare(ref, cur).to_dict()
    seawall.set_num_threads(4)
    assert compare(ref, cur).to_dict() == one


def test_categorical_override(rng):
    ref = rng.integers(0, 30, 2000)
    cur = rng.integers(0, 30, 2000)
    c = compare({"i": ref}, {"i": cur}, categorical=["i"])["i"]
    assert (c.kind, c.method) == ("categorical", "jensenshannon")
    r, k = _evidently_bins(ref.astype(float), cur.astype(float), numerical=False)
    assert c.statistic == pytest.approx(jensenshannon(r, k), rel=1e-9)
    assert compare({"i": ref}, {"i": cur})["i"].method == "wasserstein"
    with pytest.raises(InvalidInputError, match="numerical columns only"):
        compare({"i": ref}, {"i": cur}, categorical=["i"], methods={"i": "ks"})


def test_constant_columns(rng):
    const = np.full(2000, 3.0)
    near = const + rng.normal(0, 1e-6, 2000)
    w = compare({"x": const}, {"x": near})["x"]
    assert w.method == "wasserstein"  # distinct values of both sides together
    # Evidently's norm max(std, 0.001), where seawall.stats.wasserstein_distance_norm raises
    assert w.statistic == pytest.approx(ss.wasserstein_distance(const, near) / 0.001, rel=1e-9)
    same = compare({"x": const[:500]}, {"x": const[:300]})["x"]
    assert (same.method, same.statistic, same.pvalue, same.drifted) == ("z", 0.0, 1.0, False)
    ks = compare({"x": const[:500]}, {"x": const[:300]}, methods={"x": "ks"})["x"]
    assert (ks.statistic, ks.pvalue, ks.drifted) == (0.0, 1.0, False)
    cat = compare({"s": ["a"] * 50}, {"s": ["a"] * 20}, methods={"s": "chisquare"})["s"]
    assert (cat.statistic, cat.pvalue, cat.drifted) == (0.0, 1.0, False)


# --- bad input ------------------------------------------------------------------------------


def test_no_columns_raises(rng):
    x = {"x": rng.normal(size=10)}
    with pytest.raises(InvalidInputError, match="no columns"):
        compare(x, x, columns=[])
    # empty tables and columns without values are reported, not raised: test_no_data.py


def test_column_on_one_side_only_raises(rng):
    a = {"x": rng.normal(size=10), "y": rng.normal(size=10)}
    b = {"x": rng.normal(size=10)}
    with pytest.raises(MissingColumnError, match="'y' is not in the current data"):
        compare(a, b)
    with pytest.raises(MissingColumnError, match="'y' is not in the reference data"):
        compare(b, a)
    with pytest.raises(MissingColumnError, match="'y'"):
        compare(b, a, columns=["x", "y"])
    assert compare(a, b, columns=["x"]).columns[0].column == "x"


def test_mismatched_types_raise_dtype_error_naming_the_column(rng):
    with pytest.raises(DTypeError, match=r"'c'.*numbers.*strings"):
        compare({"c": rng.normal(size=5)}, {"c": ["a", "b", "c", "d", "e"]})
    with pytest.raises(DTypeError, match="'b'"):
        compare({"b": [True, False]}, {"b": [1.0, 0.0]})
    with pytest.raises(DTypeError, match="'t'"):
        ts = pa.array(np.arange(5).astype("datetime64[s]"))
        compare(pa.table({"t": ts}), pa.table({"t": ts}))
    # integers and floats are both numerical
    assert compare({"n": [1, 2, 3, 4]}, {"n": [1.5, 2.5]})["n"].kind == "numerical"


def test_bad_options_raise(rng):
    x = {"x": rng.normal(size=50)}
    with pytest.raises(InvalidInputError, match="not a drift method"):
        compare(x, x, methods={"x": "anderson"})
    with pytest.raises(MissingColumnError, match="'nope'"):
        compare(x, x, methods={"nope": "ks"})
    with pytest.raises(MissingColumnError, match="'nope'"):
        compare(x, x, thresholds={"nope": 0.1})
    with pytest.raises(InvalidInputError, match="finite"):
        compare(x, x, thresholds={"x": float("nan")})
    with pytest.raises(InvalidInputError, match="at most 1"):
        compare(x, x, thresholds={"x": 2.0})  # the default here is KS, a test
    with pytest.raises(InvalidInputError, match="drift_share"):
        compare(x, x, drift_share=1.5)
    with pytest.raises(InvalidInputError, match="numerical columns only"):
        compare({"s": ["a", "b"]}, {"s": ["a"]}, methods={"s": "wasserstein"})
    with pytest.raises(InvalidInputError, match="'x'"):  # the statistic's own error, named
        compare({"x": [1.0]}, {"x": [2.0]}, methods={"x": "cramer_von_mises"})
