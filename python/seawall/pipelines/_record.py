"""What a pipeline run leaves behind: which run of which step made which artifact from which
inputs, kept in the registry as the pipeline run's ``pipeline.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import IntegrityError, NotFoundError, UnsupportedVersionError
from ._codec import Encoded, decode

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = ["RECORD_FORMAT", "ArtifactRef", "PipelineRun", "StepRecord"]

RECORD_FORMAT = "seawall.pipeline_run"
RECORD_VERSION = 1
STEP_FORMAT = "seawall.step_run"

# What happened to a step in one pipeline run.
EXECUTED, CACHED, FAILED, SKIPPED = "executed", "cached", "failed", "skipped"


@dataclass(frozen=True)
class ArtifactRef:
    """One stored value: a step's output or a pipeline parameter.

    ``sha256`` names its bytes in the registry's artifact store, ``format`` says how they are
    written (see :mod:`seawall.pipelines._codec`); ``run_id`` and ``path`` say which registry
    run holds it under which artifact name, and ``step`` which step made it (None for a
    parameter, which the pipeline run holds).
    """

    name: str
    sha256: str
    format: str
    python_type: str
    size: int
    run_id: str
    path: str
    step: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArtifactRef:
        return cls(**d)


@dataclass(frozen=True)
class StepRecord:
    """One step in one pipeline run.

    ``status``: "executed" (it ran in this pipeline run), "cached" (an earlier run with the same
    cache key made its outputs, and ``run_id`` is that run), "failed", or "skipped" (a step it
    depends on failed). ``inputs`` are keyed by parameter name, ``outputs`` by output name.
    """

    name: str
    status: str
    run_id: str | None
    cache_key: str | None
    code_sha256: str
    version: str | None
    inputs: dict[str, ArtifactRef] = field(default_factory=dict)
    outputs: dict[str, ArtifactRef] = field(default_factory=dict)
    attempts: int = 0
    started: float | None = None
    ended: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["inputs"] = {k: v.to_dict() for k, v in self.inputs.items()}
        d["outputs"] = {k: v.to_dict() for k, v in self.outputs.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepRecord:
        d = dict(d)
        d["inputs"] = {k: ArtifactRef.from_dict(v) for k, v in d["inputs"].items()}
        d["outputs"] = {k: ArtifactRef.from_dict(v) for k, v in d["outputs"].items()}
        return cls(**d)


class PipelineRun:
    """The record of one run of a pipeline, and its lineage.

    ``steps`` (in a topological order) say what happened to each step and which registry run
    made its outputs from which inputs; ``events`` is the progress log. Values load from the
    registry's store: ``result["model"]`` or ``result.load("model")``. A value stored as a
    pickle loads only with ``load(name, trust_code=True)``, unless this process made it (or
    was told to trust it) in the run that returned this record.
    """

    def __init__(
        self,
        pipeline: str,
        run_id: str,
        status: str,
        steps: dict[str, StepRecord],
        params: dict[str, ArtifactRef],
        edges: list[tuple[str, str]],
        events: list[dict[str, Any]],
        started: float,
        ended: float | None,
        registry: Registry | None = None,
        trusted: frozenset[str] = frozenset(),
    ) -> None:
        self.pipeline = pipeline
        self.run_id = run_id
        self.status = status
        self.steps = steps
        self.params = params
        self.edges = edges
        self.events = events
        self.started = started
        self.ended = ended
        self._registry = registry
        self._trusted = trusted  # SHA-256 of values that load without trust_code

    def _names(self, status: str) -> list[str]:
        return [n for n, s in self.steps.items() if s.status == status]

    @property
    def executed(self) -> list[str]:
        """The steps that ran in this pipeline run."""
        return self._names(EXECUTED)

    @property
    def cached(self) -> list[str]:
        """The steps whose outputs came from an earlier run."""
        return self._names(CACHED)

    @property
    def failed(self) -> list[str]:
        return self._names(FAILED)

    @property
    def skipped(self) -> list[str]:
        """The steps that did not run because a step they depend on failed."""
        return self._names(SKIPPED)

    @property
    def outputs(self) -> dict[str, ArtifactRef]:
        """Every output made (or reused) in this run, by name."""
        return {k: v for s in self.steps.values() for k, v in s.outputs.items()}

    def artifact(self, name_or_sha: str) -> ArtifactRef:
        """An output or parameter by name, or any stored value of the run by SHA-256."""
        found = self.outputs.get(name_or_sha) or self.params.get(name_or_sha)
        if found is not None:
            return found
        for s in self.steps.values():
            for ref in (*s.outputs.values(), *s.inputs.values()):
                if ref.sha256 == name_or_sha:
                    return ref
        raise NotFoundError(
            f"pipeline run {self.run_id} has no output, parameter or artifact {name_or_sha!r}"
        )

    def producer(self, name_or_sha: str) -> StepRecord:
        """The step (and, in its ``run_id``, the registry run) that made an output."""
        ref = self.artifact(name_or_sha)
        if ref.step is None:
            raise NotFoundError(f"{name_or_sha!r} is a parameter of the pipeline: no step made it")
        return self.steps[ref.step]

    def upstream(self, name_or_sha: str) -> list[StepRecord]:
        """The producer of an output and every step it depends on, directly or not, in order."""
        wanted: set[str] = set()
        todo = [self.producer(name_or_sha).name]
        ups: dict[str, list[str]] = {}
        for a, b in self.edges:
            ups.setdefault(b, []).append(a)
        while todo:
            name = todo.pop()
            if name not in wanted:
                wanted.add(name)
                todo.extend(ups.get(name, []))
        return [s for n, s in self.steps.items() if n in wanted]

    def load(self, name: str, *, trust_code: bool = False) -> Any:
        """An output's (or parameter's) value, read from the store and checked against its hash.

        A pickle runs code when loaded: it needs ``trust_code=True`` (UntrustedCodeError
        otherwise), unless this process stored it, or reused it under ``trust_code=True``, in
        the run that returned this record.
        """
        ref = self.artifact(name)
        if self._registry is None:
            raise NotFoundError("this record has no registry to read values from")
        data = self._registry.artifacts.get_bytes(ref.sha256)
        trusted = trust_code or ref.sha256 in self._trusted
        return decode(Encoded(ref.format, data, ref.python_type), trust_code=trusted)

    def __getitem__(self, name: str) -> Any:
        return self.load(name)

    def graph(self) -> dict[str, list[dict[str, Any]]]:
        """The lineage as nodes (parameters, artifacts, step runs) and edges: an artifact is an
        ``input`` of a step run, which ``produced`` its outputs."""
        nodes: dict[str, dict[str, Any]] = {}
        edges: list[dict[str, str]] = []
        for s in self.steps.values():
            step_id = f"step:{s.name}"
            nodes[step_id] = {
                "id": step_id,
                "kind": "step",
                "step": s.name,
                "status": s.status,
                "run_id": s.run_id,
                "cache_key": s.cache_key,
            }
            for param, ref in s.inputs.items():
                a = f"artifact:{ref.sha256}"
                nodes.setdefault(a, {"id": a, "kind": "artifact", **ref.to_dict()})
                edges.append({"source": a, "target": step_id, "relation": f"input:{param}"})
            for ref in s.outputs.values():
                a = f"artifact:{ref.sha256}"
                nodes.setdefault(a, {"id": a, "kind": "artifact", **ref.to_dict()})
                edges.append({"source": step_id, "target": a, "relation": "produced"})
        return {"nodes": list(nodes.values()), "edges": edges}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "format_version": RECORD_VERSION,
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "status": self.status,
            "started": self.started,
            "ended": self.ended,
            "steps": [s.to_dict() for s in self.steps.values()],
            "params": {k: v.to_dict() for k, v in self.params.items()},
            "edges": [list(e) for e in self.edges],
            "events": self.events,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    @classmethod
    def from_dict(cls, d: Any, registry: Registry | None = None) -> PipelineRun:
        if not isinstance(d, dict) or d.get("format") != RECORD_FORMAT:
            raise IntegrityError("not a seawall pipeline run record")
        version = d.get("format_version")
        if not isinstance(version, int):
            raise IntegrityError("the pipeline run record has no format version")
        if version > RECORD_VERSION:
            raise UnsupportedVersionError(
                f"the pipeline run record has format version {version}; this seawall reads up "
                f"to {RECORD_VERSION}: upgrade seawall to read it"
            )
        try:
            steps = [StepRecord.from_dict(s) for s in d["steps"]]
            return cls(
                d["pipeline"],
                d["run_id"],
                d["status"],
                {s.name: s for s in steps},
                {k: ArtifactRef.from_dict(v) for k, v in d["params"].items()},
                [(a, b) for a, b in d["edges"]],
                list(d["events"]),
                d["started"],
                d["ended"],
                registry,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"the pipeline run record is malformed: {exc!r}") from exc

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{len(v)} {k}"
            for k, v in (
                ("executed", self.executed),
                ("cached", self.cached),
                ("failed", self.failed),
                ("skipped", self.skipped),
            )
            if v
        )
        return f"<PipelineRun {self.run_id} of {self.pipeline!r}: {self.status} ({counts})>"
