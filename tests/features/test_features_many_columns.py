"""Many columns: the work per column stays constant, so fit, transform, transform_one and the
state round trip are linear in the number of columns.

No timing (that is in benchmarks/bench_wide.py): the column names are a str subclass that counts
the equality comparisons made on them. A name looked up in a dict or set is compared about once;
a name searched for in a list is compared with every name before it, which over all the columns
is quadratic. So the count per column stays bounded only while no per-column list scan is left.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

import seawall as sw


class CountingName(str):
    """A column name that counts how often it is compared for equality."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        CountingName.comparisons += 1
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        CountingName.comparisons += 1
        return str.__ne__(self, other)

    __hash__ = str.__hash__


def _counted(call) -> tuple[object, int]:
    CountingName.comparisons = 0
    result = call()
    return result, CountingName.comparisons


def _counting_document(document):
    """The same state with every string a CountingName (its hash is unchanged)."""
    if isinstance(document, dict):
        return {CountingName(k): _counting_document(v) for k, v in document.items()}
    if isinstance(document, list):
        return [_counting_document(v) for v in document]
    return CountingName(document) if isinstance(document, str) else document


def test_per_column_work_is_constant(h, rng):
    n_columns = int(rng.integers(1500, 2500))
    rows = int(rng.integers(1, 20))
    names = [CountingName(f"c{i}") for i in range(n_columns)]
    kinds = rng.choice(["scale", "robust", "onehot", "impute"], n_columns)
    data: dict[str, object] = {}
    features: dict[str, object] = {}
    for name, kind in zip(names, kinds, strict=True):
        if kind == "onehot":
            data[str(name)] = pa.array(rng.choice(["a", "b", "c"], rows))
            features[name] = sw.OneHot()
        else:
            data[str(name)] = rng.normal(size=rows)
            features[name] = {
                "scale": sw.StandardScale(),
                "robust": sw.RobustScale(),
                "impute": [sw.Impute("median"), sw.MinMaxScale()],
            }[kind]
    table = pa.table(data)  # plain names, as data read from anywhere has
    # About 1 comparison per column in fit and transform, 27 in from_dict (keyword arguments and
    # the ops' fields); one scan of a list of the columns per column is n_columns / 2 per column.
    budget = 40 * n_columns

    pipe, fit_count = _counted(lambda: sw.FeaturePipeline(features).fit(table))
    half = rows // 2
    batches = [table.slice(0, half), table.slice(half)]
    streamed, stream_count = _counted(lambda: sw.FeaturePipeline(features).fit(batches))
    out, transform_count = _counted(lambda: pipe.transform(table))
    row = table.slice(0, 1).to_pylist()[0]
    one, one_count = _counted(lambda: pipe.transform_one(row))
    document = _counting_document(pipe.to_dict())
    loaded, load_count = _counted(lambda: sw.FeaturePipeline.from_dict(document))
    for what, count in [
        ("fit", fit_count),
        ("fit from batches", stream_count),
        ("transform", transform_count),
        ("transform_one", one_count),
        ("from_dict", load_count),
    ]:
        assert count <= budget, f"{what}: {count:,} name comparisons for {n_columns:,} columns"
    # The counting was of the real work: the results are right.
    assert out.shape == (rows, len(pipe.feature_names_out_))
    h.assert_bits_equal(one, out[:1].ravel())
    h.assert_bits_equal(loaded.transform(table), out)
    assert streamed.feature_names_out_ == pipe.feature_names_out_
    h.assert_f32_close(streamed.transform(table), out)
    scaled = [j for j, k in enumerate(kinds) if k == "scale"]
    first = pipe.feature_names_out_.index(names[scaled[0]])
    x = np.asarray(data[names[scaled[0]]])
    std = x.std()
    h.assert_f32_close(
        out[:, first], (x - x.mean()) / (std if std > 0 and x.min() != x.max() else 1)
    )
