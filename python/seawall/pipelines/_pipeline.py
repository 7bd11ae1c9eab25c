"""Pipeline: steps wired by their data, run with caching, retries and lineage in the registry.

Each step execution is a registry run in the experiment named after the pipeline:

* tags ``seawall.kind`` = "step", ``seawall.pipeline``, ``seawall.pipeline_run`` (the parent
  run), ``seawall.step``, ``seawall.cache_key``, ``seawall.code_sha256``, ``seawall.attempts``,
  ``seawall.host`` (where it ran), ``seawall.output.<name>`` (each output's SHA-256) and
  ``seawall.error`` when it failed;
* params ``version`` and ``input.<parameter>`` (the SHA-256 of each input);
* artifacts ``outputs/<name>.<ext>`` (formats in :mod:`seawall.pipelines._codec`), ``step.json``
  (its :class:`StepRecord`) and, when it failed, ``error.txt`` (the traceback).

The pipeline run itself is a run of the same experiment (``seawall.kind`` = "pipeline") holding
the parameters (artifacts ``params/<name>.<ext>``, and params ``param.<name>``: the JSON text of
short JSON values, else ``sha256:<hex>``), the defaults the steps used
(``defaults/<step>.<parameter>.<ext>``), the progress (metric ``steps_done``, tag
``seawall.progress``) and, at the end, ``pipeline.json``: the :class:`PipelineRun` record.

The cache key of a step is the SHA-256 of its name, the hash of its code, its version, its
output names and the SHA-256 of each input; a FINISHED step run of the pipeline's experiment
with the same key, whose records all agree with the step, is reused instead of running the step
again (see :mod:`seawall.pipelines._cache`; outputs stored as pickles only with
``trust_code=True``).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, NotFoundError, StepFailedError, UntrustedCodeError
from ._cache import cache_key, find_earlier_run, step_params
from ._codec import LOADS_CODE, Encoded, decode, encode
from ._executors import Executor, Job, make_executor
from ._graph import Graph
from ._progress import Display
from ._record import (
    CACHED,
    EXECUTED,
    FAILED,
    SKIPPED,
    STEP_FORMAT,
    ArtifactRef,
    PipelineRun,
    StepRecord,
)
from ._step import Step

if TYPE_CHECKING:
    from ..registry import Registry, Run

__all__ = ["Pipeline"]

_MAX_ERROR_TAG = 2000
_MAX_PARAM_TEXT = 500  # longer parameters are logged in the run's params by their SHA-256


class Pipeline:
    """Steps wired by the data they take and make, run as a DAG.

    >>> @seawall.step(outputs=("train", "test"))
    ... def split(table, test_fraction=0.2): ...
    >>> @seawall.step
    ... def model(train): ...
    >>> pipe = seawall.Pipeline("churn", [split, model])
    >>> result = pipe.run({"table": data}, registry=reg)   # runs split, then model
    >>> result = pipe.run({"table": data}, registry=reg)   # runs nothing: all cached
    >>> result["model"]

    A step input that no step makes is a parameter of the pipeline, given to :meth:`run` or
    taken from the function's default. Cycles, two steps making the same output, and duplicate
    step names are errors here, when the pipeline is defined.
    """

    def __init__(self, name: str, steps: Sequence[Step]) -> None:
        from ..registry._checks import check_name

        self.name = check_name(name, "pipeline name")
        self.graph = Graph.build(steps)

    @property
    def steps(self) -> list[Step]:
        """The steps, in a topological order."""
        return [self.graph.steps[n] for n in self.graph.order]

    @property
    def params(self) -> list[str]:
        """The inputs no step makes: the pipeline's parameters."""
        return list(self.graph.params)

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, steps={list(self.graph.order)})"

    def run(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        registry: Registry | None = None,
        executor: str = "threads",
        max_workers: int | None = None,
        cache: bool = True,
        progress: bool | None = None,
        trust_code: bool = False,
    ) -> PipelineRun:
        """Runs the steps that are not cached, each as soon as the data it takes is ready.

        * params: values of the pipeline's parameters (see :attr:`params`); parameters left
          out take each step's default.
        * registry: where runs, artifacts and the cache live (default ``Registry()``).
        * executor: "threads" (default), "processes", "ray" or a ``ray://`` address. Steps
          defined in the script itself (``__main__``) work with each; worker processes do not
          run the script again, with or without the ``if __name__ == "__main__":`` guard.
        * cache: False runs every step (their outputs still go to the cache).
        * progress: None shows progress when standard error is a terminal; True or False.
        * trust_code: True reuses cached outputs stored as pickles, which run code when loaded:
          only for a registry whose every writer you trust (as ``load_bundle(trust_code=True)``).
          Without it, a step whose cached outputs are pickles runs again, and an event
          ``cache_refused`` in the record says so.

        Returns the :class:`PipelineRun` record. When a step fails after its retries, its
        dependents are skipped, independent steps still run, and :class:`StepFailedError` is
        raised at the end with the record as its ``result``.
        """
        if registry is None:
            from ..registry import Registry

            registry = Registry()
        if not isinstance(cache, bool):
            raise InvalidInputError(f"cache must be True or False, got {cache!r}")
        if not isinstance(trust_code, bool):
            raise InvalidInputError(f"trust_code must be True or False, got {trust_code!r}")
        if progress is not None and not isinstance(progress, bool):
            raise InvalidInputError(f"progress must be True, False or None, got {progress!r}")
        if params is not None and not isinstance(params, Mapping):
            raise InvalidInputError(f"params must be a mapping of name to value, got {params!r}")
        inputs = self._inputs(dict(params or {}))
        pool = make_executor(executor, max_workers)
        with Display(progress, self.name, len(self.graph.steps)) as display:
            return _Runner(self, registry, pool, display, trust_code).run(inputs, cache)

    def _inputs(self, given: dict[str, Any]) -> _Inputs:
        """Checks the parameters and encodes their values (and the defaults used), before any
        run starts."""
        unknown = sorted(set(given) - set(self.graph.params))
        if unknown:
            made = [u for u in unknown if u in self.graph.producer]
            if made:
                raise InvalidInputError(
                    f"{made} are made by steps of the pipeline, so they cannot be given"
                )
            raise InvalidInputError(
                f"the pipeline has no parameters {unknown} (its parameters: {self.params})"
            )
        wiring: dict[str, dict[str, tuple[str, Any]]] = {}
        missing = []
        for name, s in self.graph.steps.items():
            defaults = s.defaults()
            entry: dict[str, tuple[str, Any]] = {}
            for param, data in s.inputs.items():
                if data in self.graph.producer:
                    entry[param] = ("data", data)
                elif data in given:
                    entry[param] = ("param", data)
                elif param in defaults:
                    entry[param] = ("default", _encode_param(f"{name}.{param}", defaults[param]))
                else:
                    missing.append(f"{data} (for step {name!r})")
            wiring[name] = entry
        if missing:
            raise InvalidInputError(
                f"the pipeline needs values for: {', '.join(missing)}; pass them in params"
            )
        return _Inputs({k: _encode_param(k, v) for k, v in given.items()}, wiring)

    def lineage(
        self, run_id: str | None = None, *, registry: Registry | None = None
    ) -> PipelineRun:
        """The record of a run of this pipeline (default: the newest one), read back from the
        registry: which run of which step made which artifact from which inputs."""
        if registry is None:
            from ..registry import Registry

            registry = Registry()
        if run_id is None:
            found = registry.search_runs(
                self.name, filter="tags.`seawall.kind` = 'pipeline'", max_results=1
            )
            if not found:
                raise NotFoundError(f"pipeline {self.name!r} has no runs in {registry!r}")
            run_id = found[0].id
        run = registry.get_run(run_id)
        if run.tags.get("seawall.kind") != "pipeline" or run.experiment != self.name:
            raise NotFoundError(f"run {run_id} is not a run of pipeline {self.name!r}")
        try:
            data = run.read_artifact("pipeline.json")
        except NotFoundError:
            raise NotFoundError(
                f"pipeline run {run_id} has no record ({run.status}): it stopped before "
                "writing pipeline.json"
            ) from None
        return PipelineRun.from_dict(json.loads(data), registry)


