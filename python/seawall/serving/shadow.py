"""Shadow traffic: copies of requests answered by the shadow arm off the request path.

The request path only offers a copy (the request's body bytes, already read, the primary's
outputs, and the request as the arm that answered it decoded it) to a bounded queue: one
``put_nowait``. When the queue is full, because the shadow is slower than the traffic or hangs,
the copy is dropped and counted, never waited for, so the shadow cannot slow the primary's
answers. A few worker threads take the copies and run them through the shadow's batcher (with a
queue timeout, so that a hung shadow fails its queued copies instead of holding them). Their
answers and errors go to the shadow arm's figures, and the outputs are compared with the
primary's (agreement); no client ever sees them.

The shadow runs in the primary's process, and what it holds the GIL for is time the primary's
requests wait: a long hold shows in the primary's tail latency, frequent wake-ups in its
throughput. So the shadow does as little as it can, rarely:

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

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..errors import BatcherClosedError

__all__ = ["LoggedCopy", "ShadowQueue"]

log = logging.getLogger("seawall.serving")

_STOP = object()
BLOCK = 256  # copies a worker answers at once, at most
GATHER_S = 0.05  # how long a worker lets copies gather after the first
# A copy keeps the parsed request of a body up to this size (a larger one: its bytes only, as
# parsed JSON holds several times the memory of its text).
KEEP_PARSED_BYTES = 64 << 10


class _Copy(NamedTuple):
    """A request copied to the shadow, as the arm that answered it saw it."""

    endpoint: str
    body: bytes
    header_length: str | None
    primary: Mapping[str, Any] | None  # the primary's outputs (None: another arm answered)
    logged: LoggedCopy | None
    request: dict[str, Any] | None  # the parsed JSON request (None: binary data, or large)
    x: np.ndarray | None  # the model input the answering arm made of it
    features_key: str | None  # what made `x` (ServedModel.features_key)
    options: tuple[tuple[str, int], ...]  # the request's batcher options


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
        request = x = None
        options: tuple[tuple[str, int], ...] = ()
        if decoded is not None:
            x = decoded.x
            options = tuple(decoded.options.items())
            if len(body) <= KEEP_PARSED_BYTES:
                request = decoded.request
        copy = _Copy(
            endpoint, body, header_length, primary, logged, request, x, features_key, options
        )
        try:
            self._queue.put_nowait(copy)
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
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                return
            items = [first]
            if self._queue.qsize() < BLOCK - 1:
                time.sleep(GATHER_S)  # one wake-up per block, not one per copy
            while len(items) < BLOCK:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                items.append(item)
            try:
                self._answer_block(items, self._model())
            except Exception:  # never lose a worker
                log.exception("traffic of %r: a shadow worker failed", self.name)

    def _answer_block(self, items: list[_Copy], served: Any) -> None:
        """Answers the copies with `served` (the shadow now; None: none is loaded), in groups
        answered at once (module docstring), in their order."""
        if served is None:
            return
        key = served.features_key
        groups: dict[Any, list[_Copy]] = {}
        rows: dict[Any, list[int]] = {}
        for i, item in enumerate(items):
            form = _form(item.endpoint, item.request) if item.request is not None else None
            if key is not None and item.x is not None and item.features_key == key:
                kind: Any = ("input", item.options)  # its model input as it is
                n = len(item.x)
            elif form is not None:
                kind, n = ("request", item.endpoint, form[0]), form[1]
            elif item.request is not None:
                kind, n = ("request", item.endpoint, i), 0  # a form of its own: alone
            else:
                kind, n = ("body", i), 0  # binary tensor data: decoded again, alone
            groups.setdefault(kind, []).append(item)
            rows.setdefault(kind, []).append(n)
        for kind, group in groups.items():
            joined_rows = rows[kind] if len(group) > 1 else None
            if kind[0] == "input":
                xs = [c.x for c in group if c.x is not None]
                x = np.concatenate(xs) if len(xs) > 1 else xs[0]
                self._answer(served, group, joined_rows, functools.partial(_given, x, kind[1]))
            elif kind[0] == "request":
                self._answer_requests(served, group, kind, joined_rows)
            else:
                self._answer(served, group, None, functools.partial(_decode_body, group[0]))

    def _answer_requests(
        self, served: Any, group: list[_Copy], kind: Any, rows: list[int] | None
    ) -> None:
        """Parsed JSON requests of one endpoint and form (`kind`; `rows` each): joined into
        one request; one by one when it does not decode."""
        endpoint = kind[1]
        if len(group) > 1:
            joined = _join(kind[2], [c.request for c in group if c.request is not None])
            decode = functools.partial(_decode_request, endpoint, joined)
            if self._answer(served, group, rows, decode) is not False:
                return
        for i, c in enumerate(group):
            assert c.request is not None
            decode = functools.partial(_decode_request, endpoint, c.request)
            if self._answer(served, group[i : i + 1], None, decode, rest=group[i + 1 :]):
                return  # a hot swap: the new shadow answered the rest

    def _answer(
        self,
        served: Any,
        items: list[_Copy],
        rows: list[int] | None,
        model_input: Callable[[Any], tuple[np.ndarray, dict[str, int]]],
        rest: list[_Copy] | None = None,
    ) -> bool | None:
        """Answers `items` (copies) with one model input holding all their rows (`rows` of
        each, in their order; None for a single copy): ``model_input(served)`` gives it and
        its batcher options. Returns None once recorded; False, recording nothing, when a
        joined input does not decode (then they are tried one by one). When a hot swap closed
        the shadow's batcher under them, the replacement answers them and `rest` (the copies
        that were to follow them): True."""
        start = time.perf_counter()
        result = None
        error: BaseException | None = None
        try:
            x, options = model_input(served)
        except Exception as exc:
            if len(items) > 1:
                return False  # one copy spoils the joined input: one by one
            error = exc
        else:
            options.setdefault("timeout_us", self.timeout_us)
            try:
                result = served.run_blocking(x, options)
            except BatcherClosedError as exc:
                if served.replaced_by is not None:
                    self._answer_block([*items, *(rest or [])], served.replaced_by)
                    return True
                error = exc
            except Exception as exc:
                error = exc
        if error is not None:
            self._failed(error, len(items))
        seconds = time.perf_counter() - start
        stats = self._stats(served.version)
        stats.record_block(len(items), result is None, seconds, result)
        primaries = [i.primary for i in items]
        if result is not None and any(p is not None for p in primaries):
            _agreement(stats, result, primaries, rows)
        if any(i.logged is not None for i in items):
            _log_answers(served, items, rows, result, error)
        return None

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


def _given(
    x: np.ndarray, options: dict[str, int], served: Any
) -> tuple[np.ndarray, dict[str, int]]:
    return x, dict(options)


def _decode_request(
    endpoint: str, request: dict[str, Any], served: Any
) -> tuple[np.ndarray, dict[str, int]]:
    prepared = served.prepare_request(endpoint, request)
    return prepared.x, dict(prepared.options)


def _decode_body(c: _Copy, served: Any) -> tuple[np.ndarray, dict[str, int]]:
    if c.endpoint == "infer":
        prepared = served.prepare_infer(c.body, c.header_length)
    else:
        prepared = served.prepare_predict(c.body, c.header_length)
    return prepared.x, dict(prepared.options)


class LoggedCopy(NamedTuple):
    """Where the shadow's answer to a copy is logged: the payload log, and the id, inputs and
    time of the request as the primary's record has them (so that the two join by id)."""

    log: Any  # a PayloadLog
    request_id: str
    inputs: Any
    time: float


