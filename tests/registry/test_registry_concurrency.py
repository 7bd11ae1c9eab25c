"""Processes writing to one registry at once, opening a new one at once, and processes killed
in the middle of a write.

Eight processes log metrics, register versions and move an alias on one SQLite registry for
SEAWALL_STRESS_SECONDS (3 by default; the figure in benchmarks/RESULTS.md used 30): no errors, no
lost write, versions gapless. The database is read back with the sqlite3 module as the oracle.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from registry_helpers import make_bundle

from seawall.registry import Registry, _migrate
from seawall.registry._store import walk_files

WORKER = Path(__file__).with_name("registry_worker.py")
PROCESSES = 8


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(WORKER.parent), *sys.path])
    return env


def test_eight_processes_on_one_sqlite_registry(tmp_path):
    seconds = float(os.environ.get("SEAWALL_STRESS_SECONDS", "3"))
    db = tmp_path / "registry.db"
    uri, artifacts = f"sqlite:///{db}", str(tmp_path / "artifacts")
    # No process opens the registry first: they race to create the schema too.
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                "stress",
                uri,
                artifacts,
                str(seconds),
                str(w),
                str(tmp_path / f"w{w}" / "out.json"),
            ],
            env=_worker_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(PROCESSES)
        if (tmp_path / f"w{w}").mkdir() is None
    ]
    for p in procs:
        _, err = p.communicate(timeout=seconds + 240)
        assert p.returncode == 0, err
    reports = [json.loads((tmp_path / f"w{w}" / "out.json").read_text()) for w in range(PROCESSES)]
    print(
        f"{PROCESSES} processes x {seconds} s: "
        f"{sum(r['metrics'] for r in reports)} metrics, "
        f"{sum(len(r['versions']) for r in reports)} versions, "
        f"{sum(len(r['moves']) for r in reports)} alias moves, "
        f"{sum(len(r['errors']) for r in reports)} errors"
    )
    assert [e for r in reports for e in r["errors"]] == []

    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # Zero lost writes: every metric point each process was told was written is there.
    for w, r in enumerate(reports):
        (count,) = con.execute(
            "SELECT count(*) FROM metrics JOIN runs ON runs.id = metrics.run_id WHERE runs.uuid = ?",
            (r["run_id"],),
        ).fetchone()
        assert count == r["metrics"], f"worker {w}"
        if r["last_loss_step"] is not None:
            latest = con.execute(
                "SELECT l.step FROM latest_metrics l JOIN runs ON runs.id = l.run_id "
                "WHERE runs.uuid = ? AND l.key = 'loss'",
                (r["run_id"],),
            ).fetchone()
            assert latest == (r["last_loss_step"],)
    # Versions gapless and unique: exactly 1..N, each the one its process was handed.
    handed = sorted(v for r in reports for v in r["versions"])
    assert handed == list(range(1, len(handed) + 1))
    stored = con.execute(
        "SELECT v.version, t.value FROM model_versions v "
        "JOIN model_version_tags t ON t.version_id = v.id AND t.key = 'worker' ORDER BY v.version"
    ).fetchall()
    assert stored == sorted((v, str(w)) for w, r in enumerate(reports) for v in r["versions"])
    assert con.execute("SELECT last_version FROM models WHERE name = 'shared'").fetchone() == (
        len(handed),
    )
    # Every alias move is in the audit trail, each one's previous version the one before it.
    events = con.execute(
        "SELECT version, previous_version FROM alias_events WHERE alias = 'champion' ORDER BY id"
    ).fetchall()
    assert sorted(v for v, _ in events) == sorted(v for r in reports for v in r["moves"])
    assert [p for _, p in events] == [None] + [v for v, _ in events[:-1]]
    if events:
        reg = Registry(uri, artifacts=artifacts)
        assert reg.resolve("models:/shared@champion").version == events[-1][0]


def _opener(uri: str, artifacts: Path, go: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "open", uri, str(artifacts), str(go)],
        env=_worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", proc.communicate(timeout=60)
    return proc


def _check_new_registry(db: Path) -> None:
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    version = con.execute(f"SELECT version_num FROM {_migrate.VERSION_TABLE}").fetchall()
    assert version == [(_migrate.head_revision(),)]
    con.close()


def test_opening_waits_for_a_process_that_is_creating_the_file(tmp_path):
    """A process creating a new registry file holds its write lock while it switches the file to
    WAL: another process opening it then waits and succeeds (it used to fail at once with a raw
    "database is locked", which SQLite answers there without calling its busy handler)."""
    db = tmp_path / "registry.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a new file, still in rollback mode: the switch's lock
    go = tmp_path / "go"
    go.touch()
    proc = _opener(f"sqlite:///{db}", tmp_path / "artifacts", go)
    try:
        proc.wait(timeout=1.5)  # the window in which it tries to open while the lock is held
    except subprocess.TimeoutExpired:
        pass
    else:
        pytest.fail(f"opening did not wait for the lock: {proc.communicate()}")
    holder.execute("COMMIT")
    holder.close()
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, out.strip()) == (0, "ok"), err
    _check_new_registry(db)


def test_processes_opening_a_new_registry_at_once(tmp_path):
    """Eight processes open the same brand-new SQLite registry at the same moment (each has
    imported everything and waits for one signal), three times over: all of them open it."""
    for attempt in range(3):
        folder = tmp_path / f"attempt-{attempt}"
        folder.mkdir()
        go = folder / "go"
        uri = f"sqlite:///{folder / 'registry.db'}"
        procs = [_opener(uri, folder / "artifacts", go) for _ in range(PROCESSES)]
        go.touch()
        results = [p.communicate(timeout=240) for p in procs]
        assert [
            (p.returncode, out.strip()) for p, (out, _) in zip(procs, results, strict=True)
        ] == [(0, "ok")] * PROCESSES, results
        _check_new_registry(folder / "registry.db")


HOOKS = ["store:before_rename", "register:stored", "register:inserted", "register:committed"]


@pytest.mark.parametrize("hook", HOOKS)
def test_sigkill_while_registering_leaves_a_consistent_registry(tmp_path, hook, sqlite_uri):
    _kill_while_registering(tmp_path, hook, sqlite_uri)
    con = sqlite3.connect(tmp_path / "registry.db")
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_sigkill_inside_the_transaction_on_postgres(tmp_path, postgres_uri):
    _kill_while_registering(tmp_path, "register:inserted", postgres_uri)


def _kill_while_registering(tmp_path: Path, hook: str, uri: str) -> None:
    artifacts = str(tmp_path / "artifacts")
    reg = Registry(uri, artifacts=artifacts)
    first = make_bundle(tmp_path / "first", seed=1)
    reg.register_model("crash", first)
    reg.set_alias("crash", "champion", 1)
    reg.close()
    doomed = make_bundle(tmp_path / "doomed", seed=2)
    result = subprocess.run(
        [sys.executable, str(WORKER), "kill", uri, artifacts, hook, str(doomed)],
        env=_worker_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == -9, result.stderr  # killed by SIGKILL at the hook

    with Registry(uri, artifacts=artifacts) as reg:
        _check_after_kill(reg, tmp_path, hook)


def _check_after_kill(reg: Registry, tmp_path: Path, hook: str) -> None:
    versions = [v.version for v in reg.list_versions("crash")]
    committed = hook == "register:committed"
    assert versions == ([1, 2] if committed else [1])  # all of the version, or none of it
    # The registry goes on: the next version is the next number, and everything resolves.
    after = reg.register_model("crash", make_bundle(tmp_path / "after", seed=3))
    assert after.version == versions[-1] + 1
    assert reg.resolve("models:/crash@champion").version == 1
    for v in [*versions, after.version]:
        path = reg.bundle_path(f"models:/crash/{v}")
        assert [name for name, _ in walk_files(path)] == [
            "MODEL",
            "bundle.json",
            "config/part-0.bin",
            "config/part-2.bin",
            "example.json",
            "model.pkl",
            "weights/part-1.bin",
        ]
    if committed:
        assert reg.bundle_path("models:/crash/2").joinpath("MODEL").read_text() == "bundle 2\n"
    # A write that died before its rename left at most a temporary file, never an object.
    store_tmp = tmp_path / "artifacts" / "tmp"
    assert all(p.name.startswith("put-") for p in store_tmp.iterdir())
