"""LiveProfiler: what the server profiles off the request path equals a profile of the same rows
made in one go; slices follow the clock; memory and failures stay bounded."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import seawall
from seawall.errors import InvalidInputError
from seawall.serving.live import LiveProfiler, predictions_table


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def batch(rng: np.random.Generator, rows: int) -> pa.Table:
    return pa.table(
        {
            "amount": rng.lognormal(3, 1, rows),
            "country": rng.choice(["US", "BR", "DE"], rows).tolist(),
        }
    )


def assert_same_numbers(a: seawall.Profile, b: seawall.Profile) -> None:
    for column in ("amount", "country"):
        sa, sb = a.stats(column), b.stats(column)
        for key in ("rows", "count", "nulls"):
            assert sa[key] == sb[key], (column, key)
    sa, sb = a.stats("amount"), b.stats("amount")
    assert sa["min"] == sb["min"] and sa["max"] == sb["max"]
    assert sa["mean"] == pytest.approx(sb["mean"], rel=1e-12)
    assert a.top_values("country", 3) == b.top_values("country", 3)


def test_slices_hold_exactly_what_was_served(rng):
    clock = Clock()
    seen = []
    live = LiveProfiler(slice_s=10, on_slice=seen.append, clock=clock)
    try:
        served: dict[int, list[pa.Table]] = {0: [], 1: []}
        for step in range(40):  # 20 s of traffic, a batch every half second
            clock.t = 1000.0 + step * 0.5
            b = batch(rng, int(rng.integers(1, 50)))
            live.observe(b, predictions_table({"proba": rng.random((b.num_rows, 2))}))
            served[step // 20].append(b)
        clock.t = 1020.0
        live.flush(close_slice=True)
    finally:
        live.close()
    slices = live.slices()
    assert [(s.start, s.end) for s in slices] == [(1000.0, 1010.0), (1010.0, 1020.0)]
    assert seen == slices
    for s, tables in zip(slices, served.values(), strict=True):
        expected = seawall.Profile.from_data(pa.concat_tables(tables))
        assert s.rows == expected.num_rows
        assert s.features is not None and s.predictions is not None
        assert_same_numbers(s.features, expected)
        assert s.predictions.columns == ["proba_0", "proba_1"]
        assert s.predictions.num_rows == s.rows
    window = live.window(60)
    assert window is not None and window.rows == sum(s.rows for s in slices)
    everything = seawall.Profile.from_data(pa.concat_tables(served[0] + served[1]))
    assert window.features is not None
    assert_same_numbers(window.features, everything)


def test_pending_rows_are_bounded_and_failures_contained(rng):
    clock = Clock()
    live = LiveProfiler(slice_s=5, max_pending_rows=100, clock=clock)
    try:
        live._stop = True  # no background draining: pending only grows
        live._wake.set()
        live._thread.join()
        for _ in range(5):
            live.observe(batch(rng, 30))
        assert live.dropped_rows == 5 * 30 - 90  # three batches fit, two are dropped
        live.observe(pa.table({"other": [1, 2, 3]}))  # other columns than the slice's
        live.flush()
        assert live.failed_batches == 1
        live.observe(batch(rng, 10))
        live.flush(close_slice=True)
        (only,) = live.slices()
        assert only.rows == 100
    finally:
        live.close()


def test_a_failing_callback_does_not_stop_the_profiler(rng):
    clock = Clock()
    calls = []

    def bad(s):
        calls.append(s)
        raise RuntimeError("monitor down")

    live = LiveProfiler(slice_s=1, on_slice=bad, clock=clock)
    try:
        for _ in range(3):
            live.observe(batch(rng, 5))
            clock.t += 1
            live.flush(close_slice=True)
    finally:
        live.close()
    assert len(calls) == 3 and len(live.slices()) == 3


def test_predictions_table_and_options():
    t = predictions_table({"label": np.array([1, 0]), "proba": np.array([[0.2, 0.8], [0.9, 0.1]])})
    assert t.column_names == ["label", "proba_0", "proba_1"]
    assert t.column("proba_1").to_pylist() == [0.8, 0.1]
    for bad in (
        {"slice_s": 0},
        {"keep": 0},
        {"max_pending_rows": 0},
        {"max_bytes": 0},
        {"max_pending_bytes": True},
    ):
        with pytest.raises(InvalidInputError):
            LiveProfiler(**bad)


def long_strings(rng: np.random.Generator, n: int) -> list[str]:
    """Distinct strings of 5 to 50 kB: what a client can send in a string column."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, int(rng.integers(5_000, 50_000)))) for _ in range(n)]


