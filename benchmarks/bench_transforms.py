"""Feature transforms against scikit-learn's ColumnTransformer, in the same run.

Data: ROWS rows x (20 float32 columns standard-scaled + 5 string columns of 50 levels one-hot).

    pip install ".[bench]"
    python -m pytest benchmarks/bench_transforms.py -s --benchmark-columns=median,min,max,rounds

The last test prints the ratios against their targets:
  fit >= 30x and transform >= 10x faster than scikit-learn; numeric scaling throughput >= half
  the memory-copy bandwidth; transform_one median <= 10 us.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import seawall as sw
from conftest import ROWS

NUMERIC = [f"x{i}" for i in range(20)]
STRINGS = [f"s{i}" for i in range(5)]
SKLEARN_ROUNDS = 1 if ROWS >= 1_000_000 else 3


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pa.Table]:
    rng = np.random.default_rng(20261125)
    data: dict[str, object] = {c: rng.normal(10, 3, ROWS).astype(np.float32) for c in NUMERIC}
    levels = np.array([f"level_{j:02d}" for j in range(50)], dtype=object)
    for c in STRINGS:
        data[c] = levels[rng.integers(0, 50, ROWS)]
    table = pa.table({c: pa.array(v) for c, v in data.items()})
    frame = table.to_pandas()
    return frame, table


def seawall_pipeline() -> sw.FeaturePipeline:
    spec: dict[str, object] = {c: sw.StandardScale() for c in NUMERIC}
    spec.update({c: sw.OneHot() for c in STRINGS})
    return sw.FeaturePipeline(spec)


def sklearn_pipeline() -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("num", StandardScaler(), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), STRINGS),
        ]
    )


def test_fit_sklearn(benchmark, frames, medians):
    frame, _ = frames
    benchmark.pedantic(lambda: sklearn_pipeline().fit(frame), rounds=SKLEARN_ROUNDS, iterations=1)
    medians.record("fit_sklearn", benchmark)


def test_fit_seawall_arrow(benchmark, frames, medians):
    _, table = frames
    benchmark.pedantic(lambda: seawall_pipeline().fit(table), rounds=5, iterations=1)
    medians.record("fit_seawall_arrow", benchmark)


def test_fit_seawall_pandas(benchmark, frames, medians):
    frame, _ = frames
    benchmark.pedantic(lambda: seawall_pipeline().fit(frame), rounds=5, iterations=1)
    medians.record("fit_seawall_pandas", benchmark)


def test_transform_sklearn(benchmark, frames, medians):
    frame, _ = frames
    fitted = sklearn_pipeline().fit(frame)
    benchmark.pedantic(lambda: fitted.transform(frame), rounds=SKLEARN_ROUNDS, iterations=1)
    medians.record("transform_sklearn", benchmark)


def test_transform_seawall_arrow(benchmark, frames, medians):
    _, table = frames
    pipe = seawall_pipeline().fit(table)
    out = benchmark.pedantic(lambda: pipe.transform(table), rounds=5, iterations=1)
    assert out.shape == (ROWS, 20 + 5 * 50)
    medians.record("transform_seawall_arrow", benchmark)


def test_transform_seawall_pandas(benchmark, frames, medians):
    frame, _ = frames
    pipe = seawall_pipeline().fit(frame)
    benchmark.pedantic(lambda: pipe.transform(frame), rounds=5, iterations=1)
    medians.record("transform_seawall_pandas", benchmark)


def test_memory_copy(benchmark, frames, medians):
    """The machine's copy bandwidth on the same bytes the numeric path reads (and writes)."""
    _, _table = frames
    src = np.empty((ROWS, 20), dtype=np.float32)
    dst = np.empty_like(src)
    src[...] = 1.0
    dst[...] = 0.0
    benchmark.pedantic(lambda: np.copyto(dst, src), rounds=20, iterations=1)
    medians.record("memory_copy", benchmark)


def test_numeric_scaling(benchmark, frames, medians):
    """Into a reused buffer, as the copy above: the kernel's own throughput."""
    _, table = frames
    numeric = table.select(NUMERIC)
    pipe = sw.FeaturePipeline({c: sw.StandardScale() for c in NUMERIC}).fit(numeric)
    out = np.empty((ROWS, len(NUMERIC)), dtype=np.float32)
    benchmark.pedantic(lambda: pipe.transform(numeric, out=out), rounds=20, iterations=1)
    medians.record("numeric_scaling", benchmark)


def test_numeric_scaling_fresh_output(benchmark, frames, medians):
    """As users call it by default: a new output array each time (page faults included)."""
    _, table = frames
    numeric = table.select(NUMERIC)
    pipe = sw.FeaturePipeline({c: sw.StandardScale() for c in NUMERIC}).fit(numeric)
    benchmark.pedantic(lambda: pipe.transform(numeric), rounds=20, iterations=1)
    medians.record("numeric_scaling_fresh", benchmark)


def _request(table: pa.Table) -> dict[str, object]:
    return table.slice(7, 1).to_pylist()[0]


def test_transform_one_seawall(benchmark, frames, medians):
    _, table = frames
    pipe = seawall_pipeline().fit(table.slice(0, min(ROWS, 100_000)))
    row = _request(table)
    benchmark(pipe.transform_one, row)
    medians.record("transform_one_seawall", benchmark)


def test_transform_one_sklearn(benchmark, frames, medians):
    frame, _ = frames
    fitted = sklearn_pipeline().fit(frame.iloc[: min(ROWS, 100_000)])
    one = frame.iloc[[7]]
    benchmark.pedantic(lambda: fitted.transform(one), rounds=200, iterations=1)
    medians.record("transform_one_sklearn", benchmark)


def report(medians: dict[str, float]) -> list[str]:
    """The ratios against their targets (no timed asserts: the machine is shared)."""
    bytes_moved = ROWS * 20 * 4
    lines = [
        f"rows: {ROWS:,}",
        f"fit: seawall {medians['fit_seawall_arrow']:.3f} s (from pandas {medians['fit_seawall_pandas']:.3f} s), "
        f"scikit-learn {medians['fit_sklearn']:.2f} s -> {medians['fit_sklearn'] / medians['fit_seawall_arrow']:.1f}x "
        f"({medians['fit_sklearn'] / medians['fit_seawall_pandas']:.1f}x from pandas)  [target >= 30x]",
        f"transform: seawall {medians['transform_seawall_arrow']:.3f} s (from pandas {medians['transform_seawall_pandas']:.3f} s), "
        f"scikit-learn {medians['transform_sklearn']:.2f} s -> {medians['transform_sklearn'] / medians['transform_seawall_arrow']:.1f}x "
        f"({medians['transform_sklearn'] / medians['transform_seawall_pandas']:.1f}x from pandas)  [target >= 10x]",
        f"numeric scaling: {bytes_moved / medians['numeric_scaling'] / 1e9:.2f} GB/s vs memory copy "
        f"{bytes_moved / medians['memory_copy'] / 1e9:.2f} GB/s -> {medians['memory_copy'] / medians['numeric_scaling']:.2f} "
        "of copy bandwidth  [target >= 0.5]; with a fresh output array each call "
        f"{medians['memory_copy'] / medians['numeric_scaling_fresh']:.2f}",
        f"transform_one: seawall {medians['transform_one_seawall'] * 1e6:.2f} us, scikit-learn "
        f"{medians['transform_one_sklearn'] * 1e3:.2f} ms  [target <= 10 us]",
    ]
    return lines
