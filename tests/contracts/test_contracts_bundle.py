"""A bundle carries the data contract of its inputs, and the registry keeps it with the version:
saved, verified like every bundle file, read back whole, refused when changed."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

import seawall
from seawall.bundles.manifest import MANIFEST, _digest, _manifest_bytes
from seawall.contracts import Schema
from seawall.demo import fraud_pipeline, transactions
from seawall.errors import IntegrityError, InvalidInputError, NotFoundError
from seawall.serving import load_bundle, save_bundle

FEATURES = ["amount", "hour", "account_age_days", "merchant", "country"]


@pytest.fixture(scope="module")
def trained():
    train = transactions(3000, seed=11)
    pipeline = fraud_pipeline().fit(train.select(FEATURES))
    model = LogisticRegression(max_iter=300).fit(pipeline.transform(train), train["is_fraud"])
    schema = Schema.infer(train)
    schema["is_fraud"].not_in("SERVING")
    return train, pipeline, model, schema


def test_the_bundle_carries_its_schema(trained, tmp_path):
    train, pipeline, model, schema = trained
    path = save_bundle(
        tmp_path / "b",
        python_model=model,
        pipeline=pipeline,
        example=train.select(FEATURES).slice(0, 5),
        schema=schema,
    )
    assert (path / "schema.json").is_file()
    bundle = load_bundle(path, trust_code=True)
    assert bundle.schema == schema
    served = transactions(500, seed=12).drop_columns(["is_fraud"])  # serving: no label
    assert bundle.schema.validate(served, environment="SERVING").kinds() <= {"out_of_range"}
    without = load_bundle(
        save_bundle(tmp_path / "c", python_model=model, pipeline=pipeline), trust_code=True
    )
    assert without.schema is None


def test_a_changed_schema_is_refused(trained, tmp_path):
    _, pipeline, model, schema = trained
    path = save_bundle(tmp_path / "b", python_model=model, pipeline=pipeline, schema=schema)
    text = (path / "schema.json").read_text()
    (path / "schema.json").write_text(text.replace('"amount"', '"amount2"'))
    with pytest.raises(IntegrityError):
        load_bundle(path, trust_code=True)

    # A forger who also rewrites the manifest's hashes still meets the schema's own SHA-256.
    def forge(manifest):
        import hashlib

        data = (path / "schema.json").read_bytes()
        manifest["files"]["schema.json"] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
        }

    manifest = json.loads((path / MANIFEST).read_text())
    forge(manifest)
    manifest["sha256"] = _digest(manifest)
    (path / MANIFEST).write_bytes(_manifest_bytes(manifest))
    with pytest.raises(IntegrityError, match="schema"):
        load_bundle(path, trust_code=True)


def test_the_example_must_satisfy_the_schema(trained, tmp_path):
    train, pipeline, model, schema = trained
    strict = schema.copy()
    strict["amount"].range(0, 1)
    with pytest.raises(InvalidInputError, match="amount"):
        save_bundle(
            tmp_path / "b",
            python_model=model,
            pipeline=pipeline,
            example=train.select(FEATURES).slice(0, 50),
            schema=strict,
        )
    assert not (tmp_path / "b").exists()
    with pytest.raises(InvalidInputError, match=r"seawall\.Schema"):
        save_bundle(tmp_path / "b", python_model=model, pipeline=pipeline, schema={"x": 1})


def test_the_registry_keeps_the_schema_with_the_version(trained, tmp_path):
    _, pipeline, model, schema = trained
    path = save_bundle(tmp_path / "b", python_model=model, pipeline=pipeline, schema=schema)
    plain = save_bundle(tmp_path / "p", python_model=model, pipeline=pipeline)
    with seawall.Registry(f"sqlite:///{tmp_path / 'r.db'}", artifacts=tmp_path / "a") as reg:
        reg.register_model("fraud", path)
        reg.register_model("fraud", plain)
        assert reg.schema("models:/fraud/1") == schema  # without loading (or unpickling) the model
        assert reg.load_model("models:/fraud/1", trust_code=True).schema == schema
        with pytest.raises(NotFoundError, match="without a schema"):
            reg.schema("models:/fraud/2")
    table = pa.table({"amount": [-1.0]})
    assert "out_of_range" in schema.validate(table).kinds()
