"""The registry's database: engines by URI, write transactions that serialize and retry.

SQLite (the embedded default) runs in WAL mode with a busy timeout; every write transaction
starts with ``BEGIN IMMEDIATE``, so two writers never both hold a read snapshot they then try to
upgrade (the usual cause of "database is locked"), and a write that still finds the database busy
is retried with backoff. Reads start a deferred transaction and see one snapshot.

PostgreSQL (``postgresql://``, through psycopg 3) uses its default READ COMMITTED isolation with
row locks taken where an invariant needs them; serialization failures and deadlocks are retried.
"""

from __future__ import annotations

import os
import random
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from ..errors import InvalidInputError, NotFoundError

T = TypeVar("T")

# How long one statement waits on another writer's lock before SQLite reports "busy", and how
# many times a whole write transaction is tried before the error is raised.
BUSY_TIMEOUT_S = 30.0
WRITE_ATTEMPTS = 12

_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_engines_in_child() -> None:
    # A forked child must not reuse its parent's open connections (shared file descriptors and,
    # for PostgreSQL, sockets): drop them without closing what the parent still uses.
    for engine in list(_ENGINES):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_engines_in_child)


def seawall_home() -> Path:
    """``$SEAWALL_HOME``, else ``~/.seawall``: where the default registry and artifacts live."""
    value = os.environ.get("SEAWALL_HOME")
    return Path(value).expanduser() if value else Path.home() / ".seawall"


def normalize_uri(uri: str | os.PathLike[str] | None) -> str:
    """The SQLAlchemy URL for a registry URI: None means the embedded SQLite database under
    $SEAWALL_HOME, a plain path means a SQLite file, and ``postgresql://`` means psycopg 3."""
    if uri is None:
        uri = os.environ.get("SEAWALL_REGISTRY_URI") or None
    if uri is None:
        home = seawall_home()
        home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{home / 'registry.db'}"
    text = os.fspath(uri)
    if not isinstance(text, str) or not text:
        raise InvalidInputError(f"a registry URI must be a non-empty string, got {uri!r}")
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().absolute()}"
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise InvalidInputError(f"not a database URI: {text!r} ({exc})") from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if url.get_driver_name() in ("", "psycopg2") and "+" not in url.drivername:
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise InvalidInputError(
                "the registry needs a SQLite file (sqlite:///path/registry.db), not an in-memory "
                "database: several connections and processes share it"
            )
        return text
    raise InvalidInputError(
        f"unsupported registry URI {text!r}: use sqlite:///path, postgresql://..., or a file path"
    )


class Database:
    """One engine and the transaction discipline for its dialect."""

    def __init__(self, uri: str | os.PathLike[str] | None) -> None:
        self.url = normalize_uri(uri)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            path = make_url(self.url).database
            assert path is not None
            parent = Path(path).parent
            if not parent.is_dir():
                raise NotFoundError(
                    f"the folder for the registry database does not exist: {parent}"
                )
            self.engine = create_engine(
                self.url,
                connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)
        _ENGINES.add(self.engine)
        # Connections close when the registry is dropped, not whenever the pool is collected.
        weakref.finalize(self, self.engine.dispose)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot, rolled back at the end."""
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Runs fn(conn) in one write transaction, committed when it returns; retried from the
        start when the database is busy (SQLite) or the transaction lost a race (PostgreSQL).

        fn must be safe to run again: it sees no effect of an attempt that was rolled back.
        """
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.engine.connect() as conn:
                    conn = conn.execution_options(seawall_write=True)
                    with conn.begin():
                        return fn(conn)
            except DBAPIError as exc:
                if attempt + 1 == WRITE_ATTEMPTS or not self._retryable(exc):
                    raise
            # Jittered exponential backoff: 5 ms, 10 ms, ... up to 1 s.
            time.sleep(min(1.0, 0.005 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _retryable(self, exc: DBAPIError) -> bool:
        if self.is_sqlite:
            text = str(exc.orig).lower()
            return isinstance(exc, OperationalError) and ("locked" in text or "busy" in text)
        code = getattr(exc.orig, "sqlstate", None)
        # serialization_failure, deadlock_detected, and a dropped connection (pre-ping covers
        # the pool, not a connection that dies in the middle of a transaction).
        return code in ("40001", "40P01") or bool(exc.connection_invalidated)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event, not the sqlite3 module, start transactions.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL loses no committed transaction on a process crash (only, at worst,
        # the last ones on a power cut) and saves an fsync per commit.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # LIKE is case-sensitive, as in PostgreSQL (ILIKE is the case-insensitive one).
        cursor.execute("PRAGMA case_sensitive_like = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get("seawall_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")
