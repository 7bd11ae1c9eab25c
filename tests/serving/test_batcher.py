"""seawall.serving.Batcher: results against the model called directly, many callers,
Triton's dispatch rules (delay, full and preferred batches, priorities), queue limits, timeouts,
model errors, concurrent instances, asyncio, typed input errors and consistent statistics.

Timing: lower bounds only where the batcher guarantees them (a lone request waits the whole
delay), generous upper bounds (a minute of delay that must not be waited), and event ordering
(a model held at a gate) everywhere else, so that a loaded machine cannot fail these tests.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from seawall.errors import (
    BatcherClosedError,
    DTypeError,
    InvalidInputError,
    QueueFullError,
    RequestTimeoutError,
    SeawallError,
)
from seawall.serving import Batcher

MINUTE_US = 60_000_000  # a queue delay no test may wait for
WAIT = 30.0  # seconds any test waits for an event before failing (never reached when it works)
BLOCKER = -1.0  # rows starting with this make a GatedModel wait at its gate


class GatedModel:
    """Returns ``x * 2``. Records the first value of every row of every batch, in order, and holds
    a batch whose first row starts with BLOCKER until ``release`` is set."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.batches: list[list[float]] = []
        self._lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with self._lock:
            self.batches.append(x[:, 0].tolist())
        if x[0, 0] == BLOCKER:
            self.entered.set()
            assert self.release.wait(WAIT), "the test never released the gate"
        return x * 2

    def seen(self) -> list[float]:
        with self._lock:
            return [v for batch in self.batches for v in batch]

    def block(self, batcher: Batcher) -> Future[Any]:
        """Occupies one instance until ``release`` is set."""
        future = batcher.submit(rows(BLOCKER))
        assert self.entered.wait(WAIT)
        return future


def rows(request_id: float, n: int = 1, width: int = 3) -> np.ndarray:
    """n rows of `width` float64 values, each starting with request_id."""
    x = np.zeros((n, width))
    x[:, 0] = request_id
    x[:, 1:] = np.arange(1, width)
    return x


def accounted(s: dict[str, Any]) -> int:
    return int(
        s["completed"] + s["failed"] + s["timed_out"] + s["cancelled"] + s["queued"] + s["running"]
    )


# --- results ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_results_match_the_model_called_directly(rng, dtype):
    weights = rng.integers(-3, 4, size=(5, 4)).astype(dtype)
    bias = rng.integers(-3, 4, size=4).astype(dtype)

    def model(x: np.ndarray) -> np.ndarray:
        return x @ weights + bias

    requests = [
        rng.integers(-50, 50, size=(int(rng.integers(1, 9)), 5)).astype(dtype) for _ in range(60)
    ]
    with Batcher(model, max_batch_size=16, max_queue_delay_us=2000) as batcher:
        futures = [batcher.submit(x) for x in requests]
        results = [f.result(timeout=WAIT) for f in futures]
        stats = batcher.stats()
    for x, y in zip(requests, results, strict=True):
        oracle = x.astype(np.float64) @ weights.astype(np.float64) + bias.astype(np.float64)
        assert y.dtype == dtype
        assert y.shape == (len(x), 4)
        np.testing.assert_allclose(y.astype(np.float64), oracle, rtol=1e-6)
    assert stats["completed"] == 60
    assert stats["batches"] < 60  # submitted faster than a 2 ms delay: some batching happened
    assert max(stats["batch_size_histogram"]) <= 16


def test_many_threads_each_get_their_own_rows(rng):
    """Every response must be its own request's rows: ids are unique, so a mix-up shows."""
    ids = rng.permutation(10_000)[:640].astype(np.float64)
    sizes = rng.integers(1, 5, size=640)
    with Batcher(lambda x: x * 2, max_batch_size=16, max_queue_delay_us=1000, instances=2) as b:

        def call(i: int) -> bool:
            x = rows(ids[i], int(sizes[i]))
            y = b.predict(x)
            return bool(y.shape == x.shape and np.array_equal(y, x * 2))

        with ThreadPoolExecutor(16) as pool:
            ok = list(pool.map(call, range(640)))
        stats = b.stats()
    assert all(ok)
    assert stats["requests"] == stats["completed"] == 640
    assert stats["rows"] == sizes.sum()
    assert sum(stats["batch_size_histogram"].values()) == stats["batches"] < 640
    assert sum(k * v for k, v in stats["batch_size_histogram"].items()) == stats["rows"]


