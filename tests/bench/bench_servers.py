"""Servers the load-generator tests drive on loopback: a scripted HTTP server (known delays and
statuses, Triton's stats endpoint or none) and readers of a seawall server's own request
counts."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections import Counter
from collections.abc import Sequence
from typing import Any

METADATA = {
    "name": "m",
    "versions": ["1"],
    "platform": "scripted",
    "inputs": [
        {"name": "x", "datatype": "FP32", "shape": [-1, 3]},
        {"name": "s", "datatype": "BYTES", "shape": [-1]},
        {"name": "n", "datatype": "INT64", "shape": [-1, 1]},
        {"name": "b", "datatype": "BOOL", "shape": [-1]},
    ],
    "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1]}],
}
# What the scripted server adds to its stats per inference: queue and compute nanoseconds.
QUEUE_NS = 1_500
COMPUTE_NS = 7_000


class ScriptedServer:
    """An HTTP/1.1 server in a thread: the n-th infer request (counted from 0) waits
    delays_s[n % len] and is answered statuses[n % len]. GET /v2/models/m gives METADATA; GET
    /v2/models/m/stats answers in Triton's shape (when `stats`), else 404. Bodies are kept."""

    def __init__(
        self,
        *,
        delays_s: Sequence[float] = (0.0,),
        statuses: Sequence[int] = (200,),
        stats: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.delays_s = list(delays_s)
        self.statuses = list(statuses)
        self.stats = stats
        self.metadata = metadata or METADATA
        self.infers = 0
        self.bodies: list[bytes] = []
        self.codes: Counter[int] = Counter()
        self.transports: set[Any] = set()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            self._loop.create_server(lambda: _Protocol(self), "127.0.0.1", 0)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()
        server.close()
        for transport in self.transports:
            transport.abort()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.run_until_complete(asyncio.sleep(0))  # the transports' own close callbacks
        self._loop.close()

    def answer(self, method: str, path: str, body: bytes) -> tuple[float, int, bytes]:
        """(delay, status, body) for one request."""
        if method == "GET" and path == "/v2/models/m":
            return 0.0, 200, json.dumps(self.metadata).encode()
        if method == "GET" and path == "/v2/models/m/stats":
            if not self.stats:
                return 0.0, 404, b'{"error": "no stats here"}'
            n = self.infers
            stats = {
                "success": {"count": n, "ns": n * (QUEUE_NS + COMPUTE_NS)},
                "queue": {"count": n, "ns": n * QUEUE_NS},
                "compute_infer": {"count": n, "ns": n * COMPUTE_NS},
            }
            return 0.0, 200, json.dumps({"model_stats": [{"inference_stats": stats}]}).encode()
        if method == "POST" and path == "/v2/models/m/infer":
            n = self.infers
            self.infers += 1
            self.bodies.append(body)
            status = self.statuses[n % len(self.statuses)]
            self.codes[status] += 1
            answer = b'{"outputs": []}' if status == 200 else f'{{"error": "no {n}"}}'.encode()
            return self.delays_s[n % len(self.delays_s)], status, answer
        return 0.0, 404, b'{"error": "unknown path"}'


class _Protocol(asyncio.Protocol):
    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.server.transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, rest = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(rest) < length:
                return
            body, self.buffer = rest[:length], rest[length:]
            delay, status, answer = self.server.answer(method, path, body)
            response = (
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(answer)}\r\n\r\n"
            ).encode() + answer
            if delay > 0:
                asyncio.get_running_loop().call_later(delay, self._write, response)
            else:
                self._write(response)

    def _write(self, response: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(response)


def request_counts(url: str, model: str, endpoint: str = "infer") -> Counter[int]:
    """A seawall server's own count of requests to `model`, by status code, from /metrics (read
    with prometheus_client's parser)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
        text = r.read().decode()
    counts: Counter[int] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "seawall_inference_requests_total"
                and labels.get("model") == model
                and labels.get("endpoint") == endpoint
            ):
                counts[int(labels["code"])] += int(sample.value)
    return counts
