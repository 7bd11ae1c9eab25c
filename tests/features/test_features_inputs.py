"""Chains of ops against the equivalent scikit-learn pipelines, several features from one column,
and every accepted input type giving the same fitted state and the same output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

import seawall as sw

# --- chains ---------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent", "constant"])
def test_impute_log1p_standard_scale_matches_sklearn_pipeline(h, rng, strategy):
    n = int(rng.integers(2, 3000))
    x = rng.lognormal(0, 2, n) - 0.5
    if strategy == "most_frequent":
        x = np.round(x)
    miss = h.missing_mask(rng, n, float(rng.uniform(0.01, 0.5)))
    miss[0], miss[-1] = True, False
    nulls = miss & (rng.random(n) < 0.5)
    table = pa.table({"x": h.arrow_numeric(np.where(miss & ~nulls, np.nan, x), nulls)})
    pipe = sw.FeaturePipeline(
        {"x": [sw.Impute(strategy, exact=True), sw.Log1p(), sw.StandardScale()]}
    ).fit(table)
    ref = make_pipeline(
        SimpleImputer(strategy=strategy, fill_value=0.0),
        FunctionTransformer(np.log1p),
        StandardScaler(),
    )
    xn = np.where(miss, np.nan, x)[:, None]
    ref.fit(xn)
    h.assert_f32_close(pipe.transform(table), ref.transform(xn))
    new = np.where(rng.random(100) < 0.3, np.nan, rng.lognormal(0, 2, 100))
    h.assert_f32_close(pipe.transform({"x": new}), ref.transform(new[:, None]))


def test_impute_clip_minmax_chain_matches_numpy(h, rng):
    n = int(rng.integers(2, 3000))
    x = rng.standard_cauchy(n)
    miss = h.missing_mask(rng, n, 0.2)
    miss[0], miss[-1] = True, False
    xn = np.where(miss, np.nan, x)
    ops = [
        sw.Impute("median", exact=True),
        sw.Clip(quantiles=(0.05, 0.95), exact=True),
        sw.MinMaxScale(),
    ]
    pipe = sw.FeaturePipeline({"x": ops}).fit({"x": xn})
    # The oracle: each op fit on the output of the ones before it, in float64.
    filled = np.where(np.isnan(xn), np.nanquantile(xn, 0.5), xn)
    lo, hi = np.quantile(filled, [0.05, 0.95])
    clipped = np.clip(filled, lo, hi)
    span = clipped.max() - clipped.min()
    expected = (clipped - clipped.min()) / (span if span > 0 else 1.0)  # a constant column: scale 1
    h.assert_f32_close(pipe.transform({"x": xn}), expected)


def test_several_features_from_one_column(h, rng):
    n = int(rng.integers(2, 2000))
    x = rng.lognormal(1, 1, n)
    s = h.strings(rng, n, null_frac=0.1)
    boundaries = sorted(rng.uniform(0, 10, 4).tolist())
    pipe = sw.FeaturePipeline(
        [
            ("x_std", "x", sw.StandardScale()),
            ("x_log", "x", [sw.Log1p(), sw.MinMaxScale()]),
            ("x_bin", "x", sw.Bucketize(boundaries=boundaries)),
            ("s_id", "s", sw.Categorify()),
            ("s_hash", "s", sw.HashBucket(97)),
            ("s", sw.OneHot(max_categories=4)),
        ]
    )
    out = pipe.fit({"x": x, "s": s}).transform({"x": x, "s": s})
    kept, infrequent = h.vocabulary_oracle(s, None, 4, infrequent_slot=True)
    onehot_names = [f"s_{v}" for v in kept] + (["s_infrequent"] if infrequent else [])
    assert pipe.feature_names_out_ == ["x_std", "x_log", "x_bin", "s_id", "s_hash", *onehot_names]
    assert list(pipe.feature_names_in_) == ["x", "s"] and pipe.n_features_in_ == 2
    logx = np.log1p(x)
    expected = np.column_stack(
        [
            StandardScaler().fit_transform(x[:, None])[:, 0],
            MinMaxScaler().fit_transform(logx[:, None])[:, 0],
            np.searchsorted(boundaries, x, side="right"),
            h.categorify_oracle(s, s),
            h.xxh64_bucket(s, 97),
        ]
    )
    h.assert_f32_close(out[:, :5], expected)
    onehot = np.array(
        [
            [float(v == k) for k in kept] + ([float(v in infrequent)] if infrequent else [])
            for v in s
        ]
    )
    np.testing.assert_array_equal(out[:, 5:], onehot)


def test_pipeline_output_matches_column_transformer(h, rng):
    """A mixed pipeline against sklearn's ColumnTransformer with the same steps."""
    from sklearn.preprocessing import OneHotEncoder

    n = int(rng.integers(5, 2000))
    df = pd.DataFrame(
        {"a": rng.normal(0, 5, n), "b": rng.lognormal(0, 1, n), "c": h.strings(rng, n)}
    )
    pipe = sw.FeaturePipeline(
        {
            "a": sw.StandardScale(),
            "b": [sw.Log1p(), sw.MinMaxScale()],
            "c": sw.OneHot(min_frequency=3),
        }
    )
    ct = ColumnTransformer(
        [
            ("a", StandardScaler(), ["a"]),
            (
                "b",
                make_pipeline(
                    FunctionTransformer(np.log1p, feature_names_out="one-to-one"), MinMaxScaler()
                ),
                ["b"],
            ),
            (
                "c",
                OneHotEncoder(
                    min_frequency=3, handle_unknown="infrequent_if_exist", sparse_output=False
                ),
                ["c"],
            ),
        ],
        verbose_feature_names_out=False,
    )
    out = pipe.fit(df).transform(df)
    ref = ct.fit_transform(df)
    ref_names = [
        ("c_infrequent" if nm == "c_infrequent_sklearn" else nm)
        for nm in ct.get_feature_names_out()
    ]
    assert sorted(pipe.feature_names_out_) == sorted(ref_names)
    order = [ref_names.index(nm) for nm in pipe.feature_names_out_]
    h.assert_f32_close(out, ref[:, order])


