"""The registry server as an ASGI app (Starlette): one handler per route of the route tables,
made from the route and the registry call's signature, the artifact objects streamed both ways,
and the OpenAPI document.

Every answer carries the ``Seawall-API`` header (the API's version); a request of another
version (its path's ``/api/<n>/`` or its header) is refused with an error naming both. Errors
answer ``{"error": message, "type": name}``, `name` the ``seawall.errors`` class, which the
client raises again; the status follows the class (404 not found, 409 conflict, 400 bad input,
401 no valid token, 403 a scope missing, 422 failed integrity, 503 database unavailable).

The registry's events are served at ``/api/1/events`` (a long poll) and ``/events/stream``
(server-sent events), by ``seawall.registry.events.http``.

Identity: with tokens checked (``auth=``), the shared middleware (``seawall._server.auth``)
authenticates each request's bearer token, and :class:`Identity` takes its principal; without,
:func:`identify` reads the actor the client names. Every handler acts as that principal, which
the registry records as the actor of what the request writes (runs, versions, alias moves), and
with tokens checks that its scopes allow the call (``access``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import re
import reprlib
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from itertools import chain
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route

from .. import errors
from .._server.auth import AuthMiddleware, make_authenticator, principal_of
from .._server.limits import Refused
from .._server.tokens import Principal
from ..monitoring._remote import HISTORY_ROUTES
from ..monitoring._store import HistoryStore
from ..registry import Registry, Run
from ..registry._checks import check_run_id
from ..registry._store import CHUNK, ObjectWriter, _check_sha
from ..registry.events import http as events_http
from ..registry.remote.client import RemoteRegistry
from ..registry.remote.codec import decode, encode
from ..registry.remote.routes import API_VERSION, REGISTRY_ROUTES, RouteTable
from ..registry.remote.routes import Route as ApiRoute
from ..registry.remote.transport import ACTOR_HEADER, API_HEADER
from .access import Gate, classify
from .openapi import openapi_document

__all__ = ["Identity", "create_registry_app", "identify"]

log = logging.getLogger("seawall.server")

Scope = MutableMapping[str, Any]

TABLES = (REGISTRY_ROUTES, HISTORY_ROUTES)
# Blocks of an upload (of CHUNK bytes) received and not yet written, at most.
_BLOCKS_HELD = 2
_API_PATH = re.compile(r"^/api/([^/]+)(/.*)?$")
_MAX_PINNED = 100_000  # objects one write may pin
_DIGEST_BYTES = 32  # a SHA-256, after the bytes of an upload to /objects/uploads

# Status by error class, the first that matches (subclasses before their bases).
_STATUS: list[tuple[type[errors.SeawallError], int]] = [
    (errors.RegistryUnavailableError, 503),
    (errors.NotFoundError, 404),
    (errors.AlreadyExistsError, 409),
    (errors.RunClosedError, 409),
    (errors.IntegrityError, 422),
    (errors.UnsupportedVersionError, 400),
    (errors.InvalidInputError, 400),
    (errors.DTypeError, 400),
    (errors.UntrustedCodeError, 403),
    (errors.AuthenticationError, 401),
    (errors.AccessDeniedError, 403),
]


def identify(request: Request) -> str | Principal | None:
    """The principal a request acts for, recorded as the actor of its writes: with tokens
    checked, the token's principal (found by the shared middleware); without, the actor the
    client names (``Seawall-Actor``: its OS login, as a local registry records its own; None:
    the server's own login)."""
    principal = principal_of(request)
    if principal is not None:
        return principal
    name = request.headers.get(ACTOR_HEADER)
    return name[:128] if name else None


class Identity:
    """Reads each request's principal once, with `identify`, into ``request.state.principal``,
    before any handler runs; an error it raises is the answer. With tokens checked (`gate`),
    a request without a principal is refused, and the object and event routes (outside the
    route table, whose calls the handlers check) need their scopes here."""

    def __init__(
        self,
        app: Any,
        identify: Callable[[Request], str | Principal | None],
        gate: Gate | None = None,
    ) -> None:
        self.app = app
        self.identify = identify
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            try:
                principal = self.identify(Request(scope))
                if self.gate is not None and classify(scope["method"], scope["path"]).public:
                    principal = None
                elif self.gate is not None:
                    if not isinstance(principal, Principal):  # the middleware lets none by
                        raise errors.AuthenticationError("this server needs a token")
                    self.gate.check_request(
                        principal, scope["method"], scope["path"], scope.get("query_string", b"")
                    )
            except errors.SeawallError as exc:
                await error_answer(exc)(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def error_answer(exc: BaseException) -> JSONResponse:
    """The JSON answer for an error: its seawall class and message, with the class's status."""
    if isinstance(exc, errors.SeawallError):
        status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
        return JSONResponse({"error": str(exc), "type": type(exc).__name__}, status)
    log.exception("the registry server failed on a request", exc_info=exc)
    return JSONResponse(
        {"error": "the registry server failed (its log says why)", "type": "StorageError"}, 500
    )


class _RunKeys:
    """Run ids to the database's keys, for the handles the run routes make (a key never
    changes; a run deleted since is found out by the call itself)."""

    def __init__(self, registry: Registry, size: int = 10_000) -> None:
        self._registry = registry
        self._keys: OrderedDict[str, int] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def handle(self, run_id: Any) -> Run:
        check_run_id(run_id)
        with self._lock:
            pk = self._keys.get(run_id)
        if pk is None:
            reg = self._registry
            with reg._db.read() as conn:
                pk = reg._run_pk(conn, run_id)
            with self._lock:
                self._keys[run_id] = pk
                while len(self._keys) > self._size:
                    self._keys.popitem(last=False)
        # The status stays None unless the call sets it (ending the run).
        return Run(self._registry, pk, run_id, "", None, None, 0.0, None, {}, {}, {})  # type: ignore[arg-type]


def _query_value(text: str, hint: Any, name: str) -> Any:
    """A query parameter as the type its parameter is annotated with."""
    kinds = [a for a in getattr(hint, "__args__", (hint,)) if a is not type(None)]
    try:
        if int in kinds and bool not in kinds:
            return int(text)
        if float in kinds:
            return float(text)
        if bool in kinds:
            if text not in ("true", "false"):
                raise ValueError(text)
            return text == "true"
    except ValueError:
        raise errors.InvalidInputError(f"query parameter {name!r} cannot be {text!r}") from None
    return text


def _handler(
    table: RouteTable,
    route: ApiRoute,
    target: Any,
    registry: Registry,
    runs: _RunKeys | None,
    gate: Gate | None,
) -> Any:
    """The endpoint of one route: arguments from the path, query or body, the call on a worker
    thread as the request's principal, the answer as JSON."""
    hints = table.hints(route)
    wire = {p.name: p for p in table.wire_params(route)}
    call = getattr(target, route.call)
    in_body = route.method not in ("GET", "DELETE")

    async def endpoint(request: Request) -> Response:
        values: dict[str, Any] = dict(request.path_params)
        if in_body:
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError as exc:
                raise errors.InvalidInputError(f"the request body is not JSON: {exc}") from None
            if not isinstance(body, dict):
                raise errors.InvalidInputError("the request body must be a JSON object")
            given = body
        else:
            given = {k: _query_value(v, hints.get(k), k) for k, v in request.query_params.items()}
        pin_ids = _pin_ids(given.pop("pins", [])) if route.pinned else []
        unknown = sorted(set(given) - set(wire))
        if unknown:
            raise errors.InvalidInputError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} for {route.method} "
                f"{route.openapi_path} (it takes {', '.join(sorted(wire)) or 'none'})"
            )
        for name, value in given.items():
            try:
                values[name] = decode(value, hints.get(name, Any))
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                raise errors.InvalidInputError(
                    f"parameter {name!r} cannot be {reprlib.repr(value)}: {exc}"
                ) from None
        for name, param in wire.items():
            if name not in values and param.default is param.empty:
                raise errors.InvalidInputError(f"missing parameter {name!r}")
        if route.server_args is not None:
            values = route.server_args(values)
        principal = request.state.principal

        checked = principal if gate is not None and isinstance(principal, Principal) else None

        def invoke() -> Any:
            if checked is not None:
                assert gate is not None
                gate.check(checked, route, values)
                return gate.readable(checked, route, call_as(principal))
            return call_as(principal)

        def call_as(principal: Any) -> Any:
            with contextlib.ExitStack() as stack:
                if principal is not None:
                    stack.enter_context(registry.acting_as(principal))
                if route.pinned:  # what it references is held until it commits
                    values["pins"] = pins = stack.enter_context(target._pins())
                    pins.adopt(pin_ids)  # taken before the client uploaded (POST /objects/pins)
                if route.run:
                    assert runs is not None
                    handle = runs.handle(values.pop("run_id"))
                    result = call(handle, **values)
                    if route.server_answer is not None:
                        return route.server_answer(result, handle)
                    return result
                return call(**values)

        try:
            result = await run_in_threadpool(invoke)
        except errors.SeawallError:
            raise
        except Exception as exc:  # answered here: re-raised, it would close the connection
            return error_answer(exc)
        return JSONResponse(encode(result))

    return endpoint


