"""Alias move -> the new version serving: through the registry's events, against polling (the
anchor, in the same run).

A model server (``create_app("models:/tagged@champion")``, uvicorn on loopback) follows the
alias with its default watch interval of 2 s. Each round moves the alias to the other version
(``set_alias``; the clock starts just before the call) while one client sends single-record
requests back to back on a kept-alive connection; the round's figure is the time until the first
answer that names the new version (``model_version``). Each move waits a random time (up to
the watch interval, not timed) first, so that moves land anywhere in the poll's cycle. Cases:

- "postgresql, events": a PostgreSQL registry (LISTEN/NOTIFY: the server follows the alias's
  events, as it does by default there);
- "postgresql, polling": the same registry with events switched off (a poll every 2 s: what a
  server did before events, and still does on a plain SQLite file);
- "sqlite, events": a SQLite registry whose server is told to follow events (the registry's
  own 50 ms poll of the events table);
- "sqlite, polling": the default on SQLite;
- "seawall server, events": the issue's case: the model server follows the alias through
  ``seawall server`` (over a SQLite registry, checking tokens: the model server's own), whose
  long poll answers as the alias's event commits.

    python -m pytest benchmarks/bench_events.py -s --benchmark-columns=median,min,max,rounds

Target: p50 <= 250 ms through events, ``seawall server``'s above all. PostgreSQL cases skip without
PostgreSQL's server binaries. SEAWALL_BENCH_ROWS scales the rounds down for CI's smoke run.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from conftest import ROWS
from seawall.registry import Registry
from seawall.serving import create_app, save_bundle, serve_in_thread

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from local_servers import PostgresServer, postgres_bin  # the tests' throwaway PostgreSQL

ROUNDS = 20 if ROWS >= 100_000 else 3
WATCH_INTERVAL_S = 2.0  # the model server's default
FIGURES: dict[str, list[float]] = {}


class Tagged:
    """A model that answers its version's tag (a served model must be importable: it is)."""

    def __init__(self, tag: int) -> None:
        self.tag = tag

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), float(self.tag))


class _Polling(Registry):
    """A registry whose events a server does not follow: it polls."""

    pushes_events = False


class _Pushing(Registry):
    """A registry whose events a server follows (on SQLite: the registry's own short poll)."""

    pushes_events = True


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL's server binaries are not installed")
    server = PostgresServer(bindir)
    server.start()
    yield server
    server.stop()


def _registry(kind: type[Registry], uri: str, folder: Path) -> Registry:
    import seawall as sw

    reg = kind(uri, artifacts=folder / "art")
    table = pa.table({"x": np.arange(20, dtype=np.float64)})
    pipe = sw.FeaturePipeline({"x": sw.StandardScale()}).fit(table)
    for tag in (1, 2):
        path = save_bundle(
            folder / f"v{tag}", python_model=Tagged(tag), pipeline=pipe, example=table.slice(0, 5)
        )
        reg.register_model("tagged", path)
    reg.set_alias("tagged", "champion", 1)
    return reg


def _served_version(conn: http.client.HTTPConnection, body: bytes) -> str:
    conn.request("POST", "/v1/models/tagged/predict", body, {"Content-Type": "application/json"})
    answer = conn.getresponse()
    data = json.loads(answer.read())
    assert answer.status == 200, data
    return str(data["model_version"])


def _measure(benchmark: Any, reg: Registry, case: str) -> None:
    rng = np.random.default_rng()
    app = create_app(
        "models:/tagged@champion",
        registry=reg,
        trust_code=True,
        watch_interval_s=WATCH_INTERVAL_S,
        profile_slice_s=None,
    )
    body = json.dumps({"records": [{"x": 1.0}]}).encode()
    seconds: list[float] = []
    with serve_in_thread(app) as url:
        host, port = url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        version = int(_served_version(conn, body))

        def move() -> None:
            nonlocal version
            target = 2 if version == 1 else 1
            start = time.perf_counter()
            reg.set_alias("tagged", "champion", target)
            while _served_version(conn, body) != str(target):
                pass
            seconds.append(time.perf_counter() - start)
            version = target

        def at_a_random_moment() -> None:
            # Moves land anywhere in the poll's cycle, not just after a swap (its start).
            time.sleep(float(rng.uniform(0, WATCH_INTERVAL_S)))

        benchmark.pedantic(move, setup=at_a_random_moment, rounds=ROUNDS, iterations=1)
        conn.close()
    app.state.seawall.close()
    FIGURES[case] = seconds


@pytest.mark.parametrize("events", [True, False], ids=["events", "polling"])
def test_postgresql(benchmark, postgres, tmp_path, events):
    uri = postgres.create_database()
    reg = _registry(Registry if events else _Polling, uri, tmp_path)
    try:
        assert reg.pushes_events is events
        _measure(benchmark, reg, f"postgresql, {'events' if events else 'polling'}")
    finally:
        reg.close()


@pytest.mark.parametrize("events", [True, False], ids=["events", "polling"])
def test_sqlite(benchmark, tmp_path, events):
    uri = f"sqlite:///{tmp_path / 'reg.db'}"
    reg = _registry(_Pushing if events else Registry, uri, tmp_path)
    try:
        _measure(benchmark, reg, f"sqlite, {'events' if events else 'polling'}")
    finally:
        reg.close()


def test_through_seawall_server(benchmark, tmp_path):
    from seawall.registry_server import create_registry_app

    backing = _registry(Registry, f"sqlite:///{tmp_path / 'reg.db'}", tmp_path)
    token = backing.create_token("model-server", team="ops", scopes=["promote:models/tagged"])
    try:
        with serve_in_thread(create_registry_app(backing, auth=backing)) as url:
            with Registry(url, token=token.secret) as remote:
                assert remote.pushes_events
                _measure(benchmark, remote, "seawall server (tokens), events")
    finally:
        backing.close()


def report(medians: dict[str, float]) -> list[str]:
    """p50 and p90 of each case, and polling against events."""
    if not FIGURES:
        raise KeyError("nothing ran")
    ms = 1e3
    lines = [f"alias move -> new version serving, {ROUNDS} moves per case (watch interval "
             f"{WATCH_INTERVAL_S:g} s):"]  # fmt: skip
    for case, seconds in FIGURES.items():
        p50, p90 = np.percentile(seconds, [50, 90])
        target = "  [target p50 <= 250 ms]" if case.endswith("events") else ""
        lines.append(f"  {case}: p50 {p50 * ms:.0f} ms, p90 {p90 * ms:.0f} ms, max "
                     f"{max(seconds) * ms:.0f} ms{target}")  # fmt: skip
    for db in ("postgresql", "sqlite"):
        if f"{db}, events" in FIGURES and f"{db}, polling" in FIGURES:
            ratio = np.median(FIGURES[f"{db}, polling"]) / np.median(FIGURES[f"{db}, events"])
            lines.append(f"  {db}: polling's p50 is {ratio:.1f}x the events' p50")
    return lines
