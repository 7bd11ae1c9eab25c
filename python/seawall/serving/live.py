"""Live profiles of what a model serves: its input features and its predictions, per time slice.

The request path only appends the batch it already has to a bounded list (a lock and an append);
a background thread profiles what piled up (natively, GIL released) and merges it into the
current slice's :class:`~seawall.Profile`. Every ``slice_s`` seconds the slice closes: it joins a
ring of the last ``keep`` slices and is handed to the ``on_slice`` callbacks (a monitor). Memory is
constant: profiles do not grow with the rows, the ring is bounded, and rows beyond
``max_pending_rows`` waiting to be profiled are dropped and counted, never queued without end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import InvalidInputError, SeawallError
from ..profiles import Profile

__all__ = ["LiveProfiler", "Slice", "predictions_table"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slice:
    """What one model served in [start, end): profiles of the features and the predictions."""

    start: float
    end: float
    rows: int
    features: Profile | None
    predictions: Profile | None


def predictions_table(outputs: Mapping[str, np.ndarray]) -> pa.Table:
    """Model outputs as columns: a 1-D output keeps its name, an (n, k) one becomes name_0..k-1."""
    columns: dict[str, np.ndarray] = {}
    for name, value in outputs.items():
        array = np.asarray(value)
        if array.ndim == 1:
            columns[name] = array
        elif array.ndim == 2:
            for j in range(array.shape[1]):
                columns[f"{name}_{j}"] = array[:, j]
        else:
            columns[name] = array.reshape(len(array), -1)[:, 0]
    return pa.table(columns)


class _Open:
    """The slice being filled."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.rows = 0
        self.columns: list[str] | None = None
        self.features: Profile | None = None
        self.predictions: Profile | None = None


def _rows(data: Any) -> int:
    if isinstance(data, pa.Table):
        return data.num_rows
    first = next(iter(data.values()), ())
    return len(first)


def _as_table(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    columns = {}
    for name, values in data.items():
        array = np.asarray(values) if not isinstance(values, list) else values
        if isinstance(array, np.ndarray):
            array = array.reshape(len(array), -1)[:, 0] if array.ndim > 1 else array
            if array.dtype.kind == "S":
                array = np.char.decode(array, "utf-8", "replace")
        elif array and isinstance(array[0], bytes):  # BYTES tensors: profile them as text
            array = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in array]
        columns[name] = array
    return pa.table(columns)


def _as_predictions(outputs: Any) -> pa.Table | None:
    if outputs is None or isinstance(outputs, pa.Table):
        return outputs
    return predictions_table(outputs)


def _merge(current: Profile | None, batch: pa.Table | None) -> Profile | None:
    if batch is None or batch.num_columns == 0 or batch.num_rows == 0:
        return current
    profile = Profile.from_data(batch)
    return profile if current is None else current.merge(profile)


