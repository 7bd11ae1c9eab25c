"""Saving a bundle: the model, its pipeline and signature written to a temporary directory
beside the target and renamed into place, so a reader sees the whole bundle or none of it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import platform
import shutil
import tempfile
import types
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .._files import _UMASK, json_digest
from ..contracts import Schema
from ..errors import AlreadyExistsError, DTypeError, InvalidInputError
from ..features.pipeline import FeaturePipeline
from .bundle import records_to_table
from .manifest import FORMAT_NAME, FORMAT_VERSION, MANIFEST, _digest, _manifest_bytes
from .onnx_model import OnnxModel
from .python_model import PythonModel
from .rows import EXAMPLE_ROWS, encode_rows
from .signature import Signature, TensorSpec, datatype_of, numpy_dtype

__all__ = ["save_bundle"]


def save_bundle(
    path: str | os.PathLike[str],
    *,
    onnx_model: Any = None,
    python_model: Any = None,
    methods: Mapping[str, str] | None = None,
    pipeline: FeaturePipeline | None = None,
    name: str | None = None,
    version: str | int | None = None,
    metadata: Mapping[str, Any] | None = None,
    example: Any = None,
    warmup: Any = None,
    schema: Schema | None = None,
    overwrite: bool = False,
) -> Path:
    """Writes a bundle directory at `path` and returns its path.

    Give exactly one model: ``onnx_model`` (an ``onnx.ModelProto``, its serialized bytes, or a
    path to an .onnx file), or ``python_model`` (any picklable object with the ``methods`` to
    call, by default ``predict`` and, where it has one, ``predict_proba``). A Python model is
    stored with pickle, so loading it executes code: the manifest says ``loads_code: true`` and
    ``load_bundle`` refuses it unless called with ``trust_code=True``. Pickle stores classes and
    functions by name, so a model that uses one defined in ``__main__`` (the running script or
    notebook) is refused: no other process could load it; define it in a module instead.

    ``pipeline`` is a fitted FeaturePipeline whose float32 output is the model's input.
    ``example``, a few raw records (or model inputs without a pipeline), is run through the
    bundle before it is written, and sets the datatypes of the number columns in the signature
    (FP64 otherwise); its first 1,000 rows are kept in the bundle (``example.json``) as reference
    data. ``warmup``, raw records (or model inputs without a pipeline) in the same forms, is kept
    in ``warmup.json``: a server runs them through the bundle at each batch size before it
    serves it (they must run here, at save time, too). ``schema``, a
    :class:`~seawall.Schema` of the raw inputs (the data contract the model was trained with),
    is kept in ``schema.json`` and read back as ``Bundle.schema``; the example rows must satisfy
    it. ``name`` defaults to the directory's name. An existing bundle at `path` is replaced only
    with ``overwrite=True``.
    """
    target = Path(path)
    if (onnx_model is None) == (python_model is None):
        raise InvalidInputError("give exactly one of onnx_model= and python_model=")
    if pipeline is not None:
        if not isinstance(pipeline, FeaturePipeline):
            raise InvalidInputError(
                f"pipeline must be a fitted FeaturePipeline, got {type(pipeline).__name__}"
            )
        pipeline._require_fitted()
    if schema is not None and not isinstance(schema, Schema):
        raise InvalidInputError(f"schema must be a seawall.Schema, got {type(schema).__name__}")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidInputError(f"metadata must be a dict, got {type(metadata).__name__}")
    meta = dict(metadata or {})
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"metadata must be plain JSON data: {exc}") from exc
    bundle_name = name if name is not None else target.resolve().name
    if not isinstance(bundle_name, str) or not bundle_name:
        raise InvalidInputError(f"name must be a non-empty string, got {bundle_name!r}")

    files: dict[str, bytes] = {}
    environment = {"python": platform.python_version(), "numpy": np.__version__}
    if onnx_model is not None:
        data = _onnx_bytes(onnx_model)
        model: Any = OnnxModel(data)
        files["model.onnx"] = data
        model_entry = {"flavor": "onnx", "file": "model.onnx", "loads_code": False}
        model_inputs = list(model.inputs)
        import onnxruntime

        environment["onnxruntime"] = onnxruntime.__version__
    else:
        model = PythonModel(python_model, methods)
        files["model.pkl"] = _pickle_model(python_model)
        model_entry = {
            "flavor": "python",
            "file": "model.pkl",
            "loads_code": True,
            "serializer": "pickle",
            "methods": model.methods,
            "class": f"{type(python_model).__module__}.{type(python_model).__qualname__}",
        }
        root = type(python_model).__module__.split(".")[0]
        module_version = getattr(__import__(root), "__version__", None)
        if isinstance(module_version, str):
            environment[root] = module_version
        model_inputs = []

    features = _example_features(pipeline, example, model, model_inputs)
    outputs = _output_specs(model, features)
    if not model_inputs:
        model_inputs = [TensorSpec("input", datatype_of(features.dtype), (-1, *features.shape[1:]))]
    if pipeline is not None:
        inputs = _pipeline_inputs(pipeline, example)
        pipeline_text = json.dumps(
            {**pipeline.to_dict(), "sha256": _pipeline_digest(pipeline)},
            indent=2,
            ensure_ascii=False,
            allow_nan=False,
        )
        files["pipeline.json"] = (pipeline_text + "\n").encode("utf-8")
    else:
        inputs = model_inputs
    kept: dict[str, dict[str, str]] = {}
    if example is not None:
        files["example.json"] = encode_rows(example, pipeline, "example", EXAMPLE_ROWS)
        kept["example"] = {"file": "example.json"}
    if warmup is not None:
        _run_warmup(pipeline, warmup, model, model_inputs)
        files["warmup.json"] = encode_rows(warmup, pipeline, "warm-up input")
        kept["warmup"] = {"file": "warmup.json"}
    if schema is not None:
        if example is not None and pipeline is not None:
            _check_example(schema, example)
        files["schema.json"] = schema.to_json().encode("utf-8")
        kept["schema"] = {"file": "schema.json"}

    from .._core import __version__

    manifest: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "seawall_version": __version__,
        "name": bundle_name,
        "version": None if version is None else str(version),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": model_entry,
        "pipeline": {"file": "pipeline.json"} if pipeline is not None else None,
        "signature": Signature(tuple(inputs), tuple(outputs), tuple(model_inputs)).to_dict(),
        "metadata": meta,
        **kept,
        "environment": environment,
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in files.items()
        },
    }
    manifest["sha256"] = _digest(manifest)
    files[MANIFEST] = _manifest_bytes(manifest)
    _write_directory(target, files, overwrite)
    return target


def _check_example(schema: Schema, example: Any) -> None:
    """The example rows are data the model was made for: they must satisfy its schema (columns
    the example leaves out, such as the label, are not required of it)."""
    table = records_to_table(example)
    report = schema.validate(table)
    broken = [a for a in report.anomalies if a.kind != "missing_column"]
    if broken:
        raise InvalidInputError(
            "the example rows do not satisfy the schema: " + "; ".join(str(a) for a in broken[:5])
        )


class _Pickler(pickle.Pickler):
    """pickle.dumps's pickler, noting every class and function it stores by a name in
    ``__main__`` (pickle stores those by reference, and no other process has them)."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=5)
        self.in_main: list[str] = []

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (type, types.FunctionType)) and obj.__module__ == "__main__":
            name = obj.__qualname__
            if name not in self.in_main:
                self.in_main.append(name)
        return NotImplemented  # pickled as usual


