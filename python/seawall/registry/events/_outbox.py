"""The outbox: events written in the transaction of the change they describe, and read back by id.

Every change that others may react to (a version registered, an alias moved or deleted, an alert,
a loop decision) calls :func:`write_event` with the connection of its own write transaction: the
event exists if and only if the change committed.

Ids increase in commit order, so a reader that remembers the last id it saw never misses an
event: SQLite's writers are serialized (``BEGIN IMMEDIATE``), and on PostgreSQL the insert first
takes a transaction-scoped advisory lock, held until commit, so a later id is never visible
before an earlier one. The insert is the last statement of each transaction that makes one, so
the lock is held only for the commit. On PostgreSQL the transaction also NOTIFYs
``seawall_events`` (delivered at commit) for listeners that wait for events.

An idempotency key names each event: writing a key again is a no-op, so a change that is
retried, or an alert saved twice in one state, makes one event.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, or_, select, text
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from ..._webhooks import json_body
from ...errors import InvalidInputError
from .._entities import AliasEvent
from .._schema import events

__all__ = [
    "ALERT_ACKNOWLEDGED",
    "ALERT_FIRING",
    "ALERT_RESOLVED",
    "ALIAS_DELETED",
    "ALIAS_SET",
    "CHANNEL",
    "EVENT_TYPES",
    "LOOP_DECISION",
    "VERSION_CREATED",
    "Event",
    "NewEvent",
    "write_event",
]

VERSION_CREATED = "model_version.created"
ALIAS_SET = "alias.set"
ALIAS_DELETED = "alias.deleted"
ALERT_FIRING = "alert.firing"
ALERT_RESOLVED = "alert.resolved"
ALERT_ACKNOWLEDGED = "alert.acknowledged"
LOOP_DECISION = "loop.decision"
# The types the registry writes; others may be written too (a name of the same form).
EVENT_TYPES = (
    VERSION_CREATED,
    ALIAS_SET,
    ALIAS_DELETED,
    ALERT_FIRING,
    ALERT_RESOLVED,
    ALERT_ACKNOWLEDGED,
    LOOP_DECISION,
)

# PostgreSQL: the NOTIFY channel, and the advisory lock that orders event ids by commit
# ("sw-events" in ASCII).
CHANNEL = "seawall_events"
_PG_LOCK_KEY = 0x73772D6576656E7473 & 0x7FFFFFFFFFFFFFFF

_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,30}(\.[a-z][a-z0-9_]{0,30})+$")
MAX_RESOURCE = 512
MAX_LIMIT = 10_000  # events read at once
MAX_KEY = 256


@dataclass(frozen=True)
class Event:
    """One event of the outbox: ``id`` increases with every event committed."""

    id: int
    at: float
    type: str
    resource: str
    payload: dict[str, Any]
    key: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "type": self.type,
            "resource": self.resource,
            "payload": self.payload,
            "key": self.key,
        }

    def to_json(self) -> bytes:
        """The event as compact JSON with sorted keys: the body webhooks receive and sign."""
        return json_body(self.to_dict())


@dataclass(frozen=True)
class NewEvent:
    """An event to write: its type (``alias.set``), the resource it is about
    (``models/fraud/aliases/champion``), a JSON payload and its idempotency key."""

    type: str
    resource: str
    key: str
    payload: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_type(self.type)
        for label, value, most in (
            ("resource", self.resource, MAX_RESOURCE),
            ("idempotency key", self.key, MAX_KEY),
        ):
            if not isinstance(value, str) or not 0 < len(value) <= most:
                raise InvalidInputError(f"an event's {label} is 1 to {most} characters: {value!r}")
        if not isinstance(self.payload, Mapping):
            raise InvalidInputError(
                f"an event's payload is a mapping, got {type(self.payload).__name__}"
            )


def check_type(value: Any) -> str:
    if not isinstance(value, str) or not _TYPE.match(value):
        raise InvalidInputError(
            f"invalid event type {value!r}: dotted lowercase words, e.g. 'alias.set' "
            f"(the registry writes {', '.join(EVENT_TYPES)})"
        )
    return value


def check_types(types: Iterable[str] | str | None) -> list[str]:
    """Event types to match: exact types, or ``alias.*`` for every type under ``alias``."""
    if types is None:
        return []
    if isinstance(types, str):
        types = [types]
    out = []
    for t in types:
        check_type(t[:-2] + ".x" if isinstance(t, str) and t.endswith(".*") else t)
        out.append(t)
    return out


def type_matches(patterns: Iterable[str], event_type: str) -> bool:
    patterns = list(patterns)
    if not patterns:
        return True
    return any(
        event_type.startswith(p[:-1]) if p.endswith(".*") else event_type == p for p in patterns
    )


def write_event(conn: Connection, event: NewEvent) -> None:
    """Writes `event` in the caller's transaction (make it the transaction's last statement: on
    PostgreSQL it takes the lock that orders ids, held until commit). A key already written is
    a no-op."""
    payload = json_body(event.payload).decode()
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    insert = (pg_dialect if postgres else sqlite_dialect).insert(events)
    conn.execute(
        insert.values(
            at=time.time(),
            type=event.type,
            resource=event.resource,
            payload=payload,
            key=event.key,
        ).on_conflict_do_nothing(index_elements=["key"])
    )
    if postgres:
        conn.execute(text("SELECT pg_notify(:c, '')"), {"c": CHANNEL})


def type_clause(types: Iterable[str]) -> Any:
    """The SQL condition that an event's type is one of `types` (``alias.*`` patterns too)."""
    exact = [t for t in types if not t.endswith(".*")]
    clauses: list[Any] = [events.c.type.in_(exact)] if exact else []
    clauses += [
        events.c.type.startswith(t[:-1], autoescape=True) for t in types if t.endswith(".*")
    ]
    return or_(*clauses)


