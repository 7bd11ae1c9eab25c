"""Payload logging: a sampled record of what a model server was asked and what it answered, in
rotating Parquet files written off the request path, for joining delayed labels later.

Each logged request becomes one Parquet row per input row, in the format of
:mod:`seawall.serving.payload_records` (request id, time, model, version, arm, status, error,
the inputs as the client sent them, the outputs).

Requests for a model the server does not serve (404) are not logged. Files:
``DIR/<model>/<UTC time>-<writer>-<n>.parquet``, under a folder per model (the model's
name, percent-encoded where it is not a plain file name: nothing a request sends becomes part
of a path). A file is written under a hidden temporary name and renamed when it is complete, so
a reader sees whole files or none; it is published after ``rotate_rows`` rows, ``rotate_bytes``
bytes or ``rotate_s`` seconds, whichever comes first, and at :meth:`PayloadLog.close` (the
server's shutdown). A process killed mid-file leaves its hidden temporary behind, never a
partial ``.parquet``; the next PayloadLog on the folder removes such leftovers of dead processes.

Cost to a request: the server keeps references to what it already decoded and answered, and
hands them to a bounded queue (a lock and an append); the writer thread turns them into Arrow
tables and Parquet row groups. The queue holds at most ``max_queue`` records and
``max_queue_bytes`` bytes of them (counting those being written; a request counts twice its
body's bytes, plus its outputs): past either, the record is dropped and counted, never waited
for. :meth:`PayloadLog.stats` and ``/metrics`` keep exact counts: once closed,
``sampled == written + dropped + failed``.

Sampling is by request id: a request is kept when the first 8 bytes of ``BLAKE2b(id, digest
size 8)``, read as a big-endian integer and divided by 2**64, are below the arm's rate. Every
replica, and every arm answering the same request (a shadow), decides alike for one id.
"""

from __future__ import annotations

import contextvars
import hashlib
import itertools
import logging
import math
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .._files import fsync_dir
from ..bundles import Signature
from ..errors import InvalidInputError
from .live import _nbytes
from .payload_records import Record, folder_name, payload_schema, read_payloads, records_table

__all__ = [
    "PayloadLog",
    "folder_name",
    "payload_schema",
    "read_payloads",
    "set_arm",
]

log = logging.getLogger("seawall.serving")

DEFAULT_ARM = "primary"
_TMP_SUFFIX = ".tmp"
# Echoed in the X-Request-Id header only when it is a plain token (no header injection).
_HEADER_SAFE = re.compile(r"[!-~]{1,128}")
_ARM = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_LOG_EVERY_S = 60.0

# The exchange of the request being handled (set by the server for each request).
_CURRENT: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar(
    "seawall_payload_exchange", default=None
)


def set_arm(arm: str) -> None:
    """Names the arm answering the current request in its payload record (default
    ``"primary"``): for the code that routes a request between arms. Without payload logging,
    or outside a request, it does nothing."""
    arm = _check_arm(arm)
    exchange = _CURRENT.get()
    if exchange is not None:
        exchange.arm = arm


def current() -> Exchange | None:
    """The payload exchange of the request being handled (None without payload logging)."""
    return _CURRENT.get()


def _check_arm(arm: Any) -> str:
    if not isinstance(arm, str) or not _ARM.fullmatch(arm):
        raise InvalidInputError(
            f"an arm name is 1 to 64 letters, digits or _.:- characters, got {arm!r}"
        )
    return arm


@dataclass
class _Marker:
    done: threading.Event
    publish: bool


# --- the request path ------------------------------------------------------------------------


