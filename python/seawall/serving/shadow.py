"""Shadow traffic: copies of requests answered by the shadow arm off the request path.

The request path only offers a copy (the request's body bytes, already read, the primary's
outputs, and the request as the arm that answered it decoded it) to a bounded queue: one
``put_nowait``. When the queue is full, because the shadow is slower than the traffic or hangs,
the copy is dropped and counted, never waited for, so the shadow cannot slow the primary's
answers. A few worker threads take the copies and run them through the shadow's batcher (with a
queue timeout, so that a hung shadow fails its queued copies instead of holding them). Their
answers and errors go to the shadow arm's figures, and the outputs are compared with the
primary's (agreement); no client ever sees them.

What the shadow holds the server's GIL for is time the primary's requests wait: a long hold
shows in the primary's tail latency, frequent wake-ups in its throughput. So by default the
shadow's model, with its decoding and pipeline, runs in a worker process of its own
(:mod:`seawall.serving.shadow_process`), and the server's workers only hand it blocks of copies
and record its answers. Either way the shadow does as little as it can, rarely:

- a worker wakes for the first copy, lets copies gather for ``GATHER_S`` (asleep: a copy offered
  meanwhile wakes nobody), then takes up to ``BLOCK`` of them and answers them as one request;
- it decodes nothing twice: when the shadow's feature pipeline is the one that made the copy's
  model input (the same saved state, or neither has one), the shadow runs its model on that input
  as it is; otherwise it transforms the request as the answering arm parsed it (JSON records,
  columns and tensors of one kind joined into one request, transformed once, run in one go and
  split again, row for row the same as one at a time; a block that does not decode as a whole is
  answered copy by copy); only binary tensor data is decoded again from its bytes;
- it waits for its batcher without the GIL, and records a block's figures at once.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from .shadow_answer import Answer, Copy, answer_copies
from .shadow_process import ShadowProcess

__all__ = ["LoggedCopy", "ShadowQueue"]

log = logging.getLogger("seawall.serving")

BLOCK = 256  # copies a worker answers at once, at most
GATHER_S = 0.05  # how long a worker lets copies gather after the first
# A copy keeps the parsed request of a body up to this size (a larger one: its bytes only, as
# parsed JSON holds several times the memory of its text).
KEEP_PARSED_BYTES = 64 << 10


class ShadowQueue:
    """A bounded queue of request copies and the workers answering them with the shadow.

    ``model()`` gives the shadow's current ServedModel (None while none is loaded);
    ``stats(version)`` the ArmStats its answers are recorded in. ``size`` copies wait at most;
    ``workers`` threads answer them; a copy waits at most ``timeout_s`` in the shadow's batcher.
    ``process`` (a ShadowProcess) answers them in a worker process; without one, or for a
    version it cannot load, the workers answer them themselves.
    """

    def __init__(
        self,
        name: str,
        model: Callable[[], Any],
        stats: Callable[[str | None], Any],
        size: int = 1024,
        workers: int = 2,
        timeout_s: float = 10.0,
        process: ShadowProcess | None = None,
    ) -> None:
        self.name = name
        self.process = process
        self._model = model
        self._stats = stats
        self.timeout_us = max(1, int(timeout_s * 1e6))
        self.offered = 0
        self.dropped = 0
        self.errors = 0
        # The copies waiting; the request path only appends (and reads the length), the
        # workers take from the left. `_waiting` is set while copies wait: one wake-up a block.
        self._size = size
        self._copies: collections.deque[Copy] = collections.deque()
        self._waiting = threading.Event()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"seawall-shadow-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()
        served = model()
        if process is not None and served is not None:  # started now, not by the first copy
            threading.Thread(
                target=process.prepare, args=(served,), name="seawall-shadow-start", daemon=True
            ).start()

    @property
    def queued(self) -> int:
        return len(self._copies)

    def offer(
        self,
        endpoint: str,
        body: bytes,
        header_length: str | None,
        primary: Mapping[str, Any] | None,
        logged: LoggedCopy | None = None,
        *,
        decoded: Any = None,
        features_key: str | None = None,
    ) -> bool:
        """Queues a copy of a request for the shadow, with the primary's outputs for it (None
        when another arm answered it) and, when the payload log keeps the shadow's answer to
        it, where and under which request id. ``decoded`` is the request as the answering arm
        prepared it (its parsed JSON, model input and options), ``features_key`` the key of
        the features that arm makes (both None: the shadow decodes the body). False when it
        was dropped (the queue is full)."""
        if self._closed:
            return False
        self.offered += 1
        if len(self._copies) >= self._size:
            self.dropped += 1
            served = self._model()
            self._stats(served.version if served is not None else None).record_drop()
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning(
                    "traffic of %r: the shadow is %d copies behind; dropped %d copies so far "
                    "(the primary is not slowed)",
                    self.name,
                    self._size,
                    self.dropped,
                )
            return False
        request = x = None
        options: tuple[tuple[str, int], ...] = ()
        if decoded is not None:
            x = decoded.x
            options = tuple(decoded.options.items())
            if len(body) <= KEEP_PARSED_BYTES:
                request = decoded.request
        self._copies.append(
            Copy(endpoint, body, header_length, primary, logged, request, x, features_key, options)
        )
        if not self._waiting.is_set():
            self._waiting.set()
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Stops the workers: copies still queued are discarded; a worker stuck on a hung
        shadow is left behind (its thread is a daemon) after `timeout_s`."""
        self._closed = True
        if self.process is not None:  # first: a worker waiting for it gets its answer
            self.process.close()
        self._copies.clear()
        self._waiting.set()
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def _work(self) -> None:
        copies = self._copies
        while True:
            self._waiting.wait()
            if self._closed:
                return
            if len(copies) < BLOCK:
                time.sleep(GATHER_S)  # one wake-up per block, not one per copy
            items: list[Copy] = []
            while len(items) < BLOCK:
                try:
                    items.append(copies.popleft())
                except IndexError:
                    break
            if not copies:  # all taken: wait for the next one (which may have come since)
                self._waiting.clear()
                if copies:
                    self._waiting.set()
            if self._closed:
                return
            if not items:
                continue
            try:
                self._answer_block(items, self._model())
            except Exception:  # never lose a worker
                log.exception("traffic of %r: a shadow worker failed", self.name)

    def _answer_block(self, items: list[Copy], served: Any) -> None:
        """Answers the copies with `served` (the shadow now; None: none is loaded) and records
        the answers: the arm's figures, the agreement with the primary, the payload log."""
        if served is None:
            return
        answers = None
        if self.process is not None:
            answers = self.process.answer(served, items, self.timeout_us)
        if answers is None:  # no worker process for this version: here
            answers = answer_copies(served, items, self.timeout_us)
        for answer in answers:
            self._record(items, answer)

    def _record(self, items: list[Copy], answer: Answer) -> None:
        copies = [items[i] for i in answer.copies]
        if answer.error is not None:
            self._failed(answer.error, len(copies))
        stats = self._stats(answer.version)
        stats.record_block(len(copies), answer.result is None, answer.seconds, answer.result)
        primaries = [c.primary for c in copies]
        if answer.result is not None and any(p is not None for p in primaries):
            _agreement(stats, answer.result, primaries, answer.rows)
        if any(c.logged is not None for c in copies):
            _log_answers(answer.served, copies, answer.rows, answer.result, answer.error)

    def _failed(self, exc: BaseException, copies: int) -> None:
        first = self.errors == 0
        self.errors += copies
        if first:
            log.warning(
                "traffic of %r: the shadow failed on a copy (%s: %s); its errors are counted "
                "on /metrics, never shown to clients",
                self.name,
                type(exc).__name__,
                exc,
            )
        else:
            log.debug("traffic of %r: the shadow failed: %s", self.name, exc)


