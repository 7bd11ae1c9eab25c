"""Live profiles of what a model serves: its input features and its predictions, per time slice.

The request path only appends the batch it already has to a bounded list (a lock and an append);
a background thread profiles what piled up (natively, GIL released) and merges it into the
current slice's :class:`~seawall.Profile`. Every ``slice_s`` seconds the slice closes: it joins a
ring of the last ``keep`` slices and is handed to the ``on_slice`` callbacks (a monitor). Memory is
bounded, whatever clients send: profiles do not grow with the rows and keep long strings
truncated (``seawall._core.TOP_VALUE_MAX_BYTES``), the ring holds at most ``max_bytes`` of
profiles (the oldest slices go first), and batches waiting to be profiled past
``max_pending_rows`` or ``max_pending_bytes`` are dropped and counted, never queued without end.
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


def _names(data: Any) -> list[str]:
    return list(data.column_names) if isinstance(data, pa.Table) else list(data)


def _join_features(batches: list[Any], columns: list[str]) -> pa.Table:
    """One table of the batches' rows (tables, or {column: values} from the v2 protocol)."""
    if all(not isinstance(b, pa.Table) for b in batches):
        joined: dict[str, list[Any]] = {c: [] for c in columns}
        for b in batches:
            for c in columns:
                values = b[c]
                joined[c].extend(values.tolist() if isinstance(values, np.ndarray) else values)
        return _as_table(joined)
    tables = [_as_table(b) for b in batches]
    tables = [t if t.column_names == columns else t.select(columns) for t in tables]
    return pa.concat_tables(tables, promote_options="permissive").combine_chunks()


def _join_predictions(batches: list[Any]) -> pa.Table:
    """One table of the model outputs of the batches ({name: array} each, or tables)."""
    if all(isinstance(b, Mapping) for b in batches):
        names = list(batches[0])
        if all(list(b) == names for b in batches):
            return predictions_table(
                {n: np.concatenate([np.asarray(b[n]) for b in batches]) for n in names}
            )
    tables = [b if isinstance(b, pa.Table) else predictions_table(b) for b in batches]
    return pa.concat_tables(tables, promote_options="permissive").combine_chunks()


def _merge(current: Profile | None, batch: pa.Table | None) -> Profile | None:
    if batch is None or batch.num_columns == 0 or batch.num_rows == 0:
        return current
    profile = Profile.from_data(batch)
    return profile if current is None else current.merge(profile)


def _nbytes(data: Any) -> int:
    """About how many bytes a served batch holds (a table, {column: values} or {output: array}),
    strings by their length: what bounds the batches waiting to be profiled."""
    if data is None:
        return 0
    if isinstance(data, pa.Table):
        return int(data.nbytes)
    total = 0
    for values in data.values():
        if isinstance(values, np.ndarray) and values.dtype != object:
            total += values.nbytes
        else:
            total += 8 * len(values)
            total += sum(len(v) for v in values if isinstance(v, (str, bytes)))
    return total


def _slice_bytes(s: Slice) -> int:
    """The size of a slice's profiles (their saved form, a close measure of what they hold)."""
    return sum(p.nbytes for p in (s.features, s.predictions) if p is not None)


