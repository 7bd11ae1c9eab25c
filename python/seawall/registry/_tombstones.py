"""What deleted rows look like to the rest of the registry: the condition that keeps them out of
lists and lookups, and the error a lookup of one raises (saying how to restore it).

A deleted experiment, run, model or version keeps its row: ``deleted_at`` says it is deleted
(hidden, restorable), ``purged_at`` that it was deleted permanently (what it held is gone, and
the row is a tombstone that lineage and the alias audit still name). See ``_deletes.py``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Table, select

from ..errors import DeletedError
from ._entities import AliasEvent
from ._schema import experiments, model_versions, runs


def live(table: Table) -> ColumnElement[bool]:
    """Rows of `table` that are not deleted."""
    return table.c.deleted_at.is_(None)


def experiment_deleted(name: str, purged: bool) -> DeletedError:
    if purged:
        return DeletedError(
            f"experiment {name!r} was deleted permanently (purged): it cannot be restored; "
            f"starting a run in it makes it anew"
        )
    return DeletedError(
        f"experiment {name!r} is deleted: restore it with reg.restore_experiment({name!r}) "
        f"or `seawall experiments restore {name}`"
    )


def run_deleted(run_id: str, purged: bool, experiment: str | None = None) -> DeletedError:
    if purged:
        return DeletedError(f"run {run_id} was deleted permanently (purged): it cannot be restored")
    if experiment is not None:
        return DeletedError(
            f"run {run_id} is in the deleted experiment {experiment!r}: restore it with "
            f"reg.restore_experiment({experiment!r}) or `seawall experiments restore {experiment}`"
        )
    return DeletedError(
        f"run {run_id} is deleted: restore it with reg.restore_run({run_id!r}) "
        f"or `seawall runs restore {run_id}`"
    )


def model_deleted(name: str, purged: bool) -> DeletedError:
    if purged:
        return DeletedError(
            f"model {name!r} was deleted permanently (purged): it cannot be restored; "
            "registering a version makes it anew (its numbers go on from the last one)"
        )
    return DeletedError(
        f"model {name!r} is deleted: restore it with reg.restore_model({name!r}) "
        f"or `seawall models restore {name}`"
    )


def version_deleted(name: str, version: int, purged: bool) -> DeletedError:
    if purged:
        return DeletedError(
            f"models:/{name}/{version} was deleted permanently (purged): it cannot be restored"
        )
    return DeletedError(
        f"models:/{name}/{version} is deleted: restore it with "
        f"reg.restore_model_version({name!r}, {version}) or `seawall models restore {name} {version}`"
    )


def run_state() -> Select[Any]:
    """A query of runs with what says whether each is deleted: its own ``deleted_at`` and
    ``purged_at``, and its experiment's name and ``experiment_deleted_at``."""
    return select(
        runs.c.id,
        runs.c.uuid,
        runs.c.deleted_at,
        runs.c.purged_at,
        experiments.c.name.label("experiment"),
        experiments.c.deleted_at.label("experiment_deleted_at"),
    ).join(experiments, experiments.c.id == runs.c.experiment_id)


def check_live_run(row: Any) -> None:
    """Raises DeletedError when a run (a row with uuid, deleted_at, purged_at, and maybe
    experiment and experiment_deleted_at, as :func:`run_state` gives) is deleted, or its
    experiment is."""
    if row.deleted_at is not None:
        raise run_deleted(row.uuid, row.purged_at is not None)
    if getattr(row, "experiment_deleted_at", None) is not None:
        raise run_deleted(row.uuid, False, row.experiment)


def deleted_versions(conn: Connection, model_pk: int) -> set[int]:
    """The numbers of a model's deleted versions."""
    return set(
        conn.execute(
            select(model_versions.c.version).where(
                model_versions.c.model_id == model_pk, model_versions.c.deleted_at.is_not(None)
            )
        ).scalars()
    )


def audit_event(model: str, row: Any, deleted: set[int]) -> AliasEvent:
    """An alias_events row as an AliasEvent, its versions marked when deleted since."""
    return AliasEvent(
        model,
        row.alias,
        row.version,
        row.previous_version,
        row.reason,
        row.actor,
        row.at,
        row.version in deleted,
        row.previous_version in deleted,
    )
