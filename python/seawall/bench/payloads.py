"""The requests a load test sends, serialised once before the load starts: v2 infer requests
(JSON tensors) built from a model's metadata (valid generated values for each input's datatype
and shape) or from real rows (a Parquet file, a table)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import InvalidInputError, MissingColumnError

__all__ = ["MAX_REQUESTS", "from_metadata", "from_rows", "http_request", "read_rows"]

# Distinct requests sent in turn: enough that no server cache answers them all, few enough to
# serialise at once.
MAX_REQUESTS = 256
_FLOATS = {"FP16", "FP32", "FP64"}
_INTS = {
    "INT8": (-100, 100),
    "INT16": (-1000, 1000),
    "INT32": (0, 1000),
    "INT64": (0, 1000),
    "UINT8": (0, 200),
    "UINT16": (0, 1000),
    "UINT32": (0, 1000),
    "UINT64": (0, 1000),
}


def _shape(spec: Mapping[str, Any], rows: int) -> list[int]:
    """The shape of one request's tensor: the batch dimension (-1 first) is `rows`, any other
    variable dimension 1."""
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) for d in shape):
        raise InvalidInputError(f"input {spec.get('name')!r} has no usable shape: {shape!r}")
    if not shape:
        return []
    out = [rows if shape[0] < 0 else shape[0]]
    return out + [1 if d < 0 else d for d in shape[1:]]


def _inputs(metadata: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    inputs = metadata.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInputError("the model's metadata lists no inputs")
    for spec in inputs:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise InvalidInputError(f"the model's metadata has a malformed input: {spec!r}")
        datatype = spec.get("datatype")
        if datatype not in _FLOATS and datatype not in _INTS and datatype not in ("BOOL", "BYTES"):
            raise InvalidInputError(
                f"input {spec['name']!r} has datatype {datatype!r}, which cannot be generated"
            )
    return inputs


def _generated(spec: Mapping[str, Any], shape: list[int], rng: np.random.Generator) -> list[Any]:
    n = math.prod(shape)
    datatype = spec["datatype"]
    if datatype in _FLOATS:
        return [round(float(v), 6) for v in rng.random(n)]
    if datatype in _INTS:
        low, high = _INTS[datatype]
        return [int(v) for v in rng.integers(low, high, n)]
    if datatype == "BOOL":
        return [bool(v) for v in rng.integers(0, 2, n)]
    return [f"v{int(v)}" for v in rng.integers(0, 50, n)]  # BYTES: short strings


def from_metadata(
    metadata: Mapping[str, Any], *, batch_size: int = 1, count: int = 64, seed: int = 0
) -> list[bytes]:
    """`count` v2 infer bodies of `batch_size` rows each, with random valid values for every
    input of the model's metadata (numbers in a small range, BYTES as short strings)."""
    rng = np.random.default_rng(seed)
    inputs = _inputs(metadata)
    bodies = []
    for _ in range(count):
        tensors = []
        for spec in inputs:
            shape = _shape(spec, batch_size)
            tensors.append(
                {
                    "name": spec["name"],
                    "shape": shape,
                    "datatype": spec["datatype"],
                    "data": _generated(spec, shape, rng),
                }
            )
        bodies.append(json.dumps({"inputs": tensors}, separators=(",", ":")).encode())
    return bodies


def read_rows(path: str | os.PathLike[str], limit: int = MAX_REQUESTS * 64) -> pa.Table:
    """At most `limit` rows of a Parquet file (or directory of files)."""
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(os.fspath(path), format="parquet")
        return dataset.head(limit)
    except (OSError, pa.ArrowException) as exc:
        raise InvalidInputError(f"cannot read rows from {os.fspath(path)}: {exc}") from None


def _column_values(table: pa.Table, spec: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """The datatype to send input `spec` as, and its values from the column of its name."""
    name = spec["name"]
    if name not in table.column_names:
        raise MissingColumnError(
            f"the rows have no column {name!r} for the model's input of that name "
            f"(they have {', '.join(table.column_names)})"
        )
    column = table.column(name)
    kind = column.type
    datatype = spec["datatype"]
    if pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind):
        kind = kind.value_type
    if datatype == "BYTES" and pa.types.is_integer(kind):
        # A categorical column of integers: seawall takes it as integers (its pipeline's
        # categories are the integers themselves), so it goes as it is.
        datatype = str(kind).upper()
        ok = True
    elif datatype == "BYTES":
        ok = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    else:
        ok = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
    if not ok:
        raise InvalidInputError(
            f"column {name!r} is {column.type}, which does not fit the model's {datatype} input"
        )
    return datatype, column.to_pylist()


def _flat(values: Sequence[Any]) -> list[Any]:
    """Row values (lists for a list column) as one flat list; JSON has no NaN or infinity, so a
    missing number is null, as the server reads it."""
    out: list[Any] = []
    for v in values:
        out.extend(v if isinstance(v, list) else [v])
    return [None if isinstance(x, float) and not math.isfinite(x) else x for x in out]


def from_rows(metadata: Mapping[str, Any], rows: pa.Table, *, batch_size: int = 1) -> list[bytes]:
    """v2 infer bodies of `batch_size` consecutive rows each (at most MAX_REQUESTS of them),
    each input taken from the column of its name."""
    inputs = _inputs(metadata)
    if rows.num_rows < batch_size:
        raise InvalidInputError(
            f"the rows hold {rows.num_rows} rows, fewer than one request of {batch_size}"
        )
    columns = {spec["name"]: _column_values(rows, spec) for spec in inputs}
    bodies: list[bytes] = []
    for start in range(0, rows.num_rows - batch_size + 1, batch_size):
        if len(bodies) == MAX_REQUESTS:
            break
        tensors = []
        for spec in inputs:
            datatype, values = columns[spec["name"]]
            data = _flat(values[start : start + batch_size])
            shape = _shape(spec, batch_size)
            if math.prod(shape) != len(data):
                raise InvalidInputError(
                    f"column {spec['name']!r} gives {len(data)} values for {batch_size} rows, "
                    f"the model's input has shape {spec['shape']}"
                )
            tensors.append(
                {"name": spec["name"], "shape": shape, "datatype": datatype, "data": data}
            )
        bodies.append(json.dumps({"inputs": tensors}, separators=(",", ":")).encode())
    return bodies


def http_request(host: str, port: int, path: str, body: bytes) -> bytes:
    """The whole HTTP/1.1 POST of `body` to `path`, as the generator sends it."""
    host_header = f"[{host}]" if ":" in host else host
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host_header}:{port}\r\n"
        "User-Agent: seawall-bench\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body
