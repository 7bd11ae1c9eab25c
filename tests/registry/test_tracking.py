"""Tracking on SQLite and PostgreSQL: experiments, runs, params, metrics, tags, inputs, and the
typed errors for bad input. The database is read back directly (sqlite3 / SQL) as the oracle."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pyarrow as pa
import pytest

import seawall
from seawall.errors import (
    AlreadyExistsError,
    DTypeError,
    InvalidInputError,
    NotFoundError,
    RunClosedError,
    SeawallError,
)
from seawall.profiles import Profile
from seawall.registry import DatasetFingerprint, Metric, Registry


def test_default_registry_lives_under_seawall_home(seawall_home):
    reg = Registry()
    with reg.start_run() as run:
        run.log_metric("m", 1.0)
    assert (seawall_home / "registry.db").exists()
    assert (seawall_home / "artifacts" / "objects").is_dir()
    with sqlite3.connect(seawall_home / "registry.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT uuid, status FROM runs").fetchall() == [(run.id, "FINISHED")]
    assert seawall.Registry is Registry


def test_run_records_params_metrics_tags_and_times(reg, rng):
    values = rng.normal(size=20)
    with reg.start_run(experiment="churn", name="first", tags={"team": "risk"}) as run:
        run.log_params({"lr": 0.1, "depth": 6, "kind": "gbm", "flag": True})
        for step, v in enumerate(values):
            run.log_metric("loss", float(v), step=step)
        run.log_metrics({"auc": 0.75, "f1": 0.5}, step=3)
        run.set_tag("stage", "dev")
        assert run.status == "RUNNING"
    assert run.status == "FINISHED"
    got = reg.get_run(run.id)
    assert got.experiment == "churn" and got.name == "first" and got.status == "FINISHED"
    assert got.start_time <= got.end_time
    assert got.params == {"lr": "0.1", "depth": "6", "kind": "gbm", "flag": "True"}
    assert got.tags == {"team": "risk", "stage": "dev"}
    assert got.metrics == {"loss": float(values[-1]), "auc": 0.75, "f1": 0.5}
    history = reg.metric_history(run.id, "loss")
    assert [m.step for m in history] == list(range(20))
    assert [m.value for m in history] == [float(v) for v in values]
    assert [e.name for e in reg.list_experiments()] == ["churn"]


def test_latest_metric_is_greatest_step_then_time(reg, rng):
    """The newest value per key (what search sees) is the greatest (step, timestamp), whatever
    the order of logging; checked against a brute-force max over random points."""
    points = [
        (f"k{rng.integers(3)}", float(rng.normal()), int(rng.integers(5)), float(rng.integers(4)))
        for _ in range(60)
    ]
    with reg.start_run() as run:
        for i in range(0, len(points), 7):
            run.log_batch(points[i : i + 7])
    expected = {}
    for order, (key, value, step, ts) in enumerate(points):
        best = expected.get(key)
        if best is None or (step, ts, order) >= best[0]:
            expected[key] = ((step, ts, order), value)
    assert reg.get_run(run.id).metrics == {k: v for k, (_, v) in expected.items()}


def test_block_that_raises_ends_the_run_failed(reg):
    with pytest.raises(ZeroDivisionError), reg.start_run() as run:
        run.log_metric("x", 1.0)
        _ = 1 / 0
    assert reg.get_run(run.id).status == "FAILED"
    with pytest.raises(KeyboardInterrupt), reg.start_run() as run2:
        raise KeyboardInterrupt
    assert reg.get_run(run2.id).status == "KILLED"


def test_closed_run_refuses_writes(reg, tmp_path):
    with reg.start_run() as run:
        pass
    other_handle = reg.get_run(run.id)
    (tmp_path / "f.txt").write_text("x")
    for write in (
        lambda r: r.log_metric("m", 1.0),
        lambda r: r.log_param("p", 1),
        lambda r: r.set_tag("t", "v"),
        lambda r: r.log_artifact(tmp_path / "f.txt"),
        lambda r: r.log_input({"a": [1, 2]}),
        lambda r: r.end(),
    ):
        with pytest.raises(RunClosedError):
            write(run)
        with pytest.raises(RuntimeError):  # the builtin it subclasses
            write(other_handle)
    assert reg.get_run(run.id).metrics == {}


def test_params_are_write_once(reg):
    with reg.start_run() as run:
        run.log_param("lr", 0.1)
        run.log_param("lr", "0.1")  # the same value again is fine
        with pytest.raises(AlreadyExistsError, match="write-once"):
            run.log_param("lr", 0.2)
        with pytest.raises(FileExistsError):
            run.log_params({"depth": 3, "lr": 0.3})
    # The failed batch wrote nothing, not even its valid part.
    assert reg.get_run(run.id).params == {"lr": "0.1"}


def test_batch_is_all_or_nothing(reg):
    with reg.start_run() as run:
        with pytest.raises(InvalidInputError):
            run.log_batch([("a", 1.0), ("b", float("nan"))])
        with pytest.raises(DTypeError):
            run.log_batch([("a", 1.0, 0, 0.0), ("b", "high")], params={"p": 1})
        run.log_batch([Metric("a", 2.0, 1, 5.0), ("b", 3, 2)], params={"p": 1}, tags={"t": 1})
    got = reg.get_run(run.id)
    assert got.metrics == {"a": 2.0, "b": 3.0}
    assert got.params == {"p": "1"} and got.tags == {"t": "1"}
    assert [(m.step, m.timestamp) for m in reg.metric_history(run.id, "a")] == [(1, 5.0)]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (float("nan"), InvalidInputError),
        (float("inf"), InvalidInputError),
        (-math.inf, InvalidInputError),
        (np.float32("nan"), InvalidInputError),
        ("0.9", DTypeError),
        (None, DTypeError),
        (True, DTypeError),
        ([1.0], DTypeError),
    ],
)
def test_metric_must_be_a_finite_number(reg, value, error):
    with reg.start_run() as run:
        with pytest.raises(error, match="metric 'auc'"):
            run.log_metric("auc", value)
        run.log_metric("ok", np.float64(0.5), step=np.int64(2))
    assert reg.get_run(run.id).metrics == {"ok": 0.5}


@pytest.mark.parametrize(
    "name", ["", "a/b", "has space", "x@y", "-lead", "é", "a" * 129, 3, None, "../up"]
)
def test_invalid_names_are_refused(reg, name):
    with pytest.raises(InvalidInputError):
        reg.start_run(experiment=name)
    with pytest.raises(ValueError):
        reg.create_experiment(name)
    with pytest.raises(SeawallError):
        reg.get_model(name)


@pytest.mark.parametrize("key", ["", " lead", "a..b", "x" * 251, "tab\tkey", "q'uote", 7])
def test_invalid_keys_are_refused(reg, key):
    with reg.start_run() as run:
        with pytest.raises(InvalidInputError):
            run.log_metric(key, 1.0)
        with pytest.raises(InvalidInputError):
            run.log_param(key, 1)
        with pytest.raises(InvalidInputError):
            run.set_tag(key, 1)


def test_unknown_things_raise_not_found(reg):
    with pytest.raises(NotFoundError, match="no experiment named 'nope'"):
        reg.get_experiment("nope")
    with pytest.raises(KeyError):
        reg.get_run("0" * 32)
    with pytest.raises(InvalidInputError, match="32 lowercase hex"):
        reg.get_run("not-a-run")
    with pytest.raises(NotFoundError):
        reg.search_runs("nope")


def test_experiments_are_unique(reg):
    exp = reg.create_experiment("churn", description="monthly churn")
    assert reg.get_experiment("churn") == exp
    with pytest.raises(AlreadyExistsError):
        reg.create_experiment("churn")
    run = reg.start_run(experiment="churn")  # reuses it
    run.end()
    assert [e.name for e in reg.list_experiments()] == ["churn"]


def test_inputs_are_recorded_by_fingerprint_with_profile(reg, rng):
    n = int(rng.integers(100, 3000))
    table = pa.table({"x": rng.normal(size=n), "s": [f"v{i % 7}" for i in range(n)]})
    profile = Profile.from_data(table)
    with reg.start_run() as run:
        recorded = run.log_input(table, name="train", profile=profile, source="s3://b/train")
        run.log_input(table.slice(0, n // 2), name="valid", context="validation")
    fp = DatasetFingerprint.from_data(table)
    assert recorded.fingerprint == fp.fingerprint and recorded.num_rows == n
    assert recorded.schema == [
        {"name": "x", "type": "double", "nullable": True},
        {"name": "s", "type": "string", "nullable": True},
    ]
    inputs = {i.context: i for i in reg.run_inputs(run.id)}
    assert set(inputs) == {"training", "validation"}
    assert inputs["validation"].num_rows == n // 2 and inputs["validation"].profile_sha256 is None
    stored = reg.artifacts.get_bytes(inputs["training"].profile_sha256)
    assert stored == profile.to_bytes()
    with reg.start_run() as run2:
        again = run2.log_input(table, profile=True)
    assert again.fingerprint == fp.fingerprint  # one dataset row, shared by both runs
    assert again.profile_sha256 == inputs["training"].profile_sha256


def test_fingerprint_depends_on_content_not_chunking(rng):
    n = int(rng.integers(70_000, 140_000))  # more than one hashing block
    x = rng.normal(size=n)
    s = np.array([f"v{i}" for i in rng.integers(0, 50, n)])
    table = pa.table({"x": x, "s": s})
    cuts = np.sort(rng.choice(np.arange(1, n), size=5, replace=False))
    pieces = [table.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    base = DatasetFingerprint.from_data(table)
    assert DatasetFingerprint.from_data(pa.concat_tables(pieces)).fingerprint == base.fingerprint
    assert DatasetFingerprint.from_data(pieces).fingerprint == base.fingerprint
    batches = table.to_batches(max_chunksize=int(rng.integers(1000, 50_000)))
    assert DatasetFingerprint.from_data(iter(batches)).fingerprint == base.fingerprint
    assert base.num_rows == n
    changed = x.copy()
    changed[int(rng.integers(n))] += 1e-9
    assert DatasetFingerprint.from_data({"x": changed, "s": s}).fingerprint != base.fingerprint
    renamed = table.rename_columns(["x2", "s"])
    assert DatasetFingerprint.from_data(renamed).fingerprint != base.fingerprint


def test_bad_inputs_to_log_input(reg):
    with reg.start_run() as run:
        with pytest.raises(InvalidInputError, match="context"):
            run.log_input({"a": [1]}, context="Training Set")
        with pytest.raises(InvalidInputError, match="profile"):
            run.log_input({"a": [1]}, profile="yes")
        with pytest.raises(DTypeError):
            run.log_input(42)
