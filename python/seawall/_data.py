"""Turning what users hand us into Arrow, the one format the native core reads.

Accepted tabular inputs: pyarrow Table and RecordBatch, pandas and polars DataFrames, a dict of
numpy arrays (or lists), and anything exposing the Arrow PyCapsule stream interface. Conversion is
zero-copy where the data allows (numeric columns without nulls, Arrow-backed frames).

For fitting on data larger than memory, :class:`BatchSource` also reads Parquet files,
directories and datasets, iterables of batches, and RecordBatchReaders, batch by batch.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import DTypeError, InvalidInputError, MissingColumnError

__all__ = [
    "BatchSource",
    "column_chunks",
    "is_matrix",
    "matrix_to_table",
    "prepare_column",
    "reject_sparse",
    "to_table",
]


def _is_pandas(obj: Any) -> bool:
    return type(obj).__module__.startswith("pandas") and hasattr(obj, "columns")


def _is_polars(obj: Any) -> bool:
    return type(obj).__module__.startswith("polars") and hasattr(obj, "to_arrow")


def to_table(data: Any) -> pa.Table:
    """Converts one in-memory table-like object to a pyarrow Table."""
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif _is_pandas(data):
        try:
            table = pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DTypeError(
                f"cannot read this DataFrame as columns of one type each: {exc}"
            ) from exc
    elif _is_polars(data):
        table = data.to_arrow()
    elif isinstance(data, Mapping):
        if not data:
            raise InvalidInputError("the input dict has no columns")
        columns = {}
        for name, values in data.items():
            try:
                columns[str(name)] = _array_from_values(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise DTypeError(f"column '{name}': cannot read its values: {exc}") from exc
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise InvalidInputError(f"the input columns have different lengths: {sorted(lengths)}")
        table = pa.table(columns)
    elif hasattr(data, "__arrow_c_stream__"):
        table = pa.table(data)
    else:
        raise DTypeError(
            "expected a pyarrow Table or RecordBatch, a pandas or polars DataFrame, or a dict of "
            f"arrays; got {type(data).__name__}"
        )
    names = table.column_names
    if len(set(names)) != len(names):
        dupes = sorted(n for n, k in Counter(names).items() if k > 1)
        raise InvalidInputError(f"the input has duplicate column names: {dupes}")
    return table


def reject_sparse(data: Any) -> None:
    """Raises DTypeError for a scipy sparse matrix or array: the kernels read dense columns."""
    if type(data).__module__.startswith("scipy.sparse"):
        raise DTypeError(
            f"sparse input is not supported (got a {type(data).__name__}): pass a dense array, "
            "a table or a DataFrame (X.toarray() makes a sparse matrix dense)"
        )


def is_matrix(data: Any) -> bool:
    """A numpy array, another array-like (``__array__``) that is not a table or a column, or a
    list of rows (lists, tuples or 1-D arrays; a list of tables is a list of batches)."""
    if isinstance(data, np.ndarray):
        return True
    if isinstance(data, (list, tuple)):
        return bool(data) and isinstance(data[0], (list, tuple, np.ndarray))
    return (
        hasattr(data, "__array__")
        and not isinstance(data, (pa.Table, pa.RecordBatch, pa.Array, pa.ChunkedArray, Mapping))
        and not hasattr(data, "__arrow_c_stream__")
        and not hasattr(data, "__arrow_c_array__")
        and not _is_pandas(data)
        and not _is_polars(data)
    )


def matrix_to_table(data: Any) -> pa.Table:
    """A 2-D array as a table whose columns are named x0, x1, ... (scikit-learn's names for
    the columns of an array).

    An object array is read column by column: strings as strings, integers as integers,
    other numbers as float64 (None and NaN are missing), as scikit-learn reads them.
    """
    matrix = np.asarray(data)
    if matrix.ndim != 2:
        raise InvalidInputError(
            f"expected a 2-D array (rows x columns), got a {matrix.ndim}-D array of shape "
            f"{matrix.shape}. Reshape your data (X.reshape(-1, 1) makes one column of it) or "
            "pass a table"
        )
    if matrix.dtype.kind == "c":
        raise DTypeError(f"complex numbers are not supported (the array holds {matrix.dtype})")
    if matrix.shape[1] == 0:
        # scikit-learn's wording, which its estimator checks look for.
        raise InvalidInputError(
            f"Found array with 0 feature(s) (shape={matrix.shape}) while a minimum of 1 is required."
        )
    columns = {}
    # One contiguous row per column (no copy when the array is in Fortran order).
    for j, values in enumerate(np.ascontiguousarray(matrix.T)):
        name = f"x{j}"
        if values.dtype == object:
            columns[name] = _object_column(values, name)
            continue
        try:
            columns[name] = _array_from_values(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise DTypeError(
                f"column '{name}': cannot read its values ({values.dtype}): {exc}"
            ) from exc
    return pa.table(columns)


def _object_column(values: np.ndarray, name: str) -> pa.Array:
    """One column of an object array: Arrow's reading when it gives flat values, else the
    values as float64, or float()'s own error for a value that is no number."""
    try:
        array = pa.array(values, from_pandas=True)
        if not pa.types.is_nested(array.type):
            return array
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    try:
        return pa.array(np.array([np.nan if v is None else v for v in values], dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise DTypeError(f"column '{name}': {exc}") from exc


def _array_from_values(values: Any) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    if isinstance(values, (list, tuple)):
        # Straight to Arrow: np.asarray would turn ["a", nan] into ["a", "nan"] and [1.5, "a"]
        # into ["1.5", "a"], silently. A NaN among strings is missing, as pandas writes it.
        array = pa.array(values, from_pandas=True)
        if pa.types.is_nested(array.type):
            raise InvalidInputError(f"each column must be one-dimensional, got {array.type}")
        return array
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if arr.ndim != 1:
        raise InvalidInputError(f"each column must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "iufb":
        # NaN stays a float value here; the kernels treat it as missing.
        return pa.array(arr)
    if arr.dtype == object:
        # from_pandas: a float NaN among strings is missing, as pandas (and transform_one) treat it.
        return pa.array(arr, from_pandas=True)
    return pa.array(arr)


def _is_string_type(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def describe(t: pa.DataType) -> str:
    return str(t)


def prepare_column(
    column: pa.ChunkedArray | pa.Array, name: str, string_input: bool
) -> pa.ChunkedArray | pa.Array:
    """Casts a column to a type the kernels read, or raises DTypeError naming the column.

    Numeric features read integers and floats (float16 and bool are widened, decimals converted);
    categorical features read strings, dictionaries of strings, and integers (as decimal text).
    """
    t = column.type
    if string_input:
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return column
        if pa.types.is_dictionary(t):
            if _is_string_type(t.value_type) and not pa.types.is_string_view(t.value_type):
                return column
            return pc.cast(column, pa.large_string())
        if pa.types.is_string_view(t) or pa.types.is_integer(t) or pa.types.is_null(t):
            return pc.cast(column, pa.large_string())
        raise DTypeError(
            f"column '{name}': categorical ops need strings or integers, got {describe(t)}"
        )
    if pa.types.is_integer(t) or pa.types.is_float32(t) or pa.types.is_float64(t):
        return column
    if pa.types.is_float16(t) or pa.types.is_boolean(t):
        return pc.cast(column, pa.float32() if pa.types.is_float16(t) else pa.uint8())
    if pa.types.is_decimal(t) or pa.types.is_null(t):
        return pc.cast(column, pa.float64())
    if _is_string_type(t) or pa.types.is_dictionary(t):
        raise DTypeError(f"column '{name}': expected numbers, got strings ({describe(t)})")
    raise DTypeError(f"column '{name}': expected numbers, got {describe(t)}")


def column_chunks(column: pa.ChunkedArray | pa.Array) -> list[tuple[Any, Any]]:
    """The column's chunks as Arrow C data interface capsules, for the native core."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    return [chunk.__arrow_c_array__() for chunk in chunks]


def _is_path_like(obj: Any) -> bool:
    return isinstance(obj, (str, os.PathLike))


def _is_dataset(obj: Any) -> bool:
    # The classes live in pyarrow._dataset (FileSystemDataset, InMemoryDataset, ...), re-exported
    # by pyarrow.dataset; check the module first so pyarrow.dataset is imported only when needed.
    module = type(obj).__module__
    if not (module.startswith("pyarrow.dataset") or module.startswith("pyarrow._dataset")):
        return False
    import pyarrow.dataset as ds

    return isinstance(obj, ds.Dataset)


class BatchSource:
    """Data to fit on, read as a sequence of tables, possibly more than once.

    ``passes_allowed`` is 1 for one-shot inputs (generators, RecordBatchReaders) and unbounded
    for inputs that can be read again (in-memory tables, lists, Parquet files and datasets).
    """

    def __init__(self, data: Any) -> None:
        self._table: pa.Table | None = None
        self._dataset: Any = None
        self._items: list[Any] | None = None
        self._iterator: Iterator[Any] | None = None
        self.reiterable = True

        if _is_path_like(data) or (
            isinstance(data, (list, tuple)) and data and all(_is_path_like(p) for p in data)
        ):
            self._dataset = _open_parquet(data)
            self.schema = self._dataset.schema
        elif _is_dataset(data):
            self._dataset = data
            self.schema = data.schema
        elif isinstance(data, pa.RecordBatchReader):
            self._iterator = iter(data)
            self.schema = data.schema
            self.reiterable = False
        elif (
            isinstance(data, (pa.Table, pa.RecordBatch, Mapping))
            or _is_pandas(data)
            or _is_polars(data)
        ):
            self._table = to_table(data)
            self.schema = self._table.schema
        elif isinstance(data, (list, tuple)):
            if not data:
                raise InvalidInputError("cannot fit on an empty list of batches")
            self._items = list(data)
            self.schema = to_table(self._items[0]).schema
        elif hasattr(data, "__arrow_c_stream__"):
            self._table = to_table(data)
            self.schema = self._table.schema
        elif isinstance(data, Iterable):
            iterator = iter(data)
            try:
                first = next(iterator)
            except StopIteration:
                raise InvalidInputError("cannot fit on an empty iterable of batches") from None
            self._iterator = itertools.chain([first], iterator)
            self.schema = to_table(first).schema
            self.reiterable = False
        else:
            to_table(data)  # raises the DTypeError that names what is accepted
            raise AssertionError("unreachable")
        self._passes = 0

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)

    @property
    def in_memory_rows(self) -> int | None:
        """The number of rows when the data is one table in memory; None when it is streamed."""
        return self._table.num_rows if self._table is not None else None

    def require(self, columns: Iterable[str]) -> None:
        names = set(self.schema.names)
        missing = [c for c in columns if c not in names]
        if missing:
            raise MissingColumnError(
                f"column {missing[0]!r} is not in the data (it has: {', '.join(self.schema.names)})"
            )

    def batches(self, columns: list[str]) -> Iterator[pa.Table]:
        """One pass over the data, as tables holding just `columns`."""
        if self._passes > 0 and not self.reiterable:
            raise InvalidInputError(
                "this pipeline must read the data more than once (chained ops are fit in turn), "
                "but the input is a one-shot iterator: pass a list of batches, a Parquet path or "
                "a pyarrow dataset instead"
            )
        self._passes += 1
        if self._table is not None:
            yield self._table.select(columns)
        elif self._dataset is not None:
            for batch in self._dataset.to_batches(columns=columns):
                yield pa.Table.from_batches([batch])
        else:
            items = self._items if self._items is not None else self._iterator
            assert items is not None
            for item in items:
                table = to_table(item)
                names = set(table.column_names)
                missing = [c for c in columns if c not in names]
                if missing:
                    raise MissingColumnError(f"column {missing[0]!r} is missing from a batch")
                yield table.select(columns)


def _open_parquet(paths: Any) -> Any:
    import pyarrow.dataset as ds

    files = (
        [str(Path(p)) for p in paths] if isinstance(paths, (list, tuple)) else [str(Path(paths))]
    )
    for p in files:
        if not Path(p).exists():
            raise InvalidInputError(f"no such file or directory: {p}")
    sources: str | list[str] = files if isinstance(paths, (list, tuple)) else files[0]
    try:
        return ds.dataset(sources, format="parquet")
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInputError(f"cannot read Parquet from {paths}: {exc}") from exc


# --- two sides compared column by column (drift reports, seawall.stats.by_column) ----------


class TableSource:
    """One side's data: its column names, and its columns read on demand (Parquet: only those)."""

    def __init__(self, data: Any, which: str) -> None:
        self.which = which
        self._dataset: Any = None
        self._table: pa.Table | None = None
        if _is_path_like(data) or (
            isinstance(data, (list, tuple)) and data and all(_is_path_like(p) for p in data)
        ):
            self._dataset = _open_parquet(data)
            self.names: list[str] = list(self._dataset.schema.names)
        elif _is_dataset(data):
            self._dataset = data
            self.names = list(data.schema.names)
        else:
            self._table = to_table(data)
            self.names = list(self._table.column_names)

    def read(self, columns: list[str]) -> pa.Table:
        if self._table is not None:
            return self._table.select(columns)
        return self._dataset.to_table(columns=columns)


def pair_columns(columns: Any, ref_names: list[str], cur_names: list[str]) -> list[str]:
    """The columns to compare (all of both sides' by default), each present on both sides."""
    # sets: one lookup per column, linear in the number of columns
    names = {"reference": set(ref_names), "current": set(cur_names)}
    if columns is None:
        wanted = list(ref_names)
        wanted += [c for c in cur_names if c not in names["reference"]]
    else:
        if isinstance(columns, str) or not isinstance(columns, Iterable):
            raise InvalidInputError(f"columns must be a list of column names, got {columns!r}")
        wanted = list(columns)
        for c in wanted:
            if not isinstance(c, str):
                raise InvalidInputError(f"column names must be strings, got {c!r}")
        if len(set(wanted)) != len(wanted):
            raise InvalidInputError(f"columns lists a column more than once: {wanted}")
    if not wanted:
        raise InvalidInputError("there are no columns to compare")
    for c in wanted:
        for side, other in (("reference", "current"), ("current", "reference")):
            if c not in names[side]:
                hint = (
                    " (pass columns=[...] to compare a subset)"
                    if columns is None and c in names[other]
                    else ""
                )
                raise MissingColumnError(
                    f"column {c!r} is not in the {side} data"
                    + (f" (it is in the {other} data)" if c in names[other] else "")
                    + hint
                )
    return wanted
