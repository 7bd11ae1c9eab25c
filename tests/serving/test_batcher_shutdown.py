"""The batcher at interpreter exit and under garbage collection: in a fresh interpreter each, the
process must neither hang nor crash, and requests still pending must be answered."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PRELUDE = """
import asyncio, gc, sys, threading, time
import numpy as np
from seawall.errors import BatcherClosedError
from seawall.serving import Batcher
"""


def run(script: str) -> subprocess.CompletedProcess[str]:
    code = PRELUDE + textwrap.dedent(script)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:  # pragma: no cover - the failure this file looks for
        pytest.fail("the interpreter hung")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Fatal" not in done.stderr, done.stderr
    return done


def test_exit_with_an_open_batcher_and_pending_requests():
    done = run(
        """
        batcher = Batcher(lambda x: x, max_batch_size=8, max_queue_delay_us=60_000_000)
        future = batcher.submit(np.ones((1, 3)))
        def report(f):
            print("pending request:", type(f.exception()).__name__, flush=True)
        future.add_done_callback(report)
        print("exiting", flush=True)
        """
    )
    assert done.stdout.splitlines() == ["exiting", "pending request: BatcherClosedError"]


def test_exit_while_the_model_runs_and_a_daemon_thread_waits():
    done = run(
        """
        started = threading.Event()
        def model(x):
            started.set()
            time.sleep(0.3)
            return x
        batcher = Batcher(model, max_batch_size=1)
        def caller():
            try:
                for _ in range(100):
                    batcher.predict(np.ones(3))
            except BatcherClosedError:  # the batcher closes at exit, under this thread
                pass
        threading.Thread(target=caller, daemon=True).start()
        started.wait(30)
        print("exiting", flush=True)
        """
    )
    assert done.stdout == "exiting\n"


def test_exit_after_asyncio_use_without_close():
    done = run(
        """
        batcher = Batcher(lambda x: x * 2, max_batch_size=4)
        async def main():
            return await asyncio.gather(*(batcher.apredict(np.full(2, float(i))) for i in range(9)))
        print(sum(float(y.sum()) for y in asyncio.run(main())), flush=True)
        """
    )
    assert done.stdout == "144.0\n"


def test_a_collected_reference_cycle_stops_its_threads():
    done = run(
        """
        class Service:
            def __init__(self):
                self.batcher = Batcher(self.model, max_batch_size=2)
            def model(self, x):
                return x + 1
        before = threading.active_count()
        service = Service()
        print(service.batcher.predict(np.zeros(2)).tolist(), flush=True)
        del service
        gc.collect()
        print("collected", flush=True)
        """
    )
    assert done.stdout.splitlines() == ["[1.0, 1.0]", "collected"]


def test_a_batcher_released_inside_its_own_model_call():
    """The last reference goes away on the batcher's own thread: it must not join itself."""
    done = run(
        """
        holder = []
        def model(x):
            holder.clear()  # the batcher is freed here, on its instance thread
            gc.collect()
            return x * 3
        holder.append(Batcher(model, max_batch_size=1))
        future = holder[0].submit(np.ones(2))
        print(future.result(timeout=30).tolist(), flush=True)
        """
    )
    assert done.stdout == "[3.0, 3.0]\n"


@pytest.mark.parametrize("delay_us", [0, 1000])
def test_exit_with_daemon_threads_inside_every_call(delay_us):
    """Daemon threads in predict, submit and stats when the interpreter exits: each may be ended
    by CPython as it takes the GIL back, which must not abort the process."""
    run(
        f"""
        def model(x):
            time.sleep(0.002)
            return x
        batcher = Batcher(model, max_batch_size=4, max_queue_delay_us={delay_us})
        def caller(kind):
            try:
                while True:
                    if kind == 0:
                        batcher.predict(np.ones(3))
                    elif kind == 1:
                        batcher.submit(np.ones(3))
                    else:
                        batcher.stats()
            except BatcherClosedError:
                pass
        for i in range(9):
            threading.Thread(target=caller, args=(i % 3,), daemon=True).start()
        time.sleep(0.05)
        """
    )
