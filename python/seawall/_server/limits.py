"""What one client may make a seawall server hold, and the ASGI middleware that enforces it.

:class:`Limits` holds every bound with a safe default; the connection-level ones (connections,
header bytes and time, keep-alive) are enforced by the uvicorn protocol in ``protocol.py``, the
request-level ones here, by :class:`LimitsMiddleware`, before the app sees a request:

* requests handled at once past ``max_concurrency``: 503 with Retry-After, the app never called;
* a body over ``max_body_bytes``: 413 (from its Content-Length before a byte is read, or while
  reading a chunked body);
* request bodies held at once, across requests, past ``max_bytes_in_flight``: 503 with
  Retry-After. A body's bytes are reserved (its Content-Length, or chunk by chunk) and held until
  its response is sent, since the parsed request lives that long;
* a body not received within ``body_timeout_s`` of the request's headers: 408, and the
  connection closes.

The middleware reads the body whole before it calls the app, and hands it over as one message,
except for the requests an app streams (uploads it writes as they arrive: the app names them
with a ``seawall_streamed_body(scope) -> bool`` attribute). Those are handed over as they come,
never held, bounded by ``max_upload_bytes`` and by a pace: the body must keep arriving at
``min_upload_rate`` bytes per second on average once ``body_timeout_s`` has passed (a slow
trickle that would hold a connection for ever is answered 408). A streamed body breaking a bound
raises :class:`Refused` inside the app, which answers it.
Errors answer ``{"error": message}`` (JSON), as seawall's servers do.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ..errors import InvalidInputError

__all__ = ["Limits", "LimitsMiddleware", "Refused"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    """Bounds on what clients may make a server hold: connections, time, bytes. The defaults are
    safe for a server under a 1,024 open-file limit and a few GiB of memory."""

    max_connections: int = 512
    """Open connections; one more is answered 503 and closed as soon as it is accepted."""
    max_concurrency: int = 128
    """Requests handled at once; one more is answered 503 with Retry-After."""
    header_timeout_s: float = 10.0
    """Seconds to send a request's headers, from the connection or the previous response."""
    keep_alive_timeout_s: float = 5.0
    """Seconds an idle connection stays open between requests."""
    body_timeout_s: float = 60.0
    """Seconds to send a whole request body, from the end of its headers."""
    max_header_bytes: int = 64 << 10
    """Bytes of a request line and headers; more are answered 431 (400 with h11)."""
    max_body_bytes: int = 64 << 20
    """Bytes of one request body; a larger one is answered 413."""
    max_bytes_in_flight: int = 128 << 20
    """Request body bytes held at once across requests; past it, 503 with Retry-After. A JSON
    body takes about five times its size in memory while it is parsed and answered."""
    retry_after_s: int = 1
    """The Retry-After of a 503."""
    max_upload_bytes: int = 1 << 40
    """Bytes of one streamed request body (an upload the app writes as it arrives)."""
    min_upload_rate: int = 64 << 10
    """Bytes per second a streamed body must average once ``body_timeout_s`` has passed."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            number = (int, float) if f.name.endswith("_s") else (int,)
            if isinstance(value, bool) or not isinstance(value, number) or not value > 0:
                raise InvalidInputError(f"{f.name} must be a positive number, got {value!r}")
        if self.max_bytes_in_flight < self.max_body_bytes:
            raise InvalidInputError(
                f"max_bytes_in_flight ({self.max_bytes_in_flight}) is below max_body_bytes "
                f"({self.max_body_bytes}): a body of the largest size would never be accepted"
            )


class Refused(Exception):
    """A request refused for a bound: its status, message and headers."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


_Refused = Refused