class LiveProfiler:
    """Profiles served batches off the request path into slices of ``slice_s`` seconds (module
    docstring); ``keep`` slices and ``max_bytes`` of their profiles at most are kept, and at most
    ``max_pending_rows`` rows and ``max_pending_bytes`` bytes wait to be profiled."""

    def __init__(
        self,
        slice_s: float = 10.0,
        keep: int = 360,
        max_pending_rows: int = 200_000,
        on_slice: Callable[[Slice], None] | None = None,
        clock: Callable[[], float] = time.time,
        max_bytes: int = 64 << 20,
        max_pending_bytes: int = 64 << 20,
    ) -> None:
        if not slice_s > 0:
            raise InvalidInputError(f"slice_s must be positive, got {slice_s!r}")
        for label, value in (
            ("keep", keep),
            ("max_pending_rows", max_pending_rows),
            ("max_bytes", max_bytes),
            ("max_pending_bytes", max_pending_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{label} must be a positive integer, got {value!r}")
        self.slice_s = float(slice_s)
        self.max_pending_rows = max_pending_rows
        self.max_pending_bytes = max_pending_bytes
        self.max_bytes = max_bytes
        self._clock = clock
        self._callbacks: list[Callable[[Slice], None]] = [on_slice] if on_slice else []
        self._lock = threading.Lock()
        self._pending: list[tuple[float, Any, Any]] = []
        self._pending_rows = 0
        self._pending_bytes = 0
        self.dropped_rows = 0
        self.failed_batches = 0
        self.evicted_slices = 0  # closed slices dropped from the ring to keep within max_bytes
        self._slices: deque[tuple[Slice, int]] = deque(maxlen=keep)  # with their sizes
        self._ring_bytes = 0
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
        nbytes = _nbytes(features) + _nbytes(predictions)
        now = self._clock()
        with self._lock:
            if (
                self._pending_rows + rows > self.max_pending_rows
                or self._pending_bytes + nbytes > self.max_pending_bytes
            ):
                self.dropped_rows += rows
                return
            self._pending.append((now, features, predictions))
            self._pending_rows += rows
            self._pending_bytes += nbytes

    # --- reading --------------------------------------------------------------------------

    def add_callback(self, fn: Callable[[Slice], None]) -> None:
        self._callbacks.append(fn)

    def slices(self) -> list[Slice]:
        """The closed slices, oldest first."""
        with self._lock:
            return [s for s, _ in self._slices]

    @property
    def ring_bytes(self) -> int:
        """The size of the profiles of the closed slices kept (at most max_bytes, or the one
        newest slice when it alone is larger)."""
        with self._lock:
            return self._ring_bytes

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

    def close(self, timeout: float = 5.0) -> None:
        """Stops the thread and profiles what is left; a consumer stuck in its callback does not
        hold up a server's shutdown past `timeout` (what it holds is then not profiled)."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            log.warning("live profile: a slice consumer is stuck; closing without the last data")
            return
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
            pending, self._pending = self._pending, []
            self._pending_rows = self._pending_bytes = 0
        # Each batch counts in the slice of the time it was served, however late it is drained.
        group: list[tuple[Any, Any]] = []
        for t, features, predictions in pending:
            if t >= self._open.start + self.slice_s:
                self._profile(group)
                group = []
                self._close_slice_locked(t)
            group.append((features, predictions))
        self._profile(group)

    def _profile(self, batches: list[tuple[Any, Any]]) -> None:
        """Profiles a group of served batches into the open slice. The batches are joined first
        (one table per group, one chunk per column): profiling thousands of one-row requests
        one by one would cost far more than the requests themselves."""
        if not batches:
            return
        open_ = self._open
        # A slice profiles one set of columns, the first batch's: batches with other columns (a
        # client sending other fields) are counted and skipped, not mixed in.
        if open_.columns is None:
            open_.columns = _names(batches[0][0])
        columns = open_.columns
        wanted = set(columns)
        kept = [(f, p) for f, p in batches if _names(f) == columns or set(_names(f)) == wanted]
        self.failed_batches += len(batches) - len(kept)
        if not kept:
            return
        try:
            features = _join_features([f for f, _ in kept], columns)
            preds = [p for _, p in kept if p is not None]
            predictions = _join_predictions(preds) if len(preds) == len(kept) else None
            features_profile = _merge(open_.features, features)
            predictions_profile = _merge(open_.predictions, predictions)
        except (SeawallError, pa.ArrowException, ValueError, TypeError) as exc:
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
        size = _slice_bytes(done)
        with self._lock:
            if len(self._slices) == self._slices.maxlen:
                self._ring_bytes -= self._slices[0][1]
            self._slices.append((done, size))
            self._ring_bytes += size
            while self._ring_bytes > self.max_bytes and len(self._slices) > 1:
                self._ring_bytes -= self._slices.popleft()[1]
                self.evicted_slices += 1
        for fn in self._callbacks:
            try:
                fn(done)
            except Exception:
                log.exception("a live-profile callback failed")
