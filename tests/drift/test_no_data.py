"""Columns with no value to compare on a side: every value null, NaN, infinite or a mix of
these, an all-null string column, a table or profile with no rows, either side or both. Such a
column gets a ``status="no_data"`` result that says why, in the report, its dict/JSON, its HTML
and from profiles alike; the other columns are computed exactly as without it (scipy is the
oracle) and the drift share is over the compared columns."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest
import scipy.stats as ss

import seawall
from seawall.drift import compare
from seawall.errors import InvalidInputError

N_REF, N_CUR = 600, 400  # at most 1000 reference rows: KS and chi-square, scipy's own tests
LEVELS = np.array(["red", "green", "blue", "cyan"], dtype=object)


def _healthy(rng: np.random.Generator, n: int, shift: float) -> dict[str, pa.Array]:
    return {
        "x": pa.array(rng.normal(shift, 1.0, n)),
        "colour": pa.array(LEVELS[rng.integers(0, 4 if shift == 0 else 3, n)]),
        "y": pa.array(rng.exponential(1.0 + shift, n)),
    }


def _broken(kind: str, n: int, rng: np.random.Generator) -> tuple[pa.Array, tuple[int, int]]:
    """A column with no value left after dropping, and its (missing, infinite) counts."""
    if kind == "null":
        return pa.nulls(n, pa.float64()), (n, 0)
    if kind == "null_type":
        return pa.nulls(n), (n, 0)
    if kind == "nan":
        return pa.array(np.full(n, np.nan)), (n, 0)
    if kind == "inf":
        return pa.array(rng.choice([np.inf, -np.inf], n)), (0, n)
    if kind == "mixed":
        values = rng.choice([np.nan, np.inf, -np.inf], n).astype(object)
        values[: n // 3] = None
        array = pa.array(values, pa.float64(), from_pandas=False)
        nan = int(np.sum([v is not None and math.isnan(v) for v in values]))
        return array, (n // 3 + nan, n - n // 3 - nan)
    if kind == "strings":
        return pa.nulls(n, pa.string()), (n, 0)
    raise AssertionError(kind)


def _healthy_column_for(kind: str, rng: np.random.Generator, n: int) -> pa.Array:
    if kind == "strings":
        return pa.array(LEVELS[rng.integers(0, 4, n)])
    return pa.array(rng.normal(0, 1, n))


def _oracle(ref: pa.Table, cur: pa.Table, column: str) -> tuple[float, float]:
    """(statistic, p-value) of the healthy columns, from scipy."""
    r, c = ref[column].to_numpy(zero_copy_only=False), cur[column].to_numpy(zero_copy_only=False)
    if column == "colour":
        keys = np.union1d(r, c)
        table = np.array([[(r == k).sum() for k in keys], [(c == k).sum() for k in keys]])
        x = ss.chi2_contingency(table, correction=False)
        return float(x.statistic), float(x.pvalue)
    k = ss.ks_2samp(r, c)
    return float(k.statistic), float(k.pvalue)


def _check_healthy(report, ref: pa.Table, cur: pa.Table, healthy: list[str]) -> None:
    """The compared columns are exactly what they are without the broken one, and scipy's."""
    alone = compare(ref, cur, healthy)
    for name in healthy:
        c = report[name]
        assert c.status == "ok" and c.error is None
        assert c == alone[name]
        statistic, pvalue = _oracle(ref, cur, name)
        assert c.statistic == pytest.approx(statistic, rel=1e-9, abs=1e-12), name
        assert c.pvalue == pytest.approx(pvalue, rel=1e-9, abs=1e-12), name
    drifted = sum(bool(report[c].drifted) for c in healthy)
    assert report.drift_share == drifted / len(healthy) == alone.drift_share
    assert report.dataset_drift == (drifted / len(healthy) >= 0.5)
    assert report.number_of_compared_columns == len(healthy)


BROKEN = ["null", "null_type", "nan", "inf", "mixed", "strings"]


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("side", ["current", "reference", "both"])
def test_a_column_without_values_is_reported_and_the_rest_computed(rng, kind, side):
    ref = _healthy(rng, N_REF, 0.0)
    cur = _healthy(rng, N_CUR, float(rng.choice([0.0, 0.4])))
    counts = {}
    for which, data, n in (("reference", ref, N_REF), ("current", cur, N_CUR)):
        if side in (which, "both"):
            data["gone"], counts[which] = _broken(kind, n, rng)
        else:
            data["gone"] = _healthy_column_for(kind, rng, n)
    ref_t, cur_t = pa.table(ref), pa.table(cur)

    report = compare(ref_t, cur_t)
    gone = report["gone"]
    assert gone.status == "no_data"
    assert (gone.drifted, gone.statistic, gone.pvalue, gone.method, gone.threshold) == (None,) * 5
    assert gone.drift_score is None
    assert gone.kind == ("categorical" if kind == "strings" else "numerical")
    for which, n in (("reference", N_REF), ("current", N_CUR)):
        count = getattr(gone, f"{which}_count")
        missing = getattr(gone, f"{which}_missing")
        infinite = getattr(gone, f"{which}_infinite")
        if which in counts:
            assert (count, missing, infinite) == (0, *counts[which])
            assert f"the {which} data has no values: all {n:,} are " in gone.error
        else:
            assert (count, missing, infinite) == (n, 0, 0)
            assert f"the {which} data" not in gone.error
    _check_healthy(report, ref_t, cur_t, ["x", "colour", "y"])
    assert report.no_data_columns == ["gone"]

    # dict and strict JSON say the same
    written = json.loads(report.to_json())
    entry = next(c for c in written["columns"] if c["column"] == "gone")
    assert entry["status"] == "no_data" and entry["error"] == gone.error
    assert entry["drifted"] is None and entry["statistic"] is None
    assert written["no_data_columns"] == ["gone"]
    assert written["number_of_compared_columns"] == 3
    assert written["drift_share"] == report.drift_share

    # from profiles of the same data: the same verdict, counts and message
    from_profiles = compare(seawall.Profile.from_data(ref_t), seawall.Profile.from_data(cur_t))
    p = from_profiles["gone"]
    assert p.status == "no_data" and p.source == "profile"
    assert p.error == gone.error
    same = ("kind", "reference_count", "current_count", "reference_missing", "current_missing")
    for field in (*same, "reference_infinite", "current_infinite", "drifted", "statistic"):
        assert getattr(p, field) == getattr(gone, field), field
    assert from_profiles.number_of_compared_columns == 3
    assert from_profiles.no_data_columns == ["gone"]


