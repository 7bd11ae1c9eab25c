"""`Registry.gc` on SQLite and PostgreSQL, local folders and S3 (moto's server): it removes
exactly the objects nothing references (the oracle: the references read here with plain SQL and
the stored manifests parsed here, against the store listed here), removes nothing with
``dry_run``, keeps young objects, tidies stale temporaries and runs of dead processes, and never
takes an object from a writer: not one it is storing again, not while a gc holds it condemned,
not after a gc was killed half way."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
from registry_helpers import make_bundle, referenced_objects, run_worker, stored_objects
from sqlalchemy import insert, select, update
from test_artifacts import _s3_uri, s3_endpoint  # noqa: F401  (the fixture, for the S3 cases)

from local_servers import local_of, store_of
from seawall.errors import (
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    RegistryUnavailableError,
    StorageError,
)
from seawall.registry import Registry, _gc
from seawall.registry._gc import STALE_PIN_S, sweep_lock
from seawall.registry._pins import Pins
from seawall.registry._schema import artifacts, gc_condemned, runs, store_pins
from seawall.registry._store import HOOKS
from seawall.registry.remote import transport


def _populate(reg: Registry, tmp_path: Path, rng) -> None:
    """A random registry: runs with artifacts (some bytes shared between runs and bundles),
    inputs with profiles, versions, and a random part of it deleted and purged; plus stray
    objects that nothing ever referenced."""
    shared = [rng.bytes(int(rng.integers(1, 300))) for _ in range(4)]
    run_ids = []
    for r in range(int(rng.integers(3, 7))):
        with reg.start_run(experiment=f"e{r % 2}") as run:
            for j in range(int(rng.integers(1, 4))):
                data = shared[int(rng.integers(4))] if rng.random() < 0.4 else rng.bytes(50)
                run.log_bytes(data, f"f{j}.bin")
            if rng.random() < 0.5:
                run.log_input(pa.table({"x": rng.normal(size=30)}), profile=True)
        run_ids.append(run.id)
    versions = []
    for v in range(int(rng.integers(2, 5))):
        folder = make_bundle(tmp_path / f"bundle{v}", seed=int(rng.integers(1 << 30)))
        (folder / "shared.bin").write_bytes(shared[int(rng.integers(4))])
        mv = reg.register_model("m", folder, run=run_ids[v % len(run_ids)])
        versions.append(mv.version)
    for run_id in run_ids:
        if rng.random() < 0.5:
            reg.delete_run(run_id)
            if rng.random() < 0.7:
                reg.purge_run(run_id)
    for version in versions:
        if rng.random() < 0.5:
            reg.delete_model_version("m", version)
            if rng.random() < 0.7:
                reg.purge_model_version("m", version)
    for _ in range(int(rng.integers(0, 5))):
        reg.artifacts.put_bytes(rng.bytes(int(rng.integers(1, 100))))


def _check_exact(reg: Registry) -> None:
    store = store_of(reg)  # (a server's: its own store)
    before = stored_objects(store)
    live = referenced_objects(local_of(reg))
    assert live <= set(before)  # nothing dangles to start with
    garbage = set(before) - live

    dry = reg.gc(dry_run=True, min_age=0)
    assert (dry.dry_run, set(dry.removed_objects), dry.removed) == (True, garbage, len(garbage))
    assert dry.removed_bytes == sum(len(before[s]) for s in garbage)
    assert stored_objects(store) == before

    report = reg.gc(min_age=0)
    assert set(report.removed_objects) == garbage
    assert (report.objects, report.live, report.removed) == (len(before), len(live), len(garbage))
    assert report.removed_bytes == sum(len(before[s]) for s in garbage)
    after = stored_objects(store)
    assert after == {s: before[s] for s in live}
    assert all(hashlib.sha256(data).hexdigest() == sha for sha, data in after.items())
    assert reg.gc(min_age=0).removed == 0
    # Everything not purged still reads back, verified.
    for run in reg.search_runs(None):
        for item in run.artifacts:
            assert hashlib.sha256(reg.read_artifact(run.id, item.path)).hexdigest() == item.sha256
    for version in reg.list_versions("m"):
        reg.bundle_path(version.uri)


def test_gc_removes_exactly_what_nothing_references(reg, tmp_path, rng):
    _populate(reg, tmp_path, rng)
    _check_exact(reg)


def test_gc_on_s3(s3_endpoint, sqlite_uri, tmp_path, rng):  # noqa: F811
    endpoint, client = s3_endpoint
    bucket = f"gc{abs(hash(tmp_path)) % 10**9}"
    client.create_bucket(Bucket=bucket)
    reg = Registry(sqlite_uri, artifacts=_s3_uri(endpoint, bucket))
    reg.artifacts.client, reg.artifacts.bucket, reg.artifacts.prefix = client, bucket, "store"
    _populate(reg, tmp_path, rng)
    _check_exact(reg)


def test_soft_deleted_things_keep_their_objects(reg, tmp_path, rng):
    with reg.start_run() as run:
        run.log_bytes(rng.bytes(40), "a.bin")
    reg.register_model("m", make_bundle(tmp_path / "b", seed=1))
    reg.delete_run(run.id)
    reg.delete_model_version("m", 1)
    reg.delete_model("m")
    before = stored_objects(store_of(reg))
    assert reg.gc(min_age=0).removed == 0
    assert stored_objects(store_of(reg)) == before
    reg.restore_run(run.id)
    reg.restore_model("m")
    reg.restore_model_version("m", 1)
    assert reg.read_artifact(run.id, "a.bin") == before[run.artifacts[0].sha256]
    reg.bundle_path("models:/m/1")


def test_young_objects_are_kept(sqlite_uri, tmp_path, rng):
    reg = Registry(sqlite_uri, artifacts=tmp_path / "artifacts")
    shas = [reg.artifacts.put_bytes(rng.bytes(20))[0] for _ in range(6)]
    old = set(shas[: int(rng.integers(1, 6))])
    for sha in old:
        path = reg.artifacts.local_path(sha)
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    report = reg.gc(min_age=3600)
    assert set(report.removed_objects) == old
    assert report.young == len(shas) - len(old)
    assert set(stored_objects(reg.artifacts)) == set(shas) - old


def test_stale_temporaries_and_runs_of_dead_processes(reg, tmp_path):
    tmp = Path(store_of(reg).uri) / "tmp"
    stale, fresh = tmp / "put-stale", tmp / "put-fresh"
    stale.write_bytes(b"left by a kill")
    fresh.write_bytes(b"an upload going on")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    ids = {}
    for name in ("dead", "elsewhere-stale", "elsewhere-fresh", "alive"):
        ids[name] = reg.start_run(experiment="runs", name=name).id
    now = time.time()
    changes = {
        "dead": {"pid": int(dead.stdout), "pid_start": 1},
        "elsewhere-stale": {"host": "another-host", "heartbeat_at": now - 7200},
        "elsewhere-fresh": {"host": "another-host", "heartbeat_at": now - 60},
    }
    for name, values in changes.items():
        local_of(reg)._db.write(
            lambda conn, name=name, values=values: conn.execute(
                update(runs).where(runs.c.uuid == ids[name]).values(**values)
            )
        )
    dry = reg.gc(dry_run=True, stale_after=3600)
    assert (dry.temporaries, dry.killed_runs) == (1, 2)
    assert stale.exists() and {r.status for r in reg.search_runs("runs")} == {"RUNNING"}
    report = reg.gc(stale_after=3600)
    assert (report.temporaries, report.killed_runs) == (1, 2)
    assert not stale.exists() and fresh.exists()
    status = {r.name: r.status for r in reg.search_runs("runs")}
    assert status == {
        "dead": "KILLED",
        "elsewhere-stale": "KILLED",
        "elsewhere-fresh": "RUNNING",
        "alive": "RUNNING",
    }


def test_an_unreadable_manifest_stops_gc(sqlite_uri, tmp_path, rng):
    reg = Registry(sqlite_uri, artifacts=tmp_path / "artifacts")
    mv = reg.register_model("m", make_bundle(tmp_path / "b", seed=1))
    reg.artifacts.put_bytes(rng.bytes(30))  # garbage that must stay until the sweep can run
    path = reg.artifacts.local_path(mv.bundle_sha256)
    os.chmod(path, 0o644)
    path.write_bytes(b"{not json")
    before = stored_objects(reg.artifacts)
    with pytest.raises(IntegrityError, match="models:/m/1 cannot be read"):
        reg.gc(min_age=0)
    assert stored_objects(reg.artifacts) == before


def test_one_gc_at_a_time(reg, monkeypatch):
    monkeypatch.setattr(_gc, "LOCK_WAIT_S", 0.3)
    monkeypatch.setattr(transport, "RETRY_S", 0.5)  # a client retries a busy server's 503
    with sweep_lock(local_of(reg)._db) as got:
        assert got
        with pytest.raises(RegistryUnavailableError, match="another seawall gc is running"):
            reg.gc()
        assert reg.gc(dry_run=True).dry_run  # a dry run changes nothing, so it may run
    assert reg.gc().removed == 0


@pytest.mark.parametrize("value", [-1, "1h", float("nan"), True, None])
def test_bad_ages(reg, value):
    with pytest.raises(InvalidInputError, match="seconds"):
        reg.gc(min_age=value)
    with pytest.raises(InvalidInputError, match="seconds"):
        reg.gc(stale_after=value)


def _reference(reg: Registry, run_pk: int, name: str, sha: str):
    """A transaction that records an artifact row, as a write's own transaction would."""

    def tx(conn) -> None:
        conn.execute(
            insert(artifacts).values(
                run_id=run_pk, path=name, sha256=sha, size=0, created_at=time.time()
            )
        )

    return tx


