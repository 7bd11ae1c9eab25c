"""Schema inference: what a dataset (or its profile) already satisfies, as a starting contract.

TFDV's rules (``tfdv.infer_schema``; ``anomalies/schema.cc``, ``feature_util.cc``,
``string_domain_util.cc`` in tensorflow/data-validation), per feature:

- the type comes from the statistics;
- presence: ``min_count`` 1 when the feature is present in at least one example (else 0);
  ``min_fraction`` 1 when it is never missing, else unset;
- a string domain of every value when the feature has at most ``max_string_domain_size``
  (100) distinct values and none is invalid UTF-8, else none;
- integer and float features get a domain without bounds: no range, NaN and infinities allowed;
- no uniqueness, no skew or drift thresholds.

Where seawall differs, and why:

- **Types.** From data, the Arrow type: ``"integer"``, ``"float"`` (floats and decimals),
  ``"boolean"``, ``"string"`` (strings and dictionaries of strings); a column of the Arrow null
  type gets no type (None: presence only). From a profile, which keeps only numbers versus
  strings, a numeric column is ``"float"`` (which also accepts integers) and a column without
  any value gets no type.
- **Presence.** As TFDV when a column is never missing (``min_fraction`` 1) or never present
  (no requirement). In between, ``min_fraction`` is the observed share of non-null rows less
  `presence_margin` (0.05), where TFDV leaves it unset: a column that goes from 2% to 40% null
  must not pass silently.
- **Range.** ``[min - m * span, max + m * span]`` with ``m = range_margin`` (0.1) and ``span =
  max - min``, never below 0 when the observed minimum is at least 0 (a non-negative column
  stays non-negative), integer columns rounded outwards (their bounds come from exact minima
  and maxima, also past 2**53). A side with infinite values is left open, and then the other
  side gets no margin. TFDV infers no range.
- **NaN and infinities** are allowed in a float column only when the data holds some (TFDV
  allows both unless told otherwise).
- **Domains** come from the profile's top values, which are exact while a column has at most
  ``top_k`` distinct values: from data, ``top_k`` is raised to ``max_domain_size + 1`` so the
  rule is TFDV's; from a profile, a column with more distinct values than its ``top_k`` gets no
  domain even if it has fewer than `max_domain_size`.
- **Uniqueness**: ``infer_unique=True`` (data only) marks the integer and string columns whose
  values all differ (checked exactly, in the same pass) as ``unique()``. TFDV never infers it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .. import _core
from .._data import BatchSource
from ..errors import DTypeError, InvalidInputError
from ..profiles import Profile
from ._types import native_columns, type_of
from .schema import ColumnSchema, Schema
from .validate import tables_or_empty

__all__ = ["infer_schema"]

# A profile's top-value summary holds at most this many counters (FrequentItems::kMaxCapacity).
_MAX_TOP_K = 4096
_DEFAULT_TOP_K = 64


def _check_options(max_domain_size: Any, range_margin: Any, presence_margin: Any) -> None:
    if (
        isinstance(max_domain_size, bool)
        or not isinstance(max_domain_size, int)
        or not 0 <= max_domain_size < _MAX_TOP_K
    ):
        raise InvalidInputError(
            f"max_domain_size must be an integer from 0 to {_MAX_TOP_K - 1}, got {max_domain_size!r}"
        )
    for label, value in (("range_margin", range_margin), ("presence_margin", presence_margin)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInputError(f"{label} must be a number, got {value!r}")
        if not (math.isfinite(value) and value >= 0):
            raise InvalidInputError(f"{label} must be a finite number >= 0, got {value!r}")
    if presence_margin > 1:
        raise InvalidInputError(f"presence_margin must be at most 1, got {presence_margin!r}")


class _Exact:
    """What the profile does not keep exactly, gathered in the same pass: integer minima and
    maxima (a profile holds float64) and, with infer_unique, repeats."""

    def __init__(self, names: list[str], types: dict[str, str | None], unique: bool) -> None:
        self.integers = [n for n in names if types[n] == "integer"]
        self.minmax: dict[str, tuple[int, int]] = {}
        self.candidates = [n for n in names if unique and types[n] in ("integer", "string")]
        kinds = ["string" if types[n] == "string" else "numeric" for n in self.candidates]
        self._kinds = kinds
        self._validator = (
            _core.ContractValidator(
                [
                    {"name": n, "kind": k, "track_distinct": True}
                    for n, k in zip(self.candidates, kinds, strict=True)
                ],
                0,
            )
            if self.candidates
            else None
        )
        self._rows = 0

    def feed(self, tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
        for table in tables:
            for name in self.integers:
                lo, hi = pc.min_max(table.column(name)).values()
                if lo.is_valid:
                    seen = self.minmax.get(name)
                    lo_v, hi_v = int(lo.as_py()), int(hi.as_py())
                    self.minmax[name] = (
                        (lo_v, hi_v) if seen is None else (min(seen[0], lo_v), max(seen[1], hi_v))
                    )
            if self._validator is not None:
                self._validator.update(
                    native_columns(table, self.candidates, self._kinds), self._rows
                )
            self._rows += table.num_rows
            yield table

    def unique_columns(self) -> set[str]:
        if self._validator is None:
            return set()
        out = set()
        for name, r in zip(self.candidates, self._validator.results(), strict=True):
            if r["checks"]["duplicate"][0] == 0 and r["distinct"] >= 2:
                out.add(name)
        return out


def infer_schema(
    data: Any,
    columns: Sequence[str] | None = None,
    *,
    max_domain_size: int = 100,
    range_margin: float = 0.1,
    presence_margin: float = 0.05,
    infer_unique: bool = False,
) -> Schema:
    """See :meth:`seawall.Schema.infer` and the module docstring for the rules."""
    _check_options(max_domain_size, range_margin, presence_margin)
    exact: _Exact | None = None
    if isinstance(data, Profile):
        if infer_unique:
            raise InvalidInputError(
                "uniqueness cannot be inferred from a profile (it keeps no exact distinct "
                "count): infer from the data, or mark columns with .unique()"
            )
        profile = data
        names = _pick(columns, profile.columns)
        for n in names:
            profile.kind(n)  # MissingColumnError naming it
        types: dict[str, str | None] = {}
        for n in names:
            s = profile.stats(n)
            if s["count"] == 0 and s["nans"] == 0:
                types[n] = None  # no value: a profile keeps no type for it
            else:
                types[n] = "float" if s["kind"] == "numeric" else "string"
    else:
        source = BatchSource(data)
        names = _pick(columns, source.column_names)
        source.require(names)
        types = {}
        for n in names:
            t = source.schema.field(n).type
            kind = type_of(t)
            if kind is None:
                raise DTypeError(
                    f"column {n!r}: a schema describes integers, floats, booleans and strings, "
                    f"got {t} (cast it, or leave it out with columns=[...])"
                )
            types[n] = None if kind == "null" else kind
        exact = _Exact(names, types, bool(infer_unique))
        tables = exact.feed(tables_or_empty(source.batches(names), source.schema, names))
        top_k = max(_DEFAULT_TOP_K, max_domain_size + 1)
        profile = Profile.from_data(tables, top_k=top_k)
    unique = exact.unique_columns() if exact is not None else set()
    out = []
    for name in names:
        column = _column(
            name,
            types[name],
            profile,
            exact.minmax.get(name) if exact is not None else None,
            max_domain_size=max_domain_size,
            range_margin=float(range_margin),
            presence_margin=float(presence_margin),
        )
        if name in unique:
            column.unique()
        out.append(column)
    return Schema(out)


def _pick(columns: Sequence[str] | None, available: list[str]) -> list[str]:
    if columns is None:
        names = list(available)
    else:
        if isinstance(columns, str):
            raise InvalidInputError("columns must be a list of column names, not a string")
        names = list(columns)
        if len(set(names)) != len(names):
            raise InvalidInputError(f"columns repeat a name: {names}")
    if not names:
        raise InvalidInputError("there are no columns to infer a schema for")
    return names


def _column(
    name: str,
    type_: str | None,
    profile: Profile,
    integer_minmax: tuple[int, int] | None,
    *,
    max_domain_size: int,
    range_margin: float,
    presence_margin: float,
) -> ColumnSchema:
    column = ColumnSchema(name, type_)  # type: ignore[arg-type]
    s = profile.stats(name)
    rows, present = int(s["rows"]), int(s["rows"]) - int(s["nulls"])
    # Presence: TFDV's min_count; min_fraction 1 when never missing, else the observed share less
    # the margin (floored to 6 decimals, so the data itself passes).
    column.min_count = 1 if present >= 1 else 0
    if rows > 0 and present == rows:
        column.min_fraction = 1.0
    elif present > 0:
        share = math.floor((present / rows - presence_margin) * 1e6) / 1e6
        column.min_fraction = share if share > 0 else None
    if type_ == "float":
        column.allow_nan(int(s["nans"]) > 0)
        column.allow_inf(int(s["pos_inf"]) + int(s["neg_inf"]) > 0)
    if type_ in ("integer", "float") and int(s["count"]) > 0:
        lo, hi = _inferred_range(s, integer_minmax, range_margin)
        column.range(lo, hi)
    if type_ == "string" and int(s["count"]) > 0 and s["frequent_exact"]:
        top = profile.top_values(name, int(profile.options["top_k"]))
        if len(top) <= max_domain_size:
            column.domain(sorted(v for v, _ in top))
    return column


def _inferred_range(
    s: dict[str, Any], integer_minmax: tuple[int, int] | None, margin: float
) -> tuple[int | float | None, int | float | None]:
    """The observed [min, max] widened by `margin` of the span (module docstring)."""
    open_lo, open_hi = int(s["neg_inf"]) > 0, int(s["pos_inf"]) > 0
    if integer_minmax is not None:
        lo_i, hi_i = integer_minmax
        pad_i = math.ceil(margin * (hi_i - lo_i))
        lower_i = lo_i - pad_i
        if lo_i >= 0:
            lower_i = max(0, lower_i)
        return lower_i, hi_i + pad_i
    lo, hi = float(s["min"]), float(s["max"])
    pad = margin * (hi - lo) if not (open_lo or open_hi) else 0.0
    if not math.isfinite(pad):
        pad = 0.0
    lower: float | None = None if open_lo else lo - pad
    upper: float | None = None if open_hi else hi + pad
    if lower is not None and lo >= 0:
        lower = max(0.0, lower)
    if lower is not None and not math.isfinite(lower):
        lower = None
    if upper is not None and not math.isfinite(upper):
        upper = None
    return lower, upper
