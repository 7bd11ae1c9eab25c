"""What the registry returns: plain frozen records (runs are live handles, in _run.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Experiment:
    id: int
    name: str
    description: str | None
    created_at: float


@dataclass(frozen=True)
class Metric:
    """One logged point of a metric."""

    key: str
    value: float
    step: int
    timestamp: float


@dataclass(frozen=True)
class Artifact:
    """A file of a run: its name in the run and the hash of its stored bytes."""

    path: str
    sha256: str
    size: int
    created_at: float


@dataclass(frozen=True)
class DatasetInput:
    """A dataset a run read, by fingerprint, and in what role (training, validation...)."""

    fingerprint: str
    name: str | None
    schema: list[dict[str, Any]]
    num_rows: int
    profile_sha256: str | None
    source: str | None
    context: str


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: int
    run_id: str | None
    bundle_sha256: str
    profile_sha256: str | None
    description: str | None
    created_at: float
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    actor: str | None = None  # who registered it: a token's principal or the OS login

    @property
    def uri(self) -> str:
        return f"models:/{self.model}/{self.version}"


@dataclass(frozen=True)
class Model:
    name: str
    description: str | None
    created_at: float
    updated_at: float
    latest_version: int | None
    aliases: dict[str, int] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AliasEvent:
    """One move of an alias: to `version` (None when deleted) from `previous_version`.
    ``version_deleted`` and ``previous_version_deleted`` say whether that version has been
    deleted since (the audit keeps naming it)."""

    model: str
    alias: str
    version: int | None
    previous_version: int | None
    reason: str | None
    actor: str | None
    at: float
    version_deleted: bool = False
    previous_version_deleted: bool = False


@dataclass(frozen=True)
class Deployment:
    id: int
    model: str
    version: int
    target: str
    alias: str | None
    details: dict[str, Any] | None
    at: float


@dataclass(frozen=True)
class Lineage:
    """Datasets -> run -> model version -> aliases and deployments, as a graph.

    ``nodes`` are dicts with ``id``, ``kind`` (dataset, run, model_version, alias, deployment)
    and the record's fields; ``edges`` are dicts with ``source``, ``target`` and ``relation``.
    ``alias_history`` is every move of an alias to or from this version, oldest first. The
    version and run nodes say whether they were deleted (``deleted``) and permanently
    (``purged``): lineage outlives deletes.
    """

    model: str
    version: int
    nodes: list[dict[str, Any]]
    edges: list[dict[str, str]]
    alias_history: list[AliasEvent]

    def node(self, node_id: str) -> dict[str, Any]:
        for n in self.nodes:
            if n["id"] == node_id:
                return n
        raise KeyError(node_id)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [n for n in self.nodes if n["kind"] == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "nodes": self.nodes,
            "edges": self.edges,
            "alias_history": [asdict(e) for e in self.alias_history],
        }


@dataclass(frozen=True)
class Deletion:
    """One delete, restore or purge: of what (`kind`: experiment, run, model or version;
    `target`: ``experiment:NAME``, ``run:ID``, ``model:NAME`` or ``models:/NAME/VERSION``),
    when, why and by whom. Deletion records are never removed."""

    kind: str
    target: str
    action: str  # delete, restore or purge
    reason: str | None
    actor: str | None
    at: float
