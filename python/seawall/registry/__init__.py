"""Experiment tracking, the model registry, artifacts and lineage.

``Registry`` keeps experiments, runs (params, metrics, tags, artifacts, input datasets), models,
versions, aliases and deployments in one database (embedded SQLite by default, or PostgreSQL)
with a content-addressed artifact store (a local folder or S3-compatible storage)::

    import seawall

    reg = seawall.Registry()
    with reg.start_run(experiment="churn") as run:
        run.log_params({"lr": 0.1})
        run.log_metric("auc", 0.91)
    reg.register_model("churn", "bundle/", run=run)
    reg.set_alias("churn", "champion", 1, reason="best AUC")
    reg.load_model("models:/churn@champion")

The names below load on first use, so ``import seawall`` does not import SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._auth import PrincipalInfo
    from ._datasets import DatasetFingerprint
    from ._entities import (
        AliasEvent,
        Artifact,
        DatasetInput,
        Deletion,
        Deployment,
        Experiment,
        Lineage,
        Metric,
        Model,
        ModelVersion,
    )
    from ._gc import GcReport
    from ._registry import Registry, resolve_bundle
    from ._run import Run

__all__ = [
    "AliasEvent",
    "Artifact",
    "DatasetFingerprint",
    "DatasetInput",
    "Deletion",
    "Deployment",
    "Experiment",
    "GcReport",
    "Lineage",
    "Metric",
    "Model",
    "ModelVersion",
    "PrincipalInfo",
    "Registry",
    "Run",
    "resolve_bundle",
]

_WHERE = {
    "Registry": "_registry",
    "resolve_bundle": "_registry",
    "Run": "_run",
    "DatasetFingerprint": "_datasets",
    "GcReport": "_gc",
    "PrincipalInfo": "_auth",
}


def __getattr__(name: str) -> Any:
    if name in __all__:
        from importlib import import_module

        value = getattr(import_module(f".{_WHERE.get(name, '_entities')}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
