"""Run: a handle on one tracked run, for logging and for reading what it holds."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._entities import Artifact, DatasetInput, Metric

if TYPE_CHECKING:
    from ._registry import Registry
    from .events._outbox import NewEvent

RUNNING, FINISHED, FAILED, KILLED = "RUNNING", "FINISHED", "FAILED", "KILLED"
STATUSES = (RUNNING, FINISHED, FAILED, KILLED)


class Run:
    """A run of an experiment. ``with reg.start_run(...) as run:`` ends it as FINISHED, or as
    FAILED if the block raises (KILLED on KeyboardInterrupt). A run whose process dies without
    ending it becomes KILLED when a registry next opens (see ``_stale``).

    ``params``, ``metrics`` (the newest value of each) and ``tags`` are what the run held when
    this handle was made, plus what was logged through it; :meth:`refresh` reloads them.
    """

    def __init__(
        self,
        registry: Registry,
        pk: int,
        run_id: str,
        experiment: str,
        name: str | None,
        status: str,
        start_time: float,
        end_time: float | None,
        params: dict[str, str],
        metrics: dict[str, float],
        tags: dict[str, str],
        actor: str | None = None,
    ) -> None:
        self._registry = registry
        self._pk = pk
        self.id = run_id
        self.experiment = experiment
        self.name = name
        self.status = status
        self.start_time = start_time
        self.end_time = end_time
        self.params = params
        self.metrics = metrics
        self.tags = tags
        self.actor = actor  # who started it: a token's principal (service:ci) or the OS login

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<Run {self.id}{name} of {self.experiment!r}: {self.status}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    # --- logging ------------------------------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        """Params are write-once: logging one again with another value is AlreadyExistsError."""
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._registry._log_batch(self, param_items=params)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._registry._log_batch(self, tag_items=tags)

    def log_metric(
        self, key: str, value: float, step: int = 0, timestamp: float | None = None
    ) -> None:
        self._registry._log_batch(self, metric_items=[(key, value, step, timestamp)])

    def log_metrics(
        self, metrics: Mapping[str, float], step: int = 0, timestamp: float | None = None
    ) -> None:
        self._registry._log_batch(
            self, metric_items=[(k, v, step, timestamp) for k, v in metrics.items()]
        )

    def log_batch(
        self,
        metrics: Iterable[Metric | tuple[Any, ...]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Logs many metrics (``(key, value)``, ``(key, value, step)``,
        ``(key, value, step, timestamp)`` or :class:`Metric`), params and tags in one
        transaction: all of them or, on an error, none."""
        self._registry._log_batch(self, metric_items=metrics, param_items=params, tag_items=tags)

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> Artifact:
        """Stores a file under `name` (default: its file name) in this run. Names are
        write-once: the same bytes again is a no-op, other bytes raise AlreadyExistsError."""
        return self._registry._log_artifact(self, Path(path), name)

    def log_artifacts(
        self, folder: str | os.PathLike[str], prefix: str | None = None
    ) -> list[Artifact]:
        """Stores every file under a folder, named by its path relative to it (after `prefix/`)."""
        return self._registry._log_artifacts(self, Path(folder), prefix)

    def log_bytes(self, data: bytes, name: str, *, event: NewEvent | None = None) -> Artifact:
        """Stores `data` under `name`. With an `event`, the event is written to the registry's
        outbox in the same transaction as the artifact's record (both or neither)."""
        return self._registry._log_bytes(self, data, name, event)

    def log_text(self, text: str, name: str, *, event: NewEvent | None = None) -> Artifact:
        return self._registry._log_bytes(self, text.encode("utf-8"), name, event)

    def log_input(
        self,
        data: Any,
        name: str | None = None,
        context: str = "training",
        profile: Any = None,
        source: str | None = None,
    ) -> DatasetInput:
        """Records a dataset this run read, by fingerprint (content hash, schema, row count).

        `profile`: a seawall Profile of the data, True to profile it here, or None. `data` may
        also be a precomputed :class:`DatasetFingerprint`.
        """
        return self._registry._log_input(self, data, name, context, profile, source)

    def log_evaluation(self, evaluation: Any, name: str = "evaluation") -> str:
        """Logs a seawall Evaluation: ``evaluations/<name>.json`` and ``.html`` as artifacts,
        its overall figures as metrics ``<name>.<metric>``; returns the JSON's artifact name.
        ``reg.attach_evaluation(model, version, evaluation, run=run)`` also attaches it to a
        model version."""
        return self._registry._log_evaluation(self, evaluation, name)

    def end(self, status: str = FINISHED) -> None:
        """Ends the run; it takes no more writes (RunClosedError)."""
        self._registry._end_run(self, status)

    # --- reading ------------------------------------------------------------------------------

    def refresh(self) -> Run:
        fresh = self._registry.get_run(self.id)
        self.status, self.end_time = fresh.status, fresh.end_time
        self.params, self.metrics, self.tags = fresh.params, fresh.metrics, fresh.tags
        return self

    def metric_history(self, key: str) -> list[Metric]:
        return self._registry.metric_history(self.id, key)

    @property
    def artifacts(self) -> list[Artifact]:
        return self._registry.list_artifacts(self.id)

    @property
    def inputs(self) -> list[DatasetInput]:
        return self._registry.run_inputs(self.id)

    def read_artifact(self, name: str) -> bytes:
        return self._registry.read_artifact(self.id, name)

    # --- context manager ----------------------------------------------------------------------

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.status != RUNNING:
            return
        if exc_type is None:
            status = FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = KILLED
        else:
            status = FAILED
        self._registry._end_run(self, status, missing_ok=True)
