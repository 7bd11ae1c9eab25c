"""The registry at a glance: the runs of each experiment, and each model's latest version, number
of versions and aliases (what an overview page shows, counting only what its reader may read), in
a fixed number of queries however many there are. Deleted experiments, runs, models and versions
are left out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from . import _tombstones as tombstones
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
    """``runs_per_experiment``: each live experiment's live runs; ``models``: one entry per model,
    by name."""

    runs_per_experiment: dict[str, int]
    models: list[ModelSummary]

    @property
    def counts(self) -> dict[str, int]:
        """How many models, versions, runs and experiments."""
        return {
            "models": len(self.models),
            "versions": sum(m.versions for m in self.models),
            "runs": sum(self.runs_per_experiment.values()),
            "experiments": len(self.runs_per_experiment),
        }


class SummaryMixin(RegistryBase):
    """The registry at a glance."""

    def summary(self) -> Summary:
        """The runs of every experiment, and a summary of every model."""
        with self._db.read() as conn:
            runs_per_experiment = {
                name: int(n)
                for name, n in conn.execute(
                    select(experiments.c.name, func.count(runs.c.id))
                    .select_from(experiments)
                    .outerjoin(
                        runs, (runs.c.experiment_id == experiments.c.id) & tombstones.live(runs)
                    )
                    .where(tombstones.live(experiments))
                    .group_by(experiments.c.name)
                )
            }
            rows: dict[int, dict[str, Any]] = {
                r.id: {
                    "name": r.name,
                    "description": r.description,
                    "latest_version": None,
                    "versions": 0,
                    "updated_at": r.updated_at,
                    "aliases": {},
                }
                for r in conn.execute(
                    select(
                        models.c.id,
                        models.c.name,
                        models.c.description,
                        models.c.updated_at,
                    ).where(tombstones.live(models))
                )
            }
            for model_id, n, latest in conn.execute(
                select(model_versions.c.model_id, func.count(), func.max(model_versions.c.version))
                .where(tombstones.live(model_versions))
                .group_by(model_versions.c.model_id)
            ):
                if model_id in rows:
                    rows[model_id].update(versions=int(n), latest_version=int(latest))
            for model_id, alias, version in conn.execute(
                select(aliases.c.model_id, aliases.c.alias, model_versions.c.version).join(
                    model_versions, model_versions.c.id == aliases.c.version_id
                )
            ):
                if model_id in rows:
                    rows[model_id]["aliases"][alias] = int(version)
        listed = sorted(rows.values(), key=lambda r: r["name"])
        return Summary(runs_per_experiment, [ModelSummary(**r) for r in listed])
