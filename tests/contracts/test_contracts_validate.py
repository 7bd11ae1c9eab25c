"""Validation of data against an independent oracle: every anomaly kind's count and first
failing rows computed here with numpy and plain Python (float64, sets, exact fractions), on
random data with fresh seeds, NaN, infinities, empty and one-row tables, all-null columns, huge
integers and strings that are not UTF-8, over every input form seawall reads."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import seawall as sw
from seawall.contracts import Schema
from seawall.errors import DTypeError, InvalidInputError

LIMIT = 7


def expected_anomalies(table: pa.Table, schema: Schema, limit: int = LIMIT, environment=None):
    """{(column, kind): (count, rows)} computed from the table's values alone."""
    out: dict[tuple[str, str], tuple[int | None, list[int]]] = {}
    names = set(table.column_names)
    for col in schema:
        if col.name not in names:
            if col.required(environment):
                out[(col.name, "missing_column")] = (None, [])
            continue
        values = table.column(col.name).to_pylist()
        n = len(values)
        nulls = [i for i, v in enumerate(values) if v is None]
        present = n - len(nulls)
        if col.in_environment(environment):
            if col.required(environment) and present == 0:
                out[(col.name, "not_present")] = (n, [])
            else:
                if present < col.min_count:
                    out[(col.name, "low_number_present")] = (len(nulls), nulls[:limit])
                if (
                    col.min_fraction is not None
                    and n
                    and Fraction(present, n) < Fraction(col.min_fraction)
                ):
                    out[(col.name, "low_fraction_present")] = (len(nulls), nulls[:limit])
        if col.type in ("integer", "float"):

            def is_nan(v):
                return isinstance(v, float) and math.isnan(v)

            out_rows = [
                i
                for i, v in enumerate(values)
                if v is not None
                and not is_nan(v)
                and (
                    (col.lower is not None and v < col.lower)
                    or (col.upper is not None and v > col.upper)
                )
            ]
            if out_rows:
                out[(col.name, "out_of_range")] = (len(out_rows), out_rows[:limit])
            nan_rows = [i for i, v in enumerate(values) if v is not None and is_nan(v)]
            if nan_rows and not col.nan_allowed:
                out[(col.name, "has_nan")] = (len(nan_rows), nan_rows[:limit])
            inf_rows = [i for i, v in enumerate(values) if isinstance(v, float) and math.isinf(v)]
            if inf_rows and not col.inf_allowed:
                out[(col.name, "has_inf")] = (len(inf_rows), inf_rows[:limit])
        if col.type == "string" and col.allowed_values is not None:
            allowed = set(col.allowed_values)
            off = [i for i, v in enumerate(values) if v is not None and v not in allowed]
            if off and (
                col.max_off_domain == 0
                or Fraction(len(off), present) > Fraction(col.max_off_domain)
            ):
                out[(col.name, "unexpected_string_values")] = (len(off), off[:limit])
        distinct = {
            (0.0 if v == 0 else v)
            for v in values
            if v is not None and not (isinstance(v, float) and math.isnan(v))
        }
        if col.unique_values:
            seen: set = set()
            dups = []
            for i, v in enumerate(values):
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    continue
                if v in seen:
                    dups.append(i)
                seen.add(v)
            if dups:
                out[(col.name, "not_unique")] = (len(dups), dups[:limit])
        if col.distinct_min is not None and len(distinct) < col.distinct_min:
            out[(col.name, "low_unique")] = (len(distinct), [])
        if col.distinct_max is not None and len(distinct) > col.distinct_max:
            out[(col.name, "high_unique")] = (len(distinct), [])
    for name in table.column_names:
        if name not in schema:
            out[(name, "new_column")] = (None, [])
    return out


def found_anomalies(report):
    return {(a.column, a.kind): (a.count, list(a.rows)) for a in report.anomalies}


def check(table: pa.Table, schema: Schema, environment=None, limit: int = LIMIT, data=None):
    report = schema.validate(
        table if data is None else data, environment=environment, row_limit=limit
    )
    expected = expected_anomalies(table, schema, limit, environment)
    found = found_anomalies(report)
    for key, (count, rows) in expected.items():
        assert key in found, (key, report.summary())
        if count is not None:
            assert found[key][0] == count, key
        assert found[key][1] == rows, key
    assert set(found) == set(expected), report.summary()
    assert report.rows == table.num_rows
    assert report.ok == (not expected)
    return report


