"""The registry at a glance: how many models, versions, runs and experiments it holds, and each
model's latest version, number of versions and aliases (what an overview page shows), in a
fixed number of queries however many there are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from ._base import RegistryBase
from ._schema import aliases, experiments, model_versions, models, runs


@dataclass(frozen=True)
class ModelSummary:
    name: str
    description: str | None
    latest_version: int | None
    versions: int
    updated_at: float | None
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Summary:
    """``counts``: models, versions, runs and experiments; ``models``: one entry per model, by
    name."""

    counts: dict[str, int]
    models: list[ModelSummary]


class SummaryMixin(RegistryBase):
    """The registry at a glance."""

    def summary(self) -> Summary:
        """Counts of models, versions, runs and experiments, and a summary of every model."""
        with self._db.read() as conn:
            counts = {
                name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in (
                    ("models", models),
                    ("versions", model_versions),
                    ("runs", runs),
                    ("experiments", experiments),
                )
            }
            rows: dict[int, dict[str, Any]] = {
                r.id: {
                    "name": r.name,
                    "description": r.description,
                    "latest_version": r.last_version or None,
                    "versions": 0,
                    "updated_at": r.updated_at,
                    "aliases": {},
                }
                for r in conn.execute(
                    select(
                        models.c.id,
                        models.c.name,
                        models.c.description,
                        models.c.last_version,
                        models.c.updated_at,
                    )
                )
            }
            for model_id, n in conn.execute(
                select(model_versions.c.model_id, func.count()).group_by(model_versions.c.model_id)
            ):
                rows[model_id]["versions"] = int(n)
            for model_id, alias, version in conn.execute(
                select(aliases.c.model_id, aliases.c.alias, model_versions.c.version).join(
                    model_versions, model_versions.c.id == aliases.c.version_id
                )
            ):
                rows[model_id]["aliases"][alias] = int(version)
        listed = sorted(rows.values(), key=lambda r: r["name"])
        return Summary(counts, [ModelSummary(**r) for r in listed])
