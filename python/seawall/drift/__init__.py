"""Data drift reports: compare a reference table with a current one, column by column.

>>> report = seawall.drift.compare(reference, current)
>>> report.dataset_drift, report.drift_share
>>> report.save_html("drift.html")

See :func:`compare` for how each column's method is chosen (Evidently's defaults).
"""

from __future__ import annotations

from .compare import METHODS, compare
from .report import ColumnDrift, Distribution, DriftReport

__all__ = ["METHODS", "ColumnDrift", "Distribution", "DriftReport", "compare"]
