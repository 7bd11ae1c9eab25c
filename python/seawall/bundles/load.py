"""Loading a bundle: every file checked against the manifest, the pipeline read from its JSON,
and a pickled Python model only with ``trust_code=True``."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

from ..contracts import Schema
from ..errors import DTypeError, IntegrityError, UntrustedCodeError
from ..features.pipeline import FeaturePipeline
from .bundle import Bundle
from .manifest import MANIFEST, ROW_FILES, _files, _read_checked, check_entries, read_manifest
from .onnx_model import OnnxModel
from .python_model import PythonModel
from .rows import decode_rows

__all__ = ["load_bundle"]


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
    model_entry, pipeline_file = check_entries(root, manifest)
    flavor, model_file = model_entry["flavor"], model_entry["file"]

    pipeline = None
    if pipeline_file is not None:
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
    outputs = [o["name"] for o in manifest["signature"]["outputs"]]
    given = list(model.methods) if isinstance(model, PythonModel) else list(model.output_names)
    if sorted(outputs) != sorted(given):
        raise IntegrityError(
            f"{root}/{MANIFEST}: signature.outputs names {outputs}, but the model gives {given}"
        )
    rows = {
        key: decode_rows(contents[manifest[key]["file"]], f"{root}/{manifest[key]['file']}")
        for key in ROW_FILES
        if manifest.get(key) is not None
    }
    schema = None
    if manifest.get("schema") is not None:
        schema_file = manifest["schema"]["file"]
        try:
            text = contents[schema_file].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IntegrityError(f"{root}/{schema_file} is not UTF-8 text") from exc
        schema = Schema.from_json(text, source=f"{root}/{schema_file}")
    return Bundle(
        root,
        manifest,
        model,
        pipeline,
        example=rows.get("example"),
        warmup=rows.get("warmup"),
        schema=schema,
    )
