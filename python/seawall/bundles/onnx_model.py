"""ONNX models run through onnxruntime, as a callable on a numpy batch (what the batcher calls).

onnxruntime runs a session on its own threads and releases the GIL while it does, and one
session may be run from several threads at once, so batcher instances can share it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import DTypeError, IntegrityError, InvalidInputError
from .signature import TensorSpec, numpy_dtype

__all__ = ["OnnxModel"]

# onnxruntime's tensor type names -> Open Inference Protocol datatypes.
_ORT_TYPES = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError("ONNX models need onnxruntime: pip install 'seawall[onnx]'") from exc
    return onnxruntime


def _spec(arg: Any, role: str) -> TensorSpec:
    datatype = _ORT_TYPES.get(arg.type)
    if datatype is None:
        hint = (
            " (skl2onnx classifiers: convert with options={'zipmap': False})"
            if "seq" in arg.type or "map" in arg.type
            else ""
        )
        raise DTypeError(
            f"ONNX {role} {arg.name!r} is a {arg.type}, not a tensor of a supported type{hint}"
        )
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or []))
    return TensorSpec(arg.name, datatype, shape)


class OnnxModel:
    """A callable ONNX model: ``model(x)`` runs it on a batch and returns {output name: array}.

    ``model(x)`` takes the model's one input (cast to its declared type); ``model.run(inputs)``
    takes {input name: array} for models with several inputs. ``source`` is a path to an .onnx
    file or the serialized model as bytes. ``providers`` defaults to the CPU provider;
    ``intra_op_num_threads`` sizes onnxruntime's own thread pool (0: its default, the cores).
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | bytes,
        *,
        providers: list[str] | None = None,
        intra_op_num_threads: int = 0,
    ) -> None:
        ort = _import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(intra_op_num_threads)
        options.log_severity_level = 3
        if not isinstance(source, bytes):
            source = os.fspath(source)
        try:
            self.session = ort.InferenceSession(
                source, sess_options=options, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... classes
            if isinstance(exc, (FileNotFoundError, ImportError)):
                raise
            raise IntegrityError(f"onnxruntime cannot load this model: {exc}") from exc
        self.inputs = [_spec(a, "input") for a in self.session.get_inputs()]
        self.outputs = [_spec(a, "output") for a in self.session.get_outputs()]
        self._input_dtypes = {s.name: numpy_dtype(s.datatype) for s in self.inputs}
        self.output_names = [s.name for s in self.outputs]

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        if len(self.inputs) != 1:
            raise InvalidInputError(
                f"this ONNX model has {len(self.inputs)} inputs "
                f"({', '.join(s.name for s in self.inputs)}): call run({{name: array}})"
            )
        return self.run({self.inputs[0].name: x})

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs the model on {input name: array}, each cast to the input's declared type."""
        missing = [name for name in self._input_dtypes if name not in inputs]
        if missing:
            raise InvalidInputError(f"the ONNX model needs inputs {missing}")
        feed = {
            name: np.ascontiguousarray(np.asarray(inputs[name]), dtype=dtype)
            for name, dtype in self._input_dtypes.items()
        }
        results = self.session.run(self.output_names, feed)
        return dict(zip(self.output_names, results, strict=True))

    def __repr__(self) -> str:
        ins = ", ".join(f"{s.name}: {s.datatype}{list(s.shape)}" for s in self.inputs)
        outs = ", ".join(f"{s.name}: {s.datatype}{list(s.shape)}" for s in self.outputs)
        return f"OnnxModel(({ins}) -> ({outs}))"