def test_one_row_requests_and_dict_outputs():
    def model(x: np.ndarray) -> dict[str, np.ndarray]:
        return {"double": x * 2, "total": x.sum(axis=1)}

    with Batcher(model, max_batch_size=8) as batcher:
        many = batcher.predict(np.ones((3, 2), np.float32))
        one = batcher.predict(np.float32([1, 2]))  # a 1-d request is one row...
    assert many["double"].shape == (3, 2)
    np.testing.assert_array_equal(many["total"], [2, 2, 2])
    assert one["double"].shape == (2,)  # ...and its result has no row axis either
    assert float(one["total"]) == 3.0
    assert batcher.row_shape == (2,)
    assert batcher.dtype == np.float32


def test_scalar_rows_non_contiguous_input_and_lists():
    with Batcher(lambda x: x + 1, row_shape=(), dtype="float64") as batcher:
        assert batcher.predict(np.arange(4.0)).tolist() == [1, 2, 3, 4]  # 4 rows of one value
        assert float(batcher.predict(np.float64(5))) == 6.0
    with Batcher(lambda x: x * 10, max_batch_size=8) as batcher:
        x = np.arange(24, dtype=np.float64).reshape(4, 6)
        np.testing.assert_array_equal(batcher.predict(x[:, ::2]), x[:, ::2] * 10)
        np.testing.assert_array_equal(batcher.predict(np.asfortranarray(x[:, :3])), x[:, :3] * 10)
        np.testing.assert_array_equal(batcher.predict([[1, 2, 3]]), [[10, 20, 30]])  # int -> float


def test_a_model_that_keeps_its_batch_array_keeps_its_rows():
    kept: list[np.ndarray] = []

    def model(x: np.ndarray) -> np.ndarray:
        kept.append(x)  # no copy: the batcher must not reuse this memory
        return x

    with Batcher(model, max_batch_size=4) as batcher:
        results = [batcher.predict(rows(i, 2)) for i in range(5)]
    for i, (x, y) in enumerate(zip(kept, results, strict=True)):
        np.testing.assert_array_equal(x, rows(i, 2))
        np.testing.assert_array_equal(y, rows(i, 2))


# --- dispatch rules ------------------------------------------------------------------------------


def test_a_lone_request_is_dispatched_after_the_delay_not_before():
    with Batcher(lambda x: x, max_batch_size=8, max_queue_delay_us=100_000) as batcher:
        start = time.monotonic()
        batcher.predict(rows(1))
        elapsed = time.monotonic() - start
        stats = batcher.stats()
    assert elapsed >= 0.1
    assert elapsed < WAIT
    assert stats["queue_wait_us"]["min"] >= 100_000


def test_a_full_batch_is_dispatched_at_once():
    model = GatedModel()
    with Batcher(model, max_batch_size=4, max_queue_delay_us=MINUTE_US) as batcher:
        start = time.monotonic()
        futures = [batcher.submit(rows(i)) for i in range(4)]
        for f in futures:
            f.result(timeout=WAIT)
        assert batcher.predict(rows(9, 4)) is not None  # one request of max_batch_size rows
        assert time.monotonic() - start < WAIT
    assert model.batches == [[0, 1, 2, 3], [9, 9, 9, 9]]


def test_a_preferred_batch_size_is_dispatched_at_once():
    model = GatedModel()
    with Batcher(
        model, max_batch_size=8, max_queue_delay_us=MINUTE_US, preferred_batch_sizes=[3]
    ) as batcher:
        futures = [batcher.submit(rows(i)) for i in range(3)]
        for f in futures:
            f.result(timeout=WAIT)
    assert model.batches == [[0, 1, 2]]