# --- input types ----------------------------------------------------------------------------


def _mixed_data(h, rng, n):
    """One data set as Arrow columns (with nulls) plus what a pandas/numpy user would hold."""
    f64 = rng.normal(0, 10, n)
    f64_nulls = h.missing_mask(rng, n, 0.2)
    f64_nan = h.missing_mask(rng, n, 0.1) & ~f64_nulls
    f64 = np.where(f64_nan, np.nan, f64)
    f32 = rng.lognormal(0, 1, n).astype(np.float32)
    i64 = rng.integers(-1000, 1000, n)
    s = h.strings(rng, n, distinct=12, null_frac=0.15)
    cat = h.strings(rng, n, distinct=6, null_frac=0.1, prefix="k")
    table = pa.table(
        {
            "f64": h.arrow_numeric(f64, f64_nulls),
            "f32": pa.array(f32),
            "i64": pa.array(i64),
            "s": pa.array(s, pa.string()),
            "cat": pa.array(cat, pa.string()),
        }
    )
    return table


def _mixed_pipeline():
    return sw.FeaturePipeline(
        [
            ("f64", [sw.Impute("median", add_indicator=True), sw.StandardScale()]),
            ("f32", [sw.Log1p(), sw.RobustScale()]),
            ("i64", [sw.Clip(quantiles=(0.1, 0.9)), sw.MinMaxScale()]),
            ("i64_bin", "i64", sw.Bucketize(n_bins=5)),
            ("s", sw.OneHot(min_frequency=2, unknown="other")),
            ("s_id", "s", [sw.Impute("most_frequent"), sw.Categorify(max_categories=5)]),
            ("cat", sw.Categorify()),
            ("cat_hash", "cat", sw.HashBucket(31)),
        ]
    )