class LiveProfiler:
    def __init__(
        self,
        slice_s: float = 10.0,
        keep: int = 360,
        max_pending_rows: int = 200_000,
        on_slice: Callable[[Slice], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not slice_s > 0:
            raise InvalidInputError(f"slice_s must be positive, got {slice_s!r}")
        if not isinstance(keep, int) or keep < 1:
            raise InvalidInputError(f"keep must be a positive integer, got {keep!r}")
        if not isinstance(max_pending_rows, int) or max_pending_rows < 1:
            raise InvalidInputError(
                f"max_pending_rows must be a positive integer, got {max_pending_rows!r}"
            )
        self.slice_s = float(slice_s)
        self.max_pending_rows = max_pending_rows
        self._clock = clock
        self._callbacks: list[Callable[[Slice], None]] = [on_slice] if on_slice else []
        self._lock = threading.Lock()
        self._pending: list[tuple[float, Any, Any]] = []
        self._pending_rows = 0
        self.dropped_rows = 0
        self.failed_batches = 0
        self._slices: deque[Slice] = deque(maxlen=keep)
        self._open = _Open(self._slice_start(clock()))
        self._wake = threading.Event()
        self._stop = False
        # Held while profiling or closing a slice: the thread and flush() never interleave.
        self._work = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="seawall-live-profile", daemon=True)
        self._thread.start()

    # --- the request path -----------------------------------------------------------------

    def observe(self, features: Any, predictions: Any = None) -> None:
        """Queues one served batch for profiling; returns at once. Never raises for the data.

        `features`: a table or {column: values}; `predictions`: a table or the model's outputs
        ({name: array}). Converting them to tables is left to the background thread."""
        rows = _rows(features)
        now = self._clock()
        with self._lock:
            if self._pending_rows + rows > self.max_pending_rows:
                self.dropped_rows += rows
                return
            self._pending.append((now, features, predictions))
            self._pending_rows += rows

    # --- reading --------------------------------------------------------------------------

    def add_callback(self, fn: Callable[[Slice], None]) -> None:
        self._callbacks.append(fn)

    def slices(self) -> list[Slice]:
        """The closed slices, oldest first."""
        with self._lock:
            return list(self._slices)

    def window(self, seconds: float) -> Slice | None:
        """The closed slices of the last `seconds`, merged into one; None when there are none."""
        now = self._clock()
        chosen = [s for s in self.slices() if s.end > now - seconds - 1e-9]
        if not chosen:
            return None
        features: Profile | None = None
        predictions: Profile | None = None
        for s in chosen:
            if s.features is not None:
                features = s.features if features is None else features.merge(s.features)
            if s.predictions is not None:
                predictions = (
                    s.predictions if predictions is None else predictions.merge(s.predictions)
                )
        rows = sum(s.rows for s in chosen)
        return Slice(chosen[0].start, chosen[-1].end, rows, features, predictions)

    def flush(self, close_slice: bool = False) -> None:
        """Profiles everything observed so far (and closes the open slice): for tests and
        for shutdown, where waiting for the background thread is the point."""
        self._drain()
        if close_slice:
            self._close_slice(self._clock())

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush(close_slice=True)

    # --- the background thread ------------------------------------------------------------

    def _slice_start(self, t: float) -> float:
        return t - (t % self.slice_s)

    def _run(self) -> None:
        tick = min(self.slice_s / 4, 0.5)
        while not self._stop:
            self._wake.wait(tick)
            self._wake.clear()
            try:
                self._drain()
                now = self._clock()
                if now >= self._open.start + self.slice_s:
                    self._close_slice(now)
            except Exception:  # the profiler must never take the server down
                log.exception("live profiling failed; the batch was skipped")

    def _drain(self) -> None:
        with self._work:
            self._drain_locked()

    def _drain_locked(self) -> None:
        with self._lock:
            pending, self._pending, self._pending_rows = self._pending, [], 0
        # Each batch counts in the slice of the time it was served, however late it is drained.
        group: list[tuple[pa.Table, pa.Table | None]] = []
        for t, features, predictions in pending:
            if t >= self._open.start + self.slice_s:
                self._profile(group)
                group = []
                self._close_slice_locked(t)
            try:
                group.append((_as_table(features), _as_predictions(predictions)))
            except (pa.ArrowException, ValueError, TypeError) as exc:
                self.failed_batches += 1
                log.warning("live profiling skipped a batch it could not read: %s", exc)
        self._profile(group)

    def _profile(self, batches: list[tuple[pa.Table, pa.Table | None]]) -> None:
        if not batches:
            return
        open_ = self._open
        # A slice profiles one set of columns, the first batch's: batches with other columns (a
        # client sending other fields) are counted and skipped, not mixed in.
        if open_.columns is None:
            open_.columns = batches[0][0].column_names
        wanted = set(open_.columns)
        kept = [(f, p) for f, p in batches if set(f.column_names) == wanted]
        self.failed_batches += len(batches) - len(kept)
        if not kept:
            return
        try:
            features = pa.concat_tables(
                [f.select(open_.columns) for f, _ in kept], promote_options="permissive"
            )
            preds = [p for _, p in kept if p is not None]
            predictions = (
                pa.concat_tables(preds, promote_options="permissive")
                if len(preds) == len(kept)
                else None
            )
            features_profile = _merge(open_.features, features)
            predictions_profile = _merge(open_.predictions, predictions)
        except (SeawallError, pa.ArrowException) as exc:
            self.failed_batches += len(kept)
            log.warning("live profiling skipped %d batches: %s", len(kept), exc)
            return
        open_.features, open_.predictions = features_profile, predictions_profile
        open_.rows += features.num_rows

    def _close_slice(self, now: float) -> None:
        with self._work:
            self._close_slice_locked(now)

    def _close_slice_locked(self, now: float) -> None:
        open_ = self._open
        self._open = _Open(self._slice_start(now))
        if open_.rows == 0:
            return
        done = Slice(
            open_.start,
            min(open_.start + self.slice_s, now),
            open_.rows,
            open_.features,
            open_.predictions,
        )
        with self._lock:
            self._slices.append(done)
        for fn in self._callbacks:
            try:
                fn(done)
            except Exception:
                log.exception("a live-profile callback failed")