@pytest.mark.local_registry(
    "the pin protocol of a writer on its own database (a server's writes take the same Pins)"
)
def test_a_writer_stores_again_what_a_sweep_removed_before_its_pin(reg, rng):
    """W3: an object removed between its store and its pin is stored again before the
    reference; one the writer did not store itself (an upload) is NotFoundError."""
    data = rng.bytes(64)
    run = reg.start_run()
    with Pins(reg._db, reg.artifacts) as pins:
        sha, _ = pins.put_bytes(data)
        assert reg.artifacts.remove_object(sha)  # a sweep, just then
        pins.record(_reference(reg, run._pk, "a.bin", sha))
    assert reg.read_artifact(run.id, "a.bin") == data
    other = rng.bytes(64)
    with Pins(reg._db, reg.artifacts) as pins:
        sha, _ = reg.artifacts.put_bytes(other)
        pins.add(sha)
        reg.artifacts.remove_object(sha)
        with pytest.raises(NotFoundError, match="store it again"):
            pins.record(_reference(reg, run._pk, "b.bin", sha))
    assert [a.path for a in reg.list_artifacts(run.id)] == ["a.bin"]
    with reg._db.read() as conn:
        assert conn.execute(select(store_pins)).all() == []  # the failed write's pin is gone


def test_a_writer_finishes_the_removals_of_a_killed_gc(reg, rng):
    """Condemned rows left by a killed gc: a writer that needs one of those objects removes
    them all (no gc holds the lock), then stores its object again."""
    local = local_of(reg)  # through a server: its database and store
    data, garbage = rng.bytes(64), rng.bytes(64)
    sha, _ = local.artifacts.put_bytes(data)
    other, _ = local.artifacts.put_bytes(garbage)
    rows = [{"sha256": s, "gc_id": "f" * 32, "at": time.time()} for s in (sha, other)]
    local._db.write(lambda conn: conn.execute(insert(gc_condemned), rows))
    with reg.start_run() as run:
        run.log_bytes(data, "a.bin")  # a client finds it stored, the server removes it...
    assert reg.read_artifact(run.id, "a.bin") == data  # ...and the client uploads it again
    assert not local.artifacts.exists(other)
    with local._db.read() as conn:
        assert conn.execute(select(gc_condemned)).all() == []
    assert set(stored_objects(local.artifacts)) == referenced_objects(local) == {sha}


