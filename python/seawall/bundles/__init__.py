"""The bundle format: one self-contained, versioned directory holding a model (ONNX or a
pickled Python object), its fitted feature pipeline, its signature and a checked manifest.

The registry stores bundles and the server serves them; both build on this package::

    from seawall.bundles import load_bundle, save_bundle

    save_bundle("fraud-bundle/", onnx_model=onnx_proto, pipeline=fitted_pipeline, example=rows)
    bundle = load_bundle("fraud-bundle/")
    bundle.predict([{"amount": 12.5, "country": "FR"}])

Files: ``manifest`` (the format, ``bundle.json`` and its checks, ``verify_bundle``), ``signature`` (tensor
datatypes and specs), ``python_model`` and ``onnx_model`` (the two kinds of model), ``bundle``
(a loaded bundle), ``save`` and ``load``.
"""

from .bundle import Bundle, records_to_table
from .load import load_bundle
from .manifest import FORMAT_NAME, FORMAT_VERSION, MANIFEST, read_manifest, verify_bundle
from .onnx_model import OnnxModel
from .python_model import PythonModel
from .save import save_bundle
from .signature import DATATYPES, Signature, TensorSpec, datatype_of, numpy_dtype

__all__ = [
    "DATATYPES",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST",
    "Bundle",
    "OnnxModel",
    "PythonModel",
    "Signature",
    "TensorSpec",
    "datatype_of",
    "load_bundle",
    "numpy_dtype",
    "read_manifest",
    "records_to_table",
    "save_bundle",
    "verify_bundle",
]