def _pickle_model(python_model: Any) -> bytes:
    """The pickled model; refused when any part of it is defined in ``__main__``.

    Refused rather than warned about: a bundle is made to be loaded by another process (a
    server, a later job), where such a pickle cannot load; a warning would leave the failure
    to that process, far from its cause.
    """
    out = io.BytesIO()
    pickler = _Pickler(out)
    try:
        pickler.dump(python_model)
    except Exception as exc:  # pickle raises PicklingError, TypeError, AttributeError...
        raise InvalidInputError(f"cannot pickle the Python model: {exc}") from exc
    if pickler.in_main:
        names = ", ".join(pickler.in_main)
        raise InvalidInputError(
            f"the Python model uses {names}, defined in __main__ (the script or notebook being "
            "run): pickle stores it by name, so another process (seawall serve, load_bundle in "
            "a new session) cannot find it. Move it into a module (e.g. my_model.py beside the "
            "script), import it from there, and save again"
        )
    return out.getvalue()


def _onnx_bytes(onnx_model: Any) -> bytes:
    if isinstance(onnx_model, bytes):
        return onnx_model
    if isinstance(onnx_model, (str, os.PathLike)):
        return Path(onnx_model).read_bytes()
    serialize = getattr(onnx_model, "SerializeToString", None)
    if serialize is None:
        raise InvalidInputError(
            "onnx_model must be an onnx.ModelProto, its bytes, or a path to an .onnx file, "
            f"got {type(onnx_model).__name__}"
        )
    return bytes(serialize())


