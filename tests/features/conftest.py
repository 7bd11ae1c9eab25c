"""Data generators and independent oracles for the feature-transform tests.

Exposed through the session fixture ``h`` (a namespace), so test modules need no imports of
their own from this directory. The oracles never call seawall; only the random-pipeline
strategy (``fitted_cases``) builds seawall ops.
"""

from __future__ import annotations

import itertools
import math
import types
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import strategies as st

import seawall as sw

# --- comparing ------------------------------------------------------------------------------

RTOL = 1e-6
ATOL = 1e-6


def assert_f32_close(
    actual: np.ndarray, expected: Any, rtol: float = RTOL, atol: float = ATOL
) -> None:
    """seawall's float32 output against a float64 oracle."""
    assert isinstance(actual, np.ndarray), type(actual)
    assert actual.dtype == np.float32, actual.dtype
    expected = np.asarray(expected, dtype=np.float64)
    if expected.ndim == 1 and actual.ndim == 2 and actual.shape[1] == 1:
        expected = expected[:, None]
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert np.isfinite(actual).all()
    np.testing.assert_allclose(actual.astype(np.float64), expected, rtol=rtol, atol=atol)


def assert_bits_equal(a: np.ndarray, b: np.ndarray) -> None:
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    assert a.shape == b.shape, (a.shape, b.shape)
    if not np.array_equal(a.view(np.uint32), b.view(np.uint32)):
        bad = np.argwhere(a.view(np.uint32) != b.view(np.uint32))
        raise AssertionError(
            f"not bit-identical at {bad[:5].tolist()}: {a[tuple(bad[0])]!r} vs {b[tuple(bad[0])]!r}"
        )


def rel_close(a: float, b: float, rtol: float) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b)) or a == b


# --- numeric data ---------------------------------------------------------------------------

NUMERIC_KINDS = (
    "normal",
    "lognormal",
    "uniform",
    "ints",
    "offset",
    "huge",
    "tiny",
    "cauchy",
    "ties",
)


def floats(rng: np.random.Generator, n: int, kind: str | None = None) -> np.ndarray:
    """Finite float64 values of one of several shapes (including huge and tiny magnitudes)."""
    kind = kind or str(rng.choice(NUMERIC_KINDS))
    if kind == "normal":
        x = rng.normal(rng.uniform(-50, 50), rng.uniform(0.1, 20), n)
    elif kind == "lognormal":
        x = rng.lognormal(0, 2, n)
    elif kind == "uniform":
        x = rng.uniform(-1, 1, n)
    elif kind == "ints":
        x = rng.integers(-5, 6, n).astype(np.float64)
    elif kind == "offset":  # large mean, small spread: a cancellation trap
        x = 1e6 + rng.normal(0, 1e-2, n)
    elif kind == "huge":
        x = rng.normal(0, 1, n) * 1e150
    elif kind == "tiny":
        x = rng.normal(0, 1, n) * 1e-150
    elif kind == "cauchy":
        x = rng.standard_cauchy(n)
    elif kind == "ties":
        x = rng.choice(rng.normal(0, 3, 4), n)
    else:
        raise AssertionError(kind)
    return np.asarray(x, dtype=np.float64)


def missing_mask(rng: np.random.Generator, n: int, frac: float) -> np.ndarray:
    return rng.random(n) < frac


def strings(
    rng: np.random.Generator,
    n: int,
    distinct: int | None = None,
    null_frac: float = 0.0,
    prefix: str = "",
) -> list[str | None]:
    """Zipf-ish categorical strings: ASCII, unicode, the empty string and long (> 32 byte) values."""
    distinct = distinct or int(rng.integers(1, 25))
    pool = []
    alphabet = [*list("abcdefgh"), "é", "ß", "中", "🙂", " ", "_"]
    for i in range(distinct):
        r = rng.random()
        if r < 0.08:
            v = ""
        elif r < 0.15:
            v = "long-" * int(rng.integers(7, 15)) + str(i)
        else:
            v = "".join(rng.choice(alphabet, int(rng.integers(1, 6))))
        pool.append(prefix + v)
    pool = list(dict.fromkeys(pool))  # unique, order kept
    weights = 1.0 / np.arange(1, len(pool) + 1) ** rng.uniform(0.3, 1.5)
    idx = rng.choice(len(pool), n, p=weights / weights.sum())
    out: list[str | None] = [pool[i] for i in idx]
    for i in np.flatnonzero(missing_mask(rng, n, null_frac)):
        out[i] = None
    return out


