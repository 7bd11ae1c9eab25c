"""The registry through `seawall server` on loopback against MLflow's tracking server (`mlflow
server` on SQLite), in the same run, each server a process of its own and each with 4
concurrent clients (threads, one client each):

* logging N_METRICS metric points, one call per point (`run.log_metric` against
  `MlflowClient.log_metric`, each as a user calls it), N_METRICS / 4 from each client into its
  own run, from the start of the run to its end. Target: seawall >= 10x faster. Seawall's client
  sends a run's points in batches from a thread (flushed before any other call and at the
  run's end); MLflow's `log_metric` is synchronous by default, one request per point, and is
  also timed with its async logging (`synchronous=False`, batches sent by a thread), waited
  for before the run ends. The same points as one `log_batch` per client are reported beside;
* `search_runs` with a metric filter ("metrics.auc > 0.8", 1,000 results, MLflow's default
  page) over N_RUNS runs, SEARCHES per client. Target: >= 10x faster;
* uploading an artifact of UPLOAD_MB MB (fresh bytes each round: objects are stored once)
  against the loopback copy speed: the same file sent over a plain TCP connection on loopback
  to a receiver that writes it to a file and syncs it, as the server stores an object. Target:
  >= 50% of the loopback speed. MLflow's artifact upload (`--serve-artifacts`) beside it.

The N_RUNS runs are written straight into each database before its server starts, as
bench_registry.py does. MLflow's server runs with its default 4 worker processes; seawall's
with its one.

    pip install ".[bench]"
    python -m pytest benchmarks/bench_registry_server.py -s --benchmark-columns=median,min,max,rounds

SEAWALL_BENCH_ROWS scales the sizes down (CI's smoke run); MLflow is optional
(pytest.importorskip), so the seawall half runs without it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from bench_registry import N_RUNS, _mlflow, fill_mlflow, fill_seawall
from conftest import ROWS
from seawall.registry import Registry

CLIENTS = 4
N_METRICS = min(10_000, max(400, ROWS // 100))
UPLOAD_MB = min(100, max(4, ROWS // 10_000))
SEARCHES = 3
MAX_RESULTS = 1_000
FILTER = "metrics.auc > 0.8"
ROUNDS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _process(args: list[str], ready: str) -> Iterator[str]:
    """A server command on a free loopback port (its last argument), from when `ready` answers."""
    port = _free_port()
    log = open(os.devnull, "wb")
    process = subprocess.Popen([*args, str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(url + ready, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args[:4]} did not start")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _seawall_server(folder: Path) -> Any:
    return _process(
        [
            sys.executable,
            "-c",
            "from seawall.cli import main; main()",
            "server",
            "--registry",
            str(folder / "seawall.db"),
            "--artifacts",
            str(folder / "artifacts"),
            "--port",
        ],
        "/",
    )


def _mlflow_server(folder: Path) -> Any:
    mlflow = Path(sys.executable).with_name("mlflow")
    return _process(
        [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(folder / "mlflow-artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
        ],
        "/health",
    )


def _together(work: Callable[[int], None]) -> None:
    """Runs work(0..CLIENTS-1) on CLIENTS threads at once; re-raises the first failure."""
    failures: list[BaseException] = []

    def one(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]


def _points(client: int) -> list[tuple[str, float, int]]:
    values = np.random.default_rng(client).random(N_METRICS // CLIENTS)
    return [(f"metric_{i % 10}", float(v), i // 10) for i, v in enumerate(values)]


# --- the servers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seawall_url(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("seawall-server")
    fill_seawall(folder)
    with _seawall_server(folder) as url:
        yield url


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("mlflow-server")
    fill_mlflow(folder)
    with _mlflow_server(folder) as url:
        yield url


def _mlflow_clients(url: str) -> list[Any]:
    client_cls, _ = _mlflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [client_cls(tracking_uri=url) for _ in range(CLIENTS)]


def _quiet(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


# --- logging ------------------------------------------------------------------------------


def test_log_metrics_seawall(benchmark, seawall_url, medians):
    clients = [Registry(seawall_url) for _ in range(CLIENTS)]

    def log_points() -> None:
        def work(i: int) -> None:
            with clients[i].start_run(experiment="logging") as run:
                for key, value, step in _points(i):
                    run.log_metric(key, value, step=step)

        _together(work)

    benchmark.pedantic(log_points, rounds=ROUNDS, iterations=1)
    medians.record("server_log_metrics_seawall", benchmark)
    found = clients[0].search_runs("logging", max_results=1)[0]
    assert len(clients[0].metric_history(found.id, "metric_3")) == N_METRICS // CLIENTS // 10
    for c in clients:
        c.close()


@pytest.mark.parametrize("synchronous", [True, False], ids=["sync", "async"])
def test_log_metrics_mlflow(benchmark, mlflow_url, medians, synchronous):
    """MLflow's `log_metric` as a user calls it (synchronous, its default), and with its async
    logging (`synchronous=False`: queued, sent as batches by a thread), waited for before the
    run ends."""
    from mlflow.utils.async_logging.run_operations import get_combined_run_operations

    clients = _mlflow_clients(mlflow_url)
    name = "logging" if synchronous else "logging-async"
    experiment = _quiet(lambda: clients[0].create_experiment(name))
    run_ids: list[str] = []

    def log_points() -> None:
        def work(i: int) -> None:
            client = clients[i]
            run_id = _quiet(lambda: client.create_run(experiment)).info.run_id
            run_ids.append(run_id)
            waits = []
            for key, value, step in _points(i):
                waits.append(
                    client.log_metric(run_id, key, value, step=step, synchronous=synchronous)
                )
            if not synchronous:
                get_combined_run_operations(waits).wait()  # raises what failed
            client.set_terminated(run_id)

        _quiet(lambda: _together(work))

    benchmark.pedantic(log_points, rounds=ROUNDS, iterations=1)
    medians.record(f"server_log_metrics_mlflow{'' if synchronous else '_async'}", benchmark)
    history = clients[0].get_metric_history(run_ids[-1], "metric_3")
    assert len(history) == N_METRICS // CLIENTS // 10


def test_log_batch_seawall(benchmark, seawall_url, medians):
    clients = [Registry(seawall_url) for _ in range(CLIENTS)]

    def log_batches() -> None:
        def work(i: int) -> None:
            with clients[i].start_run(experiment="batches") as run:
                run.log_batch(_points(i))

        _together(work)

    benchmark.pedantic(log_batches, rounds=ROUNDS, iterations=1)
    medians.record("server_log_batch_seawall", benchmark)


def test_log_batch_mlflow(benchmark, mlflow_url, medians):
    _, metric_cls = _mlflow()
    clients = _mlflow_clients(mlflow_url)
    experiment = _quiet(lambda: clients[0].create_experiment("batches"))
    now = int(time.time() * 1000)

    def log_batches() -> None:
        def work(i: int) -> None:
            client = clients[i]
            run_id = _quiet(lambda: client.create_run(experiment)).info.run_id
            metrics = [metric_cls(k, v, now, s) for k, v, s in _points(i)]
            client.log_batch(run_id, metrics=metrics)
            client.set_terminated(run_id)

        _quiet(lambda: _together(work))

    benchmark.pedantic(log_batches, rounds=ROUNDS, iterations=1)
    medians.record("server_log_batch_mlflow", benchmark)


# --- search -------------------------------------------------------------------------------


def test_search_runs_seawall(benchmark, seawall_url, medians):
    clients = [Registry(seawall_url) for _ in range(CLIENTS)]
    counts: list[int] = []

    def search() -> None:
        def work(i: int) -> None:
            for _ in range(SEARCHES):
                counts.append(
                    len(clients[i].search_runs("bench", filter=FILTER, max_results=MAX_RESULTS))
                )

        _together(work)

    benchmark.pedantic(search, rounds=ROUNDS, iterations=1)
    medians.record("server_search_runs_seawall", benchmark)
    assert min(counts) == max(counts) > 0
    found = clients[0].search_runs("bench", filter=FILTER, max_results=MAX_RESULTS)
    assert all(r.metrics["auc"] > 0.8 and r.params["lr"] == "0.1" for r in found)
    for c in clients:
        c.close()


def test_search_runs_mlflow(benchmark, mlflow_url, seawall_url, medians):
    clients = _mlflow_clients(mlflow_url)
    experiment = _quiet(lambda: clients[0].get_experiment_by_name("bench")).experiment_id
    counts: list[int] = []

    def search() -> None:
        def work(i: int) -> None:
            for _ in range(SEARCHES):
                found = clients[i].search_runs(
                    [experiment], filter_string=FILTER, max_results=MAX_RESULTS
                )
                counts.append(len(found))

        _quiet(lambda: _together(work))

    benchmark.pedantic(search, rounds=ROUNDS, iterations=1)
    medians.record("server_search_runs_mlflow", benchmark)
    with Registry(seawall_url) as reg:  # the same seeded values: the same number of matches
        assert set(counts) == {
            len(reg.search_runs("bench", filter=FILTER, max_results=MAX_RESULTS))
        }


# --- artifacts ----------------------------------------------------------------------------


@pytest.fixture
def fresh_file(tmp_path) -> Callable[[], Path]:
    """A new file of UPLOAD_MB random MB at each call (objects are stored once per content)."""
    rng = np.random.default_rng()
    path = tmp_path / "upload.bin"

    def make() -> Path:
        path.write_bytes(rng.bytes(UPLOAD_MB << 20))
        return path

    return make


def test_upload_seawall(benchmark, seawall_url, fresh_file, medians):
    reg = Registry(seawall_url)
    run = reg.start_run(experiment="uploads")
    count = iter(range(1_000))

    def upload(path: Path) -> None:
        run.log_artifact(path, name=f"upload-{next(count)}.bin")

    benchmark.pedantic(upload, setup=lambda: ((fresh_file(),), {}), rounds=ROUNDS, iterations=1)
    medians.record("server_upload_seawall", benchmark)
    run.end()
    reg.close()


def test_upload_mlflow(benchmark, mlflow_url, fresh_file, medians):
    (client,) = _mlflow_clients(mlflow_url)[:1]
    experiment = _quiet(lambda: client.create_experiment("uploads"))
    run_id = _quiet(lambda: client.create_run(experiment)).info.run_id

    def upload(path: Path) -> None:
        _quiet(lambda: client.log_artifact(run_id, str(path)))

    benchmark.pedantic(upload, setup=lambda: ((fresh_file(),), {}), rounds=ROUNDS, iterations=1)
    medians.record("server_upload_mlflow", benchmark)


def test_upload_loopback_copy(benchmark, fresh_file, tmp_path, medians):
    """The anchor: the file over a plain TCP connection on loopback, written to a file and
    synced on the other side."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received = tmp_path / "received.bin"

    def receive() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed: the benchmark is over
                return
            with conn, open(received, "wb") as out:
                while chunk := conn.recv(1 << 20):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
                conn.sendall(b"k")

    threading.Thread(target=receive, daemon=True).start()

    def copy(path: Path) -> None:
        with socket.create_connection(("127.0.0.1", port)) as conn, open(path, "rb") as src:
            conn.sendfile(src)
            conn.shutdown(socket.SHUT_WR)
            assert conn.recv(1) == b"k"

    benchmark.pedantic(copy, setup=lambda: ((fresh_file(),), {}), rounds=ROUNDS, iterations=1)
    medians.record("server_upload_loopback", benchmark)
    assert received.stat().st_size == UPLOAD_MB << 20
    listener.close()


