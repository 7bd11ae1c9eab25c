"""What a pipeline trusts in the registry: which stored values load without an opt-in, and which
earlier runs may stand for a step. The attacker here is anyone who can write to the registry,
through its public API: a FINISHED step run with the right tags and a pickle that runs code."""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import pickle

import numpy as np
import pyarrow as pa
import pytest
from pipeline_steps import COUNTING, calls, counting_oracle

from seawall.errors import IntegrityError, InvalidInputError, UntrustedCodeError
from seawall.pipelines import Pipeline
from seawall.pipelines._codec import Encoded, decode


class Payload:
    """Unpickling it creates the folder `path`: code an attacker chose, run without harm."""

    def __init__(self, path: os.PathLike[str] | str) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def random_words(rng: np.random.Generator) -> list[str]:
    vocabulary = [f"w{i}" for i in range(int(rng.integers(1, 30)))]
    return [str(w) for w in rng.choice(vocabulary, size=int(rng.integers(1, 200)))]


def forge(reg, honest_id: str, marker, tags=None, params=None, record=None) -> str:
    """A FINISHED step run copied from an honest one (tags, params, step.json), whose output is
    a pickle that creates `marker` when loaded; `tags`, `params` and `record` change some of
    what it claims. Returns its id."""
    honest = reg.get_run(honest_id)
    step_record = json.loads(honest.read_artifact("step.json"))
    (out,) = step_record["outputs"]
    payload = pickle.dumps(Payload(marker))
    sha = hashlib.sha256(payload).hexdigest()
    forged = reg.start_run(
        experiment=honest.experiment,
        name=honest.name,
        tags={**honest.tags, f"seawall.output.{out}": sha, **(tags or {})},
        params={**honest.params, **(params or {})},
    )
    forged.log_bytes(payload, f"outputs/{out}.pkl")
    ref = {**step_record["outputs"][out], "sha256": sha, "size": len(payload), "run_id": forged.id}
    step_record.update({"run_id": forged.id, "outputs": {out: ref}, **(record or {})})
    forged.log_text(json.dumps(step_record), "step.json")
    forged.end("FINISHED")
    return forged.id


@pytest.fixture
def counting(reg, rng, tmp_path):
    """An honest first run of the counting pipeline: (pipeline, params, its result)."""
    pipe = Pipeline("counting", COUNTING)
    params = {"words": random_words(rng), "log": str(tmp_path / "log")}
    first = pipe.run(params, registry=reg)
    assert first.executed == ["counts", "report"]
    assert first.outputs["counts"].format == "pickle"
    return pipe, params, first


def test_a_forged_pickle_in_the_cache_is_not_loaded_without_trust_code(
    reg, tmp_path, counting
) -> None:
    pipe, params, first = counting
    marker = tmp_path / "pwned"
    forged = forge(reg, first.steps["counts"].run_id, marker)
    result = pipe.run(params, registry=reg)
    assert not marker.exists()
    # The step ran again rather than load a pickle from the registry, and the record says why.
    assert result.executed == ["counts"] and calls(params["log"])["counts"] == 2
    assert result["report"] == counting_oracle(params["words"])
    assert result["counts"] == collections.Counter(params["words"])
    (refused,) = [e for e in result.events if e["event"] == "cache_refused"]
    assert refused["step"] == "counts"
    assert forged in refused["detail"] and "pickle" in refused["detail"]
    assert "trust_code=True" in refused["detail"]


def test_trust_code_reuses_a_pickled_output(reg, counting) -> None:
    pipe, params, first = counting
    again = pipe.run(params, registry=reg, trust_code=True)
    assert again.executed == [] and again.cached == ["counts", "report"]
    assert again.steps["counts"].run_id == first.steps["counts"].run_id
    assert again["counts"] == collections.Counter(params["words"])
    assert calls(params["log"]) == {"counts": 1, "report": 1}
    # Without it, the step runs again (the pickle stays in the store), and its dependents,
    # whose input has the same bytes, stay cached.
    plain = pipe.run(params, registry=reg)
    assert plain.executed == ["counts"] and plain.cached == ["report"]
    with pytest.raises(InvalidInputError, match="trust_code must be True or False"):
        pipe.run(params, registry=reg, trust_code="yes")


