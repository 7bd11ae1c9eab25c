"""``Registry("http://host:port")``: the registry's Python API through a ``seawall server``.

:class:`RemoteRegistry` is a :class:`~seawall.registry.Registry` whose calls that read or write
the database are sent to the server: one method per route of ``routes.REGISTRY_ROUTES``, made
from the route and the local method's own signature (same parameters, defaults and answers).
Everything else a registry does on the caller's side is the local code, unchanged: checking a
bundle and storing its files before registering it, fingerprinting and profiling a dataset,
checking a batch of metrics, and the verified local copies of bundles that ``bundle_path`` and
``load_model`` use, all over :class:`RemoteArtifactStore`, whose objects stream to and from the
server and are checked against their SHA-256 at both ends.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import tempfile
import threading
import time
import types
import urllib.parse
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar, cast

from ..._server import tokens as tk
from ..._server.tokens import Principal
from ...errors import IntegrityError, InvalidInputError, NotFoundError, SeawallError
from .. import _actor
from .._db import Database, seawall_home
from .._pins import Pins
from .._registry import Registry
from .._run import Run
from .._stale import Heartbeat
from .._store import CHUNK, ArtifactStore, ObjectWriter, _check_sha, _open_regular, hash_file
from .._tracking import check_batch
from ..events._mixin import _check_after as check_after
from ..events._mixin import _check_limit as check_limit
from ..events._mixin import _check_resource as check_resource
from ..events._mixin import _check_seconds as check_seconds
from ..events._outbox import Event, check_types
from .codec import decode, jsonable
from .metric_buffer import MetricBuffer
from .routes import _PATH_PARAM, REGISTRY_ROUTES, Route, RouteTable
from .transport import Transport

__all__ = ["RemoteArtifactStore", "RemoteRegistry", "UploadPins", "remote_method", "send"]

T = TypeVar("T")
log = logging.getLogger("seawall.registry")
# The longest a long poll of the server's events waits (its max_wait_s).
MAX_WAIT_S = 30.0
_UNSAFE_SEGMENT = re.compile(r"^\.{1,2}$")
# Files from this size on are hashed as they are sent (one pass over them, not two), and sent
# whole even when the server holds them already; smaller ones are hashed first, and sent only
# if the server does not hold them.
HASHED_AS_SENT_BYTES = 16 << 20


def send(
    transport: Transport,
    table: RouteTable,
    route: Route,
    values: dict[str, Any],
    client: Any,
) -> Any:
    """Sends one call (the arguments bound to its names) along its route; returns the answer
    decoded into what the local call returns. `client` makes live handles (runs) and resolves
    model references."""
    values = dict(values)
    in_path: dict[str, str] = {}
    if route.run:  # the handle: the parameter after self
        run = values.pop(list(table.signature(route).parameters)[1])
        in_path["run_id"] = run.id
    if route.model_ref:
        ref = client._ref(values.pop("model"), values.pop("version", None))
        in_path["model"] = ref.name
        in_path["version"] = ref.alias or ("latest" if ref.version is None else str(ref.version))
    for name in route.path_params:
        if name not in in_path:
            in_path[name] = _path_value(values.pop(name), name, route.path)
    path = _PATH_PARAM.sub(lambda m: urllib.parse.quote(in_path[m.group(1)], safe=""), route.path)
    wire = {k: jsonable(v, k) for k, v in values.items()}
    if route.method in ("GET", "DELETE"):
        data = transport.call(route.method, path, query=wire, idempotent=route.idempotent)
    else:
        data = transport.call(route.method, path, body=wire, idempotent=route.idempotent)
    return decode(data, table.answer_type(route), client)


def _path_value(value: Any, name: str, path: str) -> str:
    """A value that names something in a path: a string that stays one path segment (or holds
    '/' where the path says ``{name:path}``), a number where it says ``{name:int}``."""
    if f"{{{name}:int}}" in path:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(f"{name} must be a non-negative integer, got {value!r}")
        return str(value)
    may_hold_slash = f"{{{name}:path}}" in path
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string, got {type(value).__name__}: {value!r}")
    if not value or _UNSAFE_SEGMENT.match(value) or ("/" in value and not may_hold_slash):
        raise InvalidInputError(f"invalid {name} {value!r}")
    return value


def remote_method(table: RouteTable, route: Route, transport_of: Callable[[Any], Transport]) -> Any:
    """The client's method for a route: the local method's signature, sent to the server."""
    local = table.function(route)
    signature = table.signature(route)

    @functools.wraps(local)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        values.pop(next(iter(signature.parameters)))  # self
        if not route.pinned:
            return send(transport_of(self), table, route, values, self)
        pins = values.pop("pins")
        return pins.send(
            lambda ids: send(transport_of(self), table, route, {**values, "pins": ids}, self)
        )

    return method


class UploadPins(Pins):
    """A client's side of pins (``_pins.py``): the objects one write stores, hashed here and
    uploaded at :meth:`send`, once the server has pinned them (``POST /objects/pins``), so that
    gc cannot take one between its upload and the write that references it."""

    def __init__(self, store: RemoteArtifactStore) -> None:
        super().__init__(cast("Database", None), store)  # no database on this side
        self._remote = store
        self._uploads: dict[str, Callable[[], None]] = {}
        self._stored: dict[str, list[int]] = {}  # uploaded as they were hashed: their pins

    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        source = Path(path)
        if _size_of(source) >= HASHED_AS_SENT_BYTES:  # stored now, and pinned by the server
            sha, size, pin = self._remote.upload_hashing(source)
            self._again.setdefault(sha, None)
            self._stored.setdefault(sha, []).append(pin)
            return sha, size
        sha, size = hash_file(source)  # refuses symlinks and special files
        self._again.setdefault(sha, None)
        self._uploads.setdefault(sha, lambda: self._remote.upload_file(source, sha, size))
        return sha, size

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        data = bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        self._again.setdefault(sha, None)
        self._uploads.setdefault(sha, lambda: self._remote.upload_bytes(data, sha))
        return sha, len(data)

    def hold(self) -> None:
        raise AssertionError("the server pins a remote write's objects")

    def send(self, call: Callable[[list[int]], T]) -> T:
        """Has the server pin every object of the write, uploads those it does not hold (the
        others need no upload), then `call(pin_ids)`: the write, which records the pins."""
        shas = [s for s in self._again if s not in self._stored]
        ids, missing = self._remote.pin(shas) if shas else ([], [])
        for sha in missing:
            upload = self._uploads.get(sha)
            if upload is None:
                raise NotFoundError(
                    f"object {sha} is not in the registry server's artifact store: upload it first"
                )
            upload()
        return call(ids + [pin for pins in self._stored.values() for pin in pins])


class RemoteArtifactStore(ArtifactStore):
    """The server's artifact store, seen from a client: objects by SHA-256, uploaded and
    downloaded as streams, never whole in memory, each checked against its hash by the server
    (on upload) and by this client (on download)."""

    def __init__(self, transport: Transport) -> None:  # no local folder or bucket
        self._api = transport
        self._fs = None
        self.uri = f"{transport.api}/objects"

    @property
    def is_local(self) -> bool:
        return False

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        data = bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        if not self._api.has_object(sha, verify=True):
            self.upload_bytes(data, sha)
        return sha, len(data)

    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        source = Path(path)
        sha, size = hash_file(source)  # refuses symlinks and special files
        if not self._api.has_object(sha, verify=True):
            self.upload_file(source, sha, size)
        return sha, size

    def upload_bytes(self, data: bytes, sha: str) -> None:
        self._api.upload(sha, len(data), lambda: [data])

    def upload_file(self, source: Path, sha: str, size: int) -> None:
        """Uploads a file hashed before (the server refuses it if it changed since)."""
        self._api.upload(sha, size, lambda: _file_chunks(source, size))

    def upload_hashing(self, source: Path) -> tuple[str, int, int]:
        """Uploads a file, hashing it as it is sent; returns (sha256, size, the pin the server
        took on it for the write that references it)."""
        size = _size_of(source)
        return self._api.upload_hashed(size, lambda: _file_chunks(source, size))

    def pin(self, shas: list[str]) -> tuple[list[int], list[str]]:
        """Has the server pin objects for a write: the pins' ids, and the objects it does not
        hold intact (to upload now)."""
        answer = self._api.call("POST", "/objects/pins", body={"sha256": shas})
        return [int(i) for i in answer["pins"]], [str(s) for s in answer["missing"]]

    def writer(self, expected: str | None = None) -> ObjectWriter:
        raise InvalidInputError("a remote artifact store takes whole files and bytes only")

    def exists(self, sha: str) -> bool:
        return self._api.has_object(_check_sha(sha))

    def exists_intact(self, sha: str) -> bool:
        return self._api.has_object(_check_sha(sha), verify=True)

    def get_bytes(self, sha: str) -> bytes:
        parts: list[bytes] = []
        self._api.download(_check_sha(sha), parts.append, parts.clear)
        return b"".join(parts)

    def copy_to(self, sha: str, dest: Path) -> None:
        _check_sha(sha)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:

                def restart() -> None:
                    out.seek(0)
                    out.truncate()

                def write(chunk: bytes) -> None:
                    out.write(chunk)

                self._api.download(sha, write, restart)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def clean_temporaries(self, older_than: float = 0.0, dry_run: bool = False) -> list[str]:
        return []  # the server's to clean

    def local_path(self, sha: str) -> Path:
        raise InvalidInputError("this artifact store is on a registry server, not a local folder")


def _file_chunks(source: Path, size: int) -> Iterator[bytes]:
    """The `size` bytes of a file, a chunk at a time; IntegrityError if it has another size
    now (it changed since: the server then stores nothing, the body being cut or refused)."""
    left = size
    with _open_regular(source) as src:  # refuses symlinks and special files
        # A byte more than is left is asked for: a longer file is found before the body ends.
        while chunk := src.read(min(CHUNK, left + 1)):
            if len(chunk) > left:
                break
            left -= len(chunk)
            yield chunk
        if chunk or left:
            raise IntegrityError(
                f"{source} changed while it was uploaded (it had {size} bytes): nothing was stored"
            )


def _size_of(path: Path) -> int:
    """A file's size (-1 if it cannot be read: opening it says why)."""
    try:
        return os.stat(path, follow_symlinks=False).st_size
    except OSError:
        return -1