def _log_answers(
    served: Any,
    items: list[_Copy],
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


def _form(endpoint: str, request: dict[str, Any]) -> tuple[Any, int] | None:
    """The form of a parsed JSON request, equal for requests that _join can put together, and
    how many rows it holds (None when it cannot be joined: other outputs, parameters, binary
    data, tensors of more than one dimension)."""
    if endpoint == "predict":
        if len(request) != 1:
            return None
        records = request.get("records")
        if isinstance(records, list):
            return ("records",), len(records)
        columns = request.get("columns")
        if isinstance(columns, dict) and columns:
            lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
            if len(lengths) == 1 and -1 not in lengths:
                return ("columns", *columns), lengths.pop()
        return None
    if set(request) - {"id", "inputs"}:
        return None
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        return None
    layout = []
    rows = set()
    for t in inputs:
        if (
            not isinstance(t, dict)
            or set(t) - {"name", "datatype", "shape", "data"}
            or not isinstance(t.get("name"), str)
            or not isinstance(t.get("datatype"), str)
            or not isinstance(t.get("shape"), list)
            or len(t["shape"]) != 1
            or not isinstance(t.get("data"), list)
        ):
            return None
        layout.append((t["name"], t["datatype"]))
        rows.add(t["shape"][0])
    return (("inputs", *layout), rows.pop()) if len(rows) == 1 else None


def _join(form: Any, parsed: list[dict[str, Any]]) -> dict[str, Any]:
    """One JSON request holding the rows of every request in `parsed` (all of `form`), in
    order."""
    if form[0] == "records":
        return {"records": [row for r in parsed for row in r["records"]]}
    if form[0] == "columns":
        return {"columns": {n: [v for r in parsed for v in r["columns"][n]] for n in form[1:]}}
    inputs = []
    for i, (name, datatype) in enumerate(form[1:]):
        data = [v for r in parsed for v in r["inputs"][i]["data"]]
        inputs.append({"name": name, "datatype": datatype, "shape": [len(data)], "data": data})
    return {"inputs": inputs}


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
