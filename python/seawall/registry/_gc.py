"""Garbage collection of the artifact store: mark and sweep against every reference in the
database, safe beside writers in other processes; plus what killed processes leave behind.

**What is live.** An object is live when the database references it: a run's artifact
(``artifacts``), a version's bundle manifest and reference profile (``model_versions``, unless
the version was purged: a soft-deleted version can be restored, so it still counts), every file
that a live version's manifest lists, a dataset's profile (``datasets``); or when a writer holds
a pin on it (``store_pins``). Monitoring keeps its profiles in the database, not in the store.
Any other object in ``objects/`` is garbage once it is older than ``min_age`` (an hour by
default: a margin for code that writes to the store without pins; the protocol below does not
need it, and the tests run with ``min_age=0``).

**The protocol.** A writer (``_pins.Pins``), for each object it is about to reference:

- W1 stores the object, or finds it stored;
- W2 in one transaction *P*, inserts a pin on its hash and reads whether a sweep condemned it;
- W3 if it was condemned, waits until that removal is over, then stores the object again; else
  checks that the object is still there, and stores it again if not;
- W4 in one transaction *R*, inserts its reference and deletes the pin (R fails, recording
  nothing, if the pin is no longer there).

A sweep (:meth:`GcMixin.gc`), holding the sweep lock (one sweep at a time per registry):

- S1 lists the store, then reads the live set in one snapshot: what is neither live nor young
  is a candidate;
- S2 for each batch of candidates, in one transaction *C*, reads again which are live and
  records the others as condemned (``gc_condemned``);
- S3 removes the condemned objects from the store;
- S4 deletes their condemned rows.

**Why a sweep never removes an object that something references.** P, R and C are serialized:
SQLite runs one write transaction at a time (``BEGIN IMMEDIATE``); on PostgreSQL, C begins with
``LOCK TABLE store_pins IN SHARE MODE``, which conflicts with the ROW EXCLUSIVE lock that P's
insert and R's delete of a pin take, so C waits for every P and R in flight, every later P and
R waits for C, and C reads references and pins with no P or R committing in between. Take an
object O that a sweep removes in S3, having condemned it in C, and a writer that references O
in R:

- if the writer's P came before C, C saw its pin (until R) or its reference (from R on, which
  deletes the pin in the same transaction), so C did not condemn O: impossible;
- if P came after C, P read O's condemned row, which stays until S4, after S3: the writer
  waited until S4, found O gone and stored it again (W3), all before R.

So from R on, every reference names an object that is in the store. A reference that is
removed (a purge) stops protecting its object at the next C, which is right. A pin whose
writer died is deleted by a sweep once ``STALE_PIN_S`` old; a writer that is still alive after
that long finds its pin gone in R and fails, storing no reference.

**Interrupted sweeps.** A sweep killed between C and S4 leaves condemned rows. The objects they
name are garbage for good: a writer that wants one waits (W3) rather than relying on it. The
next sweep, or a waiting writer once no sweep holds the lock, finishes removing them and deletes
the rows (:func:`finish_removals`). At every point the store is consistent: no reference names
a removed object.

**The rest.** A sweep also removes stale temporary uploads
(:meth:`ArtifactStore.clean_temporaries`) and marks KILLED the runs left RUNNING by processes
that are gone (:func:`_stale.mark_killed_runs`), both after ``stale_after`` seconds.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from sqlalchemy import Connection, delete, select, text

try:
    import fcntl
except ImportError:  # Windows: one sweep at a time is then up to the user
    fcntl = None  # type: ignore[assignment]

from ..errors import (
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    RegistryUnavailableError,
)
from . import _stale
from ._base import RegistryBase
from ._db import Database
from ._schema import artifacts, datasets, gc_condemned, model_versions, models, store_pins
from ._store import STALE_TEMPORARY_S, ArtifactStore, fire

if TYPE_CHECKING:
    from ._registry import Registry

log = logging.getLogger("seawall.registry")

# Objects younger than this (seconds, by their modification time) are kept, referenced or not.
MIN_AGE_S = 3600.0
# A pin older than this was left by a writer that died (or stalled for a day): a sweep deletes it.
STALE_PIN_S = 86400.0
# How long gc waits for the sweep lock before saying another gc is running (seconds).
LOCK_WAIT_S = 10.0
# Candidates condemned and removed per transaction.
BATCH = 2000
# pg_advisory_lock key of the sweep lock: "seawallg" in ASCII.
_PG_SWEEP_KEY = 0x73656177616C6C67
_IN_CHUNK = 5000  # hashes per IN (...) list


@dataclass(frozen=True)
class GcReport:
    """What :meth:`Registry.gc` removed (with ``dry_run``: what it would remove, removing
    nothing). ``objects`` were in the store when it was listed; ``live`` of them are referenced
    or pinned, ``young`` more were kept for being younger than ``min_age``; ``removed`` were
    removed, ``removed_bytes`` their size, ``removed_objects`` their hashes. ``resumed`` objects
    an interrupted sweep had condemned were removed first. ``temporaries`` stale temporary
    uploads were removed, ``killed_runs`` runs marked KILLED, ``expired_pins`` pins of dead
    writers deleted."""

    dry_run: bool
    objects: int
    live: int
    young: int
    removed: int
    removed_bytes: int
    resumed: int
    temporaries: int
    killed_runs: int
    expired_pins: int
    seconds: float
    removed_objects: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for people."""
        verb = "would remove" if self.dry_run else "removed"
        mark = "would mark" if self.dry_run else "marked"
        return (
            f"{verb} {self.removed:,} of {self.objects:,} objects ({_size(self.removed_bytes)}; "
            f"{self.live:,} live, {self.young:,} younger than the minimum age), "
            f"{self.resumed:,} left by an interrupted gc, {self.temporaries:,} stale temporary "
            f"uploads; {mark} {self.killed_runs:,} runs KILLED; {self.seconds:.1f} s"
        )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n:,} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:,.1f} {unit}"


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextmanager
def sweep_lock(db: Database) -> Iterator[bool]:
    """Tries to take the registry's sweep lock without waiting; yields whether it got it.

    The operating system releases it when its holder dies: on SQLite an ``flock`` on a file
    beside the database, on PostgreSQL a session advisory lock on a connection of its own."""
    if db.path is not None:
        if fcntl is None:
            yield True
            return
        fd = os.open(db.path.with_name(db.path.name + ".gc-lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # releases the lock
        return
    with db.errors(), db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        got = bool(
            conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_SWEEP_KEY}).scalar()
        )
        try:
            yield got
        finally:
            if got:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_SWEEP_KEY})
                except Exception:  # a broken connection: closing it releases the lock
                    conn.invalidate()