def random_table(rng, n: int) -> pa.Table:
    x = rng.normal(0, 10, n)
    x[rng.random(n) < 0.02] = np.nan
    x[rng.random(n) < 0.01] = np.inf
    x[rng.random(n) < 0.01] = -np.inf
    xmask = rng.random(n) < 0.05
    ids = rng.integers(0, 3 * n, n)
    imask = rng.random(n) < 0.03
    words = np.array(["acme", "globex", "initech", "umbrella", "hooli", ""])
    s = words[rng.integers(0, len(words), n)]
    smask = rng.random(n) < 0.1
    return pa.table(
        {
            "x": pa.array(x, mask=xmask),
            "id": pa.array(ids, mask=imask),
            "s": pa.array(s, mask=smask),
            "flag": pa.array(rng.random(n) < 0.3),
        }
    )


def random_schema(rng) -> Schema:
    s = Schema()
    lo, hi = sorted(rng.normal(0, 10, 2))
    s.add("x", "float").range(float(lo), float(hi)).max_missing(float(rng.uniform(0, 0.1)))
    s["x"].allow_nan(bool(rng.random() < 0.5)).allow_inf(bool(rng.random() < 0.5))
    s.add("id", "integer").range(int(rng.integers(0, 100)), None).unique().distinct(
        None, int(rng.integers(10, 10_000))
    )
    s["id"].max_missing(0.02)
    s.add("s", "string").domain(
        list(rng.choice(["acme", "globex", "initech", "umbrella", "hooli", ""], 3, replace=False)),
        max_off_domain=float(rng.choice([0.0, 0.3, 0.9])),
    )
    s["s"].min_present(1)
    s.add("flag", "boolean").min_present(1)
    return s


@pytest.mark.parametrize("n", [0, 1, 2, 1000, 150_000])
def test_every_kind_against_the_oracle(rng, n):
    table = random_table(rng, n)
    for _ in range(3):
        check(table, random_schema(rng))


