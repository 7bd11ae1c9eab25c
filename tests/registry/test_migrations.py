"""Schema migrations on SQLite and PostgreSQL: an older database upgrades in place with its data
intact, the migrations build exactly the schema the code uses, and a newer schema is refused."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from seawall.errors import UnsupportedVersionError
from seawall.registry import Registry, _migrate
from seawall.registry._db import Database
from seawall.registry._schema import metadata

pytestmark = pytest.mark.local_registry("schema migrations run on the server's own database")


def _insert_first_revision_data(db: Database, rng) -> dict:
    """Rows written straight into a revision-0001 database (as the seawall of that time did),
    with a random metric history per run."""
    now = time.time()
    expected: dict = {}
    with db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO experiments (name, created_at) VALUES ('old', :t)"), {"t": now}
        )
        for r in range(int(rng.integers(2, 6))):
            run_uuid = uuid.uuid4().hex
            run_pk = conn.execute(
                text(
                    "INSERT INTO runs (uuid, experiment_id, status, start_time, end_time) "
                    "VALUES (:u, 1, 'FINISHED', :t, :t) RETURNING id"
                ),
                {"u": run_uuid, "t": now + r},
            ).scalar_one()
            conn.execute(
                text("INSERT INTO params (run_id, key, value) VALUES (:r, 'lr', :v)"),
                {"r": run_pk, "v": str(r)},
            )
            points = [
                (int(rng.integers(0, 4)), float(rng.integers(0, 3)), float(rng.normal()))
                for _ in range(int(rng.integers(1, 12)))
            ]
            for step, ts, value in points:
                conn.execute(
                    text(
                        "INSERT INTO metrics (run_id, key, value, step, timestamp) "
                        "VALUES (:r, 'auc', :v, :s, :t)"
                    ),
                    {"r": run_pk, "v": value, "s": step, "t": ts},
                )
            # The newest point: greatest step, then timestamp, then the later write.
            best = max(range(len(points)), key=lambda i: (points[i][0], points[i][1], i))
            expected[run_uuid] = {"lr": str(r), "auc": points[best][2], "n": len(points)}
        conn.execute(
            text(
                "INSERT INTO models (name, created_at, updated_at, last_version) "
                "VALUES ('legacy', :t, :t, 1)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO model_versions (model_id, version, bundle_sha256, created_at) "
                "VALUES (1, 1, :s, :t)"
            ),
            {"s": "0" * 64, "t": now},
        )
    return expected


def test_upgrade_in_place_keeps_the_data(registry_uri, tmp_path, rng):
    db = Database(registry_uri)
    assert _migrate.upgrade(db, "0001") == "0001"
    expected = _insert_first_revision_data(db, rng)
    db.dispose()

    reg = Registry(registry_uri, artifacts=tmp_path / "a")  # opening upgrades to the head
    try:
        with reg._db.read() as conn:
            assert _migrate.current_revision(conn) == _migrate.head_revision()
        runs = reg.search_runs("old", max_results=100)
        assert {r.id for r in runs} == set(expected)
        for run in runs:
            assert run.params == {"lr": expected[run.id]["lr"]}
            assert run.metrics == {"auc": expected[run.id]["auc"]}  # backfilled latest value
            assert len(reg.metric_history(run.id, "auc")) == expected[run.id]["n"]
        # Search uses the new table, and new writes go on from the old data.
        best = max(expected, key=lambda u: expected[u]["auc"])
        top = reg.search_runs("old", order_by=["metrics.auc DESC"], max_results=1)
        assert [r.id for r in top] == [best]
        assert reg.get_model("legacy").latest_version == 1
        with reg.start_run(experiment="old") as run:
            run.log_metric("auc", 100.0)
        assert [r.id for r in reg.search_runs("old", filter="metrics.auc > 50")] == [run.id]
    finally:
        reg.close()


def test_alerts_of_an_older_database_upgrade_unacknowledged(registry_uri, tmp_path):
    """An alert written before acknowledgements existed (revision 0007) reads back as not
    acknowledged, and can then be acknowledged."""
    from seawall.monitoring._store import HistoryStore

    db = Database(registry_uri)
    assert _migrate.upgrade(db, "0007") == "0007"
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO monitor_alerts (model, rule, kind, severity, state, value, "
                "threshold, message, started_at, updated_at) VALUES ('m', 'r', 'drift_share', "
                "'critical', 'firing', 0.7, 0.5, 'moved', 10.0, 11.0)"
            )
        )
    db.dispose()
    with Registry(registry_uri, artifacts=tmp_path / "a") as reg:
        store = HistoryStore(reg)
        (old,) = store.alerts("m")
        assert (old.message, old.acknowledged_by, old.acknowledged_at) == ("moved", None, None)
        with reg.acting_as("user:ana"):
            acknowledged = store.acknowledge_alert("m", old.id)
        assert acknowledged.acknowledged_by == "user:ana"
        assert store.alerts("m") == [acknowledged]


def test_migrations_build_the_schema_the_code_uses(registry_uri):
    db = Database(registry_uri)
    _migrate.upgrade(db)
    with db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    db.dispose()
    ours = [d for d in diff if not (d[0] == "remove_table" and d[1].name == _migrate.VERSION_TABLE)]
    assert ours == []


def test_a_newer_schema_is_refused(sqlite_uri, tmp_path):
    Registry(sqlite_uri, artifacts=tmp_path / "a").close()
    path = sqlite_uri.removeprefix("sqlite:///")
    with sqlite3.connect(path) as con:
        con.execute(f"UPDATE {_migrate.VERSION_TABLE} SET version_num = '9999'")
    with pytest.raises(UnsupportedVersionError, match="newer seawall"):
        Registry(sqlite_uri, artifacts=tmp_path / "a")


def test_concurrent_first_opens_migrate_once(registry_uri, tmp_path):
    errors: list[BaseException] = []

    def open_and_write(i: int) -> None:
        try:
            with Registry(registry_uri, artifacts=tmp_path / "a") as reg:
                with reg.start_run(experiment="e") as run:
                    run.log_metric("i", float(i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_and_write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Registry(registry_uri, artifacts=tmp_path / "a") as reg:
        assert sorted(r.metrics["i"] for r in reg.search_runs("e")) == [float(i) for i in range(6)]
        with reg._db.read() as conn:
            versions = conn.execute(text(f"SELECT version_num FROM {_migrate.VERSION_TABLE}"))
            assert versions.all() == [(_migrate.head_revision(),)]
