"""Validating data against a schema: one native pass, exact counts, the first failing rows.

The data is read batch by batch (a table, a pandas or polars frame, Parquet files or a dataset,
an iterable of record batches: what :class:`seawall._data.BatchSource` reads), and each batch's
checked columns go to the native validator (``cpp/src/contracts/validator.cpp``) with the GIL
released, which counts every rule's failures over fixed row segments on the native thread pool
and keeps the first ``row_limit`` failing rows of each. Memory stays constant over the stream,
except for ``unique()`` and ``distinct()`` columns, which hold their distinct values.

Semantics (the anomaly kinds are listed in :mod:`seawall.contracts.report`):

- Presence counts non-null values. Pandas marks missing numbers with NaN, which Arrow reads as
  null, so a pandas column's NaN are missing values here; NaN inside Arrow float data are values,
  checked by ``allow_nan`` (as TFDV does).
- Shares are compared exactly (as fractions of integers), never with a rounded division.
- A range compares every non-null, non-NaN value, infinities included; integer columns are
  compared exactly, also past 2**53.
- A string whose bytes are not UTF-8 is counted as ``invalid_utf8`` (always an anomaly) and is
  neither in nor out of the domain.
- ``unique()``: a value equal to an earlier row's is a repeat (null and NaN excluded; 3 and 3.0
  are equal); ``rows`` are the repeats, not their first occurrences.
- A column whose type the schema does not accept is reported (``type_mismatch``) and not read.
  A column whose type changes between batches raises :class:`~seawall.errors.DTypeError`
  naming it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import _core
from .._data import BatchSource
from ..errors import DTypeError, InvalidInputError
from ..profiles import Profile
from ._anomalies import above, anomaly, bound_text, distinct_anomalies, pct, presence_anomalies
from ._types import accepts, describe, native_columns, native_kind, type_of
from .report import Anomaly, ColumnSummary, ValidationReport

if TYPE_CHECKING:
    from .schema import ColumnSchema, Schema

__all__ = ["native_rule", "validate"]

# Unexpected string values named in an anomaly (all of them are counted).
SHOWN_VALUES = 10
MAX_ROW_LIMIT = 1_000_000
_INT_CLAMP = 1 << 100  # integer bounds past every 64-bit value


def _float_at_least(bound: int | float | None) -> float | None:
    """The smallest double >= bound: x < bound exactly when x < it, for any double x."""
    if bound is None:
        return None
    try:
        f = float(bound)
    except OverflowError:
        return math.inf if bound > 0 else -math.inf
    return math.nextafter(f, math.inf) if f < bound else f


def _float_at_most(bound: int | float | None) -> float | None:
    """The largest double <= bound."""
    if bound is None:
        return None
    try:
        f = float(bound)
    except OverflowError:
        return math.inf if bound > 0 else -math.inf
    return math.nextafter(f, -math.inf) if f > bound else f


def _words(value: int) -> tuple[int, int]:
    """A 128-bit integer as (high, low) 64-bit words, for the native rule."""
    value = max(-_INT_CLAMP, min(_INT_CLAMP, value))
    return value >> 64, value & ((1 << 64) - 1)


def native_rule(column: ColumnSchema) -> dict[str, Any]:
    """The native validator's rule for a column with a type."""
    rule: dict[str, Any] = {
        "name": column.name,
        "kind": native_kind(column.type),
        "track_distinct": column.unique_values
        or column.distinct_min is not None
        or column.distinct_max is not None,
    }
    if column.numeric:
        lo, hi = column.lower, column.upper
        rule["float_lo"] = _float_at_least(lo)
        rule["float_hi"] = _float_at_most(hi)
        rule["int_lo"] = None if lo is None else _words(math.ceil(lo))
        rule["int_hi"] = None if hi is None else _words(math.floor(hi))
    if column.type == "string" and column.allowed_values is not None:
        rule["domain"] = list(column.allowed_values)
    return rule


def _check_row_limit(row_limit: Any) -> int:
    if (
        isinstance(row_limit, bool)
        or not isinstance(row_limit, (int, np.integer))
        or not 0 <= row_limit <= MAX_ROW_LIMIT
    ):
        raise InvalidInputError(
            f"row_limit must be an integer from 0 to {MAX_ROW_LIMIT:,}, got {row_limit!r}"
        )
    return int(row_limit)


def validate(
    schema: Schema,
    data: Any,
    *,
    environment: str | None = None,
    row_limit: int = 20,
    serving: Any = None,
    previous: Any = None,
) -> ValidationReport:
    """See :meth:`seawall.Schema.validate`."""
    from .from_profile import comparisons, validate_profile

    row_limit = _check_row_limit(row_limit)
    schema.check_environment(environment)
    if isinstance(data, Profile):
        report = validate_profile(schema, data, environment=environment, row_limit=row_limit)
        profile: Profile | None = data
    else:
        wants_profile = _compares(schema, serving, previous)
        report, profile = _validate_data(schema, data, environment, row_limit, wants_profile)
    if serving is None and previous is None:
        return report
    assert profile is not None
    return comparisons(schema, report, profile, serving=serving, previous=previous)