def test_long_strings_are_kept_truncated_and_the_ring_within_its_bytes(rng):
    clock = Clock()
    live = LiveProfiler(slice_s=1, max_bytes=100_000, clock=clock)
    try:
        sent = []
        for _ in range(40):
            values = long_strings(rng, 3)
            sent.append(values)
            live.observe({"amount": rng.random(3), "country": values})
            clock.t += 1
            live.flush(close_slice=True)
        slices = live.slices()
        sizes = sum(s.features.nbytes for s in slices if s.features is not None)
        assert live.ring_bytes == sizes <= 100_000
        assert live.evicted_slices == 40 - len(slices) > 0
        assert slices[-1].end == clock.t  # the newest are kept, the oldest went first
        # Each value is counted under its first bytes and its length, as every profile keys it.
        limit = seawall._core.TOP_VALUE_MAX_BYTES
        for s, values in zip(slices, sent[-len(slices) :], strict=True):
            assert s.features is not None
            top = dict(s.features.top_values("country", 10))
            expected = {}
            for v in values:
                marker = f"…({len(v)} bytes)"
                expected[v[: limit - len(marker.encode())] + marker] = 1
            assert top == expected
            assert top == dict(seawall.Profile.from_data({"country": values}).top_values("country"))
    finally:
        live.close()


def test_pending_bytes_are_bounded(rng):
    live = LiveProfiler(slice_s=5, max_pending_bytes=200_000, clock=Clock())
    try:
        live._stop = True  # no background draining: pending only grows
        live._wake.set()
        live._thread.join()
        for _ in range(10):
            live.observe({"country": long_strings(rng, 2)}, {"p": np.zeros(2)})
        kept = len(live._pending)
        assert 0 < kept < 10 and live.dropped_rows == 2 * (10 - kept)
        assert live._pending_bytes <= 200_000
        live.flush()
        live.observe({"country": ["short"]})  # drained: room again
        assert len(live._pending) == 1
    finally:
        live.close()


def test_a_server_fed_long_distinct_strings_keeps_its_live_profile_bounded(onnx_bundle, rng):
    """200 requests whose string column holds long distinct values (what grew a server from
    0.85 GB to 6 GB): the live profile's slices stay within profile_max_bytes."""
    import httpx
    from serving_helpers import running

    from seawall.serving import create_app

    bound = 128 << 10
    app = create_app(onnx_bundle, profile_slice_s=0.05, profile_max_bytes=bound)
    profiler = app.state.seawall.profiler("fraud")
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(200):
            n = 4
            inputs = [
                {
                    "name": "amount",
                    "datatype": "FP64",
                    "shape": [n],
                    "data": rng.random(n).tolist(),
                },
                {
                    "name": "merchant",
                    "datatype": "BYTES",
                    "shape": [n],
                    "data": long_strings(rng, n),
                },
                {"name": "age", "datatype": "INT64", "shape": [n], "data": [30] * n},
            ]
            r = client.post("/v2/models/fraud/infer", json={"inputs": inputs})
            assert r.status_code == 200, r.text
            assert profiler.ring_bytes <= bound
    slices = profiler.slices()  # the server closed: every request is in a closed slice
    kept = sum(p.nbytes for s in slices for p in (s.features, s.predictions) if p is not None)
    assert profiler.ring_bytes == kept <= bound
    assert profiler.evicted_slices > 0
    limit = seawall._core.TOP_VALUE_MAX_BYTES
    for s in slices:
        assert s.features is not None
        for value, _ in s.features.top_values("merchant", 64):
            assert len(value.encode()) <= limit and value.endswith(" bytes)")