class Exchange:
    """One request on its way through the server, as the payload log sees it."""

    __slots__ = ("arm", "body_bytes", "log", "prepared", "result", "served", "time", "token")

    def __init__(self, log: PayloadLog, served: Any) -> None:
        self.log = log
        self.served = served
        self.time = time.time()
        self.arm = DEFAULT_ARM
        self.prepared: Any = None
        self.body_bytes = 0
        self.result: Mapping[str, Any] | None = None
        self.token: contextvars.Token[Exchange | None] | None = None

    def decoded(self, served: Any, prepared: Any, body_bytes: int) -> None:
        """The request (of `body_bytes` bytes) decoded: it gets an id now when the client sent
        none (the answer echoes it, so that the client can join labels to it later)."""
        self.served = served
        self.prepared = prepared
        self.body_bytes = body_bytes
        if prepared.id is None:
            prepared.id = new_request_id()

    def answered(self, served: Any, result: Mapping[str, Any]) -> None:
        self.served = served
        self.result = result

    def end(self, response: Any) -> None:
        """Names the request in the response's X-Request-Id header and offers it to the log;
        whatever goes wrong here, the answer goes out."""
        if self.token is not None:
            _CURRENT.reset(self.token)
            self.token = None
        try:
            self._end(response)
        except Exception:
            log.exception("payload log: the request could not be offered to the log")

    def _end(self, response: Any) -> None:
        prepared = self.prepared
        request_id = prepared.id if prepared is not None else None
        if request_id is None:
            request_id = new_request_id()
        if _HEADER_SAFE.fullmatch(request_id):
            response.raw_headers.append((b"x-request-id", request_id.encode("ascii")))
        status = int(response.status_code)
        served = self.served
        outputs = self.result if status == 200 else None
        if prepared is None:
            inputs = None
            rows = 1
            nbytes = 0
        else:
            # What the decoded inputs hold, about: twice the request's bytes (a number is a few
            # characters of JSON, 8 bytes decoded) is cheaper to know than to count.
            nbytes = 2 * self.body_bytes
            for value in (outputs or {}).values():
                nbytes += getattr(value, "nbytes", 0)
            inputs = prepared.raw
            if inputs is None:  # no feature pipeline: the model's input tensor itself
                inputs = {served.bundle.signature.inputs[0].name: prepared.x}
            rows = int(prepared.x.shape[0])
        self.log.record(
            model=served.name,
            version=served.version,
            arm=self.arm,
            request_id=request_id,
            signature=served.bundle.signature,
            inputs=inputs,
            outputs=outputs,
            status=status,
            error=None if status == 200 else response.body,
            rows=rows,
            time=self.time,
            nbytes=nbytes,
        )


# --- the log -----------------------------------------------------------------------------------


class _OpenFile:
    """A Parquet file being written under its temporary name."""

    def __init__(self, folder: Path, name: str, schema: pa.Schema, opened: float) -> None:
        self.folder = folder
        self.name = name
        self.tmp = folder / f".{name}.{_HOST}.{os.getpid()}{_TMP_SUFFIX}"
        self.schema = schema
        self.opened = opened
        self.rows = 0
        self.records = 0
        # Arrow's own file: writing a row group then holds no GIL (a Python file would).
        self.fh = pa.OSFile(str(self.tmp), "wb")  # closed by publish or discard
        try:
            self.writer = pq.ParquetWriter(self.fh, schema, compression="zstd")
        except BaseException:
            self.fh.close()
            self.tmp.unlink(missing_ok=True)
            raise

    def write(self, table: pa.Table, records: int) -> None:
        self.writer.write_table(table)
        self.rows += table.num_rows
        self.records += records

    @property
    def nbytes(self) -> int:
        return self.fh.tell()

    def publish(self) -> Path:
        """Closes the file and renames it to its final name in one step."""
        self.writer.close()
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        final = self.folder / self.name
        os.replace(self.tmp, final)
        fsync_dir(self.folder)
        return final

    def discard(self) -> None:
        try:
            self.writer.close()
        except Exception:
            pass
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64] or "host"