def _pin_ids(value: Any) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in value
    ):
        raise errors.InvalidInputError("pins must be a list of pin ids (POST /objects/pins)")
    return value


def _object_routes(registry: Registry) -> list[BaseRoute]:
    store = registry.artifacts

    async def pin(request: Request) -> Response:
        """Pins objects for a client's write: their pins' ids, and those to upload now."""
        try:
            shas = json.loads(await request.body())["sha256"]
            if not isinstance(shas, list) or len(shas) > _MAX_PINNED:
                raise ValueError(f"a list of at most {_MAX_PINNED} hashes")
            wanted = list(dict.fromkeys(_check_sha(s) for s in shas))
        except (ValueError, KeyError, TypeError) as exc:
            raise errors.InvalidInputError(
                'the body must be {"sha256": [hash, ...]}: ' + str(exc)
            ) from None

        def hold() -> tuple[list[int], list[str]]:
            pins = registry._pins()  # not exited: the client's write records the pins
            for sha in wanted:
                pins.add(sha)
            return pins.hold_for_upload()

        ids, missing = await run_in_threadpool(hold)
        return JSONResponse({"pins": ids, "missing": missing})

    async def get(request: Request) -> Response:
        sha = _check_sha(request.path_params["sha256"])
        if request.method == "HEAD":
            verify = request.query_params.get("verify") == "true"
            check = store.exists_intact if verify else store.exists
            found = await run_in_threadpool(check, sha)
            return Response(status_code=200 if found else 404)
        chunks = store._chunks(sha)
        # The first piece is read before answering, so that a missing object is a clean 404.
        first = await run_in_threadpool(next, chunks, b"")
        body: Iterator[bytes] = chain([first], chunks)
        return StreamingResponse(body, media_type="application/octet-stream")

    async def put(request: Request) -> Response:
        sha = _check_sha(request.path_params["sha256"])
        writer = await run_in_threadpool(store.writer, sha)

        async def stored() -> dict[str, Any]:
            await _stream_into(request, writer)
            sha, size = await run_in_threadpool(writer.commit)
            return {"sha256": sha, "size": size}

        return await _upload_answer(writer, stored())

    async def upload(request: Request) -> Response:
        """Stores an object whose hash follows its bytes: the body is the bytes, then their
        SHA-256 (32 bytes), which the client computed as it read and sent them (one pass over
        the file, not one to hash it and one to send it). Kept only if the bytes received hash
        to it; pinned before it is put in place (W2, W3 of _gc.py, then W1), for the client's
        write to record (the pin's id in the answer)."""
        writer = await run_in_threadpool(store.writer)

        def place(digest: str) -> dict[str, Any]:
            received = writer.sha256
            if received != digest:
                raise errors.IntegrityError(
                    f"the {writer.size} bytes received hash to {received}, not to {digest}: "
                    "the upload was corrupted, and nothing was stored"
                )
            with contextlib.ExitStack() as stack:
                pins = stack.enter_context(registry._pins())  # released if this fails
                pins.add(received)
                (pin_id,) = pins.hold_for_store()
                sha, size = writer.commit()
                stack.pop_all()  # kept: the client's write records the pin
            return {"sha256": sha, "size": size, "pin": pin_id}

        async def stored() -> dict[str, Any]:
            digest = await _stream_into(request, writer, trailer=_DIGEST_BYTES)
            return await run_in_threadpool(place, digest.hex())

        return await _upload_answer(writer, stored())

    return [
        Route("/objects/pins", pin, methods=["POST"]),
        Route("/objects/uploads", upload, methods=["POST"]),
        Route("/objects/{sha256}", get, methods=["GET", "HEAD"]),
        Route("/objects/{sha256}", put, methods=["PUT"]),
    ]