# --- categorical oracles --------------------------------------------------------------------


def vocabulary_oracle(
    train: Sequence[str | None],
    min_frequency: int | float | None,
    max_categories: int | None,
    infrequent_slot: bool,
) -> tuple[list[str], set[str]]:
    """Kept categories in output order (count desc, then value's UTF-8 bytes asc), and the
    infrequent ones, from the documented rules (counts exclude nulls; a float min_frequency is a
    share of all rows; at the max_categories cut, equal counts keep the larger values; for OneHot
    max_categories includes the infrequent column, as scikit-learn's)."""
    counts = Counter(v for v in train if v is not None)
    rows = len(train)
    if min_frequency is None:
        frequent = list(counts)
    elif isinstance(min_frequency, float):
        frequent = [v for v in counts if counts[v] >= min_frequency * rows]
    else:
        frequent = [v for v in counts if counts[v] >= min_frequency]
    if max_categories is not None:
        # OneHot, as scikit-learn: the infrequent column counts even before any value is infrequent.
        outputs = len(frequent) + (1 if infrequent_slot else 0)
        if max_categories < outputs:
            keep = max(max_categories - 1, 0) if infrequent_slot else max_categories
            ranked = sorted(frequent, key=lambda v: (counts[v], v.encode()), reverse=True)
            frequent = ranked[:keep]
    kept = sorted(frequent, key=lambda v: (-counts[v], v.encode()))
    return kept, set(counts) - set(kept)


def categorify_oracle(train, test, min_frequency=None, max_categories=None) -> np.ndarray:
    kept, infrequent = vocabulary_oracle(
        train, min_frequency, max_categories, infrequent_slot=False
    )
    ids = {v: 3 + i for i, v in enumerate(kept)}
    out = []
    for v in test:
        if v is None:
            out.append(0)
        elif v in ids:
            out.append(ids[v])
        elif v in infrequent:
            out.append(2)
        else:
            out.append(1)
    return np.asarray(out, dtype=np.float64)


def onehot_other_oracle(name, train, test, min_frequency=None, max_categories=None):
    """OneHot(unknown='other'): (names, matrix) from the documented rules."""
    kept, infrequent = vocabulary_oracle(train, min_frequency, max_categories, infrequent_slot=True)
    names = (
        [f"{name}_{v}" for v in kept]
        + ([f"{name}_infrequent"] if infrequent else [])
        + [f"{name}_other"]
    )
    out = np.zeros((len(test), len(names)))
    for r, v in enumerate(test):
        if v is not None and v in kept:
            out[r, kept.index(v)] = 1
        elif v is not None and v in infrequent:
            out[r, len(kept)] = 1
        else:
            out[r, len(names) - 1] = 1
    return names, out


def xxh64_bucket(values: Sequence[Any], n: int) -> np.ndarray:
    import xxhash

    out = []
    for v in values:
        if v is None:
            out.append(n)
        else:
            text = v if isinstance(v, str) else str(int(v))
            out.append(xxhash.xxh64_intdigest(text.encode("utf-8")) % n)
    return np.asarray(out, dtype=np.float32)  # seawall writes float32: ids above 2**24 round


def sklearn_onehot_by_name(encoder, column: str, X_test) -> dict[str, np.ndarray]:
    """sklearn's one-hot output keyed by seawall's column names."""
    names = encoder.get_feature_names_out([column])
    out = encoder.transform(X_test)
    mapped = {}
    for j, nm in enumerate(names):
        nm = str(nm)
        if nm == f"{column}_infrequent_sklearn":
            nm = f"{column}_infrequent"
        mapped[nm] = np.asarray(out[:, j], dtype=np.float64)
    return mapped


# --- quantiles ------------------------------------------------------------------------------


def rank_interval(sorted_values: np.ndarray, v: float) -> tuple[float, float]:
    """The ranks (as shares of n-1, numpy's 'linear' positions) a value can stand for."""
    n = len(sorted_values)
    lo = np.searchsorted(sorted_values, v, side="left")
    hi = np.searchsorted(sorted_values, v, side="right")
    denom = max(n - 1, 1)
    # A value strictly between two data points stands for the position between them.
    return max(lo - 1, 0) / denom, min(hi, n - 1) / denom


