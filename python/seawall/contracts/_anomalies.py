"""Anomalies shared by the validation of data and of profiles: presence and distinct counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .report import KINDS, Anomaly

if TYPE_CHECKING:
    from .schema import ColumnSchema

__all__ = [
    "above",
    "anomaly",
    "below",
    "bound_text",
    "distinct_anomalies",
    "pct",
    "presence_anomalies",
]


def anomaly(column: str, kind: str, description: str, **fields: Any) -> Anomaly:
    fields.setdefault("tfdv", KINDS[kind])
    return Anomaly(column=column, kind=kind, description=description, **fields)


def below(numerator: int, denominator: int, share: float) -> bool:
    """numerator / denominator < share, exactly (a float is a fraction of integers)."""
    top, bottom = float(share).as_integer_ratio()
    return numerator * bottom < top * denominator


def above(numerator: int, denominator: int, share: float) -> bool:
    """numerator / denominator > share, exactly."""
    top, bottom = float(share).as_integer_ratio()
    return numerator * bottom > top * denominator


def bound_text(x: int | float | None, open_side: str) -> str:
    """A range bound as a description shows it (`open_side`, "-inf" or "inf", for none)."""
    if x is None:
        return open_side
    return f"{x:g}" if isinstance(x, float) else str(x)


def pct(part: int, whole: int) -> str:
    if whole == 0:
        return "?"
    p = 100 * part / whole
    return "<0.01%" if 0 < p < 0.01 else f"{p:.4g}%"


def presence_anomalies(
    column: ColumnSchema,
    rows: int,
    nulls: int,
    null_rows: tuple[int, ...],
    environment: str | None,
) -> list[Anomaly]:
    """Presence anomalies of a column (data or profile: the counts are exact for both)."""
    if nulls == 0 and rows >= max(1, column.min_count):
        return []  # every row has a value, and enough of them: the common case, decided at once
    if not column.in_environment(environment):
        return []
    out = []
    present = rows - nulls
    if column.required(environment) and present == 0:
        what = "no rows" if rows == 0 else f"all {rows:,} rows are null"
        out.append(
            anomaly(column.name, "not_present", f"the column has no value ({what})", count=rows)
        )
        return out
    if present < column.min_count:
        out.append(
            anomaly(
                column.name,
                "low_number_present",
                f"{present:,} values, fewer than the {column.min_count:,} expected",
                count=nulls,
                rows=null_rows,
            )
        )
    if column.min_fraction is not None and rows > 0 and below(present, rows, column.min_fraction):
        out.append(
            anomaly(
                column.name,
                "low_fraction_present",
                f"{pct(present, rows)} of rows have a value, below the {column.min_fraction:.6g} "
                f"expected ({nulls:,} null)",
                count=nulls,
                rows=null_rows,
            )
        )
    return out


def distinct_anomalies(
    column: ColumnSchema, distinct: int | None, *, approximate: bool = False
) -> list[Anomaly]:
    out: list[Anomaly] = []
    if distinct is None:
        return out
    about = "about " if approximate else ""
    if column.distinct_min is not None and distinct < column.distinct_min:
        out.append(
            anomaly(
                column.name,
                "low_unique",
                f"{about}{distinct:,} distinct values, fewer than {column.distinct_min:,}",
                count=distinct,
                approximate=approximate,
            )
        )
    if column.distinct_max is not None and distinct > column.distinct_max:
        out.append(
            anomaly(
                column.name,
                "high_unique",
                f"{about}{distinct:,} distinct values, more than {column.distinct_max:,}",
                count=distinct,
                approximate=approximate,
            )
        )
    return out