async def _upload_answer(writer: ObjectWriter, stored: Awaitable[dict[str, Any]]) -> Response:
    """The answer to an upload into `writer` (`stored`: receives it and puts it in place): a
    bound it broke answers its status, a client gone 400; the temporary goes unless stored."""
    try:
        answer = await stored
    except Refused as refused:
        return JSONResponse(
            {"error": str(refused), "type": "InvalidInputError"},
            refused.status,
            headers={k.decode(): v.decode() for k, v in refused.headers},
        )
    except ClientDisconnect:
        return Response(status_code=400)
    finally:
        await run_in_threadpool(writer.abort)  # a no-op once committed
    return JSONResponse(answer)


Piece = bytes | memoryview  # of an upload's body, as received


async def _stream_into(request: Request, writer: ObjectWriter, trailer: int = 0) -> bytes:
    """Writes a streamed request body into `writer` but for its last `trailer` bytes, which it
    returns. The pieces the server receives are hashed and written as they are (no copy) by a
    thread of this upload's own, about CHUNK bytes at a time, while the event loop receives
    the next ones; at most _BLOCKS_HELD such blocks wait, so an upload holds a few MiB
    whatever its size."""
    blocks: queue.Queue[list[Piece] | None] = queue.Queue(maxsize=_BLOCKS_HELD)
    failed: list[BaseException] = []

    def consume() -> None:
        while (block := blocks.get()) is not None:
            for piece in block:
                if failed:
                    break
                try:
                    writer.write(piece)
                except BaseException as exc:  # reported once the body is in
                    failed.append(exc)

    async def offer(block: list[Piece] | None) -> None:
        try:
            blocks.put_nowait(block)
        except queue.Full:
            await run_in_threadpool(blocks.put, block)

    consumer = threading.Thread(target=consume, name="seawall-upload", daemon=True)
    consumer.start()
    try:
        pending: list[Piece] = []
        held = 0
        async for piece in request.stream():
            pending.append(piece)
            held += len(piece)
            if held >= CHUNK + trailer:
                block, pending = _split_tail(pending, trailer)
                held = trailer
                await offer(block)
        block, tail = _split_tail(pending, trailer)
        if block:
            await offer(block)
    finally:
        await offer(None)
        await run_in_threadpool(consumer.join)
    if failed:
        raise failed[0]
    return b"".join(tail)


