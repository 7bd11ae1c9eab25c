"""The limits every seawall server keeps (seawall._server), against a small ASGI app served by
real uvicorn on loopback and talked to with raw sockets and httpx: connections, header time and
size, concurrency, body size (413), body bytes in flight (503), body time (408)."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from seawall._server import Limits
from seawall._server.run import serve_in_thread
from seawall.errors import InvalidInputError

IMPLEMENTATIONS = ["h11", "httptools"]


class App:
    """Answers with the length of the body it got; ``/hold`` requests wait for `release` (set
    from the test thread) after telling `entered` they are in."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.calls += 1
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if scope["path"] == "/hold":
            self.entered.release()
            while not self.release.is_set():
                await asyncio.sleep(0.005)
        content = json.dumps({"bytes": len(body)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": content})


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


@pytest.fixture(params=IMPLEMENTATIONS)
def http(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def read_until_closed(sock: socket.socket, guard_s: float = 60) -> bytes:
    """Everything the server sends until it closes the connection (`guard_s` only stops a
    broken server from hanging the test)."""
    sock.settimeout(guard_s)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


@pytest.fixture
def served(http: str) -> Iterator[tuple[App, str, str]]:
    app = App()
    limits = Limits(
        max_connections=20,
        max_concurrency=3,
        header_timeout_s=0.5,
        body_timeout_s=0.5,
        max_header_bytes=4096,
        max_body_bytes=10_000,
        max_bytes_in_flight=25_000,
    )
    try:
        with serve_in_thread(app, limits=limits, http=http) as url:
            yield app, url, http
    finally:
        app.release.set()


def test_a_partial_request_is_timed_out_and_an_idle_connection_closed(served):
    _, url, _ = served
    with (
        socket.create_connection(address(url)) as partial,
        socket.create_connection(address(url)) as idle,
    ):
        partial.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        answer = read_until_closed(partial)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert read_until_closed(idle) == b""  # nothing sent: closed without a word
    with httpx.Client(base_url=url) as client:
        assert client.get("/").json() == {"bytes": 0}


def test_headers_past_the_limit_are_refused(served):
    _, url, http = served
    with socket.create_connection(address(url)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(100):  # 100 kB of headers, against a 4 kB limit
                sock.sendall(b"X-Padding: " + b"a" * 1000 + b"\r\n")
        except OSError:
            pass  # the server closed on us while we were still sending
        answer = read_until_closed(sock)
    # httptools: counted by seawall (431); h11: its own bound (400).
    expected = b"HTTP/1.1 431 " if http == "httptools" else b"HTTP/1.1 400 "
    assert answer.startswith(expected) or answer == b"", answer


def test_connections_past_the_limit_are_refused_then_a_new_client_is_served(http):
    app = App()
    limits = Limits(max_connections=20, header_timeout_s=120)
    with serve_in_thread(app, limits=limits, http=http) as url:
        socks = [socket.create_connection(address(url)) for _ in range(50)]
        try:
            refused: list[bytes] = []
            waiting = list(socks)
            while len(refused) < 30:
                readable, _, _ = select.select(waiting, [], [], 60)
                assert readable, f"only {len(refused)} of 30 connections were refused"
                for s in readable:
                    refused.append(read_until_closed(s))
                    waiting.remove(s)
            assert all(r.startswith(b"HTTP/1.1 503 ") for r in refused), refused[0]
            assert all(b"retry-after: 1" in r.lower() for r in refused)
            assert select.select(waiting, [], [], 0)[0] == []  # the first 20 are still open
            with httpx.Client(base_url=url) as client:  # one more client: refused too
                try:
                    status = client.get("/").status_code
                except httpx.TransportError:
                    status = None  # the refusal reset the connection before it was read
                assert status in (503, None)
        finally:
            for s in socks:
                s.close()
        assert eventually_served(url)  # the idle ones gone, clients are served


def eventually_served(url: str) -> bool:
    """Whether a GET gets 200 within a few tries (the server sees closed connections a moment
    after the client closes them)."""
    with httpx.Client(base_url=url) as client:
        for _ in range(400):
            try:
                if client.get("/").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            threading.Event().wait(0.05)
    return False


def test_idle_connections_are_timed_out_and_free_their_slots(http):
    app = App()
    limits = Limits(max_connections=20, header_timeout_s=0.5)
    with serve_in_thread(app, limits=limits, http=http) as url:
        socks = [socket.create_connection(address(url)) for _ in range(20)]
        try:
            for s in socks:
                assert read_until_closed(s) == b""
        finally:
            for s in socks:
                s.close()
        assert eventually_served(url)


def test_bodies_over_the_limit_get_413_with_or_without_a_length(served):
    app, url, _ = served
    with httpx.Client(base_url=url) as client:
        r = client.post("/", content=b"x" * 10_001)
        assert r.status_code == 413
        assert "10000" in r.json()["error"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
            for _ in range(30):
                yield b"y" * 1000

        r = client.post("/", content=chunks())
        assert r.status_code == 413
        assert client.post("/", content=b"z" * 10_000).json() == {"bytes": 10_000}
    assert app.calls == 1  # the refused requests never reached the app


def test_bytes_in_flight_past_the_limit_get_503_with_retry_after(served):
    app, url, _ = served
    results: list[httpx.Response] = []

    def hold(n: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            results.append(client.post("/hold", content=b"h" * n))

    holders = [threading.Thread(target=hold, args=(10_000,)) for _ in range(2)]
    for t in holders:
        t.start()
    for _ in holders:
        assert app.entered.acquire(timeout=60)
    with httpx.Client(base_url=url) as client:
        # 20,000 bytes held: 5,000 more fit, 5,001 do not (with or without a Content-Length).
        assert client.post("/", content=b"a" * 5_000).json() == {"bytes": 5_000}
        r = client.post("/", content=b"a" * 5_001)
        assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
        r = client.post("/", content=iter([b"a" * 3_000, b"a" * 3_000]))
        assert r.status_code == 503
        assert client.get("/").json() == {"bytes": 0}  # no body, nothing held
        app.release.set()
        for t in holders:
            t.join(60)
        assert [r.status_code for r in results] == [200, 200]
        assert client.post("/", content=b"a" * 10_000).json() == {"bytes": 10_000}


def test_requests_past_the_concurrency_limit_get_503(served):
    app, url, _ = served
    results: list[int] = []

    def hold() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            results.append(client.get("/hold").status_code)

    holders = [threading.Thread(target=hold) for _ in range(3)]
    for t in holders:
        t.start()
    for _ in holders:
        assert app.entered.acquire(timeout=60)
    with httpx.Client(base_url=url) as client:
        r = client.get("/")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        app.release.set()
        for t in holders:
            t.join(60)
        assert results == [200, 200, 200]
        assert client.get("/").status_code == 200


def test_a_body_that_does_not_arrive_in_time_gets_408(served):
    app, url, _ = served
    with socket.create_connection(address(url)) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"b" * 10)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert app.calls == 0


def test_limits_are_checked():
    with pytest.raises(InvalidInputError, match="max_connections"):
        Limits(max_connections=0)
    with pytest.raises(InvalidInputError, match="header_timeout_s"):
        Limits(header_timeout_s=-1.0)
    with pytest.raises(InvalidInputError, match="max_body_bytes"):
        Limits(max_body_bytes=True)
    with pytest.raises(InvalidInputError, match="never be accepted"):
        Limits(max_body_bytes=100, max_bytes_in_flight=99)
    assert Limits(header_timeout_s=1, body_timeout_s=0.25).body_timeout_s == 0.25
