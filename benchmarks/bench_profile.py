"""Profile.from_data against numpy computing the same statistics, in the same run.

Data: ROWS rows x 4 float64 columns. numpy's anchor: nanmean, nanvar, nanmin, nanmax,
quantile (5 points) and len(unique) per column.

    python -m pytest benchmarks/bench_profile.py -s --benchmark-columns=median,min,max,rounds

The summary at the end prints GB/s of numeric input and the ratio to numpy (target: >= 1 GB/s).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from conftest import ROWS
from seawall.profiles import Profile

COLUMNS = [f"x{i}" for i in range(4)]
QS = [0.01, 0.25, 0.5, 0.75, 0.99]


@pytest.fixture(scope="module")
def table() -> pa.Table:
    rng = np.random.default_rng(20261126)
    return pa.table({c: rng.normal(10, 3, ROWS) for c in COLUMNS})


def numpy_profile(table: pa.Table) -> list[tuple[float, ...]]:
    out = []
    for c in COLUMNS:
        x = table.column(c).to_numpy()
        out.append(
            (
                np.nanmean(x),
                np.nanvar(x),
                np.nanmin(x),
                np.nanmax(x),
                *np.quantile(x, QS),
                len(np.unique(x)),
            )
        )
    return out


def test_profile_seawall(benchmark, table, medians):
    p = benchmark(Profile.from_data, table)
    medians.record("profile_seawall", benchmark)
    assert p.stats("x0")["count"] == ROWS


def test_profile_numpy(benchmark, table, medians):
    benchmark(numpy_profile, table)
    medians.record("profile_numpy", benchmark)


@pytest.fixture(scope="module")
def profile_pair() -> tuple[Profile, Profile]:
    """Profiles of 20 numeric + 5 string columns, as the drift report benchmark's tables."""
    rng = np.random.default_rng(20261127)
    rows = min(ROWS, 200_000)

    def table(shift: float) -> pa.Table:
        data: dict[str, object] = {f"x{i}": rng.normal(shift, 1.0, rows) for i in range(20)}
        for i in range(5):
            data[f"s{i}"] = pa.array([f"level_{j:02d}" for j in rng.integers(0, 50, rows)])
        return pa.table(data)

    return Profile.from_data(table(0.0)), Profile.from_data(table(0.2))


def test_drift_from_profiles(benchmark, profile_pair, medians):
    import seawall.drift

    reference, current = profile_pair
    report = benchmark(seawall.drift.compare, reference, current)
    medians.record("drift_from_profiles", benchmark)
    assert len(report.columns) == 25


def report(medians: dict[str, float]) -> list[str]:
    """Throughput and the ratio to numpy; KeyError until both benchmarks ran with timing on."""
    gb = ROWS * len(COLUMNS) * 8 / 1e9
    seawall_s, numpy_s = medians["profile_seawall"], medians["profile_numpy"]
    return [
        f"rows: {ROWS:,} x {len(COLUMNS)} float64 columns",
        f"profile: seawall {gb / seawall_s:.2f} GB/s, numpy {gb / numpy_s:.2f} GB/s -> "
        f"{numpy_s / seawall_s:.1f}x numpy  [target >= 1 GB/s]",
        f"drift from two profiles, 25 columns: {medians['drift_from_profiles'] * 1e3:.1f} ms  "
        "[target < 10 ms]",
    ]
