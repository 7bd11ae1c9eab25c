"""`seawall runs|experiments|models delete|restore|purge`, `models delete-alias|restore-alias`
and `seawall gc`: each does what the Python API does (checked through the API afterwards), and a
refusal (an aliased version, a purged run) is a one-line error with exit status 1."""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner
from registry_helpers import make_bundle, referenced_objects, stored_objects

from seawall.cli import main
from seawall.errors import DeletedError
from seawall.registry import Registry


@pytest.fixture
def filled(tmp_path, rng):
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    reg = Registry(uri, artifacts=tmp_path / "artifacts")
    ids = []
    for i in range(3):
        with reg.start_run(experiment="churn", name=f"run-{i}") as run:
            run.log_bytes(rng.bytes(100), "blob.bin")
        ids.append(run.id)
    for i in range(2):
        reg.register_model("churn", make_bundle(tmp_path / f"b{i}", seed=i), run=ids[i])
    reg.set_alias("churn", "champion", 1)
    env = {"SEAWALL_REGISTRY_URI": uri, "SEAWALL_ARTIFACTS_URI": str(tmp_path / "artifacts")}
    yield reg, ids, env
    reg.close()


def _invoke(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_runs_delete_restore_purge(filled):
    reg, ids, env = filled
    out = _invoke(env, "runs", "delete", ids[0], ids[1], "--reason", "bad data")
    assert out.exit_code == 0, out.output
    assert out.output.splitlines() == [
        f"deleted run:{ids[0]} (bad data)",
        f"deleted run:{ids[1]} (bad data)",
    ]
    assert {r.id for r in reg.search_runs("churn")} == {ids[2]}
    assert _invoke(env, "runs", "restore", ids[0]).exit_code == 0
    assert {r.id for r in reg.search_runs("churn")} == {ids[0], ids[2]}
    out = _invoke(env, "runs", "purge", ids[1])
    assert out.exit_code == 0 and out.output == f"purged run:{ids[1]}\n"
    out = _invoke(env, "runs", "delete", ids[2], "--purge")
    assert out.output.splitlines() == [f"deleted run:{ids[2]}", f"purged run:{ids[2]}"]
    out = _invoke(env, "runs", "restore", ids[1])
    assert out.exit_code == 1
    assert out.output.strip().splitlines() == [
        f"Error: run {ids[1]} was deleted permanently (purged): it cannot be restored"
    ]
    assert [d.action for d in reg.deletion_history(f"run:{ids[1]}")] == ["delete", "purge"]


def test_models_and_aliases(filled):
    reg, _, env = filled
    out = _invoke(env, "models", "delete", "churn", "1")
    assert out.exit_code == 1
    assert "@champion (version 1)" in out.output and len(out.output.strip().splitlines()) == 1
    out = _invoke(env, "models", "delete-alias", "churn", "champion", "-r", "retired")
    assert (out.exit_code, out.output) == (0, "churn@champion: version 1 -> removed\n")
    assert reg.alias_history("churn", "champion")[-1].reason == "retired"
    assert _invoke(env, "models", "delete", "models:/churn/1").exit_code == 0
    with pytest.raises(DeletedError):
        reg.get_model_version("churn", 1)
    assert _invoke(env, "models", "restore", "churn", "1").exit_code == 0
    out = _invoke(env, "models", "restore-alias", "churn", "champion")
    assert (out.exit_code, out.output) == (0, "churn@champion: removed -> version 1\n")
    assert _invoke(env, "models", "delete", "churn", "2", "--purge").exit_code == 0
    assert [v.version for v in reg.list_versions("churn")] == [1]
    assert _invoke(env, "models", "delete-alias", "churn", "champion").exit_code == 0
    out = _invoke(env, "models", "delete", "churn", "--reason", "replaced")
    assert (out.exit_code, out.output) == (0, "deleted model:churn (replaced)\n")
    assert reg.list_models() == []
    assert _invoke(env, "models", "restore", "churn").exit_code == 0
    assert [m.name for m in reg.list_models()] == ["churn"]


def test_experiments(filled):
    reg, ids, env = filled
    assert _invoke(env, "experiments", "delete", "churn").exit_code == 0
    assert reg.search_runs(None) == []
    assert _invoke(env, "experiments", "restore", "churn").exit_code == 0
    assert len(reg.search_runs("churn")) == 3
    out = _invoke(env, "experiments", "delete", "churn", "--purge")
    assert out.output.splitlines() == ["deleted experiment:churn", "purged experiment:churn"]
    with pytest.raises(DeletedError, match="cannot be restored"):
        reg.get_run(ids[0])


def test_gc_dry_run_then_gc(filled):
    reg, ids, env = filled
    reg.delete_run(ids[2])
    reg.purge_run(ids[2])
    before = stored_objects(reg.artifacts)
    garbage = set(before) - referenced_objects(reg)
    assert garbage  # the purged run's blob
    out = _invoke(env, "gc", "--dry-run", "--min-age", "0", "--json")
    assert out.exit_code == 0, out.output
    dry = json.loads(out.output)
    assert (dry["dry_run"], set(dry["removed_objects"])) == (True, garbage)
    assert stored_objects(reg.artifacts) == before
    kept = _invoke(env, "gc")  # everything is younger than the default hour
    assert kept.exit_code == 0 and kept.output.startswith("removed 0 of ")
    out = _invoke(env, "gc", "--min-age", "0s")
    assert out.exit_code == 0 and out.output.startswith(f"removed {len(garbage)} of {len(before)}")
    after = stored_objects(reg.artifacts)
    assert set(after) == set(before) - garbage
    assert all(hashlib.sha256(v).hexdigest() == k for k, v in after.items())
    bad = _invoke(env, "gc", "--min-age", "soon")
    assert bad.exit_code == 2 and "is not a duration" in bad.output
