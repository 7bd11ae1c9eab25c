"""Deleting on SQLite and PostgreSQL: soft deletes hide runs, experiments, models and versions
from lists, searches and lookups (DeletedError saying how to restore), restore brings them back
whole, purge removes what they held but keeps lineage and the alias audit, which mark them
deleted; an aliased version cannot be deleted, and alias deletes are audited and restorable.

The oracle is the set of things each test deleted, kept in Python, and the database's own rows
read with plain SQL."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest
from registry_helpers import make_bundle
from sqlalchemy import text

from local_servers import local_of
from seawall.errors import DeletedError, InvalidInputError, NotFoundError, RunClosedError
from seawall.registry._store import HOOKS


def _count(reg, table: str, where: str = "", **params) -> int:
    with local_of(reg)._db.read() as conn:
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(conn.execute(text(sql), params).scalar_one())


def _runs(reg, rng, experiment: str, count: int) -> dict[str, dict]:
    """Runs with random params, metrics, tags, artifacts and an input dataset."""
    made = {}
    for i in range(count):
        with reg.start_run(experiment=experiment, name=f"r{i}") as run:
            auc = float(rng.random())
            run.log_params({"i": i})
            run.log_metric("auc", auc)
            run.set_tag("t", str(i))
            run.log_bytes(rng.bytes(int(rng.integers(1, 64))), "blob.bin")
            run.log_input(pa.table({"x": rng.normal(size=20)}), name="train", profile=True)
        made[run.id] = {"auc": auc, "i": i}
    return made


def test_runs_delete_restore_and_purge(reg, rng):
    made = _runs(reg, rng, "churn", int(rng.integers(4, 8)))
    ids = list(made)
    doomed = [ids[i] for i in rng.choice(len(ids), size=len(ids) // 2, replace=False)]
    for run_id in doomed:
        record = reg.delete_run(run_id, reason="bad data")
        assert (record.kind, record.target, record.action, record.reason) == (
            "run",
            f"run:{run_id}",
            "delete",
            "bad data",
        )
    live = set(ids) - set(doomed)
    assert {r.id for r in reg.search_runs("churn")} == live
    assert {r.id for r in reg.search_runs(None, filter="metrics.auc >= 0")} == live
    for run_id in doomed:
        for lookup in (
            reg.get_run,
            reg.list_artifacts,
            reg.run_inputs,
            lambda r: reg.metric_history(r, "auc"),
        ):
            with pytest.raises(DeletedError, match=f"restore_run\\('{run_id}'\\)"):
                lookup(run_id)
        with pytest.raises(DeletedError, match="is deleted"):
            reg.delete_run(run_id)
    assert {d.target for d in reg.trash()} == {f"run:{r}" for r in doomed}

    # Restored whole: params, metrics, tags, artifacts and inputs as before.
    back, gone = doomed[0], doomed[1:]
    reg.restore_run(back)
    run = reg.get_run(back)
    assert (run.params, run.metrics, run.tags) == (
        {"i": str(made[back]["i"])},
        {"auc": made[back]["auc"]},
        {"t": str(made[back]["i"])},
    )
    assert [a.path for a in run.artifacts] == ["blob.bin"] and len(run.inputs) == 1
    with pytest.raises(InvalidInputError, match="not deleted"):
        reg.restore_run(back)
    with pytest.raises(InvalidInputError, match="delete it first"):
        reg.purge_run(back)

    # Purged: what they held is gone, the rows stay as tombstones with their inputs.
    pks = []
    for run_id in gone:
        pks.append(_count(reg, "runs", "uuid = :u", u=run_id))
        reg.purge_run(run_id, reason="for good")
        with pytest.raises(DeletedError, match="cannot be restored"):
            reg.restore_run(run_id)
        with pytest.raises(DeletedError, match="cannot be restored"):
            reg.get_run(run_id)
    assert pks == [1] * len(gone)
    for table in ("params", "metrics", "latest_metrics", "tags", "artifacts"):
        assert _count(reg, table) == len(live) + 1, table
    assert _count(reg, "run_inputs") == len(made)  # lineage keeps the datasets
    assert {r.id for r in reg.search_runs("churn")} == live | {back}
    actions = [(d.target, d.action) for d in reg.deletion_history(f"run:{gone[0]}")]
    assert actions == [(f"run:{gone[0]}", "delete"), (f"run:{gone[0]}", "purge")]


def test_a_deleted_run_takes_no_more_writes(reg):
    run = reg.start_run(experiment="live")
    reg.delete_run(run.id)
    with pytest.raises(DeletedError, match="is deleted"):
        run.log_metric("m", 1.0)
    reg.restore_run(run.id)
    run.log_metric("m", 1.0)
    run.end()
    with pytest.raises(RunClosedError):
        run.log_metric("m", 2.0)


def test_an_experiment_hides_its_runs_and_its_name_is_free_after_purge(reg, rng):
    kept = _runs(reg, rng, "kept", 2)
    old = _runs(reg, rng, "old", int(rng.integers(2, 5)))
    one = next(iter(old))
    reg.delete_run(one)  # deleted on its own too: restoring the experiment leaves it deleted
    reg.delete_experiment("old", reason="superseded")
    assert [e.name for e in reg.list_experiments()] == ["kept"]
    assert {r.id for r in reg.search_runs(None)} == set(kept)
    with pytest.raises(DeletedError, match="restore_experiment"):
        reg.search_runs("old")
    with pytest.raises(DeletedError, match="restore_experiment"):
        reg.get_experiment("old")
    other = next(r for r in old if r != one)
    with pytest.raises(DeletedError, match="in the deleted experiment 'old'"):
        reg.get_run(other)
    with pytest.raises(DeletedError, match="in the deleted experiment 'old'"):
        reg.restore_run(other)
    with pytest.raises(DeletedError, match="restore_experiment"):
        reg.start_run(experiment="old")
    reg.restore_experiment("old")
    assert {r.id for r in reg.search_runs("old")} == set(old) - {one}

    reg.delete_experiment("old")
    reg.purge_experiment("old")
    assert _count(reg, "params") == len(kept)
    assert _count(reg, "runs", "purged_at IS NOT NULL") == len(old)
    with pytest.raises(DeletedError, match="cannot be restored"):
        reg.restore_experiment("old")
    # The name is free again; the purged runs stay gone.
    with reg.start_run(experiment="old") as fresh:
        fresh.log_metric("auc", 1.0)
    assert [r.id for r in reg.search_runs("old")] == [fresh.id]
    assert sorted(e.name for e in reg.list_experiments()) == ["kept", "old"]


def test_versions_delete_restore_and_purge(reg, tmp_path, rng):
    count = int(rng.integers(3, 6))
    with reg.start_run(experiment="churn") as run:
        run.log_metric("auc", 0.9)
    for i in range(count):
        reg.register_model("churn", make_bundle(tmp_path / f"b{i}", seed=i), run=run)
    newest = count
    before = reg.get_model_version("churn", newest)
    reg.delete_model_version("churn", newest, reason="regressed")
    # "latest" and the model's newest version skip the deleted one.
    assert reg.get_model_version("churn", "latest").version == newest - 1
    assert reg.get_model("churn").latest_version == newest - 1
    assert [v.version for v in reg.list_versions("churn")] == list(range(1, newest))
    for lookup in (
        lambda: reg.get_model_version("churn", newest),
        lambda: reg.load_model(f"models:/churn/{newest}", trust_code=True),
        lambda: reg.set_alias("churn", "champion", newest),
        lambda: reg.record_deployment("churn", newest, target="prod"),
    ):
        with pytest.raises(DeletedError, match=f"restore_model_version\\('churn', {newest}\\)"):
            lookup()
    reg.restore_model_version(f"models:/churn/{newest}")
    assert reg.get_model_version("churn", "latest") == before
    assert reg.load_model(f"models:/churn/{newest}", trust_code=True).metadata["seed"] == newest - 1

    # An alias's audit keeps naming a version that is purged since, marked deleted.
    reg.set_alias("churn", "champion", 1)
    reg.set_alias("churn", "champion", 2)
    reg.delete_model_version("churn", 1)
    reg.purge_model_version("churn", 1, reason="licence")
    first = reg.alias_history("churn", "champion")
    assert [(e.version, e.version_deleted) for e in first] == [(1, True), (2, False)]
    assert (first[1].previous_version, first[1].previous_version_deleted) == (1, True)
    graph = reg.lineage("churn", 1)
    node = graph.node("model_version:churn/1")
    assert (node["deleted"], node["purged"]) == (True, True)
    assert graph.node(f"run:{run.id}")["deleted"] is False
    assert [e.version for e in graph.alias_history] == [1, 2]
    with pytest.raises(DeletedError, match="cannot be restored"):
        reg.restore_model_version("churn", 1)
    # Numbers are never reused.
    assert reg.register_model("churn", tmp_path / "b0").version == count + 1


def test_an_aliased_version_cannot_be_deleted(reg, tmp_path):
    for i in range(3):
        reg.register_model("fraud", make_bundle(tmp_path / f"b{i}", seed=i))
    reg.set_alias("fraud", "champion", 2)
    reg.set_alias("fraud", "shadow", 2)
    reg.set_alias("fraud", "canary", 3)
    with pytest.raises(InvalidInputError, match=r"@champion \(version 2\), @shadow \(version 2\)"):
        reg.delete_model_version("fraud", 2)
    with pytest.raises(InvalidInputError, match="an aliased version cannot be deleted"):
        reg.delete_model_version("models:/fraud@canary")
    with pytest.raises(InvalidInputError, match=r"@canary.*@champion.*@shadow"):
        reg.delete_model("fraud")
    assert reg.get_model_version("fraud", 2).aliases == ("champion", "shadow")

    event = reg.delete_alias("fraud", "shadow", reason="experiment over")
    assert (event.version, event.previous_version, event.reason) == (None, 2, "experiment over")
    assert event.actor is not None
    reg.delete_alias("fraud", "champion", reason="rollback")
    reg.delete_model_version("fraud", 2)
    with pytest.raises(DeletedError, match="models:/fraud/2 is deleted"):
        reg.restore_alias("fraud", "champion")  # its version is deleted
    reg.restore_model_version("fraud", 2)
    back = reg.restore_alias("fraud", "champion", reason="false alarm")
    assert (back.version, back.reason) == (2, "false alarm")
    assert reg.get_model_version("fraud", "champion").version == 2
    with pytest.raises(InvalidInputError, match="not deleted"):
        reg.restore_alias("fraud", "champion")
    with pytest.raises(NotFoundError, match="never had an alias 'staging'"):
        reg.restore_alias("fraud", "staging")
    history = [(e.alias, e.version, e.previous_version) for e in reg.alias_history("fraud")]
    assert history[-3:] == [("shadow", None, 2), ("champion", None, 2), ("champion", 2, None)]


def test_models_delete_restore_purge_and_a_new_life(reg, tmp_path):
    for i in range(2):
        reg.register_model("old", make_bundle(tmp_path / f"b{i}", seed=i), tags={"i": i})
    reg.set_model_tag("old", "team", "fraud")
    reg.delete_model("old", reason="replaced")
    assert [m.name for m in reg.list_models()] == []
    for lookup in (
        lambda: reg.get_model("old"),
        lambda: reg.list_versions("old"),
        lambda: reg.get_model_version("old", 1),
        lambda: reg.resolve("models:/old/latest"),
        lambda: reg.register_model("old", tmp_path / "b0"),
    ):
        with pytest.raises(DeletedError, match="restore_model\\('old'\\)"):
            lookup()
    assert [e.alias for e in reg.alias_history("old")] == []  # the audit stays readable
    reg.restore_model("old")
    assert [v.version for v in reg.list_versions("old")] == [1, 2]
    reg.delete_model("old")
    reg.purge_model("old")
    assert _count(reg, "model_version_tags") == 0 and _count(reg, "model_tags") == 0
    assert _count(reg, "model_versions", "purged_at IS NOT NULL") == 2
    with pytest.raises(DeletedError, match="cannot be restored"):
        reg.get_model("old")
    node = reg.lineage("old", 2).node("model_version:old/2")
    assert (node["deleted"], node["purged"]) == (True, True)
    # The name is free again, and its numbers go on.
    assert reg.register_model("old", tmp_path / "b1").version == 3
    assert [v.version for v in reg.list_versions("old")] == [3]
    assert reg.get_model("old").latest_version == 3


def test_trash_and_history(reg, tmp_path, rng):
    made = _runs(reg, rng, "e", 2)
    reg.register_model("m", make_bundle(tmp_path / "b", seed=1))
    reg.register_model("m", tmp_path / "b")
    first, second = list(made)
    reg.delete_run(first)
    reg.delete_run(second)
    reg.purge_run(second)
    reg.delete_model_version("m", 1, reason="r1")
    reg.delete_experiment("e")
    trash = reg.trash()
    assert [d.target for d in trash] == ["experiment:e", "models:/m/1", f"run:{first}"]
    assert [d.reason for d in trash] == [None, "r1", None]
    history = reg.deletion_history()
    assert [(d.kind, d.action) for d in history] == [
        ("run", "delete"),
        ("run", "delete"),
        ("run", "purge"),
        ("version", "delete"),
        ("experiment", "delete"),
    ]
    assert all(d.actor == history[0].actor for d in history)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda reg: reg.delete_run("not-a-run-id"), InvalidInputError),
        (lambda reg: reg.delete_run("0" * 32), NotFoundError),
        (lambda reg: reg.delete_experiment("nope"), NotFoundError),
        (lambda reg: reg.delete_model("nope"), NotFoundError),
        (lambda reg: reg.delete_model_version("m", 9), NotFoundError),
        (lambda reg: reg.delete_model_version("m", 0), InvalidInputError),
        (lambda reg: reg.delete_model_version("m", "latest"), InvalidInputError),
        (lambda reg: reg.delete_model_version("m"), InvalidInputError),
        (lambda reg: reg.delete_model("m", reason=3), InvalidInputError),
        (lambda reg: reg.restore_model("m"), InvalidInputError),
        (lambda reg: reg.purge_model_version("m", 1), InvalidInputError),
        (lambda reg: reg.restore_alias("m", "bad alias!"), InvalidInputError),
    ],
)
def test_bad_input(reg, tmp_path, call, error):
    reg.register_model("m", make_bundle(tmp_path / "b", seed=1))
    with pytest.raises(error):
        call(reg)
    assert reg.deletion_history() == []  # nothing recorded


def test_an_alias_move_racing_a_delete_never_lands_on_the_deleted_version(reg, tmp_path):
    """set_alias while delete_model_version is inside its transaction, past its alias check:
    the move waits for the delete (the model's row lock) and then finds the version deleted,
    rather than leaving an alias on a deleted version."""
    for i in range(2):
        reg.register_model("race", make_bundle(tmp_path / f"b{i}", seed=i))
    inside, moved = threading.Event(), threading.Event()
    outcome: list[object] = []

    def pause() -> None:
        inside.set()
        moved.wait(timeout=2.0)  # the move finishes first only if nothing orders the two

    def move() -> None:
        inside.wait()
        try:
            outcome.append(reg.set_alias("race", "champion", 2))
        except BaseException as exc:
            outcome.append(exc)
        moved.set()

    mover = threading.Thread(target=move)
    mover.start()
    HOOKS["delete:checked"] = pause
    try:
        reg.delete_model_version("race", 2)
    finally:
        HOOKS.pop("delete:checked")
        mover.join()
    assert len(outcome) == 1 and isinstance(outcome[0], DeletedError), outcome
    on_deleted = _count(
        reg,
        "aliases a JOIN model_versions v ON v.id = a.version_id",
        "v.deleted_at IS NOT NULL",
    )
    assert on_deleted == 0