def test_higher_priority_drains_first():
    model = GatedModel()
    with Batcher(model, max_batch_size=1, priority_levels=3) as batcher:
        assert batcher.priority_levels == 3
        blocker = model.block(batcher)
        # default priority is the lowest level (2); 0 is the highest
        futures = [batcher.submit(rows(i)) for i in (1, 2, 3)]
        futures += [batcher.submit(rows(i), priority=1) for i in (11, 12, 13)]
        futures += [batcher.submit(rows(i), priority=0) for i in (21, 22, 23)]
        model.release.set()
        for f in [blocker, *futures]:
            f.result(timeout=WAIT)
    assert model.seen() == [BLOCKER, 21, 22, 23, 11, 12, 13, 1, 2, 3]


def test_instances_run_batches_concurrently():
    """Two batches must be inside the model at the same time, or the barrier breaks."""
    barrier = threading.Barrier(2, timeout=WAIT)

    def model(x: np.ndarray) -> np.ndarray:
        barrier.wait()  # releases the GIL while it waits
        return x

    with Batcher(model, max_batch_size=1, instances=2) as batcher:
        futures = [batcher.submit(rows(i)) for i in range(2)]
        for f in futures:
            f.result(timeout=WAIT)
        assert batcher.stats()["batches"] == 2


def test_instances_overlap_measured():
    intervals: list[tuple[float, float]] = []
    lock = threading.Lock()

    def model(x: np.ndarray) -> np.ndarray:
        start = time.monotonic()
        time.sleep(0.05)
        with lock:
            intervals.append((start, time.monotonic()))
        return x

    with Batcher(model, max_batch_size=1, instances=4) as batcher:
        futures = [batcher.submit(rows(i)) for i in range(8)]
        for f in futures:
            f.result(timeout=WAIT)
    intervals.sort()
    overlaps = sum(b[0] < a[1] for a, b in itertools.pairwise(intervals))
    assert overlaps >= 1


# --- limits, timeouts, errors --------------------------------------------------------------------


def test_a_full_queue_rejects_at_once():
    model = GatedModel()
    with Batcher(model, max_batch_size=1, max_queue_size=2) as batcher:
        blocker = model.block(batcher)
        queued = [batcher.submit(rows(i)) for i in (1, 2)]
        with pytest.raises(QueueFullError, match="max_queue_size=2"):
            batcher.submit(rows(3))
        with pytest.raises(QueueFullError):
            batcher.predict(rows(4))
        model.release.set()
        for f in [blocker, *queued]:
            f.result(timeout=WAIT)
        stats = batcher.stats()
    assert stats["rejected"] == 2
    assert stats["requests"] == stats["completed"] == 3
    assert 3.0 not in model.seen() and 4.0 not in model.seen()


def test_timed_out_requests_fail_and_never_run_late():
    model = GatedModel()
    with Batcher(model, max_batch_size=4, default_timeout_us=MINUTE_US) as batcher:
        blocker = model.block(batcher)  # every instance is busy from here on
        late = batcher.submit(rows(1), timeout_us=20_000)
        patient = batcher.submit(rows(2), timeout_us=0)  # 0: no timeout
        with pytest.raises(RequestTimeoutError, match="past its timeout"):
            late.result(timeout=WAIT)  # fails while the model is still held
        with pytest.raises(RequestTimeoutError):
            batcher.predict(rows(3), timeout_us=20_000)
        assert not patient.done()
        model.release.set()
        patient.result(timeout=WAIT)
        blocker.result(timeout=WAIT)
        stats = batcher.stats()
    assert 1.0 not in model.seen() and 3.0 not in model.seen()
    assert stats["timed_out"] == 2
    assert stats["completed"] == 2
    assert accounted(stats) == stats["requests"] == 4


def test_default_timeout():
    model = GatedModel()
    with Batcher(model, max_queue_delay_us=MINUTE_US, default_timeout_us=10_000) as batcher:
        with pytest.raises(RequestTimeoutError):
            batcher.predict(rows(1))
    assert model.batches == []


