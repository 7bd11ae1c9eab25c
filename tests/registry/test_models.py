"""Models on SQLite and PostgreSQL: versions from runs with bundles and reference profiles,
aliases and their audit trail, URIs, verified bundle copies, and lineage end to end."""

from __future__ import annotations

import itertools
import json
import os

import numpy as np
import pyarrow as pa
import pytest
from registry_helpers import make_bundle

import seawall.bundles
import seawall.serving
from local_servers import store_of
from seawall.errors import (
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    UnsupportedVersionError,
)
from seawall.profiles import Profile
from seawall.registry import Registry, resolve_bundle
from seawall.registry._store import hash_file, walk_files


def _tree(path):
    return {name: p.read_bytes() for name, p in walk_files(path)}


def test_versions_count_up_and_keep_their_bundle(reg, tmp_path, rng):
    count = int(rng.integers(3, 7))
    bundles = [
        make_bundle(tmp_path / f"b{i}", seed=int(rng.integers(1 << 30))) for i in range(count)
    ]
    with reg.start_run(experiment="churn") as run:
        run.log_metric("auc", 0.9)
    versions = [
        reg.register_model("churn", b, run=run, description=f"v{i}", tags={"i": i})
        for i, b in enumerate(bundles)
    ]
    assert [v.version for v in versions] == list(range(1, count + 1))
    assert all(v.run_id == run.id for v in versions)
    listed = reg.list_versions("churn")
    assert [(v.version, v.description, v.tags) for v in listed] == [
        (i + 1, f"v{i}", {"i": str(i)}) for i in range(count)
    ]
    for v, b in zip(versions, bundles, strict=True):
        assert _tree(reg.bundle_path(v.uri)) == _tree(b)
    assert reg.get_model("churn").latest_version == count
    assert reg.resolve("models:/churn/latest").version == count
    other = reg.register_model("other", bundles[0])
    assert other.version == 1 and other.run_id is None
    assert [m.name for m in reg.list_models()] == ["churn", "other"]


def test_aliases_move_atomically_with_their_history(reg, tmp_path):
    for i in range(3):
        reg.register_model("m", make_bundle(tmp_path / f"b{i}", seed=i))
    first = reg.set_alias("m", "champion", 1, reason="first model")
    assert (first.version, first.previous_version, first.reason) == (1, None, "first model")
    reg.set_alias("m", "challenger", 3)
    moved = reg.promote("m", "champion", "challenger", reason="won the A/B test")
    assert (moved.version, moved.previous_version) == (3, 1)
    assert reg.resolve("models:/m@champion").version == 3
    assert reg.get_model("m").aliases == {"champion": 3, "challenger": 3}
    assert reg.get_model_version("m", 3).aliases == ("challenger", "champion")
    deleted = reg.delete_alias("m", "challenger", reason="done")
    assert (deleted.version, deleted.previous_version) == (None, 3)
    history = reg.alias_history("m")
    assert [(e.alias, e.version, e.previous_version, e.reason) for e in history] == [
        ("champion", 1, None, "first model"),
        ("challenger", 3, None, None),
        ("champion", 3, 1, "won the A/B test"),
        ("challenger", None, 3, "done"),
    ]
    assert all(a.at <= b.at for a, b in itertools.pairwise(history))
    assert [e.version for e in reg.alias_history("m", "champion")] == [1, 3]
    with pytest.raises(NotFoundError, match="no alias 'challenger'"):
        reg.resolve("models:/m@challenger")


def test_a_failed_alias_move_changes_nothing(reg, tmp_path):
    reg.register_model("m", make_bundle(tmp_path / "b", seed=1))
    reg.set_alias("m", "champion", 1)
    with pytest.raises(NotFoundError, match="no version 9"):
        reg.set_alias("m", "champion", 9)
    assert reg.resolve("models:/m@champion").version == 1
    assert len(reg.alias_history("m")) == 1


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        ("models:/m/9", NotFoundError),
        ("models:/m@nope", NotFoundError),
        ("models:/absent/1", NotFoundError),
        ("models:/m", InvalidInputError),
        ("models:/m/0", InvalidInputError),
        ("models:/m/-1", InvalidInputError),
        ("models:/m/one", InvalidInputError),
        ("models:/m@latest", InvalidInputError),
        ("models:/m@1", InvalidInputError),
        ("runs:/abc/model", InvalidInputError),
        ("models:/bad name/1", InvalidInputError),
    ],
)
def test_bad_model_uris(reg, tmp_path, uri, error):
    reg.register_model("m", make_bundle(tmp_path / "b", seed=1))
    with pytest.raises(error):
        reg.resolve(uri)
    with pytest.raises(error):
        resolve_bundle(uri, reg)