def _compares(schema: Schema, serving: Any, previous: Any) -> bool:
    return any(
        (serving is not None and c.skew_thresholds) or (previous is not None and c.drift_thresholds)
        for c in schema
    )


def _validate_data(
    schema: Schema, data: Any, environment: str | None, row_limit: int, wants_profile: bool
) -> tuple[ValidationReport, Profile | None]:
    source = BatchSource(data)
    names = source.column_names
    present = set(names)
    anomalies: list[Anomaly] = []
    checked: list[ColumnSchema] = []
    for column in schema:
        if column.name not in present:
            if column.required(environment):
                where = f" in {environment}" if environment else ""
                anomalies.append(
                    anomaly(column.name, "missing_column", f"the column expected{where} is absent")
                )
            continue
        t = source.schema.field(column.name).type
        if type_of(t) is None or not accepts(column.type, t):
            anomalies.append(
                anomaly(
                    column.name,
                    "type_mismatch",
                    f"expected {column.type}, got {describe(t)}",
                    tfdv=_tfdv_type_mismatch(column.type, type_of(t)),
                )
            )
            continue
        checked.append(column)
    for name in names:
        if name not in schema:
            anomalies.append(
                anomaly(name, "new_column", "the data has a column the schema does not describe")
            )
    native = [c for c in checked if c.type is not None]
    untyped = [c for c in checked if c.type is None]
    kinds = [native_kind(c.type) for c in native]
    validator = _core.ContractValidator([native_rule(c) for c in native], row_limit)
    untyped_nulls = {c.name: _NullCount(row_limit) for c in untyped}
    read = [c.name for c in checked]
    rows = 0

    def tables() -> Iterator[pa.Table]:
        nonlocal rows
        for table in source.batches(read):
            for column in checked:
                t = table.schema.field(column.name).type
                if type_of(t) is None or not accepts(column.type, t):
                    raise DTypeError(
                        f"column {column.name!r} changes type between batches: {t} after "
                        f"{source.schema.field(column.name).type}"
                    )
            validator.update(native_columns(table, [c.name for c in native], kinds), rows)
            for name, counter in untyped_nulls.items():
                counter.add(table.column(name), rows)
            rows += table.num_rows
            yield table

    profile = None
    if wants_profile:
        profile = Profile.from_data(tables_or_empty(tables(), source.schema, read))
    else:
        for _ in tables():
            pass
    data_types = {c.name: describe(source.schema.field(c.name).type) for c in checked}
    summaries = []
    for column, result in zip(native, validator.results(), strict=True):
        summaries.append(_summary(column, data_types[column.name], result))
        anomalies.extend(_column_anomalies(column, result, environment, row_limit))
    for column in untyped:
        counter = untyped_nulls[column.name]
        result = {"rows": rows, "checks": {"null": (counter.count, counter.rows)}}
        summaries.append(_summary(column, data_types[column.name], result))
        anomalies.extend(_column_anomalies(column, result, environment, row_limit))
    order = {name: i for i, name in enumerate([*schema.columns, *names])}
    anomalies.sort(key=lambda a: order.get(a.column, len(order)))
    report = ValidationReport(
        anomalies=tuple(anomalies),
        columns=tuple(summaries),
        rows=rows,
        source="data",
        environment=environment,
        row_limit=row_limit,
    )
    return report, profile


def tables_or_empty(
    tables: Iterator[pa.Table], schema: pa.Schema, names: list[str]
) -> Iterator[pa.Table]:
    """The tables, or one empty table when there are none (a dataset without fragments)."""
    any_table = False
    for table in tables:
        any_table = True
        yield table
    if not any_table:
        yield pa.table({n: pa.array([], type=schema.field(n).type) for n in names})


class _NullCount:
    """Nulls of a column of no type (not read natively: only its validity is looked at)."""

    def __init__(self, row_limit: int) -> None:
        self.count = 0
        self.rows: list[int] = []
        self._limit = row_limit

    def add(self, column: pa.ChunkedArray, offset: int) -> None:
        nulls = column.null_count
        if nulls and len(self.rows) < self._limit:
            where = np.flatnonzero(pc.is_null(column).to_numpy(zero_copy_only=False))
            self.rows.extend(int(offset + r) for r in where[: self._limit - len(self.rows)])
        self.count += nulls


def _summary(column: ColumnSchema, data_type: str, r: dict[str, Any]) -> ColumnSummary:
    checks = r["checks"]
    return ColumnSummary(
        column=column.name,
        type=column.type,
        data_type=data_type,
        rows=int(r["rows"]),
        nulls=int(checks["null"][0]),
        nans=int(checks.get("nan", (0, []))[0]),
        infinities=int(checks.get("pos_inf", (0, []))[0]) + int(checks.get("neg_inf", (0, []))[0]),
        distinct=None if r.get("distinct", -1) < 0 else int(r["distinct"]),
    )