def _positive_int(value: Any, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{label} must be a positive integer, got {value!r}")
    return value


def _rate(value: Any, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidInputError(f"{label} must be a number from 0 to 1, got {value!r}")
    return float(value)


# Ids the server makes: 64 random bits for this process (drawn again in a forked child), then
# a count: as unique as a UUID4 for this use, at a fraction of its cost on the request path.
_ID_PREFIX = ""
_ID_COUNT = itertools.count(1)


def _new_id_prefix() -> None:
    global _ID_PREFIX, _ID_COUNT
    _ID_PREFIX = f"{int.from_bytes(os.urandom(8), 'big'):016x}"
    _ID_COUNT = itertools.count(1)


_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)


def new_request_id() -> str:
    """A request id for a request that came without one: 32 hexadecimal digits."""
    return f"{_ID_PREFIX}{next(_ID_COUNT):016x}"


def sample_point(request_id: str) -> float:
    """Where a request id falls in [0, 1): it is sampled when this is below the rate."""
    digest = hashlib.blake2b(request_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class PayloadLog:
    """Writes a sample of a server's requests and answers to rotating Parquet files under
    `directory` (module docstring), through a bounded queue, on a thread of its own.

    ``sample`` is the share of requests kept, 0 to 1: one rate, or a rate per arm
    (``{"primary": 0.1, "canary": 1.0}``; ``"*"`` is the rate of arms not named, 0 without
    it). ``errors_only`` keeps only answers other than 2xx (sampled at the same rates).
    ``max_queue`` records and ``max_queue_bytes`` bytes at most wait to be written; a file is
    published after ``rotate_rows`` rows, ``rotate_bytes`` bytes or ``rotate_s`` seconds. The
    writer wakes every ``flush_s`` seconds, or sooner when the queue is half full.

    Give it to ``create_app(..., payload_log=...)``: the server logs every model's requests,
    and closes it (writing what is queued, publishing the open files) when it shuts down.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        sample: float | Mapping[str, float] = 1.0,
        errors_only: bool = False,
        max_queue: int = 10_000,
        max_queue_bytes: int = 64 << 20,
        rotate_rows: int = 100_000,
        rotate_bytes: int = 64 << 20,
        rotate_s: float = 60.0,
        flush_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(sample, Mapping):
            rates = {
                _check_arm(k) if k != "*" else k: _rate(v, f"sample[{k!r}]")
                for k, v in sample.items()
            }
            self._rates = rates
            self._default_rate = rates.pop("*", 0.0)
        else:
            self._rates = {}
            self._default_rate = _rate(sample, "sample")
        self.errors_only = bool(errors_only)
        self.max_queue = _positive_int(max_queue, "max_queue")
        self.max_queue_bytes = _positive_int(max_queue_bytes, "max_queue_bytes")
        self.rotate_rows = _positive_int(rotate_rows, "rotate_rows")
        self.rotate_bytes = _positive_int(rotate_bytes, "rotate_bytes")
        for label, value in (("rotate_s", rotate_s), ("flush_s", flush_s)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidInputError(f"{label} must be a positive number of seconds")
            if not math.isfinite(value):
                raise InvalidInputError(f"{label} must be finite, got {value}")
        self.rotate_s = float(rotate_s)
        self.flush_s = float(flush_s)
        self._clock = clock
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInputError(
                f"cannot create the payload log folder {self.directory}: {exc.strerror or exc}"
            ) from None
        self._root = self.directory.resolve()
        _remove_stale_temporaries(self._root)

        self._writer_id = uuid.uuid4().hex[:8]
        self._sequence = 0
        self._cond = threading.Condition(threading.Lock())
        self._items: list[Record | _Marker] = []
        self._held_records = 0  # queued or being written
        self._held_bytes = 0
        self._counts = {
            k: 0 for k in ("requests", "sampled", "dropped", "written", "failed", "files", "rows")
        }
        self._closing = False
        self._files: dict[str, _OpenFile] = {}
        self._schemas: dict[int, tuple[Signature, pa.Schema]] = {}
        self._last_warning = -math.inf
        self._thread = threading.Thread(target=self._run, name="seawall-payload-log", daemon=True)
        self._thread.start()

    # --- sampling and the request path ----------------------------------------------------

    def rate(self, arm: str = DEFAULT_ARM) -> float:
        """The share of `arm`'s requests this log keeps."""
        return self._rates.get(arm, self._default_rate)

    def sampled(self, request_id: str, arm: str = DEFAULT_ARM) -> bool:
        """Whether a request of this id answered by `arm` is kept (module docstring)."""
        rate = self.rate(arm)
        return rate >= 1.0 or (rate > 0.0 and sample_point(request_id) < rate)

    def begin(self, served: Any) -> Exchange:
        """A new request for the served model `served` (the server calls it)."""
        exchange = Exchange(self, served)
        exchange.token = _CURRENT.set(exchange)
        return exchange

    def record(
        self,
        *,
        model: str,
        version: str | None,
        request_id: str,
        signature: Signature,
        inputs: Any,
        outputs: Mapping[str, Any] | None = None,
        status: int = 200,
        error: Any = None,
        arm: str = DEFAULT_ARM,
        rows: int | None = None,
        time: float | None = None,
        nbytes: int | None = None,
    ) -> bool:
        """Offers one answered request to the log: True when it was queued, False when it is
        not sampled (or not an error with ``errors_only``) or was dropped. Never waits.

        ``inputs``: ``{input name: values}`` or a table of the signature's inputs (None when
        the request did not decode); ``outputs``: ``{output name: array}``; ``error``: the
        message (or the error answer's body) when ``status`` is not 200; ``nbytes``: about how
        many bytes they hold (default: counted). A traffic policy's shadow arm logs its
        answers through this, with ``arm="shadow"``."""
        if (self.errors_only and 200 <= status < 300) or not self.sampled(request_id, arm):
            with self._cond:
                self._counts["requests"] += 1
            return False
        if rows is None:
            rows = _rows(inputs)
        record = Record(
            self._clock() if time is None else time,
            model,
            version,
            arm,
            request_id,
            status,
            error,
            inputs,
            outputs,
            signature,
            max(int(rows), 1),
            (_nbytes(inputs) + _nbytes(outputs) if nbytes is None else nbytes)
            + len(request_id)
            + len(error or b"")
            + 256,
        )
        with self._cond:
            self._counts["requests"] += 1
            self._counts["sampled"] += 1
            if (
                self._closing
                or self._held_records >= self.max_queue
                or self._held_bytes + record.nbytes > self.max_queue_bytes
            ):
                self._counts["dropped"] += 1
                dropped = self._counts["dropped"]
                if dropped == 1 or dropped % 10_000 == 0:
                    log.warning(
                        "payload log is full (%d records, %d bytes waiting): dropped a record "
                        "(%d so far); serving goes on",
                        self._held_records,
                        self._held_bytes,
                        dropped,
                    )
                return False
            self._items.append(record)
            self._held_records += 1
            self._held_bytes += record.nbytes
            if (
                self._held_records * 2 == self.max_queue
                or self._held_bytes * 2 > self.max_queue_bytes
            ):
                self._cond.notify()
        return True

    # --- control and reading ----------------------------------------------------------------

    def flush(self, publish: bool = False, timeout: float | None = 60.0) -> bool:
        """Waits until every record queued so far is written to its file (and, with `publish`,
        until the open files are published); False on timeout."""
        done = threading.Event()
        with self._cond:
            if not self._thread.is_alive():
                return True
            self._items.append(_Marker(done, publish))
            self._cond.notify()
        return done.wait(timeout)

    def close(self, timeout: float | None = 60.0) -> None:
        """Writes what is queued, publishes the open files and stops the writer. Records
        offered afterwards are dropped (and counted)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("payload log: the writer did not finish within %s s", timeout)

    def __enter__(self) -> PayloadLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, int]:
        """Counts of requests: seen, sampled, dropped (queue full, too large, or after close),
        written (in published files), failed (lost to a conversion or write error); files
        published, rows written; and records (and their bytes) queued or being written now."""
        with self._cond:
            out = dict(self._counts)
            out["queued"] = self._held_records
            out["queued_bytes"] = self._held_bytes
        return out

    def collector(self) -> Any:
        """A prometheus_client collector of :meth:`stats` (the server puts it on /metrics)."""
        return _Collector(self)

    def __repr__(self) -> str:
        rates = dict(self._rates, **{"*": self._default_rate})
        return (
            f"PayloadLog({str(self.directory)!r}, sample={rates}, errors_only={self.errors_only})"
        )

    # --- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._items and not self._closing:
                    self._cond.wait(self.flush_s)
                items, self._items = self._items, []
                closing = self._closing
            records: list[Record] = []
            for item in items:
                if isinstance(item, _Marker):
                    self._write(records)
                    records = []
                    self._publish_due()
                    if item.publish:
                        self._publish_all()
                    item.done.set()
                else:
                    records.append(item)
            self._write(records)
            self._publish_due()
            if closing:
                with self._cond:
                    if self._items:
                        continue
                self._publish_all()
                return

    def _schema(self, signature: Signature) -> pa.Schema:
        key = id(signature)
        cached = self._schemas.get(key)
        if cached is None or cached[0] is not signature:
            if len(self._schemas) >= 64:  # versions come and go with hot swaps
                self._schemas.clear()
            cached = (signature, payload_schema(signature))
            self._schemas[key] = cached
        return cached[1]

    def _write(self, records: list[Record]) -> None:
        if not records:
            return
        groups: dict[tuple[str, int], list[Record]] = {}
        for r in records:
            groups.setdefault((r.model, id(r.signature)), []).append(r)
        try:
            for (model, _), group in groups.items():
                self._write_group(model, group)
        finally:
            with self._cond:
                self._held_records -= len(records)
                self._held_bytes -= sum(r.nbytes for r in records)

    def _write_group(self, model: str, records: list[Record]) -> None:
        schema = self._schema(records[0].signature)
        try:
            table = records_table(records, schema)
        except Exception:
            # One record the schema cannot hold must not lose the others: convert one by one.
            tables = []
            kept = []
            for r in records:
                try:
                    tables.append(records_table([r], schema))
                    kept.append(r)
                except Exception as exc:
                    self._failed(1, f"a record of model {model!r} does not fit its schema: {exc}")
            if not tables:
                return
            table, records = pa.concat_tables(tables), kept
        # Files hold whole records, at most rotate_rows rows each (unless one record has more).
        start = offset = 0
        while start < len(records):
            current = self._files.get(model)
            if current is not None and current.schema != schema:
                self._publish(model)
                current = None
            used = current.rows if current is not None else 0
            end, rows = start, 0
            while end < len(records) and used + rows + records[end].rows <= self.rotate_rows:
                rows += records[end].rows
                end += 1
            if end == start:
                if used:  # the open file is full
                    self._publish(model)
                    continue
                end, rows = start + 1, records[start].rows  # one record larger than a file
            try:
                if current is None:
                    current = self._open(model, schema)
                current.write(table.slice(offset, rows), end - start)
            except Exception as exc:
                self._failed(end - start, f"writing the payload log of {model!r} failed: {exc}")
                self._discard(model)
            else:
                if current.rows >= self.rotate_rows or current.nbytes >= self.rotate_bytes:
                    self._publish(model)
            start, offset = end, offset + rows

    def _open(self, model: str, schema: pa.Schema) -> _OpenFile:
        folder = self._root / folder_name(model)
        if folder.parent != self._root:  # folder_name makes one plain name: never reached
            raise InvalidInputError(f"model {model!r} has no folder of its own")
        folder.mkdir(exist_ok=True)
        now = self._clock()
        stamp = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        self._sequence += 1
        name = f"{stamp}-{self._writer_id}-{self._sequence:06d}.parquet"
        opened = _OpenFile(folder, name, schema, now)
        self._files[model] = opened
        return opened

    def _publish(self, model: str) -> None:
        current = self._files.pop(model, None)
        if current is None:
            return
        try:
            current.publish()
        except Exception as exc:
            current.discard()
            self._failed(current.records, f"publishing the payload log of {model!r} failed: {exc}")
            return
        with self._cond:
            self._counts["written"] += current.records
            self._counts["rows"] += current.rows
            self._counts["files"] += 1

    def _discard(self, model: str) -> None:
        current = self._files.pop(model, None)
        if current is not None:
            current.discard()
            self._failed(current.records, f"the payload log file of {model!r} was discarded")

    def _publish_all(self) -> None:
        for model in list(self._files):
            self._publish(model)

    def _publish_due(self) -> None:
        now = self._clock()
        for model, current in list(self._files.items()):
            if now - current.opened >= self.rotate_s:
                self._publish(model)

    def _failed(self, records: int, message: str) -> None:
        with self._cond:
            self._counts["failed"] += records
        now = time.monotonic()
        if now - self._last_warning >= _LOG_EVERY_S:
            self._last_warning = now
            log.warning("payload log: %s (%d records lost so far)", message, self._counts["failed"])


def _rows(inputs: Any) -> int:
    if inputs is None:
        return 1
    if isinstance(inputs, pa.Table):
        return inputs.num_rows
    first = next(iter(inputs.values()), None)
    return 1 if first is None else len(first)


def _remove_stale_temporaries(root: Path) -> None:
    """Removes the temporaries of this host's payload-log writers that are no longer alive."""
    for tmp in root.glob(f"*/.*{_TMP_SUFFIX}"):
        parts = tmp.name[: -len(_TMP_SUFFIX)].rsplit(".", 2)
        if len(parts) != 3 or parts[1] != _HOST or not parts[2].isdigit():
            continue
        pid = int(parts[2])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except OSError:
            continue


class _Collector:
    """The payload log's counts on /metrics."""

    def __init__(self, payload_log: PayloadLog) -> None:
        self._log = payload_log

    def describe(self) -> Iterable[Any]:
        return list(self.collect())

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stats = self._log.stats()
        for key, doc in (
            ("requests", "Requests the payload log saw."),
            ("sampled", "Requests the payload log sampled (to write)."),
            ("written", "Sampled requests written to published Parquet files."),
            ("dropped", "Sampled requests dropped: the queue was full (records or bytes)."),
            ("failed", "Sampled requests lost to a conversion or write error."),
            ("files", "Parquet files published."),
            ("rows", "Rows written to published Parquet files."),
        ):
            family = CounterMetricFamily(f"seawall_payload_log_{key}", doc)
            family.add_metric([], float(stats[key]))
            yield family
        for key, doc in (
            ("queued", "Records waiting to be written (or being written)."),
            ("queued_bytes", "Bytes of the records waiting to be written."),
        ):
            gauge = GaugeMetricFamily(f"seawall_payload_log_{key}", doc)
            gauge.add_metric([], float(stats[key]))
            yield gauge
