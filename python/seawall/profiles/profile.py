"""Profile: per-column summary statistics of a table, in one native pass, mergeable and small.

What each column keeps, and the error of each estimate:

* rows, nulls, NaNs (floats), count, min, max: exact. NaN is counted apart and excluded from
  everything else; +-inf are values (they count in min, max, quantiles and distinct).
* mean, variance (population, ddof=0, as numpy.nanvar): count/mean/M2 merged with Chan et al.'s
  formula, so any split and grouping agrees to within rounding (about 1e-15 relative).
* quantiles: a KLL sketch (k=200 by default); the normalized rank error of one query is below
  ``KllSketch.rank_error_bound(k)`` = 4/k (0.02 for k=200) with at least 99.9% probability;
  exact (numpy.quantile, bit for bit) while the column has fewer than about k values. A column
  with no values (no rows, or only nulls and NaN) has no quantiles: ``quantiles`` and ``rank``
  raise InvalidInputError naming it, as numpy.quantile raises on an empty array.
* histogram: derived from the sketch at query time (``histogram(column, bins)``), so its counts
  carry the same rank error, n * 4/k per bin edge; no bins are fixed in advance.
* distinct: HyperLogLog with 2^p registers (p=12: 4 KiB), Ertl's estimator; relative standard
  error 1.04/sqrt(2^p) (1.6% for p=12). Numbers are hashed by their float64 bytes (integers beyond
  2^53 are rounded to float64 first), strings by their UTF-8 bytes.
* top values (string columns): a Misra-Gries summary of ``top_k`` counters (64 by default);
  every reported count is a lower bound, at most ``error_bound`` = (n - stored)/(top_k + 1)
  below the truth, and exact (error_bound 0) while the column has at most top_k distinct values.

Merging: profiles merge only when they have the same columns (by name, any order) of the same
kinds and were made with the same options. A column present in one profile only is an error
(InvalidInputError) rather than a union, because every column of a profile describes the same
rows: a union would make the row counts of its columns disagree. A column that is numeric in one
profile and strings in the other raises DTypeError.

Size: independent of the row count; a numeric column takes about 10 KiB with the defaults, and
at most 64 KiB with any allowed options (sketch_k <= 1024, hll_precision <= 14).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from .. import _core
from .._data import BatchSource, column_chunks, prepare_column
from .._files import write_atomic
from ..errors import (
    DTypeError,
    IntegrityError,
    InvalidInputError,
    MissingColumnError,
    UnsupportedVersionError,
)

__all__ = ["FORMAT_VERSION", "MAGIC", "ColumnCounts", "Profile", "is_profile_file"]

MAGIC = b"SWPF"
FORMAT_VERSION = 1
DEFAULT_QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
MAX_BINS = 1 << 20


def _kind_of(name: str, t: pa.DataType) -> str:
    """'numeric' or 'string' for the types a profile reads; DTypeError naming the column otherwise."""
    if (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
        or pa.types.is_null(t)
    ):
        return "numeric"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_dictionary(t) and (
        pa.types.is_string(t.value_type)
        or pa.types.is_large_string(t.value_type)
        or pa.types.is_string_view(t.value_type)
    ):
        return "string"
    raise DTypeError(
        f"column '{name}': profiles read numbers and strings, got {t} "
        "(cast it, or leave it out with columns=[...])"
    )


class ColumnCounts(NamedTuple):
    """A column's exact counts (as :meth:`Profile.stats` names them, but ``values`` for its
    ``count``: the values that count, numbers with infinities or strings); min and max are NaN
    for strings and for a column without values. ``sketch_exact``: the quantile sketch holds
    every value; ``frequent_exact``: the top-value summary holds every string with its count."""

    kind: str
    rows: int
    nulls: int
    nans: int
    values: int
    pos_inf: int
    neg_inf: int
    min: float
    max: float
    sketch_exact: bool
    frequent_exact: bool


def is_profile_file(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a file that starts like a saved profile (its magic bytes): how the
    command lines tell a profile from Parquet data."""
    target = Path(path)
    if not target.is_file():
        return False
    with target.open("rb") as f:
        return f.read(len(MAGIC)) == MAGIC


