"""The registry's database: engines by URI, write transactions that serialize and retry, and
the one place where the database's own errors become seawall's.

SQLite (the embedded default) runs in WAL mode with a busy timeout; every write transaction
starts with ``BEGIN IMMEDIATE``, so two writers never both hold a read snapshot they then try to
upgrade (the usual cause of "database is locked"), and a write that still finds the database busy
is retried with backoff. Reads start a deferred transaction and take their snapshot at once,
retried with backoff while the database is busy. Switching a new file to WAL is the one upgrade
of a read lock left (SQLite answers it BUSY at once, without waiting, when another process is
switching the same file): it is retried on connect until the busy timeout.

PostgreSQL (``postgresql://``, through psycopg 3) uses its default READ COMMITTED isolation with
row locks taken where an invariant needs them; serialization failures and deadlocks are retried.

Whatever the database still reports reaches callers as :class:`~seawall.errors.StorageError`
(or :class:`~seawall.errors.RegistryUnavailableError` when it cannot be reached or stayed locked),
never as a driver's or SQLAlchemy's exception.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.request import pathname2url

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ..errors import (
    InvalidInputError,
    MissingDependencyError,
    NotFoundError,
    RegistryUnavailableError,
    SeawallError,
    StorageError,
)

T = TypeVar("T")

# How long one statement waits on another writer's lock before SQLite reports "busy", and how
# many times a whole write transaction (or the start of a read) is tried before the error is
# raised.
BUSY_TIMEOUT_S = 30.0
WRITE_ATTEMPTS = 12
# How long connecting to a PostgreSQL server may take (unless the URI sets connect_timeout).
CONNECT_TIMEOUT_S = 10

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
        return f"sqlite:///{seawall_home() / 'registry.db'}"
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
    """One engine and the transaction discipline for its dialect.

    With ``create=False`` nothing is created: a SQLite file that does not exist is NotFoundError
    (and is opened read-write without the right to create it), and the file is not switched to
    WAL (a seawall registry already is).
    """

    def __init__(self, uri: str | os.PathLike[str] | None, *, create: bool = True) -> None:
        self.url = normalize_uri(uri)
        self.is_sqlite = self.url.startswith("sqlite")
        self.create = create
        if self.is_sqlite:
            path = make_url(self.url).database
            assert path is not None
            self.path: Path | None = Path(path)
            if not self.path.exists():
                if not create:
                    raise NotFoundError(
                        f"no registry at {self.path} (create one with "
                        f"seawall.Registry({str(self.path)!r}) in Python, or check the path)"
                    )
                if self.path.parent == seawall_home():
                    self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.parent.is_dir():
                raise NotFoundError(
                    f"the folder for the registry database does not exist: {self.path.parent}"
                )
            # mode=rw: a reader never creates the file, even if it vanishes after the check.
            target = f"file:{pathname2url(str(self.path))}?mode={'rwc' if create else 'rw'}"

            def connect() -> sqlite3.Connection:
                return sqlite3.connect(
                    target, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False
                )

            self.engine = create_engine(self.url, creator=connect)
            event.listen(
                self.engine,
                "connect",
                lambda dbapi_connection, _record: _sqlite_on_connect(dbapi_connection, create),
            )
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.path = None
            url = make_url(self.url)
            args = {} if "connect_timeout" in url.query else {"connect_timeout": CONNECT_TIMEOUT_S}
            try:
                self.engine = create_engine(self.url, pool_pre_ping=True, connect_args=args)
            except ImportError as exc:
                raise MissingDependencyError(
                    f"a PostgreSQL registry needs psycopg ({exc}): pip install 'seawall[postgres]'"
                ) from None
        _ENGINES.add(self.engine)
        # Connections close when the registry is dropped, not whenever the pool is collected.
        weakref.finalize(self, self.engine.dispose)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def display(self) -> str:
        """The database, for messages: the SQLite path, or the URI without its password."""
        if self.path is not None:
            return str(self.path)
        return self.engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot."""
        with self.errors():
            conn = self._begin_read()
            with conn, conn.get_transaction():  # type: ignore[union-attr]
                yield conn

    def _begin_read(self) -> Connection:
        for attempt in range(WRITE_ATTEMPTS):
            conn = None
            try:
                conn = self.engine.connect()
                conn.begin()
                if self.is_sqlite:
                    # The first read takes the snapshot (and any "busy" answer): here, where it
                    # can be retried, rather than in the caller's first query.
                    conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
                return conn
            except DBAPIError as exc:
                if conn is not None:
                    conn.close()
                if attempt + 1 == WRITE_ATTEMPTS or not (self.is_sqlite and _busy(exc)):
                    raise
            _pause(attempt)
        raise AssertionError("unreachable")

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Runs fn(conn) in one write transaction, committed when it returns; retried from the
        start when the database is busy (SQLite) or the transaction lost a race (PostgreSQL).

        fn must be safe to run again: it sees no effect of an attempt that was rolled back.
        """
        with self.errors():
            for attempt in range(WRITE_ATTEMPTS):
                try:
                    with self.engine.connect() as conn:
                        conn = conn.execution_options(seawall_write=True)
                        with conn.begin():
                            return fn(conn)
                except DBAPIError as exc:
                    if attempt + 1 == WRITE_ATTEMPTS or not self._retryable(exc):
                        raise
                _pause(attempt)
        raise AssertionError("unreachable")

    def _retryable(self, exc: DBAPIError) -> bool:
        if self.is_sqlite:
            return _busy(exc)
        code = getattr(exc.orig, "sqlstate", None)
        # serialization_failure, deadlock_detected, and a dropped connection (pre-ping covers
        # the pool, not a connection that dies in the middle of a transaction).
        return code in ("40001", "40P01") or bool(exc.connection_invalidated)

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turns what the database and its driver raise into seawall's errors."""
        try:
            yield
        except DBAPIError as exc:
            raise self._error(exc) from exc
        except PoolTimeoutError as exc:
            raise RegistryUnavailableError(
                f"no free connection to the registry database {self.display}: {exc}"
            ) from exc

    def _error(self, exc: DBAPIError) -> SeawallError:
        detail = " ".join(str(exc.orig).split())  # the driver's words, on one line
        if self.is_sqlite:
            if _busy(exc):
                return RegistryUnavailableError(
                    f"the registry database {self.display} stayed locked by another process "
                    f"for over {BUSY_TIMEOUT_S:g} s ({detail})"
                )
            if "unable to open" in detail:
                return RegistryUnavailableError(
                    f"cannot open the registry database {self.display} ({detail})"
                )
        elif isinstance(exc, (OperationalError, InterfaceError)):
            return RegistryUnavailableError(
                f"cannot reach the registry database {self.display} ({detail})"
            )
        return StorageError(f"the registry database {self.display} failed: {detail}")


def _busy(exc: DBAPIError | sqlite3.Error) -> bool:
    """SQLite's "database is locked" / "database is busy"."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    text = str(orig).lower()
    return isinstance(orig, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _pause(attempt: int) -> None:
    # Jittered exponential backoff: 5 ms, 10 ms, ... up to 1 s.
    time.sleep(min(1.0, 0.005 * 2**attempt) * (0.5 + random.random()))


def _sqlite_on_connect(dbapi_connection: Any, create: bool) -> None:
    # Let SQLAlchemy's "begin" event, not the sqlite3 module, start transactions.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if create:
            _use_wal(cursor)
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


def _use_wal(cursor: Any) -> None:
    """Switches the file to WAL mode (a no-op once it is), waiting out other processes.

    The switch writes the file's header from inside the statement's read transaction; when
    another connection is switching (or creating) the same new file, SQLite answers BUSY at once
    instead of calling the busy handler, which would deadlock. Retried here with backoff.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    attempt = 0
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() > deadline:
                raise
        _pause(attempt)
        attempt += 1
