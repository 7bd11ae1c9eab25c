"""Slices of the rows an evaluation reports on: by the values of a column, of a tuple of
columns, or by quantile buckets of a numeric column (:class:`Bucket`).

Each slicing becomes one int32 group id per row, which the native kernels read; slices are
ordered by value (a missing value is a slice of its own, last).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DTypeError, InvalidInputError, MissingColumnError

__all__ = ["Bucket", "Grouping", "SliceSpec", "group_rows", "slicing_name"]

#: A slicing with more slices than this is refused (slicing by an id column is a mistake).
MAX_SLICES = 10_000


@dataclass(frozen=True)
class Bucket:
    """Quantile buckets of a numeric column: ``Bucket("amount", 5)`` cuts at the 20th, 40th,
    60th and 80th percentiles (numpy's linear definition), so the buckets hold about equal
    counts; equal edges (many ties) merge into fewer buckets. Bucket ``[a, b)`` holds a <= x < b,
    the last one ``[a, b]``; missing values (null, NaN) form a slice of their own."""

    column: str
    buckets: int = 5

    def __post_init__(self) -> None:
        if not isinstance(self.column, str) or not self.column:
            raise InvalidInputError(f"Bucket needs a column name, got {self.column!r}")
        if isinstance(self.buckets, bool) or not isinstance(self.buckets, int) or self.buckets < 1:
            raise InvalidInputError(
                f"Bucket needs a bucket count of at least 1, got {self.buckets!r}"
            )


SliceSpec = str | tuple[str, ...] | Bucket


@dataclass
class Grouping:
    """One slicing: its name, the group id of each row, and each group's key and label."""

    name: str
    columns: tuple[str, ...]
    ids: np.ndarray  # int32, one per row; -1 for a row in no group
    keys: list[Any]  # per group: a value, a tuple of values, or a bucket's (low, high)
    labels: list[str]  # per group, for people: "country=FR", "amount in [3, 7.5)"

    @property
    def count(self) -> int:
        return len(self.keys)


def slicing_name(spec: SliceSpec) -> str:
    if isinstance(spec, Bucket):
        return f"{spec.column} ({spec.buckets} buckets)"
    if isinstance(spec, tuple):
        return " x ".join(spec)
    return spec


def _check_spec(spec: Any) -> SliceSpec:
    if isinstance(spec, (str, Bucket)):
        if isinstance(spec, str) and not spec:
            raise InvalidInputError("a slice column name must not be empty")
        return spec
    if isinstance(spec, (tuple, list)) and spec and all(isinstance(c, str) and c for c in spec):
        if len(set(spec)) != len(spec):
            raise InvalidInputError(f"slice columns repeat a column: {list(spec)}")
        return tuple(spec)
    raise InvalidInputError(
        f"a slice is a column name, a tuple of column names, or Bucket(column, n); got {spec!r}"
    )


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise MissingColumnError(
            f"slice column {name!r} is not in the data (it has: {', '.join(table.column_names)})"
        )
    return table.column(name)


def _python_value(v: Any) -> Any:
    """A dictionary value as a plain, JSON-friendly Python value."""
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", "replace")
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def _codes(column: pa.ChunkedArray, name: str) -> tuple[np.ndarray, list[Any]]:
    """Sorted distinct values of a column (None last, for null or NaN) and each row's index
    into them."""
    if pa.types.is_nested(column.type):
        raise DTypeError(f"slice column {name!r} holds {column.type}: slice by a flat column")
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if pa.types.is_integer(array.type) and array.null_count == 0 and len(array):
        fast = _small_integers(array.to_numpy())
        if fast is not None:
            return fast
    if pa.types.is_floating(array.type):
        array = pc.if_else(pc.is_nan(array), pa.scalar(None, array.type), array)
    encoded = pc.dictionary_encode(array, null_encoding="encode")
    values = [_python_value(v) for v in encoded.dictionary.to_pylist()]
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    # Order the groups by value, None last: a stable display order.
    order = sorted(range(len(values)), key=lambda i: (values[i] is None, _sort_key(values[i])))
    rank = np.empty(len(values), dtype=np.int32)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(values), dtype=np.int32)
    return rank.take(indices), [values[i] for i in order]


def _small_integers(v: np.ndarray) -> tuple[np.ndarray, list[Any]] | None:
    """Integers of a small range: one counting pass instead of a hash table."""
    low, high = int(v.min()), int(v.max())
    if high - low > max(4 * len(v), 1 << 16):
        return None
    offset = (v - low).astype(np.int64, copy=False)
    present = np.flatnonzero(np.bincount(offset, minlength=high - low + 1))
    lookup = np.full(high - low + 1, -1, dtype=np.int32)
    lookup[present] = np.arange(len(present), dtype=np.int32)
    return lookup.take(offset), [int(x) + low for x in present]


