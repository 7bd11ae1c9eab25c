"""Model bundles: save and load round trips against the scikit-learn oracle, every raw-record
input form, the trust gate for pickled models, integrity and version checks, atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from serving_helpers import assert_matches_oracle, records, transactions

import seawall as sw
from seawall.bundles.manifest import MANIFEST, _digest, _manifest_bytes
from seawall.errors import (
    AlreadyExistsError,
    DTypeError,
    IntegrityError,
    InvalidInputError,
    MissingColumnError,
    NotFittedError,
    UnsupportedVersionError,
    UntrustedCodeError,
)
from seawall.serving import Bundle, OnnxModel, load_bundle, save_bundle


def rewrite_manifest(path: Path, change) -> None:
    """Edits a bundle's manifest and recomputes its SHA-256, written byte for byte as seawall
    writes it, as a careful forger would."""
    manifest = json.loads((path / MANIFEST).read_text())
    change(manifest)
    manifest["sha256"] = _digest(manifest)
    (path / MANIFEST).write_bytes(_manifest_bytes(manifest))


def linear_onnx(weights: np.ndarray, bias: np.ndarray, dtype=np.float32):
    """Y = X @ W + b, built by hand with onnx.helper (no converter involved)."""
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["XW"]),
            helper.make_node("Add", ["XW", "b"], ["Y"]),
        ],
        "linear",
        [helper.make_tensor_value_info("X", elem, [None, weights.shape[0]])],
        [helper.make_tensor_value_info("Y", elem, [None, weights.shape[1]])],
        [
            numpy_helper.from_array(weights.astype(dtype), "W"),
            numpy_helper.from_array(bias.astype(dtype), "b"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_bundle_round_trip_matches_the_oracle(fitted, tmp_path, rng):
    path = save_bundle(
        tmp_path / "fraud",
        onnx_model=fitted.onnx,
        pipeline=fitted.pipeline,
        version=7,
        metadata={"owner": "risk", "auc": 0.91},
    )
    assert sorted(p.name for p in path.iterdir()) == ["bundle.json", "model.onnx", "pipeline.json"]
    bundle = load_bundle(path)
    assert isinstance(bundle, Bundle)
    assert (bundle.name, bundle.version, bundle.flavor, bundle.loads_code) == (
        "fraud",
        "7",
        "onnx",
        False,
    )
    assert bundle.metadata == {"owner": "risk", "auc": 0.91}
    data = transactions(rng, 500)
    assert_matches_oracle(bundle.predict(data), fitted.oracle(data))
    # The pipeline in the bundle is the same pipeline, feature for feature.
    np.testing.assert_array_equal(bundle.pipeline.transform(data), fitted.pipeline.transform(data))


def test_every_record_form_gives_the_same_predictions(onnx_bundle, fitted, rng):
    data = transactions(rng, 50)
    expected = fitted.oracle(data)
    table = pa.table(data)
    forms = {
        "columns": data,
        "records": records(data),
        "arrow": table,
        "pandas": table.to_pandas(),
    }
    for form, value in forms.items():
        got = onnx_bundle.predict(value)
        assert set(got) == {"label", "probabilities"}, form
        assert_matches_oracle(got, expected)
    one = records(data)[0]
    single = onnx_bundle.predict(one)
    assert_matches_oracle(single, {k: v[:1] for k, v in expected.items()})


def test_predict_picks_outputs_and_names_unknown_ones(onnx_bundle, rng):
    data = transactions(rng, 5)
    assert list(onnx_bundle.predict(data, outputs=["probabilities"])) == ["probabilities"]
    with pytest.raises(InvalidInputError, match="unknown outputs"):
        onnx_bundle.predict(data, outputs=["nope"])


def test_bad_records_raise_typed_errors(onnx_bundle, rng):
    data = transactions(rng, 5)
    with pytest.raises(MissingColumnError, match="age"):
        onnx_bundle.predict({k: v for k, v in data.items() if k != "age"})
    with pytest.raises(DTypeError):
        onnx_bundle.predict({**data, "age": ["x"] * 5})
    with pytest.raises(InvalidInputError, match="empty"):
        onnx_bundle.predict([])
    with pytest.raises(InvalidInputError, match="records must be objects"):
        onnx_bundle.predict([1, 2])


def test_signature_names_raw_columns_and_model_tensors(fitted, tmp_path, rng):
    example = pa.table(transactions(rng, 10))
    bundle = load_bundle(
        save_bundle(
            tmp_path / "b", onnx_model=fitted.onnx, pipeline=fitted.pipeline, example=example
        )
    )
    inputs = {s.name: (s.datatype, s.shape) for s in bundle.signature.inputs}
    assert inputs == {
        "amount": ("FP64", (-1,)),
        "merchant": ("BYTES", (-1,)),
        "age": ("INT64", (-1,)),
    }
    (model_input,) = bundle.signature.model_inputs
    assert (model_input.name, model_input.datatype, model_input.shape) == (
        "X",
        "FP32",
        (-1, fitted.width),
    )
    outputs = {s.name: (s.datatype, s.shape) for s in bundle.signature.outputs}
    assert outputs == {"label": ("INT64", (-1,)), "probabilities": ("FP32", (-1, 2))}
    # Without an example, number columns are declared FP64.
    plain = load_bundle(
        save_bundle(tmp_path / "c", onnx_model=fitted.onnx, pipeline=fitted.pipeline)
    )
    assert {s.name: s.datatype for s in plain.signature.inputs}["age"] == "FP64"


def test_python_model_needs_trust_code(fitted, tmp_path, rng):
    path = save_bundle(tmp_path / "py", python_model=fitted.classifier, pipeline=fitted.pipeline)
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["model"]["loads_code"] is True
    assert manifest["model"]["flavor"] == "python"
    with pytest.raises(UntrustedCodeError, match="trust_code=True"):
        load_bundle(path)
    with pytest.raises(PermissionError):  # the builtin it also is
        load_bundle(path)
    bundle = load_bundle(path, trust_code=True)
    assert bundle.loads_code
    data = transactions(rng, 200)
    X = fitted.pipeline.transform(data)
    got = bundle.predict(data)
    np.testing.assert_array_equal(got["predict"], fitted.classifier.predict(X))
    np.testing.assert_array_equal(got["predict_proba"], fitted.classifier.predict_proba(X))


def test_a_forged_manifest_cannot_skip_the_trust_gate(fitted, tmp_path):
    """The flavor decides whether loading runs code, not the manifest's loads_code flag: a
    manifest edited to say false (with its hash recomputed) is still refused."""
    path = save_bundle(tmp_path / "py", python_model=fitted.classifier, pipeline=fitted.pipeline)
    rewrite_manifest(path, lambda m: m["model"].update(loads_code=False))
    with pytest.raises(UntrustedCodeError):
        load_bundle(path)


def test_python_model_methods_name_the_outputs(fitted, tmp_path, rng):
    path = save_bundle(
        tmp_path / "py",
        python_model=fitted.classifier,
        pipeline=fitted.pipeline,
        methods={"score": "decision_function"},
    )
    bundle = load_bundle(path, trust_code=True)
    assert [s.name for s in bundle.signature.outputs] == ["score"]
    data = transactions(rng, 20)
    np.testing.assert_array_equal(
        bundle.predict(data)["score"],
        fitted.classifier.decision_function(fitted.pipeline.transform(data)),
    )
    with pytest.raises(InvalidInputError, match="no method"):
        save_bundle(tmp_path / "x", python_model=fitted.classifier, methods={"a": "nope"})


def test_hand_built_onnx_without_pipeline(tmp_path, rng):
    weights = rng.normal(size=(4, 3))
    bias = rng.normal(size=3)
    path = save_bundle(tmp_path / "linear", onnx_model=linear_onnx(weights, bias, np.float64))
    bundle = load_bundle(path)
    assert bundle.pipeline is None
    assert [s.to_dict() for s in bundle.signature.inputs] == [
        {"name": "X", "datatype": "FP64", "shape": [-1, 4]}
    ]
    x = rng.normal(size=(9, 4))
    np.testing.assert_allclose(bundle.predict(x)["Y"], x @ weights + bias, rtol=1e-12)
    with pytest.raises(InvalidInputError, match="shape"):
        bundle.predict(rng.normal(size=(9, 5)))


def test_onnx_model_wrapper(tmp_path, rng):
    weights = rng.normal(size=(3, 2)).astype(np.float32)
    bias = rng.normal(size=2).astype(np.float32)
    model_path = tmp_path / "m.onnx"
    model_path.write_bytes(linear_onnx(weights, bias).SerializeToString())
    model = OnnxModel(model_path)
    x = rng.normal(size=(5, 3))  # float64: cast to the model's float32
    np.testing.assert_allclose(model(x)["Y"], x.astype(np.float32) @ weights + bias, rtol=1e-5)
    assert "X: FP32[-1, 3]" in repr(model)
    with pytest.raises(IntegrityError, match="onnxruntime cannot load"):
        OnnxModel(b"not an onnx model")


def test_zipmap_outputs_are_refused_with_a_hint(fitted, tmp_path):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    onx = to_onnx(fitted.classifier, initial_types=[("X", FloatTensorType([None, fitted.width]))])
    with pytest.raises(DTypeError, match="zipmap"):
        save_bundle(tmp_path / "z", onnx_model=onx, pipeline=fitted.pipeline)
    assert not (tmp_path / "z").exists()


def test_save_checks_its_arguments(fitted, tmp_path, rng):
    with pytest.raises(InvalidInputError, match="exactly one"):
        save_bundle(tmp_path / "a", pipeline=fitted.pipeline)
    with pytest.raises(InvalidInputError, match="exactly one"):
        save_bundle(tmp_path / "a", onnx_model=fitted.onnx, python_model=fitted.classifier)
    with pytest.raises(NotFittedError):
        save_bundle(tmp_path / "a", onnx_model=fitted.onnx, pipeline=sw.FeaturePipeline({}))
    narrow = linear_onnx(rng.normal(size=(fitted.width + 1, 1)), np.zeros(1))
    with pytest.raises(InvalidInputError, match="features per row"):
        save_bundle(tmp_path / "a", onnx_model=narrow, pipeline=fitted.pipeline)
    with pytest.raises(InvalidInputError, match="JSON"):
        save_bundle(tmp_path / "a", onnx_model=fitted.onnx, metadata={"x": object()})
    with pytest.raises(InvalidInputError, match="pickle"):
        save_bundle(tmp_path / "a", python_model=lambda x: x, example=np.zeros((2, 2)))
    assert list(tmp_path.iterdir()) == []  # nothing half written, no temporary directories


@pytest.mark.parametrize("target", ["model.onnx", "pipeline.json", "bundle.json"])
def test_a_changed_byte_anywhere_is_an_integrity_error(onnx_bundle, tmp_path, rng, target):
    # Anywhere includes the manifest's whitespace: JSON that parses to the same content but is
    # not the bytes seawall wrote is caught too.
    path = tmp_path / "copy"
    save_bundle(path, onnx_model=onnx_bundle.path / "model.onnx", pipeline=onnx_bundle.pipeline)
    data = bytearray((path / target).read_bytes())
    i = int(rng.integers(0, len(data)))
    data[i] = (data[i] + 1 + int(rng.integers(0, 255))) % 256
    (path / target).write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        load_bundle(path)


def test_missing_files_and_bad_manifests(onnx_bundle, tmp_path):
    def fresh(name: str) -> Path:
        return save_bundle(
            tmp_path / name,
            onnx_model=onnx_bundle.path / "model.onnx",
            pipeline=onnx_bundle.pipeline,
        )

    path = fresh("missing")
    (path / "pipeline.json").unlink()
    with pytest.raises(IntegrityError, match="missing"):
        load_bundle(path)

    path = fresh("truncated")
    text = (path / MANIFEST).read_text()
    (path / MANIFEST).write_text(text[: len(text) // 2])
    with pytest.raises(IntegrityError, match="not valid JSON"):
        load_bundle(path)

    path = fresh("escape")
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    digest = hashlib.sha256(b"x").hexdigest()
    rewrite_manifest(
        path, lambda m: m["files"].update({"../secret.txt": {"sha256": digest, "bytes": 1}})
    )
    with pytest.raises(IntegrityError, match="may not"):
        load_bundle(path)

    (tmp_path / "empty").mkdir()
    with pytest.raises(IntegrityError, match="not a seawall bundle"):
        load_bundle(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        load_bundle(tmp_path / "nowhere")


def test_a_newer_format_is_unsupported(onnx_bundle, tmp_path):
    path = save_bundle(tmp_path / "new", onnx_model=onnx_bundle.path / "model.onnx")
    rewrite_manifest(path, lambda m: m.update(format_version=m["format_version"] + 1))
    with pytest.raises(UnsupportedVersionError, match="upgrade seawall"):
        load_bundle(path)
    path = save_bundle(tmp_path / "flavor", onnx_model=onnx_bundle.path / "model.onnx")
    rewrite_manifest(path, lambda m: m["model"].update(flavor="tensorflow"))
    with pytest.raises(UnsupportedVersionError, match="tensorflow"):
        load_bundle(path)


def test_writes_are_atomic_and_never_clobber(fitted, tmp_path, monkeypatch, rng):
    path = save_bundle(tmp_path / "m", onnx_model=fitted.onnx, pipeline=fitted.pipeline, version=1)
    with pytest.raises(AlreadyExistsError, match="overwrite=True"):
        save_bundle(path, onnx_model=fitted.onnx, version=2)
    assert load_bundle(path).version == "1"

    # A failure at the last step (the rename) leaves the old bundle whole and no leftovers.
    def broken_rename(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "rename", broken_rename)
    with pytest.raises(OSError, match="disk on fire"):
        save_bundle(
            path, onnx_model=fitted.onnx, pipeline=fitted.pipeline, version=2, overwrite=True
        )
    monkeypatch.undo()
    assert load_bundle(path).version == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]

    save_bundle(path, onnx_model=fitted.onnx, pipeline=fitted.pipeline, version=2, overwrite=True)
    assert load_bundle(path).version == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]

    other = tmp_path / "not-a-bundle"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(AlreadyExistsError, match="not a seawall bundle"):
        save_bundle(other, onnx_model=fitted.onnx, overwrite=True)
    assert (other / "keep.txt").read_text() == "mine"


def test_bundle_files_have_ordinary_permissions(fitted, tmp_path):
    path = save_bundle(tmp_path / "m", onnx_model=fitted.onnx)
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o777 & ~umask)


def test_pickled_model_bytes_are_plain_pickle(fitted, tmp_path, rng):
    """The pickle in the bundle is the model itself, loadable by plain pickle (no seawall wrapper),
    so other tools can read it."""
    path = save_bundle(tmp_path / "py", python_model=fitted.classifier)
    model = pickle.loads((path / "model.pkl").read_bytes())
    X = rng.normal(size=(10, fitted.width)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(X), fitted.classifier.predict(X))


@pytest.mark.parametrize("edit", [(b'\n  "', b'\n\t"'), (b"\n", b"\r\n"), (b": ", b":  ")])
def test_a_manifest_reformatted_to_the_same_json_is_an_integrity_error(onnx_bundle, tmp_path, edit):
    path = tmp_path / "copy"
    save_bundle(path, onnx_model=onnx_bundle.path / "model.onnx", pipeline=onnx_bundle.pipeline)
    raw = (path / MANIFEST).read_bytes()
    old, new = edit
    changed = raw.replace(old, new, 1)
    assert changed != raw and json.loads(changed) == json.loads(raw)
    (path / MANIFEST).write_bytes(changed)
    with pytest.raises(IntegrityError, match="bytes differ"):
        load_bundle(path)


def test_signature_lists_the_columns_the_pipeline_reads(fitted, tmp_path, rng):
    """A pipeline fit on data with more columns than it reads: the bundle asks requests for the
    columns read (input_columns_), not for every column seen in fit (feature_names_in_)."""
    data = transactions(rng, 200)
    wide = pa.table({**data, "note": [f"n{i}" for i in range(200)], "extra": rng.normal(size=200)})
    pipe = sw.FeaturePipeline({"age": sw.StandardScale(), "merchant": sw.OneHot()}).fit(wide)
    assert pipe.n_features_in_ == 5 and pipe.input_columns_ == ["age", "merchant"]
    path = save_bundle(
        tmp_path / "b", python_model=_RowSum(), pipeline=pipe, example=wide.slice(0, 3)
    )
    bundle = load_bundle(path, trust_code=True)
    assert [s.name for s in bundle.signature.inputs] == ["age", "merchant"]
    request = {"age": data["age"][:7], "merchant": data["merchant"][:7]}
    expected = pipe.transform(request).sum(axis=1)
    np.testing.assert_array_equal(bundle.predict(request)["output"], expected)


class _RowSum:
    """A picklable model of this module: the sum of each row's features."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x.sum(axis=1)
