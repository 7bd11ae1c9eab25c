"""Drift reports against a scipy per-column loop and Evidently, in the same run.

Data: ROWS rows x (20 float64 columns + 5 string columns of 50 levels), reference and current;
the current data is shifted in half the numeric columns. With more than 1000 rows every numeric
column gets the normed Wasserstein distance and every string column Jensen-Shannon (Evidently's
defaults), and the scipy loop computes exactly those statistics.

    python -m pytest benchmarks/bench_drift.py -s --benchmark-columns=median,min,max,rounds

Targets: >= 100x faster than Evidently's DataDriftPreset, >= 10x faster than the scipy loop.

Wide data: WIDE_COLUMNS columns of WIDE_ROWS rows (4 numeric columns in 5, the rest strings of
4 levels, 1 in 100 without values in the current data), from tables and from profiles, and the
report written as HTML and JSON; anchored on the same with a tenth of the columns, in the same
run. Target: time per column at 10,000 columns within 1.5x of that at 1,000 (linear). With
SEAWALL_BENCH_ROWS below 100,000 (CI's smoke run) the widths are 1,000 and 100.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.stats as ss
from scipy.spatial.distance import jensenshannon

import seawall.drift
from conftest import ROWS

NUMERIC = [f"x{i}" for i in range(20)]
STRINGS = [f"s{i}" for i in range(5)]
SLOW_ROUNDS = 1 if ROWS >= 1_000_000 else 3
WIDE_COLUMNS = 10_000 if ROWS >= 100_000 else 1_000
WIDE_ROWS = 100
LINEAR_TARGET = 1.5


@pytest.fixture(scope="module")
def data() -> dict[str, object]:
    rng = np.random.default_rng(20261203)
    levels = np.array([f"level_{j:02d}" for j in range(50)], dtype=object)

    def make(shifted: bool) -> pa.Table:
        cols: dict[str, object] = {}
        for i, c in enumerate(NUMERIC):
            shift = 0.3 if shifted and i % 2 == 0 else 0.0
            cols[c] = rng.normal(10 + shift, 3, ROWS)
        p = (
            np.full(50, 1 / 50)
            if not shifted
            else np.linspace(1, 2, 50) / np.linspace(1, 2, 50).sum()
        )
        for c in STRINGS:
            cols[c] = levels[rng.choice(50, ROWS, p=p)]
        return pa.table({c: pa.array(v) for c, v in cols.items()})

    ref, cur = make(False), make(True)
    return {"ref": ref, "cur": cur, "ref_df": ref.to_pandas(), "cur_df": cur.to_pandas()}


def scipy_loop(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, float]:
    """The same statistics, one column at a time, as Evidently computes them."""
    out: dict[str, float] = {}
    for c in NUMERIC:
        r, k = ref[c].to_numpy(), cur[c].to_numpy()
        out[c] = ss.wasserstein_distance(r, k) / max(np.std(r), 0.001)
    for c in STRINGS:
        rc, kc = ref[c].value_counts(), cur[c].value_counts()
        keys = rc.index.union(kc.index)
        r = rc.reindex(keys, fill_value=0).to_numpy() / len(ref)
        k = kc.reindex(keys, fill_value=0).to_numpy() / len(cur)
        out[c] = float(jensenshannon(r, k))
    return out


def test_drift_seawall_arrow(benchmark, data, medians):
    report = benchmark.pedantic(
        lambda: seawall.drift.compare(data["ref"], data["cur"]), rounds=5, iterations=1
    )
    methods = {c.method for c in report.columns}
    assert methods == ({"wasserstein", "jensenshannon"} if ROWS > 1000 else methods)
    if ROWS > 1000:
        expected = scipy_loop(data["ref_df"], data["cur_df"])
        for c in report.columns:
            assert c.statistic == pytest.approx(expected[c.column], rel=1e-9, abs=1e-12)
    medians.record("drift_seawall_arrow", benchmark)


def test_drift_seawall_pandas(benchmark, data, medians):
    benchmark.pedantic(
        lambda: seawall.drift.compare(data["ref_df"], data["cur_df"]), rounds=5, iterations=1
    )
    medians.record("drift_seawall_pandas", benchmark)


def test_drift_scipy_loop(benchmark, data, medians):
    benchmark.pedantic(
        lambda: scipy_loop(data["ref_df"], data["cur_df"]), rounds=SLOW_ROUNDS, iterations=1
    )
    medians.record("drift_scipy", benchmark)


def test_drift_evidently(benchmark, data, medians):
    # Evidently 0.7 imports pandas internals at import time; a failing import skips too.
    evidently = pytest.importorskip("evidently", exc_type=ImportError)
    try:
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except ImportError as exc:
        pytest.skip(f"evidently {getattr(evidently, '__version__', '?')} cannot be used: {exc}")
    ref_df, cur_df = data["ref_df"], data["cur_df"]
    benchmark.pedantic(
        lambda: Report([DataDriftPreset()]).run(current_data=cur_df, reference_data=ref_df),
        rounds=1,
        iterations=1,
    )
    medians.record("drift_evidently", benchmark)


# --- many columns ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wide() -> dict[int, dict[str, Any]]:
    """Per width (WIDE_COLUMNS and a tenth of it): reference and current tables and profiles."""
    rng = np.random.default_rng(20261204)
    levels = np.array(["a", "b", "c", "d"], dtype=object)

    def make(width: int, current: bool) -> pa.Table:
        cols: dict[str, Any] = {}
        for i in range(width):
            shift = 0.5 if current and i % 3 == 0 else 0.0
            if i % 5 == 4:
                cols[f"c{i}"] = pa.array(levels[rng.integers(0, 4, WIDE_ROWS)])
            elif current and i % 100 == 1:
                cols[f"c{i}"] = pa.nulls(WIDE_ROWS, pa.float64())
            else:
                cols[f"c{i}"] = pa.array(rng.normal(shift, 1.0, WIDE_ROWS))
        return pa.table(cols)

    out = {}
    for width in (WIDE_COLUMNS, WIDE_COLUMNS // 10):
        ref, cur = make(width, False), make(width, True)
        out[width] = {
            "ref": ref,
            "cur": cur,
            "ref_profile": seawall.Profile.from_data(ref),
            "cur_profile": seawall.Profile.from_data(cur),
        }
    return out


def _wide_report(width: int, data: dict[str, Any], source: str) -> seawall.drift.DriftReport:
    if source == "profiles":
        report = seawall.drift.compare(data["ref_profile"], data["cur_profile"])
    else:
        report = seawall.drift.compare(data["ref"], data["cur"])
    assert len(report.columns) == width
    assert len(report.no_data_columns) == len(range(1, width, 100))
    return report


@pytest.mark.parametrize("source", ["tables", "profiles"])
@pytest.mark.parametrize("scale", ["wide", "narrow"])
def test_drift_many_columns(benchmark, wide, medians, source, scale):
    width = WIDE_COLUMNS if scale == "wide" else WIDE_COLUMNS // 10
    rounds = 3 if scale == "wide" else 10
    benchmark.pedantic(
        lambda: _wide_report(width, wide[width], source), rounds=rounds, iterations=1
    )
    medians.record(f"drift_{scale}_{source}", benchmark)


@pytest.mark.parametrize("scale", ["wide", "narrow"])
def test_drift_many_columns_html_and_json(benchmark, wide, medians, scale):
    width = WIDE_COLUMNS if scale == "wide" else WIDE_COLUMNS // 10
    report = _wide_report(width, wide[width], "tables")

    def write() -> int:
        return len(report.to_html()) + len(report.to_json())

    benchmark.pedantic(write, rounds=3 if scale == "wide" else 10, iterations=1)
    medians.record(f"drift_{scale}_output", benchmark)


def report(medians: dict[str, float]) -> list[str]:
    """The ratios against their targets (no timed asserts: the machine is shared), for the
    groups of benchmarks that ran with timing on.

    Raises KeyError when none did; the Evidently line is left out when Evidently was skipped.
    """
    lines: list[str] = []
    try:
        lines += _report_rows(medians)
    except KeyError:
        pass
    try:
        lines += _report_columns(medians)
    except KeyError:
        pass
    if not lines:
        raise KeyError("no drift benchmark ran with timing on")
    return lines


def _report_columns(medians: dict[str, float]) -> list[str]:
    wide, narrow = WIDE_COLUMNS, WIDE_COLUMNS // 10
    lines = [f"many columns: {wide:,} (anchor {narrow:,}) columns x {WIDE_ROWS} rows"]
    for what in ("tables", "profiles", "output"):
        w, n = medians[f"drift_wide_{what}"], medians[f"drift_narrow_{what}"]
        per_w, per_n = w / wide * 1e6, n / narrow * 1e6
        label = "HTML + JSON" if what == "output" else f"compare from {what}"
        lines.append(
            f"{label}: {w:.3f} s at {wide:,} ({per_w:.0f} us/column), {n:.4f} s at {narrow:,} "
            f"({per_n:.0f} us/column) -> {per_w / per_n:.2f}x per column  "
            f"[target <= {LINEAR_TARGET}x: linear]"
        )
    return lines


def _report_rows(medians: dict[str, float]) -> list[str]:
    sw, sw_pd, sp = (
        medians["drift_seawall_arrow"],
        medians["drift_seawall_pandas"],
        medians["drift_scipy"],
    )
    lines = [
        f"rows: {ROWS:,} x ({len(NUMERIC)} numeric + {len(STRINGS)} string), reference and current",
        f"drift report: seawall {sw:.3f} s (from pandas {sw_pd:.3f} s), scipy loop {sp:.2f} s "
        f"-> {sp / sw:.1f}x ({sp / sw_pd:.1f}x from pandas)  [target >= 10x]",
    ]
    if "drift_evidently" in medians:
        ev = medians["drift_evidently"]
        lines.append(
            f"Evidently DataDriftPreset {ev:.2f} s -> {ev / sw:.1f}x "
            f"({ev / sw_pd:.1f}x from pandas)  [target >= 100x]"
        )
    else:
        lines.append("Evidently: not measured (not importable here)")
    return lines
