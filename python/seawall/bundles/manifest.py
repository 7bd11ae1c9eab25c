"""The bundle format: one self-contained, versioned directory with everything a server needs.

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
      example.json     the example rows given at save time, when there were some
      warmup.json      the warm-up inputs a server runs before serving, when given
      schema.json      the data contract of its inputs (a seawall.Schema), when given

``example``, ``warmup`` and ``schema`` are optional entries of the manifest (each ``{"file":
name}``), added without a new format version: an older seawall checks their files' SHA-256 like
any other and otherwise ignores them, and bundles without them load as before.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import IntegrityError, NotFoundError, SeawallError, UnsupportedVersionError
from .signature import TensorSpec

__all__ = ["FLAVORS", "FORMAT_NAME", "FORMAT_VERSION", "MANIFEST", "read_manifest", "verify_bundle"]

FORMAT_NAME = "seawall.Bundle"
FORMAT_VERSION = 1
MANIFEST = "bundle.json"
FLAVORS = ("onnx", "python")  # the kinds of model this seawall loads
ROW_FILES = ("example", "warmup")  # optional entries naming a file of rows (see bundles.rows)
OPTIONAL_FILES = (*ROW_FILES, "schema")  # optional entries naming a file
_CHUNK = 1 << 20


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


def verify_bundle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Checks the bundle at `path` as :func:`~seawall.bundles.load_bundle` does, without loading
    it (nothing is unpickled or run): the manifest, its format and version, the model and
    pipeline it names, the signature, and every file's size and SHA-256. Returns the manifest.

    Raises NotFoundError when `path` is not a folder, IntegrityError naming the first problem
    (no or a broken ``bundle.json``, a missing or changed file), and UnsupportedVersionError for
    a bundle or model kind from a newer seawall.
    """
    root = Path(path)
    if not root.is_dir():
        raise NotFoundError(f"no bundle folder at {root}")
    manifest = read_manifest(root)
    for name, entry in _files(manifest):
        _hash_checked(root, name, entry)
    check_entries(root, manifest)
    return manifest


def check_entries(root: Path, manifest: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
    """The model entry and the pipeline's file name of a read manifest, checked: the model's
    flavor is one this seawall loads, and the files they name are listed in the manifest."""
    listed = dict(_files(manifest))
    _check_fields(manifest, f"{root}/{MANIFEST}")
    model_entry = manifest["model"]
    flavor, model_file = model_entry["flavor"], model_entry["file"]
    pipeline_entry = manifest.get("pipeline")
    if model_file not in listed:
        raise IntegrityError(f"{root}/{MANIFEST} names a model file it does not list")
    pipeline_file = None
    if pipeline_entry is not None:
        pipeline_file = pipeline_entry["file"]
        if pipeline_file not in listed:
            raise IntegrityError(f"{root}/{MANIFEST} names a pipeline file it does not list")
    for key in OPTIONAL_FILES:
        entry = manifest.get(key)
        if entry is not None and entry["file"] not in listed:
            raise IntegrityError(f"{root}/{MANIFEST} names a {key} file it does not list")
    if flavor not in FLAVORS:
        raise UnsupportedVersionError(
            f"{root} holds a {flavor!r} model, which this seawall cannot load: upgrade seawall"
        )
    return model_entry, pipeline_file


def _manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _digest(manifest: Mapping[str, Any]) -> str:
    state = {k: v for k, v in manifest.items() if k != "sha256"}
    canonical = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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


def _hash_checked(root: Path, name: str, entry: Mapping[str, Any]) -> None:
    """As _read_checked, reading the file in chunks instead of holding it."""
    h = hashlib.sha256()
    size = 0
    try:
        with open(root / name, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        raise IntegrityError(f"{root} is incomplete: {name} is missing") from None
    if size != entry.get("bytes") or h.hexdigest() != entry.get("sha256"):
        raise IntegrityError(f"{root}/{name} was modified or corrupted: its SHA-256 does not match")


def _read_checked(root: Path, name: str, entry: Mapping[str, Any]) -> bytes:
    try:
        data = (root / name).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise IntegrityError(f"{root} is incomplete: {name} is missing (or not a file)") from None
    if len(data) != entry.get("bytes") or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise IntegrityError(f"{root}/{name} was modified or corrupted: its SHA-256 does not match")
    return data


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
    for key in ("pipeline", *ROW_FILES):
        value = manifest.get(key)
        if value is not None and not text(entry(value, key).get("file")):
            raise fail(f"{key}.file", "a string")
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
