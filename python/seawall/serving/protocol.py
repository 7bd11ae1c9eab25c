"""Tensors of the Open Inference Protocol (KServe v2) on the wire: JSON and binary decoding and
encoding. The datatypes and tensor specs are the bundle format's (:mod:`seawall.bundles.signature`).

Decoding is strict, as the protocol asks: an input's ``datatype`` must be the one the model
declares (raw feature columns accept any number type for a number column), ``shape`` must hold
exactly the elements sent, and every element must be of the JSON type the datatype names
(numbers for FP*, whole numbers for INT*/UINT*, true/false for BOOL, strings for BYTES). What is
wrong raises :class:`~seawall.errors.InvalidInputError` or :class:`~seawall.errors.DTypeError`,
with a message naming the input; the server answers those with 400.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..bundles.signature import (
    DATATYPES,
    NUMBER_TYPES,
    TensorSpec,
    datatype_of,
    numpy_dtype,
)
from ..errors import DTypeError, InvalidInputError, MissingColumnError

__all__ = [
    "DATATYPES",
    "NUMBER_TYPES",
    "BinarySection",
    "TensorSpec",
    "datatype_of",
    "decode_tensor",
    "encode_binary",
    "encode_tensor",
    "numpy_dtype",
]

# How many elements one tensor may hold, whatever its declared shape (a shape like
# [1e12] must not make the server allocate before it notices the data is short).
MAX_ELEMENTS = 1 << 31
# Lists of JSON values are converted to arrays this many elements at a time: numpy holds the GIL
# while it converts, and a server thread converting a large request must not stall the others.
_BLOCK = 1 << 16


def _field(obj: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in obj:
        raise MissingColumnError(f"{what} has no {key!r}")
    return obj[key]


def _flatten(data: Any, where: str) -> list[Any]:
    """Row-major elements of `data`, a flat or nested JSON array."""
    if not isinstance(data, list):
        raise InvalidInputError(f"{where}: 'data' must be an array, got {type(data).__name__}")
    if not any(isinstance(v, list) for v in data):
        return data
    flat: list[Any] = []
    stack: list[Any] = [iter(data)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, list):
                if len(stack) > 32:
                    raise InvalidInputError(f"{where}: 'data' is nested too deeply")
                stack.append(iter(v))
                break
            flat.append(v)
        else:
            stack.pop()
    return flat


def parse_shape(shape: Any, where: str) -> tuple[int, ...]:
    if not isinstance(shape, list) or not all(
        type(d) is int and 0 <= d <= MAX_ELEMENTS for d in shape
    ):
        raise InvalidInputError(
            f"{where}: 'shape' must be an array of non-negative integers, got {shape!r}"
        )
    return tuple(shape)


def decode_tensor(
    tensor: Any,
    *,
    accept: Sequence[str] | None = None,
    allow_missing: bool = False,
    binary: BinarySection | None = None,
) -> tuple[str, str, tuple[int, ...], Any]:
    """One input tensor of a JSON inference request, checked: (name, datatype, shape, values).

    ``accept`` lists the datatypes allowed for it (None: any). Values come back as a numpy array
    of the shape, or, with ``allow_missing`` (raw feature columns, where JSON null or a binary
    NaN is a missing value), flat, for pyarrow to read: a list with the nulls, or an array.
    A tensor with ``parameters.binary_data_size`` takes its data from ``binary``, the
    request's binary part (Triton's binary tensor data extension).
    """
    if not isinstance(tensor, dict):
        raise InvalidInputError(f"each input must be an object, got {type(tensor).__name__}")
    name = _field(tensor, "name", "an input")
    if not isinstance(name, str):
        raise InvalidInputError(f"an input's name must be a string, got {name!r}")
    where = f"input {name!r}"
    datatype = _field(tensor, "datatype", where)
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise DTypeError(
            f"{where}: unknown datatype {datatype!r} (expected one of {', '.join(DATATYPES)})"
        )
    if accept is not None and datatype not in accept:
        raise DTypeError(
            f"{where}: datatype {datatype} is not accepted here, send {'/'.join(accept)}"
        )
    shape = parse_shape(_field(tensor, "shape", where), where)
    size = math.prod(shape)
    if size > MAX_ELEMENTS:
        raise InvalidInputError(f"{where}: shape {list(shape)} is too large")
    params = tensor.get("parameters")
    nbytes = params.get("binary_data_size") if isinstance(params, dict) else None
    if nbytes is not None:
        if binary is None:
            raise InvalidInputError(
                f"{where}: has binary_data_size, but the request has no binary data (send the "
                "Inference-Header-Content-Length header with the length of the JSON part)"
            )
        if type(nbytes) is not int or nbytes < 0:
            raise InvalidInputError(f"{where}: binary_data_size must be a non-negative integer")
        if "data" in tensor:
            raise InvalidInputError(f"{where}: give either 'data' or binary_data_size, not both")
        chunk = binary.take(nbytes, where)
        return name, datatype, shape, _binary_values(chunk, datatype, shape, where, allow_missing)
    flat = _flatten(_field(tensor, "data", where), where)
    if len(flat) != size:
        raise InvalidInputError(
            f"{where}: shape {list(shape)} holds {size} elements but 'data' has {len(flat)}"
        )
    return name, datatype, shape, _values(flat, datatype, shape, where, allow_missing)


def _values(
    flat: list[Any], datatype: str, shape: tuple[int, ...], where: str, missing: bool
) -> Any:
    kinds = {type(v) for v in flat}
    if missing:
        kinds.discard(type(None))
    if datatype == "BYTES":
        if not kinds <= {str}:
            raise DTypeError(f"{where}: BYTES data must be strings, got {_names(kinds - {str})}")
        if missing:
            return flat
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        return arr.reshape(shape)
    if datatype == "BOOL":
        if not kinds <= {bool}:
            raise DTypeError(
                f"{where}: BOOL data must be true or false, got {_names(kinds - {bool})}"
            )
        return flat if missing else _array(flat, np.dtype(np.bool_)).reshape(shape)
    dtype = DATATYPES[datatype]
    if dtype.kind in "iu":
        if not kinds <= {int}:
            raise DTypeError(
                f"{where}: {datatype} data must be whole numbers, got {_names(kinds - {int})}"
            )
        info = np.iinfo(dtype)
        values = [v for v in flat if v is not None] if missing else flat
        for i in range(0, len(values), _BLOCK):
            block = values[i : i + _BLOCK]
            if min(block) < info.min or max(block) > info.max:
                raise InvalidInputError(f"{where}: a value is out of the range of {datatype}")
        return flat if missing else _array(flat, dtype).reshape(shape)
    if not kinds <= {int, float}:
        raise DTypeError(
            f"{where}: {datatype} data must be numbers, got {_names(kinds - {int, float})}"
        )
    values = [v for v in flat if v is not None] if missing else flat
    try:
        arr = _array(values, np.dtype(np.float64))
    except OverflowError:  # an integer past float64's range
        raise InvalidInputError(f"{where}: a value is out of the range of {datatype}") from None
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"{where}: a value is not a finite number")
    if dtype != np.float64 and arr.size and np.abs(arr).max() > np.finfo(dtype).max:
        raise InvalidInputError(f"{where}: a value is out of the range of {datatype}")
    if missing:
        return flat
    return arr.astype(dtype, copy=False).reshape(shape)


def _array(values: list[Any], dtype: np.dtype[Any]) -> np.ndarray:
    """``np.array(values, dtype=dtype)`` for a flat list, a block at a time."""
    if len(values) <= _BLOCK:
        return np.array(values, dtype=dtype)
    out = np.empty(len(values), dtype=dtype)
    for i in range(0, len(values), _BLOCK):
        out[i : i + _BLOCK] = values[i : i + _BLOCK]
    return out


class BinarySection:
    """The binary part of a request (after the JSON header), handed out to inputs in order."""

    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data)
        self.offset = 0

    def take(self, nbytes: int, where: str) -> memoryview:
        end = self.offset + nbytes
        if end > len(self.data):
            raise InvalidInputError(
                f"{where}: binary_data_size {nbytes} runs past the end of the body"
            )
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def finish(self) -> None:
        left = len(self.data) - self.offset
        if left:
            raise InvalidInputError(f"{left} bytes of binary data belong to no input")


def _binary_values(
    chunk: memoryview, datatype: str, shape: tuple[int, ...], where: str, missing: bool
) -> Any:
    size = math.prod(shape)
    if datatype == "BYTES":
        items = _split_bytes(chunk, size, where)
        if missing:
            return items
        arr = np.empty(size, dtype=object)
        arr[:] = items
        return arr.reshape(shape)
    dtype = DATATYPES[datatype]
    if len(chunk) != size * dtype.itemsize:
        raise InvalidInputError(
            f"{where}: shape {list(shape)} of {datatype} takes {size * dtype.itemsize} bytes, "
            f"binary_data_size is {len(chunk)}"
        )
    if datatype == "BOOL":
        raw = np.frombuffer(chunk, dtype=np.uint8)
        if raw.size and raw.max() > 1:
            raise InvalidInputError(f"{where}: BOOL bytes must be 0 or 1")
        arr = raw.astype(np.bool_)
    else:
        arr = np.frombuffer(chunk, dtype=dtype.newbyteorder("<")).astype(dtype)
        if dtype.kind == "f" and not missing and not np.isfinite(arr).all():
            raise InvalidInputError(f"{where}: a value is not a finite number")
    return arr if missing else arr.reshape(shape)


def _split_bytes(chunk: memoryview, size: int, where: str) -> list[str]:
    """BYTES elements in binary: each a 4-byte little-endian length, then that many bytes."""
    items = []
    offset = 0
    data = chunk.tobytes()
    for _ in range(size):
        if offset + 4 > len(data):
            raise InvalidInputError(f"{where}: the binary BYTES data is shorter than its shape")
        n = int.from_bytes(data[offset : offset + 4], "little")
        end = offset + 4 + n
        if end > len(data):
            raise InvalidInputError(f"{where}: a binary BYTES element runs past its data")
        try:
            items.append(data[offset + 4 : end].decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidInputError(f"{where}: a BYTES element is not UTF-8 text") from None
        offset = end
    if offset != len(data):
        raise InvalidInputError(f"{where}: the binary BYTES data is longer than its shape")
    return items


def encode_binary(name: str, value: np.ndarray) -> tuple[dict[str, Any], bytes]:
    """One output tensor for the binary extension: its JSON entry (binary_data_size) and bytes."""
    arr = np.asarray(value)
    datatype = datatype_of(arr.dtype)
    if datatype == "BYTES":
        parts = []
        for v in arr.ravel():
            b = v if isinstance(v, bytes) else str(v).encode("utf-8")
            parts.append(len(b).to_bytes(4, "little"))
            parts.append(b)
        data = b"".join(parts)
    elif datatype == "BOOL":
        data = arr.astype(np.uint8).tobytes()
    else:
        data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
    entry = {
        "name": name,
        "datatype": datatype,
        "shape": list(arr.shape),
        "parameters": {"binary_data_size": len(data)},
    }
    return entry, data


def _names(kinds: set[type]) -> str:
    names = {"NoneType": "null", "str": "strings", "bool": "true/false", "dict": "objects"}
    return ", ".join(sorted(names.get(k.__name__, k.__name__) for k in kinds))


def encode_tensor(name: str, value: np.ndarray) -> dict[str, Any]:
    """One output tensor as JSON: flat row-major data (strings for BYTES)."""
    arr = np.asarray(value)
    datatype = datatype_of(arr.dtype)
    if datatype == "BYTES":
        data = [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in arr.ravel()
        ]
    else:
        data = arr.ravel().tolist()
    return {"name": name, "datatype": datatype, "shape": list(arr.shape), "data": data}
