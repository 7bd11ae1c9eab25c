"""Running pipelines locally: caching (counted executions), retries and failures, lineage and
what the registry holds, progress, and the executors."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pipeline_helpers import load_module
from pipeline_steps import (
    DIAMOND,
    after_broken,
    both,
    broken,
    calls,
    diamond_oracle,
    flaky,
    independent,
    ping,
    pong,
    raw_table,
)

import seawall
from local_servers import store_of
from seawall.errors import (
    InvalidInputError,
    MissingDependencyError,
    StepFailedError,
)
from seawall.pipelines import Pipeline, PipelineRun


def run_diamond(reg, raw, log, **params):
    pipe = Pipeline("diamond", DIAMOND)
    return pipe.run({"raw": raw, "log": str(log), **params}, registry=reg)


def test_runs_in_order_and_the_result_matches_the_oracle(reg, rng, tmp_path) -> None:
    raw = raw_table(rng)
    result = run_diamond(reg, raw, tmp_path / "log")
    assert isinstance(result, PipelineRun)
    assert result.status == "FINISHED"
    assert result.executed == ["clean", "left", "right", "joined"]
    assert result["joined"] == pytest.approx(diamond_oracle(raw))
    assert result["clean"].equals(raw.filter(raw["x"].is_valid()))
    np.testing.assert_array_equal(result["left"], raw["x"].drop_null().to_numpy() * 2.0)
    assert calls(tmp_path / "log") == {"clean": 1, "left": 1, "right": 1, "joined": 1}


def test_an_unchanged_pipeline_executes_nothing(reg, rng, tmp_path) -> None:
    raw = raw_table(rng)
    first = run_diamond(reg, raw, tmp_path / "log")
    second = run_diamond(reg, raw, tmp_path / "log")
    assert calls(tmp_path / "log") == {"clean": 1, "left": 1, "right": 1, "joined": 1}
    assert second.executed == []
    assert second.cached == ["clean", "left", "right", "joined"]
    # Cached steps point at the runs that made their outputs.
    for name in second.cached:
        assert second.steps[name].run_id == first.steps[name].run_id
        assert second.steps[name].outputs == first.steps[name].outputs
    assert second["joined"] == first["joined"]


def test_new_data_or_a_new_parameter_reruns_only_what_depends_on_it(reg, rng, tmp_path) -> None:
    raw = raw_table(rng)
    log = tmp_path / "log"
    run_diamond(reg, raw, log)
    result = run_diamond(reg, raw, log, offset=5.0)  # only `right` takes it
    assert result.executed == ["right", "joined"]
    assert result.cached == ["clean", "left"]
    assert result["joined"] == pytest.approx(diamond_oracle(raw, offset=5.0))
    other = raw_table(rng)
    result = run_diamond(reg, other, log, offset=5.0)
    assert result.executed == ["clean", "left", "right", "joined"]
    assert calls(log) == {"clean": 2, "left": 2, "right": 3, "joined": 3}


def test_cache_false_runs_everything_again(reg, rng, tmp_path) -> None:
    raw = raw_table(rng)
    log = tmp_path / "log"
    run_diamond(reg, raw, log)
    result = Pipeline("diamond", DIAMOND).run(
        {"raw": raw, "log": str(log)}, registry=reg, cache=False
    )
    assert result.executed == ["clean", "left", "right", "joined"]
    assert calls(log) == {"clean": 2, "left": 2, "right": 2, "joined": 2}


STEPS_V1 = """
import numpy as np
import seawall
from pipeline_steps import note

@seawall.step
def base(n, log):
    note(log, "base")
    return np.arange(n, dtype=np.float64)

@seawall.step
def a(base, log):
    note(log, "a")
    return base * 2

@seawall.step
def b(base, log):
    note(log, "b")
    return base + 1

@seawall.step
def total(a, b, log):
    note(log, "total")
    return float(a.sum() + b.sum())
