"""The batched form of every statistic: one call over two whole tables, one result per column.

``by_column(ks_2samp, reference, current)`` reads the columns once (Parquet: only those asked
for) and computes the statistic for every column on the native thread pool's worth of threads;
the native kernels release the GIL, so columns run in parallel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .._data import TableSource, pair_columns
from .._parallel import map_in_threads
from ..errors import InvalidInputError, SeawallError
from . import categorical, numeric

__all__ = ["by_column"]

R = TypeVar("R")

_STATISTICS = frozenset(getattr(m, name) for m in (numeric, categorical) for name in m.__all__)


def by_column(
    statistic: Callable[..., R],
    reference: Any,
    current: Any,
    columns: Sequence[str] | None = None,
    **options: Any,
) -> dict[str, R]:
    """``{column: statistic(reference[column], current[column], **options)}``.

    `statistic` is one of the functions of :mod:`seawall.stats` (``ks_2samp``, ``psi``,
    ``chi2_contingency_test``...); `options` are passed to it. `reference` and `current` are
    what :func:`seawall.drift.compare` takes: pyarrow Tables or RecordBatches, pandas or polars
    DataFrames, dicts of arrays, or Parquet files, directories or datasets. `columns` defaults to
    every column, each of which must be on both sides. An error in one column is raised with the
    column's name in its message, as the same seawall error class.
    """
    if statistic not in _STATISTICS:
        raise InvalidInputError(
            f"statistic must be one of the functions of seawall.stats, got {statistic!r}"
        )
    ref_source = TableSource(reference, "reference")
    cur_source = TableSource(current, "current")
    names = pair_columns(columns, ref_source.names, cur_source.names)
    ref_table = ref_source.read(names)
    cur_table = cur_source.read(names)

    def one(name: str) -> R:
        try:
            return statistic(ref_table.column(name), cur_table.column(name), **options)
        except SeawallError as exc:
            raise type(exc)(f"column {name!r}: {exc}") from exc

    return dict(zip(names, map_in_threads(one, names), strict=True))