# --- the task that runs one step, wherever it runs --------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How one attempt of a step went."""

    ok: bool
    started: float
    ended: float
    host: str
    pid: int
    error: str | None = None
    traceback: str | None = None
    exception: BaseException | None = None


def _split_outputs(value: Any, outputs: tuple[str, ...], fn: Callable[..., Any]) -> list[Any]:
    if len(outputs) == 1:
        return [value]
    if not outputs:  # run for its effect: what it returns is not kept
        return []
    if isinstance(value, Mapping):
        if set(value) != set(outputs):
            raise InvalidInputError(
                f"step function {fn.__name__} returned a dict with keys {sorted(value)}, but "
                f"the step declares the outputs {list(outputs)}"
            )
        return [value[o] for o in outputs]
    if isinstance(value, tuple) and len(value) == len(outputs):
        return list(value)
    got = f"a tuple of {len(value)}" if isinstance(value, tuple) else type(value).__name__
    raise InvalidInputError(
        f"step function {fn.__name__} declares {len(outputs)} outputs {list(outputs)}, so it "
        f"must return a tuple of {len(outputs)} or a dict with those keys; it returned {got}"
    )


def execute_step(s: Step, params: tuple[str, ...], *inputs: Encoded) -> Any:
    """Runs one attempt of step `s`: decodes the inputs (one per name in `params`), calls the
    function, encodes what it returns. Returns (encoded output, ..., Outcome), or the Outcome
    alone for a step without outputs; an exception in the step is reported, not raised."""
    started = time.time()
    fn, outputs = s.fn, s.outputs
    try:
        # The driver sends values it trusts: made in this run, given to run(), or cached
        # outputs it chose to reuse (pickles only with trust_code=True).
        value = fn(**{p: decode(e, trust_code=True) for p, e in zip(params, inputs, strict=True)})
        encoded: list[Encoded | None] = [encode(v) for v in _split_outputs(value, outputs, fn)]
        outcome = Outcome(True, started, time.time(), socket.gethostname(), os.getpid())
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
            kept: BaseException | None = exc
        except Exception:  # an exception that cannot travel back: its text still does
            kept = None
        outcome = Outcome(
            False,
            started,
            time.time(),
            socket.gethostname(),
            os.getpid(),
            f"{type(exc).__name__}: {exc}",
            traceback.format_exc(),
            kept,
        )
        encoded = [None] * len(outputs)
    return (*encoded, outcome) if outputs else outcome


