"""Runs left RUNNING by processes that were killed: who runs a run, whether that process still
lives, the heartbeat that says so across machines, and the sweep that marks the dead ones KILLED.

Each run records the process that started it: its host (the machine, and on Linux its boot and
pid namespace, so that two containers or two boots never look like one), its pid and its start
time. While a process has runs going, a daemon thread updates their ``heartbeat_at`` every
``HEARTBEAT_S`` seconds. Opening a registry marks a RUNNING run KILLED when

* it was started on this host and its process is gone (no such pid, or the pid now belongs to a
  process started at another time), or
* it was started on another host and its heartbeat is older than ``STALE_RUN_S``.

A live run is never marked: on this host its process is checked directly, elsewhere its
heartbeat is fresh. Runs from before these columns existed (no host) are left as they are.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, and_, func, select, update

from ..errors import InvalidInputError
from ._run import KILLED, RUNNING
from ._schema import runs

if TYPE_CHECKING:
    from ._db import Database

# How often a process with running runs updates their heartbeat, and how old the heartbeat of a
# run from another host must be before the run counts as killed (seconds).
HEARTBEAT_S = 60.0
STALE_RUN_S = 3600.0

log = logging.getLogger("seawall.registry")


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


@cache
def this_host() -> str:
    """Where this process runs: the host name, and on Linux the boot and the pid namespace (pids
    mean the same process only within one of each)."""
    name = socket.gethostname()
    boot = _read("/proc/sys/kernel/random/boot_id")
    if boot is None:
        return name
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return f"{name}/{boot}/{namespace}"


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, Linux), None where unknown or gone."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    try:
        # Field 22; the name (field 2) is in parentheses and may hold spaces.
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def this_process() -> tuple[str, int, int | None]:
    """(host, pid, start) of this process, as a run records them."""
    return this_host(), os.getpid(), process_start(os.getpid())


def check_process(process: Any) -> tuple[str, int, int | None]:
    """(host, pid, start) as :func:`this_process` gives them (one that came over the network)."""
    try:
        host, pid, start = process
    except (TypeError, ValueError):
        raise InvalidInputError(f"a process is [host, pid, start], got {process!r}") from None
    ok = (
        isinstance(host, str)
        and 0 < len(host) <= 255
        and isinstance(pid, int)
        and not isinstance(pid, bool)
        and 0 < pid < 2**31
        and (
            start is None or (isinstance(start, int) and not isinstance(start, bool) and start >= 0)
        )
    )
    if not ok:
        raise InvalidInputError(f"a process is [host, pid, start], got {process!r}")
    return host, pid, start


def is_gone(pid: int, start: int | None) -> bool:
    """Whether process `pid` of this host, started at `start`, is certainly gone."""
    if sys.platform.startswith("linux") and start is not None:
        return process_start(pid) != start  # gone, or the pid now names another process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by someone else
        return False
    return False


def mark_killed_runs(db: Database, stale_after: float = STALE_RUN_S, dry_run: bool = False) -> int:
    """Marks KILLED the RUNNING runs whose process is gone (elsewhere: whose heartbeat is older
    than `stale_after` seconds); returns how many (with `dry_run`, how many it would mark,
    marking none). The run's end time is its last heartbeat (its last sign of life)."""
    host = this_host()
    now = time.time()
    with db.read() as conn:
        mine = conn.execute(
            select(runs.c.id, runs.c.pid, runs.c.pid_start).where(
                runs.c.status == RUNNING, runs.c.host == host
            )
        ).all()
        elsewhere = conn.execute(
            select(func.count()).where(_stale_elsewhere(host, now - stale_after))
        ).scalar_one()
    dead = [r.id for r in mine if r.pid is not None and is_gone(r.pid, r.pid_start)]
    if dry_run:
        return len(dead) + int(elsewhere)
    if not dead and not elsewhere:
        return 0

    def tx(conn: Connection) -> int:
        ended = {"status": KILLED, "end_time": runs.c.heartbeat_at}
        count = 0
        for start in range(0, len(dead), 500):
            count += conn.execute(
                update(runs)
                .where(runs.c.id.in_(dead[start : start + 500]), runs.c.status == RUNNING)
                .values(ended)
            ).rowcount
        # Checked again here, in the transaction: a heartbeat that came since is not stale.
        count += conn.execute(
            update(runs).where(_stale_elsewhere(host, now - stale_after)).values(ended)
        ).rowcount
        return count

    killed = db.write(tx)
    if killed:
        log.info("marked %d run(s) KILLED: their processes are gone", killed)
    return killed


def _stale_elsewhere(host: str, cutoff: float) -> ColumnElement[bool]:
    """RUNNING runs of other hosts whose heartbeat stopped before `cutoff`."""
    return and_(
        runs.c.status == RUNNING,
        runs.c.host.is_not(None),
        runs.c.host != host,
        runs.c.heartbeat_at < cutoff,
    )


class Heartbeat:
    """Keeps ``heartbeat_at`` of the runs this process started, and has not ended, current:
    from a daemon thread that runs while there is one, every ``HEARTBEAT_S`` seconds.

    The runs are keys of `owner`'s (a Database's row ids by default), and each beat is
    ``beat(owner, keys)`` (a client of a registry server sends its run ids there instead)."""

    def __init__(self, owner: Any, beat: Callable[[Any, list[Any]], None] | None = None) -> None:
        self._owner = weakref.ref(owner)  # the thread ends with the registry
        self._send = beat if beat is not None else _beat_in_database
        self._lock = threading.Lock()
        self._runs: set[Any] = set()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def add(self, run: Any) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: its parent's thread is not here
                self._pid, self._runs, self._thread = os.getpid(), set(), None
            self._runs.add(run)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._beat, name="seawall-run-heartbeat", daemon=True
                )
                self._thread.start()

    def discard(self, run: Any) -> None:
        with self._lock:
            self._runs.discard(run)

    def _beat(self) -> None:
        while True:
            time.sleep(HEARTBEAT_S)
            with self._lock:
                keys = sorted(self._runs)
                owner = self._owner()
                if not keys or owner is None:
                    self._thread = None
                    return
            try:
                self._send(owner, keys)
            except Exception as exc:  # the next beat tries again; a run is not lost for one
                log.debug("run heartbeat failed: %s", exc)
            del owner


def _beat_in_database(db: Database, pks: list[int]) -> None:
    def beat(conn: Connection) -> None:
        conn.execute(
            update(runs)
            .where(runs.c.id.in_(pks), runs.c.status == RUNNING)
            .values(heartbeat_at=time.time())
        )

    db.write(beat)