"""


def pipeline_of(module) -> Pipeline:
    return Pipeline("edits", [module.base, module.a, module.b, module.total])


def test_changing_one_step_reruns_it_and_its_dependents_only(reg, tmp_path) -> None:
    log = str(tmp_path / "log")
    v1 = load_module(tmp_path / "steps_v1.py", STEPS_V1)
    assert pipeline_of(v1).run({"n": 10, "log": log}, registry=reg)["total"] == 90 + 55
    v2 = load_module(tmp_path / "steps_v2.py", STEPS_V1.replace("base * 2", "base * 3"))
    result = pipeline_of(v2).run({"n": 10, "log": log}, registry=reg)
    assert result.executed == ["a", "total"]
    assert result["total"] == 135 + 55
    assert calls(log) == {"base": 1, "a": 2, "b": 1, "total": 2}
    # A change to comments, layout or the decorator's options is not a change of code.
    v3 = load_module(
        tmp_path / "steps_v3.py",
        STEPS_V1.replace("base * 2", "base * 3").replace(
            "@seawall.step\ndef b(base, log):", "@seawall.step(retries=2)\ndef b(base, log):  # b"
        ),
    )
    assert pipeline_of(v3).run({"n": 10, "log": log}, registry=reg).executed == []
    # A version bump reruns the step even though its source is the same.
    v4 = load_module(
        tmp_path / "steps_v4.py",
        STEPS_V1.replace("base * 2", "base * 3").replace(
            "@seawall.step\ndef b(base", "@seawall.step(version='2')\ndef b(base"
        ),
    )
    assert pipeline_of(v4).run({"n": 10, "log": log}, registry=reg).executed == ["b"]


def test_a_cached_output_deleted_from_the_store_runs_its_step_again(reg, rng, tmp_path) -> None:
    raw = raw_table(rng)
    first = run_diamond(reg, raw, tmp_path / "log")
    (left,) = first.steps["left"].outputs.values()
    store_of(reg).local_path(left.sha256).unlink()
    assert not reg.artifacts.exists(left.sha256)
    second = run_diamond(reg, raw, tmp_path / "log")
    # Only `left` runs again; it makes the same bytes, so `joined` stays cached.
    assert second.executed == ["left"]
    assert second.cached == ["clean", "right", "joined"]
    assert calls(tmp_path / "log") == {"clean": 1, "left": 2, "right": 1, "joined": 1}
    assert reg.artifacts.exists_intact(left.sha256)
    assert second["joined"] == pytest.approx(diamond_oracle(raw))


def test_a_rerun_step_with_identical_output_leaves_its_dependents_cached(reg, tmp_path) -> None:
    log = str(tmp_path / "log")
    v1 = load_module(tmp_path / "same_v1.py", STEPS_V1)
    pipeline_of(v1).run({"n": 10, "log": log}, registry=reg)
    # Different code, same numbers: `a` runs again, `total` sees the same input bytes.
    v2 = load_module(tmp_path / "same_v2.py", STEPS_V1.replace("base * 2", "base + base"))
    result = pipeline_of(v2).run({"n": 10, "log": log}, registry=reg)
    assert result.executed == ["a"]
    assert result.cached == ["base", "b", "total"]


def test_outputs_round_trip_in_their_documented_formats(reg, rng, tmp_path) -> None:
    import pandas as pd
    import polars as pl

    table = raw_table(rng)
    frame = pd.DataFrame({"a": rng.normal(size=5), "b": list("vwxyz")}, index=list("ABCDE"))
    profile = seawall.Profile.from_data(table)
    fitted = seawall.FeaturePipeline({"x": [seawall.Impute("mean"), seawall.StandardScale()]})
    fitted.fit(table)

    @seawall.step(outputs=("t", "df", "pl", "arr", "js", "prof", "pipe", "obj"))
    def make_all(seed):
        return (
            table,
            frame,
            pl.from_arrow(table),
            np.arange(6, dtype=np.int32).reshape(2, 3),
            {"a": [1, 2.5, None, "s", True]},
            profile,
            fitted,
            (1, "tuple", {2}),
        )

    result = Pipeline("formats", [make_all]).run({"seed": 1}, registry=reg)
    formats = {k: v.format for k, v in result.outputs.items()}
    assert formats == {
        "t": "arrow",
        "df": "arrow",
        "pl": "arrow",
        "arr": "npy",
        "js": "json",
        "prof": "seawall.profile",
        "pipe": "seawall.feature_pipeline",
        "obj": "pickle",
    }
    assert result["t"].equals(table)
    pd.testing.assert_frame_equal(result["df"], frame)
    assert result["pl"].equals(pl.from_arrow(table))
    got = result["arr"]
    assert got.dtype == np.int32 and got.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert result["js"] == {"a": [1, 2.5, None, "s", True]}
    assert result["prof"].to_bytes() == profile.to_bytes()
    np.testing.assert_array_equal(result["pipe"].transform(table), fitted.transform(table))
    assert result["obj"] == (1, "tuple", {2})
    # The stored bytes are the artifacts of the step's run, under the name the record gives.
    ref = result.outputs["arr"]
    assert reg.get_run(ref.run_id).read_artifact(ref.path) == reg.artifacts.get_bytes(ref.sha256)
    assert ref.path == "outputs/arr.npy"


def test_several_outputs_from_a_dict_and_wrong_counts_fail_the_step(reg, tmp_path) -> None:
    @seawall.step(outputs=("lo", "hi"))
    def bounds(values):
        return {"hi": max(values), "lo": min(values)}

    result = Pipeline("bounds", [bounds]).run({"values": [3, 1, 2]}, registry=reg)
    assert (result["lo"], result["hi"]) == (1, 3)

    @seawall.step(outputs=("lo", "hi"))
    def wrong(values):
        return min(values), max(values), 0

    with pytest.raises(StepFailedError, match="must return a tuple of 2") as info:
        Pipeline("wrong", [wrong]).run({"values": [3, 1, 2]}, registry=reg)
    assert isinstance(info.value.__cause__, InvalidInputError)


def test_retries_with_backoff_until_the_step_works(reg, tmp_path) -> None:
    log = str(tmp_path / "log")
    result = Pipeline("flaky", [flaky]).run({"log": log}, registry=reg)
    assert result.executed == ["flaky"]
    assert result.steps["flaky"].attempts == 3
    assert calls(log)["flaky"] == 3
    retries = [e for e in result.events if e["event"] == "retrying"]
    assert len(retries) == 2 and "ConnectionError: attempt 1 failed" in retries[0]["detail"]
    run = reg.get_run(result.steps["flaky"].run_id)
    assert run.status == "FINISHED" and run.tags["seawall.attempts"] == "3"


def test_a_failing_step_stops_its_dependents_and_keeps_the_rest(reg, tmp_path) -> None:
    log = str(tmp_path / "log")
    pipe = Pipeline("failing", [broken, after_broken, independent])
    with pytest.raises(StepFailedError, match="step 'broken' failed after 2 attempt") as info:
        pipe.run({"log": log}, registry=reg)
    err = info.value
    assert isinstance(err, RuntimeError)
    assert isinstance(err.__cause__, ValueError) and "broken on purpose" in str(err.__cause__)
    result = err.result
    assert isinstance(result, PipelineRun)
    assert result.status == "FAILED"
    assert result.failed == ["broken"] and result.skipped == ["after_broken"]
    assert result.executed == ["independent"]
    assert calls(log) == {"broken": 2, "independent": 1}
    # The registry records the error: the step run failed, with the error and its traceback.
    failed_run = reg.get_run(result.steps["broken"].run_id)
    assert failed_run.status == "FAILED"
    assert failed_run.tags["seawall.error"] == "ValueError: broken on purpose"
    assert "Traceback" in failed_run.read_artifact("error.txt").decode()
    assert reg.get_run(result.run_id).status == "FAILED"
    assert pipe.lineage(result.run_id, registry=reg).failed == ["broken"]
    # Running again: the step that worked is cached; the broken one is tried again.
    with pytest.raises(StepFailedError):
        pipe.run({"log": log}, registry=reg)
    assert calls(log) == {"broken": 4, "independent": 1}


def test_lineage_says_which_run_of_which_step_made_what_from_which_inputs(
    reg, rng, tmp_path
) -> None:
    raw = raw_table(rng)
    pipe = Pipeline("diamond", DIAMOND)
    result = pipe.run({"raw": raw, "log": str(tmp_path / "log")}, registry=reg)
    made = result.producer("joined")
    assert made.name == "joined" and made.status == "executed"
    assert set(made.inputs) == {"left", "right", "log"}
    assert made.inputs["left"] == result.outputs["left"]
    assert made.inputs["log"].step is None  # a parameter
    assert result.producer(result.outputs["clean"].sha256).name == "clean"
    assert [s.name for s in result.upstream("joined")] == ["clean", "left", "right", "joined"]
    assert [s.name for s in result.upstream("left")] == ["clean", "left"]
    # What the registry holds agrees with the record.
    run = reg.get_run(made.run_id)
    assert run.experiment == "diamond" and run.name == "joined"
    assert run.tags["seawall.pipeline_run"] == result.run_id
    assert run.tags["seawall.cache_key"] == made.cache_key
    assert run.params["input.left"] == result.outputs["left"].sha256
    assert run.tags["seawall.output.joined"] == result.outputs["joined"].sha256
    step_json = json.loads(run.read_artifact("step.json"))
    assert step_json["outputs"]["joined"]["sha256"] == result.outputs["joined"].sha256
    raw_ref = result.params["raw"]
    stored = reg.get_run(result.run_id).read_artifact(raw_ref.path)
    assert hashlib.sha256(stored).hexdigest() == raw_ref.sha256
    assert result.load("raw").equals(raw)
    # The output tags find the producer of an artifact by search.
    found = reg.search_runs(
        "diamond", filter=f"tags.`seawall.output.left` = '{result.outputs['left'].sha256}'"
    )
    assert [r.id for r in found] == [result.steps["left"].run_id]
    # Read back later, the record is the same; the graph links artifacts and step runs.
    again = pipe.lineage(registry=reg)
    assert again.to_dict() == result.to_dict()
    graph = again.graph()
    left_sha = result.outputs["left"].sha256
    assert {"source": "step:left", "target": f"artifact:{left_sha}", "relation": "produced"} in (
        graph["edges"]
    )
    assert {
        "source": f"artifact:{left_sha}",
        "target": "step:joined",
        "relation": "input:left",
    } in graph["edges"]


def test_parameter_errors(reg, tmp_path) -> None:
    pipe = Pipeline("diamond", DIAMOND)
    with pytest.raises(InvalidInputError, match=r"no parameters \['nope'\]"):
        pipe.run({"raw": 1, "log": "x", "nope": 1}, registry=reg)
    with pytest.raises(InvalidInputError, match="made by steps"):
        pipe.run({"raw": 1, "log": "x", "clean": 1}, registry=reg)
    with pytest.raises(InvalidInputError, match="needs values for: raw"):
        pipe.run({"log": "x"}, registry=reg)
    with pytest.raises(InvalidInputError, match="executor"):
        pipe.run({"raw": 1, "log": "x"}, registry=reg, executor="dask")
    with pytest.raises(InvalidInputError, match="progress"):
        pipe.run({"raw": 1, "log": "x"}, registry=reg, progress="yes")  # type: ignore[arg-type]


def test_progress_is_shown_when_asked_and_kept_in_the_run(reg, rng, tmp_path, capsys) -> None:
    raw = raw_table(rng)
    pipe = Pipeline("diamond", DIAMOND)
    pipe.run({"raw": raw, "log": str(tmp_path / "log")}, registry=reg)  # not a terminal: quiet
    assert capsys.readouterr().err == ""
    result = pipe.run({"raw": raw, "log": str(tmp_path / "log")}, registry=reg, progress=True)
    err = capsys.readouterr().err
    assert "cached clean" in err and "cached joined" in err and "4/4" in err
    events = [(e["step"], e["event"]) for e in result.events]
    assert events == [(s, "cached") for s in ("clean", "left", "right", "joined")]
    run = reg.get_run(result.run_id)
    assert run.metrics["steps_done"] == 4 and run.tags["seawall.progress"] == "4/4"
    assert [m.value for m in run.metric_history("steps_done")] == [1, 2, 3, 4]


def test_independent_steps_overlap_on_threads(reg, meeting) -> None:
    pipe = Pipeline("overlap", [ping, pong, both])
    result = pipe.run(meeting, registry=reg, executor="threads")
    assert result.executed == ["ping", "pong", "both"]


def test_the_overlap_check_fails_when_steps_cannot_overlap(reg, meeting) -> None:
    pipe = Pipeline("serial", [ping, pong])
    with pytest.raises(StepFailedError, match="did not start while"):
        pipe.run({**meeting, "timeout": 0.2}, registry=reg, executor="threads", max_workers=1)


def test_processes_executor_runs_steps_in_other_processes(reg, rng, tmp_path) -> None:
    raw = raw_table(rng)
    log = tmp_path / "log"
    pipe = Pipeline("diamond", DIAMOND)
    result = pipe.run({"raw": raw, "log": str(log)}, registry=reg, executor="processes")
    assert result.executed == ["clean", "left", "right", "joined"]
    assert result["joined"] == pytest.approx(diamond_oracle(raw))
    assert reg.get_run(result.run_id).tags["seawall.executor"] == "processes"
    # The cache does not depend on where steps ran.
    again = pipe.run({"raw": raw, "log": str(log)}, registry=reg, executor="threads")
    assert again.executed == []


def test_ray_executor_without_ray_says_what_to_install(reg, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    pipe = Pipeline("diamond", DIAMOND)
    with pytest.raises(MissingDependencyError, match=r'pip install "seawall\[ray\]"') as info:
        pipe.run({"raw": pa.table({"x": [1.0]}), "log": "x"}, registry=reg, executor="ray")
    assert isinstance(info.value, ImportError)
    with pytest.raises(MissingDependencyError):
        pipe.run({"raw": pa.table({"x": [1.0]}), "log": "x"}, registry=reg, executor="ray://h:1")


def test_parameters_are_checked_and_recorded_before_anything_runs(reg, tmp_path) -> None:
    import threading

    pipe = Pipeline("diamond", DIAMOND)
    with pytest.raises(InvalidInputError, match="parameter 'raw' cannot be stored"):
        pipe.run({"raw": threading.Lock(), "log": "x"}, registry=reg)
    with pytest.raises(InvalidInputError, match="mapping"):
        pipe.run([("raw", 1)], registry=reg)  # type: ignore[arg-type]
    assert reg.list_experiments() == []  # no run was started
    raw = pa.table({"x": [1.0, None, 3.0]})
    result = pipe.run({"raw": raw, "log": str(tmp_path / "log"), "scale": 0.5}, registry=reg)
    params = reg.get_run(result.run_id).params
    assert params["param.scale"] == "0.5" and params["param.log"] == json.dumps(
        str(tmp_path / "log")
    )
    assert params["param.raw"] == f"sha256:{result.params['raw'].sha256}"
    # Defaults are recorded as the step's inputs, stored with the pipeline run.
    offset = result.steps["right"].inputs["offset"]
    assert offset.path == "defaults/right.offset.json" and result.load(offset.sha256) == 1.0


def test_a_step_without_outputs_runs_for_its_effect(reg, tmp_path) -> None:
    target = tmp_path / "published.txt"

    @seawall.step(outputs=())
    def publish(text, path):
        Path(path).write_text(text)

    result = Pipeline("publish", [publish]).run(
        {"text": "hello", "path": str(target)}, registry=reg, executor="threads"
    )
    assert result.executed == ["publish"] and result.steps["publish"].outputs == {}
    assert target.read_text() == "hello"