def test_every_input_form_gives_the_same_report(rng, tmp_path):
    table = random_table(rng, 70_000)
    schema = random_schema(rng)
    batches = table.to_batches(max_chunksize=9_000)
    reference = found_anomalies(schema.validate(table, row_limit=LIMIT))
    pq.write_table(table.slice(0, 30_000), tmp_path / "a.parquet", row_group_size=7000)
    pq.write_table(table.slice(30_000), tmp_path / "b.parquet", row_group_size=7000)
    forms = {
        "record batch": table.combine_chunks().to_batches()[0],
        "list of batches": batches,
        "reader": pa.RecordBatchReader.from_batches(table.schema, batches),
        "generator": (b for b in batches),
        "parquet files": [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")],
        "parquet directory": str(tmp_path),
    }
    for label, data in forms.items():
        assert found_anomalies(schema.validate(data, row_limit=LIMIT)) == reference, label
    # Row positions are global across batches and files (checked against the oracle too).
    check(table, schema, data=batches)


def test_pandas_missing_values_are_nulls(rng):
    n = 5000
    frame = pd.DataFrame(
        {
            "amount": np.where(rng.random(n) < 0.2, np.nan, rng.gamma(2, 10, n)),
            "merchant": pd.Series(np.where(rng.random(n) < 0.1, None, "acme"), dtype=object),
            "code": pd.Categorical(rng.choice(["a", "b", "c"], n)),
        }
    )
    schema = Schema()
    schema.add("amount", "float").max_missing(0.1).range(0, None)
    schema.add("merchant", "string").domain(["acme"]).max_missing(0.05)
    schema.add("code", "string").domain(["a", "b"])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    report = check(table, schema, data=frame)
    assert {"low_fraction_present", "unexpected_string_values"} <= report.kinds()
    nulls = int(frame["amount"].isna().sum())
    assert report["amount"][0].count == nulls  # pandas NaN is missing, as Arrow reads it


def test_huge_integers_are_compared_exactly():
    big = 2**53
    table = pa.table(
        {
            "i": pa.array([big, big + 1, big - 1, 2**63 - 1, -(2**63)], pa.int64()),
            "u": pa.array([2**64 - 1, 0, 2**63], pa.uint64()).take([0, 1, 2, 0, 1]),
            "f": pa.array([float(big), float(big) + 2, 1e308, -1e308, 0.5]),
        }
    )
    schema = Schema()
    schema.add("i", "integer").range(big, big).unique()
    schema.add("u", "integer").range(1, 2**64 - 2).unique()
    schema.add("f", "float").range(big + 1, 2**60).unique()  # integer bounds on floats
    check(table, schema)
    # float(big + 1) == big, but big < big + 1: the float bound is rounded up, not down
    assert schema.validate(table)["f"][0].rows == (0, 2, 3, 4)


def test_one_row_and_all_null_columns():
    table = pa.table(
        {
            "x": pa.array([None], pa.float64()),
            "s": pa.array([None], pa.string()),
            "n": pa.array([None], pa.null()),
        }
    )
    schema = Schema()
    schema.add("x", "float").min_present(1).range(0, 1)
    schema.add("s", "string").domain(["a"]).max_missing(0.5)
    schema.add("n", "integer").min_present(1)
    report = check(table, schema)
    assert report.kinds() == {"not_present"}
    assert report.kinds("n") == {"not_present"}  # a null-typed column fits any type


def test_empty_data_never_passes_silently():
    table = pa.table({"x": pa.array([], pa.float64())})
    schema = Schema.infer(pa.table({"x": [1.0, 2.0]}))
    report = schema.validate(table)
    assert report.kinds() == {"not_present"} and report.rows == 0
    assert not schema.validate(pa.table({"x": [1.5]})).anomalies


def test_strings_that_are_not_utf8_are_an_anomaly():
    offsets = np.array([0, 1, 3, 5, 6], dtype=np.int32)
    data = b"a\xff\xfebca"
    arr = pa.Array.from_buffers(pa.string(), 4, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    dict_arr = pa.DictionaryArray.from_arrays(pa.array([0, 1, 1, 0]), arr.slice(0, 2))
    schema = Schema()
    schema.add("s", "string").domain(["a"])
    schema.add("d", "string").domain(["a"]).unique()
    report = schema.validate(pa.table({"s": arr, "d": dict_arr}))
    bad = report["s"]
    assert {a.kind for a in bad} == {"invalid_utf8", "unexpected_string_values"}
    assert next(a for a in bad if a.kind == "invalid_utf8").rows == (1,)
    off = next(a for a in bad if a.kind == "unexpected_string_values")
    assert off.rows == (2,) and off.values == (("bc", 1),)
    d = {a.kind: a for a in report["d"]}
    assert d["invalid_utf8"].rows == (1, 2) and d["not_unique"].rows == (2, 3)
    report.to_json()  # the report itself is valid text
    report.to_html()


def test_type_mismatch_and_new_and_missing_columns():
    table = pa.table(
        {
            "amount": ["1", "2"],
            "count": [1.5, 2.0],
            "when": pa.array([0, 1], pa.timestamp("s")),
            "extra": [1, 2],
        }
    )
    schema = Schema()
    schema.add("amount", "float").min_present(1)
    schema.add("count", "integer")
    schema.add("when", "string")
    schema.add("label", "boolean").min_present(1).not_in("SERVING")
    schema.add("gone", "float").optional()
    report = schema.validate(table)
    kinds = {(a.column, a.kind): a for a in report.anomalies}
    assert kinds[("amount", "type_mismatch")].tfdv == "FLOAT_TYPE_STRING_NOT_FLOAT"
    assert ("count", "type_mismatch") in kinds and ("when", "type_mismatch") in kinds
    assert ("extra", "new_column") in kinds and ("label", "missing_column") in kinds
    assert ("gone", "missing_column") not in kinds  # optional
    serving = schema.validate(table, environment="SERVING")
    assert ("label", "missing_column") not in {(a.column, a.kind) for a in serving.anomalies}
    # integers in a float column are fine
    ok = Schema()
    ok.add("x", "float").range(0, 10)
    assert ok.validate(pa.table({"x": [1, 2, 3]})).ok


def test_a_column_changing_type_between_batches_is_an_error():
    schema = Schema()
    schema.add("x", "float")
    batches = [pa.table({"x": [1.0]}), pa.table({"x": ["a"]})]
    with pytest.raises(DTypeError, match="'x' changes type"):
        schema.validate(batches)


def test_row_limit(rng):
    table = random_table(rng, 20_000)
    schema = random_schema(rng)
    for limit in (0, 1, 100):
        check(table, schema, limit=limit)
    with pytest.raises(InvalidInputError, match="row_limit"):
        schema.validate(table, row_limit=-1)


def test_results_do_not_depend_on_the_thread_count(rng, restore_threads):
    table = random_table(rng, 200_000)
    schema = random_schema(rng)
    sw.set_num_threads(1)
    one = schema.validate(table).to_dict()
    sw.set_num_threads(4)
    assert schema.validate(table).to_dict() == one


def test_report_forms(rng, tmp_path):
    table = random_table(rng, 3000)
    schema = random_schema(rng)
    schema["s"].domain(["<script>"])
    report = schema.validate(table)
    doc = json.loads(report.to_json())
    assert doc["number_of_anomalies"] == len(report.anomalies)
    assert [a["kind"] for a in doc["anomalies"]] == [a.kind for a in report.anomalies]
    report.save_html(tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "sw-report" in html
    assert "<script>" not in html  # user strings are escaped
    assert "sw-report" in report._repr_html_()
    report.save_json(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["rows"] == 3000
    assert report.summary().startswith(f"{len(report.anomalies)} anomalies")