def _as_inputs(table: pa.Table, h, rng) -> dict:
    """The same data in every accepted form."""
    dict_table = table.set_column(
        table.schema.get_field_index("cat"), "cat", pc_dictionary_encode(table.column("cat"))
    ).set_column(table.schema.get_field_index("s"), "s", pc_dictionary_encode(table.column("s")))
    pdf = table.to_pandas()
    pdf_cat = pdf.copy()
    pdf_cat["cat"] = pdf_cat["cat"].astype("category")  # pandas categorical -> Arrow dictionary
    numpy_dict = {
        "f64": table.column("f64").to_numpy(zero_copy_only=False),  # nulls as NaN
        "f32": table.column("f32").to_numpy(),
        "i64": table.column("i64").to_numpy(),
        "s": np.array(table.column("s").to_pylist(), dtype=object),
        "cat": np.array(table.column("cat").to_pylist(), dtype=object),
    }
    return {
        "table": table,
        "record_batch": table.combine_chunks().to_batches()[0]
        if table.num_rows
        else pa.RecordBatch.from_pylist([], schema=table.schema),
        "chunked": h.chunked(table, rng, 5),
        "large_string": table.cast(
            pa.schema(
                [
                    f.with_type(pa.large_string()) if pa.types.is_string(f.type) else f
                    for f in table.schema
                ]
            )
        ),
        "string_view": table.cast(
            pa.schema(
                [
                    f.with_type(pa.string_view()) if pa.types.is_string(f.type) else f
                    for f in table.schema
                ]
            )
        ),
        "dictionary": dict_table,
        "chunked_dictionary": h.chunked(dict_table, rng, 3),
        "pandas": pdf,
        "pandas_categorical": pdf_cat,
        "polars": pl.from_arrow(table),
        "polars_categorical": pl.from_arrow(table).with_columns(pl.col("cat").cast(pl.Categorical)),
        "numpy_dict": numpy_dict,
        "list_dict": {k: list(v) for k, v in numpy_dict.items()},
    }


def pc_dictionary_encode(column):
    import pyarrow.compute as pc

    return pc.dictionary_encode(column)


def test_all_input_types_give_identical_output(h, rng):
    n = int(rng.integers(1, 3000))
    table = _mixed_data(h, rng, n)
    inputs = _as_inputs(table, h, rng)
    reference = _mixed_pipeline().fit(table)
    expected = reference.transform(table)
    assert expected.shape == (n, len(reference.feature_names_out_))
    for kind, data in inputs.items():
        # Fit on this form: the same fitted state; transform it: the same numbers.
        pipe = _mixed_pipeline().fit(data)
        assert pipe.to_dict() == reference.to_dict(), kind
        h.assert_bits_equal(pipe.transform(data), expected)
        h.assert_bits_equal(reference.transform(data), expected)


def test_dictionary_strings_same_as_plain(h, rng):
    import pyarrow.compute as pc

    n = int(rng.integers(1, 3000))
    s = h.strings(rng, n, null_frac=0.2)
    plain = pa.table({"s": pa.array(s)})
    encoded = pa.table({"s": pc.dictionary_encode(plain.column("s"))})
    # A dictionary whose entries include a null and values no row uses.
    values = pa.array(["zzz-unused", None, *sorted({v for v in s if v is not None})])
    index = {v: i for i, v in enumerate(values.to_pylist()) if v is not None}
    idx = [(index[v] if v is not None else (1 if k % 2 else None)) for k, v in enumerate(s)]
    odd = pa.table({"s": pa.DictionaryArray.from_arrays(pa.array(idx, pa.int16()), values)})
    for ops in (
        [sw.Categorify(min_frequency=2)],
        [sw.OneHot(max_categories=5, unknown="other")],
        [sw.HashBucket(1000)],
        [sw.Impute("most_frequent", add_indicator=True), sw.OneHot()],
        [sw.Impute("constant", add_indicator=True), sw.Categorify()],
    ):
        pipes = [sw.FeaturePipeline({"s": ops}).fit(t) for t in (plain, encoded, odd)]
        assert pipes[0].to_dict() == pipes[1].to_dict() == pipes[2].to_dict(), ops
        outs = [p.transform(t) for p, t in zip(pipes, (plain, encoded, odd), strict=True)]
        h.assert_bits_equal(outs[0], outs[1])
        h.assert_bits_equal(outs[0], outs[2])
        if not isinstance(ops[-1], sw.HashBucket):
            continue
        np.testing.assert_array_equal(outs[0][:, 0], h.xxh64_bucket(s, 1000))


def test_integer_strings_and_numbers_are_one_vocabulary(h, rng):
    """An integer column under Categorify is its decimal text: fitting on ints and transforming
    the same values as strings (or the reverse) gives the same ids."""
    n = int(rng.integers(1, 1000))
    ints = rng.integers(-20, 20, n)
    as_int = pa.table({"c": pa.array(ints)})
    as_str = pa.table({"c": pa.array([str(v) for v in ints.tolist()])})
    pipe = sw.FeaturePipeline({"c": sw.Categorify()}).fit(as_int)
    h.assert_bits_equal(pipe.transform(as_int), pipe.transform(as_str))
    assert pipe.to_dict() == sw.FeaturePipeline({"c": sw.Categorify()}).fit(as_str).to_dict()


