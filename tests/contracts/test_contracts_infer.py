"""Schema inference against numpy: each rule of seawall.contracts.infer recomputed here from the
values, and the property that matters most: data always satisfies the schema inferred from it."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from seawall.contracts import Schema
from seawall.errors import DTypeError, InvalidInputError, MissingColumnError
from seawall.profiles import Profile


def table_with_everything(rng, n: int) -> pa.Table:
    x = rng.lognormal(0, 1, n)
    x[rng.random(n) < 0.03] = np.nan
    y = rng.normal(-5, 3, n)
    y[rng.random(n) < 0.01] = np.inf
    return pa.table(
        {
            "x": pa.array(x, mask=rng.random(n) < 0.1),
            "y": y,
            "count": pa.array(rng.integers(-50, 1000, n), mask=rng.random(n) < 0.02),
            "big": pa.array(rng.integers(2**62, 2**63 - 1, n, dtype=np.int64)),
            "merchant": rng.choice(["acme", "globex", "initech"], n),
            "city": pa.array([f"c{i}" for i in rng.integers(0, 500, n)]),
            "flag": rng.random(n) < 0.5,
            "nothing": pa.array([None] * n, pa.null()),
        }
    )


def expected_range(values, margin: float, integer: bool):
    lo, hi = values.min(), values.max()
    if integer:
        lo, hi = int(lo), int(hi)
        pad = math.ceil(margin * (hi - lo))
        return (max(0, lo - pad) if lo >= 0 else lo - pad), hi + pad
    lo, hi = float(lo), float(hi)
    pad = margin * (hi - lo)
    lower = lo - pad
    return (max(0.0, lower) if lo >= 0 else lower), hi + pad


@pytest.mark.parametrize("n", [1, 3, 5000])
def test_rules_against_numpy(rng, n):
    table = table_with_everything(rng, n)
    schema = Schema.infer(table)
    assert schema.columns == table.column_names
    types = {c.name: c.type for c in schema}
    assert types == {
        "x": "float",
        "y": "float",
        "count": "integer",
        "big": "integer",
        "merchant": "string",
        "city": "string",
        "flag": "boolean",
        "nothing": None,
    }
    for name in table.column_names:
        col = schema[name]
        nulls = table.column(name).null_count
        share = (n - nulls) / n
        if nulls == 0:
            assert col.min_fraction == 1.0 and col.min_count == 1
        elif nulls == n:
            assert col.min_fraction is None and col.min_count == 0
        else:
            want = math.floor((share - 0.05) * 1e6) / 1e6
            assert col.min_fraction == (want if want > 0 else None)
    x = table.column("x").drop_null().to_numpy()  # NaN stay: they are values, nulls are not
    x_values = x[~np.isnan(x)]
    if x_values.size:
        assert (schema["x"].lower, schema["x"].upper) == expected_range(x_values, 0.1, False)
    assert schema["x"].nan_allowed == bool(np.isnan(x).any())
    assert schema["x"].inf_allowed is False
    y = table.column("y").to_numpy()
    finite_y = y[np.isfinite(y)]
    if np.isinf(y).any():
        assert schema["y"].inf_allowed and schema["y"].upper is None
        if finite_y.size:
            assert schema["y"].lower == float(finite_y.min())  # no margin beside an open side
    else:
        assert (schema["y"].lower, schema["y"].upper) == expected_range(y, 0.1, False)
    count = table.column("count").drop_null().to_numpy()
    if count.size:
        assert (schema["count"].lower, schema["count"].upper) == expected_range(count, 0.1, True)
    big = table.column("big").to_pylist()
    assert (schema["big"].lower, schema["big"].upper) == expected_range(
        np.array(big, dtype=object), 0.1, True
    )  # exact past 2**53
    assert schema["merchant"].allowed_values == tuple(
        sorted(set(table.column("merchant").to_pylist()))
    )
    cities = set(table.column("city").to_pylist())
    assert schema["city"].allowed_values == (tuple(sorted(cities)) if len(cities) <= 100 else None)
    assert schema["flag"].lower is None and schema["flag"].allowed_values is None
    # The data satisfies the schema inferred from it, whatever it holds.
    assert schema.validate(table).ok, schema.validate(table).summary()


def test_options(rng):
    n = 2000
    table = pa.table({"s": [f"v{i}" for i in rng.integers(0, 150, n)], "x": rng.normal(size=n)})
    distinct = len(set(table.column("s").to_pylist()))
    assert Schema.infer(table, max_domain_size=distinct)["s"].allowed_values is not None
    assert Schema.infer(table, max_domain_size=distinct - 1)["s"].allowed_values is None
    wide = Schema.infer(table, range_margin=1.0)["x"]
    x = table.column("x").to_numpy()
    span = x.max() - x.min()
    assert wide.lower == x.min() - span and wide.upper == x.max() + span
    assert Schema.infer(table, columns=["x"]).columns == ["x"]
    for bad in (
        {"max_domain_size": -1},
        {"max_domain_size": 5000},
        {"range_margin": float("nan")},
        {"presence_margin": 2},
        {"max_domain_size": True},
    ):
        with pytest.raises(InvalidInputError):
            Schema.infer(table, **bad)
    with pytest.raises(MissingColumnError, match="nope"):
        Schema.infer(table, columns=["nope"])
    with pytest.raises(InvalidInputError, match="not a string"):
        Schema.infer(table, columns="x")


def test_unsupported_types_name_the_column():
    table = pa.table({"when": pa.array([0, 1], pa.timestamp("s")), "x": [1.0, 2.0]})
    with pytest.raises(DTypeError, match="'when'"):
        Schema.infer(table)
    assert Schema.infer(table, columns=["x"]).columns == ["x"]


def test_infer_unique_is_exact(rng):
    n = 30_000
    ids = rng.permutation(n)
    almost = ids.copy()
    almost[rng.integers(1, n)] = almost[0]  # one repeat among 30,000
    table = pa.table(
        {
            "id": ids,
            "almost": almost,
            "key": [f"k{i}" for i in ids],
            "x": rng.normal(size=n),
        }
    )
    schema = Schema.infer(table, infer_unique=True)
    assert schema["id"].unique_values and schema["key"].unique_values
    assert not schema["almost"].unique_values
    assert not schema["x"].unique_values  # floats are never inferred unique
    assert not Schema.infer(table)["id"].unique_values  # off by default, as TFDV
    batches = table.to_batches(max_chunksize=4000)
    assert Schema.infer(iter(batches), infer_unique=True) == schema  # one pass over a stream
    with pytest.raises(InvalidInputError, match="profile"):
        Schema.infer(Profile.from_data(table), infer_unique=True)


def test_from_a_profile(rng):
    n = 4000
    table = pa.table(
        {
            "x": rng.normal(size=n),
            "i": rng.integers(0, 10, n),
            "s": rng.choice(["a", "b"], n),
            "many": [f"v{i}" for i in rng.integers(0, 80, n)],
            "none": pa.array([None] * n, pa.float64()),
        }
    )
    profile = Profile.from_data(table)  # top_k 64: "many" is not exact
    schema = Schema.infer(profile)
    assert [schema[c].type for c in schema.columns] == ["float", "float", "string", "string", None]
    assert schema["s"].allowed_values == ("a", "b")
    assert schema["many"].allowed_values is None  # more distinct values than the summary holds
    x = table.column("x").to_numpy()
    assert (schema["x"].lower, schema["x"].upper) == expected_range(x, 0.1, False)
    assert schema.validate(table).ok
    from_data = Schema.infer(table)
    assert from_data["many"].allowed_values is not None  # from data top_k is raised to fit


def test_empty_inputs(tmp_path):
    empty = pa.table({"x": pa.array([], pa.float64()), "s": pa.array([], pa.string())})
    schema = Schema.infer(empty)
    assert schema["x"].min_count == 0 and schema["x"].lower is None
    assert schema.validate(empty).ok
    with pytest.raises(InvalidInputError):
        Schema.infer(pa.table({}))