def _forget_condemned(db: Database, shas: list[str]) -> None:
    """Deletes the condemned rows of objects that are removed (S4)."""

    def tx(conn: Connection) -> None:
        for chunk in _chunks(shas, _IN_CHUNK):
            conn.execute(delete(gc_condemned).where(gc_condemned.c.sha256.in_(chunk)))

    db.write(tx)


def finish_removals(db: Database, store: ArtifactStore) -> tuple[int, int]:
    """Removes the objects an interrupted sweep condemned, then their rows; returns how many
    and their bytes. Only with the sweep lock held."""
    with db.read() as conn:
        left = list(conn.execute(select(gc_condemned.c.sha256)).scalars())
    removed = size = 0
    for sha in left:
        n = store.object_size(sha)
        if store.remove_object(sha):
            removed, size = removed + 1, size + (n or 0)
    _forget_condemned(db, left)
    if left:
        log.info("finished removing %d object(s) an interrupted gc condemned", len(left))
    return removed, size


def _referenced(conn: Connection, among: list[str] | None = None) -> set[str]:
    """Hashes the database references directly or pins (of `among` only, when given): run
    artifacts, the manifests and profiles of versions not purged, dataset profiles, pins."""
    columns = [
        (artifacts.c.sha256, None),
        (model_versions.c.bundle_sha256, model_versions.c.purged_at.is_(None)),
        (model_versions.c.profile_sha256, model_versions.c.purged_at.is_(None)),
        (datasets.c.profile_sha256, None),
        (store_pins.c.sha256, None),
    ]
    found: set[str] = set()
    for column, condition in columns:
        query = select(column).distinct().where(column.is_not(None))
        if condition is not None:
            query = query.where(condition)
        if among is None:
            found.update(conn.execute(query).scalars())
        else:
            for chunk in _chunks(among, _IN_CHUNK):
                found.update(conn.execute(query.where(column.in_(chunk))).scalars())
    return found