async def respond(
    send: Send,
    status: int,
    message: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
    kind: str | None = None,
) -> None:
    """Sends ``{"error": message}`` with `status` (for the requests the middleware refuses),
    and ``"type": kind``, the ``seawall.errors`` class it stands for, when given."""
    answer = {"error": message} if kind is None else {"error": message, "type": kind}
    body = json.dumps(answer).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class LimitsMiddleware:
    """Wraps an ASGI app so that every HTTP request keeps within `limits` (module docstring)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], limits: Limits):
        self.app = app
        self.limits = limits
        self.active = 0  # requests being handled
        self.bytes_in_flight = 0  # body bytes reserved by them
        self._retry = [(b"retry-after", str(limits.retry_after_s).encode())]
        import anyio  # here: the commands import this module before any server starts

        self._fail_after = anyio.fail_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.limits
        if self.active >= limits.max_concurrency:
            await respond(send, 503, "the server is busy, retry later", self._retry)
            return
        self.active += 1
        held = 0
        try:
            length, chunked = _body_headers(scope)
            streamed = getattr(self.app, "seawall_streamed_body", None)
            if streamed is not None and streamed(scope):
                if length is not None and length > limits.max_upload_bytes:
                    raise _Refused(413, self._too_large(limits.max_upload_bytes), [])
                await self.app(scope, self._paced(receive), send)
                return
            if length is None and not chunked:  # no body: nothing to read or hold
                await self.app(scope, receive, send)
                return
            if length is not None:
                self._check_size(length)
                held = self._reserve(length)
            chunks: list[bytes] = []
            size = 0
            try:
                with self._fail_after(limits.body_timeout_s):
                    while True:
                        message = await receive()
                        if message["type"] != "http.request":
                            return  # the client went away: nothing to answer
                        chunk = message.get("body", b"")
                        size += len(chunk)
                        self._check_size(size)
                        if length is None:  # chunked: reserve as the bytes come
                            held += self._reserve(len(chunk))
                        if chunk:
                            chunks.append(chunk)
                        if not message.get("more_body", False):
                            break
            except TimeoutError:
                raise _Refused(
                    408,
                    f"the request body did not arrive within {limits.body_timeout_s:g} s",
                    [(b"connection", b"close")],
                ) from None
            body = b"".join(chunks)
            del chunks
            await self.app(scope, _replay(body, receive), send)
        except _Refused as refused:
            await respond(send, refused.status, str(refused), refused.headers)
        finally:
            self.active -= 1
            self.bytes_in_flight -= held

    def _check_size(self, size: int) -> None:
        if size > self.limits.max_body_bytes:
            raise _Refused(413, self._too_large(self.limits.max_body_bytes), [])

    @staticmethod
    def _too_large(limit: int) -> str:
        return f"the request body is over this server's limit of {limit} bytes"

    def _paced(self, receive: Receive) -> Receive:
        """`receive` for a streamed body: each piece must come in time for the body to keep
        its pace, and the whole within max_upload_bytes."""
        limits = self.limits
        import anyio

        start = anyio.current_time()
        received = 0

        async def paced() -> Message:
            nonlocal received
            allowed = start + limits.body_timeout_s + received / limits.min_upload_rate
            try:
                with self._fail_after(max(0.0, allowed - anyio.current_time())):
                    message = await receive()
            except TimeoutError:
                raise _Refused(
                    408,
                    f"the request body arrived slower than {limits.min_upload_rate} bytes/s",
                    [(b"connection", b"close")],
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limits.max_upload_bytes:
                    raise _Refused(413, self._too_large(limits.max_upload_bytes), [])
            return message

        return paced

    def _reserve(self, nbytes: int) -> int:
        """Reserves `nbytes` of the bytes in flight (returns them), or refuses with 503."""
        if self.bytes_in_flight + nbytes > self.limits.max_bytes_in_flight:
            raise _Refused(
                503,
                "the server holds as many request bytes as it may, retry later",
                self._retry,
            )
        self.bytes_in_flight += nbytes
        return nbytes


def _body_headers(scope: Scope) -> tuple[int | None, bool]:
    """(Content-Length, chunked) of a request; a Content-Length that is not a number is refused
    (uvicorn's parsers refuse it first; the check keeps any other server honest)."""
    length = None
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            if not value.isdigit():
                raise _Refused(400, "the Content-Length header is not a number", [])
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    if chunked:
        length = None  # Transfer-Encoding wins over Content-Length (RFC 9112, 6.3)
    return length, chunked


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body read already, then the server's own messages."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
