"""Aliases (``models:/name@champion``): moving one is a transaction with its audit record."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, select, update

from ..errors import InvalidInputError, NotFoundError
from . import _checks as checks
from ._actor import current_actor
from ._base import RegistryBase
from ._entities import AliasEvent
from ._schema import alias_events, aliases, model_versions, models
from ._tombstones import audit_event, deleted_versions
from .events._outbox import alias_moved, write_event


def _event_row(event: AliasEvent) -> dict[str, Any]:
    return {
        "alias": event.alias,
        "version": event.version,
        "previous_version": event.previous_version,
        "reason": event.reason,
        "actor": event.actor,
        "at": event.at,
    }


class AliasesMixin(RegistryBase):
    """Aliases of a model's versions and their history."""

    def set_alias(
        self, model: str, alias: str, version: int | str, reason: str | None = None
    ) -> AliasEvent:
        """Points `alias` at `version` (a number, "latest", or another alias's version), in one
        transaction with the audit record of the move (time, previous version, reason)."""
        checks.check_alias(alias)
        ref = self._ref(model, version)
        if reason is not None and not isinstance(reason, str):
            raise InvalidInputError("reason must be a string")

        def tx(conn: Connection) -> AliasEvent:
            model_pk = self._model_id(conn, model, lock=True)  # serializes moves of this model
            target = self._version_row(conn, ref)
            previous = conn.execute(
                select(model_versions.c.version)
                .join(aliases, aliases.c.version_id == model_versions.c.id)
                .where(aliases.c.model_id == model_pk, aliases.c.alias == alias)
            ).scalar()
            now = time.time()
            stmt = self._insert(aliases).values(
                model_id=model_pk, alias=alias, version_id=target.id, updated_at=now
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["model_id", "alias"],
                    set_={"version_id": stmt.excluded.version_id, "updated_at": now},
                )
            )
            event = AliasEvent(
                model, alias, target.version, previous, reason, current_actor(self), now
            )
            audit_id = self._audit(conn, model_pk, event)
            conn.execute(update(models).where(models.c.id == model_pk).values(updated_at=now))
            write_event(conn, alias_moved(audit_id, event))
            return event

        return self._db.write(tx)

    promote = set_alias

    def delete_alias(self, model: str, alias: str, reason: str | None = None) -> AliasEvent:
        """Removes an alias, recording who, when and why in the alias audit (the version it
        pointed to is ``previous_version``); ``restore_alias`` points it back."""
        checks.check_name(model, "model name")
        checks.check_alias(alias)

        def tx(conn: Connection) -> AliasEvent:
            model_pk = self._model_id(conn, model, lock=True)
            previous = conn.execute(
                select(model_versions.c.version)
                .join(aliases, aliases.c.version_id == model_versions.c.id)
                .where(aliases.c.model_id == model_pk, aliases.c.alias == alias)
            ).scalar()
            if previous is None:
                raise NotFoundError(f"model {model!r} has no alias {alias!r}")
            conn.execute(
                aliases.delete().where(aliases.c.model_id == model_pk, aliases.c.alias == alias)
            )
            event = AliasEvent(
                model, alias, None, previous, reason, current_actor(self), time.time()
            )
            write_event(conn, alias_moved(self._audit(conn, model_pk, event), event))
            return event

        return self._db.write(tx)

    @staticmethod
    def _audit(conn: Connection, model_pk: int, event: AliasEvent) -> int:
        """Writes the audit row of an alias move; returns its id."""
        return int(
            conn.execute(
                alias_events.insert()
                .values(model_id=model_pk, **_event_row(event))
                .returning(alias_events.c.id)
            ).scalar_one()
        )

    def alias_history(self, model: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of the model's aliases (or of one alias), oldest first."""
        checks.check_name(model, "model name")
        if alias is not None:
            checks.check_alias(alias)
        with self._db.read() as conn:
            model_pk = self._model_id(conn, model, deleted_ok=True)  # the audit is kept
            query = select(alias_events).where(alias_events.c.model_id == model_pk)
            if alias is not None:
                query = query.where(alias_events.c.alias == alias)
            rows = conn.execute(query.order_by(alias_events.c.id)).all()
            deleted = deleted_versions(conn, model_pk)
        return [audit_event(model, r, deleted) for r in rows]