def _split_tail(pieces: list[Piece], size: int) -> tuple[list[Piece], list[Piece]]:
    """The pieces but for their last `size` bytes, and those bytes (as views: nothing copied)."""
    head, tail = list(pieces), list[Piece]()
    left = size
    while left:
        if not head:
            raise errors.InvalidInputError(
                f"the upload is shorter than the {size} bytes of its hash"
            )
        last = head.pop()
        if len(last) <= left:
            tail.insert(0, last)
            left -= len(last)
        else:
            view = memoryview(last)
            head.append(view[: len(last) - left])
            tail.insert(0, view[len(last) - left :])
            left = 0
    return head, tail


def _is_upload(scope: Scope) -> bool:
    method, path = scope.get("method"), scope.get("path", "")
    objects = f"/api/{API_VERSION}/objects/"
    return (method == "PUT" and path.startswith(objects)) or (
        method == "POST" and path == objects + "uploads"
    )


class _ApiVersion:
    """Puts the API version on every answer and refuses requests of another version."""

    def __init__(self, app: Any, state: Any) -> None:
        self.app = app
        self.state = state

    @staticmethod
    def seawall_streamed_body(scope: Scope) -> bool:
        """Uploads of objects are streamed into the store as they arrive (see _server.limits)."""
        return _is_upload(scope)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        version = str(API_VERSION).encode()

        async def send_versioned(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (API_HEADER.lower().encode(), version),
                ]
            await send(message)

        asked = _asked_version(scope)
        if asked is not None and asked != str(API_VERSION):
            exc = errors.UnsupportedVersionError(
                f"this server speaks the registry API version {API_VERSION}, the client speaks "
                f"version {asked}: use a seawall of the server's version"
            )
            await error_answer(exc)(scope, receive, send_versioned)
            return
        await self.app(scope, receive, send_versioned)


