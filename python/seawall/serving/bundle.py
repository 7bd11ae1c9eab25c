"""Model bundles: one self-contained, versioned directory with everything a server needs.

A bundle holds the model (ONNX, run by onnxruntime; or a pickled Python object, which only loads
with ``trust_code=True``), the fitted :class:`~seawall.FeaturePipeline` in its own JSON format,
the signature (the tensors it takes and gives: names, datatypes, shapes) and free metadata.
``bundle.json`` names the format version and the SHA-256 and size of every other file, and has a
SHA-256 of its own; loading checks them all. A bundle is written to a temporary directory beside
its target and renamed into place, so a reader sees the whole bundle or none of it.

    path/
      bundle.json      the manifest
      model.onnx       or model.pkl (a Python model: loading it runs code)
      pipeline.json    the fitted FeaturePipeline, when there is one
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pyarrow as pa

from .._data import to_table
from .._files import _UMASK
from ..errors import (
    AlreadyExistsError,
    DTypeError,
    IntegrityError,
    InvalidInputError,
    SeawallError,
    UnsupportedVersionError,
    UntrustedCodeError,
)
from ..features.pipeline import FeaturePipeline
from .onnx_model import OnnxModel
from .protocol import TensorSpec, datatype_of, numpy_dtype

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST",
    "Bundle",
    "PythonModel",
    "Signature",
    "load_bundle",
    "records_to_table",
    "save_bundle",
]

FORMAT_NAME = "seawall.Bundle"
FORMAT_VERSION = 1
MANIFEST = "bundle.json"


@dataclass(frozen=True)
class Signature:
    """What a bundle takes and gives.

    ``inputs`` are what a caller sends: the pipeline's raw columns (one 1-D tensor each; BYTES
    for string columns) when the bundle has a pipeline, else the model's own inputs.
    ``model_inputs`` are the model's tensors; ``outputs`` its outputs. A -1 is a dimension of
    any size; the first is the rows.
    """

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    model_inputs: tuple[TensorSpec, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "model_inputs": [s.to_dict() for s in self.model_inputs],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Signature:
        return cls(
            tuple(TensorSpec.from_dict(s) for s in d["inputs"]),
            tuple(TensorSpec.from_dict(s) for s in d["outputs"]),
            tuple(TensorSpec.from_dict(s) for s in d["model_inputs"]),
        )


class PythonModel:
    """A Python model (a scikit-learn estimator, or any object) as a callable on a batch.

    ``methods`` maps output names to method names: ``model(x)`` returns
    ``{output: getattr(obj, method)(x)}``. A plain callable with no methods gives ``{"output": obj(x)}``.
    """

    def __init__(self, obj: Any, methods: Mapping[str, str] | None = None) -> None:
        self.obj = obj
        if methods is None:
            if hasattr(obj, "predict"):
                methods = {"predict": "predict"}
                if hasattr(obj, "predict_proba"):
                    methods["predict_proba"] = "predict_proba"
            elif callable(obj):
                methods = {"output": "__call__"}
            else:
                raise InvalidInputError(
                    f"a Python model needs a predict method or must be callable, got {type(obj).__name__}"
                )
        methods = dict(methods)
        if not methods:
            raise InvalidInputError("a Python model needs at least one output method")
        for output, method in methods.items():
            if not isinstance(output, str) or not isinstance(method, str):
                raise InvalidInputError(
                    f"methods maps output names to method names, got {methods!r}"
                )
            if not callable(getattr(obj, method, None)):
                raise InvalidInputError(f"the Python model has no method {method!r}")
        self.methods = methods

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return {
            output: np.asarray(getattr(self.obj, method)(x))
            for output, method in self.methods.items()
        }

    def __repr__(self) -> str:
        return f"PythonModel({type(self.obj).__name__}, outputs={list(self.methods)})"


def records_to_table(data: Any) -> pa.Table:
    """Raw feature records as a table: a list of {column: value} dicts, one such dict (one row),
    a dict of columns, a pyarrow Table, or a pandas or polars DataFrame."""
    if isinstance(data, (list, tuple)):
        if not data:
            raise InvalidInputError("no records: the list is empty")
        if not all(isinstance(r, Mapping) for r in data):
            bad = next(r for r in data if not isinstance(r, Mapping))
            raise InvalidInputError(
                f"records must be objects of column: value, got a {type(bad).__name__}"
            )
        try:
            return pa.Table.from_pylist([dict(r) for r in data])
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
            raise DTypeError(f"cannot read the records as columns of one type each: {exc}") from exc
    if isinstance(data, Mapping) and data and not any(_is_column(v) for v in data.values()):
        return records_to_table([data])
    return to_table(data)


def _is_column(v: Any) -> bool:
    return isinstance(v, (list, tuple, np.ndarray, pa.Array, pa.ChunkedArray))


class Bundle:
    """A loaded bundle: ``predict`` runs raw feature records through the pipeline, then the model.

    Attributes: ``path``, ``name``, ``version``, ``flavor`` ("onnx" or "python"), ``loads_code``,
    ``pipeline`` (or None), ``model`` (a callable on the feature batch returning {output: array},
    what a server hands its batcher), ``signature``, ``metadata`` and ``manifest``.
    """

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        model: Any,
        pipeline: FeaturePipeline | None,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.model = model
        self.pipeline = pipeline
        self.name: str = manifest["name"]
        self.version: str | None = manifest.get("version")
        self.flavor: str = manifest["model"]["flavor"]
        self.loads_code: bool = bool(manifest["model"]["loads_code"])
        self.signature = Signature.from_dict(manifest["signature"])
        self.metadata: dict[str, Any] = manifest.get("metadata") or {}

    def features(self, data: Any) -> np.ndarray:
        """The model's input for `data`: the pipeline's float32 features of raw records, or,
        without a pipeline, `data` as an array of the model input's datatype."""
        if self.pipeline is not None:
            return np.asarray(self.pipeline.transform(records_to_table(data)))
        spec = self.signature.model_inputs[0]
        try:
            x = np.asarray(data, dtype=numpy_dtype(spec.datatype))
        except (TypeError, ValueError) as exc:
            raise DTypeError(f"cannot read the input as {spec.datatype}: {exc}") from exc
        spec.check_shape(x.shape)
        return x

    def predict(self, data: Any, outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """{output name: array} for `data`: raw feature records (a list of dicts, a dict of
        columns, an Arrow table, a pandas or polars DataFrame) when the bundle has a pipeline,
        else the model's input array. ``outputs`` picks some outputs by name."""
        wanted = self._outputs(outputs)
        result = self.model(self.features(data))
        return {name: result[name] for name in wanted}

    def _outputs(self, outputs: Sequence[str] | None) -> list[str]:
        names = [s.name for s in self.signature.outputs]
        if outputs is None:
            return names
        unknown = [o for o in outputs if o not in names]
        if unknown:
            raise InvalidInputError(f"unknown outputs {unknown}: the model gives {names}")
        return list(outputs)

    def __repr__(self) -> str:
        version = f" version {self.version}" if self.version is not None else ""
        pipe = "pipeline + " if self.pipeline is not None else ""
        return f"Bundle({self.name!r}{version}: {pipe}{self.flavor} model, {self.path})"


# --- saving ----------------------------------------------------------------------------------


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
    overwrite: bool = False,
) -> Path:
    """Writes a bundle directory at `path` and returns its path.

    Give exactly one model: ``onnx_model`` (an ``onnx.ModelProto``, its serialized bytes, or a
    path to an .onnx file), or ``python_model`` (any picklable object with the ``methods`` to
    call, by default ``predict`` and, where it has one, ``predict_proba``). A Python model is
    stored with pickle, so loading it executes code: the manifest says ``loads_code: true`` and
    ``load_bundle`` refuses it unless called with ``trust_code=True``.

    ``pipeline`` is a fitted FeaturePipeline whose float32 output is the model's input.
    ``example``, a few raw records (or model inputs without a pipeline), is run through the
    bundle before it is written, and sets the datatypes of the number columns in the signature
    (FP64 otherwise). ``name`` defaults to the directory's name. An existing bundle at `path` is
    replaced only with ``overwrite=True``.
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
        try:
            files["model.pkl"] = pickle.dumps(python_model, protocol=5)
        except Exception as exc:  # pickle raises PicklingError, TypeError, AttributeError...
            raise InvalidInputError(f"cannot pickle the Python model: {exc}") from exc
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

    from .. import __version__

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
    from ..features.pipeline import _digest as pipeline_digest

    return pipeline_digest(pipeline.to_dict())


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
    for column, is_string in zip(
        pipeline.feature_names_in_, pipeline._input_is_string, strict=True
    ):
        datatype = "BYTES" if is_string else "FP64"
        if table is not None and column in table.column_names and not is_string:
            t = table.schema.field(column).type
            if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
                datatype = datatype_of(np.dtype(t.to_pandas_dtype()))
        specs.append(TensorSpec(str(column), datatype, (-1,)))
    return specs


def _manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _digest(manifest: Mapping[str, Any]) -> str:
    state = {k: v for k, v in manifest.items() if k != "sha256"}
    canonical = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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


# --- loading ---------------------------------------------------------------------------------


def load_bundle(
    path: str | os.PathLike[str],
    *,
    trust_code: bool = False,
    providers: list[str] | None = None,
    intra_op_num_threads: int = 0,
) -> Bundle:
    """Loads the bundle directory at `path`, checking the manifest and every file's SHA-256.

    Raises IntegrityError when a file is missing, changed or corrupted, UnsupportedVersionError
    when a newer seawall wrote it, and UntrustedCodeError for a Python model unless
    ``trust_code=True`` (unpickling runs code: trust only bundles you made). ``providers`` and
    ``intra_op_num_threads`` go to onnxruntime.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise DTypeError(f"a bundle path is a str or a path, got {type(path).__name__}")
    root = Path(path)
    if not root.is_dir():
        if root.exists():
            raise IntegrityError(f"{root} is not a seawall bundle: it is not a directory")
        raise FileNotFoundError(f"no bundle directory at {root}")
    manifest = read_manifest(root)
    contents = {name: _read_checked(root, name, entry) for name, entry in _files(manifest)}

    _check_fields(manifest, f"{root}/{MANIFEST}")
    model_entry = manifest["model"]
    flavor = model_entry["flavor"]
    model_file = model_entry["file"]
    pipeline_entry = manifest.get("pipeline")
    if model_file not in contents:
        raise IntegrityError(f"{root}/{MANIFEST} names a model file it does not list")

    pipeline = None
    if pipeline_entry is not None:
        pipeline_file = pipeline_entry.get("file") if isinstance(pipeline_entry, dict) else None
        if pipeline_file not in contents:
            raise IntegrityError(f"{root}/{MANIFEST} names a pipeline file it does not list")
        try:
            document = json.loads(contents[pipeline_file].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError(f"{root}/{pipeline_file} is not valid JSON: {exc}") from exc
        pipeline = FeaturePipeline.from_dict(document, source=f"{root}/{pipeline_file}")

    if flavor == "onnx":
        model: Any = OnnxModel(
            contents[model_file], providers=providers, intra_op_num_threads=intra_op_num_threads
        )
    elif flavor == "python":
        # Decided by the flavor, never by the manifest's loads_code flag: a pickle always runs code.
        if not trust_code:
            raise UntrustedCodeError(
                f"{root} holds a pickled Python model ({model_entry.get('class', 'unknown class')}); "
                "loading it executes code from the file. Pass trust_code=True (seawall serve "
                "--trust-code) only for bundles from a source you trust"
            )
        try:
            obj = pickle.loads(contents[model_file])
        except Exception as exc:
            raise IntegrityError(f"{root}/{model_file} cannot be unpickled: {exc!r}") from exc
        model = PythonModel(obj, model_entry.get("methods"))
    else:
        raise UnsupportedVersionError(
            f"{root} holds a {flavor!r} model, which this seawall cannot load: upgrade seawall"
        )
    outputs = [o["name"] for o in manifest["signature"]["outputs"]]
    given = list(model.methods) if isinstance(model, PythonModel) else list(model.output_names)
    if sorted(outputs) != sorted(given):
        raise IntegrityError(
            f"{root}/{MANIFEST}: signature.outputs names {outputs}, but the model gives {given}"
        )
    return Bundle(root, manifest, model, pipeline)


def _check_fields(manifest: Mapping[str, Any], where: str) -> None:
    """IntegrityError naming the first field of the manifest that is missing or of a wrong type
    (the SHA-256 shows the manifest is the one written, not that a careful editor did not
    rewrite it)."""

    def fail(field: str, wanted: str) -> IntegrityError:
        return IntegrityError(f"{where} is malformed: {field} must be {wanted}")

    def text(value: Any) -> bool:  # JSON can spell a lone surrogate, which is not text
        return isinstance(value, str) and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)

    def entry(obj: Any, field: str) -> Mapping[str, Any]:
        if not isinstance(obj, dict):
            raise fail(field, "an object")
        return obj

    if not text(manifest.get("name")) or not manifest.get("name"):
        raise fail("name", "a non-empty string")
    if manifest.get("version") is not None and not text(manifest["version"]):
        raise fail("version", "a string or null")
    model = entry(manifest.get("model"), "model")
    for key in ("flavor", "file"):
        if not text(model.get(key)):
            raise fail(f"model.{key}", "a string")
    if not isinstance(model.get("loads_code"), bool):
        raise fail("model.loads_code", "true or false")
    methods = model.get("methods")
    if methods is not None and not (
        isinstance(methods, dict) and all(text(k) and text(v) for k, v in methods.items())
    ):
        raise fail("model.methods", "an object of output name to method name")
    pipeline = manifest.get("pipeline")
    if pipeline is not None and not text(entry(pipeline, "pipeline").get("file")):
        raise fail("pipeline.file", "a string")
    signature = entry(manifest.get("signature"), "signature")
    for group in ("inputs", "outputs", "model_inputs"):
        specs = signature.get(group)
        if not isinstance(specs, list):
            raise fail(f"signature.{group}", "a list")
        for i, spec in enumerate(specs):
            field = f"signature.{group}[{i}]"
            spec = entry(spec, field)
            if not text(spec.get("name")) or not text(spec.get("datatype")):
                raise fail(f"{field}.name and .datatype", "strings")
            shape = spec.get("shape")
            if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and -1 <= d < 2**63 for d in shape
            ):
                raise fail(f"{field}.shape", "a list of sizes (-1 for any)")
            try:
                TensorSpec.from_dict(spec)
            except SeawallError as exc:
                raise fail(f"{field}.datatype", f"a v2 datatype ({exc})") from exc
    if manifest.get("metadata") is not None and not isinstance(manifest["metadata"], dict):
        raise fail("metadata", "an object or null")


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked manifest of the bundle at `path` (format, version and its own SHA-256)."""
    root = Path(path)
    try:
        raw = (root / MANIFEST).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise IntegrityError(f"{root} is not a seawall bundle: it has no {MANIFEST}") from None
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{root}/{MANIFEST} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise IntegrityError(f"{root}/{MANIFEST} is not a seawall bundle manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise IntegrityError(f"{root}/{MANIFEST} has no format version")
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(
            f"{root} is a bundle of format version {version}, but this seawall reads up to "
            f"{FORMAT_VERSION}: upgrade seawall to load it"
        )
    try:
        digest = _digest(manifest)
    except (TypeError, ValueError) as exc:
        raise IntegrityError(f"{root}/{MANIFEST} was modified or corrupted: {exc}") from exc
    if manifest.get("sha256") != digest:
        raise IntegrityError(
            f"{root}/{MANIFEST} was modified or corrupted: its SHA-256 does not match"
        )
    # The digest covers the content; this covers the bytes too (whitespace, number spellings),
    # so that any changed byte is caught, as in every other file of the bundle.
    if raw != _manifest_bytes(manifest):
        raise IntegrityError(
            f"{root}/{MANIFEST} was modified: its bytes differ from what seawall wrote"
        )
    return manifest


def _files(manifest: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise IntegrityError(f"the {MANIFEST} lists no files")
    for name, entry in files.items():
        pure = PurePosixPath(name)
        if (
            not name
            or pure.is_absolute()
            or ".." in pure.parts
            or "\\" in name
            or name == MANIFEST
            or not isinstance(entry, dict)
        ):
            raise IntegrityError(f"the {MANIFEST} lists a file it may not: {name!r}")
        yield name, entry


def _read_checked(root: Path, name: str, entry: Mapping[str, Any]) -> bytes:
    try:
        data = (root / name).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise IntegrityError(f"{root} is incomplete: {name} is missing (or not a file)") from None
    if len(data) != entry.get("bytes") or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise IntegrityError(f"{root}/{name} was modified or corrupted: its SHA-256 does not match")
    return data
