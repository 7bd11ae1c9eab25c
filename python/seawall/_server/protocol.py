"""uvicorn's HTTP protocols with the connection-level limits uvicorn leaves out.

uvicorn times out idle keep-alive connections, but not a client that opens a connection and
sends part of a request's headers, or nothing at all: each such connection holds a file
descriptor for ever, and a thousand of them under a 1,024-file limit lock everyone out. With
httptools (what uvicorn uses when it is installed) the headers are not bounded in size either.
The protocols here, subclasses of uvicorn's own, add:

* ``max_connections``: a connection accepted past it is answered 503 and closed at once;
* ``header_timeout_s``: a request's line and headers must arrive within that many seconds of the
  connection opening or of the previous response; else 408 (or a plain close when nothing was
  sent) and the connection closes. It also bounds how long the rest of a body the app refused
  is read and dropped;
* ``max_header_bytes`` (httptools; uvicorn gives h11 the same bound as its
  ``h11_max_incomplete_event_size``): more header bytes are answered 431 and the connection
  closes.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from .limits import Limits

__all__ = ["protocol_class"]

log = logging.getLogger("seawall.server")


class _Warnings:
    """One warning per kind every `every_s` seconds, with how many were left out: a flood of
    refused connections must not become a flood of log lines."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s = every_s
        self.last: dict[str, float] = {}
        self.quiet: dict[str, int] = {}

    def warn(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self.last.get(kind, -self.every_s) < self.every_s:
            self.quiet[kind] = self.quiet.get(kind, 0) + 1
            return
        left_out = self.quiet.pop(kind, 0)
        self.last[kind] = now
        more = f" ({left_out} more since the last warning)" if left_out else ""
        log.warning("%s%s", message, more)


class _Guard:
    """The limits, mixed into one of uvicorn's HTTP protocols (their attributes are used as is:
    ``connections``, ``cycle``, ``transport``, ``loop``)."""

    limits: Limits
    warnings: _Warnings
    _timer: asyncio.TimerHandle | None
    _header_bytes: int

    def connection_made(self, transport: Any) -> None:
        this: Any = self
        super().connection_made(transport)  # type: ignore[misc]
        self._timer = None
        self._header_bytes = 0
        if len(this.connections) > self.limits.max_connections:
            self.warnings.warn(
                "connections",
                f"refused a connection: {self.limits.max_connections} are open "
                "(the server's max_connections)",
            )
            self._refuse(503, "the server has too many open connections, retry later")
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        this: Any = self
        if not this.transport.is_closing():
            self._header_bytes = 0
            self._arm()

    def _busy(self) -> bool:
        """Whether a request's headers are in and its response is not yet complete."""
        cycle = getattr(self, "cycle", None)
        return cycle is not None and not cycle.response_complete

    def _arm(self) -> None:
        this: Any = self
        if self._timer is not None:
            self._timer.cancel()
        self._timer = this.loop.call_later(self.limits.header_timeout_s, self._header_timeout)

    def _header_timeout(self) -> None:
        this: Any = self
        self._timer = None
        if this.transport.is_closing() or self._busy():
            return  # a request is being handled: its response re-arms the timer
        if self._header_bytes:
            self.warnings.warn(
                "header timeout",
                f"closed a connection that sent part of a request in "
                f"{self.limits.header_timeout_s:g} s",
            )
            self._refuse(408, "the request's headers did not arrive in time")
        else:
            this.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        """Answers `status` with ``{"error": message}`` and closes the connection."""
        this: Any = self
        body = json.dumps({"error": message}).encode()
        head = [
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
            "content-type: application/json",
            f"content-length: {len(body)}",
            "connection: close",
        ]
        if status == 503:
            head.append(f"retry-after: {self.limits.retry_after_s}")
        this.transport.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        this.transport.close()


class _LimitedH11(_Guard, H11Protocol):
    """h11 bounds the header bytes itself (h11_max_incomplete_event_size)."""

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if not self._busy():
            self._header_bytes += len(data)
        super().data_received(data)


def _httptools_class() -> type[Any] | None:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    class _LimitedHttpTools(_Guard, HttpToolsProtocol):
        """httptools (llhttp) takes headers of any size: they are counted here."""

        _in_headers = False  # between a request's first byte and the end of its headers

        def on_message_begin(self) -> None:
            self._in_headers = True
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._in_headers = False
            self._header_bytes = 0
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            if self.transport.is_closing():
                return
            super().data_received(data)
            if self._in_headers:
                self._header_bytes += len(data)
                if self._header_bytes > self.limits.max_header_bytes:
                    self._refuse(431, "the request's headers are too large")

    return _LimitedHttpTools


def protocol_class(http_impl: str, limits: Limits) -> type[asyncio.Protocol]:
    """The uvicorn HTTP protocol for `http_impl` ("auto": httptools when installed, else "h11";
    "httptools"; "h11") with `limits`, for ``uvicorn.Config(http=...)``."""
    if http_impl not in ("auto", "h11", "httptools"):
        raise ValueError(f"http must be 'auto', 'h11' or 'httptools', got {http_impl!r}")
    base = _httptools_class() if http_impl != "h11" else None
    if base is None:
        if http_impl == "httptools":
            raise ImportError("httptools is not installed: pip install httptools")
        base = _LimitedH11
    attrs = {"limits": limits, "warnings": _Warnings()}
    return type(f"{base.__name__}Protocol", (base,), attrs)
