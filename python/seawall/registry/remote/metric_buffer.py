"""The metric points a registry server's client logs, sent in batches by a thread of its own.

Through a ``seawall server``, one request (and one database transaction) per ``log_metric``
would cost a round trip per point. :class:`MetricBuffer` keeps the points a client's runs log
and sends each run's as one ``_log_batch`` request, from a thread, once ``POINTS_PER_SEND``
wait or ``SEND_AFTER_S`` after the first of them; a training loop goes on meanwhile. What the
caller sees stays what a local registry gives:

* bad input raises at the call: the points are checked before they wait;
* a run's first write after any other write of the client is sent at once (see
  :meth:`MetricBuffer.may_wait`), so that writing to a run that has ended, was deleted or that
  the token may not write raises at the call, as with a database. Only what changes elsewhere
  meanwhile (another process ends or deletes the run, revokes the token) can fail points that
  wait;
* every other call of the client sends the waiting points first: its reads see them, and
  writes keep their order;
* the error of a send that failed is kept and raised by the run's next write or its end (which
  ends it FAILED), or by ``close()``, naming the run and the points lost; a process that exits
  first logs it (ERROR);
* the points are sent at ``close()``, when the client is collected and when the process exits
  (a process killed outright loses what waits: at most ``SEND_AFTER_S`` of points);
* at most ``MAX_WAITING`` points wait: past that, the logging call sends them itself.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ...errors import SeawallError, StorageError

__all__ = ["MetricBuffer"]

log = logging.getLogger("seawall.registry")

# Points that wake the sending thread at once; otherwise it sends SEND_AFTER_S after the first.
POINTS_PER_SEND = 2_000
SEND_AFTER_S = 0.2
# Points in one request (a few hundred KB of JSON, well under a server's body limit).
POINTS_PER_REQUEST = 10_000
# Points that may wait at once; a call that would pass this sends them itself.
MAX_WAITING = 50_000
# The sending thread ends after this long without points (it starts again with the next).
IDLE_S = 5.0

Row = list[Any]  # [key, value, step, timestamp], checked


class MetricBuffer:
    """The points waiting to be sent to one server, by run id; `send(run_id, rows)` sends
    rows of one run in one request (it must not hold the client alive: the thread keeps it)."""

    def __init__(self, send: Callable[[str, list[Row]], None]) -> None:
        self._send = send
        self._start()
        _BUFFERS.add(self)

    def _start(self) -> None:
        """Empty, with new locks: when made, and in a forked child (whose parent's points, thread
        and locks are the parent's)."""
        self._lock = threading.Lock()
        self._due = threading.Condition(self._lock)
        self._sending = threading.Lock()  # one send at a time: a run's points stay in order
        self._waiting: dict[str, list[Row]] = {}
        self._count = 0
        self._first_at = 0.0
        self._open: set[str] = set()  # runs whose last write went through: the next may wait
        self._failed: dict[str, tuple[int, BaseException]] = {}  # points lost, first error
        self._thread: threading.Thread | None = None

    # --- the calls of the client ----------------------------------------------------------

    def may_wait(self, run_id: str) -> bool:
        """Whether points of `run_id` may wait: the client's last write to it went through, and
        it made no other write since (which may have ended or deleted the run)."""
        with self._lock:
            return run_id in self._open

    def opened(self, run_id: str) -> None:
        """A write to `run_id` went through: its next points may wait."""
        with self._lock:
            self._open.add(run_id)

    def forget_open(self) -> None:
        """The client makes another write: every run's next write is sent at once again."""
        with self._lock:
            self._open.clear()

    def add(self, run_id: str, rows: list[Row]) -> None:
        """Keeps checked points of a run until they are sent."""
        with self._lock:
            if not self._count:
                self._first_at = time.monotonic()
            self._waiting.setdefault(run_id, []).extend(rows)
            self._count += len(rows)
            full = self._count >= MAX_WAITING
            if self._count >= POINTS_PER_SEND:
                self._due.notify()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="seawall-metric-sender", daemon=True
                )
                self._thread.start()
        if full:
            self.flush()

    def flush(self) -> None:
        """Sends every waiting point (after the send in flight, if any). A send that fails is
        kept for :meth:`raise_failed`."""
        with self._sending:
            with self._lock:
                waiting, self._waiting, self._count = self._waiting, {}, 0
                self._due.notify()  # the thread waits for the next points, not these
            runs = list(waiting.items())
            for i, (run_id, rows) in enumerate(runs):
                sent = 0
                try:
                    while sent < len(rows):
                        self._send(run_id, rows[sent : sent + POINTS_PER_REQUEST])
                        sent += POINTS_PER_REQUEST
                except Exception as exc:
                    self._fail(run_id, len(rows) - sent, exc)
                except BaseException as exc:  # interrupted: what was not sent is lost, and said
                    self._fail(run_id, len(rows) - sent, exc)
                    for other, left in runs[i + 1 :]:
                        self._fail(other, len(left), exc)
                    raise

    def raise_failed(self, run_id: str | None = None) -> None:
        """Raises the error of points that could not be sent: those of `run_id`, or of any run
        (None); each error is raised once."""
        with self._lock:
            name = run_id if run_id is not None else next(iter(self._failed), None)
            found = self._failed.pop(name, None) if name is not None else None
        if name is not None and found is not None:
            count, error = found
            raise _lost(name, count, error) from error

    def close(self) -> None:
        """Sends what waits, and logs what could not be sent (nobody is left to raise it to):
        when the client is collected, or the process exits."""
        try:
            self.flush()
        except BaseException as exc:  # the process is going away: say so, do not raise
            log.error("metric points waiting for the registry server were not sent: %s", exc)
        with self._lock:
            failed, self._failed = self._failed, {}
        for run_id, (count, error) in failed.items():
            log.error("%s", _lost(run_id, count, error))

    # --- the sending thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                idle_until = time.monotonic() + IDLE_S
                while not self._count:
                    left = idle_until - time.monotonic()
                    if left <= 0:
                        self._thread = None
                        return
                    self._due.wait(left)
                wait = self._first_at + SEND_AFTER_S - time.monotonic()
                if self._count < POINTS_PER_SEND and wait > 0:
                    self._due.wait(wait)
                    continue
            self.flush()

    def _fail(self, run_id: str, count: int, exc: BaseException) -> None:
        with self._lock:
            lost, first = self._failed.get(run_id, (0, exc))
            self._failed[run_id] = (lost + count, first)
            self._open.discard(run_id)  # its next write is sent at once, and tells its state


_BUFFERS: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()
if hasattr(os, "register_at_fork"):  # a child starts empty: its parent sends its own points

    def _start_all() -> None:
        for buffer in list(_BUFFERS):
            buffer._start()

    os.register_at_fork(after_in_child=_start_all)


def _lost(run_id: str, count: int, exc: BaseException) -> SeawallError:
    """The error of points that were not written: the class of the send's error."""
    why = str(exc) if isinstance(exc, SeawallError) else f"{type(exc).__name__}: {exc}"
    message = f"{count} metric point(s) logged to run {run_id} were not written: {why}"
    if isinstance(exc, SeawallError):
        try:
            return type(exc)(message)
        except TypeError:  # a class with other arguments
            pass
    return StorageError(message)
