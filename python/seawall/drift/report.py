"""What :func:`seawall.drift.compare` returns: per-column results and the dataset verdict, shown
in notebooks, saved as one self-contained HTML file, or dumped as a dict or JSON (as Evidently's
reports are)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .._files import write_atomic

__all__ = ["ColumnDrift", "Distribution", "DriftReport"]


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
    """

    column: str
    kind: Literal["numerical", "categorical"]
    method: str
    statistic: float
    pvalue: float | None
    threshold: float
    drifted: bool
    reference_count: int
    current_count: int
    reference_missing: int = 0
    current_missing: int = 0
    reference_infinite: int = 0
    current_infinite: int = 0
    distribution: Distribution | None = None
    source: Literal["data", "profile"] = "data"
    note: str | None = None

    @property
    def drift_score(self) -> float:
        """What is compared with the threshold: the p-value for tests, else the statistic."""
        return self.pvalue if self.pvalue is not None else self.statistic


@dataclass(frozen=True)
class DriftReport:
    """Column-by-column drift between a reference and a current dataset.

    ``drift_share`` is the share of drifted columns; ``dataset_drift`` is
    ``drift_share >= drift_share_threshold`` (Evidently's rule, default 0.5).
    """

    columns: list[ColumnDrift]
    drift_share: float
    dataset_drift: bool
    drift_share_threshold: float
    reference_rows: int
    current_rows: int

    @classmethod
    def from_columns(
        cls, columns: list[ColumnDrift], drift_share: float, reference_rows: int, current_rows: int
    ) -> DriftReport:
        """The report of these column results, with the dataset flag at `drift_share`."""
        share = sum(c.drifted for c in columns) / len(columns)
        return cls(
            columns=columns,
            drift_share=share,
            dataset_drift=bool(share >= drift_share),
            drift_share_threshold=float(drift_share),
            reference_rows=reference_rows,
            current_rows=current_rows,
        )

    @property
    def number_of_drifted_columns(self) -> int:
        return sum(c.drifted for c in self.columns)

    def __getitem__(self, column: str) -> ColumnDrift:
        for c in self.columns:
            if c.column == column:
                return c
        from ..errors import MissingColumnError

        raise MissingColumnError(f"column {column!r} is not in this report")

    def to_dict(self) -> dict[str, Any]:
        """The report as plain Python values (JSON-ready)."""
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "drift_share_threshold": self.drift_share_threshold,
            "number_of_columns": len(self.columns),
            "number_of_drifted_columns": self.number_of_drifted_columns,
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

    def __repr__(self) -> str:
        return (
            f"DriftReport({self.number_of_drifted_columns} of {len(self.columns)} columns "
            f"drifted, drift_share={self.drift_share:.3g}, dataset_drift={self.dataset_drift})"
        )


def _column_dict(c: ColumnDrift) -> dict[str, Any]:
    d = asdict(c)
    if c.distribution is not None:
        dist = d["distribution"]
        for key in ("bins", "reference", "current"):
            dist[key] = list(dist[key])
    return d
