"""Shadow traffic: copies of requests answered by the shadow arm off the request path.

The request path only offers a copy (the request's body bytes, already read, and the primary's
outputs) to a bounded queue: one ``put_nowait``. When the queue is full, because the shadow is
slower than the traffic or hangs, the copy is dropped and counted, never waited for, so the
shadow cannot slow the primary's answers. A few worker threads, each with an event loop of its
own, take the copies, decode them with the shadow's own pipeline and run them through the
shadow's batcher (with a queue timeout, so that a hung shadow fails its queued copies instead of
holding them). Their answers and errors go to the shadow arm's figures, and the outputs are
compared with the primary's (agreement); no client ever sees them.

The shadow runs in the primary's process, and what it holds the GIL for (decoding, the feature
pipeline) is time the primary's requests wait. So a worker gathers copies for up to ``GATHER_S``
after the first (at most ``BLOCK`` of them) and answers them as one request: JSON records, columns and tensors of one kind are
joined into one body, decoded and transformed once, run in one go and split again, row for row
the same as one at a time (a block that does not decode as a whole is answered copy by copy).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ..errors import BatcherClosedError

__all__ = ["LoggedCopy", "ShadowQueue"]

log = logging.getLogger("seawall.serving")

_STOP = object()
BLOCK = 256  # copies a worker answers at once, at most
GATHER_S = 0.05  # how long a worker waits for more copies to join the first


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
        logged: LoggedCopy | None = None,
    ) -> bool:
        """Queues a copy of a request for the shadow, with the primary's outputs for it (None
        when another arm answered it) and, when the payload log keeps the shadow's answer to
        it, where and under which request id. False when it was dropped (the queue is full)."""
        if self._closed:
            return False
        self.offered += 1
        try:
            self._queue.put_nowait((endpoint, body, header_length, primary, logged))
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
            stop = False
            while not stop:
                items = [self._queue.get()]
                deadline = time.monotonic() + GATHER_S
                while len(items) < BLOCK and items[-1] is not _STOP:
                    wait = deadline - time.monotonic()
                    try:
                        items.append(
                            self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                        )
                    except queue.Empty:
                        break
                if _STOP in items:
                    stop = True
                    items = [i for i in items if i is not _STOP]
                try:
                    self._answer_block(loop, items)
                except Exception:  # never lose a worker
                    log.exception("traffic of %r: a shadow worker failed", self.name)
        finally:
            loop.close()

    def _answer_block(self, loop: asyncio.AbstractEventLoop, items: list[Any]) -> None:
        by_endpoint: dict[str, list[Any]] = {}
        for item in items:
            by_endpoint.setdefault(item[0], []).append(item)
        for endpoint, group in by_endpoint.items():
            joined = _join(endpoint, group) if len(group) > 1 else None
            if joined is None or not self._answer(loop, endpoint, *joined, group):
                for item in group:
                    self._answer(loop, endpoint, item[1], item[2], None, [item])

    def _answer(
        self,
        loop: asyncio.AbstractEventLoop,
        endpoint: str,
        body: bytes,
        header_length: str | None,
        rows: list[int] | None,
        items: list[Any],
    ) -> bool:
        """Answers `items` (copies) from one body holding all their rows (`rows` of each, in
        their order); False, recording nothing, when a joined body does not decode (then they
        are tried one by one)."""
        served = self._model()
        if served is None:
            return True
        start = time.perf_counter()
        result = None
        error: BaseException | None = None
        while True:
            prepared = None
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
                self._failed(exc, len(items))
                error = exc
            except Exception as exc:
                if prepared is None and len(items) > 1:
                    return False  # one copy spoils the joined body: one by one
                self._failed(exc, len(items))
                error = exc
            break
        seconds = time.perf_counter() - start
        stats = self._stats(served.version)
        stats.record_block(len(items), result is None, seconds, result)
        primaries = [i[3] for i in items]
        if result is not None and any(p is not None for p in primaries):
            _agreement(stats, result, primaries, rows)
        if any(i[4] is not None for i in items):
            _log_answers(served, items, rows, result, error)
        return True

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
    items: list[Any],
    rows: list[int] | None,
    result: Mapping[str, Any] | None,
    error: BaseException | None,
) -> None:
    """Offers the shadow's answers (or its error) to the payload log, under ``arm="shadow"``,
    for the copies whose request it keeps."""
    offset = 0
    for item, n in zip(items, rows if rows is not None else [None] * len(items), strict=True):
        logged: LoggedCopy | None = item[4]
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


def _rows(endpoint: str, request: Any) -> int | None:
    """How many rows a parsed JSON request holds, in a form _join can put together."""
    if endpoint == "predict":
        if set(request) - {"records", "columns"} or len(request) != 1:
            return None
        if "records" in request and isinstance(request["records"], list):
            return len(request["records"])
        columns = request.get("columns")
        if isinstance(columns, dict) and columns:
            lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
            return lengths.pop() if len(lengths) == 1 and -1 not in lengths else None
        return None
    if set(request) - {"id", "inputs"}:
        return None
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        return None
    rows = set()
    for t in inputs:
        if (
            not isinstance(t, dict)
            or set(t) - {"name", "datatype", "shape", "data"}
            or not isinstance(t.get("shape"), list)
            or len(t["shape"]) != 1
            or not isinstance(t.get("data"), list)
        ):
            return None
        rows.add(t["shape"][0])
    return rows.pop() if len(rows) == 1 else None


def _join(endpoint: str, group: list[Any]) -> tuple[bytes, None, list[int]] | None:
    """One JSON body holding the rows of every copy in `group`, in order, and the rows of each
    (None when they are not all plain JSON of one form: binary tensors, other outputs, other
    inputs)."""
    import json

    parsed = []
    rows = []
    for _, body, header_length, _, _ in group:
        if header_length is not None:
            return None
        try:
            request = json.loads(body)
        except ValueError:
            return None
        n = _rows(endpoint, request) if isinstance(request, dict) else None
        if n is None:
            return None
        parsed.append(request)
        rows.append(n)
    first = parsed[0]
    if endpoint == "predict" and "records" in first:
        if not all("records" in r for r in parsed):
            return None
        joined: dict[str, Any] = {"records": [row for r in parsed for row in r["records"]]}
    elif endpoint == "predict":
        names = list(first["columns"])
        if not all("columns" in r and list(r["columns"]) == names for r in parsed):
            return None
        joined = {"columns": {n: [v for r in parsed for v in r["columns"][n]] for n in names}}
    else:
        layout = [(t["name"], t["datatype"]) for t in first["inputs"]]
        if not all([(t["name"], t["datatype"]) for t in r["inputs"]] == layout for r in parsed):
            return None
        inputs = []
        for i, (name, datatype) in enumerate(layout):
            data = [v for r in parsed for v in r["inputs"][i]["data"]]
            inputs.append({"name": name, "datatype": datatype, "shape": [len(data)], "data": data})
        joined = {"inputs": inputs}
    return json.dumps(joined).encode(), None, rows


def _agreement(
    stats: Any, result: Mapping[str, Any], primaries: list[Any], rows: list[int] | None
) -> None:
    """Compares the shadow's outputs (the rows of every copy, in order; `rows` of each, None for
    a single copy) with the primary's, for the copies the primary answered."""
    import numpy as np

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
