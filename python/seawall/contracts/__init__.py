"""Data contracts: schemas inferred from data or profiles, edited in code, saved as checked JSON,
and validated natively (one pass, exact counts, the first failing rows), with TFDV's anomaly
vocabulary and its skew and drift comparators."""

from __future__ import annotations

from .report import Anomaly, ColumnSummary, Comparison, ValidationReport
from .schema import ColumnSchema, Comparator, Schema, SchemaChange, SchemaDiff

__all__ = [
    "Anomaly",
    "ColumnSchema",
    "ColumnSummary",
    "Comparator",
    "Comparison",
    "Schema",
    "SchemaChange",
    "SchemaDiff",
    "ValidationReport",
]
