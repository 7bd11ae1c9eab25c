"""Wake-ups for readers waiting on new events: one background thread per registry, running while
someone waits (and a little after), that says "new events may be there".

On PostgreSQL the thread LISTENs on the outbox's channel, so a waiter wakes when an event's
transaction commits, in any process. On SQLite it polls the newest event id every ``poll_s``
(a read of the table's primary key). Waiters always query the table themselves after a wake-up:
a wake-up that finds nothing new costs one query, a lost wake-up costs at most the waiter's own
timeout, never an event.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from .._db import Database
from ._outbox import CHANNEL, last_event_id

log = logging.getLogger("seawall.registry")

# How long the thread stays up once nobody waits, so a waiter that comes back at once (a model
# server's watcher, a stream between two reads) does not restart it every time.
_IDLE_S = 10.0
# PostgreSQL: how long one wait for notifications lasts before the thread checks whether it
# should stop, and the longest pause before reconnecting a listener whose connection broke.
_LISTEN_SLICE_S = 0.5
_MAX_RECONNECT_S = 5.0


class EventSignal:
    """A generation counter bumped whenever new events may have been committed."""

    def __init__(self, db: Database, poll_s: float) -> None:
        self._db = db
        self.poll_s = poll_s
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self.generation = 0
        self._users = 0
        self._last_use = time.monotonic()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next_callback = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        # PostgreSQL: whether the thread listens now, and how often listening failed.
        self.listening = False
        self.failures = 0

    def _check_fork(self) -> None:
        if self._pid != os.getpid():  # a forked child has none of its parent's threads
            self._reset()

    def wait(self, seen: int, timeout_s: float) -> int:
        """Waits until the generation differs from `seen` or `timeout_s` passed; returns the
        generation now."""
        self._check_fork()
        with self._cond:
            self._users += 1
            self._ensure_thread()
            try:
                self._cond.wait_for(lambda: self.generation != seen, timeout_s)
                return self.generation
            finally:
                self._users -= 1
                self._last_use = time.monotonic()

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Calls ``callback()`` from the signal's thread on every bump until the returned
        function is called. The callback must return at once and not raise."""
        self._check_fork()
        with self._cond:
            key = self._next_callback
            self._next_callback += 1
            self._callbacks[key] = callback
            self._users += 1
            self._ensure_thread()

        def cancel() -> None:
            with self._cond:
                if self._callbacks.pop(key, None) is not None:
                    self._users -= 1
                    self._last_use = time.monotonic()

        return cancel

    def close(self) -> None:
        with self._cond:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._cond:
            self._stop = threading.Event()
            if self._users:  # someone still waits: the registry reconnects when used again
                self._ensure_thread()

    def _ensure_thread(self) -> None:
        # Called with _cond held.
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name="seawall-events", daemon=True
            )
            self._thread.start()

    def _bump(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()
            callbacks = list(self._callbacks.values())
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a subscriber's bug must not stop everyone's wake-ups
                log.exception("events: a subscriber's wake-up callback raised")

    def _idle(self, stop: threading.Event) -> bool:
        """Whether the thread should end (closed, or nobody waited for a while); when so, it is
        forgotten under the lock, so a new waiter starts a new one."""
        with self._cond:
            if stop.is_set():
                return True
            if self._users == 0 and time.monotonic() - self._last_use > _IDLE_S:
                if self._thread is threading.current_thread():
                    self._thread = None
                return True
            return False

    def _run(self, stop: threading.Event) -> None:
        if self._db.dialect == "postgresql":
            self._listen(stop)
        else:
            self._poll(stop)

    def _poll(self, stop: threading.Event) -> None:
        last: int | None = None
        while not self._idle(stop):
            now: int | None
            try:
                with self._db.read() as conn:
                    now = last_event_id(conn)
            except Exception as exc:  # busy or gone: the waiters' timeouts still hold
                log.debug("events: could not read the newest event id: %s", exc)
                now = last
            if now != last:
                last = now
                self._bump()
            stop.wait(self.poll_s)

    def _listen(self, stop: threading.Event) -> None:
        failures = 0
        while not self._idle(stop):
            try:
                self._listen_once(stop)
                failures = 0
            except Exception as exc:
                failures += 1
                self.failures += 1
                (log.warning if failures == 1 else log.debug)(
                    "events: listening for notifications from %s failed (%s); waiters fall back "
                    "to their timeouts until it listens again",
                    self._db.display,
                    exc,
                )
                self._bump()  # waiters look for themselves meanwhile
                stop.wait(min(_MAX_RECONNECT_S, 0.1 * 2**failures))

    def _listen_once(self, stop: threading.Event) -> None:
        pooled = self._db.engine.raw_connection()
        pooled.detach()  # this connection leaves the pool: closed, not returned, at the end
        try:
            raw: Any = pooled.dbapi_connection
            raw.autocommit = True
            raw.execute(f"LISTEN {CHANNEL}")
            self.listening = True
            self._bump()  # what committed before LISTEN took effect: waiters look again
            while not self._idle(stop):
                for _ in raw.notifies(timeout=_LISTEN_SLICE_S):
                    self._bump()
        finally:
            self.listening = False
            pooled.close()
