"""Pipelines: steps wired by their data, cached by the hash of their code and inputs, recorded
with their lineage in the registry, run on threads, processes or Ray.

::

    import seawall

    @seawall.step
    def clean(raw):
        return raw.filter(...)

    @seawall.step(outputs=("train", "test"))
    def split(clean, test_fraction=0.2):
        ...

    pipe = seawall.Pipeline("churn", [clean, split])
    run = pipe.run({"raw": table}, registry=seawall.Registry())
    run["train"]                      # the value, read back from the artifact store
    run.producer("train")             # which step run made it, from which inputs

Fitting a FeaturePipeline and profiling a Parquet dataset on a cluster, with the same result as
in one process: :func:`distributed_fit` and :func:`distributed_profile`.
"""

from __future__ import annotations

from ._pipeline import Pipeline
from ._record import ArtifactRef, PipelineRun, StepRecord
from ._step import Step, step
from .distributed import distributed_fit, distributed_profile

__all__ = [
    "ArtifactRef",
    "Pipeline",
    "PipelineRun",
    "Step",
    "StepRecord",
    "distributed_fit",
    "distributed_profile",
    "step",
]
