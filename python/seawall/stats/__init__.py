"""Drift statistics on arrays, computed natively: each matches the named scipy (or Evidently)
reference on float64 input. ``by_column`` applies any of them to every column of two tables."""

from __future__ import annotations

from .by_column import by_column
from .categorical import *  # noqa: F403
from .categorical import __all__ as _categorical_all
from .numeric import *  # noqa: F403
from .numeric import __all__ as _numeric_all

__all__ = [*_numeric_all, *_categorical_all, "by_column"]
