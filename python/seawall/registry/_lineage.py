"""Deployments of model versions, and lineage: the graph datasets -> run -> version -> aliases
and deployments."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, or_, select

from ..errors import InvalidInputError
from ._base import RegistryBase
from ._entities import Deployment, Lineage
from ._schema import alias_events, deployments, runs
from ._tombstones import audit_event, deleted_versions


def _loads(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


def _deleted(row: Any) -> dict[str, Any]:
    """A lineage node's deletion fields: whether it is deleted, and whether permanently."""
    return {"deleted": row.deleted_at is not None, "purged": row.purged_at is not None}


class LineageMixin(RegistryBase):
    """Deployments and the lineage graph of a version."""

    def record_deployment(
        self,
        model: str,
        version: int | str | None = None,
        target: str = "default",
        details: Mapping[str, Any] | None = None,
    ) -> Deployment:
        """Records that a version went to `target` (a server, an endpoint...). `version` may be
        an alias, which is resolved now and kept beside the version."""
        ref = self._ref(model, version)
        if not isinstance(target, str) or not 1 <= len(target) <= 256:
            raise InvalidInputError(f"target must be a string of 1 to 256 characters: {target!r}")
        try:
            details_text = json.dumps(dict(details)) if details is not None else None
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"details must be JSON-serializable: {exc}") from None

        def tx(conn: Connection) -> Deployment:
            row = self._version_row(conn, ref)
            now = time.time()
            pk = conn.execute(
                deployments.insert()
                .values(
                    version_id=row.id, target=target, alias=ref.alias, details=details_text, at=now
                )
                .returning(deployments.c.id)
            ).scalar_one()
            return Deployment(
                int(pk), ref.name, row.version, target, ref.alias, _loads(details_text), now
            )

        return self._db.write(tx)

    def lineage(self, model: str, version: int | str | None = None) -> Lineage:
        """The graph datasets -> run -> model version -> aliases and deployments, with every
        alias move to or from the version."""
        ref = self._ref(model, version)
        with self._db.read() as conn:
            row = self._version_row(conn, ref, deleted_ok=True)  # lineage outlives deletes
            mv = self._model_version(conn, row)
            nodes: list[dict[str, Any]] = []
            edges: list[dict[str, str]] = []
            mv_id = f"model_version:{mv.model}/{mv.version}"
            nodes.append(
                {
                    "id": mv_id,
                    "kind": "model_version",
                    "model": mv.model,
                    "version": mv.version,
                    "bundle_sha256": mv.bundle_sha256,
                    "profile_sha256": mv.profile_sha256,
                    "description": mv.description,
                    "created_at": mv.created_at,
                    "tags": mv.tags,
                    **_deleted(row),
                }
            )
            if row.run_id is not None:
                run_row = conn.execute(select(runs).where(runs.c.id == row.run_id)).one()
                run = self._runs(conn, [run_row])[0]
                run_node = f"run:{run.id}"
                nodes.append(
                    {
                        "id": run_node,
                        "kind": "run",
                        "run_id": run.id,
                        "experiment": run.experiment,
                        "name": run.name,
                        "status": run.status,
                        "start_time": run.start_time,
                        "end_time": run.end_time,
                        "params": run.params,
                        "metrics": run.metrics,
                        **_deleted(run_row),
                    }
                )
                edges.append({"source": run_node, "target": mv_id, "relation": "produced"})
                for ds in self._inputs(conn, row.run_id):
                    ds_node = f"dataset:{ds.fingerprint}"
                    if not any(n["id"] == ds_node for n in nodes):
                        nodes.append(
                            {
                                "id": ds_node,
                                "kind": "dataset",
                                "fingerprint": ds.fingerprint,
                                "name": ds.name,
                                "num_rows": ds.num_rows,
                                "schema": ds.schema,
                                "profile_sha256": ds.profile_sha256,
                                "source": ds.source,
                            }
                        )
                    edges.append({"source": ds_node, "target": run_node, "relation": ds.context})
            for alias in mv.aliases:
                alias_node = f"alias:{mv.model}@{alias}"
                nodes.append({"id": alias_node, "kind": "alias", "model": mv.model, "alias": alias})
                edges.append({"source": mv_id, "target": alias_node, "relation": "aliased"})
            for d in conn.execute(
                select(deployments)
                .where(deployments.c.version_id == row.id)
                .order_by(deployments.c.id)
            ).all():
                d_node = f"deployment:{d.id}"
                nodes.append(
                    {
                        "id": d_node,
                        "kind": "deployment",
                        "target": d.target,
                        "alias": d.alias,
                        "details": _loads(d.details),
                        "at": d.at,
                    }
                )
                edges.append({"source": mv_id, "target": d_node, "relation": "deployed"})
            deleted = deleted_versions(conn, row.model_id)
            history = [
                audit_event(mv.model, e, deleted)
                for e in conn.execute(
                    select(alias_events)
                    .where(
                        alias_events.c.model_id == row.model_id,
                        or_(
                            alias_events.c.version == mv.version,
                            alias_events.c.previous_version == mv.version,
                        ),
                    )
                    .order_by(alias_events.c.id)
                ).all()
            ]
        return Lineage(mv.model, mv.version, nodes, edges, history)