def test_a_model_exception_fails_exactly_its_batch_with_the_same_object():
    raised: list[BaseException] = []

    def model(x: np.ndarray) -> np.ndarray:
        if 13.0 in x[:, 0]:
            raised.append(LookupError("unlucky batch"))
            raise raised[-1]
        return x * 2

    with Batcher(model, max_batch_size=2, max_queue_delay_us=MINUTE_US) as batcher:
        futures = [batcher.submit(rows(i)) for i in (12, 13, 14, 15)]  # two full batches
        errors = []
        for f in futures[:2]:
            with pytest.raises(LookupError, match="unlucky batch") as info:
                f.result(timeout=WAIT)
            errors.append(info.value)
        for i, f in zip((14, 15), futures[2:], strict=True):
            np.testing.assert_array_equal(f.result(timeout=WAIT), rows(i) * 2)
        # the synchronous path raises the model's object too
        with pytest.raises(LookupError) as info:
            batcher.predict(rows(13, 2))
        stats = batcher.stats()
    assert len(raised) == 2
    assert errors[0] is raised[0] and errors[1] is raised[0]
    assert info.value is raised[1]
    assert stats["failed"] == 3
    assert stats["failed_batches"] == 2
    assert stats["completed"] == 2


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (lambda x: x[:-1], "returned 1 rows for a batch of 2"),
        (lambda x: x.tolist(), "must return a numpy array or a dict of numpy arrays"),
        (lambda x: np.array(1.0), "0-d array"),
        (lambda x: {"ok": x, "short": x[:1]}, "output 'short' has 1 rows for a batch of 2"),
        (lambda x: {}, "empty dict"),
    ],
)
def test_a_bad_model_output_fails_its_batch_and_the_batcher_goes_on(output, message):
    calls = 0

    def model(x: np.ndarray) -> Any:
        nonlocal calls
        calls += 1
        return output(x) if calls == 1 else x

    with Batcher(model, max_batch_size=2) as batcher:
        with pytest.raises(SeawallError, match=message):
            batcher.predict(rows(1, 2))
        np.testing.assert_array_equal(batcher.predict(rows(2, 2)), rows(2, 2))


# --- typed input errors --------------------------------------------------------------------------


def test_inputs_that_do_not_match_raise_typed_errors_naming_what_was_expected():
    with Batcher(lambda x: x, max_batch_size=4, dtype=np.float32, row_shape=(3,)) as batcher:
        assert batcher.row_shape == (3,) and batcher.dtype == np.float32
        with pytest.raises(DTypeError, match="expected rows of dtype float32, got float64"):
            batcher.predict(np.zeros((2, 3)))
        with pytest.raises(DTypeError, match="float32"):
            batcher.predict(np.zeros((2, 3), np.int64))
        with pytest.raises(InvalidInputError, match=r"\(rows, 3\) or, for one row, \(3,\)"):
            batcher.predict(np.zeros((2, 4), np.float32))
        with pytest.raises(InvalidInputError, match=r"got shape \(1, 2, 3\)"):
            batcher.predict(np.zeros((1, 2, 3), np.float32))
        with pytest.raises(InvalidInputError, match="5 rows is larger than max_batch_size=4"):
            batcher.predict(np.zeros((5, 3), np.float32))
        with pytest.raises(InvalidInputError, match="at least one row"):
            batcher.predict(np.zeros((0, 3), np.float32))
        with pytest.raises(InvalidInputError, match="priority must be between 0"):
            batcher.predict(np.zeros(3, np.float32), priority=1)
        with pytest.raises(InvalidInputError, match="timeout_us"):
            batcher.predict(np.zeros(3, np.float32), timeout_us=-1)
        with pytest.raises(DTypeError):
            batcher.predict([[1.5, "a", 2]])
        with pytest.raises(InvalidInputError, match="not an array of rows"):
            batcher.predict([[1.0, 2.0, 3.0], [1.0]])  # ragged
        assert batcher.stats()["requests"] == 0
    with Batcher(lambda x: x) as batcher, pytest.raises(DTypeError, match="cannot be batched"):
        batcher.predict(np.array([[object()]]))
    with Batcher(lambda x: x) as batcher, pytest.raises(InvalidInputError, match=r"row_shape=\(\)"):
        batcher.predict(np.float64(1.0))
    with Batcher(lambda x: x, dtype="int64") as batcher, pytest.raises(DTypeError, match="int64"):
        batcher.predict([[1.5, 2.5]])  # floats are not cast to integers


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_batch_size": 0}, InvalidInputError, "max_batch_size"),
        ({"max_batch_size": 2.5}, DTypeError, "max_batch_size must be an integer"),
        ({"max_batch_size": True}, DTypeError, "bool"),
        ({"preferred_batch_sizes": [40]}, InvalidInputError, "preferred batch sizes"),
        ({"max_queue_delay_us": -1}, InvalidInputError, "max_queue_delay_us"),
        ({"max_queue_size": -1}, InvalidInputError, "max_queue_size"),
        ({"default_timeout_us": -5}, InvalidInputError, "default_timeout_us"),
        ({"priority_levels": 0}, InvalidInputError, "priority_levels"),
        ({"priority_levels": 2, "default_priority": 2}, InvalidInputError, "default_priority"),
        ({"instances": 0}, InvalidInputError, "instances"),
        ({"row_shape": (-1,), "dtype": "f4"}, InvalidInputError, "negative"),
        ({"dtype": object}, DTypeError, "cannot be batched"),
        ({"spin_us": -1}, InvalidInputError, "spin_us"),
        ({"spin_us": 0.5}, DTypeError, "spin_us must be an integer"),
    ],
)
def test_bad_options_raise_typed_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        Batcher(lambda x: x, **kwargs)