def _asked_version(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == API_HEADER.lower().encode():
            return str(value.decode("latin-1"))
    match = _API_PATH.match(scope.get("path", ""))
    return match.group(1) if match else None


def create_registry_app(
    registry: Registry | str | None = None,
    *,
    auth: Any = None,
    rate_limit: float | None = None,
    identify: Callable[[Request], str | Principal | None] = identify,
    max_event_waiters: int = 64,
) -> Any:
    """The registry server's ASGI app over `registry` (a Registry, or the URI of one; None:
    the default one). Serve it with ``seawall._server.run`` (``seawall server``) or
    ``serve_in_thread``, which keep it within its limits.

    `auth` checks tokens (an Authenticator, or a registry or token file to check them against:
    usually `registry` itself): every request but ``/`` and ``/openapi.json`` needs one, whose
    principal is recorded as the actor of what it writes and whose scopes must allow each call
    (``seawall.registry_server.access``); `rate_limit` is the requests per second a token may
    make. Without `auth`, `identify` reads (and may refuse) each request's principal (default:
    :func:`identify`, the client's own actor). At most `max_event_waiters` long polls and event
    streams wait at once (each holds one of the server's concurrent requests)."""
    if not isinstance(registry, Registry):
        registry = Registry(registry)
    assert isinstance(registry, Registry)
    if isinstance(registry, RemoteRegistry):
        raise errors.InvalidInputError("a registry server serves a database, not another server")
    authenticator = make_authenticator(auth, rate_limit=rate_limit)
    gate = Gate(registry) if authenticator is not None else None
    targets = {"registry": registry, "monitoring": HistoryStore(registry)}
    runs = _RunKeys(registry)
    api: list[BaseRoute] = []
    for table in TABLES:
        for route in table.routes:
            endpoint = _handler(table, route, targets[table.name], registry, runs, gate)
            api.append(Route(route.path, endpoint, methods=[route.method]))
    api += _object_routes(registry)
    api += events_http.routes(registry, prefix="/events", max_waiters=max_event_waiters)
    document = openapi_document(TABLES)

    async def root(request: Request) -> Response:
        return JSONResponse(
            {
                "service": "seawall registry server",
                "api_version": API_VERSION,
                "api": f"/api/{API_VERSION}",
                "openapi": "/openapi.json",
            }
        )

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        kind = "NotFoundError" if exc.status_code == 404 else "InvalidInputError"
        message = exc.detail
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        return JSONResponse({"error": message, "type": kind}, exc.status_code)

    async def seawall_error(request: Request, exc: Exception) -> Response:
        return error_answer(exc)

    app = Starlette(
        routes=[
            Route("/", root),
            Route("/openapi.json", openapi),
            Mount(f"/api/{API_VERSION}", routes=api),
        ],
        exception_handlers={
            HTTPException: http_error,
            errors.SeawallError: seawall_error,
            Exception: seawall_error,
        },
    )
    app.state.registry = registry
    served: Any = Identity(app, identify, gate)
    if authenticator is not None:
        served = AuthMiddleware(served, authenticator, classify)
    return _ApiVersion(served, app.state)
