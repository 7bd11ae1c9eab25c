"""Opening a registry: what the database reports reaches callers as seawall's errors (locked past
the timeout, not a database, a damaged schema, an unreachable server), and a reader
(``create=False``) creates nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from local_servers import free_port
from seawall.errors import NotFoundError, RegistryUnavailableError, SeawallError, StorageError
from seawall.registry import Registry, _db


def test_a_database_locked_past_the_timeout_is_unavailable(tmp_path, monkeypatch):
    db = tmp_path / "registry.db"
    Registry(db, artifacts=tmp_path / "artifacts").close()
    monkeypatch.setattr(_db, "BUSY_TIMEOUT_S", 0.2)
    monkeypatch.setattr(_db, "WRITE_ATTEMPTS", 2)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        reg = Registry(db, artifacts=tmp_path / "artifacts")  # reading goes on beside a writer
        assert reg.list_experiments() == []
        with pytest.raises(RegistryUnavailableError, match="stayed locked") as info:
            reg.create_experiment("churn")
        assert isinstance(info.value, ConnectionError) and isinstance(info.value, OSError)
        assert str(db) in str(info.value) and "\n" not in str(info.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert reg.create_experiment("churn").name == "churn"  # and it goes on once free
    reg.close()


def test_a_file_that_is_not_a_database_is_a_storage_error(tmp_path, rng):
    db = tmp_path / "registry.db"
    junk = rng.bytes(int(rng.integers(1, 20_000)))
    db.write_bytes(b"not SQLite " + junk)
    with pytest.raises(StorageError, match="not a database") as info:
        Registry(db, artifacts=tmp_path / "artifacts")
    assert str(db) in str(info.value)
    assert db.read_bytes() == b"not SQLite " + junk  # left as it was


def test_an_error_inside_a_query_is_a_storage_error(tmp_path):
    db = tmp_path / "registry.db"
    reg = Registry(db, artifacts=tmp_path / "artifacts")
    with sqlite3.connect(db) as con:  # damaged by hand
        con.execute("DROP TABLE experiments")
    with pytest.raises(StorageError, match="no such table: experiments"):
        reg.list_experiments()
    with pytest.raises(StorageError, match="no such table: experiments"):
        reg.create_experiment("churn")
    reg.close()


def test_an_unreachable_postgres_server_is_unavailable(tmp_path):
    uri = f"postgresql://seawall:secret@127.0.0.1:{free_port()}/registry"  # nothing listens
    with pytest.raises(RegistryUnavailableError, match="cannot reach") as info:
        Registry(uri, artifacts=tmp_path / "artifacts")
    message = str(info.value)
    assert "secret" not in message and "127.0.0.1" in message and "\n" not in message
    assert isinstance(info.value, SeawallError) and isinstance(info.value, ConnectionError)
    assert not (tmp_path / "artifacts").exists()


def _tree_of(*folders: Path) -> set[Path]:
    return {p for folder in folders if folder.exists() for p in folder.rglob("*")}


def test_a_reader_creates_nothing(tmp_path, seawall_home, monkeypatch):
    before = _tree_of(tmp_path, seawall_home)
    with pytest.raises(NotFoundError, match=f"no registry at {tmp_path / 'nothere.db'} "):
        Registry(tmp_path / "nothere.db", artifacts=tmp_path / "artifacts", create=False)
    with pytest.raises(NotFoundError, match="no registry at"):
        Registry(f"sqlite:///{tmp_path / 'sub' / 'r.db'}", create=False)
    with pytest.raises(NotFoundError, match=f"no registry at {seawall_home / 'registry.db'}"):
        Registry(create=False)
    monkeypatch.setenv("SEAWALL_HOME", str(tmp_path / "new-home"))
    with pytest.raises(NotFoundError):
        Registry(create=False)
    assert _tree_of(tmp_path, seawall_home) == before


def test_a_reader_refuses_a_database_that_holds_no_registry(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE notes (text)")
    for path in (empty, other):
        before = path.read_bytes()
        with pytest.raises(NotFoundError, match="holds no seawall registry"):
            Registry(path, artifacts=tmp_path / "artifacts", create=False)
        assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "other.db"]


def test_a_reader_refuses_a_postgres_database_without_a_registry(postgres_uri, tmp_path):
    from sqlalchemy import create_engine, inspect

    from seawall.registry._db import normalize_uri

    with pytest.raises(NotFoundError, match="holds no seawall registry"):
        Registry(postgres_uri, artifacts=tmp_path / "artifacts", create=False)
    engine = create_engine(normalize_uri(postgres_uri))
    assert inspect(engine).get_table_names() == []
    engine.dispose()
    assert not (tmp_path / "artifacts").exists()


@pytest.mark.local_registry("opening a database without creating one is the server's")
def test_a_reader_opens_an_existing_registry(registry_uri, tmp_path):
    with Registry(registry_uri, artifacts=tmp_path / "artifacts") as writer:
        writer.create_experiment("churn", description="kept")
    with Registry(registry_uri, artifacts=tmp_path / "artifacts", create=False) as reader:
        assert [(e.name, e.description) for e in reader.list_experiments()] == [("churn", "kept")]
