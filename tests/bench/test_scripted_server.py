"""The load generator against a scripted server on loopback, whose delays, statuses and counts
are known: every request counted once, latency percentiles where the delays put them, the
open-loop rate kept, errors counted by status, the server's queue/compute split read from its
stats endpoint (and its absence handled), the requests valid for the model's metadata."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
from bench_servers import COMPUTE_NS, METADATA, QUEUE_NS, ScriptedServer

from seawall.bench import bench


def _statuses(result) -> Counter:
    return Counter({code: n for step in result.steps for code, n in step.status.items()})


def test_every_request_is_counted_once():
    with ScriptedServer() as server:
        result = bench(server.url, "m", concurrency=[1, 4], duration_s=1.0, window_s=0.25)
        answered = sum(step.answered for step in result.steps)
        assert answered == server.infers  # the server saw exactly what was counted
    for step in result.steps:
        assert step.sent == step.answered == step.status[200]
        assert step.failed == 0
        assert step.errors == dict.fromkeys(step.errors, 0)
        assert step.throughput > 0


def test_latency_percentiles_follow_known_delays():
    # One request in flight: each latency is its delay plus the loopback's overhead. Nine in
    # ten wait 4 ms, one waits 24 ms: the median is 4 ms, the p99 24 ms (nearest rank, far from
    # the boundary between the two, whatever part of the cycle the windows hold).
    delays = [0.004] * 9 + [0.024]
    with ScriptedServer(delays_s=delays) as server:
        (step,) = bench(server.url, "m", concurrency=[1], duration_s=2.0, window_s=0.5).steps
    lat = step.latency_ms
    assert lat["p50"] >= 4.0 * (1 - 1 / 128)  # never below the delay (histogram error aside)
    assert lat["p99"] >= 24.0 * (1 - 1 / 128)
    assert lat["p50"] < 14.0  # the 4 ms delays, not the 24 ms ones
    assert lat["p99"] < 24.0 + 20.0
    assert lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["max"]


def test_open_loop_keeps_its_rate(rng):
    rate = float(rng.integers(400, 900))
    with ScriptedServer() as server:
        result = bench(server.url, "m", rate=[rate], duration_s=2.0, window_s=0.5)
        (step,) = result.steps
        assert server.infers == step.sent
    assert step.throughput == pytest.approx(rate, rel=0.1)
    assert step.send_lag_ms is not None and step.errors["missed"] == 0


def test_open_loop_latency_counts_queueing_from_the_due_time():
    # A server that takes 20 ms per request, one connection, 100 requests per second asked: it
    # can serve 50. Requests queue in the generator; their latency, counted from when each was
    # due, grows far past the server's 20 ms instead of hiding the queue.
    with ScriptedServer(delays_s=[0.02]) as server:
        (step,) = bench(
            server.url, "m", rate=[100.0], duration_s=1.5, window_s=0.5, connections=1
        ).steps
    assert step.throughput < 70
    assert step.latency_ms["p99"] > 200


def test_errors_are_counted_by_status():
    statuses = [200, 200, 503, 200, 404, 500]
    with ScriptedServer(statuses=statuses) as server:
        result = bench(server.url, "m", concurrency=[3], duration_s=1.0, window_s=0.25)
        assert _statuses(result) == server.codes  # exactly what the server answered
    (step,) = result.steps
    assert step.failed == step.status[503] + step.status[404] + step.status[500]
    assert step.error_samples[503].startswith('{"error": "no ')
    # The server answered in its cycle: each status has its share, within a cycle.
    for code in (200, 503, 404, 500):
        share = statuses.count(code) / len(statuses)
        assert abs(step.status[code] - share * step.sent) <= len(statuses)


def test_the_servers_queue_and_compute_split():
    with ScriptedServer(stats=True) as server:
        (step,) = bench(server.url, "m", concurrency=[2], duration_s=1.0, window_s=0.25).steps
    assert step.server is not None
    assert step.server["queue_us"] == pytest.approx(QUEUE_NS / 1e3)
    assert step.server["compute_us"] == pytest.approx(COMPUTE_NS / 1e3)
    assert 0 < step.server["inferences"] <= step.sent


def test_no_stats_endpoint_means_no_split():
    with ScriptedServer(stats=False) as server:
        (step,) = bench(server.url, "m", concurrency=[1], duration_s=0.5, window_s=0.25).steps
    assert step.server is None and step.answered > 0


def test_generated_requests_fit_the_metadata(seed):
    with ScriptedServer() as server:
        bench(
            server.url, "m", concurrency=[2], duration_s=0.5, window_s=0.25, batch_size=3, seed=seed
        )
        bodies = {bytes(b) for b in server.bodies}
    assert len(bodies) > 1  # several distinct requests in turn
    specs = {s["name"]: s for s in METADATA["inputs"]}
    for body in bodies:
        request = json.loads(body)
        assert {t["name"] for t in request["inputs"]} == set(specs)
        for tensor in request["inputs"]:
            spec = specs[tensor["name"]]
            assert tensor["datatype"] == spec["datatype"]
            assert tensor["shape"][0] == 3
            assert tensor["shape"][1:] == [d for d in spec["shape"][1:]]
            data = tensor["data"]
            assert len(data) == math.prod(tensor["shape"])
            kinds = {"FP32": float, "BYTES": str, "INT64": int, "BOOL": bool}
            assert all(type(v) is kinds[spec["datatype"]] for v in data)


def test_real_rows_become_the_requests(tmp_path, rng):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 40
    x = rng.normal(size=(n, 3))
    x[0, 1] = np.nan
    table = pa.table(
        {
            "x": pa.array(list(x), type=pa.list_(pa.float64(), 3)),
            "s": [f"s{i}" if i % 7 else None for i in range(n)],
            "n": rng.integers(0, 100, n),
            "b": rng.random(n) < 0.5,
            "extra": np.arange(n),
        }
    )
    pq.write_table(table, tmp_path / "rows.parquet")
    with ScriptedServer() as server:
        bench(
            server.url,
            "m",
            concurrency=[1],
            duration_s=0.5,
            window_s=0.25,
            rows=tmp_path / "rows.parquet",
            batch_size=2,
        )
        bodies = list(server.bodies)
    first = json.loads(bodies[0])
    tensors = {t["name"]: t for t in first["inputs"]}
    assert tensors["x"]["shape"] == [2, 3]
    assert tensors["x"]["data"][1] is None  # NaN travels as null
    np.testing.assert_allclose(tensors["x"]["data"][3:], x[1])
    assert tensors["s"]["data"] == [None, "s1"]
    assert tensors["n"]["data"] == table["n"].to_pylist()[:2]
    assert "extra" not in tensors
    # Requests take the rows in order, two at a time, and start again after the last.
    second = {t["name"]: t for t in json.loads(bodies[1])["inputs"]}
    assert second["s"]["data"] == ["s2", "s3"]