@pytest.mark.local_registry("a gc in another process on the same database")
def test_a_writer_waits_for_a_gc_removing_its_object(registry_uri, tmp_path, rng):
    """A gc in another process condemns an object and holds there; a writer storing the same
    bytes waits, and once the gc removed it, stores it again: the reference never dangles."""
    artifacts_uri = str(tmp_path / "artifacts")
    reg = Registry(registry_uri, artifacts=artifacts_uri)
    data = rng.bytes(100)
    with reg.start_run() as old:
        old.log_bytes(data, "a.bin")
    reg.delete_run(old.id)
    reg.purge_run(old.id)
    sha = hashlib.sha256(data).hexdigest()
    gc = run_worker("gc", registry_uri, artifacts_uri, "hold")
    try:
        assert gc.stdout is not None
        assert gc.stdout.readline().strip() == "condemned", gc.stderr.read() if gc.stderr else ""
        done = threading.Event()
        written: list[object] = []

        def write() -> None:
            try:
                with reg.start_run() as run:
                    run.log_bytes(data, "again.bin")
                written.append(run)
            except BaseException as exc:
                written.append(exc)
            done.set()

        held = threading.Event()
        HOOKS["pins:held"] = held.set
        writer = threading.Thread(target=write)
        writer.start()
        assert held.wait(timeout=120)  # the writer pinned the object the gc condemned
        out, err = gc.communicate("go\n", timeout=120)
        writer.join(timeout=120)
    finally:
        HOOKS.pop("pins:held", None)
        gc.kill()
    assert gc.returncode == 0, err
    assert sha in json.loads(out)["removed_objects"]  # the gc did remove it...
    (run,) = written
    assert isinstance(run, type(old)), run
    assert reg.read_artifact(run.id, "again.bin") == data  # ...and the writer stored it again
    assert referenced_objects(reg) <= set(stored_objects(reg.artifacts))