def test_arrow_output_matches_numpy(h, rng):
    table = _mixed_data(h, rng, int(rng.integers(1, 500)))
    pipe = _mixed_pipeline().fit(table)
    out = pipe.transform(table, output="arrow")
    assert out.column_names == pipe.feature_names_out_
    assert all(t == pa.float32() for t in out.schema.types)
    h.assert_bits_equal(np.column_stack([c.to_numpy() for c in out.columns]), pipe.transform(table))


def test_missing_strings_as_nan_none_or_null_are_one_thing(h, rng):
    """pandas writes a missing string as NaN: in an object array (dict of numpy, a pandas frame) or
    a request, NaN, None and an Arrow null all mean missing."""
    n = int(rng.integers(1, 500))
    s = h.strings(rng, n, null_frac=0.3)
    as_nan = np.array([np.nan if v is None else v for v in s], dtype=object)
    pipe = sw.FeaturePipeline(
        [
            ("s", sw.Categorify()),
            ("s_oh", "s", sw.OneHot(unknown="other")),
            ("s_h", "s", sw.HashBucket(13)),
        ]
    ).fit({"s": s})
    expected = pipe.transform(pa.table({"s": pa.array(s)}))
    h.assert_bits_equal(pipe.transform({"s": as_nan}), expected)
    h.assert_bits_equal(pipe.transform({"s": list(as_nan)}), expected)
    h.assert_bits_equal(pipe.transform(pd.DataFrame({"s": as_nan})), expected)
    for i in range(min(n, 20)):
        h.assert_bits_equal(pipe.transform_one({"s": as_nan[i]}), expected[i])
    np.testing.assert_array_equal(expected[:, 0], h.categorify_oracle(s, s))


def test_pandas_nullable_dtypes(h, rng):
    n = int(rng.integers(2, 500))
    miss = h.missing_mask(rng, n, 0.2)
    miss[0] = True
    ints = rng.integers(-100, 100, n)
    floats = rng.normal(0, 1, n)
    strs = h.strings(rng, n, distinct=5)
    df = pd.DataFrame(
        {
            "i": pd.array(
                [None if m else int(v) for v, m in zip(ints, miss, strict=True)], dtype="Int64"
            ),
            "f": pd.array(
                [None if m else float(v) for v, m in zip(floats, miss, strict=True)],
                dtype="Float64",
            ),
            "s": pd.array(
                [None if m else v for v, m in zip(strs, miss, strict=True)], dtype="string"
            ),
        }
    )
    plain = pa.table(
        {
            "i": h.arrow_numeric(ints, miss, pa.int64()),
            "f": h.arrow_numeric(floats, miss),
            "s": pa.array([None if m else v for v, m in zip(strs, miss, strict=True)], pa.string()),
        }
    )

    def make():
        return sw.FeaturePipeline(
            {
                "i": [sw.Impute("median", exact=True), sw.StandardScale()],
                "f": sw.Impute("mean", add_indicator=True),
                "s": sw.Categorify(),
            }
        )

    a, b = make().fit(df), make().fit(plain)
    assert a.to_dict() == b.to_dict()
    h.assert_bits_equal(a.transform(df), b.transform(plain))
    i_filled = np.where(miss, np.median(ints[~miss]), ints).astype(np.float64)
    h.assert_f32_close(
        a.transform(df)[:, 0], StandardScaler().fit_transform(i_filled[:, None])[:, 0]
    )


def test_transform_into_a_reused_buffer(rng):
    """out= is written in place, zeroing what one-hot leaves unset, and matches a fresh result."""
    n = int(rng.integers(1, 3000))
    table = pa.table(
        {
            "x": rng.normal(size=n),
            "s": pa.array(rng.choice(["a", "b", "c"], n).tolist()),
        }
    )
    pipe = sw.FeaturePipeline({"x": sw.StandardScale(), "s": sw.OneHot()}).fit(table)
    fresh = pipe.transform(table)
    buffer = np.full(fresh.shape, np.nan, dtype=np.float32)  # garbage the call must overwrite
    returned = pipe.transform(table, out=buffer)
    assert returned is buffer or np.shares_memory(returned, buffer)
    assert np.array_equal(buffer.view(np.uint32), fresh.view(np.uint32))
    for bad in (
        np.empty((n + 1, fresh.shape[1]), np.float32),
        np.empty(fresh.shape, np.float64),
        np.empty((fresh.shape[1], n), np.float32).T,
    ):
        with pytest.raises(sw.errors.InvalidInputError):
            pipe.transform(table, out=bad)