@pytest.mark.parametrize("alias", ["latest", "3", "with space", "a/b", "", "x" * 129])
def test_invalid_aliases(reg, tmp_path, alias):
    reg.register_model("m", make_bundle(tmp_path / "b", seed=1))
    with pytest.raises(InvalidInputError):
        reg.set_alias("m", alias, 1)


def test_register_refuses_bad_bundles(reg, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(IntegrityError, match=r"has no bundle\.json"):
        reg.register_model("m", empty)
    with pytest.raises(NotFoundError):
        reg.register_model("m", tmp_path / "missing")
    linked = make_bundle(tmp_path / "linked", seed=2)
    (linked / "escape").symlink_to("/etc/hostname")
    with pytest.raises(InvalidInputError, match="symlink"):
        reg.register_model("m", linked)
    with pytest.raises(NotFoundError):
        reg.register_model("m", make_bundle(tmp_path / "ok", seed=3), run="f" * 32)
    with pytest.raises(NotFoundError):  # nothing was registered by the failures
        reg.get_model("m")
    assert _stored(reg) == set()  # and nothing was stored


def _stored(reg) -> set:
    return {p.name for p in (store_of(reg).local_path("0" * 64).parents[1]).rglob("*")}


def _rewrite(path, change):
    """Edits a bundle's manifest with its SHA-256 recomputed, as a careful forger would."""
    from seawall.bundles.manifest import MANIFEST, _digest, _manifest_bytes

    manifest = json.loads((path / MANIFEST).read_text())
    change(manifest)
    manifest["sha256"] = _digest(manifest)
    (path / MANIFEST).write_bytes(_manifest_bytes(manifest))


def _append(path, data):
    os.chmod(path, 0o644)
    with open(path, "ab") as fh:
        fh.write(data)


BROKEN = {
    "no manifest": (lambda b: (b / "bundle.json").unlink(), IntegrityError, "has no bundle.json"),
    "not JSON": (
        lambda b: (b / "bundle.json").write_text('{"format": '),
        IntegrityError,
        "not valid JSON",
    ),
    "edited manifest": (
        lambda b: (b / "bundle.json").write_text(
            (b / "bundle.json").read_text().replace('"name": "', '"name": "x')
        ),
        IntegrityError,
        "bundle.json was modified or corrupted",
    ),
    "changed model": (
        lambda b: _append(b / "model.pkl", b"\x00"),
        IntegrityError,
        "model.pkl was modified or corrupted",
    ),
    "missing model": (lambda b: (b / "model.pkl").unlink(), IntegrityError, "model.pkl is missing"),
    "unlisted model": (
        lambda b: _rewrite(b, lambda m: m["model"].update(file="other.pkl")),
        IntegrityError,
        "names a model file it does not list",
    ),
    "no signature": (
        lambda b: _rewrite(b, lambda m: m.pop("signature")),
        IntegrityError,
        "malformed",
    ),
    "newer format": (
        lambda b: _rewrite(b, lambda m: m.update(format_version=99)),
        UnsupportedVersionError,
        "format version 99",
    ),
    "unknown model kind": (
        lambda b: _rewrite(b, lambda m: m["model"].update(flavor="tensorflow")),
        UnsupportedVersionError,
        "'tensorflow' model",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_register_checks_the_bundle_before_storing_anything(reg, tmp_path, case):
    """A folder that is not a valid bundle is refused by name, with no version created and no
    object stored; the same bundle intact registers."""
    breaks, error, message = BROKEN[case]
    reg.register_model("m", make_bundle(tmp_path / "good", seed=1))
    before = _stored(reg)
    bundle = make_bundle(tmp_path / "broken", seed=2)
    breaks(bundle)
    with pytest.raises(error, match=message):
        reg.register_model("m", bundle)
    with pytest.raises(error, match=message):
        seawall.bundles.verify_bundle(bundle)  # the same check, without a registry
    assert [v.version for v in reg.list_versions("m")] == [1]
    assert reg.get_model("m").latest_version == 1
    assert _stored(reg) == before
    assert reg.register_model("m", make_bundle(tmp_path / "fixed", seed=2)).version == 2


def test_resolve_bundle_verifies_and_repairs_its_copy(tmp_path, sqlite_uri, seawall_home):
    reg = Registry(sqlite_uri, artifacts=tmp_path / "artifacts")
    bundle = make_bundle(tmp_path / "bundle", seed=5)
    mv = reg.register_model("m", bundle)
    reg.set_alias("m", "champion", 1)
    path = resolve_bundle("models:/m@champion", reg)
    assert path.is_relative_to(seawall_home / "cache")
    assert _tree(path) == _tree(bundle)
    # A changed, added or removed file in the local copy is noticed and the copy remade.
    (path / "MODEL").write_text("tampered")
    (path / "extra.txt").write_text("x")
    again = reg.bundle_path(mv.uri)
    assert _tree(again) == _tree(bundle)
    # The default registry (SEAWALL_HOME) is used when none is given.
    default = Registry()
    default.register_model("d", bundle)
    assert _tree(resolve_bundle("models:/d/1")) == _tree(bundle)


def test_corrupted_bundle_file_is_never_loaded(tmp_path, sqlite_uri, monkeypatch):
    reg = Registry(sqlite_uri, artifacts=tmp_path / "artifacts")
    bundle = make_bundle(tmp_path / "bundle", seed=6)
    mv = reg.register_model("m", bundle)
    sha, _ = hash_file(bundle / "MODEL")
    obj = reg.artifacts.local_path(sha)
    os.chmod(obj, 0o644)
    obj.write_text("bundle 6 but evil\n")
    loaded = []
    monkeypatch.setattr(seawall.bundles, "load_bundle", loaded.append)
    with pytest.raises(IntegrityError):
        reg.load_model(mv.uri)
    with pytest.raises(IntegrityError):
        resolve_bundle(mv.uri, reg)
    assert loaded == []
    # The manifest itself is checked too.
    manifest = reg.artifacts.local_path(mv.bundle_sha256)
    os.chmod(manifest, 0o644)
    manifest.write_text('{"format": "seawall.bundle/1", "files": []}')
    with pytest.raises(IntegrityError):
        reg.bundle_manifest(mv.uri)


def test_load_model_calls_load_bundle(reg, tmp_path, monkeypatch):
    bundle = make_bundle(tmp_path / "bundle", seed=7)
    reg.register_model("m", bundle)
    reg.set_alias("m", "prod", 1)
    seen = []

    def fake_load_bundle(path, **kwargs):
        seen.append((_tree(path), kwargs))
        return "loaded model"

    monkeypatch.setattr(seawall.bundles, "load_bundle", fake_load_bundle)
    assert reg.load_model("models:/m@prod", trust_code=True) == "loaded model"
    assert seen == [(_tree(bundle), {"trust_code": True})]


def test_a_real_serving_bundle_round_trips(reg, tmp_path, rng):
    """save_bundle -> register_model -> load_model gives the same predictions."""
    save_bundle = getattr(seawall.serving, "save_bundle", None)
    if save_bundle is None:
        pytest.skip("this seawall.serving has no save_bundle yet")
    from sklearn.linear_model import LogisticRegression

    X = rng.normal(size=(200, 3)).astype(np.float32)
    model = LogisticRegression().fit(X, X[:, 0] + 0.3 * X[:, 1] > 0)
    path = save_bundle(tmp_path / "bundle", python_model=model)
    with reg.start_run() as run:
        run.log_metric("accuracy", float(model.score(X, X[:, 0] + 0.3 * X[:, 1] > 0)))
    reg.register_model("clf", path, run=run)
    reg.set_alias("clf", "champion", 1)
    loaded = reg.load_model("models:/clf@champion", trust_code=True)
    direct = seawall.serving.load_bundle(path, trust_code=True)
    got, want = loaded.predict(X[:20]), direct.predict(X[:20])
    assert got.keys() == want.keys()
    for name in got:
        np.testing.assert_array_equal(got[name], want[name])


def test_import_seawall_does_not_load_sqlalchemy():
    import subprocess
    import sys

    code = (
        "import sys, seawall, seawall.cli, seawall.registry; "
        "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'; "
        "seawall.Registry; assert 'sqlalchemy' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_reference_profile_defaults_to_the_training_input(reg, tmp_path, rng):
    table = pa.table({"x": rng.normal(size=500), "y": rng.integers(0, 9, 500)})
    profile = Profile.from_data(table)
    with reg.start_run() as run:
        run.log_input(table, name="train", profile=profile)
        run.log_input(table.slice(0, 100), context="validation", profile=True)
    mv = reg.register_model("m", make_bundle(tmp_path / "b", seed=1), run=run)
    assert reg.reference_profile(mv.uri).to_bytes() == profile.to_bytes()
    other = Profile.from_data(table.slice(0, 10))
    explicit = reg.register_model("m", make_bundle(tmp_path / "b2", seed=2), profile=other)
    assert reg.reference_profile(explicit.uri).to_bytes() == other.to_bytes()
    saved = tmp_path / "p.profile"
    profile.save(saved)
    from_path = reg.register_model("m", make_bundle(tmp_path / "b3", seed=3), profile=saved)
    got = reg.reference_profile(from_path.uri)
    assert np.isclose(got.stats("x")["mean"], float(np.mean(table.column("x"))))
    bare = reg.register_model("m", make_bundle(tmp_path / "b4", seed=4))
    with pytest.raises(NotFoundError, match="without a reference profile"):
        reg.reference_profile(bare.uri)


def test_lineage_from_datasets_to_deployments(reg, tmp_path, rng):
    train = pa.table({"x": rng.normal(size=300)})
    valid = pa.table({"x": rng.normal(size=100)})
    with reg.start_run(experiment="churn", name="train-1") as run:
        run.log_params({"lr": 0.1})
        run.log_metric("auc", 0.91)
        t = run.log_input(train, name="train", profile=True)
        v = run.log_input(valid, name="valid", context="validation")
    reg.register_model("churn", make_bundle(tmp_path / "b1", seed=1), run=run)
    mv = reg.register_model("churn", make_bundle(tmp_path / "b2", seed=2), run=run)
    reg.set_alias("churn", "champion", 1, reason="first")
    reg.set_alias("churn", "champion", 2, reason="better")
    reg.set_alias("churn", "shadow", 2)
    dep = reg.record_deployment("churn", "champion", target="prod-eu", details={"replicas": 3})
    assert (dep.version, dep.alias, dep.details) == (2, "champion", {"replicas": 3})

    lin = reg.lineage("churn", 2)
    mv_node = f"model_version:churn/{mv.version}"
    run_node = f"run:{run.id}"
    edges = {(e["source"], e["target"], e["relation"]) for e in lin.edges}
    assert edges == {
        (f"dataset:{t.fingerprint}", run_node, "training"),
        (f"dataset:{v.fingerprint}", run_node, "validation"),
        (run_node, mv_node, "produced"),
        (mv_node, "alias:churn@champion", "aliased"),
        (mv_node, "alias:churn@shadow", "aliased"),
        (mv_node, f"deployment:{dep.id}", "deployed"),
    }
    assert lin.node(run_node)["params"] == {"lr": "0.1"}
    assert lin.node(f"dataset:{t.fingerprint}")["num_rows"] == 300
    assert lin.node(f"dataset:{t.fingerprint}")["profile_sha256"] is not None
    assert lin.node(f"deployment:{dep.id}")["target"] == "prod-eu"
    assert [(e.alias, e.version, e.previous_version, e.reason) for e in lin.alias_history] == [
        ("champion", 2, 1, "better"),
        ("shadow", 2, None, None),
    ]
    # Version 1 lost the alias: its lineage keeps the move away from it.
    lin1 = reg.lineage("models:/churn/1")
    assert lin1.of_kind("alias") == [] and lin1.of_kind("deployment") == []
    assert [(e.version, e.previous_version) for e in lin1.alias_history] == [(1, None), (2, 1)]
    assert lin.to_dict()["alias_history"][0]["reason"] == "better"


def test_tags_and_descriptions(reg, tmp_path):
    reg.register_model("m", make_bundle(tmp_path / "b", seed=1), description="first")
    reg.set_model_description("m", "churn model")
    reg.set_model_tag("m", "owner", "risk-team")
    reg.set_version_tag("m", 1, "validated", True)
    reg.set_version_description("m", 1, "retrained on May data")
    model = reg.get_model("m")
    assert model.description == "churn model" and model.tags == {"owner": "risk-team"}
    version = reg.get_model_version("models:/m/1")
    assert version.description == "retrained on May data"
    assert version.tags == {"validated": "True"}
    with pytest.raises(NotFoundError):
        reg.set_model_tag("absent", "k", "v")
    with pytest.raises(NotFoundError):
        reg.set_version_tag("m", 2, "k", "v")
