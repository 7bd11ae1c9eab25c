"""Shadow traffic: copies of requests answered by the shadow arm off the request path.

The request path only offers a copy (the request's body bytes, already read, and the primary's
outputs) to a bounded queue: one ``put_nowait``. When the queue is full, because the shadow is
slower than the traffic or hangs, the copy is dropped and counted, never waited for, so the
shadow cannot slow the primary's answers. A few worker threads, each with an event loop of its
own, take the copies, decode them with the shadow's own pipeline and run them through the
shadow's batcher (with a queue timeout, so that a hung shadow fails its queued copies instead of
holding them). Their answers and errors go to the shadow arm's figures, and the outputs are
compared with the primary's (agreement); no client ever sees them.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import BatcherClosedError

__all__ = ["ShadowQueue"]

log = logging.getLogger("seawall.serving")

_STOP = object()


class ShadowQueue:
    """A bounded queue of request copies and the workers answering them with the shadow.

    ``model()`` gives the shadow's current ServedModel (None while none is loaded);
    ``stats(version)`` the ArmStats its answers are recorded in. ``size`` copies wait at most;
    ``workers`` threads answer them; a copy waits at most ``timeout_s`` in the shadow's batcher.
    """

    def __init__(
        self,
        name: str,
        model: Callable[[], Any],
        stats: Callable[[str | None], Any],
        size: int = 1024,
        workers: int = 2,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self._model = model
        self._stats = stats
        self.timeout_us = max(1, int(timeout_s * 1e6))
        self.offered = 0
        self.dropped = 0
        self.errors = 0
        self._queue: queue.Queue[Any] = queue.Queue(size)
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"seawall-shadow-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def offer(
        self,
        endpoint: str,
        body: bytes,
        header_length: str | None,
        primary: Mapping[str, Any] | None,
    ) -> bool:
        """Queues a copy of a request for the shadow, with the primary's outputs for it (None
        when another arm answered it). False when it was dropped (the queue is full)."""
        if self._closed:
            return False
        self.offered += 1
        try:
            self._queue.put_nowait((endpoint, body, header_length, primary))
            return True
        except queue.Full:
            self.dropped += 1
            served = self._model()
            self._stats(served.version if served is not None else None).record_drop()
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning(
                    "traffic of %r: the shadow is %d copies behind; dropped %d copies so far "
                    "(the primary is not slowed)",
                    self.name,
                    self._queue.maxsize,
                    self.dropped,
                )
            return False

    def close(self, timeout_s: float = 5.0) -> None:
        """Stops the workers: copies still queued are discarded; a worker stuck on a hung
        shadow is left behind (its thread is a daemon) after `timeout_s`."""
        self._closed = True
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for _ in self._threads:
            try:
                self._queue.put(_STOP, timeout=timeout_s)
            except queue.Full:
                break
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def _work(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                try:
                    self._answer(loop, *item)
                except Exception:  # never lose a worker
                    log.exception("traffic of %r: a shadow worker failed", self.name)
        finally:
            loop.close()

    def _answer(
        self,
        loop: asyncio.AbstractEventLoop,
        endpoint: str,
        body: bytes,
        header_length: str | None,
        primary: Mapping[str, Any] | None,
    ) -> None:
        served = self._model()
        if served is None:
            return
        start = time.perf_counter()
        result = None
        while True:
            try:
                prepare = served.prepare_infer if endpoint == "infer" else served.prepare_predict
                prepared = prepare(body, header_length)
                options = dict(prepared.options)
                options.setdefault("timeout_us", self.timeout_us)
                result = loop.run_until_complete(served.run(prepared.x, options))
            except BatcherClosedError as exc:
                if served.replaced_by is not None:  # a hot swap: the new shadow answers
                    served = served.replaced_by
                    continue
                self._failed(exc)
            except Exception as exc:
                self._failed(exc)
            break
        stats = self._stats(served.version)
        stats.record(result is None, time.perf_counter() - start, result)
        if result is not None and primary is not None:
            stats.record_agreement(primary, result)

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self.errors == 1:
            log.warning(
                "traffic of %r: the shadow failed on a copy (%s: %s); its errors are counted "
                "on /metrics, never shown to clients",
                self.name,
                type(exc).__name__,
                exc,
            )
        else:
            log.debug("traffic of %r: the shadow failed: %s", self.name, exc)