# --- report -------------------------------------------------------------------------------


def report(medians: dict[str, float]) -> list[str]:
    """Lines for the summary, for what ran with timing on (without MLflow: seawall's alone)."""
    lines = []
    mb = UPLOAD_MB
    if "server_upload_seawall" in medians and "server_upload_loopback" in medians:
        ours, anchor = medians["server_upload_seawall"], medians["server_upload_loopback"]
        line = (
            f"upload {mb} MB: seawall server {mb / ours:.0f} MB/s, loopback copy "
            f"{mb / anchor:.0f} MB/s, {anchor / ours:.0%} of it (target >= 50%)"
        )
        if "server_upload_mlflow" in medians:
            line += f"; MLflow server {mb / medians['server_upload_mlflow']:.0f} MB/s"
        lines.append(line)
    if "server_log_metrics_seawall" in medians and "server_log_metrics_mlflow_async" in medians:
        ours, theirs = (
            medians["server_log_metrics_seawall"],
            medians["server_log_metrics_mlflow_async"],
        )
        lines.append(
            f"log {N_METRICS:,} metric points, one call each, {CLIENTS} clients, against MLflow's "
            f"async logging (synchronous=False): MLflow server {theirs * 1e3:.0f} ms, "
            f"{theirs / ours:.1f}x"
        )
    for name, what in (
        ("log_metrics", f"log {N_METRICS:,} metric points, one call each, {CLIENTS} clients"),
        ("log_batch", f"log {N_METRICS:,} metric points, one batch per client, {CLIENTS} clients"),
        (
            "search_runs",
            f"{CLIENTS} clients x {SEARCHES} search_runs '{FILTER}' over {N_RUNS:,} runs",
        ),
    ):
        ours = medians.get(f"server_{name}_seawall")
        theirs = medians.get(f"server_{name}_mlflow")
        if ours is None:
            continue
        line = f"{what}: seawall server {ours * 1e3:.0f} ms"
        if theirs is not None:
            target = " (target >= 10x)" if name != "log_batch" else ""
            line += f", MLflow server {theirs * 1e3:.0f} ms, {theirs / ours:.1f}x{target}"
        lines.append(line)
    if not lines:
        raise KeyError("no timings")
    return lines
