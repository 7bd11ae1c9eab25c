"""The step cache: the key of a step's outputs, and which earlier run of the step may stand for
it.

Anyone who can write to the registry can record a run, so a run's tags are claims, not proof:
an earlier run is reused only when everything it records agrees with the step and its inputs
(tags, params, its ``step.json`` and the artifacts it holds), and its outputs are still in the
store. Outputs stored as pickles are reused only with ``trust_code=True``: agreeing records
keep mistakes and stray runs out of the cache, but a writer who copies an honest run's records
can make them agree, so loading code from the store stays the caller's decision.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import IntegrityError, InvalidInputError, NotFoundError
from ._codec import EXTENSIONS, LOADS_CODE
from ._record import EXECUTED, STEP_FORMAT, ArtifactRef, StepRecord
from ._step import Step

if TYPE_CHECKING:
    from ..registry import Registry, Run

__all__ = ["CacheLookup", "cache_key", "find_earlier_run", "step_params"]

CACHE_KEY_FORMAT = "seawall.step_cache/1"
# Runs with the step's tags looked at, newest first: runs that do not match it can only crowd
# out older ones (the step then runs again), never stand for it.
CANDIDATES = 20


def cache_key(s: Step, inputs: Mapping[str, ArtifactRef]) -> str:
    """The SHA-256 of what a step's outputs depend on: its name, the hash of its code, its
    version, its output names and the SHA-256 of each input."""
    document = {
        "format": CACHE_KEY_FORMAT,
        "step": s.name,
        "code_sha256": s.code_sha256,
        "version": s.version,
        "outputs": list(s.outputs),
        "inputs": {p: ref.sha256 for p, ref in sorted(inputs.items())},
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def step_params(s: Step, inputs: Mapping[str, ArtifactRef]) -> dict[str, str]:
    """The params of a run of step `s`: ``input.<parameter>`` (each input's SHA-256) and
    ``version``."""
    params = {f"input.{p}": ref.sha256 for p, ref in inputs.items()}
    if s.version is not None:
        params["version"] = s.version
    return params


@dataclass(frozen=True)
class CacheLookup:
    """What the cache found: the record of the earlier run to reuse (None: run the step), and
    why runs that carry the step's cache key were not reused (empty when none did)."""

    record: StepRecord | None
    refused: tuple[str, ...] = ()


def find_earlier_run(
    registry: Registry,
    pipeline: str,
    s: Step,
    key: str,
    inputs: Mapping[str, ArtifactRef],
    trust_code: bool,
) -> CacheLookup:
    """The newest FINISHED run of step `s` of `pipeline` that made its outputs from `inputs`
    with the same code and version (its cache key `key`), as :func:`check_run` decides."""
    found = registry.search_runs(
        pipeline,
        filter=(
            f"tags.`seawall.cache_key` = '{key}' and tags.`seawall.kind` = 'step' "
            f"and tags.`seawall.pipeline` = '{pipeline}' and tags.`seawall.step` = '{s.name}' "
            f"and tags.`seawall.code_sha256` = '{s.code_sha256}' "
            "and attributes.status = 'FINISHED'"
        ),
        max_results=CANDIDATES,
    )
    refused: list[str] = []
    for run in found:
        earlier = check_run(registry, run, pipeline, s, key, inputs)
        if isinstance(earlier, str):
            refused.append(f"run {run.id} {earlier}")
            continue
        code = sorted(o for o, ref in earlier.outputs.items() if ref.format in LOADS_CODE)
        if code and not trust_code:
            refused.append(
                f"run {run.id} made the outputs, but {code} is stored as a pickle, which loads "
                "from the registry only with trust_code=True"
            )
            break  # older runs of the same code make the same kind of outputs
        return CacheLookup(earlier, tuple(refused))
    return CacheLookup(None, tuple(refused))


def check_run(
    registry: Registry,
    run: Run,
    pipeline: str,
    s: Step,
    key: str,
    inputs: Mapping[str, ArtifactRef],
) -> StepRecord | str:
    """The record of `run` when everything it records agrees with step `s` of `pipeline` run on
    `inputs`, and its outputs are in the store; else why not (a phrase)."""
    tags = {
        "seawall.kind": "step",
        "seawall.pipeline": pipeline,
        "seawall.step": s.name,
        "seawall.code_sha256": s.code_sha256,
        "seawall.cache_key": key,
    }
    wrong = sorted(k for k, v in tags.items() if run.tags.get(k) != v)
    if wrong or run.status != "FINISHED" or run.experiment != pipeline:
        return f"does not match the step (tags {wrong}, status {run.status})"
    if run.params != step_params(s, inputs):
        return "does not match the step's version and inputs (params)"
    parent = run.tags.get("seawall.pipeline_run", "")
    try:
        parent_run = registry.get_run(parent)
    except (NotFoundError, InvalidInputError):
        parent_run = None
    if (
        parent_run is None
        or parent_run.experiment != pipeline
        or parent_run.tags.get("seawall.kind") != "pipeline"
    ):
        return "names no run of this pipeline as its parent"
    try:
        document = json.loads(run.read_artifact("step.json"))
        if document.pop("format") != STEP_FORMAT:
            raise ValueError("not a step record")
        earlier = StepRecord.from_dict(document)
    except (NotFoundError, IntegrityError, ValueError, KeyError, TypeError, AttributeError):
        return "has no readable step.json"
    claims = (earlier.name, earlier.status, earlier.run_id, earlier.cache_key)
    if claims != (s.name, EXECUTED, run.id, key) or (earlier.code_sha256, earlier.version) != (
        s.code_sha256,
        s.version,
    ):
        return "has a step.json that does not match the run"
    if {p: r.sha256 for p, r in earlier.inputs.items()} != {p: r.sha256 for p, r in inputs.items()}:
        return "has a step.json whose inputs do not match"
    if set(earlier.outputs) != set(s.outputs):
        return f"made other outputs ({sorted(earlier.outputs)})"
    held = {a.path: a.sha256 for a in registry.list_artifacts(run.id)}
    for out, ref in earlier.outputs.items():
        path = f"outputs/{out}.{EXTENSIONS.get(ref.format, '?')}"
        if (
            (ref.name, ref.step, ref.run_id, ref.path) != (out, s.name, run.id, path)
            or held.get(path) != ref.sha256
            or run.tags.get(f"seawall.output.{out}") != ref.sha256
        ):
            return f"does not hold the output {out!r} its step.json names"
        # Outputs someone removed from the store (a cleanup, a lost bucket) make the step run
        # again rather than fail the pipeline when a dependent reads them.
        if not registry.artifacts.exists(ref.sha256):
            return f"lost its output {out!r} from the store"
    return earlier