def test_a_model_must_be_callable():
    with pytest.raises(DTypeError, match="callable"):
        Batcher(42)  # type: ignore[arg-type]


# --- closing -------------------------------------------------------------------------------------


def test_close_drains_at_once_then_refuses():
    model = GatedModel()
    batcher = Batcher(model, max_batch_size=8, max_queue_delay_us=MINUTE_US)
    futures = [batcher.submit(rows(i)) for i in range(3)]
    start = time.monotonic()
    batcher.close()  # drain: no minute of delay
    assert time.monotonic() - start < WAIT
    assert all(f.done() for f in futures)
    for i, f in enumerate(futures):
        np.testing.assert_array_equal(f.result(), rows(i) * 2)
    assert batcher.closed
    with pytest.raises(BatcherClosedError):
        batcher.predict(rows(5))
    with pytest.raises(BatcherClosedError):
        batcher.submit(rows(6))
    batcher.close()  # idempotent
    assert batcher.stats()["rejected"] == 2
    assert "closed" in repr(batcher)


def test_close_without_drain_rejects_what_is_pending():
    model = GatedModel()
    batcher = Batcher(model, max_batch_size=1)
    blocker = model.block(batcher)
    pending = [batcher.submit(rows(i)) for i in range(3)]
    closer = threading.Thread(target=batcher.close, kwargs={"drain": False})
    closer.start()
    for f in pending:  # rejected while the running batch still holds its instance
        with pytest.raises(BatcherClosedError, match="closed before this request ran"):
            f.result(timeout=WAIT)
    model.release.set()
    closer.join(WAIT)
    assert not closer.is_alive()
    np.testing.assert_array_equal(blocker.result(timeout=WAIT), rows(BLOCKER) * 2)
    stats = batcher.stats()
    assert stats["cancelled"] == 3 and stats["completed"] == 1
    assert model.seen() == [BLOCKER]


def test_closed_before_the_first_request():
    batcher = Batcher(lambda x: x)
    batcher.close()
    with pytest.raises(BatcherClosedError):
        batcher.predict(rows(1))
    assert batcher.stats()["requests"] == 0


def test_a_model_may_close_its_own_batcher():
    holder: list[Batcher] = []

    def model(x: np.ndarray) -> np.ndarray:
        holder[0].close()
        return x

    batcher = Batcher(model, max_batch_size=1)
    holder.append(batcher)
    np.testing.assert_array_equal(batcher.predict(rows(1)), rows(1))
    assert batcher.closed
    batcher.close()  # from here it waits for the threads


def test_ctrl_c_withdraws_a_queued_predict():
    import _thread

    model = GatedModel()
    with Batcher(model, max_batch_size=1) as batcher:
        blocker = model.block(batcher)
        threading.Timer(0.2, _thread.interrupt_main).start()
        with pytest.raises(KeyboardInterrupt):
            batcher.predict(rows(1))  # queued behind the blocker when the interrupt comes
        model.release.set()
        blocker.result(timeout=WAIT)
        stats = batcher.stats()
    assert stats["cancelled"] == 1
    assert model.seen() == [BLOCKER]