MISMATCHES = {
    "code hash": {"tags": {"seawall.code_sha256": "0" * 64}},
    "pipeline": {"tags": {"seawall.pipeline": "other"}},
    "step": {"tags": {"seawall.step": "report"}},
    "parent run": {"tags": {"seawall.pipeline_run": "UNRELATED"}},
    "version": {"params": {"version": "2"}},
    "input": {"params": {"input.words": "0" * 64}},
    "extra input": {"params": {"input.other": "0" * 64}},
    "record's step": {"record": {"name": "report"}},
    "record's code hash": {"record": {"code_sha256": "0" * 64}},
    "record's run": {"record": {"run_id": "0" * 32}},
    "record's cache key": {"record": {"cache_key": "0" * 64}},
    "record's status": {"record": {"status": "cached"}},
}


@pytest.mark.parametrize("mismatch", list(MISMATCHES))
def test_a_forged_run_that_does_not_match_the_step_is_never_a_cache_hit(
    reg, tmp_path, counting, mismatch
) -> None:
    pipe, params, first = counting
    change = MISMATCHES[mismatch]
    if change.get("tags", {}).get("seawall.pipeline_run") == "UNRELATED":
        unrelated = reg.start_run(experiment="counting")  # not a pipeline run
        unrelated.end("FINISHED")
        change = {"tags": {"seawall.pipeline_run": unrelated.id}}
    marker = tmp_path / "pwned"
    forge(reg, first.steps["counts"].run_id, marker, **change)
    # Even with trust_code=True, only a run whose record matches the step stands for it.
    result = pipe.run(params, registry=reg, trust_code=True)
    assert not marker.exists()
    assert result.executed == [] and result.cached == ["counts", "report"]
    assert result.steps["counts"].run_id == first.steps["counts"].run_id
    assert result["report"] == counting_oracle(params["words"])
    assert calls(params["log"]) == {"counts": 1, "report": 1}


def test_a_pickle_read_back_through_lineage_loads_only_with_trust_code(reg, counting) -> None:
    pipe, params, first = counting
    # Made by this process in this run: it loads as it is.
    assert first["counts"] == collections.Counter(params["words"])
    record = pipe.lineage(registry=reg)
    assert record["report"] == counting_oracle(params["words"])  # JSON: no opt-in
    with pytest.raises(UntrustedCodeError, match="trust_code=True") as info:
        record["counts"]
    assert isinstance(info.value, PermissionError)
    assert record.load("counts", trust_code=True) == collections.Counter(params["words"])


def test_decoding_runs_code_only_for_pickles_and_only_with_trust_code(tmp_path) -> None:
    marker = tmp_path / "pwned"
    evil = pickle.dumps(Payload(marker))
    with pytest.raises(UntrustedCodeError, match="pickle"):
        decode(Encoded("pickle", evil, "builtins.object"))
    assert decode(Encoded("pickle", pickle.dumps({1, 2}), "builtins.set"), trust_code=True) == {
        1,
        2,
    }
    # A .npy of objects holds a pickle: the npy reader refuses it.
    buf = io.BytesIO()
    np.save(buf, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(IntegrityError, match="npy"):
        decode(Encoded("npy", buf.getvalue(), "numpy.ndarray"), trust_code=True)
    # Arrow's pickle-based extension type (CVE-2023-47248) is read as its storage, not unpickled.
    field = pa.field(
        "x",
        pa.int64(),
        metadata={
            b"ARROW:extension:name": b"arrow.py_extension_type",
            b"ARROW:extension:metadata": evil,
        },
    )
    table = pa.table({"x": pa.array([1, 2, 3], pa.int64())}, schema=pa.schema([field]))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    data = sink.getvalue().to_pybytes()
    assert decode(Encoded("arrow", data, "pyarrow.lib.Table"))["x"].to_pylist() == [1, 2, 3]
    assert decode(Encoded("arrow", data, "pandas.DataFrame"))["x"].tolist() == [1, 2, 3]
    try:  # polars refuses metadata that is not UTF-8 (a panic in Rust, a typed error here)
        assert list(decode(Encoded("arrow", data, "polars.DataFrame"))["x"]) == [1, 2, 3]
    except IntegrityError as exc:
        assert "polars" in str(exc)
    assert not marker.exists()
