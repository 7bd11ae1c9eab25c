"""transform_one (the serving path) gives the batch path's float32 numbers bit for bit.

A hypothesis property over random tables (float64/float32/int64 with NaN and nulls, strings and
dictionaries with nulls, integer categoricals) and random chains of every op (the strategy
``h.fitted_cases`` in conftest.py): for each row i,
``pipe.transform_one(table.slice(i, 1).to_pylist()[0])`` equals ``pipe.transform(table)[i]``.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import assume, given, reject, settings
from hypothesis import strategies as st

import seawall as sw


def _outcome(fn) -> tuple:
    """What a call gives: its float32 bits, or its error (type and message, row number removed)."""
    try:
        out = np.ascontiguousarray(fn(), dtype=np.float32)
    except sw.errors.SeawallError as exc:
        return ("error", type(exc).__name__, re.sub(r", row \d+", "", str(exc)))
    return ("ok", out.view(np.uint32).tolist())


def _fit_or_reject(features, table) -> sw.FeaturePipeline:
    try:
        return sw.FeaturePipeline(features).fit(table)
    except sw.errors.InvalidInputError:
        # A chain that overflows on these values (1e30 scaled by a tiny spread...) cannot be fit;
        # such cases are covered in test_features_errors.py. Here only fitted pipelines count.
        reject()
        raise


def _check_rows(h, pipe: sw.FeaturePipeline, data: pa.Table) -> list[int]:
    """transform_one(row i) == transform(data)[i] bit for bit; where the batch fails, each row
    alone fails or succeeds the same way in both paths. Returns the rows that fail."""
    failing = []
    try:
        batch = pipe.transform(data)
    except sw.errors.InvalidInputError as exc:
        batch, batch_error = None, exc
    else:
        assert batch.shape == (data.num_rows, len(pipe.feature_names_out_))
        assert batch.dtype == np.float32 and batch.flags.c_contiguous
    for i in range(data.num_rows):
        row = data.slice(i, 1).to_pylist()[0]
        one = _outcome(lambda row=row: pipe.transform_one(row))
        if batch is not None:
            assert one[0] == "ok", one
            h.assert_bits_equal(np.asarray(one[1], np.uint32).view(np.float32), batch[i])
            continue
        alone = _outcome(lambda i=i: pipe.transform(data.slice(i, 1))[0])
        assert one == alone, (i, one, alone)
        if one[0] == "error":
            failing.append(i)
    if batch is None:
        assert failing, f"the batch failed ({batch_error}) but every row alone succeeds"
        row = int(re.search(r", row (\d+):", str(batch_error)).group(1))
        assert row in failing, (row, failing, str(batch_error))
    return failing


# The central serving guarantee: three times the profile's examples (about 150 by default).
@settings(max_examples=3 * settings().max_examples)
@given(st.data())
def test_transform_one_is_bit_identical_to_transform(h, data):
    table, new_table, features = data.draw(h.fitted_cases(), label="case")
    pipe = _fit_or_reject(features, table)
    for t in (table, h.chunked(table, np.random.default_rng(table.num_rows), 3), new_table):
        _check_rows(h, pipe, t)


@given(st.data())
def test_transform_one_raises_where_transform_raises(h, data):
    """An infinity (never imputed) in one row: both paths refuse that row with the same error,
    and the batch error names the row; the other rows behave as before."""
    table, _, features = data.draw(h.fitted_cases(), label="case")
    pipe = _fit_or_reject(features, table)
    float_columns = [
        c for c in pipe.feature_names_in_ if pa.types.is_floating(table.column(c).type)
    ]
    assume(float_columns)
    mid = table.num_rows // 2
    bad = {}
    for name in pipe.feature_names_in_:
        column = table.column(name)
        if name in float_columns:
            values = column.to_pylist()
            values[mid] = -math.inf if mid % 2 else math.inf
            column = pa.array(values, column.type)
        bad[name] = column
    bad_table = pa.table(bad)
    assert mid in _check_rows(h, pipe, bad_table)
    with pytest.raises(sw.errors.InvalidInputError, match=r"non-finite value -?inf"):
        pipe.transform_one(bad_table.slice(mid, 1).to_pylist()[0])


def test_transform_one_input_forms(h, rng):
    """Python ints, floats, numpy scalars, None and NaN (pandas' missing string) in a request."""
    n = 200
    table = pa.table(
        {
            "x": pa.array(rng.normal(0, 1, n)),
            "i": pa.array(rng.integers(0, 10, n)),
            "s": pa.array(h.strings(rng, n, distinct=6, null_frac=0.1)),
        }
    )
    pipe = sw.FeaturePipeline(
        {
            "x": [sw.Impute("mean"), sw.StandardScale()],
            "i": sw.Categorify(),
            "s": sw.OneHot(unknown="other"),
        }
    ).fit(table)
    row = table.slice(3, 1).to_pylist()[0]
    expected = pipe.transform(table.slice(3, 1))[0]
    h.assert_bits_equal(
        pipe.transform_one({**row, "extra": object()}), expected
    )  # extra keys ignored
    h.assert_bits_equal(pipe.transform_one({**row, "x": np.float64(row["x"])}), expected)
    h.assert_bits_equal(
        pipe.transform_one({**row, "x": np.float32(np.float32(row["x"]))}),
        pipe.transform({**{k: [v] for k, v in row.items()}, "x": np.array([row["x"]], np.float32)})[
            0
        ],
    )
    missing = pipe.transform(
        pa.table(
            {
                "x": pa.array([None], pa.float64()),
                "i": pa.array([None], pa.int64()),
                "s": pa.array([None], pa.string()),
            }
        )
    )[0]
    h.assert_bits_equal(pipe.transform_one({"x": None, "i": None, "s": None}), missing)
    h.assert_bits_equal(pipe.transform_one({"x": math.nan, "i": None, "s": math.nan}), missing)
