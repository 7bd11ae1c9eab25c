"""What :meth:`seawall.Schema.validate` returns: the anomalies found, per column, with exact
counts and the first failing rows; the skew and drift measured; shown in notebooks, saved as one
self-contained HTML file, or dumped as a dict or JSON (as the drift report is).

Anomaly kinds, with TensorFlow Data Validation's ``AnomalyInfo`` type beside each:

========================== =============================================== =====================
kind                       when                                            TFDV
========================== =============================================== =====================
``missing_column``         a column expected here is not in the data       SCHEMA_MISSING_COLUMN
``new_column``             the data has a column the schema does not       SCHEMA_NEW_COLUMN
``type_mismatch``          the column's type is not the schema's           (per type, see below)
``not_present``            an expected column has no non-null value        FEATURE_TYPE_NOT_PRESENT
``low_number_present``     fewer non-null values than ``min_count``        FEATURE_TYPE_LOW_NUMBER_PRESENT
``low_fraction_present``   a smaller share of non-null rows than           FEATURE_TYPE_LOW_FRACTION_PRESENT
                           ``min_fraction``
``out_of_range``           values below or above the range                 {INT,FLOAT}_TYPE_{SMALL,BIG}_{INT,FLOAT}
``has_nan``                NaN where it is not allowed                     FLOAT_TYPE_HAS_NAN
``has_inf``                +-inf where they are not allowed                FLOAT_TYPE_HAS_INF
``unexpected_string_values`` strings outside the domain (beyond            ENUM_TYPE_UNEXPECTED_STRING_VALUES
                           ``max_off_domain``)
``invalid_utf8``           strings whose bytes are not UTF-8               ENUM_TYPE_INVALID_UTF8
``not_unique``             a value repeats in a ``unique()`` column        (none: seawall's)
``low_unique``             fewer distinct values than ``distinct(min=)``   FEATURE_TYPE_LOW_UNIQUE
``high_unique``            more distinct values than ``distinct(max=)``    FEATURE_TYPE_HIGH_UNIQUE
``skew_linf_high``         L-infinity distance of category shares between  COMPARATOR_L_INFTY_HIGH
``drift_linf_high``        training and serving (skew) or the previous
                           and current span (drift) above its threshold
``skew_jsd_high``          Jensen-Shannon divergence above its threshold   COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH
``drift_jsd_high``
``skew_control_missing``   the serving (skew) or previous (drift) data     COMPARATOR_CONTROL_DATA_MISSING
``drift_control_missing``  lacks a column that has thresholds
========================== =============================================== =====================

``count`` is the number of failing values (rows for presence); ``rows`` the positions of the
first ``row_limit`` of them in the data (0-based, across every batch and file in order).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Literal, NamedTuple

from .._files import write_atomic
from ..errors import MissingColumnError

__all__ = ["KINDS", "Anomaly", "ColumnSummary", "Comparison", "ValidationReport"]

# kind -> TFDV's AnomalyInfo type ("" where TFDV has none or it depends on the types).
KINDS: dict[str, str] = {
    "missing_column": "SCHEMA_MISSING_COLUMN",
    "new_column": "SCHEMA_NEW_COLUMN",
    "type_mismatch": "",
    "not_present": "FEATURE_TYPE_NOT_PRESENT",
    "low_number_present": "FEATURE_TYPE_LOW_NUMBER_PRESENT",
    "low_fraction_present": "FEATURE_TYPE_LOW_FRACTION_PRESENT",
    "out_of_range": "",
    "has_nan": "FLOAT_TYPE_HAS_NAN",
    "has_inf": "FLOAT_TYPE_HAS_INF",
    "unexpected_string_values": "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
    "invalid_utf8": "ENUM_TYPE_INVALID_UTF8",
    "not_unique": "",
    "low_unique": "FEATURE_TYPE_LOW_UNIQUE",
    "high_unique": "FEATURE_TYPE_HIGH_UNIQUE",
    "skew_linf_high": "COMPARATOR_L_INFTY_HIGH",
    "drift_linf_high": "COMPARATOR_L_INFTY_HIGH",
    "skew_jsd_high": "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH",
    "drift_jsd_high": "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH",
    "skew_control_missing": "COMPARATOR_CONTROL_DATA_MISSING",
    "drift_control_missing": "COMPARATOR_CONTROL_DATA_MISSING",
}


@dataclass(frozen=True)
class Anomaly:
    """One rule broken by one column.

    ``count`` failing values (None when a profile cannot tell how many); ``rows`` the first
    failing row positions (empty for profiles); ``values`` the unexpected strings with their
    counts, most frequent first (``unexpected_string_values``); ``approximate`` when counts come
    from a profile's sketches; ``tfdv`` TFDV's name for it.
    """

    column: str
    kind: str
    description: str
    count: int | None = None
    rows: tuple[int, ...] = ()
    values: tuple[tuple[str, int], ...] = ()
    tfdv: str = ""
    approximate: bool = False

    def __str__(self) -> str:
        return f"{self.column}: {self.kind}: {self.description}"


class ColumnSummary(NamedTuple):
    """What the pass saw in one checked column (``distinct`` only where it was counted)."""

    column: str
    type: str | None
    data_type: str
    rows: int
    nulls: int
    nans: int = 0
    infinities: int = 0
    distinct: int | None = None


@dataclass(frozen=True)
class Comparison:
    """One skew or drift measurement: ``measure`` (``"linf"`` or ``"jsd"``) between the
    ``control`` data (serving for skew, the previous span for drift) and the validated data;
    ``anomalous`` when ``value > threshold``. ``detail`` names, for L-infinity, the category
    whose shares differ most."""

    column: str
    comparison: Literal["skew", "drift"]
    measure: Literal["linf", "jsd"]
    value: float
    threshold: float
    anomalous: bool
    detail: str = ""
    approximate: bool = False


@dataclass(frozen=True)
class ValidationReport:
    """The result of validating data (or a profile) against a schema.

    ``ok`` is True when no anomaly was found. ``anomalies`` lists them in column order;
    ``report[column]`` gives one column's. ``skew`` and ``drift`` hold every comparison made
    (anomalous or not); those above their thresholds are also anomalies.
    """

    anomalies: tuple[Anomaly, ...]
    columns: tuple[ColumnSummary, ...]
    rows: int
    source: Literal["data", "profile"]
    environment: str | None = None
    row_limit: int = 20
    skew: tuple[Comparison, ...] = ()
    drift: tuple[Comparison, ...] = ()
    _by_column: dict[str, list[Anomaly]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by: dict[str, list[Anomaly]] = {}
        for a in self.anomalies:
            by.setdefault(a.column, []).append(a)
        object.__setattr__(self, "_by_column", by)

    @property
    def ok(self) -> bool:
        return not self.anomalies

    @cached_property
    def anomalous_columns(self) -> list[str]:
        return list(self._by_column)

    def __getitem__(self, column: str) -> list[Anomaly]:
        """The anomalies of `column` (an empty list for a column checked without any)."""
        if column in self._by_column:
            return list(self._by_column[column])
        if any(c.column == column for c in self.columns):
            return []
        raise MissingColumnError(f"column {column!r} is not in this report")

    def kinds(self, column: str | None = None) -> set[str]:
        """The anomaly kinds found (in `column`, or anywhere)."""
        found = self.anomalies if column is None else self._by_column.get(column, [])
        return {a.kind for a in found}

    def to_dict(self) -> dict[str, Any]:
        """The report as plain Python values (JSON-ready)."""
        return {
            "ok": self.ok,
            "source": self.source,
            "rows": self.rows,
            "environment": self.environment,
            "row_limit": self.row_limit,
            "number_of_anomalies": len(self.anomalies),
            "anomalous_columns": list(self.anomalous_columns),
            "anomalies": [
                {**asdict(a), "rows": list(a.rows), "values": [list(v) for v in a.values]}
                for a in self.anomalies
            ],
            "columns": [c._asdict() for c in self.columns],
            "skew": [asdict(c) for c in self.skew],
            "drift": [asdict(c) for c in self.drift],
        }

    def to_json(self, indent: int | None = None) -> str:
        """The report as strict JSON (no NaN or infinities)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def to_html(self) -> str:
        """One self-contained HTML page: inline CSS, no scripts, no network."""
        from ._html import render

        return render(self, full_page=True)

    def _repr_html_(self) -> str:
        from ._html import render

        return render(self, full_page=False)

    def save_html(self, path: str | os.PathLike[str]) -> None:
        """Writes :meth:`to_html` to `path` atomically."""
        write_atomic(path, self.to_html().encode("utf-8"))

    def save_json(self, path: str | os.PathLike[str]) -> None:
        """Writes :meth:`to_json` (indented) to `path` atomically."""
        write_atomic(path, (self.to_json(indent=2) + "\n").encode("utf-8"))

    def summary(self) -> str:
        """One line: the verdict, and the anomalous columns with their kinds."""
        what = (
            f"{self.rows:,} rows" if self.source == "data" else f"a profile of {self.rows:,} rows"
        )
        if self.ok:
            return f"no anomalies in {what} ({len(self.columns)} columns checked)"
        shown = [
            f"{c} ({', '.join(sorted({a.kind for a in self._by_column[c]}))})"
            for c in self.anomalous_columns[:5]
        ]
        more = len(self.anomalous_columns) - len(shown)
        return (
            f"{len(self.anomalies)} anomalies in {what}: "
            + "; ".join(shown)
            + (f"; and {more} more columns" if more > 0 else "")
        )

    def __repr__(self) -> str:
        return (
            f"ValidationReport({self.source}, {self.rows} rows, {len(self.anomalies)} anomalies"
            f" in {len(self.anomalous_columns)} columns)"
        )