# --- statistics ----------------------------------------------------------------------------------


def test_stats_add_up_after_a_mixed_workload():
    def model(x: np.ndarray) -> np.ndarray:
        if x[0, 0] == BLOCKER:
            gate.entered.set()
            assert gate.release.wait(WAIT)
        if 7.0 in x[:, 0]:
            raise ValueError("seven")
        return x

    gate = GatedModel()
    batcher = Batcher(model, max_batch_size=2, max_queue_size=6)
    blocker = gate.block(batcher)
    ok = [batcher.submit(rows(i)) for i in (1, 2)]
    failing = [batcher.submit(rows(i)) for i in (7, 8)]
    late = batcher.submit(rows(9), timeout_us=10_000)
    with pytest.raises(RequestTimeoutError):
        late.result(timeout=WAIT)
    leftover = [batcher.submit(rows(i)) for i in (3, 4)]
    for i in (5, 6):
        with pytest.raises(QueueFullError):
            batcher.submit(rows(i))
    stats = batcher.stats()  # queued: 1, 2, 7, 8, 3, 4; running: the blocker
    assert stats["queued"] == 6 and stats["running"] == 1
    assert accounted(stats) == stats["requests"] == 8
    gate.release.set()
    for f in [blocker, *ok, *leftover]:
        f.result(timeout=WAIT)
    for f in failing:
        with pytest.raises(ValueError, match="seven"):
            f.result(timeout=WAIT)
    batcher.close()
    stats = batcher.stats()
    assert stats["requests"] == 8
    assert stats["rejected"] == 2
    assert stats["completed"] == 5 and stats["failed"] == 2 and stats["timed_out"] == 1
    assert accounted(stats) == stats["requests"]
    assert stats["queued"] == stats["running"] == 0
    histogram = stats["batch_size_histogram"]
    assert stats["batches"] == stats["compute_us"]["count"] == sum(histogram.values()) == 4
    assert histogram == {1: 1, 2: 3}
    assert stats["failed_batches"] == 1
    assert stats["queue_wait_us"]["count"] == stats["completed"] + stats["failed"]
    assert stats["rows"] == 7
    for key in ("queue_wait_us", "compute_us"):
        summary = stats[key]
        assert set(summary) == {"count", "sum", "mean", "min", "max", "p50", "p90", "p99"}
        assert 0 <= summary["min"] <= summary["p50"] <= summary["p90"] <= summary["p99"]
        assert summary["p99"] <= summary["max"]
        assert summary["sum"] == pytest.approx(summary["mean"] * summary["count"])


def test_empty_stats_have_every_key():
    stats = Batcher(lambda x: x).stats()
    assert stats["batch_size_histogram"] == {}
    assert stats["queue_wait_us"] == dict.fromkeys(
        ("count", "sum", "mean", "min", "max", "p50", "p90", "p99"), 0
    )


# --- asyncio ---------------------------------------------------------------------------------


def test_apredict_from_many_tasks(rng):
    ids = rng.permutation(1000)[:200].astype(np.float64)

    async def main(batcher: Batcher) -> list[bool]:
        async def one(i: float) -> bool:
            x = rows(i, 2)
            return bool(np.array_equal(await batcher.apredict(x), x * 2))

        return await asyncio.gather(*(one(i) for i in ids))

    with Batcher(lambda x: x * 2, max_batch_size=32, max_queue_delay_us=1000) as batcher:
        assert all(asyncio.run(main(batcher)))
        assert all(asyncio.run(main(batcher)))  # a second event loop
        stats = batcher.stats()
    assert stats["completed"] == 400
    assert stats["batches"] < 400