def _tfdv_type_mismatch(expected: str | None, got: str | None) -> str:
    """TFDV's name for a type mismatch, where it has one."""
    names = {
        ("float", "string"): "FLOAT_TYPE_STRING_NOT_FLOAT",
        ("integer", "string"): "INT_TYPE_NOT_INT_STRING",
        ("string", "float"): "STRING_TYPE_NOW_FLOAT",
        ("string", "integer"): "STRING_TYPE_NOW_INT",
        ("integer", "float"): "INT_TYPE_INT_EXPECTED",
        ("boolean", "string"): "BOOL_TYPE_STRING_NOT_INT",
        ("boolean", "float"): "BOOL_TYPE_FLOAT_NOT_INT",
    }
    return names.get((str(expected), str(got)), "")


def _merge_rows(a: list[int], b: list[int], limit: int) -> tuple[int, ...]:
    """The first `limit` rows of two ascending lists, ascending."""
    return tuple(sorted(set(a) | set(b))[:limit])


def _column_anomalies(
    column: ColumnSchema, r: dict[str, Any], environment: str | None, row_limit: int
) -> list[Anomaly]:
    checks = r["checks"]
    rows = int(r["rows"])
    nulls, null_rows = int(checks["null"][0]), tuple(checks["null"][1])
    out = presence_anomalies(column, rows, nulls, null_rows, environment)
    if column.type is None:
        return out
    name = column.name
    if column.numeric:
        low, high = checks["below"], checks["above"]
        n_below, n_above = int(low[0]), int(high[0])
        if n_below or n_above:
            sides = []
            if n_below:
                sides.append(f"{n_below:,} below {bound_text(column.lower, '-inf')}")
            if n_above:
                sides.append(f"{n_above:,} above {bound_text(column.upper, 'inf')}")
            word = "INT_TYPE" if column.type == "integer" else "FLOAT_TYPE"
            small, big = (
                ("SMALL_INT", "BIG_INT")
                if column.type == "integer"
                else ("SMALL_FLOAT", "BIG_FLOAT")
            )
            tfdv = ", ".join(f"{word}_{s}" for s, n in ((small, n_below), (big, n_above)) if n)
            out.append(
                anomaly(
                    name,
                    "out_of_range",
                    f"{n_below + n_above:,} values outside [{bound_text(column.lower, '-inf')}, "
                    f"{bound_text(column.upper, 'inf')}]: " + ", ".join(sides),
                    count=n_below + n_above,
                    rows=_merge_rows(low[1], high[1], row_limit),
                    tfdv=tfdv,
                )
            )
        nans = int(checks["nan"][0])
        if nans and not column.nan_allowed:
            out.append(
                anomaly(
                    name,
                    "has_nan",
                    f"{nans:,} NaN values",
                    count=nans,
                    rows=tuple(checks["nan"][1]),
                )
            )
        pos, neg = checks["pos_inf"], checks["neg_inf"]
        infinities = int(pos[0]) + int(neg[0])
        if infinities and not column.inf_allowed:
            out.append(
                anomaly(
                    name,
                    "has_inf",
                    f"{infinities:,} infinite values ({int(pos[0]):,} +inf, {int(neg[0]):,} -inf)",
                    count=infinities,
                    rows=_merge_rows(pos[1], neg[1], row_limit),
                )
            )
    if column.type == "string":
        bad = checks["invalid_utf8"]
        if int(bad[0]):
            out.append(
                anomaly(
                    name,
                    "invalid_utf8",
                    f"{int(bad[0]):,} strings are not UTF-8 text",
                    count=int(bad[0]),
                    rows=tuple(bad[1]),
                )
            )
        off = checks["off_domain"]
        n_off = int(off[0])
        if column.allowed_values is not None and n_off:
            values_checked = rows - nulls - int(bad[0])
            # TFDV's rule: any value outside a strict domain, else a share above the allowance.
            if column.max_off_domain == 0 or above(n_off, values_checked, column.max_off_domain):
                shown = sorted(r["off_domain_values"], key=lambda vc: (-vc[1], vc[0]))
                listed = ", ".join(
                    f"{v!r} ({pct(c, values_checked)})" for v, c in shown[:SHOWN_VALUES]
                )
                others = n_off - sum(c for _, c in shown[:SHOWN_VALUES])
                out.append(
                    anomaly(
                        name,
                        "unexpected_string_values",
                        f"{n_off:,} values ({pct(n_off, values_checked)}) are not in the domain: "
                        + listed
                        + (f", and {others:,} other occurrences" if others else ""),
                        count=n_off,
                        rows=tuple(off[1]),
                        values=tuple((str(v), int(c)) for v, c in shown[:SHOWN_VALUES]),
                    )
                )
    dup = checks["duplicate"]
    if column.unique_values and int(dup[0]):
        out.append(
            anomaly(
                name,
                "not_unique",
                f"{int(dup[0]):,} values repeat an earlier row's",
                count=int(dup[0]),
                rows=tuple(dup[1]),
            )
        )
    distinct = int(r.get("distinct", -1))
    out.extend(distinct_anomalies(column, distinct if distinct >= 0 else None))
    return out