def assert_rank_within(
    sorted_values: np.ndarray, v: float, q: float, eps: float, what: str = ""
) -> None:
    lo, hi = rank_interval(sorted_values, v)
    assert lo - eps <= q <= hi + eps, (
        f"{what}: fitted {v!r} has rank in [{lo:.5f}, {hi:.5f}], target {q} (allowed error {eps})"
    )


def exact_quantile_range(sorted_values: np.ndarray, q: float, eps: float) -> tuple[float, float]:
    """The values whose rank is within eps of q."""
    return (
        float(np.quantile(sorted_values, max(q - eps, 0.0))),
        float(np.quantile(sorted_values, min(q + eps, 1.0))),
    )


# --- tables ---------------------------------------------------------------------------------


def arrow_numeric(
    x: np.ndarray, nulls: np.ndarray | None = None, type: pa.DataType | None = None
) -> pa.Array:
    return pa.array(x, mask=nulls if nulls is not None and nulls.any() else None, type=type)


def as_nan(x: np.ndarray, nulls: np.ndarray | None) -> np.ndarray:
    """The float64 view a numpy/sklearn oracle gets: nulls as NaN."""
    y = np.asarray(x, dtype=np.float64).copy()
    if nulls is not None:
        y[nulls] = np.nan
    return y


def chunked(table: pa.Table, rng: np.random.Generator, pieces: int = 4) -> pa.Table:
    """The same rows split into several chunks (some possibly empty) at random cuts."""
    n = table.num_rows
    cuts = sorted(set([0, n, *rng.integers(0, n + 1, pieces).tolist()]))
    return pa.concat_tables([table.slice(a, b - a) for a, b in itertools.pairwise(cuts)])


# --- random pipelines (hypothesis) ---------------------------------------------------------

LETTERS = ["a", "b", "c", "é", "", "中🙂", "long-" * 9, "Z"]


def _numeric_values(draw, dtype: str, n: int, missing: bool) -> list:
    if dtype == "float64":
        value = st.floats(-1e30, 1e30, allow_nan=False) | st.sampled_from(
            [0.0, -0.0, 1.0, 5e-324, -1e30]
        )
        nan = st.just(math.nan)
    elif dtype == "float32":
        value = st.floats(
            -1.0000000150474662e30, 1.0000000150474662e30, allow_nan=False, width=32
        ) | st.just(0.0)
        nan = st.just(math.nan)
    else:
        value = st.integers(-(2**62), 2**62) | st.integers(-5, 5)
        nan = st.nothing()
    if missing:
        value = value | st.none() | nan
    return draw(st.lists(value, min_size=n, max_size=n))


def _numeric_ops(draw, has_missing: bool, all_missing: bool) -> list:
    ops = []
    if has_missing or draw(st.booleans()):
        strategies = (
            ["constant"] if all_missing else ["mean", "median", "most_frequent", "constant"]
        )
        strategy = draw(st.sampled_from(strategies))
        fill = (
            draw(st.floats(-1e6, 1e6)) if strategy == "constant" and draw(st.booleans()) else None
        )
        ops.append(
            sw.Impute(
                strategy,
                fill_value=fill,
                add_indicator=draw(st.booleans()),
                exact=draw(st.booleans()),
            )
        )
    choices = st.sampled_from(
        ["log1p", "clip", "clip_q", "standard", "minmax", "robust", "bucket", "bucket_n"]
    )
    for kind in draw(st.lists(choices, max_size=3)):
        if kind == "log1p":
            ops += [sw.Clip(lower=-0.5), sw.Log1p()]  # Log1p needs values above -1
        elif kind == "clip":
            a, b = sorted(draw(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=2)))
            ops.append(sw.Clip(a, b))
        elif kind == "clip_q":
            a, b = sorted(draw(st.lists(st.floats(0, 1), min_size=2, max_size=2)))
            ops.append(sw.Clip(quantiles=(a, b), exact=draw(st.booleans())))
        elif kind == "standard":
            ops.append(
                sw.StandardScale(with_mean=draw(st.booleans()), with_std=draw(st.booleans()))
            )
        elif kind == "minmax":
            ops.append(sw.MinMaxScale(clip=draw(st.booleans())))
        elif kind == "robust":
            lo = draw(st.floats(0, 50))
            ops.append(
                sw.RobustScale(
                    quantile_range=(lo, draw(st.floats(lo, 100))), exact=draw(st.booleans())
                )
            )
        elif kind == "bucket":
            ops.append(
                sw.Bucketize(
                    boundaries=sorted(draw(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=5)))
                )
            )
        else:
            ops.append(sw.Bucketize(n_bins=draw(st.integers(1, 6)), exact=draw(st.booleans())))
    return ops or [sw.StandardScale()]