class LoggedCopy(NamedTuple):
    """Where the shadow's answer to a copy is logged: the payload log, and the id, inputs and
    time of the request as the primary's record has them (so that the two join by id)."""

    log: Any  # a PayloadLog
    request_id: str
    inputs: Any
    time: float


def _log_answers(
    served: Any,
    items: list[Copy],
    rows: list[int] | None,
    result: Mapping[str, Any] | None,
    error: BaseException | None,
) -> None:
    """Offers the shadow's answers (or its error) to the payload log, under ``arm="shadow"``,
    for the copies whose request it keeps."""
    offset = 0
    for item, n in zip(items, rows if rows is not None else [None] * len(items), strict=True):
        logged = item.logged
        if logged is not None:
            outputs = None
            if result is not None:
                outputs = (
                    dict(result)
                    if n is None
                    else {k: v[offset : offset + n] for k, v in result.items()}
                )
            try:
                logged.log.record(
                    model=served.name,
                    version=served.version,
                    arm="shadow",
                    request_id=logged.request_id,
                    signature=served.bundle.signature,
                    inputs=logged.inputs,
                    outputs=outputs,
                    status=200 if result is not None else 500,
                    error=None if result is not None else f"the shadow failed: {error}",
                    rows=n,
                    time=logged.time,
                )
            except Exception:  # the log's own failure never stops a shadow worker
                log.exception("traffic of %r: a shadow answer was not logged", served.name)
        offset += n or 0


def _agreement(
    stats: Any, result: Mapping[str, Any], primaries: list[Any], rows: list[int] | None
) -> None:
    """Compares the shadow's outputs (the rows of every copy, in order; `rows` of each, None for
    a single copy) with the primary's, for the copies the primary answered."""

    if rows is None:
        (primary,) = primaries
        stats.record_agreement(primary, result)
        return
    if all(p is not None for p in primaries):  # all answered by the primary: at once
        try:
            joined = {n: np.concatenate([p[n] for p in primaries]) for n in primaries[0]}
        except (KeyError, ValueError):
            joined = None
        if joined is not None:
            stats.record_agreement(joined, result)
            return
    offset = 0
    for p, n in zip(primaries, rows, strict=True):
        if p is not None:
            stats.record_agreement(p, {k: v[offset : offset + n] for k, v in result.items()})
        offset += n
