"""Loading a bundle: every file checked against the manifest, the pipeline read from its JSON,
and a pickled Python model only with ``trust_code=True``."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

from ..errors import IntegrityError, UnsupportedVersionError, UntrustedCodeError
from ..features.pipeline import FeaturePipeline
from .bundle import Bundle
from .manifest import MANIFEST, _files, _read_checked, read_manifest
from .onnx_model import OnnxModel
from .python_model import PythonModel
from .signature import Signature

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
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"no bundle directory at {root}")
    manifest = read_manifest(root)
    contents = {name: _read_checked(root, name, entry) for name, entry in _files(manifest)}

    try:
        model_entry = manifest["model"]
        flavor = model_entry["flavor"]
        model_file = model_entry["file"]
        pipeline_entry = manifest.get("pipeline")
        Signature.from_dict(manifest["signature"])
        if not isinstance(manifest["name"], str):
            raise TypeError("the name is not a string")
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"{root}/{MANIFEST} is malformed: {exc!r}") from exc
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
    return Bundle(root, manifest, model, pipeline)