class Profile:
    """Summary statistics of each column of a table; build with :meth:`from_data`."""

    def __init__(self, state: Any) -> None:
        self._state = state
        self._index = {name: i for i, name in enumerate(state.names)}
        self._kinds = list(state.kinds)  # a profile's state never changes once wrapped

    # --- building -----------------------------------------------------------------------------

    @classmethod
    def from_data(
        cls,
        data: Any,
        columns: Sequence[str] | None = None,
        *,
        sketch_k: int = 200,
        hll_precision: int = 12,
        top_k: int = 64,
    ) -> Profile:
        """Profiles `data`: anything :class:`seawall._data.BatchSource` reads (tables, pandas and
        polars frames, dicts of arrays, Parquet paths and datasets, iterables of batches).

        Each batch is profiled natively (in parallel over columns and fixed row segments) and
        merged into the running profile, so memory does not grow with the data. `columns`
        defaults to every column. Data with no rows gives a profile whose counts are 0.
        """
        for label, value in (
            ("sketch_k", sketch_k),
            ("hll_precision", hll_precision),
            ("top_k", top_k),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInputError(f"{label} must be an integer, got {value!r}")
            if not 0 < value < 2**31:  # the exact range is checked natively, naming it too
                raise InvalidInputError(f"{label} must be a positive integer, got {value!r}")
        source = BatchSource(data)
        if columns is None:
            names = source.column_names
        else:
            if isinstance(columns, str):
                raise InvalidInputError("columns must be a list of column names, not a string")
            names = list(columns)
            if len(set(names)) != len(names):
                raise InvalidInputError(f"columns repeat a name: {names}")
            source.require(names)
        if not names:
            raise InvalidInputError("there are no columns to profile")
        kinds = [_kind_of(n, source.schema.field(n).type) for n in names]
        state = None
        for batch in source.batches(names):
            native = []
            for name, kind in zip(names, kinds, strict=True):
                column = batch.column(name)
                if _kind_of(name, column.type) != kind:
                    raise DTypeError(
                        f"column '{name}' changes type between batches ({kind} first, then {column.type})"
                    )
                native.append((name, column_chunks(prepare_column(column, name, kind == "string"))))
            part = _core.profile_batch(native, kinds, sketch_k, hll_precision, top_k)
            if state is None:
                state = part
            else:
                state.merge(part)
        if state is None:  # a dataset with no fragments: profile an empty table
            empty = pa.table({n: pa.array([], type=source.schema.field(n).type) for n in names})
            native = [
                (n, column_chunks(prepare_column(empty.column(n), n, k == "string")))
                for n, k in zip(names, kinds, strict=True)
            ]
            state = _core.profile_batch(native, kinds, sketch_k, hll_precision, top_k)
        return cls(state)

    # --- merging ------------------------------------------------------------------------------

    def merge(self, other: Profile) -> Profile:
        """A new profile of the rows of both; neither input changes."""
        if not isinstance(other, Profile):
            raise InvalidInputError(f"can only merge a Profile, got {type(other).__name__}")
        mine, theirs = set(self.columns), set(other.columns)
        if mine != theirs:
            only = sorted(mine ^ theirs)
            raise InvalidInputError(
                f"profiles must have the same columns to merge; only one has {only}"
            )
        for name in self.columns:
            a, b = self.kind(name), other.kind(name)
            if a != b:
                raise DTypeError(f"column '{name}' is {a} in one profile and {b} in the other")
        if self._state.options != other._state.options:
            raise InvalidInputError(
                "profiles made with different options cannot be merged: "
                f"(sketch_k, hll_precision, top_k) = {self._state.options} vs {other._state.options}"
            )
        state = self._state.copy()
        state.merge(other._state)
        return Profile(state)

    # --- reading ------------------------------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        return list(self._state.names)

    @property
    def options(self) -> dict[str, int]:
        k, p, top = self._state.options
        return {"sketch_k": k, "hll_precision": p, "top_k": top}

    @property
    def num_rows(self) -> int:
        return int(self._state.summary(0)["rows"]) if self._index else 0

    def _i(self, column: str) -> int:
        if not isinstance(column, str):
            raise InvalidInputError(f"a column name is a string, got {column!r}")
        try:
            return self._index[column]
        except KeyError:
            raise MissingColumnError(
                f"column {column!r} is not in this profile (it has: {', '.join(self.columns)})"
            ) from None

    def kind(self, column: str) -> str:
        return str(self._kinds[self._i(column)])

    def stats(self, column: str) -> dict[str, Any]:
        """Raw statistics of one column (counts, moments, min/max, distinct, error bounds)."""
        return dict(self._state.summary(self._i(column)))

    def counts(self) -> dict[str, ColumnCounts]:
        """Every column's exact counts and min/max, in one native call that computes no
        estimate (a schema check reads these first; :meth:`stats` adds the estimates)."""
        return {
            name: ColumnCounts(*row)
            for name, row in zip(self._state.names, self._state.counts(), strict=True)
        }

    def quantiles(self, column: str, qs: Iterable[float]) -> list[float]:
        """Quantiles with numpy's 'linear' method, within the sketch's rank error (numeric only).

        A column with no values (all null or NaN, or no rows) has no quantiles: that raises
        InvalidInputError naming the column, as :meth:`rank` does (``to_dict`` reports None).
        """
        self._require_values(column)
        if isinstance(qs, (str, bytes)) or not isinstance(qs, Iterable):
            raise InvalidInputError(f"qs must be a list of numbers in [0, 1], got {qs!r}")
        values = []
        for q in qs:
            if isinstance(q, bool) or not isinstance(q, (int, float, np.integer, np.floating)):
                raise InvalidInputError(f"quantiles must be numbers in [0, 1], got {q!r}")
            if not 0.0 <= float(q) <= 1.0:
                raise InvalidInputError(f"quantiles must be in [0, 1], got {q}")
            values.append(float(q))
        return self._state.quantiles(self._i(column), values).tolist()

    def rank(self, column: str, x: float) -> float:
        """Estimated fraction of values <= x (numeric only; an error for a column with no values)."""
        self._require_values(column)
        if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
            raise InvalidInputError(f"rank needs a real number, got {x!r}")
        if isinstance(x, int) and abs(x) >= 2**1024:  # past every float: beyond every value
            x = math.inf if x > 0 else -math.inf
        if math.isnan(x):
            raise InvalidInputError("rank of NaN is undefined")
        return float(self._state.ranks(self._i(column), [float(x)])[0])

    def histogram(self, column: str, bins: int = 10) -> tuple[list[float], list[float]]:
        """(edges, counts) over bins equal-width bins spanning [min, max], from the sketch: each
        count is within 2 * n * rank_error_bound(k) of the truth. Empty lists for no values or
        non-finite bounds."""
        self._require_numeric(column)
        if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
            raise InvalidInputError(f"bins must be an integer from 1 to {MAX_BINS}, got {bins!r}")
        s = self.stats(column)
        lo, hi, n = s["min"], s["max"], s["count"]
        if n == 0 or not (math.isfinite(lo) and math.isfinite(hi)):
            return [], []
        if lo == hi:
            return [lo, hi], [float(n)]
        edges = [lo + (hi - lo) * i / bins for i in range(bins)] + [hi]
        ranks = self._state.ranks(self._i(column), edges[1:-1]).tolist()
        cdf = [0.0, *ranks, 1.0]
        # The first bin also holds the values equal to min (numpy's closed first/last bins).
        counts = [n * (cdf[i + 1] - cdf[i]) for i in range(bins)]
        return edges, counts

    def distinct(self, column: str) -> float:
        """Estimated number of distinct values (HyperLogLog; NaN and null excluded)."""
        return float(self._state.summary(self._i(column))["distinct"])

    def top_values(self, column: str, n: int = 10) -> list[tuple[str, int]]:
        """Most frequent strings with their (lower-bound) counts, most frequent first."""
        if self.kind(column) != "string":
            raise DTypeError(f"column '{column}' holds numbers: top values are kept for strings")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidInputError(f"n must be a non-negative integer, got {n!r}")
        n = min(n, self.options["top_k"])  # no more are kept
        return [(v, int(c)) for v, c in self._state.top(self._i(column), n)]

    def _require_numeric(self, column: str) -> None:
        if self.kind(column) != "numeric":
            raise DTypeError(f"column '{column}' holds strings: quantiles need numbers")

    def _require_values(self, column: str) -> None:
        self._require_numeric(column)
        s = self.stats(column)
        if s["count"] == 0:
            raise InvalidInputError(
                f"column '{column}' has no values ({s['rows']} rows: {s['nulls']} null, "
                f"{s['nans']} NaN), so no quantiles or ranks"
            )

    def to_dict(
        self, quantiles: Sequence[float] = DEFAULT_QUANTILES, top: int = 10
    ) -> dict[str, Any]:
        """A readable summary: per column count, nulls, mean, std, min, max, quantiles, distinct
        estimate, top values (strings). Missing statistics are None."""

        def num(x: float) -> float | None:
            return None if math.isnan(x) else float(x)

        out: dict[str, Any] = {"rows": self.num_rows, "options": self.options, "columns": {}}
        for name in self.columns:
            s = self.stats(name)
            entry: dict[str, Any] = {
                "kind": s["kind"],
                "count": int(s["count"]),
                "nulls": int(s["nulls"]),
                "distinct": round(float(s["distinct"])),
            }
            if s["kind"] == "numeric":
                qs = self.quantiles(name, quantiles) if s["count"] else [math.nan] * len(quantiles)
                entry.update(
                    nans=int(s["nans"]),
                    mean=num(s["mean"]),
                    std=num(math.sqrt(s["variance"])) if s["variance"] >= 0 else None,
                    min=num(s["min"]),
                    max=num(s["max"]),
                    quantiles={str(q): num(v) for q, v in zip(quantiles, qs, strict=True)},
                )
            else:
                entry.update(
                    top_values=self.top_values(name, top),
                    top_values_exact=bool(s["frequent_exact"]),
                    top_values_error_bound=int(s["frequent_error_bound"]),
                )
            out["columns"][name] = entry
        return out

    def __repr__(self) -> str:
        return f"Profile({self.num_rows} rows, columns={self.columns})"

    # --- saving -------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        return bytes(self._state.serialize())

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "the data") -> Profile:
        if isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if not isinstance(data, bytes):
            raise DTypeError(f"a profile is read from bytes, got {type(data).__name__}")
        if len(data) < 8 or data[:4] != MAGIC:
            raise IntegrityError(f"{source} is not a seawall profile")
        (version,) = struct.unpack_from("<H", data, 4)
        if version > FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"{source} uses profile format version {version}, but this seawall reads up to "
                f"{FORMAT_VERSION}: upgrade seawall to load it"
            )
        try:
            state = _core.ProfileState.deserialize(data)
        except IntegrityError as exc:
            raise IntegrityError(f"{source}: {exc}") from exc
        return cls(state)

    @property
    def nbytes(self) -> int:
        """Size of the saved form."""
        return len(self.to_bytes())

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the profile atomically: the file is the old one or the new one, never half written."""
        write_atomic(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Profile:
        """Reads a profile written by save(), checking its format version and checksum."""
        return cls.from_bytes(Path(path).read_bytes(), source=str(path))
