"""The batcher's Triton-style phase totals, its settings and reset_stats, from Python, against the
model's own record of the batches it ran."""

from __future__ import annotations

import collections
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from seawall.serving import Batcher


class Slow:
    """Sleeps `seconds` per batch and records each batch's rows."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.rows: list[int] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.rows.append(len(x))
        time.sleep(self.seconds)
        return x * 2


def test_phase_totals_match_the_batches_the_model_ran(rng):
    model = Slow(0.002)
    requests = [int(n) for n in rng.integers(1, 9, int(rng.integers(20, 60)))]
    with Batcher(model, max_batch_size=16, max_queue_delay_us=500, instances=2) as batcher:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda n: batcher.predict(np.ones((n, 3))), requests))
    stats = batcher.stats()  # closed: every completion is counted
    assert [len(r) for r in results] == requests
    n = len(requests)
    assert stats["queue"]["count"] == n
    for phase in ("compute_input", "compute_infer", "compute_output"):
        assert stats[phase]["count"] == n, phase
    assert stats["compute_infer"]["ns"] >= n * 2_000_000  # each request's batch slept 2 ms
    by_size = stats["batch_stats"]
    assert {size: s["compute_infer"]["count"] for size, s in by_size.items()} == dict(
        collections.Counter(model.rows)
    )
    for size, phases in by_size.items():
        assert phases["compute_infer"]["ns"] >= phases["compute_infer"]["count"] * 2_000_000
        assert stats["batch_size_histogram"][size] == phases["compute_input"]["count"]


def test_settings_and_reset(rng):
    model = Slow(0.0)
    with Batcher(
        model,
        max_batch_size=32,
        max_queue_delay_us=250,
        preferred_batch_sizes=[8, 4],
        max_queue_size=10,
        default_timeout_us=5000,
        priority_levels=3,
        instances=2,
    ) as batcher:
        assert batcher.options == {
            "max_batch_size": 32,
            "max_queue_delay_us": 250,
            "preferred_batch_sizes": [8, 4],
            "max_queue_size": 10,
            "default_timeout_us": 5000,
            "priority_levels": 3,
            "default_priority": 2,
            "instances": 2,
        }
        for _ in range(int(rng.integers(2, 6))):
            batcher.predict(np.ones((3, 2)))
        deadline = time.monotonic() + 5
        while batcher.stats()["compute_output"]["count"] < batcher.stats()["completed"]:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        batcher.reset_stats()
        stats = batcher.stats()
        assert stats["requests"] == stats["completed"] == stats["batches"] == stats["rows"] == 0
        assert stats["batch_stats"] == {} and stats["batch_size_histogram"] == {}
        assert stats["queue"] == {"count": 0, "ns": 0} and stats["compute_us"]["count"] == 0
        batcher.predict(np.ones((5, 2)))
    stats = batcher.stats()
    assert stats["requests"] == stats["completed"] == 1 and stats["rows"] == 5
    assert list(stats["batch_stats"]) == [5]