def remote_url(uri: str | os.PathLike[str] | None) -> str:
    if uri is None:
        uri = os.environ.get("SEAWALL_REGISTRY_URI") or None
    if uri is None:
        raise InvalidInputError("no registry server URL given")
    return os.fspath(uri)


class RemoteRegistry(Registry):
    """A registry served by ``seawall server`` at `uri`: the same API as a local one. Its
    artifacts live on the server (so `artifacts` must not be given); bundles resolved to local
    folders are cached under `cache` (default ``$SEAWALL_HOME/cache``), verified.

    `token` (default ``$SEAWALL_TOKEN``) is sent as ``Authorization: Bearer`` to a server that
    checks tokens (``--auth registry``), which records the token's principal as the actor of
    what the requests write. A server that checks none records the client's actor (its OS
    login, or whom ``acting_as`` names).

    Events are the server's: ``wait_for_events`` is a long poll of its ``/events``, answered
    as soon as an event commits (``pushes_events`` is True), so a model server following
    ``models:/NAME@ALIAS`` through it switches on the alias move rather than on a timer.

    Metric points are sent in batches by a thread (``metric_buffer``): every other call of this
    registry sends them first, so its reads see them; other clients see them within
    ``metric_buffer.SEND_AFTER_S``. A batch that fails is raised by the run's next write or its
    end, or by ``close()``."""

    def __init__(
        self,
        uri: str | os.PathLike[str] | None = None,
        artifacts: str | os.PathLike[str] | None = None,
        *,
        cache: str | os.PathLike[str] | None = None,
        create: bool = True,
        token: str | None = None,
    ) -> None:
        url = remote_url(uri)
        # $SEAWALL_ARTIFACTS_URI is the default of local registries, not a choice for this one.
        if artifacts is not None and os.fspath(artifacts) != os.environ.get(
            "SEAWALL_ARTIFACTS_URI"
        ):
            raise InvalidInputError(
                f"the registry at {url} keeps its artifacts on the server: give no artifacts "
                "store (the server's --artifacts names it)"
            )
        if token is None:
            token = os.environ.get("SEAWALL_TOKEN") or None
        self._api = Transport(url, token=token, actor=lambda: _actor.current_actor(self))
        # The batches carry no actor (metrics record none): sent from the buffer's thread.
        self._metrics = MetricBuffer(functools.partial(_points_through, self._api))
        # Waiting points are sent, and the connections closed, when the registry goes.
        weakref.finalize(self, _release, self._metrics, self._api)
        self.artifacts: RemoteArtifactStore = RemoteArtifactStore(self._api)
        self._cache = Path(cache) if cache is not None else seawall_home() / "cache"
        self._postgres = False
        # The runs this process started, kept alive through the server (by run id).
        self._heartbeat = Heartbeat(self._api, _beat_through)
        self._watchers: set[threading.Event] = set()  # of watch_events, stopped by close()

    @property
    def uri(self) -> str:
        return self._api.url

    def __getattr__(self, name: str) -> Any:
        if name == "_db":  # what only a local registry has: a clear error, not a crash
            raise InvalidInputError(
                f"the registry at {self._api.url} is served over HTTP: it has no database here"
            )
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"Registry({self._api.url!r})"

    def close(self) -> None:
        """Sends the metric points that wait (raising the error of any that could not be
        sent), closes the connections to the server (they reopen if the registry is used again)
        and stops the event watchers."""
        for stop in list(self._watchers):
            stop.set()
        self._watchers.clear()
        try:
            self._metrics.flush()
            self._metrics.raise_failed()
        finally:
            self._api.close()

    def _send(self, call: str, **values: Any) -> Any:
        route = REGISTRY_ROUTES.by_call[call]
        return self._call(route, lambda: send(self._api, REGISTRY_ROUTES, route, values, self))

    def _call(self, route: Route, request: Callable[[], T]) -> T:
        """Sends a call after the metric points that wait (its reads see them; writes keep
        their order). A write may end or delete runs: every run's next points go at once."""
        self._metrics.flush()
        if route.idempotent:
            return request()
        self._metrics.forget_open()
        try:
            return request()
        finally:
            self._metrics.forget_open()

    # The calls a run handle makes, which change the handle as the local ones do.

    def _pins(self) -> UploadPins:
        return UploadPins(self.artifacts)

    # --- events: the server's long poll (GET /events) ---------------------------------------

    @property
    def pushes_events(self) -> bool:
        return True

    def _poll_events(
        self, after: Any, types: Any, resource: Any, limit: Any, wait_s: float
    ) -> tuple[list[Event], int]:
        """The events after `after` (waiting up to `wait_s` for one), and where the next read
        starts (past events that did not match, too)."""
        query = {
            "after": check_after(after),
            "type": check_types(types) or None,
            "resource": check_resource(resource),
            "limit": check_limit(limit),
            "wait": f"{wait_s:.3f}",
        }
        data = self._api.call("GET", "/events", query=query, idempotent=True)
        found = [decode(e, Event) for e in data["events"]]
        return found, int(data["last_id"])

    def events(
        self,
        after: int = 0,
        *,
        types: Iterable[str] | str | None = None,
        resource: str | None = None,
        limit: int = 100,
    ) -> list[Event]:
        return self._poll_events(after, types, resource, limit, 0.0)[0]

    def wait_for_events(
        self,
        after: int = 0,
        *,
        types: Iterable[str] | str | None = None,
        resource: str | None = None,
        limit: int = 100,
        timeout_s: float = 30.0,
    ) -> list[Event]:
        check_seconds(timeout_s, "timeout_s")
        deadline = time.monotonic() + timeout_s
        while True:
            left = max(0.0, deadline - time.monotonic())
            found, after = self._poll_events(after, types, resource, limit, min(left, MAX_WAIT_S))
            if found or left <= MAX_WAIT_S:
                return found

    def watch_events(self, callback: Callable[[], None]) -> Callable[[], None]:
        if not callable(callback):
            raise InvalidInputError(f"callback must be callable, got {type(callback).__name__}")
        stop = threading.Event()

        self._watchers.add(stop)

        def follow() -> None:
            after: int | None = None
            while not stop.is_set():
                try:
                    if after is None:
                        after = self.last_event_id()
                    found, after = self._poll_events(after, None, None, 1, 1.0)
                except Exception as exc:  # the server away, the registry closed: keep trying
                    log.debug("watching events of %s: %s", self._api.url, exc)
                    stop.wait(1.0)
                    continue
                if found and not stop.is_set():
                    callback()

        def cancel() -> None:
            stop.set()
            self._watchers.discard(stop)

        threading.Thread(target=follow, name="seawall-remote-events", daemon=True).start()
        return cancel

    def authenticate(self, token: str) -> Principal:
        tk.parse_token(token)  # a malformed token is told here, and never sent
        principal: Principal = self._send("authenticate", token=token)
        return principal

    def export_tokens(self, path: str | os.PathLike[str]) -> int:
        raise InvalidInputError(
            f"the token digests of the registry at {self._api.url} stay on the server: export "
            "them where its database is (seawall tokens export --registry DATABASE)"
        )

    def _keep_alive(self, run: Run) -> None:
        self._heartbeat.add(run.id)
        self._metrics.opened(run.id)  # just started: its points may wait

    def _log_batch(
        self,
        run: Run,
        metric_items: Any = (),
        param_items: Mapping[str, Any] | None = None,
        tag_items: Mapping[str, Any] | None = None,
    ) -> None:
        batch = check_batch(0, metric_items, param_items, tag_items)
        if batch is None:
            return
        self._metrics.raise_failed(run.id)  # points of this run that an earlier send lost
        rows = [list(row[1:]) for row in batch.metrics]
        if batch.params or batch.tags or not self._metrics.may_wait(run.id):
            # Sent now, after the points that wait: its errors are raised here.
            self._metrics.flush()
            route = REGISTRY_ROUTES.by_call["_log_batch"]
            values = {"run": run, "metric_items": rows}
            values.update(param_items=batch.params, tag_items=batch.tags)
            send(self._api, REGISTRY_ROUTES, route, values, self)
            self._metrics.opened(run.id)
        else:
            self._metrics.add(run.id, rows)
        batch.apply(run)

    def _end_run(self, run: Run, status: str, missing_ok: bool = False) -> None:
        self._heartbeat.discard(run.id)
        self._metrics.flush()
        try:
            self._metrics.raise_failed(run.id)
        except SeawallError:
            # Points of the run were lost: it ends FAILED (if it still runs), and says why.
            with suppress(SeawallError):
                self._send_end(run, "FAILED", True)
            raise
        self._send_end(run, status, missing_ok)

    def _send_end(self, run: Run, status: str, missing_ok: bool) -> None:
        state = self._send("_end_run", run=run, status=status, missing_ok=missing_ok)
        if state["status"] is not None:
            run.status, run.end_time = state["status"], state["end_time"]


