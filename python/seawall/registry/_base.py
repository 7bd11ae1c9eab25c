"""The database and the artifact store that every part of a registry shares, with the lookups
between the parts: an experiment or run by name or id, a model version by number, alias or URI."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from ..errors import InvalidInputError, NotFoundError, RunClosedError, StorageError
from . import _checks as checks
from . import _migrate, _stale
from . import _tombstones as tombstones
from ._db import Database, seawall_home
from ._entities import DatasetInput, ModelVersion
from ._run import RUNNING, Run
from ._schema import (
    aliases,
    datasets,
    experiments,
    latest_metrics,
    model_version_tags,
    model_versions,
    models,
    params,
    run_inputs,
    runs,
    tags,
)
from ._store import ArtifactStore

if TYPE_CHECKING:
    from ._pins import Pins
    from ._registry import Registry

log = logging.getLogger("seawall.registry")


# A run's params, newest metrics and tags, for a list of run keys: built once (making an IN
# of a thousand literals for each search cost more than running it).
_RUN_VALUES = [
    select(table.c.run_id, table.c.key, table.c.value).where(
        table.c.run_id.in_(bindparam("pks", expanding=True))
    )
    for table in (params, latest_metrics, tags)
]


class RegistryBase:
    """What the parts of :class:`Registry` share: the database, the artifact store and the lookups."""

    def __init__(
        self,
        uri: str | os.PathLike[str] | None = None,
        artifacts: str | os.PathLike[str] | None = None,
        *,
        cache: str | os.PathLike[str] | None = None,
        create: bool = True,
    ) -> None:
        self._db = Database(uri, create=create)
        _migrate.upgrade(self._db, create=create)
        self.artifacts = ArtifactStore(artifacts, create=create)
        self._heartbeat = _stale.Heartbeat(self._db)
        self._clean_up()
        self._cache = Path(cache) if cache is not None else seawall_home() / "cache"
        self._postgres = self._db.dialect == "postgresql"
        # The driver's placeholders for the five columns of a metric row.
        style = self._db.engine.dialect.paramstyle
        self._marks = ", ".join(["?" if style == "qmark" else "%s"] * 5)

    def _clean_up(self) -> None:
        """Tidies what killed processes left: runs still RUNNING whose process is gone become
        KILLED, and old temporary uploads nothing holds are removed. Never fails the open."""
        try:
            _stale.mark_killed_runs(self._db)
        except StorageError as exc:  # a read-only database, a long writer: next time
            log.debug("could not mark killed runs in %s: %s", self._db.display, exc)
        removed = self.artifacts.clean_temporaries()
        if removed:
            log.info(
                "removed %d stale temporary upload(s) from %s", len(removed), self.artifacts.uri
            )

    @property
    def uri(self) -> str:
        return self._db.engine.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Registry({self.uri!r}, artifacts={self.artifacts.uri!r})"

    def close(self) -> None:
        """Closes the database connections (the registry reconnects if used again)."""
        self._db.dispose()

    def _pins(self) -> Pins:
        """Pins for one write: the objects it stores, held against gc until its references
        commit (see ``_pins``)."""
        from ._pins import Pins  # (it imports the gc module, which imports this one)

        return Pins(self._db, self.artifacts)

    def _insert(self, table: Any) -> Any:
        return (pg_dialect if self._postgres else sqlite_dialect).insert(table)

    def _experiment_id(self, conn: Connection, name: str, create: bool) -> int:
        query = select(experiments.c.id, experiments.c.deleted_at, experiments.c.purged_at)
        query = query.where(experiments.c.name == name)
        # FOR SHARE when a run is made in it: a delete or purge of the experiment waits.
        found = conn.execute(query.with_for_update(read=True) if create else query).first()
        if found is not None:
            if found.deleted_at is None:
                return int(found.id)
            if not (create and found.purged_at is not None):
                raise tombstones.experiment_deleted(name, found.purged_at is not None)
            # A purged experiment's name is free again: the new runs go in its row.
            conn.execute(
                update(experiments)
                .where(experiments.c.id == found.id)
                .values(deleted_at=None, purged_at=None)
            )
            return int(found.id)
        if not create:
            raise NotFoundError(f"no experiment named {name!r}")
        conn.execute(
            self._insert(experiments)
            .values(name=name, created_at=time.time())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return int(
            conn.execute(select(experiments.c.id).where(experiments.c.name == name)).scalar_one()
        )

    def _model_id(
        self, conn: Connection, name: str, lock: bool = False, deleted_ok: bool = False
    ) -> int:
        query = select(models.c.id, models.c.deleted_at, models.c.purged_at)
        query = query.where(models.c.name == name)
        if lock:
            query = query.with_for_update()
        found = conn.execute(query).first()
        if found is None:
            raise NotFoundError(f"no model named {name!r}")
        if found.deleted_at is not None and not deleted_ok:
            raise tombstones.model_deleted(name, found.purged_at is not None)
        return int(found.id)

    def _run_pk(self, conn: Connection, run_id: str) -> int:
        found = conn.execute(tombstones.run_state().where(runs.c.uuid == run_id)).first()
        if found is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        tombstones.check_live_run(found)
        return int(found.id)

    def _require_running(self, conn: Connection, run: Run) -> None:
        # FOR SHARE on PostgreSQL: an end_run racing with this write waits for it, or this
        # write sees the run ended. SQLite's BEGIN IMMEDIATE already serializes writers.
        row = conn.execute(
            select(runs.c.uuid, runs.c.status, runs.c.deleted_at, runs.c.purged_at)
            .where(runs.c.id == run._pk)
            .with_for_update(read=True)
        ).first()
        if row is None:
            raise NotFoundError(f"no run with id {run.id!r}")
        tombstones.check_live_run(row)
        status = row.status
        if status != RUNNING:
            run.status = status
            raise RunClosedError(f"run {run.id} has ended ({status}): it takes no more writes")

    def _runs(self, conn: Connection, rows: Sequence[Any]) -> list[Run]:
        """Run handles, with their params, newest metrics and tags, for rows of `runs`."""
        pks = [r.id for r in rows]
        loaded: dict[int, tuple[dict[str, str], dict[str, float], dict[str, str]]] = {
            pk: ({}, {}, {}) for pk in pks
        }
        for start in range(0, len(pks), 5000):
            part = pks[start : start + 5000]
            for slot, query in enumerate(_RUN_VALUES):
                # Fetched at once: row-by-row fetching cost more than the query itself.
                for pk, key, value in conn.execute(query, {"pks": part}).all():
                    loaded[pk][slot][key] = value
        names = dict(conn.execute(select(experiments.c.id, experiments.c.name)).all())
        return [
            Run(
                cast("Registry", self),  # the parts of a registry only ever run in one
                r.id,
                r.uuid,
                names[r.experiment_id],
                r.name,
                r.status,
                r.start_time,
                r.end_time,
                *loaded[r.id],
                actor=r.actor,
            )
            for r in rows
        ]

    def _inputs(self, conn: Connection, run_pk: int) -> list[DatasetInput]:
        rows = conn.execute(
            select(datasets, run_inputs.c.context)
            .join(run_inputs, run_inputs.c.dataset_id == datasets.c.id)
            .where(run_inputs.c.run_id == run_pk)
            .order_by(run_inputs.c.context, datasets.c.id)
        ).all()
        return [
            DatasetInput(
                r.fingerprint,
                r.name,
                json.loads(r.schema),
                r.num_rows,
                r.profile_sha256,
                r.source,
                r.context,
            )
            for r in rows
        ]

    def _version_row(self, conn: Connection, ref: checks.ModelRef, deleted_ok: bool = False) -> Any:
        """The version's row; a deleted model or version is DeletedError unless `deleted_ok`
        (lineage and the audit still show them). "latest" is the newest version not deleted."""
        model_pk = self._model_id(conn, ref.name, deleted_ok=deleted_ok)
        query = select(model_versions).where(model_versions.c.model_id == model_pk)
        if ref.alias is not None:
            row = conn.execute(
                query.join(aliases, aliases.c.version_id == model_versions.c.id).where(
                    aliases.c.alias == ref.alias
                )
            ).first()
            if row is None:
                known = conn.execute(
                    select(aliases.c.alias).where(aliases.c.model_id == model_pk)
                ).scalars()
                raise NotFoundError(
                    f"model {ref.name!r} has no alias {ref.alias!r} "
                    f"(aliases: {', '.join(sorted(known)) or 'none'})"
                )
            return row
        if ref.version is None:
            row = conn.execute(
                query.where(tombstones.live(model_versions))
                .order_by(model_versions.c.version.desc())
                .limit(1)
            ).first()
            if row is None:
                raise NotFoundError(f"model {ref.name!r} has no versions (none not deleted)")
            return row
        row = conn.execute(query.where(model_versions.c.version == ref.version)).first()
        if row is not None and row.deleted_at is not None and not deleted_ok:
            raise tombstones.version_deleted(ref.name, row.version, row.purged_at is not None)
        if row is None:
            last = conn.execute(
                select(func.max(model_versions.c.version)).where(
                    model_versions.c.model_id == model_pk
                )
            ).scalar()
            have = f"versions 1 to {last}" if last else "no versions"
            raise NotFoundError(f"model {ref.name!r} has no version {ref.version} (it has {have})")
        return row

    def _ref(self, model: str, version: int | str | None) -> checks.ModelRef:
        """A reference from (name, version), (name, "alias"), (name, "latest") or a URI."""
        if version is None:
            if isinstance(model, str) and model.startswith("models:/"):
                return checks.parse_model_uri(model)
            raise InvalidInputError(
                f"name a version: ({model!r}, 3), ({model!r}, 'champion') or models:/{model}/3"
            )
        checks.check_name(model, "model name")
        if isinstance(version, str) and not version.isdigit():
            if version == "latest":
                return checks.ModelRef(model)
            return checks.ModelRef(model, alias=checks.check_alias(version))
        return checks.ModelRef(model, version=checks.check_version(version))

    def _model_version(self, conn: Connection, row: Any) -> ModelVersion:
        return self._model_versions(conn, [row])[0]

    def _model_versions(self, conn: Connection, rows: Sequence[Any]) -> list[ModelVersion]:
        """Rows of model_versions as records: their models, runs, tags and aliases read in a
        few queries for all of them (not a few per row)."""
        names: dict[int, str] = {}
        run_ids: dict[int, str] = {}
        version_tags: dict[int, dict[str, str]] = {r.id: {} for r in rows}
        named: dict[int, list[str]] = {r.id: [] for r in rows}
        for part in _chunks(rows):
            model_ids = {r.model_id for r in part}
            names.update(
                conn.execute(
                    select(models.c.id, models.c.name).where(models.c.id.in_(model_ids))
                ).all()
            )
            run_pks = {r.run_id for r in part if r.run_id is not None}
            if run_pks:
                run_ids.update(
                    conn.execute(select(runs.c.id, runs.c.uuid).where(runs.c.id.in_(run_pks))).all()
                )
            ids = [r.id for r in part]
            for version_id, key, value in conn.execute(
                select(
                    model_version_tags.c.version_id,
                    model_version_tags.c.key,
                    model_version_tags.c.value,
                ).where(model_version_tags.c.version_id.in_(ids))
            ):
                version_tags[version_id][key] = value
            for version_id, alias in conn.execute(
                select(aliases.c.version_id, aliases.c.alias)
                .where(aliases.c.version_id.in_(ids))
                .order_by(aliases.c.alias)
            ):
                named[version_id].append(alias)
        return [
            ModelVersion(
                names[row.model_id],
                row.version,
                run_ids.get(row.run_id) if row.run_id is not None else None,
                row.bundle_sha256,
                row.profile_sha256,
                row.description,
                row.created_at,
                version_tags[row.id],
                tuple(named[row.id]),
                row.actor,
            )
            for row in rows
        ]

    def get_model_version(self, model: str, version: int | str | None = None) -> ModelVersion:
        """A version by number, alias or "latest": ``("churn", 3)``, ``("churn", "champion")``,
        or a URI, ``get_model_version("models:/churn@champion")``."""
        ref = self._ref(model, version)
        with self._db.read() as conn:
            return self._model_version(conn, self._version_row(conn, ref))

    def resolve(self, uri: str) -> ModelVersion:
        """The version a ``models:/name/3``, ``models:/name/latest`` or ``models:/name@alias``
        URI points to now."""
        return self.get_model_version(uri)


_CHUNK = 5000  # ids in one IN list, well below SQLite's and PostgreSQL's bound parameters


def _chunks(rows: Sequence[Any]) -> list[Sequence[Any]]:
    return [rows[i : i + _CHUNK] for i in range(0, len(rows), _CHUNK)]
