"""The dynamic batcher against a direct model call and a pure-Python asyncio batcher,
in the same run.

    python -m pytest benchmarks/bench_batching.py -s --benchmark-columns=median,min,max,rounds

Anchors:
  - the model called directly, for the batcher's overhead per request (one caller, a cheap
    model, no queue delay);
  - a model costing 1 ms per call + 1 us per row (it sleeps, releasing the GIL, as onnxruntime
    does while it computes), called directly with a full batch: max_batch_size / that call time
    bounds any batcher's throughput with one model instance;
  - a pure-Python asyncio batcher written here in the pattern of Ray Serve's ``@serve.batch``
    (callers queue (row, future) pairs; one task gathers up to max_batch_size of them within the
    wait timeout, stacks them, calls the model on the event loop and resolves the futures), at the
    same concurrency and batch settings.

Targets: overhead per request <= 20 us median; throughput at 64 concurrent callers >= 90% of
max_batch_size / call time; >= 5x the pure-Python asyncio batcher at 64 concurrent callers.
SEAWALL_BENCH_ROWS scales the number of requests down for CI's smoke run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from conftest import ROWS
from seawall.serving import Batcher

CALLERS = 64
MAX_BATCH = 32  # two full batches in flight at 64 callers: one runs while the next fills
DELAY_US = 500  # the batchers' queue delay / Ray Serve's batch_wait_timeout_s
CALL_S = 1e-3
ROW_S = 1e-6
WIDTH = 16
# Requests per caller per round: 150 by default; a handful in the smoke run.
PER_CALLER = max(2, min(150, ROWS // 6400))
ROUNDS = 5

ROW = np.arange(WIDTH, dtype=np.float32).reshape(1, WIDTH)


def cheap(x: np.ndarray) -> np.ndarray:
    return x * 2


def costly(x: np.ndarray) -> np.ndarray:
    time.sleep(CALL_S + ROW_S * len(x))
    return x * 2


class AsyncioBatcher:
    """A pure-Python asyncio batcher in the pattern of Ray Serve's ``@serve.batch``."""

    def __init__(
        self, model: Callable[[np.ndarray], np.ndarray], max_batch_size: int, wait_s: float
    ) -> None:
        self.model = model
        self.max_batch_size = max_batch_size
        self.wait_s = wait_s
        self.queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future[np.ndarray]]] | None = None
        self.task: asyncio.Task[None] | None = None

    async def __call__(self, x: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.task = loop.create_task(self._run())
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self.queue.put_nowait((x, future))
        return await future

    async def _run(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            deadline = loop.time() + self.wait_s
            while len(batch) < self.max_batch_size:
                if not self.queue.empty():
                    batch.append(self.queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            out = self.model(np.concatenate([x for x, _ in batch]))
            offset = 0
            for x, future in batch:
                future.set_result(out[offset : offset + len(x)])
                offset += len(x)

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()


def drive_threads(predict: Callable[[np.ndarray], Any]) -> None:
    """CALLERS threads, each sending PER_CALLER requests one after the other."""

    def caller() -> None:
        for _ in range(PER_CALLER):
            predict(ROW)

    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def drive_tasks(call: Callable[[np.ndarray], Awaitable[Any]]) -> None:
    """CALLERS asyncio tasks on one event loop, each awaiting PER_CALLER requests in turn."""

    async def caller() -> None:
        for _ in range(PER_CALLER):
            await call(ROW)

    async def main() -> None:
        await asyncio.gather(*(caller() for _ in range(CALLERS)))

    asyncio.run(main())


# --- overhead per request ------------------------------------------------------------------------


def test_direct_call(benchmark, medians):
    benchmark(cheap, ROW)
    medians.record("direct_call", benchmark)


def test_predict_one_caller(benchmark, medians):
    with Batcher(cheap, max_batch_size=MAX_BATCH) as batcher:
        np.testing.assert_array_equal(batcher.predict(ROW), ROW * 2)
        benchmark(batcher.predict, ROW)
    medians.record("predict_one_caller", benchmark)


# --- throughput at 64 concurrent callers ---------------------------------------------------------


def test_costly_model_direct(benchmark, medians):
    batch = np.repeat(ROW, MAX_BATCH, axis=0)
    benchmark.pedantic(costly, args=(batch,), rounds=50, iterations=1)
    medians.record("costly_call", benchmark)


@pytest.mark.parametrize("instances", [1, 2])
@pytest.mark.parametrize("callers", ["threads", "asyncio"])
def test_throughput_seawall(benchmark, medians, callers, instances):
    """64 threads calling predict(), or 64 asyncio tasks awaiting apredict()."""
    with Batcher(
        costly, max_batch_size=MAX_BATCH, max_queue_delay_us=DELAY_US, instances=instances
    ) as batcher:
        drive, call = (
            (drive_threads, batcher.predict)
            if callers == "threads"
            else (drive_tasks, batcher.apredict)
        )
        benchmark.pedantic(drive, args=(call,), rounds=ROUNDS, iterations=1)
        stats = batcher.stats()
    assert stats["completed"] == stats["requests"]
    medians.record(f"seawall_{callers}_{instances}", benchmark)


def test_throughput_python_asyncio(benchmark, medians):
    def run() -> None:
        batcher = AsyncioBatcher(costly, MAX_BATCH, DELAY_US / 1e6)
        try:
            drive_tasks(batcher)
        finally:
            batcher.close()

    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    medians.record("python_asyncio", benchmark)


def report(medians: dict[str, float]) -> list[str]:
    """The figures against their targets (no timed asserts: the machine is shared)."""
    requests = CALLERS * PER_CALLER
    bound = MAX_BATCH / medians["costly_call"]

    def rate(name: str) -> float:
        return requests / medians[name]

    overhead = (medians["predict_one_caller"] - medians["direct_call"]) * 1e6
    python = rate("python_asyncio")
    lines = [
        f"overhead per request: predict {medians['predict_one_caller'] * 1e6:.1f} us - direct call "
        f"{medians['direct_call'] * 1e6:.2f} us = {overhead:.1f} us  [target <= 20 us]",
        f"model: {medians['costly_call'] * 1e3:.3f} ms per call of {MAX_BATCH} rows -> bound "
        f"{bound:,.0f} requests/s with one instance; {CALLERS} callers x {PER_CALLER} requests",
    ]
    for name, what in [
        ("seawall_asyncio_1", "seawall apredict, 1 instance"),
        ("seawall_threads_1", "seawall predict from threads, 1 instance"),
        ("seawall_asyncio_2", "seawall apredict, 2 instances"),
        ("seawall_threads_2", "seawall predict from threads, 2 instances"),
        ("python_asyncio", "pure-Python asyncio batcher"),
    ]:
        lines.append(
            f"{what}: {rate(name):,.0f} requests/s = {rate(name) / bound:.2f} of the bound, "
            f"{rate(name) / python:.2f}x the pure-Python batcher"
        )
    lines.append("[targets: >= 0.90 of the bound with 1 instance; >= 5x the pure-Python batcher]")
    return lines


# --- HTTP end to end: `seawall serve` on loopback, 32 concurrent clients ------------------------
#
# Bundles (a FeaturePipeline over three raw columns, one of them strings, and an ONNX model) are
# served by `seawall serve` in a subprocess; 32 clients on keep-alive connections send one-row
# Open Inference Protocol requests (raw features as JSON tensors, the string as BYTES) back to
# back. Two models: a logistic regression, cheap enough that the HTTP stack is the whole cost,
# and a 3 x 1024 MLP (built with onnx.helper; ~0.3 ms a row alone, ~20 us a row in a batch of
# 64), where batching pays. The anchor is the same MLP server with --max-batch-size 1 (one
# request per model call). The clients are a minimal asyncio HTTP/1.1 loop, so that the load
# generator costs the two shared cores less than the server does.
#
#   python -m pytest benchmarks/bench_batching.py -k http -s

HTTP_CLIENTS = 32
HTTP_REQUESTS = max(320, ROWS // 100)  # 10,000 at the default size, 320 in the CI smoke run
MLP_WIDTH = 1024


def _mlp_onnx(inputs: int, rng: np.random.Generator) -> Any:
    """X -> 3 x (MatMul, Add, Relu) of MLP_WIDTH -> MatMul, Add -> Softmax, random weights."""
    from onnx import TensorProto, helper, numpy_helper

    sizes = [inputs, MLP_WIDTH, MLP_WIDTH, MLP_WIDTH, 2]
    nodes, weights = [], []
    x = "X"
    for i in range(len(sizes) - 1):
        a, b = sizes[i], sizes[i + 1]
        w = (rng.normal(size=(a, b)) / np.sqrt(a)).astype(np.float32)
        weights += [
            numpy_helper.from_array(w, f"W{i}"),
            numpy_helper.from_array(np.zeros(b, np.float32), f"B{i}"),
        ]
        nodes += [
            helper.make_node("MatMul", [x, f"W{i}"], [f"M{i}"]),
            helper.make_node("Add", [f"M{i}", f"B{i}"], [f"A{i}"]),
        ]
        x = f"A{i}"
        if b != 2:
            nodes.append(helper.make_node("Relu", [x], [f"R{i}"]))
            x = f"R{i}"
    nodes.append(helper.make_node("Softmax", [x], ["probabilities"], axis=1))
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, inputs])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def http_bundles(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import json

    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    import seawall as sw
    from seawall.serving import save_bundle

    rng = np.random.default_rng(20261125)
    n = 5_000
    table = {
        "amount": rng.lognormal(3, 1, n),
        "merchant": np.array([f"m{i:02d}" for i in range(40)], dtype=object)[
            rng.integers(0, 40, n)
        ],
        "age": rng.integers(18, 90, n),
    }
    pipeline = sw.FeaturePipeline(
        {
            "amount": [sw.Log1p(), sw.StandardScale()],
            "merchant": sw.OneHot(),
            "age": sw.StandardScale(),
        }
    ).fit(table)
    X = pipeline.transform(table)
    y = (X @ rng.normal(size=X.shape[1]) > 0).astype(np.int64)
    model = LogisticRegression(max_iter=300).fit(X, y)
    logistic = to_onnx(
        model,
        initial_types=[("X", FloatTensorType([None, X.shape[1]]))],
        options={id(model): {"zipmap": False}},
    )
    home = tmp_path_factory.mktemp("http")
    paths = {
        "logistic": save_bundle(
            home / "logistic", onnx_model=logistic, pipeline=pipeline, name="fraud"
        ),
        "mlp": save_bundle(
            home / "mlp", onnx_model=_mlp_onnx(X.shape[1], rng), pipeline=pipeline, name="fraud"
        ),
    }
    bodies = [
        json.dumps(
            {
                "id": str(i),
                "inputs": [
                    {
                        "name": "amount",
                        "datatype": "FP64",
                        "shape": [1],
                        "data": [float(table["amount"][i])],
                    },
                    {
                        "name": "merchant",
                        "datatype": "BYTES",
                        "shape": [1],
                        "data": [str(table["merchant"][i])],
                    },
                    {
                        "name": "age",
                        "datatype": "INT64",
                        "shape": [1],
                        "data": [int(table["age"][i])],
                    },
                ],
            }
        ).encode()
        for i in range(256)
    ]
    return paths, bodies


def _start_server(path: Any, *options: str) -> tuple[Any, int]:
    """`seawall serve` in a subprocess on a free loopback port, once it answers ready."""
    import socket
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-c", "from seawall.cli import main; main()", "serve", str(path)]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning", *options],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready") as r:
                if r.status == 200:
                    return process, port
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(30)
            raise RuntimeError("seawall serve did not start")
        time.sleep(0.05)


async def _http_client(port: int, requests: list[bytes], latencies: list[float]) -> None:
    """Sends each request on one keep-alive connection, waiting for each answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise AssertionError(head.decode(errors="replace"))
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if b'"outputs"' not in body:
                raise AssertionError(body[:200])
    finally:
        writer.close()
        await writer.wait_closed()


def _http_load(port: int, bodies: list[bytes], token: str | None = None) -> dict[str, float]:
    """Requests per second and latency percentiles of HTTP_REQUESTS one-row requests (each with
    ``Authorization: Bearer token`` when a token is given)."""
    authorization = f"Authorization: Bearer {token}\r\n" if token is not None else ""

    def request(body: bytes) -> bytes:
        head = (
            "POST /v2/models/fraud/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"{authorization}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    per_client = HTTP_REQUESTS // HTTP_CLIENTS
    work = [
        [request(bodies[(c * per_client + i) % len(bodies)]) for i in range(per_client)]
        for c in range(HTTP_CLIENTS)
    ]
    warm: list[float] = []
    asyncio.run(_http_client(port, work[0][:50], warm))
    latencies: list[float] = []

    async def run() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(_http_client(port, w, latencies) for w in work))
        return time.perf_counter() - start

    wall = asyncio.run(run())
    ms = np.asarray(latencies) * 1e3
    return {
        "rps": len(latencies) / wall,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def test_http_end_to_end(http_bundles):
    pytest.importorskip("uvicorn")
    paths, bodies = http_bundles
    cases = [
        ("logistic regression, batched (max 64)", "logistic", "64"),
        (f"MLP 3x{MLP_WIDTH}, batched (max 64)", "mlp", "64"),
        (f"MLP 3x{MLP_WIDTH}, unbatched (max 1)", "mlp", "1"),
    ]
    figures = {}
    for label, bundle, max_batch in cases:
        process, port = _start_server(paths[bundle], "--max-batch-size", max_batch)
        try:
            figures[label] = _http_load(port, bodies)
        finally:
            process.terminate()
            process.wait(30)
    print()
    for label, f in figures.items():
        print(
            f"HTTP /v2 infer, 1 row, {HTTP_CLIENTS} clients, {label}: {f['rps']:,.0f} requests/s, "
            f"p50 {f['p50_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms"
        )
    batched, unbatched = (figures[label]["rps"] for label, _, _ in cases[1:])
    print(f"HTTP MLP batched / unbatched requests per second: {batched / unbatched:.1f}x")


# --- what checking tokens costs ----------------------------------------------------------------
#
# The logistic regression's server, where the HTTP stack is the whole cost (so that auth's share
# is the largest it can be), without auth (the anchor) and with `--auth registry` (every request
# carries a token of the registry, checked against the cached answer, its scope against the route,
# its rate counted), on the same requests, in alternating rounds so that the load of the machine
# falls on both alike. Target: auth costs at most 3% of the requests per second. Besides requests
# per second, each round reports the server process's CPU time per request (user + system, from
# /proc): on a shared machine requests per second swing with the other jobs, while the CPU a
# request costs the server does not much, and at saturation requests per second go as its inverse.
#
#   python -m pytest benchmarks/bench_batching.py -k http_auth -s

AUTH_ROUNDS = 7


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    import os
    from pathlib import Path

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_http_auth_overhead(http_bundles, tmp_path):
    pytest.importorskip("uvicorn")
    from seawall.registry import Registry

    paths, bodies = http_bundles
    registry, artifacts = tmp_path / "registry.db", tmp_path / "artifacts"
    with Registry(registry, artifacts=artifacts) as reg:
        token = reg.create_token("bench", team="perf", scopes=["read:models/fraud"]).secret
    common = ("--max-batch-size", "64")
    anchor = _start_server(paths["logistic"], *common)
    checked = _start_server(
        paths["logistic"],
        *common,
        *("--auth", "registry", "--registry", str(registry), "--artifacts", str(artifacts)),
    )
    servers = {"no auth (anchor)": (anchor, None), "--auth registry": (checked, token)}
    rounds: dict[str, list[dict[str, float]]] = {label: [] for label in servers}
    try:
        for _ in range(AUTH_ROUNDS):
            for label, ((process, port), bearer) in servers.items():
                before = _cpu_seconds(process.pid)
                figures = _http_load(port, bodies, bearer)
                figures["cpu_us"] = (_cpu_seconds(process.pid) - before) / HTTP_REQUESTS * 1e6
                rounds[label].append(figures)
    finally:
        for process, _ in (anchor, checked):
            process.terminate()
            process.wait(30)
    print()
    medians: dict[str, dict[str, float]] = {}
    for label, figures in rounds.items():
        medians[label] = {k: float(np.median([f[k] for f in figures])) for k in figures[0]}
        m = medians[label]
        rps = ", ".join(f"{f['rps']:,.0f}" for f in figures)
        cpu = ", ".join(f"{f['cpu_us']:.0f}" for f in figures)
        print(
            f"HTTP /v2 infer, logistic regression, {HTTP_CLIENTS} clients, {label}: median "
            f"{m['rps']:,.0f} requests/s over {AUTH_ROUNDS} rounds "
            f"({rps}), p50 {m['p50_ms']:.2f} ms, "
            f"p99 {m['p99_ms']:.2f} ms; server CPU {m['cpu_us']:.0f} us a request "
            f"({cpu})"
        )
    anchor_m, auth_m = medians["no auth (anchor)"], medians["--auth registry"]
    rps_cost = 1 - auth_m["rps"] / anchor_m["rps"]
    cpu_cost = 1 - anchor_m["cpu_us"] / auth_m["cpu_us"]
    alone_us = _middleware_us(registry, artifacts, token)
    print(
        f"auth costs {100 * cpu_cost:.1f}% of the requests per second by the server's CPU per "
        f"request ({100 * rps_cost:+.1f}% by the median requests per second, on this machine's "
        f"load); the middleware alone takes {alone_us:.1f} us a request in-process, "
        f"{100 * alone_us / anchor_m['cpu_us']:.1f}% of the anchor's CPU per request; "
        "target <= 3%"
    )
    # (no assert on the figure: a timing; tests/serving/test_server_auth.py counts the queries)


def _middleware_us(registry: Any, artifacts: Any, token: str) -> float:
    """Microseconds the auth middleware adds to one request of the benchmark (its headers, its
    path), over an app that does nothing: the best of 5 runs of 20,000 calls, less the bare
    app's, so that other jobs on the machine inflate it as little as they can."""
    from seawall._server.auth import Authenticator, AuthMiddleware
    from seawall.registry import Registry
    from seawall.serving.access import classify

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    with Registry(registry, artifacts=artifacts) as reg:
        checked = AuthMiddleware(app, Authenticator(reg), classify)
        headers = [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"200"),
        ]
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v2/models/fraud/infer",
            "root_path": "",
            "headers": headers,
        }

        async def calls(target: Any, n: int) -> float:
            start = time.perf_counter()
            for _ in range(n):
                await target(dict(scope), None, None)
            return (time.perf_counter() - start) / n

        async def best() -> tuple[float, float]:
            await calls(checked, 100)  # the token's answer cached
            bare = min([await calls(app, 20_000) for _ in range(5)])
            with_auth = min([await calls(checked, 20_000) for _ in range(5)])
            return bare, with_auth

        bare, with_auth = asyncio.run(best())
    return (with_auth - bare) * 1e6