def test_apredict_errors_priorities_and_cancellation():
    model = GatedModel()

    async def main(batcher: Batcher) -> None:
        blocker = asyncio.ensure_future(batcher.apredict(rows(BLOCKER)))
        while not model.entered.is_set():
            await asyncio.sleep(0.001)
        low = asyncio.ensure_future(batcher.apredict(rows(1)))
        cancelled = asyncio.ensure_future(batcher.apredict(rows(2)))
        high = asyncio.ensure_future(batcher.apredict(rows(3), priority=0))
        late = asyncio.ensure_future(batcher.apredict(rows(4), timeout_us=10_000))
        with pytest.raises(RequestTimeoutError):
            await late
        last = asyncio.ensure_future(batcher.apredict(rows(5)))
        await asyncio.sleep(0)  # 1, 2, 3 and 5 are queued now
        with pytest.raises(QueueFullError):
            await batcher.apredict(rows(6))
        cancelled.cancel()
        model.release.set()
        results = await asyncio.gather(blocker, low, high, last)
        np.testing.assert_array_equal(results[2], rows(3) * 2)
        with pytest.raises(asyncio.CancelledError):
            await cancelled

    with Batcher(model, max_batch_size=1, priority_levels=2, max_queue_size=4) as batcher:
        asyncio.run(main(batcher))
    assert model.seen() == [BLOCKER, 3, 1, 2, 5]  # 2's caller gave up, but it was queued: it ran


def test_apredict_from_two_event_loops_in_two_threads():
    def run_loop(offset: int) -> bool:
        async def main() -> bool:
            xs = [rows(offset + i) for i in range(50)]
            ys = await asyncio.gather(*(batcher.apredict(x) for x in xs))
            return all(np.array_equal(x * 2, y) for x, y in zip(xs, ys, strict=True))

        return asyncio.run(main())

    with Batcher(lambda x: x * 2, max_batch_size=8, max_queue_delay_us=500) as batcher:
        with ThreadPoolExecutor(2) as pool:
            assert all(pool.map(run_loop, (0, 1000)))


def test_apredict_raises_the_models_exception():
    error = KeyError("k")

    def model(x: np.ndarray) -> np.ndarray:
        raise error

    async def main(batcher: Batcher) -> BaseException:
        with pytest.raises(KeyError) as info:
            await batcher.apredict(rows(1))
        return info.value

    with Batcher(model) as batcher:
        assert asyncio.run(main(batcher)) is error


def test_many_first_requests_at_once_start_one_batcher():
    """The first request fixes the dtype and row shape and starts the native batcher; many
    threads making their first call together must share one."""

    def call(i: int, batcher: Batcher, start: threading.Barrier) -> bool:
        start.wait()
        return bool(np.array_equal(batcher.predict(rows(i)), rows(i) * 2))

    for _ in range(5):
        start = threading.Barrier(16, timeout=WAIT)
        with Batcher(lambda x: x * 2, max_batch_size=4) as batcher:
            with ThreadPoolExecutor(16) as pool:
                assert all(pool.map(call, range(16), [batcher] * 16, [start] * 16))
            assert batcher.stats()["completed"] == 16


@pytest.mark.parametrize("spin_us", [0, 50])
def test_waiting_with_and_without_polling(spin_us):
    with Batcher(lambda x: x * 2, max_batch_size=4, spin_us=spin_us) as batcher:
        for i in range(200):
            np.testing.assert_array_equal(batcher.predict(rows(i)), rows(i) * 2)
        assert batcher.stats()["completed"] == 200


def test_results_left_on_a_closed_event_loop_are_released():
    """A request still queued when its event loop closed completes later, with nobody to
    deliver it to; its result, future and input are dropped once the batcher sees the loop
    closed (at the next loop, or at close) instead of living as long as the batcher."""
    import gc
    import weakref

    model = GatedModel()
    with Batcher(model, max_batch_size=1) as batcher:
        blocker = model.block(batcher)
        inputs = [rows(1)]
        alive = weakref.ref(inputs[0])

        async def main() -> None:
            task = asyncio.ensure_future(batcher.apredict(inputs[0]))
            await asyncio.sleep(0.01)  # queued behind the blocker by now
            task.cancel()

        asyncio.run(main())
        inputs.clear()
        model.release.set()
        blocker.result(timeout=WAIT)
        while batcher.stats()["completed"] < 2:
            time.sleep(0.001)
        gc.collect()
        assert alive() is not None  # the result waits in the closed loop's channel

        async def again() -> Any:
            return await batcher.apredict(rows(2))

        np.testing.assert_array_equal(asyncio.run(again()), rows(2) * 2)  # a new loop
        gc.collect()
        assert alive() is None
