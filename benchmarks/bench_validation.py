"""Schema.validate against pandera and Great Expectations (pandas engine), in the same run.

Data: ROWS rows x 25 columns: 20 numeric (18 float64, 2 int64, one of them an id) and 5
strings (4 categorical, one an id), with a few failures of every kind injected. Checks, the same
for every tool: the type of each column, its null rate, a range on every numeric column, a
domain on the 4 categorical ones, uniqueness of the two ids. Each tool reports its failing rows
(pandera's failure cases with lazy=True; Great Expectations' unexpected index lists; seawall's
first 20 per check).

    PYTHONPATH=python /work/benchvenv/bin/python -m pytest benchmarks/bench_validation.py -s \\
        --benchmark-columns=median,min,max,rounds

The anchors are skipped, saying why, when pandera or great_expectations cannot be imported
(``pip install "seawall[bench]"`` brings both). Also measured: the pandas input (conversion
included), 1,000 checks with row-level failures against the aggregate pass (counts only), and
validating a profile of 100 columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from conftest import ROWS
from seawall.contracts import Schema
from seawall.profiles import Profile

NUMERIC = [f"x{i}" for i in range(18)] + ["count", "id"]
CATEGORIES = ["c0", "c1", "c2", "c3"]
LEVELS = [f"level_{j:02d}" for j in range(20)]
STRINGS = [*CATEGORIES, "key"]
RANGE = (-10.0, 10.0)


def _data(rows: int) -> pa.Table:
    rng = np.random.default_rng(20261201)
    columns: dict[str, object] = {}
    for name in NUMERIC[:18]:
        x = rng.normal(0, 2, rows)
        x[rng.integers(0, rows, 3)] = 50.0  # out of range
        columns[name] = pa.array(x, mask=rng.random(rows) < 0.001)
    columns["count"] = rng.integers(0, 1000, rows)
    ids = np.arange(rows)
    ids[-1] = 0  # one repeated id
    columns["id"] = ids
    for name in CATEGORIES:
        values = np.array(LEVELS)[rng.integers(0, len(LEVELS), rows)].astype(object)
        values[rng.integers(0, rows, 2)] = "unexpected"
        columns[name] = pa.array(values, pa.string())
    keys = [f"k{i:08d}" for i in range(rows)]
    keys[-1] = keys[0]
    columns["key"] = pa.array(keys)
    return pa.table(columns)


def _schema() -> Schema:
    schema = Schema()
    for name in NUMERIC[:18]:
        schema.add(name, "float").range(*RANGE).max_missing(0.01)
    schema.add("count", "integer").range(0, 999).max_missing(0.0)
    schema.add("id", "integer").range(0, None).unique().max_missing(0.0)
    for name in CATEGORIES:
        schema.add(name, "string").domain(LEVELS).max_missing(0.0)
    schema.add("key", "string").unique().max_missing(0.0)
    return schema


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return _data(ROWS)


@pytest.fixture(scope="module")
def frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()


def _failing(report) -> set[tuple[str, str]]:
    return {(a.column, a.kind) for a in report.anomalies}


# the checks each injected failure breaks, as (column, seawall's anomaly kind)
EXPECTED = (
    {(c, "out_of_range") for c in NUMERIC[:18]}
    | {(c, "unexpected_string_values") for c in CATEGORIES}
    | {("id", "not_unique"), ("key", "not_unique")}
)


def test_seawall_arrow(benchmark, table, medians):
    schema = _schema()
    report = benchmark(schema.validate, table)
    medians.record("validate_seawall", benchmark)
    assert _failing(report) == EXPECTED


def test_seawall_pandas_input(benchmark, frame, medians):
    schema = _schema()
    report = benchmark(schema.validate, frame)
    medians.record("validate_seawall_pandas", benchmark)
    assert _failing(report) == EXPECTED


def _pandera_schema():
    pa_ = pytest.importorskip("pandera.pandas", reason="pandera is not installed (seawall[bench])")
    checks: dict[str, object] = {}

    def null_rate(limit: float):
        return pa_.Check(lambda s: s.isna().mean() <= limit, ignore_na=False, name="null_rate")

    for name in NUMERIC[:18]:
        checks[name] = pa_.Column(
            float, [pa_.Check.in_range(*RANGE), null_rate(0.01)], nullable=True
        )
    checks["count"] = pa_.Column(np.int64, pa_.Check.in_range(0, 999), nullable=False)
    checks["id"] = pa_.Column(np.int64, pa_.Check.ge(0), nullable=False, unique=True)
    for name in CATEGORIES:
        checks[name] = pa_.Column(str, pa_.Check.isin(LEVELS), nullable=False)
    checks["key"] = pa_.Column(str, nullable=False, unique=True)
    return pa_.DataFrameSchema(checks)


def _pandera_failing(frame: pd.DataFrame, schema) -> set[str]:
    import pandera.errors

    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        return set(exc.failure_cases["column"].dropna().astype(str))
    return set()


def test_pandera(benchmark, frame, medians):
    schema = _pandera_schema()
    failing = benchmark.pedantic(_pandera_failing, args=(frame, schema), rounds=3, iterations=1)
    medians.record("validate_pandera", benchmark)
    # the same verdict: the same columns fail
    assert failing == {c for c, _ in EXPECTED}


def _gx_run(frame: pd.DataFrame):
    gx = pytest.importorskip(
        "great_expectations", reason="great_expectations is not installed (seawall[bench])"
    )
    import great_expectations.expectations as gxe

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("bench")
    asset = source.add_dataframe_asset("frame")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": frame}
    )
    expectations = []
    for name in NUMERIC[:18]:
        expectations += [
            gxe.ExpectColumnValuesToBeOfType(column=name, type_="float64"),
            gxe.ExpectColumnValuesToNotBeNull(column=name, mostly=0.99),
            gxe.ExpectColumnValuesToBeBetween(column=name, min_value=RANGE[0], max_value=RANGE[1]),
        ]
    for name, lo, hi in (("count", 0, 999), ("id", 0, None)):
        expectations += [
            gxe.ExpectColumnValuesToBeOfType(column=name, type_="int64"),
            gxe.ExpectColumnValuesToNotBeNull(column=name),
            gxe.ExpectColumnValuesToBeBetween(column=name, min_value=lo, max_value=hi),
        ]
    expectations.append(gxe.ExpectColumnValuesToBeUnique(column="id"))
    for name in CATEGORIES:
        expectations += [
            gxe.ExpectColumnValuesToNotBeNull(column=name),
            gxe.ExpectColumnValuesToBeInSet(column=name, value_set=LEVELS),
        ]
    expectations += [
        gxe.ExpectColumnValuesToNotBeNull(column="key"),
        gxe.ExpectColumnValuesToBeUnique(column="key"),
    ]
    suite = context.suites.add(gx.ExpectationSuite(name="bench", expectations=expectations))
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    return {r.expectation_config.kwargs["column"] for r in result.results if not r.success}


def test_great_expectations(benchmark, frame, medians):
    failing = benchmark.pedantic(_gx_run, args=(frame,), rounds=1, iterations=1)
    medians.record("validate_gx", benchmark)
    assert failing == {c for c, _ in EXPECTED}


# --- 1,000 checks with row-level failures against the aggregate pass --------------------------


@pytest.fixture(scope="module")
def wide() -> tuple[pa.Table, Schema]:
    """250 float columns x 4 checks (presence, range low, range high, NaN): 1,000 checks, each
    with failing rows."""
    rng = np.random.default_rng(20261202)
    rows = max(1000, ROWS // 5)
    columns = {}
    schema = Schema()
    for i in range(250):
        x = rng.normal(0, 1, rows)
        x[rng.random(rows) < 0.01] = np.nan
        columns[f"w{i}"] = pa.array(x, mask=rng.random(rows) < 0.02)
        schema.add(f"w{i}", "float").range(-2, 2).max_missing(0.01).allow_nan(False)
    return pa.table(columns), schema


def test_thousand_checks_with_rows(benchmark, wide, medians):
    table, schema = wide
    report = benchmark(schema.validate, table, row_limit=20)
    medians.record("thousand_rows", benchmark)
    assert len(report.anomalies) == 750 and all(len(a.rows) == 20 for a in report.anomalies)


def test_thousand_checks_aggregate(benchmark, wide, medians):
    table, schema = wide
    report = benchmark(schema.validate, table, row_limit=0)
    medians.record("thousand_aggregate", benchmark)
    assert len(report.anomalies) == 750 and not any(a.rows for a in report.anomalies)


# --- a profile of 100 columns ----------------------------------------------------------------


@pytest.fixture(scope="module")
def profile_100() -> tuple[Profile, Schema]:
    rng = np.random.default_rng(20261203)
    rows = 100_000
    data: dict[str, object] = {f"n{i}": rng.normal(0, 1, rows) for i in range(80)}
    for i in range(20):
        data[f"s{i}"] = pa.array(np.array(LEVELS)[rng.integers(0, 20, rows)])
    table = pa.table(data)
    return Profile.from_data(table), Schema.infer(table)


def test_validate_profile_100_columns(benchmark, profile_100, medians):
    profile, schema = profile_100
    report = benchmark(schema.validate, profile)
    medians.record("profile_100", benchmark)
    assert report.ok and len(report.columns) == 100


def report(medians: dict[str, float]) -> list[str]:
    """Throughput and ratios; KeyError until the seawall benchmarks ran with timing on."""
    numeric_gb = ROWS * len(NUMERIC) * 8 / 1e9
    sw = medians["validate_seawall"]
    lines = [
        f"rows: {ROWS:,} x 25 columns (20 numeric, 5 strings); checks: type, null rate, range, "
        "domain, uniqueness on two columns",
        f"seawall (Arrow): {sw * 1e3:.1f} ms, {numeric_gb / sw:.2f} GB/s of numeric input  "
        "[target >= 1 GB/s]",
    ]
    if "validate_seawall_pandas" in medians:
        lines.append(
            f"seawall (pandas input, conversion included): "
            f"{medians['validate_seawall_pandas'] * 1e3:.1f} ms"
        )
    for key, name, target in (
        ("validate_pandera", "pandera", 50),
        ("validate_gx", "Great Expectations (pandas)", 100),
    ):
        if key in medians:
            lines.append(
                f"{name}: {medians[key]:.2f} s -> seawall is {medians[key] / sw:.0f}x faster  "
                f"[target >= {target}x]"
            )
        else:
            lines.append(f"{name}: not measured (not installed)")
    if "thousand_rows" in medians and "thousand_aggregate" in medians:
        ratio = medians["thousand_rows"] / medians["thousand_aggregate"]
        lines.append(
            f"1,000 checks with failing rows: {medians['thousand_rows'] * 1e3:.1f} ms, "
            f"aggregate pass {medians['thousand_aggregate'] * 1e3:.1f} ms -> {ratio:.2f}x  "
            "[target <= 1.2x]"
        )
    if "profile_100" in medians:
        lines.append(
            f"validating a profile of 100 columns: {medians['profile_100'] * 1e3:.3f} ms  "
            "[target <= 1 ms]"
        )
    return lines
