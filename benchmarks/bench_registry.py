"""The registry against MLflow with its SQLite backend, in the same run.

* Logging N_METRICS metric points (10 keys x 1,000 steps) to one new run: seawall's
  Run.log_batch against MlflowClient.log_batch (each one's batch API; MLflow's client splits
  the batch into its own chunks of 1,000). Target: seawall >= 10x faster.
* search_runs with a metric filter ("metrics.auc > 0.8", newest first, 1,000 results, MLflow's
  default page) over N_RUNS runs with params, metrics and tags: seawall's against MLflow's, each
  returning runs with their data. Target: >= 10x faster.

Both stores are on SQLite files in a temporary folder. The N_RUNS runs are written straight into
each database by copying the rows of one run made through the API (with new ids, start times and
metric values): making 50,000 runs through either API would take minutes and measures nothing
here.

    pip install ".[bench]"
    python -m pytest benchmarks/bench_registry.py -s --benchmark-columns=median,min,max,rounds

SEAWALL_BENCH_ROWS scales both sizes down (CI's smoke run uses 20,000: 1,000 runs, 10,000
points); MLflow is optional (pytest.importorskip), so the seawall half runs without it.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import ROWS
from seawall.registry import Registry

N_METRICS = min(10_000, max(1_000, ROWS // 2))
N_RUNS = min(50_000, max(500, ROWS // 20))
MAX_RESULTS = 1_000
FILTER = "metrics.auc > 0.8"
ROUNDS = 5


def _points(seed: int) -> list[tuple[str, float, int, float]]:
    rng = np.random.default_rng(seed)
    values = rng.random(N_METRICS)
    now = time.time()
    return [(f"metric_{i % 10}", float(v), i // 10, now + i * 1e-3) for i, v in enumerate(values)]


def _mlflow() -> Any:
    pytest.importorskip("mlflow", reason="MLflow is the anchor: pip install '.[bench]'")
    # MLflow's own imports warn (deprecations in its dependencies); the anchor's noise is not
    # what this suite checks, so it is silenced here only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        from mlflow import MlflowClient
        from mlflow.entities import Metric

    mlflow.set_tracking_uri  # noqa: B018  (imported for its side effect of configuring logging)
    return MlflowClient, Metric


# --- logging ------------------------------------------------------------------------------


def test_log_metrics_seawall(benchmark, tmp_path, medians):
    reg = Registry(tmp_path / "seawall.db", artifacts=tmp_path / "artifacts")
    points = _points(1)

    def log() -> str:
        with reg.start_run(experiment="bench") as run:
            run.log_batch(points)
        return run.id

    run_id = benchmark.pedantic(log, rounds=ROUNDS, iterations=1)
    medians.record("log_metrics_seawall", benchmark)
    assert len(reg.metric_history(run_id, "metric_3")) == N_METRICS // 10
    reg.close()


def test_log_metrics_mlflow(benchmark, tmp_path, medians):
    client_cls, metric_cls = _mlflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = client_cls(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
        experiment = client.create_experiment("bench")
    metrics = [metric_cls(k, v, int(ts * 1000), step) for k, v, step, ts in _points(1)]

    def log() -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = client.create_run(experiment)
            client.log_batch(run.info.run_id, metrics=metrics)
            client.set_terminated(run.info.run_id)
        return str(run.info.run_id)

    run_id = benchmark.pedantic(log, rounds=ROUNDS, iterations=1)
    medians.record("log_metrics_mlflow", benchmark)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(client.get_metric_history(run_id, "metric_3")) == N_METRICS // 10


# --- search -------------------------------------------------------------------------------


def _fill(db_path: Path, template: str, key: str, tables: list[str], seed: int) -> None:
    """Copies the rows of run `template` N_RUNS - 1 times with new ids, start times one
    millisecond apart and fresh metric values. `key` is the run-id column of the child tables."""
    rng = np.random.default_rng(seed)
    con = sqlite3.connect(db_path)
    con.row_factory = sqlite3.Row
    seawall = key == "run_id"
    run_row = dict(
        con.execute(
            f"SELECT * FROM runs WHERE {'uuid' if seawall else 'run_uuid'} = ?", (template,)
        ).fetchone()
    )
    children = {}
    for table in tables:
        link = run_row["id"] if seawall else template
        children[table] = [
            dict(r) for r in con.execute(f"SELECT * FROM {table} WHERE {key} = ?", (link,))
        ]
    aucs = rng.random(N_RUNS)
    losses = rng.random(N_RUNS)
    start = run_row["start_time"]
    scale = 1.0 if seawall else 1000.0  # seconds in seawall, milliseconds in MLflow
    batches: dict[str, list[dict[str, Any]]] = {t: [] for t in ["runs", *tables]}
    next_id = con.execute("SELECT max(id) FROM runs").fetchone()[0] + 1 if seawall else None
    for i in range(1, N_RUNS):
        run = dict(run_row)
        new_uuid = uuid.uuid4().hex
        if seawall:
            run["id"], run["uuid"] = next_id + i, new_uuid
            link = run["id"]
        else:
            run["run_uuid"] = new_uuid
            link = new_uuid
        run["start_time"] = start + i * 0.001 * scale
        run["end_time"] = run["start_time"] + 1.0 * scale
        batches["runs"].append(run)
        for table, rows in children.items():
            for row in rows:
                copy = dict(row)
                copy[key] = link
                if "id" in copy and seawall and table == "metrics":
                    copy.pop("id")
                if copy.get("key") == "auc" and "value" in copy:
                    copy["value"] = float(aucs[i])
                elif copy.get("key") == "loss" and "value" in copy:
                    copy["value"] = float(losses[i])
                batches[table].append(copy)
    for table, rows in batches.items():
        if rows:
            columns = list(rows[0])
            con.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})",
                [tuple(r[c] for c in columns) for r in rows],
            )
    con.commit()
    con.execute("ANALYZE")
    con.close()


def fill_seawall(folder: Path) -> None:
    """A seawall registry in `folder` (seawall.db, artifacts/) holding N_RUNS runs with params,
    metrics and tags."""
    reg = Registry(folder / "seawall.db", artifacts=folder / "artifacts")
    with reg.start_run(experiment="bench") as run:
        run.log_batch(
            [("auc", 0.5), ("loss", 0.5)], params={"lr": "0.1", "depth": 6}, tags={"t": 1}
        )
    reg.close()
    _fill(
        folder / "seawall.db", run.id, "run_id", ["params", "tags", "metrics", "latest_metrics"], 7
    )


def fill_mlflow(folder: Path) -> tuple[Any, str]:
    """MLflow's SQLite store in `folder` (mlflow.db) holding the same N_RUNS runs; its client
    and the experiment's id."""
    client_cls, metric_cls = _mlflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = client_cls(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
        experiment = client.create_experiment("bench")
        run = client.create_run(experiment)
        now = int(time.time() * 1000)
        client.log_batch(
            run.info.run_id,
            metrics=[metric_cls("auc", 0.5, now, 0), metric_cls("loss", 0.5, now, 0)],
        )
        client.log_param(run.info.run_id, "lr", "0.1")
        client.log_param(run.info.run_id, "depth", "6")
        client.set_tag(run.info.run_id, "t", "1")
        client.set_terminated(run.info.run_id)
    tables = ["params", "tags", "metrics", "latest_metrics"]
    _fill(folder / "mlflow.db", run.info.run_id, "run_uuid", tables, 7)
    return client, experiment


@pytest.fixture(scope="module")
def seawall_runs(tmp_path_factory) -> Registry:
    folder = tmp_path_factory.mktemp("seawall-search")
    fill_seawall(folder)
    return Registry(folder / "seawall.db", artifacts=folder / "artifacts")


@pytest.fixture(scope="module")
def mlflow_runs(tmp_path_factory) -> tuple[Any, str]:
    return fill_mlflow(tmp_path_factory.mktemp("mlflow-search"))


def test_search_runs_seawall(benchmark, seawall_runs, medians):
    found = benchmark(seawall_runs.search_runs, "bench", filter=FILTER, max_results=MAX_RESULTS)
    medians.record("search_runs_seawall", benchmark)
    assert 0 < len(found) <= MAX_RESULTS
    assert all(r.metrics["auc"] > 0.8 and r.params["lr"] == "0.1" for r in found)


def test_search_runs_mlflow(benchmark, mlflow_runs, seawall_runs, medians):
    client, experiment = mlflow_runs

    def search() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return client.search_runs([experiment], filter_string=FILTER, max_results=MAX_RESULTS)

    found = benchmark(search)
    medians.record("search_runs_mlflow", benchmark)
    ours = seawall_runs.search_runs("bench", filter=FILTER, max_results=MAX_RESULTS)
    assert len(found) == len(ours)  # the same seeded values: the same number of matches
    assert all(r.data.metrics["auc"] > 0.8 for r in found)


# --- report -------------------------------------------------------------------------------


def report(medians: dict[str, float]) -> list[str]:
    """Lines for the summary: medians and MLflow / seawall ratios (KeyError if a half is
    missing, e.g. with --benchmark-disable or without MLflow)."""
    lines = []
    for name, what in (
        ("log_metrics", f"log {N_METRICS:,} metric points to one run"),
        ("search_runs", f"search_runs '{FILTER}' over {N_RUNS:,} runs ({MAX_RESULTS} results)"),
    ):
        ours, theirs = medians[f"{name}_seawall"], medians[f"{name}_mlflow"]
        lines.append(
            f"{what}: seawall {ours * 1e3:.1f} ms, MLflow {theirs * 1e3:.1f} ms, "
            f"{theirs / ours:.1f}x (target >= 10x)"
        )
    return lines


@pytest.fixture(scope="module", autouse=True)
def _print_ratios(request, medians):
    yield
    try:
        lines = report(medians)
    except KeyError:
        return
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.section("bench_registry: ratios against MLflow")
        for line in lines:
            reporter.write_line(line)
