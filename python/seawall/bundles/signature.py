"""What a bundle takes and gives: tensor datatypes (the Open Inference Protocol's), tensor specs
and a bundle's signature.

A datatype is one of the KServe v2 names (FP32, INT64, BYTES...), each with its numpy dtype; a
:class:`TensorSpec` names a tensor, its datatype and its shape (-1: any size); a
:class:`Signature` lists what a caller sends, what the model takes and what it gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DTypeError, InvalidInputError

__all__ = [
    "DATATYPES",
    "NUMBER_TYPES",
    "Signature",
    "TensorSpec",
    "datatype_of",
    "numpy_dtype",
]

# KServe v2 datatype -> numpy dtype. BYTES holds strings (UTF-8 in JSON).
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
_BY_DTYPE = {dtype: name for name, dtype in DATATYPES.items() if name != "BYTES"}
NUMBER_TYPES = frozenset(DATATYPES) - {"BYTES", "BOOL"}


def numpy_dtype(datatype: str) -> np.dtype[Any]:
    try:
        return DATATYPES[datatype]
    except KeyError:
        raise DTypeError(
            f"unknown datatype {datatype!r}: expected one of {', '.join(DATATYPES)}"
        ) from None


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The v2 datatype of a numpy dtype (strings and objects are BYTES)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "OUS":
        return "BYTES"
    try:
        return _BY_DTYPE[dtype.newbyteorder("=")]
    except KeyError:
        raise DTypeError(f"numpy dtype {dtype} has no Open Inference Protocol datatype") from None


@dataclass(frozen=True)
class TensorSpec:
    """A named tensor: v2 datatype and shape, with -1 for a dimension of any size (rows first)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        numpy_dtype(self.datatype)
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Raises InvalidInputError unless `shape` fits this spec (-1 matches any size)."""
        ok = len(shape) == len(self.shape) and all(
            want < 0 or got == want for got, want in zip(shape, self.shape, strict=True)
        )
        if not ok:
            raise InvalidInputError(
                f"input {self.name!r} has shape {list(shape)}, the model takes "
                f"{list(self.shape)} (-1: any size)"
            )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TensorSpec:
        return cls(str(d["name"]), str(d["datatype"]), tuple(d["shape"]))


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