def test_the_html_shows_which_column_is_broken_and_why(rng):
    ref = _healthy(rng, N_REF, 0.0)
    cur = _healthy(rng, N_CUR, 0.0)
    ref["gone"], cur["gone"] = pa.array(rng.normal(size=N_REF)), pa.nulls(N_CUR, pa.float64())
    report = compare(pa.table(ref), pa.table(cur))
    html = report.to_html()
    row = html[html.index('<tr class="no_data">') :]
    row = row[: row.index("</tr>")]
    assert ">gone</a>" in row and "no data" in row
    assert f"the current data has no values: all {N_CUR:,} are missing (null or NaN)" in row
    assert "1 of 4 columns could not be compared" in html
    assert "of 3 compared columns drifted" in html
    section = html[html.index('<section id="sw-col-3">') :]
    assert "no data, not compared" in section[: section.index("</section>")]
    # the healthy rows keep their figures
    assert html.count("<svg") == 4
    assert report.summary().endswith("; 1 without values to compare: 'gone'")


def test_nothing_to_compare_gives_no_verdict(rng):
    ref = pa.table({"x": rng.normal(size=50), "s": LEVELS[rng.integers(0, 4, 50)]})
    empty = ref.slice(0, 0)
    for reference, current, side in ((ref, empty, "current"), (empty, ref, "reference")):
        for r, c in (
            (reference, current),
            tuple(map(seawall.Profile.from_data, (reference, current))),
        ):
            report = compare(r, c)
            assert [col.status for col in report.columns] == ["no_data", "no_data"]
            assert all(col.error == f"the {side} data has no rows" for col in report.columns)
            assert report.drift_share is None and report.dataset_drift is None
            assert report.number_of_compared_columns == 0
            written = json.loads(report.to_json())
            assert written["dataset_drift"] is None and written["drift_share"] is None
            assert "No verdict: no column could be compared" in report.to_html()
            assert report.summary().startswith("no dataset verdict")
    nulls = pa.table({"x": pa.nulls(5, pa.float64())})
    both = compare(nulls, nulls)["x"]
    assert both.error == (
        "the reference data has no values: all 5 are missing (null or NaN); "
        "the current data has no values: all 5 are missing (null or NaN)"
    )
    one = compare(pa.table({"x": [1.0, np.inf]}), pa.table({"x": [np.inf, 2.0]}))
    assert one["x"].status == "ok"
    single = compare(pa.table({"x": [1.0, 2.0]}), pa.table({"x": [np.inf]}))["x"]
    assert single.error == "the current data has no values: its only value is infinite"


def test_a_side_without_values_need_not_have_the_other_sides_type(rng):
    strings = LEVELS[rng.integers(0, 4, 30)]
    for ref, cur in (
        ({"s": strings}, {"s": pa.nulls(20, pa.float64())}),
        ({"s": pa.nulls(20, pa.float64())}, {"s": strings}),
    ):
        tables = compare(ref, cur)["s"]
        profiles = compare(seawall.Profile.from_data(ref), seawall.Profile.from_data(cur))["s"]
        for c in (tables, profiles):
            assert (c.status, c.kind) == ("no_data", "categorical")
        assert tables.error == profiles.error


def test_asked_for_method_and_threshold_are_kept_and_still_checked(rng):
    ref = {"x": rng.normal(size=300), "s": LEVELS[rng.integers(0, 4, 300)]}
    cur = {"x": np.full(200, np.nan), "s": pa.nulls(200, pa.string())}
    for r, c in ((ref, cur), (seawall.Profile.from_data(ref), seawall.Profile.from_data(cur))):
        report = compare(r, c, methods={"x": "psi"}, thresholds={"s": 0.2})
        assert (report["x"].method, report["x"].threshold) == ("psi", 0.1)
        assert (report["s"].method, report["s"].threshold) == (None, 0.2)
        with pytest.raises(InvalidInputError, match="numerical columns only"):
            compare(r, c, methods={"s": "wasserstein"})


def test_some_missing_or_infinite_values_are_dropped_not_reported_as_no_data(rng):
    ref, cur = rng.normal(size=N_REF), rng.normal(0.2, 1, N_CUR)
    cur_dirty = cur.copy()
    cur_dirty[: N_CUR - 3] = rng.choice([np.nan, np.inf, -np.inf], N_CUR - 3)  # 3 values left
    report = compare({"x": ref}, {"x": cur_dirty})
    x = report["x"]
    assert (x.status, x.current_count, x.error) == ("ok", 3, None)
    expected = ss.ks_2samp(ref, cur[N_CUR - 3 :])
    assert x.pvalue == pytest.approx(expected.pvalue, rel=1e-9)
    assert x.current_missing + x.current_infinite == N_CUR - 3
    assert report.drift_share == float(x.drifted)