def _sort_key(v: Any) -> tuple[int, Any]:
    if v is None:
        return (2, 0)
    if isinstance(v, (bool, int, float)):
        return (0, v)
    return (1, str(v))


def _value_text(v: Any) -> str:
    return "null" if v is None else str(v)


def _check_count(count: int, name: str) -> None:
    if count > MAX_SLICES:
        raise InvalidInputError(
            f"slicing by {name} makes {count:,} slices, more than {MAX_SLICES:,}: slice by a "
            "column of fewer values, or bucket a numeric one with Bucket(column, n)"
        )


def _by_columns(table: pa.Table, columns: tuple[str, ...], name: str) -> Grouping:
    codes: list[np.ndarray] = []
    values: list[list[Any]] = []
    for c in columns:
        code, vals = _codes(_column(table, c), c)
        codes.append(code)
        values.append(vals)
    if len(columns) == 1:
        _check_count(len(values[0]), name)
        keys: list[Any] = values[0]
        labels = [f"{columns[0]}={_value_text(v)}" for v in keys]
        return Grouping(name, columns, codes[0].astype(np.int32, copy=False), keys, labels)
    # One int64 code per combination (mixed radix), then only the combinations that occur.
    combined = np.zeros(table.num_rows, dtype=np.int64)
    for code, vals in zip(codes, values, strict=True):
        combined = combined * max(len(vals), 1) + code
    # A hash table rather than np.unique's sort: linear in the rows.
    encoded = pc.dictionary_encode(pa.array(combined))
    seen = encoded.dictionary.to_numpy()
    order = np.argsort(seen, kind="stable")
    present = seen[order]
    rank = np.empty(len(seen), dtype=np.int64)
    rank[order] = np.arange(len(seen), dtype=np.int64)
    ids = rank[encoded.indices.to_numpy()]
    _check_count(len(present), name)
    keys = []
    for c in present.tolist():
        parts = []
        for vals in reversed(values):
            c, j = divmod(c, max(len(vals), 1))
            parts.append(vals[j])
        keys.append(tuple(reversed(parts)))
    labels = [
        ", ".join(f"{col}={_value_text(v)}" for col, v in zip(columns, key, strict=True))
        for key in keys
    ]
    return Grouping(name, columns, ids.astype(np.int32).reshape(-1), keys, labels)


def _number(x: float) -> str:
    return f"{x:.6g}"


def _by_bucket(table: pa.Table, spec: Bucket, name: str) -> Grouping:
    column = _column(table, spec.column)
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise DTypeError(
            f"Bucket({spec.column!r}) needs a numeric column, but it holds {column.type}"
        )
    values = column.to_numpy().astype(np.float64, copy=False)
    finite = np.isfinite(values)
    missing = np.isnan(values)
    if np.isinf(values).any():
        raise InvalidInputError(
            f"Bucket({spec.column!r}): the column holds infinite values, which no quantile "
            "bucket can hold"
        )
    present = values[finite]
    ids = np.full(len(values), -1, dtype=np.int32)
    keys: list[Any] = []
    labels: list[str] = []
    if present.size:
        edges = np.unique(np.quantile(present, np.linspace(0, 1, spec.buckets + 1)))
        inner = edges[1:-1]
        # [e_i, e_i+1): searchsorted "right" counts the inner edges at or below the value.
        ids[finite] = np.searchsorted(inner, present, side="right").astype(np.int32)
        count = max(len(edges) - 1, 1)
        for i in range(count):
            low = float(edges[i])
            high = float(edges[min(i + 1, len(edges) - 1)])
            keys.append((low, high))
            close = "]" if i == count - 1 else ")"
            labels.append(f"{spec.column} in [{_number(low)}, {_number(high)}{close}")
    if missing.any():
        ids[missing] = len(keys)
        keys.append(None)
        labels.append(f"{spec.column}=null")
    return Grouping(name, (spec.column,), ids, keys, labels)


def group_rows(table: pa.Table, spec: Any) -> Grouping:
    """The grouping one slice spec makes of the rows of `table`."""
    spec = _check_spec(spec)
    name = slicing_name(spec)
    if isinstance(spec, Bucket):
        return _by_bucket(table, spec, name)
    columns = spec if isinstance(spec, tuple) else (spec,)
    return _by_columns(table, columns, name)


def check_specs(specs: Sequence[Any]) -> list[SliceSpec]:
    if isinstance(specs, (str, Bucket)):
        specs = [specs]
    checked = [_check_spec(s) for s in specs]
    names = [slicing_name(s) for s in checked]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"a slicing is given twice: {names}")
    return checked