class GcMixin(RegistryBase):
    """Garbage collection of the artifact store (see the module's docstring)."""

    def gc(
        self,
        *,
        dry_run: bool = False,
        min_age: float = MIN_AGE_S,
        stale_after: float = STALE_TEMPORARY_S,
    ) -> GcReport:
        """Removes the objects of the artifact store that nothing references, older than
        `min_age` seconds; the temporary uploads, and marks KILLED the runs still RUNNING, that
        killed processes left (after `stale_after` seconds; on this host a run whose process
        is gone at once). Safe while other processes write: an object a writer stores or
        references meanwhile is never removed. With `dry_run`, nothing is changed and the
        report says what would be. One gc at a time: another one running is
        RegistryUnavailableError (after ``LOCK_WAIT_S``)."""
        for name, value in (("min_age", min_age), ("stale_after", stale_after)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise InvalidInputError(f"{name} must be a number of seconds >= 0, got {value!r}")
        started = time.monotonic()
        while True:
            with sweep_lock(self._db) as got:
                if got or dry_run:
                    return self._sweep(dry_run, float(min_age), float(stale_after), started)
            # A gc killed a moment ago holds the lock until its database session is gone.
            if time.monotonic() - started > LOCK_WAIT_S:
                raise RegistryUnavailableError(
                    f"another seawall gc is running on the registry {self._db.display}: "
                    "try again when it is over"
                )
            time.sleep(0.1)

    def _sweep(self, dry_run: bool, min_age: float, stale_after: float, started: float) -> GcReport:
        store = self.artifacts
        if dry_run:
            with self._db.read() as conn:
                resumed = len(list(conn.execute(select(gc_condemned.c.sha256)).scalars()))
            expired = self._expire_pins(dry_run=True)
        else:
            resumed = finish_removals(self._db, store)[0]
            expired = self._expire_pins(dry_run=False)
        listed_at = time.time()
        listing = {sha: (size, mtime) for sha, size, mtime in store.list_objects()}
        manifests: dict[str, list[str]] = {}
        with self._db.read() as conn:
            live = _referenced(conn) | self._manifest_files(conn, manifests)
        young = {
            s for s, (_, mtime) in listing.items() if s not in live and listed_at - mtime < min_age
        }
        candidates = sorted(s for s in listing if s not in live and s not in young)
        removed: list[str] = []
        removed_bytes = 0
        if dry_run:
            removed = candidates
            removed_bytes = sum(listing[s][0] for s in candidates)
        else:
            gc_id = uuid.uuid4().hex
            for batch in _chunks(candidates, BATCH):

                def condemn(conn: Connection, batch: list[str] = batch) -> list[str]:
                    return self._condemn(conn, batch, manifests, gc_id)

                condemned = self._db.write(condemn)
                fire("gc:condemned")
                for sha in condemned:
                    fire("gc:removing")
                    if store.remove_object(sha):
                        removed.append(sha)
                        removed_bytes += listing[sha][0]
                _forget_condemned(self._db, condemned)
        temporaries = store.clean_temporaries(stale_after, dry_run=dry_run)
        killed = _stale.mark_killed_runs(self._db, stale_after=stale_after, dry_run=dry_run)
        report = GcReport(
            dry_run=dry_run,
            objects=len(listing),
            live=sum(1 for s in listing if s in live),
            young=len(young),
            removed=len(removed),
            removed_bytes=removed_bytes,
            resumed=resumed,
            temporaries=len(temporaries),
            killed_runs=killed,
            expired_pins=expired,
            seconds=time.monotonic() - started,
            removed_objects=tuple(removed),
        )
        log.info("gc of %s: %s", store.uri, report.summary())
        return report

    def _condemn(
        self, conn: Connection, batch: list[str], manifests: dict[str, list[str]], gc_id: str
    ) -> list[str]:
        """Transaction C: the candidates of `batch` that are still not live, recorded as
        condemned."""
        if self._postgres:
            # Waits for the pins being inserted or deleted now, and holds back new ones until
            # this commits (see the module's docstring).
            conn.execute(text(f"LOCK TABLE {store_pins.name} IN SHARE MODE"))
        live = _referenced(conn, batch) | self._manifest_files(conn, manifests)
        condemned = [s for s in batch if s not in live]
        if condemned:
            now = time.time()
            conn.execute(
                gc_condemned.insert(),
                [{"sha256": s, "gc_id": gc_id, "at": now} for s in condemned],
            )
        fire("gc:checked")
        return condemned

    def _manifest_files(self, conn: Connection, manifests: dict[str, list[str]]) -> set[str]:
        """The files every version not purged lists in its manifest; `manifests` caches the
        manifests read (they never change). A manifest that cannot be read stops the sweep."""
        registry = cast("Registry", self)  # the parts of a registry only ever run in one
        files: set[str] = set()
        rows = conn.execute(
            select(model_versions.c.bundle_sha256)
            .distinct()
            .where(model_versions.c.purged_at.is_(None))
        ).scalars()
        for sha in rows:
            if sha not in manifests:
                try:
                    manifests[sha] = [f["sha256"] for f in registry._manifest(sha)]
                except (IntegrityError, NotFoundError) as exc:
                    raise IntegrityError(
                        f"gc stopped, removing nothing more: the bundle manifest {sha} of "
                        f"{', '.join(self._versions_of(conn, sha))} cannot be read ({exc}), so "
                        "the files it lists are unknown; delete and purge that version if its "
                        "bundle is lost"
                    ) from None
            files.update(manifests[sha])
        return files

    @staticmethod
    def _versions_of(conn: Connection, bundle_sha: str) -> Iterable[str]:
        rows = conn.execute(
            select(models.c.name, model_versions.c.version)
            .join(models, models.c.id == model_versions.c.model_id)
            .where(model_versions.c.bundle_sha256 == bundle_sha)
        ).all()
        return [f"models:/{name}/{version}" for name, version in rows]

    def _expire_pins(self, dry_run: bool) -> int:
        """Deletes the pins older than STALE_PIN_S (their writers died); returns how many."""
        cutoff = time.time() - STALE_PIN_S
        stale = store_pins.c.created_at < cutoff
        if dry_run:
            with self._db.read() as conn:
                return len(list(conn.execute(select(store_pins.c.id).where(stale)).scalars()))
        return int(
            self._db.write(lambda conn: conn.execute(delete(store_pins).where(stale)).rowcount)
        )