def _string_ops(draw, has_missing: bool, all_missing: bool) -> list:
    ops = []
    if draw(st.booleans()):
        strategy = (
            "constant" if all_missing else draw(st.sampled_from(["most_frequent", "constant"]))
        )
        fill = (
            draw(st.sampled_from(LETTERS))
            if strategy == "constant" and draw(st.booleans())
            else None
        )
        ops.append(sw.Impute(strategy, fill_value=fill, add_indicator=draw(st.booleans())))
    min_frequency = draw(st.none() | st.integers(1, 4) | st.floats(0.01, 0.5))
    max_categories = draw(st.none() | st.integers(1, 5))
    kind = draw(st.sampled_from(["categorify", "onehot", "hash"]))
    if kind == "categorify":
        ops.append(sw.Categorify(min_frequency=min_frequency, max_categories=max_categories))
    elif kind == "onehot":
        unknown = draw(st.sampled_from(["ignore", "other"]))
        ops.append(
            sw.OneHot(min_frequency=min_frequency, max_categories=max_categories, unknown=unknown)
        )
    else:
        ops.append(sw.HashBucket(draw(st.integers(1, 2**24 - 1))))
    return ops


@st.composite
def fitted_cases(draw):
    """(table, new_table, features): random columns, and random valid chains over them.

    new_table has the same columns with other values (unseen categories too), missing values
    only where every chain of that column imputes them."""
    n = draw(st.integers(1, 25))
    columns: dict[str, pa.Array] = {}
    features = []
    new_columns: dict[str, pa.Array] = {}
    for c in range(draw(st.integers(1, 3))):
        name = f"n{c}"
        dtype = draw(st.sampled_from(["float64", "float32", "int64"]))
        values = _numeric_values(draw, dtype, n, missing=draw(st.booleans()))
        is_missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in values]
        columns[name] = pa.array(values, type=getattr(pa, dtype)(), from_pandas=False)
        for k in range(draw(st.integers(1, 2))):
            ops = _numeric_ops(draw, any(is_missing), all(is_missing))
            features.append((f"{name}f{k}", name, ops))
        # New data: missing values only where the chains impute them.
        imputes = all(isinstance(f[2][0], sw.Impute) for f in features if f[1] == name)
        new_columns[name] = pa.array(
            _numeric_values(draw, dtype, n, missing=imputes), type=getattr(pa, dtype)()
        )
    for c in range(draw(st.integers(0, 2))):
        name = f"s{c}"
        kind = draw(st.sampled_from(["string", "large_string", "dictionary", "int64"]))
        if kind == "int64":
            element = st.integers(-3, 3) | st.none()
        else:
            element = st.sampled_from(LETTERS) | st.none()
        values = draw(st.lists(element, min_size=n, max_size=n))
        unseen = draw(
            st.lists(
                element | st.sampled_from(["unseen", "ü"] if kind != "int64" else [99, -99]),
                min_size=n,
                max_size=n,
            )
        )
        arrays = []
        for vals in (values, unseen):
            if kind == "int64":
                arr = pa.array(vals, pa.int64())
            elif kind == "dictionary":
                arr = pc.dictionary_encode(pa.array(vals, pa.string()))
            else:
                arr = pa.array(vals, getattr(pa, kind)())
            arrays.append(arr)
        columns[name], new_columns[name] = arrays
        missing = [v is None for v in values]
        for k in range(draw(st.integers(1, 2))):
            features.append((f"{name}f{k}", name, _string_ops(draw, any(missing), all(missing))))
    return pa.table(columns), pa.table(new_columns), features


class _Helpers(types.SimpleNamespace):
    def __repr__(self) -> str:  # hypothesis prints the fixtures of a failing example
        return "<test helpers>"


@pytest.fixture(scope="session")
def h() -> _Helpers:
    return _Helpers(
        **{
            name: obj
            for name, obj in globals().items()
            if not name.startswith("_")
            and (callable(obj) or name.isupper())
            and name not in ("h", "pytest", "st", "sw", "pc")
        },
        math=math,
    )
