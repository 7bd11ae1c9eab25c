"""Feature transforms over 10,000 columns against scikit-learn's ColumnTransformer, in the same run.

The cost here is per column (the rows are few), so this is where a per-column scan that makes
fit or transform quadratic in the number of columns shows: before it was removed, fitting and
transforming 10,000 columns took tens of seconds.

Data: ROWS // 1000 rows (at least 10) x 10,000 float64 columns, each standard-scaled; scikit-learn
scales the same columns with one StandardScaler inside a ColumnTransformer.

    python -m pytest benchmarks/bench_wide.py -s --benchmark-columns=median,min,max,rounds
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import StandardScaler

import seawall as sw
from conftest import ROWS

COLUMNS = 10_000
WIDE_ROWS = max(ROWS // 1000, 10)
NAMES = [f"x{i}" for i in range(COLUMNS)]


@pytest.fixture(scope="module")
def wide() -> tuple[pd.DataFrame, pa.Table]:
    rng = np.random.default_rng(20261203)
    values = rng.normal(10, 3, (WIDE_ROWS, COLUMNS))
    frame = pd.DataFrame(values, columns=NAMES)
    table = pa.table({name: values[:, j] for j, name in enumerate(NAMES)})
    return frame, table


def seawall_pipeline() -> sw.FeaturePipeline:
    return sw.FeaturePipeline({name: sw.StandardScale() for name in NAMES})


def sklearn_pipeline() -> ColumnTransformer:
    return ColumnTransformer([("num", StandardScaler(), NAMES)])


def test_wide_fit_seawall(benchmark, wide, medians):
    _, table = wide
    benchmark.pedantic(lambda: seawall_pipeline().fit(table), rounds=3, iterations=1)
    medians.record("wide_fit_seawall", benchmark)


def test_wide_fit_sklearn(benchmark, wide, medians):
    frame, _ = wide
    benchmark.pedantic(lambda: sklearn_pipeline().fit(frame), rounds=3, iterations=1)
    medians.record("wide_fit_sklearn", benchmark)


def test_wide_transform_seawall(benchmark, wide, medians):
    _, table = wide
    pipe = seawall_pipeline().fit(table)
    out = benchmark.pedantic(lambda: pipe.transform(table), rounds=5, iterations=1)
    assert out.shape == (WIDE_ROWS, COLUMNS)
    medians.record("wide_transform_seawall", benchmark)


def test_wide_transform_sklearn(benchmark, wide, medians):
    frame, _ = wide
    fitted = sklearn_pipeline().fit(frame)
    benchmark.pedantic(lambda: fitted.transform(frame), rounds=5, iterations=1)
    medians.record("wide_transform_sklearn", benchmark)


def test_wide_transform_one_seawall(benchmark, wide, medians):
    _, table = wide
    pipe = seawall_pipeline().fit(table)
    row = table.slice(0, 1).to_pylist()[0]
    benchmark.pedantic(lambda: pipe.transform_one(row), rounds=20, iterations=1)
    medians.record("wide_transform_one_seawall", benchmark)


def test_wide_save_load_seawall(benchmark, wide, medians, tmp_path):
    _, table = wide
    pipe = seawall_pipeline().fit(table)
    path = tmp_path / "wide.json"

    def round_trip() -> None:
        pipe.save(path)
        sw.FeaturePipeline.load(path)

    benchmark.pedantic(round_trip, rounds=3, iterations=1)
    medians.record("wide_save_load_seawall", benchmark)


def report(medians: dict[str, float]) -> list[str]:
    """Seconds for 10,000 columns and the ratios to scikit-learn (no timed asserts)."""
    fit_s, fit_k = medians["wide_fit_seawall"], medians["wide_fit_sklearn"]
    tr_s, tr_k = medians["wide_transform_seawall"], medians["wide_transform_sklearn"]
    return [
        f"{COLUMNS:,} columns x {WIDE_ROWS:,} rows",
        f"fit: seawall {fit_s:.3f} s, scikit-learn {fit_k:.3f} s -> {fit_k / fit_s:.1f}x",
        f"transform: seawall {tr_s:.3f} s, scikit-learn {tr_k:.3f} s -> {tr_k / tr_s:.1f}x",
        f"transform_one (one request of {COLUMNS:,} values): "
        f"{medians['wide_transform_one_seawall'] * 1e3:.2f} ms",
        f"save + load: {medians['wide_save_load_seawall']:.3f} s",
    ]
