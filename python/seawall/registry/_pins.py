"""Pins: the objects a writer stores, held against garbage collection from just after they are
stored until the transaction that references them commits (steps W1 to W4 of the protocol in
``_gc.py``, which says why this closes the race with a sweep)::

    with Pins(db, store) as pins:
        sha, size = pins.put_file(path)      # W1: stored (or found stored)
        pins.record(tx)                      # W2, W3; then tx(conn) and W4, in one transaction

A client of a registry server takes its pins before it uploads: the server pins the objects
(:meth:`Pins.hold_for_upload`, W2 and W3), the client uploads what is not stored (W1, now
protected), and its write records them with the pins' ids (:meth:`Pins.adopt`, W4).

A pin left by a writer that died is deleted by a sweep after ``_gc.STALE_PIN_S``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, delete, select

from ..errors import IntegrityError, NotFoundError, RegistryUnavailableError, StorageError
from ._db import Database
from ._gc import STALE_PIN_S, finish_removals, sweep_lock
from ._schema import gc_condemned, store_pins
from ._store import ArtifactStore, fire

T = TypeVar("T")
log = logging.getLogger("seawall.registry")

# How long a writer waits for a sweep to finish removing an object it is storing again.
SWEEP_WAIT_S = 300.0
_IN_CHUNK = 5000


class Pins:
    """The objects one write stores and then references; use it as a context manager, which
    deletes the pins of a write that failed before :meth:`record` committed."""

    def __init__(self, db: Database, store: ArtifactStore) -> None:
        self._db = db
        self._store = store
        # hash -> how to store the object again (None: it came from elsewhere, an upload)
        self._again: dict[str, Callable[[], str] | None] = {}
        self._held: set[str] = set()
        self._ids: list[int] = []

    def __enter__(self) -> Pins:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._ids:
            return
        ids, self._ids = self._ids, []

        def tx(conn: Connection) -> None:
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                conn.execute(delete(store_pins).where(store_pins.c.id.in_(chunk)))

        try:
            self._db.write(tx)
        except Exception as exc:  # a sweep deletes them once stale
            log.debug("could not delete %d pin(s): %s", len(ids), exc)

    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        """Stores a file (W1); returns (sha256, size)."""
        sha, size = self._store.put_file(path)
        self._again.setdefault(sha, lambda: self._store.put_file(path)[0])
        return sha, size

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Stores bytes (W1); returns (sha256, size)."""
        sha, size = self._store.put_bytes(data)
        self._again.setdefault(sha, lambda: self._store.put_bytes(data)[0])
        return sha, size

    def add(self, sha: str) -> None:
        """An object someone else stored (an upload) that this write will reference: if a
        sweep removes it before it is held, :meth:`hold` raises NotFoundError."""
        self._again.setdefault(sha, None)

    def hold(self) -> None:
        """Pins every object not pinned yet, in one transaction (W2); waits for a sweep that
        condemned one to finish, and stores again whatever is no longer there (W3)."""
        shas, condemned = self._pin()
        for sha in shas:
            if sha in condemned or not self._store.exists(sha):
                again = self._again[sha]
                if again is None:
                    raise NotFoundError(
                        f"object {sha} is not in the artifact store (never stored, or seawall "
                        "gc removed it before it was referenced): store it again"
                    )
                if again() != sha:
                    raise IntegrityError(f"the file of object {sha} changed while it was stored")
        fire("pins:verified")

    def hold_for_upload(self) -> tuple[list[int], list[str]]:
        """For a client of a server, which stores its objects after they are pinned: pins every
        object (W2), waits for a sweep that condemned one to finish (W3), and returns the pins'
        ids (its write records them: :meth:`adopt`) and the objects not stored intact, which it
        uploads then (W1, protected by the pins)."""
        shas, condemned = self._pin()
        missing = [s for s in shas if s in condemned or not self._store.exists_intact(s)]
        return list(self._ids), missing

    def hold_for_store(self) -> list[int]:
        """For a server storing an upload whose hash it learned from its bytes: pins the
        objects (W2) and waits for a sweep that condemned one to finish (W3), before it puts
        them in place (W1, protected by the pins); returns the pins' ids (see :meth:`adopt`)."""
        self._pin()
        return list(self._ids)

    def adopt(self, ids: list[int]) -> None:
        """Pins taken by :meth:`hold_for_upload` (for the client's write this is): held now,
        deleted when :meth:`record` commits. An id that is no longer there (a pin gc expired)
        makes the record fail, recording nothing."""
        ids = [int(i) for i in ids]
        if not ids:
            return
        with self._db.read() as conn:
            rows = conn.execute(
                select(store_pins.c.id, store_pins.c.sha256).where(store_pins.c.id.in_(ids))
            ).all()
        self._ids.extend(ids)
        for row in rows:
            self._again.setdefault(row.sha256, None)
            self._held.add(row.sha256)

    def _pin(self) -> tuple[list[str], set[str]]:
        """W2 for the objects not pinned yet, and the wait of W3: returns them, and those a
        sweep had condemned."""
        shas = [s for s in self._again if s not in self._held]
        if not shas:
            return [], set()
        now = time.time()

        def tx(conn: Connection) -> tuple[list[int], set[str]]:
            # The insert first: on PostgreSQL it waits for a sweep's condemning transaction,
            # whose condemned rows the select below then sees.
            ids = list(
                conn.execute(
                    store_pins.insert().returning(store_pins.c.id),
                    [{"sha256": s, "created_at": now} for s in shas],
                ).scalars()
            )
            fire("pins:inserted")
            condemned: set[str] = set()
            for start in range(0, len(shas), _IN_CHUNK):
                chunk = shas[start : start + _IN_CHUNK]
                condemned.update(
                    conn.execute(
                        select(gc_condemned.c.sha256).where(gc_condemned.c.sha256.in_(chunk))
                    ).scalars()
                )
            return ids, condemned

        ids, condemned = self._db.write(tx)
        self._ids.extend(ids)
        self._held.update(shas)
        fire("pins:held")
        if condemned:
            self._wait_for_removal(condemned)
        return shas, condemned

    def record(self, fn: Callable[[Connection], T]) -> T:
        """Holds the objects (:meth:`hold`), then runs fn(conn) and deletes the pins in one
        write transaction (W4): the references fn writes replace the pins atomically."""
        self.hold()
        ids = list(self._ids)

        def tx(conn: Connection) -> T:
            out = fn(conn)
            gone = 0
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                gone += conn.execute(delete(store_pins).where(store_pins.c.id.in_(chunk))).rowcount
            if gone != len(ids):
                raise StorageError(
                    f"this write held its objects for over {STALE_PIN_S:g} s, and seawall gc "
                    "took them back: nothing was recorded; write again"
                )
            return out

        out = self._db.write(tx)
        self._ids = []  # deleted with that commit
        return out

    def _wait_for_removal(self, shas: set[str]) -> None:
        """Waits until no sweep holds any of `shas` condemned (W3). When no sweep runs (the one
        that condemned them was killed), finishes its removals under the sweep lock."""
        deadline = time.monotonic() + SWEEP_WAIT_S
        attempt = 0
        wanted = sorted(shas)
        while True:
            with self._db.read() as conn:
                left = conn.execute(
                    select(gc_condemned.c.sha256).where(gc_condemned.c.sha256.in_(wanted)).limit(1)
                ).first()
            if left is None:
                return
            with sweep_lock(self._db) as got:
                if got:
                    finish_removals(self._db, self._store)
                    continue
            if time.monotonic() > deadline:
                raise RegistryUnavailableError(
                    f"seawall gc has been removing objects this write stores again (such as "
                    f"{left[0]}) for over {SWEEP_WAIT_S:g} s: try again once it is over"
                )
            time.sleep(min(0.5, 0.005 * 2**attempt))
            attempt += 1
