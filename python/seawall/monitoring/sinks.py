"""Where alert events go: a webhook (JSON POSTs from a background thread) or a Python callback.

A sink's ``send(event)`` never blocks its caller and never raises: a monitor calls it from its
evaluation thread, which must go on whatever the receiver does. An event is a dict::

    {"status": "firing" | "resolved", "model": ..., "version": ...,
     "alert": {...Alert.to_dict()...}, "window": {"start": ..., "end": ..., "rows": ...}}
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .._webhooks import backoff_delay, check_url, json_safe, post
from ..errors import InvalidInputError

__all__ = ["CallbackSink", "Sink", "WebhookSink"]

log = logging.getLogger("seawall.monitoring")


class Sink(Protocol):
    def send(self, event: dict[str, Any]) -> None: ...


class CallbackSink:
    """Calls ``fn(event)`` on the monitor's evaluation thread. An exception from `fn` is logged
    and swallowed; `fn` should return quickly (it holds up the next window's evaluation)."""

    def __init__(self, fn: Callable[[dict[str, Any]], Any]) -> None:
        if not callable(fn):
            raise InvalidInputError(f"CallbackSink takes a callable, got {type(fn).__name__}")
        self.fn = fn

    def send(self, event: dict[str, Any]) -> None:
        try:
            self.fn(event)
        except Exception:
            log.exception("alert callback %r raised; the event was: %s", self.fn, event)

    def __repr__(self) -> str:
        return f"CallbackSink({self.fn!r})"


class WebhookSink:
    """POSTs each event as JSON to `url` from a background thread.

    ``send`` puts the event on a bounded queue (``max_queue`` events) and returns at once; when
    the queue is full the event is dropped with a logged warning. Each event is tried up to
    ``1 + retries`` times: connection errors, timeouts, 429 and 5xx answers are retried after
    ``backoff_s * 2**attempt`` seconds (capped at ``max_backoff_s``, with jitter); other 4xx
    answers are not. An event still undelivered after its tries is dropped with a logged
    warning. ``stats()`` counts what was sent, retried and dropped. With a `secret`, each body
    is signed (HMAC-SHA256, in the ``X-Seawall-Signature`` header, as the registry's webhooks).
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_queue: int = 1000,
        secret: str | None = None,
    ) -> None:
        check_url(url)
        for label, value in (("timeout_s", timeout_s), ("backoff_s", backoff_s)):
            if not isinstance(value, (int, float)) or not value > 0:
                raise InvalidInputError(f"{label} must be a positive number, got {value!r}")
        if not isinstance(retries, int) or retries < 0:
            raise InvalidInputError(f"retries must be a non-negative integer, got {retries!r}")
        if not isinstance(max_queue, int) or max_queue < 1:
            raise InvalidInputError(f"max_queue must be a positive integer, got {max_queue!r}")
        self.url = url
        self.headers = {"Content-Type": "application/json", **dict(headers or {})}
        self.timeout_s = float(timeout_s)
        self.retries = retries
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise InvalidInputError("secret must be a non-empty string")
        self._secret = secret
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(max_queue)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stats = {"sent": 0, "retried": 0, "dropped": 0, "queue_full": 0}

    def __repr__(self) -> str:
        return f"WebhookSink({self.url!r})"

    def send(self, event: dict[str, Any]) -> None:
        if self._stop.is_set():
            log.warning("webhook %s is closed: alert event dropped", self.url)
            return
        self._start()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._lock:
                self._stats["queue_full"] += 1
                self._stats["dropped"] += 1
            log.warning(
                "webhook %s: %d events are waiting; this alert event was dropped",
                self.url,
                self._queue.maxsize,
            )

    def stats(self) -> dict[str, int]:
        """Events sent, retries made, events dropped (queue full or tries used up), and the
        events waiting now."""
        with self._lock:
            return {**self._stats, "pending": self._queue.unfinished_tasks}

    def flush(self, timeout: float | None = None) -> bool:
        """Waits until every queued event was delivered or dropped; False on timeout."""
        q = self._queue
        with q.all_tasks_done:
            return q.all_tasks_done.wait_for(lambda: q.unfinished_tasks == 0, timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Stops the thread: events still queued are tried once more within `timeout` (the
        backoff waits end early), then dropped."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            try:
                self._queue.put_nowait(None)  # wakes the thread if it waits for events
            except queue.Full:
                pass  # it has events to try first; it stops when they are done
            thread.join(timeout)

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name=f"seawall-webhook-{self.url}", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                event = self._queue.get(timeout=0.1 if self._stop.is_set() else None)
            except queue.Empty:
                return  # closed, and nothing is left to try
            try:
                if event is None:
                    return
                self._deliver(event)
            except Exception:  # never let the thread die: the next event may go through
                log.exception("webhook %s: unexpected error", self.url)
            finally:
                self._queue.task_done()

    def _deliver(self, event: dict[str, Any]) -> None:
        body = json.dumps(json_safe(event), allow_nan=False).encode()
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                with self._lock:
                    self._stats["retried"] += 1
                # closing ends the wait early: one more try, then the event is dropped
                self._stop.wait(backoff_delay(attempt, self.backoff_s, self.max_backoff_s))
            result = post(self.url, body, self.headers, self.timeout_s, secret=self._secret)
            if result.ok:
                with self._lock:
                    self._stats["sent"] += 1
                return
            last = result.detail
            if not result.retry:
                break  # the receiver refuses it: trying again would not help
            if self._stop.is_set() and attempt >= 1:
                break
        with self._lock:
            self._stats["dropped"] += 1
        log.warning(
            "webhook %s: alert event dropped after %d tries (%s): %s %s",
            self.url,
            attempt + 1,
            last,
            event.get("status"),
            event.get("alert", {}).get("message"),
        )
