"""Fitting a FeaturePipeline and profiling a Parquet dataset on Ray (or local processes).

The dataset's files are split into contiguous groups, one task each; every task reads its files
where it runs and gathers the native, mergeable state of each batch (FitStates for a fit,
profile states for a profile), and this process merges them in the dataset's batch order.

With ``reproducible=True`` (the default) each task returns the state of every batch and the
merge runs in exactly the order one process would use, so the result is bit for bit that of
``FeaturePipeline.fit(path)`` or ``Profile.from_data(path)``. With ``reproducible=False`` each
task merges its own batches first and returns one state: less to move, and the result equals
the one-process result up to the merge grouping: counts, minimums, maximums, vocabularies,
distinct-count registers are the same; means and variances agree to rounding (about 1e-15
relative); quantiles differ within the KLL sketch's stated rank error (``4/k`` of the rank),
and so do the values that ops fit after a sketch quantile see (``Impute("median")`` then
``StandardScale``: the mean and deviation of slightly different imputed values).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from .._data import _is_dataset, _is_path_like, _open_parquet
from ..errors import InvalidInputError
from ..features.pipeline import FeaturePipeline, FitPass
from ..profiles import Profile
from ._executors import make_executor

__all__ = ["distributed_fit", "distributed_profile"]


@dataclass(frozen=True)
class _Partition:
    """Contiguous files (fragments) of a dataset, read by one task wherever it runs."""

    fragments: list[Any]
    schema: pa.Schema
    format: Any
    filesystem: Any
    row_offset: int  # rows of the dataset before these

    def batches(self, columns: list[str]) -> Iterator[pa.Table]:
        """The batches one process would read from these files (BatchSource's)."""
        import pyarrow.dataset as ds

        dataset = ds.FileSystemDataset(self.fragments, self.schema, self.format, self.filesystem)
        for batch in dataset.to_batches(columns=columns):
            yield pa.Table.from_batches([batch])


def _open(data: Any) -> Any:
    if _is_path_like(data) or (
        isinstance(data, (list, tuple)) and data and all(_is_path_like(p) for p in data)
    ):
        return _open_parquet(data)
    if _is_dataset(data):
        import pyarrow.dataset as ds

        if isinstance(data, ds.FileSystemDataset):
            return data
    raise InvalidInputError(
        "a distributed fit or profile reads Parquet files where its tasks run: pass a path, a "
        "list of paths or a pyarrow FileSystemDataset (for data in memory, use "
        f"FeaturePipeline.fit or Profile.from_data), got {type(data).__name__}"
    )


def _partitions(dataset: Any, tasks: int) -> tuple[list[_Partition], int]:
    """Up to `tasks` groups of contiguous fragments with about equal rows; and the row count."""
    fragments = list(dataset.get_fragments())
    rows = [f.count_rows() for f in fragments]  # Parquet footers only
    total = sum(rows)
    groups: list[list[int]] = []
    target = max(1, -(-total // tasks))  # ceil
    in_group = 0
    for i in range(len(fragments)):
        if not groups or (in_group >= target and len(groups) < tasks):
            groups.append([])
            in_group = 0
        groups[-1].append(i)
        in_group += rows[i]
    parts = []
    offset = 0
    for g in groups:
        parts.append(
            _Partition(
                [fragments[i] for i in g],
                dataset.schema,
                dataset.format,
                dataset.filesystem,
                offset,
            )
        )
        offset += sum(rows[i] for i in g)
    return parts, total


def _check_tasks(tasks: int | None) -> None:
    if tasks is not None and (isinstance(tasks, bool) or not isinstance(tasks, int) or tasks < 1):
        raise InvalidInputError(f"tasks must be a positive integer or None, got {tasks!r}")


def _merge_in_order(total: list[Any] | None, states: list[Any]) -> list[Any]:
    if total is None:
        return states
    for into, part in zip(total, states, strict=True):
        into.merge(part)
    return total


def _fit_task(fit_pass: FitPass, part: _Partition, merge: bool) -> list[list[Any]]:
    """The FitStates of each batch of `part` (merged into one list when `merge`)."""
    plan = fit_pass.plan()
    out: list[list[Any]] = []
    offset = part.row_offset
    for batch in part.batches(fit_pass.columns):
        states = fit_pass.collect_batch(batch, offset, plan)
        offset += batch.num_rows
        if merge and out:
            _merge_in_order(out[0], states)
        else:
            out.append(states)
    return out


def _profile_task(
    part: _Partition, columns: list[str], options: dict[str, int], merge: bool
) -> list[bytes]:
    """The profile of each batch of `part` (or of all of them, when `merge`), as bytes."""
    out: list[Profile] = []
    for batch in part.batches(columns):
        profile = Profile.from_data(batch, columns, **options)
        out = [out[0].merge(profile)] if merge and out else [*out, profile]
    return [p.to_bytes() for p in out]


def distributed_fit(
    pipeline: FeaturePipeline,
    data: Any,
    *,
    executor: str = "ray",
    tasks: int | None = None,
    reproducible: bool = True,
) -> FeaturePipeline:
    """Fits `pipeline` on a Parquet dataset with tasks on `executor` ("ray", a ``ray://``
    address, "processes" or "threads"); returns the pipeline, fitted.

    Each op that learns from data is one round of tasks (chained ops are fit in turn, as in
    ``fit``). `tasks`: how many (default: two per worker, at most one per file). See the
    module's docstring for `reproducible`.
    """
    if not isinstance(pipeline, FeaturePipeline):
        raise InvalidInputError(f"expected a FeaturePipeline, got {type(pipeline).__name__}")
    _check_tasks(tasks)
    dataset = _open(data)
    pool = make_executor(executor)
    try:
        parts, rows = _partitions(dataset, tasks or 2 * pool.num_workers)
        if rows == 0:
            raise InvalidInputError("cannot fit on empty data (0 rows)")

        def collect(fit_pass: FitPass) -> list[Any] | None:
            results = pool.map(_fit_task, [(fit_pass, p, not reproducible) for p in parts])
            total: list[Any] | None = None
            for batches in results:
                for states in batches:
                    total = _merge_in_order(total, states)
            return total

        return pipeline.fit_from_states(dataset, collect)
    finally:
        pool.close()


def distributed_profile(
    data: Any,
    columns: Sequence[str] | None = None,
    *,
    executor: str = "ray",
    tasks: int | None = None,
    reproducible: bool = True,
    sketch_k: int = 200,
    hll_precision: int = 12,
    top_k: int = 64,
) -> Profile:
    """:meth:`Profile.from_data` of a Parquet dataset, with tasks on `executor` (see
    :func:`distributed_fit` and the module's docstring)."""
    _check_tasks(tasks)
    dataset = _open(data)
    options = {"sketch_k": sketch_k, "hll_precision": hll_precision, "top_k": top_k}
    # Checks the columns, their types and the options here, before any task starts.
    empty = Profile.from_data(dataset.schema.empty_table(), columns, **options)
    names = empty.columns
    pool = make_executor(executor)
    try:
        parts, _ = _partitions(dataset, tasks or 2 * pool.num_workers)
        results = pool.map(_profile_task, [(p, names, options, not reproducible) for p in parts])
    finally:
        pool.close()
    total: Profile | None = None
    for blobs in results:
        for blob in blobs:
            part = Profile.from_bytes(blob)
            total = part if total is None else total.merge(part)
    return total if total is not None else empty