def read_events(
    conn: Connection,
    after: int,
    types: list[str],
    resource: str | None,
    limit: int,
) -> list[Event]:
    query = select(events).where(events.c.id > after)
    if types:
        query = query.where(type_clause(types))
    if resource is not None:
        query = query.where(
            or_(
                events.c.resource == resource,
                events.c.resource.startswith(resource.rstrip("/") + "/", autoescape=True),
            )
        )
    rows = conn.execute(query.order_by(events.c.id).limit(limit)).all()
    return [
        Event(int(r.id), float(r.at), r.type, r.resource, _payload(r.payload), r.key) for r in rows
    ]


def _payload(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {"unreadable": raw[:1000]}
    return value if isinstance(value, dict) else {"value": value}


def last_event_id(conn: Connection) -> int:
    return int(conn.execute(select(func.max(events.c.id))).scalar() or 0)


# --- the registry's own events -----------------------------------------------------------------


def version_created(model: str, version: int, run_id: str | None, bundle_sha256: str) -> NewEvent:
    return NewEvent(
        VERSION_CREATED,
        f"models/{model}/versions/{version}",
        # a model deleted and made again restarts its numbers: the suffix keeps keys unique
        f"{VERSION_CREATED}:{model}:{version}:{uuid.uuid4().hex[:16]}",
        {"model": model, "version": version, "run_id": run_id, "bundle_sha256": bundle_sha256},
    )


def alias_moved(audit_id: int, move: AliasEvent) -> NewEvent:
    """An alias set (``move.version`` is a number) or deleted (None); `audit_id` is the id of
    its row in the alias audit, which makes the key."""
    kind = ALIAS_SET if move.version is not None else ALIAS_DELETED
    return NewEvent(
        kind,
        f"models/{move.model}/aliases/{move.alias}",
        f"{kind}:{move.model}:{audit_id}",
        {
            "model": move.model,
            "alias": move.alias,
            "version": move.version,
            "previous_version": move.previous_version,
            "reason": move.reason,
            "actor": move.actor,
            "uri": f"models:/{move.model}@{move.alias}",
        },
    )


def deleted(kind: str, resource: str, key: str, payload: Mapping[str, Any]) -> NewEvent:
    """The event of a deletion (``model_version.deleted``, ``run.deleted``...): what the delete
    paths write with :func:`write_event` in their own transaction."""
    if not kind.endswith(".deleted"):
        raise InvalidInputError(f"a deletion's event type ends in '.deleted', got {kind!r}")
    return NewEvent(kind, resource, key, payload)
