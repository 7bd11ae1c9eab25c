"""Warm-up: a model runs inputs at every batch size it will serve before it serves any request.

The first calls of a model are slow (onnxruntime allocates its arenas and plans each new input
shape, a Python model may import or compile lazily), and so is a pipeline's first transform. So
before a model reports ready, and before a hot swap or a load switches to it, the server runs
warm-up inputs through the pipeline and the model's own batcher at batch size 1, at each
preferred batch size and at the maximum, one batch of each.

The inputs, by preference:

1. the bundle's warm-up inputs (``save_bundle(..., warmup=records)``);
2. its example rows (``save_bundle(..., example=records)``, kept in the bundle);
3. rows made from the registry version's reference profile: for number columns the 5%, 25%, 50%,
   75% and 95% quantiles, for string columns the most frequent values;
4. with none of these, the model alone, on features of zeros (its pipeline is not exercised);
   a model without a pipeline whose input rows have no fixed shape is then not warmed up (logged).

Rows are repeated to fill each batch size. A model, or pipeline, that raises on them is not
served: :class:`~seawall.errors.WarmupError`, and its batcher is closed. Once the warm-up is
over the batcher's counters are reset, so that its figures (``/metrics``, Triton's
``/v2/models/{m}/stats``) count served requests only.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ..bundles import Bundle, numpy_dtype, records_to_table
from ..errors import WarmupError

__all__ = ["WARMUP_QUANTILES", "batch_sizes", "profile_rows", "warm_up", "warmup_rows"]

log = logging.getLogger("seawall.serving")

WARMUP_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def batch_sizes(max_batch_size: int, preferred: Iterable[int] = ()) -> list[int]:
    """The batch sizes a warm-up runs: 1, each preferred size and the maximum, ascending."""
    return sorted({1, *(int(s) for s in preferred), int(max_batch_size)})


def profile_rows(profile: Any, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Records for `columns` made from a Profile: quantiles of number columns, the most frequent
    values of string columns (null where the profile has no values for a column)."""
    n = len(WARMUP_QUANTILES)
    values: dict[str, list[Any]] = {}
    for column in columns:
        column_values: list[Any] = [None] * n
        if column in profile.columns:
            if profile.kind(column) == "string":
                top = [value for value, _ in profile.top_values(column, n)]
                if top:
                    column_values = [top[i % len(top)] for i in range(n)]
            elif profile.stats(column)["count"] > 0:
                column_values = profile.quantiles(column, WARMUP_QUANTILES)
        values[column] = column_values
    return [{c: values[c][i] for c in columns} for i in range(n)]


def warmup_rows(
    bundle: Bundle, reference: Callable[[], Any] | None = None
) -> tuple[list[Any] | None, str]:
    """The rows to warm `bundle` up with and where they come from (None: no such rows)."""
    if bundle.warmup is not None:
        return bundle.warmup, "the bundle's warm-up inputs"
    if bundle.example is not None:
        return bundle.example, "the bundle's example rows"
    if reference is not None and bundle.pipeline is not None:
        profile = reference()
        if profile is not None:
            columns = [str(c) for c in bundle.pipeline.input_columns_]
            return profile_rows(profile, columns), "its reference profile"
    return None, "features of zeros"


def warm_up(
    bundle: Bundle, batcher: Any, sizes: Sequence[int], reference: Callable[[], Any] | None = None
) -> None:
    """Runs `bundle`'s warm-up inputs through its pipeline and `batcher` at each of `sizes`,
    then resets the batcher's stats.

    ``reference`` gives the registry version's reference Profile (or None) when the bundle has
    no rows of its own. Raises WarmupError naming the batch size when anything fails.
    """
    rows, source = warmup_rows(bundle, reference)
    batches = _batches(bundle, rows, sizes)
    if batches is None:
        log.warning(
            "model %r: no warm-up inputs (its input rows have no fixed shape): it serves cold",
            bundle.name,
        )
        return
    for size, make in batches:
        try:
            batcher.predict(make())
        except Exception as exc:
            raise WarmupError(
                f"model {bundle.name!r} failed its warm-up at batch size {size} (inputs: "
                f"{source}): {exc}"
            ) from exc
    log.debug("model %r warmed up at batch sizes %s on %s", bundle.name, list(sizes), source)
    _settle(batcher)
    batcher.reset_stats()


def _batches(
    bundle: Bundle, rows: list[Any] | None, sizes: Sequence[int]
) -> list[tuple[int, Callable[[], np.ndarray]]] | None:
    """(size, a function making that batch) per size; None when no batch can be made."""
    pipeline = bundle.pipeline
    if pipeline is not None:
        if rows is None:
            width = len(pipeline.feature_names_out_)
            return [(n, functools.partial(np.zeros, (n, width), np.float32)) for n in sizes]
        return [(n, functools.partial(_features, pipeline, rows, n)) for n in sizes]
    (spec,) = bundle.signature.model_inputs
    dtype = numpy_dtype(spec.datatype)
    if rows is not None:
        x = np.asarray(rows, dtype=dtype)
        spec.check_shape(x.shape)
    elif all(d >= 0 for d in spec.shape[1:]):
        x = np.zeros((1, *spec.shape[1:]), dtype=dtype)
    else:
        return None
    return [(n, functools.partial(_repeat, x, n)) for n in sizes]


def _features(pipeline: Any, rows: list[Any], n: int) -> np.ndarray:
    """The features of `rows` repeated to `n` records, as a request's pipeline makes them."""
    records = [rows[i % len(rows)] for i in range(n)]
    if n == 1 and _one_row_path(pipeline, records[0]):
        pipeline.transform_one(records[0])
    return np.asarray(pipeline.transform(records_to_table(records)))


def _one_row_path(pipeline: Any, record: Any) -> bool:
    """Whether a one-row v2 request of `record` would take the pipeline's transform_one path:
    strings in string columns, numbers (not booleans) in the others, or nulls."""
    if not isinstance(record, dict):
        return False
    for column, is_string in zip(pipeline.input_columns_, pipeline._input_is_string, strict=True):
        value = record.get(str(column))
        if value is None:
            continue
        if is_string != isinstance(value, str) or isinstance(value, bool):
            return False
    return True


def _repeat(x: np.ndarray, n: int) -> np.ndarray:
    return x[np.arange(n) % len(x)]


def _settle(batcher: Any, timeout_s: float = 5.0) -> None:
    """Waits until every request the batcher ran is counted in compute_output (which it counts
    just after handing the result over), so that a reset leaves nothing behind."""
    deadline = time.monotonic() + timeout_s
    while True:
        stats = batcher.stats()
        done = stats["completed"] + stats["failed"]
        if stats["compute_output"]["count"] >= done or time.monotonic() > deadline:
            return
        time.sleep(0.0005)
