"""Data generators and independent oracles for the feature-transform tests.

Exposed through the session fixture ``h`` (a namespace), so test modules need no imports of
their own from this directory. Nothing here calls seawall: these are the references.
"""

from __future__ import annotations

import math
import types
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

# --- comparing ------------------------------------------------------------------------------

RTOL = 1e-6
ATOL = 1e-6


def assert_f32_close(actual: np.ndarray, expected: Any, rtol: float = RTOL, atol: float = ATOL) -> None:
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
        raise AssertionError(f"not bit-identical at {bad[:5].tolist()}: {a[tuple(bad[0])]!r} vs {b[tuple(bad[0])]!r}")


def rel_close(a: float, b: float, rtol: float) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b)) or a == b


# --- numeric data ---------------------------------------------------------------------------

NUMERIC_KINDS = ("normal", "lognormal", "uniform", "ints", "offset", "huge", "tiny", "cauchy", "ties")


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
    alphabet = list("abcdefgh") + ["é", "ß", "中", "🙂", " ", "_"]
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
    kept, infrequent = vocabulary_oracle(train, min_frequency, max_categories, infrequent_slot=False)
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
    names = [f"{name}_{v}" for v in kept] + ([f"{name}_infrequent"] if infrequent else []) + [f"{name}_other"]
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


def assert_rank_within(sorted_values: np.ndarray, v: float, q: float, eps: float, what: str = "") -> None:
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


def arrow_numeric(x: np.ndarray, nulls: np.ndarray | None = None, type: pa.DataType | None = None) -> pa.Array:
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
    return pa.concat_tables([table.slice(a, b - a) for a, b in zip(cuts[:-1], cuts[1:])])


@pytest.fixture(scope="session")
def h() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        **{
            name: obj
            for name, obj in globals().items()
            if not name.startswith("_") and (callable(obj) or name.isupper()) and name not in ("h", "pytest")
        },
        math=math,
    )