def test_a_pin_and_a_condemning_transaction_never_miss_each_other(reg, rng):
    """A writer's pin transaction, paused between its insert and its read of condemned rows,
    while a gc condemns the same object: either the gc sees the pin (it waited for the pin's
    transaction: PostgreSQL's table lock, SQLite's one writer) or the writer sees the
    condemnation; so the object the writer references is there in the end."""
    data = rng.bytes(80)
    with reg.start_run() as old:
        old.log_bytes(data, "a.bin")
    reg.delete_run(old.id)
    reg.purge_run(old.id)
    inserted, checked, verified, swept = (threading.Event() for _ in range(4))
    reports: list[object] = []

    # Each side waits (a little) for the other at the point where, were nothing ordering the
    # two transactions, the gc would condemn the object unseen by the writer, and remove it
    # after the writer checked it was there.
    def pin_inserted() -> None:
        inserted.set()
        checked.wait(timeout=2.0)

    def gc_checked() -> None:
        checked.set()
        verified.wait(timeout=2.0)

    def pin_verified() -> None:
        verified.set()
        swept.wait(timeout=2.0)

    def sweep() -> None:
        inserted.wait(timeout=120)
        try:
            reports.append(reg.gc(min_age=0))
        except BaseException as exc:
            reports.append(exc)
        swept.set()

    hooks = {"pins:inserted": pin_inserted, "gc:checked": gc_checked, "pins:verified": pin_verified}
    HOOKS.update(hooks)
    gc = threading.Thread(target=sweep)
    gc.start()
    try:
        with reg.start_run() as run:
            run.log_bytes(data, "b.bin")
    finally:
        gc.join(timeout=120)
        for name in hooks:
            HOOKS.pop(name)
    assert len(reports) == 1 and not isinstance(reports[0], BaseException), reports
    assert reg.read_artifact(run.id, "b.bin") == data
    assert referenced_objects(local_of(reg)) <= set(stored_objects(store_of(reg)))


@pytest.mark.local_registry("a gc in another process on the same database")
def test_an_interrupted_gc_leaves_a_consistent_store(registry_uri, tmp_path, rng):
    artifacts_uri = str(tmp_path / "artifacts")
    reg = Registry(registry_uri, artifacts=artifacts_uri)
    _populate(reg, tmp_path, rng)
    for _ in range(4):  # garbage enough that the kill lands half way
        reg.artifacts.put_bytes(rng.bytes(10))
    before = stored_objects(reg.artifacts)
    live = referenced_objects(reg)
    garbage = set(before) - live
    kill_after = int(rng.integers(1, len(garbage)))
    gc = run_worker("gc", registry_uri, artifacts_uri, f"kill:{kill_after}")
    _, err = gc.communicate(timeout=120)
    assert gc.returncode == -9, err
    middle = stored_objects(reg.artifacts)
    assert live <= set(middle)  # no reference dangles
    assert len(set(before) - set(middle)) == kill_after
    with reg._db.read() as conn:
        left = set(conn.execute(select(gc_condemned.c.sha256)).scalars())
    assert left and left <= garbage
    report = reg.gc(min_age=0)
    assert report.resumed == len(left & set(middle))
    assert stored_objects(reg.artifacts) == {s: before[s] for s in live}
    with reg._db.read() as conn:
        assert conn.execute(select(gc_condemned)).all() == []


@pytest.mark.local_registry(
    "the pin protocol of a writer on its own database (a server's writes take the same Pins)"
)
def test_a_pin_left_by_a_dead_writer_expires(reg, rng):
    """A pin older than STALE_PIN_S no longer protects its object, and a writer that held
    it that long records nothing."""
    run = reg.start_run()
    pins = Pins(reg._db, reg.artifacts)
    sha, _ = pins.put_bytes(rng.bytes(50))
    pins.hold()
    old = time.time() - STALE_PIN_S - 10
    reg._db.write(lambda conn: conn.execute(update(store_pins).values(created_at=old)))
    report = reg.gc(min_age=0)
    assert (report.expired_pins, report.removed_objects) == (1, (sha,))
    with pytest.raises(StorageError, match="nothing was recorded"):
        pins.record(_reference(reg, run._pk, "late.bin", sha))
    assert reg.list_artifacts(run.id) == []
