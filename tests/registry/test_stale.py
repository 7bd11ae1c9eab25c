"""What killed processes leave behind, tidied when a registry opens: runs still RUNNING become
KILLED when their process is gone (on this host) or their heartbeat stopped (another host), and
temporary uploads are removed once old and unlocked. Real processes are killed with SIGKILL; a
live run or upload in another process is never touched."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from registry_helpers import run_worker
from sqlalchemy import select, text, update

from seawall.registry import Registry, _migrate, _stale
from seawall.registry._db import Database
from seawall.registry._schema import runs
from seawall.registry._store import STALE_TEMPORARY_S, ArtifactStore

pytestmark = pytest.mark.local_registry(
    "killed runs and stale uploads are found in the server's own database and store"
)


def _row(reg: Registry, run_id: str):
    with reg._db.read() as conn:
        return conn.execute(select(runs).where(runs.c.uuid == run_id)).one()


def test_a_run_killed_inside_start_run_is_marked_killed(registry_uri, tmp_path):
    artifacts = str(tmp_path / "artifacts")
    proc = run_worker("start", registry_uri, artifacts)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -9, err  # SIGKILLed once its run was in the database
    with Registry(registry_uri, artifacts=artifacts) as reg:
        (run,) = reg.search_runs("killed")
        assert (run.name, run.status) == ("doomed", "KILLED")
        assert run.end_time == _row(reg, run.id).heartbeat_at >= run.start_time
        with reg.start_run("killed") as other:  # and the registry goes on
            other.log_metric("m", 1.0)
        assert other.refresh().status == "FINISHED"


def test_a_live_run_in_another_process_is_never_marked(registry_uri, tmp_path):
    artifacts = str(tmp_path / "artifacts")
    proc = run_worker("live", registry_uri, artifacts)
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert len(run_id) == 32, run_id
        with Registry(registry_uri, artifacts=artifacts) as reg:
            # Even with its heartbeat long stopped: on this host its process is what counts.
            reg._db.write(
                lambda conn: conn.execute(
                    update(runs).where(runs.c.uuid == run_id).values(heartbeat_at=0.0)
                )
            )
        with Registry(registry_uri, artifacts=artifacts) as reg:
            assert reg.get_run(run_id).status == "RUNNING"
        out, err = proc.communicate("go\n", timeout=120)
    finally:
        proc.kill()
    assert (proc.returncode, out.strip()) == (0, "ok"), err
    with Registry(registry_uri, artifacts=artifacts) as reg:
        run = reg.get_run(run_id)
        assert (run.status, run.metrics) == ("FINISHED", {"after": 1.0})


def test_runs_of_another_host_are_killed_once_their_heartbeat_stops(registry_uri, tmp_path):
    artifacts = tmp_path / "artifacts"
    now = time.time()
    with Registry(registry_uri, artifacts=artifacts) as reg:
        stopped, beating, unknown = (reg.start_run("remote") for _ in range(3))
        for run, heartbeat in ((stopped, now - 2 * _stale.STALE_RUN_S), (beating, now - 10)):
            reg._db.write(
                lambda conn, run=run, heartbeat=heartbeat: conn.execute(
                    update(runs)
                    .where(runs.c.id == run._pk)
                    .values(host="another-machine/boot/1", pid=1, heartbeat_at=heartbeat)
                )
            )
        reg._db.write(  # as a run from before the owner was recorded: never judged
            lambda conn: conn.execute(
                update(runs)
                .where(runs.c.id == unknown._pk)
                .values(host=None, pid=None, pid_start=None, heartbeat_at=None, start_time=0.0)
            )
        )
    with Registry(registry_uri, artifacts=artifacts) as reg:
        assert reg.get_run(stopped.id).status == "KILLED"
        assert reg.get_run(stopped.id).end_time == pytest.approx(now - 2 * _stale.STALE_RUN_S)
        assert reg.get_run(beating.id).status == "RUNNING"
        assert reg.get_run(unknown.id).status == "RUNNING"


def test_the_heartbeat_of_a_running_run_moves(reg, monkeypatch):
    monkeypatch.setattr(_stale, "HEARTBEAT_S", 0.02)
    run = reg.start_run("beating")
    first = _row(reg, run.id).heartbeat_at
    deadline = time.monotonic() + 120
    while _row(reg, run.id).heartbeat_at == first:
        assert time.monotonic() < deadline, "no heartbeat came"
        time.sleep(0.02)
    run.end()
    assert reg.get_run(run.id).status == "FINISHED"


def test_an_older_database_migrates_and_its_running_runs_stay(registry_uri, tmp_path):
    db = Database(registry_uri)
    _migrate.upgrade(db, "0003")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO experiments (name, created_at) VALUES ('old', 0)"))
        conn.execute(
            text(
                "INSERT INTO runs (uuid, experiment_id, status, start_time) "
                "VALUES ('0123456789abcdef0123456789abcdef', 1, 'RUNNING', 0)"
            )
        )
    db.dispose()
    with Registry(registry_uri, artifacts=tmp_path / "artifacts") as reg:
        with reg._db.read() as conn:
            assert _migrate.current_revision(conn) == _migrate.head_revision()
        (run,) = reg.search_runs("old")
        assert run.status == "RUNNING"  # its process is unknown: never marked
        row = _row(reg, run.id)
        assert (row.host, row.pid, row.pid_start, row.heartbeat_at) == (None, None, None, None)


def _temporaries(artifacts: Path) -> list[Path]:
    return sorted((artifacts / "tmp").iterdir())


def _age(path: Path) -> None:
    old = time.time() - STALE_TEMPORARY_S - 60
    os.utime(path, (old, old))


def test_an_upload_killed_midway_is_removed_once_stale(tmp_path, rng):
    artifacts = tmp_path / "artifacts"
    data = rng.bytes(int(rng.integers(3, 6)) << 20)  # several chunks
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    proc = run_worker("upload", str(artifacts), str(source), "kill")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -9, err
    (left,) = _temporaries(artifacts)
    assert left.name.startswith("put-") and left.stat().st_size < len(data)
    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    Registry(uri, artifacts=artifacts).close()
    assert _temporaries(artifacts) == [left]  # recent: it could still be a slow upload
    _age(left)
    Registry(uri, artifacts=artifacts).close()
    assert _temporaries(artifacts) == []
    assert [p for p in (artifacts / "objects").rglob("*") if p.is_file()] == []
    store = ArtifactStore(artifacts)  # and the same bytes store whole afterwards
    assert store.put_file(source) == (hashlib.sha256(data).hexdigest(), len(data))


def test_a_live_upload_is_never_removed(tmp_path, rng):
    artifacts = tmp_path / "artifacts"
    data = rng.bytes(int(rng.integers(3, 6)) << 20)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    proc = run_worker("upload", str(artifacts), str(source), "hold")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "writing"
        (live,) = _temporaries(artifacts)
        _age(live)  # as old as a killed one: only its lock tells them apart
        Registry(tmp_path / "registry.db", artifacts=artifacts).close()
        assert ArtifactStore(artifacts).clean_temporaries(older_than=0) == []
        assert _temporaries(artifacts) == [live]
        out, err = proc.communicate("go\n", timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    sha = hashlib.sha256(data).hexdigest()
    assert out.strip() == sha
    assert ArtifactStore(artifacts).get_bytes(sha) == data
    assert _temporaries(artifacts) == []