# --- the scheduler ----------------------------------------------------------------------------


@dataclass
class _Slot:
    """A value steps take: where it is stored and, while a step still needs it, its bytes here
    and a handle to pass to tasks."""

    ref: ArtifactRef
    encoded: Encoded | None = None
    handle: Any = None
    consumers_left: int = 0


class _Runner:
    """One run of a pipeline: the driver's loop, the only code that talks to the registry."""

    def __init__(
        self,
        pipeline: Pipeline,
        registry: Registry,
        executor: Executor,
        display: Display,
        trust_code: bool,
    ) -> None:
        self.pipeline = pipeline
        self.trust_code = trust_code
        # Values that load without trust_code: the ones this process made or was given here.
        self.trusted: set[str] = set()
        self.graph = pipeline.graph
        self.registry = registry
        self.executor = executor
        self.display = display
        self.status: dict[str, str] = {n: "waiting" for n in self.graph.order}
        self.records: dict[str, StepRecord] = {}
        self.slots: dict[str, _Slot] = {}  # step outputs, by name
        self.step_inputs: dict[str, dict[str, _Slot]] = {}  # by step, then parameter
        self.keys: dict[str, str] = {}
        self.step_runs: dict[str, Run] = {}
        self.attempts: dict[str, int] = {}
        self.running: dict[Job, str] = {}
        self.retry_at: dict[str, float] = {}
        self.events: list[dict[str, Any]] = []
        self.causes: dict[str, BaseException] = {}
        self.done = 0

    def run(self, inputs: _Inputs, cache: bool) -> PipelineRun:
        name = self.pipeline.name
        self.parent = self.registry.start_run(
            experiment=name,
            name=name,
            tags={
                "seawall.kind": "pipeline",
                "seawall.pipeline": name,
                "seawall.executor": self.executor.name,
                "seawall.steps": len(self.graph.steps),
            },
        )
        started = time.time()
        params: dict[str, ArtifactRef] = {}
        ok = False
        try:
            params = self.wire(inputs)
            self.loop(cache)
            ok = True
        finally:
            self.executor.close(cancel=[] if ok else list(self.running))
            failed = any(v == FAILED for v in self.status.values())
            status = "FINISHED" if ok and not failed else "FAILED"
            result = PipelineRun(
                name,
                self.parent.id,
                status,
                {n: self.records[n] for n in self.graph.order if n in self.records},
                params,
                [(u, d) for d in self.graph.order for u in sorted(self.graph.upstream[d])],
                self.events,
                started,
                time.time(),
                self.registry,
                frozenset(self.trusted),
            )
            if ok:
                self.parent.log_text(result.to_json(), "pipeline.json")
                self.parent.set_tags({"seawall.status": "failed" if failed else "finished"})
                self.parent.end(status)
            else:  # an error of the machinery itself, on its way up: record what can be
                self.abandon(result)
        if failed:
            names = result.failed
            first = result.steps[names[0]]
            message = (
                f"pipeline {name!r}: step {names[0]!r} failed after {first.attempts} "
                f"attempt(s): {first.error}"
            )
            if len(names) > 1:
                message += f"; also failed: {names[1:]}"
            if result.skipped:
                message += f"; not run: {result.skipped}"
            raise StepFailedError(message, result) from self.causes.get(names[0])
        return result

    def abandon(self, result: PipelineRun) -> None:
        for step in [*self.running.values(), *self.retry_at]:
            with contextlib.suppress(Exception):
                self.step_runs[step].end("KILLED")
        with contextlib.suppress(Exception):
            self.parent.log_text(result.to_json(), "pipeline.json")
        with contextlib.suppress(Exception):
            self.parent.end("KILLED" if sys.exc_info()[0] is KeyboardInterrupt else "FAILED")

    # --- bookkeeping --------------------------------------------------------------------------

    def event(self, step: str, event: str, detail: str = "") -> None:
        entry: dict[str, Any] = {"time": time.time(), "step": step, "event": event}
        if detail:
            entry["detail"] = detail
        self.events.append(entry)
        self.display.event(step, event, detail)
        if event in (EXECUTED, CACHED, FAILED, SKIPPED):
            self.done += 1
            self.parent.log_metric("steps_done", self.done, step=self.done)
            self.parent.set_tags({"seawall.progress": f"{self.done}/{len(self.graph.steps)}"})

    def record(self, name: str, status: str, **fields: Any) -> StepRecord:
        s = self.graph.steps[name]
        inputs = {p: slot.ref for p, slot in self.step_inputs[name].items() if slot.ref.sha256}
        record = StepRecord(
            name,
            status,
            fields.pop("run_id", None),
            self.keys.get(name),
            s.code_sha256,
            s.version,
            inputs,
            **fields,
        )
        self.records[name] = record
        return record

    def store(
        self, name: str, encoded: Encoded, path: str, run: Run, step: str | None
    ) -> ArtifactRef:
        path = f"{path}.{encoded.extension}"
        art = run.log_bytes(encoded.data, path)
        self.trusted.add(art.sha256)
        return ArtifactRef(
            name, art.sha256, encoded.format, encoded.python_type, art.size, run.id, path, step
        )

    def wire(self, inputs: _Inputs) -> dict[str, ArtifactRef]:
        """Stores the given parameters and the defaults used, and wires every step's inputs to
        them and to the outputs of other steps. Returns the parameters' records."""
        given: dict[str, _Slot] = {}
        logged: dict[str, str] = {}
        for data, encoded in inputs.given.items():
            ref = self.store(data, encoded, f"params/{data}", self.parent, None)
            given[data] = _Slot(ref, encoded)
            short = encoded.format == "json" and len(encoded.data) <= _MAX_PARAM_TEXT
            logged[f"param.{data}"] = encoded.data.decode() if short else f"sha256:{ref.sha256}"
        if logged:
            self.parent.log_params(logged)
        for step in self.graph.order:
            wired: dict[str, _Slot] = {}
            for param, (kind, value) in inputs.wiring[step].items():
                if kind == "param":
                    wired[param] = given[value]
                elif kind == "default":
                    path = f"defaults/{step}.{param}"
                    wired[param] = _Slot(self.store(param, value, path, self.parent, None), value)
                else:
                    wired[param] = self.slots.setdefault(value, _Slot(_pending(value)))
                wired[param].consumers_left += 1
            self.step_inputs[step] = wired
        return {k: v.ref for k, v in given.items()}

    # --- the loop -----------------------------------------------------------------------------

    def loop(self, cache: bool) -> None:
        while True:
            self.start_ready(cache)
            now = time.monotonic()
            for step, at in list(self.retry_at.items()):
                if at <= now:
                    del self.retry_at[step]
                    self.submit(step)
            if not self.running and not self.retry_at:
                return
            timeout = None
            if self.retry_at:
                timeout = max(0.0, min(self.retry_at.values()) - time.monotonic())
            if not self.running:
                time.sleep(timeout or 0.0)
                continue
            for job in self.executor.wait(list(self.running), timeout):
                self.finish(self.running.pop(job), job)

    def start_ready(self, cache: bool) -> None:
        changed = True
        while changed:
            changed = False
            for step in self.graph.order:
                if self.status[step] == "waiting" and all(
                    self.status[u] in (EXECUTED, CACHED) for u in self.graph.upstream[step]
                ):
                    self.start(step, cache)
                    changed = True

    def start(self, step: str, cache: bool) -> None:
        s = self.graph.steps[step]
        inputs = {p: slot.ref for p, slot in self.step_inputs[step].items()}
        key = self.keys[step] = cache_key(s, inputs)
        if cache and s.cache:
            found = find_earlier_run(
                self.registry, self.pipeline.name, s, key, inputs, self.trust_code
            )
            if found.refused:
                self.event(step, "cache_refused", "; ".join(found.refused))
            if found.record is not None:
                self.reuse(step, found.record)
                return
        self.status[step] = "running"
        self.attempts[step] = 0
        self.step_runs[step] = self.registry.start_run(
            experiment=self.pipeline.name,
            name=step,
            tags={
                "seawall.kind": "step",
                "seawall.pipeline": self.pipeline.name,
                "seawall.pipeline_run": self.parent.id,
                "seawall.step": step,
                "seawall.code_sha256": s.code_sha256,
                "seawall.cache_key": key,
            },
            params=step_params(s, inputs),
        )
        self.submit(step)

    def reuse(self, step: str, earlier: StepRecord) -> None:
        """Takes the outputs of an earlier run of the step (see the cache) instead of running it."""
        self.status[step] = CACHED
        self.record(
            step,
            CACHED,
            run_id=earlier.run_id,
            outputs=earlier.outputs,
            started=earlier.started,
            ended=earlier.ended,
        )
        for out, ref in earlier.outputs.items():
            self.slots.setdefault(out, _Slot(ref)).ref = ref
            if self.trust_code:
                self.trusted.add(ref.sha256)
        self.release_inputs(step)
        self.event(step, CACHED, f"outputs of run {earlier.run_id}")

    def handle(self, slot: _Slot) -> Any:
        if slot.handle is None:
            if slot.encoded is None:
                ref = slot.ref
                # Workers decode what they are sent: a pickle from the store goes only when
                # trusted (the cache reuses none otherwise; this keeps it so).
                if ref.format in LOADS_CODE and ref.sha256 not in self.trusted:
                    raise UntrustedCodeError(
                        f"{ref.name} is a pickle from the registry: it loads only with "
                        "trust_code=True"
                    )
                data = self.registry.artifacts.get_bytes(ref.sha256)
                slot.encoded = Encoded(ref.format, data, ref.python_type)
            slot.handle = self.executor.put(slot.encoded)
        return slot.handle

    def submit(self, step: str) -> None:
        s = self.graph.steps[step]
        wired = self.step_inputs[step]
        params = tuple(wired)
        args = [s, params, *(self.handle(wired[p]) for p in params)]
        self.attempts[step] += 1
        job = self.executor.submit(
            execute_step, args, num_outputs=len(s.outputs), label=f"{self.pipeline.name}.{step}"
        )
        self.running[job] = step
        attempt = self.attempts[step]
        self.event(step, "started", f"attempt {attempt}" if attempt > 1 else "")

    def finish(self, step: str, job: Job) -> None:
        s = self.graph.steps[step]
        run = self.step_runs[step]
        attempt = self.attempts[step]
        try:
            outcome: Outcome = self.executor.result(job)
        except Exception as exc:  # the executor lost the task (its worker died...)
            now = time.time()
            outcome = Outcome(
                False, now, now, "", 0, f"{type(exc).__name__}: {exc}", traceback.format_exc(), exc
            )
        run.set_tags({"seawall.attempts": attempt, "seawall.host": outcome.host})
        if outcome.ok:
            outputs: dict[str, ArtifactRef] = {}
            values = self.executor.values(job)
            handles = self.executor.output_handles(job)
            for out, encoded, handle in zip(s.outputs, values, handles, strict=True):
                ref = outputs[out] = self.store(out, encoded, f"outputs/{out}", run, step)
                slot = self.slots.setdefault(out, _Slot(ref))
                slot.ref = ref
                if slot.consumers_left:
                    slot.encoded, slot.handle = encoded, handle
            record = self.record(
                step,
                EXECUTED,
                run_id=run.id,
                outputs=outputs,
                attempts=attempt,
                started=outcome.started,
                ended=outcome.ended,
            )
            run.set_tags({f"seawall.output.{o}": ref.sha256 for o, ref in outputs.items()})
            run.log_text(json.dumps({"format": STEP_FORMAT, **record.to_dict()}), "step.json")
            run.end("FINISHED")
            self.status[step] = EXECUTED
            self.release_inputs(step)
            self.event(step, EXECUTED, f"{outcome.ended - outcome.started:.2f} s")
            return
        if attempt <= s.retries:
            delay = s.retry_delay(attempt + 1)
            self.retry_at[step] = time.monotonic() + delay
            self.event(
                step, "retrying", f"attempt {attempt}: {outcome.error}; again in {delay:g} s"
            )
            return
        if outcome.exception is not None:
            self.causes[step] = outcome.exception
        run.set_tags({"seawall.error": (outcome.error or "")[:_MAX_ERROR_TAG]})
        run.log_text(outcome.traceback or outcome.error or "", "error.txt")
        record = self.record(
            step,
            FAILED,
            run_id=run.id,
            attempts=attempt,
            started=outcome.started,
            ended=outcome.ended,
            error=outcome.error,
        )
        run.log_text(json.dumps({"format": STEP_FORMAT, **record.to_dict()}), "step.json")
        run.end("FAILED")
        self.status[step] = FAILED
        self.release_inputs(step)
        self.event(step, FAILED, outcome.error or "")
        below = self.graph.descendants(step)
        for d in self.graph.order:
            if d in below and self.status[d] == "waiting":
                self.status[d] = SKIPPED
                self.record(d, SKIPPED, error=f"not run: step {step!r} failed")
                self.release_inputs(d)
                self.event(d, SKIPPED, f"{step} failed")

    def release_inputs(self, step: str) -> None:
        """Forgets the bytes of inputs no step still needs (the store keeps them)."""
        for slot in self.step_inputs[step].values():
            slot.consumers_left -= 1
            if slot.consumers_left == 0:
                slot.encoded = slot.handle = None


@dataclass(frozen=True)
class _Inputs:
    """The values given to run(), encoded, and where each parameter of each step takes its
    value from: ("data", output name), ("param", given name) or ("default", encoded value)."""

    given: dict[str, Encoded]
    wiring: dict[str, dict[str, tuple[str, Any]]]


def _encode_param(name: str, value: Any) -> Encoded:
    try:
        return encode(value)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise InvalidInputError(
            f"parameter {name!r} cannot be stored ({type(value).__name__}): {exc}"
        ) from exc


def _pending(name: str) -> ArtifactRef:
    """The place of an output no step has made yet."""
    return ArtifactRef(name, "", "", "", 0, "", "")
