"""What :func:`seawall.drift.compare` returns: per-column results and the dataset verdict, shown
in notebooks, saved as one self-contained HTML file, or dumped as a dict or JSON (as Evidently's
reports are).

Columns that cannot be compared
-------------------------------
A column with no value left on a side (every value missing or infinite, or no rows at all) has
no distribution to compare: it gets a result with ``status="no_data"`` and an ``error`` saying
which side lacks values and why (:func:`no_data_column`, used alike by the comparison of tables
and of profiles), and the rest of the report is computed. Such a column is neither drifted nor
stable: ``drifted``, ``statistic`` and ``pvalue`` are None (``method`` and ``threshold`` too,
unless they were asked for), and it is left out of the drift share, the share of drifted
columns *among the compared ones*; when no column could be compared, ``drift_share`` and
``dataset_drift`` are None. This is how :class:`seawall.monitoring.Monitor` counts a feature
without values in a window, which it reads from this report.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Literal

from .._files import write_atomic

__all__ = ["ColumnDrift", "Distribution", "DriftReport", "Status", "no_data_column"]

Status = Literal["ok", "no_data"]


@dataclass(frozen=True)
class Distribution:
    """Both samples' shares on shared bins, for the report's plots.

    ``kind="histogram"``: ``bins`` holds the ``len(reference) + 1`` edges of the Sturges bins
    over both samples, as :func:`seawall.stats.histogram_shares` makes them. ``kind="bars"``: one bar per category (or
    distinct number), ``bins`` their labels; at most 20, the most frequent in reference and
    current together, and ``hidden`` says how many categories were left out.
    """

    kind: Literal["histogram", "bars"]
    bins: tuple[float, ...] | tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    hidden: int = 0


@dataclass(frozen=True)
class ColumnDrift:
    """The drift result of one column.

    ``statistic`` is the method's statistic (the KS D, Pearson's chi-square, z, or the distance);
    ``pvalue`` is set for the tests (ks, chisquare, z, cramer_von_mises) and None for distances.
    ``drifted`` compares the p-value (tests: drift when below ``threshold``) or the statistic
    (distances: drift when at least ``threshold``) with ``threshold``.
    ``reference_count`` and ``current_count`` are the values the statistic used, after dropping
    ``*_missing`` missing values (null, NaN) and ``*_infinite`` infinite ones.
    ``source`` is ``"data"`` for statistics computed on the values, ``"profile"`` for those
    estimated from two :class:`seawall.Profile` sketches (``note`` then says how).
    ``status`` is ``"ok"`` when the column was compared; ``"no_data"`` when a side has no value
    left (``error`` says which and why; ``drifted``, ``statistic`` and ``pvalue`` are None, see
    the module docstring).
    """

    column: str
    kind: Literal["numerical", "categorical"]
    method: str | None
    statistic: float | None
    pvalue: float | None
    threshold: float | None
    drifted: bool | None
    reference_count: int
    current_count: int
    reference_missing: int = 0
    current_missing: int = 0
    reference_infinite: int = 0
    current_infinite: int = 0
    distribution: Distribution | None = None
    source: Literal["data", "profile"] = "data"
    note: str | None = None
    status: Status = "ok"
    error: str | None = None

    @property
    def drift_score(self) -> float | None:
        """What is compared with the threshold: the p-value for tests, else the statistic
        (None for a column that was not compared)."""
        return self.pvalue if self.pvalue is not None else self.statistic


def _side_without_values(which: str, missing: int, infinite: int) -> str:
    if missing == infinite == 0:
        return f"the {which} data has no rows"
    if infinite == 0:
        what = "missing (null or NaN)"
    elif missing == 0:
        what = "infinite"
    else:
        what = f"missing or infinite ({missing:,} missing, {infinite:,} infinite)"
    total = missing + infinite
    values = "its only value is" if total == 1 else f"all {total:,} are"
    return f"the {which} data has no values: {values} {what}"


def no_data_column(
    column: str,
    kind: Literal["numerical", "categorical"],
    reference: tuple[int, int, int],
    current: tuple[int, int, int],
    *,
    method: str | None = None,
    threshold: float | None = None,
    source: Literal["data", "profile"] = "data",
) -> ColumnDrift | None:
    """The result of a column that cannot be compared because a side has no value left, or None
    when both sides have values. `reference` and `current` are each side's (values left,
    missing, infinite) counts; `method` and `threshold` are those asked for, if any."""
    sides = [
        _side_without_values(which, missing, infinite)
        for which, (values, missing, infinite) in (("reference", reference), ("current", current))
        if values == 0
    ]
    if not sides:
        return None
    return column_result(
        column,
        kind,
        reference,
        current,
        method=method,
        statistic=None,
        pvalue=None,
        threshold=threshold,
        drifted=None,
        source=source,
        status="no_data",
        error="; ".join(sides),
    )


def column_result(
    column: str,
    kind: Literal["numerical", "categorical"],
    reference: tuple[int, int, int],
    current: tuple[int, int, int],
    **fields: Any,
) -> ColumnDrift:
    """A ColumnDrift from each side's (values used, missing, infinite) counts and the other
    fields by name."""
    return ColumnDrift(
        column=column,
        kind=kind,
        reference_count=reference[0],
        current_count=current[0],
        reference_missing=reference[1],
        current_missing=current[1],
        reference_infinite=reference[2],
        current_infinite=current[2],
        **fields,
    )


@dataclass(frozen=True)
class DriftReport:
    """Column-by-column drift between a reference and a current dataset.

    ``drift_share`` is the share of drifted columns among the compared ones (``status="ok"``);
    ``dataset_drift`` is ``drift_share >= drift_share_threshold`` (Evidently's rule, default
    0.5). Both are None when no column could be compared (module docstring).
    """

    columns: list[ColumnDrift]
    drift_share: float | None
    dataset_drift: bool | None
    drift_share_threshold: float
    reference_rows: int
    current_rows: int
    _by_name: dict[str, ColumnDrift] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # report[column] in constant time: a monitor looks up every feature of every window
        object.__setattr__(self, "_by_name", {c.column: c for c in self.columns})

    @classmethod
    def from_columns(
        cls, columns: list[ColumnDrift], drift_share: float, reference_rows: int, current_rows: int
    ) -> DriftReport:
        """The report of these column results, with the dataset flag at `drift_share`."""
        compared = [c for c in columns if c.status == "ok"]
        share = sum(bool(c.drifted) for c in compared) / len(compared) if compared else None
        return cls(
            columns=columns,
            drift_share=share,
            dataset_drift=None if share is None else bool(share >= drift_share),
            drift_share_threshold=float(drift_share),
            reference_rows=reference_rows,
            current_rows=current_rows,
        )

    @cached_property
    def number_of_drifted_columns(self) -> int:
        return sum(bool(c.drifted) for c in self.columns)

    @cached_property
    def number_of_compared_columns(self) -> int:
        """Columns with ``status="ok"``: those the drift share is over."""
        return sum(c.status == "ok" for c in self.columns)

    @cached_property
    def no_data_columns(self) -> list[str]:
        """The columns that could not be compared because a side has no values."""
        return [c.column for c in self.columns if c.status == "no_data"]

    def __getitem__(self, column: str) -> ColumnDrift:
        try:
            return self._by_name[column]
        except KeyError:
            from ..errors import MissingColumnError

            raise MissingColumnError(f"column {column!r} is not in this report") from None

    def to_dict(self) -> dict[str, Any]:
        """The report as plain Python values (JSON-ready; None where the module docstring says)."""
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "drift_share_threshold": self.drift_share_threshold,
            "number_of_columns": len(self.columns),
            "number_of_compared_columns": self.number_of_compared_columns,
            "number_of_drifted_columns": self.number_of_drifted_columns,
            "no_data_columns": list(self.no_data_columns),
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "columns": [_column_dict(c) for c in self.columns],
        }

    def to_json(self, indent: int | None = None) -> str:
        """The report as strict JSON (no NaN or infinities)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def to_html(self) -> str:
        """One self-contained HTML page: inline CSS and SVG, no scripts, no network."""
        from ._html import render

        return render(self, full_page=True)

    def _repr_html_(self) -> str:
        from ._html import render

        return render(self, full_page=False)

    def save_html(self, path: str | os.PathLike[str]) -> None:
        """Writes :meth:`to_html` to `path` atomically (a temporary file, then a rename)."""
        write_atomic(path, self.to_html().encode("utf-8"))

    def summary(self) -> str:
        """One line: the verdict, drifted of compared columns, and those not compared."""
        n, compared = len(self.columns), self.number_of_compared_columns
        if self.dataset_drift is None:
            line = "no dataset verdict: no column could be compared"
        else:
            verdict = "dataset drift detected" if self.dataset_drift else "no dataset drift"
            of = f"{compared}" if compared == n else f"{compared} compared"
            line = f"{verdict}: {self.number_of_drifted_columns} of {of} columns drifted"
        names = self.no_data_columns
        if names:
            shown = ", ".join(repr(c) for c in names[:5])
            more = f" and {len(names) - 5:,} more" if len(names) > 5 else ""
            line += f"; {len(names):,} without values to compare: {shown}{more}"
        return line

    def __repr__(self) -> str:
        share = "None" if self.drift_share is None else f"{self.drift_share:.3g}"
        return (
            f"DriftReport({self.number_of_drifted_columns} of {self.number_of_compared_columns} "
            f"compared columns drifted, {len(self.no_data_columns)} without data, "
            f"drift_share={share}, dataset_drift={self.dataset_drift})"
        )


def _column_dict(c: ColumnDrift) -> dict[str, Any]:
    d = asdict(c)
    if c.distribution is not None:
        dist = d["distribution"]
        for key in ("bins", "reference", "current"):
            dist[key] = list(dist[key])
    return d