def _beat_through(transport: Transport, run_ids: list[str]) -> None:
    route = REGISTRY_ROUTES.by_call["_beat"]
    send(transport, REGISTRY_ROUTES, route, {"run_ids": run_ids}, None)


def _points_through(transport: Transport, run_id: str, rows: list[list[Any]]) -> None:
    """Sends checked metric points of one run (the metric buffer's requests)."""
    route = REGISTRY_ROUTES.by_call["_log_batch"]
    run = types.SimpleNamespace(id=run_id)  # all that crosses of a handle: its id
    values = {"run": run, "metric_items": rows, "param_items": {}, "tag_items": {}}
    send(transport, REGISTRY_ROUTES, route, values, None)


def _release(metrics: MetricBuffer, transport: Transport) -> None:
    """When a registry goes (or the process exits): its waiting points sent, then its
    connections closed."""
    metrics.close()
    transport.close()


# Every other route's call: the local method's signature, sent to the server.
_HANDWRITTEN = {"_log_batch", "_end_run", "authenticate"}


def _after_waiting_points(route: Route, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: RemoteRegistry, *args: Any, **kwargs: Any) -> Any:
        return self._call(route, lambda: method(self, *args, **kwargs))

    return call


for _route in REGISTRY_ROUTES.routes:
    if _route.call not in _HANDWRITTEN:
        setattr(
            RemoteRegistry,
            _route.call,
            _after_waiting_points(
                _route, remote_method(REGISTRY_ROUTES, _route, lambda reg: reg._api)
            ),
        )
RemoteRegistry.promote = RemoteRegistry.set_alias