def _pipeline_digest(pipeline: FeaturePipeline) -> str:
    return json_digest(pipeline.to_dict())


def _example_features(
    pipeline: FeaturePipeline | None, example: Any, model: Any, model_inputs: list[TensorSpec]
) -> np.ndarray:
    """A small feature batch to run the model on: from the example, else one row of zeros."""
    if pipeline is not None:
        width = len(pipeline.feature_names_out_)
        if model_inputs:
            if len(model_inputs) != 1:
                raise InvalidInputError(
                    f"a pipeline feeds one model input, but the model has {len(model_inputs)}"
                )
            spec = model_inputs[0]
            if len(spec.shape) != 2 or spec.shape[1] not in (-1, width):
                raise InvalidInputError(
                    f"the pipeline gives {width} features per row, but the model input "
                    f"{spec.name!r} has shape {list(spec.shape)}"
                )
            if spec.datatype not in ("FP32", "FP64", "FP16"):
                raise DTypeError(
                    f"the pipeline gives float features, but the model input {spec.name!r} is "
                    f"{spec.datatype}"
                )
        if example is not None:
            return np.asarray(pipeline.transform(records_to_table(example)))
        return np.zeros((1, width), dtype=np.float32)
    if example is not None:
        x = np.asarray(example)
        if model_inputs:
            x = x.astype(numpy_dtype(model_inputs[0].datatype), copy=False)
        return x
    if model_inputs:
        if len(model_inputs) != 1:
            raise InvalidInputError(
                f"seawall serves models with one input tensor; this one has {len(model_inputs)}"
            )
        spec = model_inputs[0]
        shape = tuple(1 if d < 0 else d for d in spec.shape)
        return np.zeros(shape, dtype=numpy_dtype(spec.datatype))
    n_features = getattr(getattr(model, "obj", None), "n_features_in_", None)
    if not isinstance(n_features, (int, np.integer)):
        raise InvalidInputError(
            "give example= (a few model inputs) so that the bundle knows the model's input"
        )
    return np.zeros((1, int(n_features)), dtype=np.float64)


def _run_warmup(
    pipeline: FeaturePipeline | None, warmup: Any, model: Any, model_inputs: list[TensorSpec]
) -> None:
    try:
        model(_example_features(pipeline, warmup, model, model_inputs))
    except Exception as exc:
        raise InvalidInputError(f"the warm-up inputs do not run through the bundle: {exc}") from exc


def _output_specs(model: Any, features: np.ndarray) -> list[TensorSpec]:
    if isinstance(model, OnnxModel):
        model(features)  # the example must run
        return list(model.outputs)
    try:
        result = model(features)
    except Exception as exc:
        raise InvalidInputError(f"the Python model failed on the example input: {exc!r}") from exc
    specs = []
    for output, value in result.items():
        if value.ndim == 0 or value.shape[0] != features.shape[0]:
            raise InvalidInputError(
                f"output {output!r} has shape {list(value.shape)}: it must have one row per input "
                f"row ({features.shape[0]})"
            )
        specs.append(TensorSpec(output, datatype_of(value.dtype), (-1, *value.shape[1:])))
    return specs


def _pipeline_inputs(pipeline: FeaturePipeline, example: Any) -> list[TensorSpec]:
    table = records_to_table(example) if example is not None else None
    specs = []
    for column, is_string in zip(pipeline.input_columns_, pipeline._input_is_string, strict=True):
        datatype = "BYTES" if is_string else "FP64"
        if table is not None and column in table.column_names and not is_string:
            t = table.schema.field(column).type
            if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
                datatype = datatype_of(np.dtype(t.to_pandas_dtype()))
        specs.append(TensorSpec(str(column), datatype, (-1,)))
    return specs


def _write_directory(target: Path, files: Mapping[str, bytes], overwrite: bool) -> None:
    """Writes the files to a new directory beside `target`, then renames it into place."""
    if target.exists():
        if not overwrite:
            raise AlreadyExistsError(f"{target} exists: pass overwrite=True to replace it")
        if not (target / MANIFEST).is_file():
            raise AlreadyExistsError(
                f"{target} exists and is not a seawall bundle: it will not be replaced"
            )
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    old: Path | None = None
    try:
        for name, data in files.items():
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o777 & ~_UMASK)
        _fsync_dir(tmp)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.replace(target, old / "bundle")
        os.rename(tmp, target)
        _fsync_dir(parent)
    except BaseException:
        if old is not None and not target.exists():
            os.replace(old / "bundle", target)  # put the previous bundle back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
