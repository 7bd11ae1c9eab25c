"""The Ray executor, on one local Ray instance shared by these tests (the ray_cluster fixture):
independent steps overlap, caching and failures behave as locally, and the distributed fit and
profile equal the one-process ones."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from pipeline_helpers import feature_pipeline, write_dataset
from pipeline_steps import DIAMOND, both, broken, calls, diamond_oracle, ping, pong, raw_table

import seawall
from seawall.errors import StepFailedError
from seawall.pipelines import Pipeline, distributed_fit, distributed_profile


def test_independent_steps_overlap_on_ray(ray_cluster, reg, meeting) -> None:
    pipe = Pipeline("overlap", [ping, pong, both])
    result = pipe.run(meeting, registry=reg, executor="ray")
    assert result.executed == ["ping", "pong", "both"]
    # Each waited for the other to start: they ran at the same time, in two Ray workers.
    pids = result["both"]
    assert len(set(pids)) == 2
    assert reg.get_run(result.run_id).tags["seawall.executor"] == "ray"


def test_caching_and_results_on_ray_match_local_runs(ray_cluster, reg, rng, tmp_path) -> None:
    raw = raw_table(rng)
    log = tmp_path / "log"
    pipe = Pipeline("diamond", DIAMOND)
    result = pipe.run({"raw": raw, "log": str(log)}, registry=reg, executor="ray")
    assert result.executed == ["clean", "left", "right", "joined"]
    assert result["joined"] == pytest.approx(diamond_oracle(raw))
    again = pipe.run({"raw": raw, "log": str(log)}, registry=reg, executor="ray")
    assert again.executed == []
    changed = pipe.run({"raw": raw, "log": str(log), "scale": 3.0}, registry=reg, executor="ray")
    assert changed.executed == ["left", "joined"]
    assert calls(log) == {"clean": 1, "left": 2, "right": 1, "joined": 2}
    # The same step on threads makes the same bytes: the cache is shared across executors.
    local = pipe.run({"raw": raw, "log": str(log), "scale": 3.0}, registry=reg)
    assert local.executed == []


def test_a_failure_on_ray_is_retried_and_reported(ray_cluster, reg, tmp_path) -> None:
    log = str(tmp_path / "log")
    with pytest.raises(StepFailedError, match="broken on purpose") as info:
        Pipeline("failing", [broken]).run({"log": log}, registry=reg, executor="ray")
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.result.steps["broken"].attempts == 2
    assert calls(log) == {"broken": 2}


def test_distributed_fit_and_profile_on_ray_equal_one_process(ray_cluster, rng, tmp_path) -> None:
    dataset = write_dataset(tmp_path / "data", rng, files=3, rows=4000)
    oracle = feature_pipeline().fit(dataset)
    fitted = distributed_fit(feature_pipeline(), dataset, executor="ray")
    assert json.dumps(fitted.to_dict()) == json.dumps(oracle.to_dict())
    table = pq.read_table(dataset)
    np.testing.assert_array_equal(fitted.transform(table), oracle.transform(table))
    profile = distributed_profile(dataset, executor="ray", tasks=2)
    assert profile.to_bytes() == seawall.Profile.from_data(dataset).to_bytes()
