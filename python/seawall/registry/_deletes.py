"""Deleting experiments, runs, models, versions and aliases: softly first, then permanently.

A soft delete (``delete_*``) hides the thing from lists, searches and lookups, which raise
:class:`~seawall.errors.DeletedError` saying how to ``restore_*`` it; what it holds stays, so
its artifacts are still live for ``gc``. A permanent delete (``purge_*``, of something deleted
first) removes what it held (a run's params, metrics, tags and artifacts; a version's tags;
their stored bytes go at the next ``gc``) but keeps its row as a tombstone, so that lineage and
the alias audit go on naming it, marked deleted. A purged experiment's or model's name may be
used again (the model's version numbers go on from the last one; a number never names two
bundles). Deleting an experiment hides its runs; deleting a model hides its versions.

A version an alias points to cannot be deleted, nor a model with aliases: move or delete the
aliases first. Deleting an alias is recorded in the alias audit (who, when, why), and
``restore_alias`` points it back at the version it had. Every delete, restore and purge is
recorded in ``deletions`` (:meth:`DeletesMixin.deletion_history`).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, Table, delete, select, update

from ..errors import InvalidInputError, NotFoundError
from . import _checks as checks
from . import _tombstones as tombstones
from ._actor import current_actor
from ._aliases import AliasesMixin
from ._base import RegistryBase
from ._entities import AliasEvent, Deletion
from ._schema import (
    alias_events,
    aliases,
    artifacts,
    deletions,
    experiments,
    latest_metrics,
    metrics,
    model_tags,
    model_version_tags,
    model_versions,
    models,
    params,
    runs,
    tags,
)
from ._store import fire
from .events._outbox import alias_moved, write_event

EXPERIMENT, RUN, MODEL, VERSION = "experiment", "run", "model", "version"
DELETE, RESTORE, PURGE = "delete", "restore", "purge"
_RUN_ROWS: tuple[Table, ...] = (params, tags, metrics, latest_metrics, artifacts)


def _check_reason(reason: Any) -> None:
    if reason is not None and not isinstance(reason, str):
        raise InvalidInputError(f"reason must be a string, got {type(reason).__name__}")


class DeletesMixin(RegistryBase):
    """Delete, restore and purge (see the module's docstring)."""

    # --- experiments ------------------------------------------------------------------------

    def delete_experiment(self, name: str, reason: str | None = None) -> Deletion:
        """Deletes an experiment softly: it and its runs are hidden until restored."""
        return self._change(EXPERIMENT, name, DELETE, reason, self._experiment_change)

    def restore_experiment(self, name: str, reason: str | None = None) -> Deletion:
        return self._change(EXPERIMENT, name, RESTORE, reason, self._experiment_change)

    def purge_experiment(self, name: str, reason: str | None = None) -> Deletion:
        """Deletes a deleted experiment permanently, with every run in it (see purge_run)."""
        return self._change(EXPERIMENT, name, PURGE, reason, self._experiment_change)

    def _experiment_change(self, conn: Connection, name: str, action: str, now: float) -> str:
        checks.check_name(name, "experiment name")
        row = conn.execute(
            select(experiments).where(experiments.c.name == name).with_for_update()
        ).first()
        if row is None:
            raise NotFoundError(f"no experiment named {name!r}")
        self._check_state(
            row, action, f"experiment {name!r}", lambda p: tombstones.experiment_deleted(name, p)
        )
        if action == PURGE:
            pks = list(
                conn.execute(
                    select(runs.c.id).where(
                        runs.c.experiment_id == row.id, runs.c.purged_at.is_(None)
                    )
                ).scalars()
            )
            self._purge_runs(conn, pks, now)
        self._set_state(conn, experiments, row.id, action, now)
        return f"experiment:{name}"

    # --- runs -------------------------------------------------------------------------------

    def delete_run(self, run_id: str, reason: str | None = None) -> Deletion:
        """Deletes a run softly: hidden from searches and lookups until restored."""
        return self._change(RUN, run_id, DELETE, reason, self._run_change)

    def restore_run(self, run_id: str, reason: str | None = None) -> Deletion:
        return self._change(RUN, run_id, RESTORE, reason, self._run_change)

    def purge_run(self, run_id: str, reason: str | None = None) -> Deletion:
        """Deletes a deleted run permanently: its params, metrics, tags and artifacts go (the
        artifacts' bytes at the next gc); the run stays in lineage, with its input datasets,
        marked purged."""
        return self._change(RUN, run_id, PURGE, reason, self._run_change)

    def _run_change(self, conn: Connection, run_id: str, action: str, now: float) -> str:
        checks.check_run_id(run_id)
        row = conn.execute(
            tombstones.run_state().where(runs.c.uuid == run_id).with_for_update(of=runs)
        ).first()
        if row is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        if row.experiment_deleted_at is not None and action != PURGE:
            # Its experiment hides it: that is what to restore (or purge).
            raise tombstones.run_deleted(run_id, False, row.experiment)
        self._check_state(row, action, f"run {run_id}", lambda p: tombstones.run_deleted(run_id, p))
        if action == PURGE:
            self._purge_runs(conn, [row.id], now)
        else:
            self._set_state(conn, runs, row.id, action, now)
        return f"run:{run_id}"

    def _purge_runs(self, conn: Connection, pks: list[int], now: float) -> None:
        for start in range(0, len(pks), 500):
            chunk = pks[start : start + 500]
            for table in _RUN_ROWS:
                conn.execute(delete(table).where(table.c.run_id.in_(chunk)))
            conn.execute(
                update(runs)
                .where(runs.c.id.in_(chunk), runs.c.deleted_at.is_(None))
                .values(deleted_at=now)
            )
            conn.execute(update(runs).where(runs.c.id.in_(chunk)).values(purged_at=now))

    # --- models and versions ----------------------------------------------------------------

    def delete_model(self, name: str, reason: str | None = None) -> Deletion:
        """Deletes a model softly, with its versions; refused while it has aliases."""
        return self._change(MODEL, name, DELETE, reason, self._model_change)

    def restore_model(self, name: str, reason: str | None = None) -> Deletion:
        return self._change(MODEL, name, RESTORE, reason, self._model_change)

    def purge_model(self, name: str, reason: str | None = None) -> Deletion:
        """Deletes a deleted model permanently, with every version (see purge_model_version)
        and its tags; its alias audit and lineage stay."""
        return self._change(MODEL, name, PURGE, reason, self._model_change)

    def _model_change(self, conn: Connection, name: str, action: str, now: float) -> str:
        checks.check_name(name, "model name")
        row = conn.execute(select(models).where(models.c.name == name).with_for_update()).first()
        if row is None:
            raise NotFoundError(f"no model named {name!r}")
        self._check_state(
            row, action, f"model {name!r}", lambda p: tombstones.model_deleted(name, p)
        )
        if action == DELETE:
            self._refuse_aliased(conn, row.id, f"model {name!r}", None)
        if action == PURGE:
            pks = list(
                conn.execute(
                    select(model_versions.c.id).where(
                        model_versions.c.model_id == row.id, model_versions.c.purged_at.is_(None)
                    )
                ).scalars()
            )
            self._purge_versions(conn, pks, now)
            conn.execute(delete(model_tags).where(model_tags.c.model_id == row.id))
        self._set_state(conn, models, row.id, action, now)
        return f"model:{name}"

    def delete_model_version(
        self, model: str, version: int | str | None = None, reason: str | None = None
    ) -> Deletion:
        """Deletes a version softly: ``("churn", 3)`` or ``("models:/churn/3")``. Refused while
        an alias points to it (the error names the aliases)."""
        ref = self._version_ref(model, version)
        return self._change(VERSION, ref, DELETE, reason, self._version_change)

    def restore_model_version(
        self, model: str, version: int | str | None = None, reason: str | None = None
    ) -> Deletion:
        ref = self._version_ref(model, version)
        return self._change(VERSION, ref, RESTORE, reason, self._version_change)

    def purge_model_version(
        self, model: str, version: int | str | None = None, reason: str | None = None
    ) -> Deletion:
        """Deletes a deleted version permanently: its tags go, and its bundle's bytes at the
        next gc (unless another version holds the same files); its number is never reused,
        and the alias audit, deployments and lineage keep naming it, marked purged."""
        ref = self._version_ref(model, version)
        return self._change(VERSION, ref, PURGE, reason, self._version_change)

    def _version_ref(self, model: str, version: int | str | None) -> checks.ModelRef:
        ref = self._ref(model, version)
        if ref.version is None:
            raise InvalidInputError(
                f"name the version by its number (models:/{ref.name}/3), not {ref.uri}"
                + (": an aliased version cannot be deleted" if ref.alias else "")
            )
        return ref

    def _version_change(
        self, conn: Connection, ref: checks.ModelRef, action: str, now: float
    ) -> str:
        # The model's row lock orders this with alias moves and registrations of the model.
        model_pk = self._model_id(conn, ref.name, lock=True, deleted_ok=action == PURGE)
        row = conn.execute(
            select(model_versions).where(
                model_versions.c.model_id == model_pk, model_versions.c.version == ref.version
            )
        ).first()
        if row is None:
            raise NotFoundError(f"model {ref.name!r} has no version {ref.version}")
        uri = f"models:/{ref.name}/{ref.version}"
        self._check_state(
            row, action, uri, lambda p: tombstones.version_deleted(ref.name, row.version, p)
        )
        if action == DELETE:
            self._refuse_aliased(conn, model_pk, uri, row.id)
            fire("delete:checked")
        if action == PURGE:
            self._purge_versions(conn, [row.id], now)
        else:
            self._set_state(conn, model_versions, row.id, action, now)
        return uri

    def _purge_versions(self, conn: Connection, pks: list[int], now: float) -> None:
        for start in range(0, len(pks), 500):
            chunk = pks[start : start + 500]
            conn.execute(
                delete(model_version_tags).where(model_version_tags.c.version_id.in_(chunk))
            )
            conn.execute(
                update(model_versions)
                .where(model_versions.c.id.in_(chunk), model_versions.c.deleted_at.is_(None))
                .values(deleted_at=now)
            )
            conn.execute(
                update(model_versions).where(model_versions.c.id.in_(chunk)).values(purged_at=now)
            )

    @staticmethod
    def _refuse_aliased(conn: Connection, model_pk: int, what: str, version_pk: int | None) -> None:
        query = (
            select(aliases.c.alias, model_versions.c.version)
            .join(model_versions, model_versions.c.id == aliases.c.version_id)
            .where(aliases.c.model_id == model_pk)
            .order_by(aliases.c.alias)
        )
        if version_pk is not None:
            query = query.where(aliases.c.version_id == version_pk)
        held = conn.execute(query).all()
        if held:
            names = ", ".join(f"@{alias} (version {v})" for alias, v in held)
            raise InvalidInputError(
                f"{what} cannot be deleted while aliases point to it: {names}; move them "
                "(set_alias) or delete them (delete_alias) first"
            )

    # --- aliases ----------------------------------------------------------------------------

    def restore_alias(self, model: str, alias: str, reason: str | None = None) -> AliasEvent:
        """Points a deleted alias back at the version it had when it was deleted (which must
        not be deleted itself), recording the move in the alias audit."""
        checks.check_name(model, "model name")
        checks.check_alias(alias)
        _check_reason(reason)

        def tx(conn: Connection) -> AliasEvent:
            model_pk = self._model_id(conn, model, lock=True)
            current = conn.execute(
                select(aliases.c.version_id).where(
                    aliases.c.model_id == model_pk, aliases.c.alias == alias
                )
            ).first()
            if current is not None:
                raise InvalidInputError(f"alias {model}@{alias} is not deleted")
            last = conn.execute(
                select(alias_events)
                .where(alias_events.c.model_id == model_pk, alias_events.c.alias == alias)
                .order_by(alias_events.c.id.desc())
                .limit(1)
            ).first()
            if last is None or last.previous_version is None:
                raise NotFoundError(f"model {model!r} never had an alias {alias!r}")
            target = self._version_row(conn, checks.ModelRef(model, last.previous_version))
            now = time.time()
            conn.execute(
                aliases.insert().values(
                    model_id=model_pk, alias=alias, version_id=target.id, updated_at=now
                )
            )
            event = AliasEvent(
                model, alias, target.version, None, reason or "restored", current_actor(self), now
            )
            # the audit row and the "alias set" event, in this transaction
            write_event(conn, alias_moved(AliasesMixin._audit(conn, model_pk, event), event))
            conn.execute(update(models).where(models.c.id == model_pk).values(updated_at=now))
            return event

        return self._db.write(tx)

    # --- the audit and the trash ------------------------------------------------------------

    def deletion_history(self, target: str | None = None) -> list[Deletion]:
        """Every delete, restore and purge (of one target, e.g. ``"run:<id>"``,
        ``"models:/churn/3"``, ``"model:churn"``, ``"experiment:fraud"``), oldest first."""
        with self._db.read() as conn:
            query = select(deletions).order_by(deletions.c.id)
            if target is not None:
                query = query.where(deletions.c.target == target)
            rows = conn.execute(query).all()
        return [Deletion(r.kind, r.target, r.action, r.reason, r.actor, r.at) for r in rows]

    def trash(self) -> list[Deletion]:
        """What is deleted and can still be restored: the delete record of each, newest first."""
        with self._db.read() as conn:
            targets = [
                f"experiment:{n}" for n in self._in_trash(conn, experiments, experiments.c.name)
            ]
            targets += [f"run:{u}" for u in self._in_trash(conn, runs, runs.c.uuid)]
            targets += [f"model:{n}" for n in self._in_trash(conn, models, models.c.name)]
            targets += [
                f"models:/{name}/{version}"
                for name, version in conn.execute(
                    select(models.c.name, model_versions.c.version)
                    .join(models, models.c.id == model_versions.c.model_id)
                    .where(
                        model_versions.c.deleted_at.is_not(None),
                        model_versions.c.purged_at.is_(None),
                    )
                ).all()
            ]
            found: list[Any] = []
            for start in range(0, len(targets), 500):
                rows = conn.execute(
                    select(deletions)
                    .where(
                        deletions.c.target.in_(targets[start : start + 500]),
                        deletions.c.action == DELETE,
                    )
                    .order_by(deletions.c.id)
                ).all()
                latest = {r.target: r for r in rows}  # the last delete of each
                found += latest.values()
        found.sort(key=lambda r: r.id, reverse=True)
        return [Deletion(r.kind, r.target, r.action, r.reason, r.actor, r.at) for r in found]

    @staticmethod
    def _in_trash(conn: Connection, table: Table, column: Any) -> list[Any]:
        return list(
            conn.execute(
                select(column).where(table.c.deleted_at.is_not(None), table.c.purged_at.is_(None))
            ).scalars()
        )

    # --- shared -----------------------------------------------------------------------------

    def _change(
        self, kind: str, what: Any, action: str, reason: str | None, apply: Any
    ) -> Deletion:
        """Runs `apply(conn, what, action, now)` (which returns the target's name) in one
        transaction with the deletion record."""
        _check_reason(reason)

        def tx(conn: Connection) -> Deletion:
            now = time.time()
            target = apply(conn, what, action, now)
            record = Deletion(kind, target, action, reason, current_actor(self), now)
            conn.execute(
                deletions.insert().values(
                    kind=kind,
                    target=target,
                    action=action,
                    reason=reason,
                    actor=record.actor,
                    at=now,
                )
            )
            return record

        return self._db.write(tx)

    @staticmethod
    def _check_state(row: Any, action: str, what: str, deleted_error: Any) -> None:
        """Refuses an action the row's state does not allow: delete of a deleted thing, restore
        or purge of one that is not deleted, anything on a purged one."""
        if row.purged_at is not None:
            raise deleted_error(True)
        if action == DELETE and row.deleted_at is not None:
            raise deleted_error(False)
        if action != DELETE and row.deleted_at is None:
            raise InvalidInputError(
                f"{what} is not deleted: there is nothing to {action} (delete it first)"
                if action == PURGE
                else f"{what} is not deleted: there is nothing to restore"
            )

    @staticmethod
    def _set_state(conn: Connection, table: Table, pk: int, action: str, now: float) -> None:
        values: dict[str, float | None]
        if action == DELETE:
            values = {"deleted_at": now}
        elif action == RESTORE:
            values = {"deleted_at": None}
        else:
            values = {"purged_at": now}
        conn.execute(update(table).where(table.c.id == pk).values(values))
