"""Schema migrations, run programmatically with Alembic from the scripts inside the package.

Opening a registry brings its database to the newest revision: a new database is created, an
older one is upgraded in place, in one transaction (SQLite and PostgreSQL both have
transactional DDL), under a lock so that processes opening the same registry at once migrate it
exactly once. A database written by a newer seawall is refused rather than misread. A reader
(``create=False``) upgrades an older registry too, but never creates one.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from ..errors import NotFoundError, UnsupportedVersionError
from ._db import Database
from ._schema import metadata

# Our own version table, so a database shared with another Alembic-managed app does not clash.
VERSION_TABLE = "seawall_schema_version"
# pg_advisory_xact_lock key: "seawall" in ASCII, so migrations of one database serialize.
_PG_LOCK_KEY = 0x73656177616C6C


@cache
def _scripts() -> tuple[Config, ScriptDirectory]:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return config, ScriptDirectory.from_config(config)


def head_revision() -> str:
    head = _scripts()[1].get_current_head()
    assert head is not None
    return head


def revisions() -> list[str]:
    """Every revision, oldest first."""
    return [s.revision for s in reversed(list(_scripts()[1].walk_revisions()))]


def current_revision(conn: Connection) -> str | None:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _check_known(revision: str | None) -> None:
    if revision is not None and revision not in revisions():
        raise UnsupportedVersionError(
            f"the registry database is at schema revision {revision!r}, which this seawall does "
            f"not know (it knows up to {head_revision()!r}): it was written by a newer seawall; "
            "upgrade seawall to open it"
        )


def upgrade(db: Database, target: str = "head", *, create: bool = True) -> str:
    """Brings the database to `target` (default: the newest revision); returns the revision.
    With ``create=False`` a database that holds no registry yet is NotFoundError."""
    goal = head_revision() if target == "head" else target
    if goal not in revisions():
        raise UnsupportedVersionError(f"unknown schema revision {target!r}")
    with db.read() as conn:
        now = current_revision(conn)
    if now is None and not create:
        raise NotFoundError(
            f"no registry at {db.display}: it holds no seawall registry (create one with "
            f"seawall.Registry({db.display!r}) in Python, or check the URI)"
        )
    _check_known(now)
    if now == goal:
        return goal

    def migrate(conn: Connection) -> str:
        if db.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        return _upgrade_in(conn, goal)

    return db.write(migrate)


def _upgrade_in(conn: Connection, goal: str) -> str:
    """Runs the missing migrations on `conn`, inside the caller's transaction."""
    now = current_revision(conn)  # again, under the lock: another process may have done it
    _check_known(now)
    if now == goal:
        return goal
    order = revisions()
    if now is not None and order.index(now) > order.index(goal):
        raise UnsupportedVersionError(
            f"the registry database is at revision {now!r}, newer than {goal!r}; "
            "seawall does not downgrade"
        )
    config, script = _scripts()

    def steps(rev: Any, _context: Any) -> Any:
        return script._upgrade_revs(goal, rev)

    with EnvironmentContext(config, script, fn=steps, destination_rev=goal) as env:
        env.configure(
            connection=conn,
            target_metadata=metadata,
            version_table=VERSION_TABLE,
            transactional_ddl=True,
        )
        with env.begin_transaction():
            env.run_migrations()
    return goal
