"""Telling whether a native call releases the GIL: while one thread is inside the call, can the
main thread keep running Python?

With the GIL held through the call, the main thread could spin only for the couple of switch
intervals (shortened here to 0.5 ms) around the call's start and end; with it released, it spins
for the whole call. Tests put the bar far from both: a tenth of the call at the measured rate.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable


def spins_during(call: Callable[[], object]) -> tuple[int, float, float]:
    """(spins of the main thread while `call` ran in another, spins per second with no call
    running, the call's seconds)."""
    count, stop = 0, time.perf_counter() + 0.05
    while time.perf_counter() < stop:
        count += 1
    rate = count / 0.05
    started, done = threading.Event(), threading.Event()
    elapsed: list[float] = []

    def worker() -> None:
        started.set()
        t0 = time.perf_counter()
        call()
        elapsed.append(time.perf_counter() - t0)
        done.set()

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        started.wait()
        count = 0
        while not done.is_set():
            count += 1
        thread.join()
    finally:
        sys.setswitchinterval(old_interval)
    return count, rate, elapsed[0]
