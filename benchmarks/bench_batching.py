"""The dynamic batcher (issue #4) against a direct model call and a pure-Python asyncio batcher,
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
    """The figures against the issue's targets (no timed asserts: the machine is shared)."""
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
