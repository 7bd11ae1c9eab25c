"""The registry's events over HTTP: a long poll and a server-sent-events stream, as Starlette
routes for a server to mount (``seawall server`` serves them; so can any ASGI app)::

    app = Starlette(routes=[*events_http.routes(registry), ...])

``GET /events?after=ID&type=alias.*&resource=models/fraud&limit=100&wait=30``
    The events after ID (JSON: ``{"events": [...], "last_id": N}``; pass ``last_id`` as the next
    ``after``: with filters it may be past the last event returned, past events that did not
    match). With ``wait`` (seconds, at most ``max_wait_s``), an empty answer waits until an
    event comes or the time runs out: a long poll.

``GET /events/stream?after=ID&type=...&resource=...``
    ``text/event-stream``: each event as ``id: N``, ``event: TYPE``, ``data: {...}``, from the one
    after ID (or after the ``Last-Event-ID`` header a reconnecting client sends), then every new
    one as it commits; a comment line every ``heartbeat_s`` keeps idle connections open. A
    stream ends after ``max_stream_s``; clients reconnect with ``Last-Event-ID`` and lose nothing.

Waiting holds no thread: a waiter is woken by the registry's wake-up thread
(:meth:`Registry.watch_events`) and reads the table in Starlette's thread pool. Waiters and
streams at once are bounded (``max_waiters``; one more is answered 503 with Retry-After). Bad
parameters are answered 400, ``{"error": "..."}``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ...errors import InvalidInputError
from ._outbox import MAX_LIMIT, Event, check_types

__all__ = ["routes"]


class _Gate:
    """Counts the waiters and streams open at once."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.open = 0

    def enter(self) -> bool:
        if self.open >= self.most:
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1


def routes(
    registry: Any,
    *,
    prefix: str = "/events",
    max_waiters: int = 256,
    max_wait_s: float = 30.0,
    heartbeat_s: float = 15.0,
    max_stream_s: float = 3600.0,
) -> list[Route]:
    """The long-poll and stream routes over `registry` (which has ``events`` and
    ``watch_events``), under `prefix`."""
    if not prefix.startswith("/") or prefix.endswith("/"):
        raise InvalidInputError(f"prefix must start with '/' and not end with one: {prefix!r}")
    for label, value in (
        ("max_wait_s", max_wait_s),
        ("heartbeat_s", heartbeat_s),
        ("max_stream_s", max_stream_s),
    ):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise InvalidInputError(f"{label} must be a positive number of seconds, got {value!r}")
    if isinstance(max_waiters, bool) or not isinstance(max_waiters, int) or max_waiters < 1:
        raise InvalidInputError(f"max_waiters must be a positive integer, got {max_waiters!r}")
    gate = _Gate(max_waiters)

    def read(after: int, query: dict[str, Any]) -> tuple[list[Event], int]:
        """The events after `after`, and where the next read starts: past the last one, or,
        when none matched, past every event there was before the read (ids increase in commit
        order, so none that matches can come before it), so that a filtered reader does not
        scan the same unmatched events on every wake-up."""
        newest = int(registry.last_event_id())
        found: list[Event] = registry.events(after, **query)
        return found, (found[-1].id if found else max(after, newest))

    async def wait(after: int, query: dict[str, Any], timeout_s: float) -> tuple[list[Event], int]:
        """As `read`, waiting up to `timeout_s` for an event."""
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def wake() -> None:  # from the registry's wake-up thread
            try:
                loop.call_soon_threadsafe(changed.set)
            except RuntimeError:  # the event loop has closed: nobody waits any more
                pass

        cancel = registry.watch_events(wake)
        try:
            deadline = loop.time() + timeout_s
            while True:
                changed.clear()  # before the read: a commit during it wakes the next wait
                found, after = await run_in_threadpool(read, after, query)
                left = deadline - loop.time()
                if found or left <= 0:
                    return found, after
                try:
                    await asyncio.wait_for(changed.wait(), left)
                except asyncio.TimeoutError:
                    pass
        finally:
            cancel()

    async def poll(request: Request) -> Response:
        try:
            after, query = _query(request)
            wait_s = _seconds(request.query_params.get("wait", "0"), "wait", max_wait_s)
        except InvalidInputError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if wait_s > 0:
            if not gate.enter():
                return _busy(gate.most)
            try:
                found, last = await wait(after, query, wait_s)
            finally:
                gate.leave()
        else:
            found, last = await run_in_threadpool(read, after, query)
        return JSONResponse({"events": [e.to_dict() for e in found], "last_id": last})

    async def stream(request: Request) -> Response:
        try:
            after, query = _query(request)
            resumed = request.headers.get("last-event-id")
            if resumed is not None:
                after = _event_id(resumed, "Last-Event-ID")
        except InvalidInputError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if not gate.enter():
            return _busy(gate.most)

        async def body() -> AsyncIterator[bytes]:
            cursor = after
            try:
                yield b"retry: 1000\n\n"  # the reconnection delay a client should use
                loop = asyncio.get_running_loop()
                ends = loop.time() + max_stream_s
                while (left := ends - loop.time()) > 0:
                    found, cursor = await wait(cursor, query, min(heartbeat_s, left))
                    if not found:
                        yield b": keep-alive\n\n"
                        continue
                    for event in found:
                        yield _sse(event)
            finally:
                gate.leave()

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return [
        Route(prefix, poll, methods=["GET"], name="events"),
        Route(f"{prefix}/stream", stream, methods=["GET"], name="events_stream"),
    ]


def _busy(most: int) -> Response:
    return JSONResponse(
        {"error": f"too many event waiters and streams at once (at most {most})"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


def _sse(event: Event) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, event.type.encode(), event.to_json())


def _event_id(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise InvalidInputError(f"{what} must be an event id (an integer >= 0), got {text!r}")
    return int(text)


def _seconds(text: str, what: str, most: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= most):
        raise InvalidInputError(f"{what} must be a number of seconds from 0 to {most:g}: {text!r}")
    return value


def _query(request: Request) -> tuple[int, dict[str, Any]]:
    """`after` and the filters (types, resource, limit) of a request's query string."""
    params = request.query_params
    after = _event_id(params.get("after", "0"), "after")
    types = [t for raw in params.getlist("type") for t in raw.split(",") if t]
    limit_text = params.get("limit", "100")
    if not limit_text.isascii() or not limit_text.isdigit() or len(limit_text) > 6:
        raise InvalidInputError(f"limit must be an integer, got {limit_text!r}")
    query: dict[str, Any] = {
        "types": types or None,
        "resource": params.get("resource") or None,
        "limit": int(limit_text),
    }
    # Checked here too, so that a bad value is a 400 now rather than an error mid-stream.
    check_types(query["types"])
    if not 1 <= query["limit"] <= MAX_LIMIT:
        raise InvalidInputError(
            f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit_text!r}"
        )
    return after, query
