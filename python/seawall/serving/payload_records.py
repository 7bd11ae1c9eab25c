"""The payload log's records and their Parquet format: the schema of a model's records, the
conversion of queued records into Arrow tables, the folder of each model, and reading the files
back (:mod:`seawall.serving.payload_log` writes them).

Each logged request becomes one Parquet row per input row, with these columns::

    request_id   string      the request's v2 ``id``, or one the server made (echoed in the answer)
    row          int32       the row's place in the request (null when its inputs did not decode)
    time         timestamp   when the request arrived (UTC, microseconds)
    model, version, arm      string  who answered: "primary" unless a traffic policy says otherwise
    status       int16       the HTTP status of the answer
    error        string      the error message of an answer other than 200, else null
    input.NAME   ...         each input the bundle's signature names, as the client sent it
    output.NAME  ...         each model output (null for an error)

A one-dimensional tensor is one column; a tensor of shape ``[rows, k]`` is ``k`` columns named
``NAME_0`` to ``NAME_{k-1}`` (as the live profile names them, so ``output.probabilities_1`` is
the score of class 1); any other shape is a list column of each row's values, flattened. Column
types are the signature's datatypes (BYTES as strings).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..bundles import Signature, TensorSpec
from ..errors import InvalidInputError
from .protocol import DATATYPES

__all__ = [
    "INPUT_PREFIX",
    "OUTPUT_PREFIX",
    "Record",
    "folder_name",
    "payload_schema",
    "read_payloads",
    "records_table",
]

INPUT_PREFIX = "input."
OUTPUT_PREFIX = "output."
_MAX_ERROR_CHARS = 2000


def folder_name(model: str) -> str:
    """The folder of `model`'s files: its name, percent-encoded where it is not a plain file
    name (a name of dots only is encoded whole), so that it stays one folder under the log's."""
    if not isinstance(model, str) or not model:
        raise InvalidInputError(f"a model name must be a non-empty string, got {model!r}")
    name = quote(model, safe="-_.")
    if name.strip(".") == "":
        name = "".join(f"%{b:02X}" for b in model.encode())
    return name


# --- the schema ----------------------------------------------------------------------------------


def _arrow_type(datatype: str) -> pa.DataType:
    if datatype == "BYTES":
        return pa.string()
    return pa.from_numpy_dtype(DATATYPES[datatype])


def _layout(spec: TensorSpec) -> tuple[str, int]:
    """How a tensor is stored: ("scalar", 1), ("columns", k) or ("list", 0)."""
    if len(spec.shape) <= 1:
        return "scalar", 1
    if len(spec.shape) == 2 and spec.shape[1] >= 0:
        return "columns", spec.shape[1]
    return "list", 0


def _tensor_fields(prefix: str, spec: TensorSpec) -> list[pa.Field]:
    kind, width = _layout(spec)
    value = _arrow_type(spec.datatype)
    if kind == "scalar":
        return [pa.field(prefix + spec.name, value)]
    if kind == "columns":
        return [pa.field(f"{prefix}{spec.name}_{j}", value) for j in range(width)]
    return [pa.field(prefix + spec.name, pa.list_(value))]


def payload_schema(signature: Signature) -> pa.Schema:
    """The Parquet schema of a model's payload records (module docstring)."""
    fields = [
        pa.field("request_id", pa.string()),
        pa.field("row", pa.int32()),
        pa.field("time", pa.timestamp("us", tz="UTC")),
        pa.field("model", pa.string()),
        pa.field("version", pa.string()),
        pa.field("arm", pa.string()),
        pa.field("status", pa.int16()),
        pa.field("error", pa.string()),
    ]
    for spec in signature.inputs:
        fields += _tensor_fields(INPUT_PREFIX, spec)
    for spec in signature.outputs:
        fields += _tensor_fields(OUTPUT_PREFIX, spec)
    return pa.schema(fields)


# --- records and their conversion to Arrow -------------------------------------------------------


@dataclass
class Record:
    """One answered request as the log queued it: references to what the server decoded and
    answered, turned into rows by :func:`records_table` on the writer's thread."""

    time: float
    model: str
    version: str | None
    arm: str
    request_id: str
    status: int
    error: Any  # None, a message, or the bytes of an error answer ({"error": message})
    inputs: Any  # {name: values} or a pyarrow Table; None when the request did not decode
    outputs: Mapping[str, Any] | None
    signature: Signature
    rows: int
    nbytes: int


def _error_text(error: Any) -> str | None:
    if error is None:
        return None
    if isinstance(error, (bytes, bytearray, memoryview)):
        raw = bytes(error)
        try:
            message = json.loads(raw).get("error")
        except (ValueError, AttributeError):
            message = None
        error = message if isinstance(message, str) else raw.decode("utf-8", "replace")
    text = str(error)
    return text if len(text) <= _MAX_ERROR_CHARS else text[:_MAX_ERROR_CHARS] + "..."


def _as_list(values: Any) -> list[Any]:
    if isinstance(values, np.ndarray):
        return list(values.reshape(-1).tolist())
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return list(values.to_pylist())
    return list(values)


def _input_values(inputs: Any, name: str) -> Any:
    if inputs is None:
        return None
    if isinstance(inputs, pa.Table):
        return inputs.column(name) if name in inputs.column_names else None
    return inputs.get(name)


def _scalar_column(chunks: list[Any], rows: list[int], type_: pa.DataType) -> pa.Array:
    """One column from each record's values (a list, an array, an Arrow column or None)."""
    if all(isinstance(c, np.ndarray) and c.dtype.kind in "biuf" for c in chunks):
        flat = np.concatenate([c.reshape(-1) for c in chunks])  # model outputs: no Python
        if len(flat) != sum(rows):
            raise ValueError("a record's values do not match its rows")
        numbers = pa.array(flat)
        return numbers if numbers.type == type_ else numbers.cast(type_)
    values: list[Any] = []
    for chunk, n in zip(chunks, rows, strict=True):
        if chunk is None:
            values.extend([None] * n)
            continue
        part = chunk if type(chunk) is list else _as_list(chunk)
        if len(part) != n:
            raise ValueError(f"a record has {len(part)} values for {n} rows")
        values.extend(part)
    try:
        array = pa.array(values)  # inferred, then cast: ints sent for a float column, ...
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # text and bytes mixed
        array = pa.array([_text(v) for v in values])
    if pa.types.is_binary(array.type) and pa.types.is_string(type_):  # BYTES as binary data
        array = pa.array([_text(v) for v in values], type=type_)
    return array if array.type == type_ else array.cast(type_)


def _tensor_columns(
    prefix: str, spec: TensorSpec, chunks: list[Any], rows: list[int]
) -> dict[str, pa.Array]:
    kind, width = _layout(spec)
    type_ = _arrow_type(spec.datatype)
    if kind == "scalar":
        return {prefix + spec.name: _scalar_column(chunks, rows, type_)}
    total = sum(rows)
    present = np.zeros(total, dtype=bool)
    parts = []
    offset = 0
    for chunk, n in zip(chunks, rows, strict=True):
        if chunk is not None:
            array = np.asarray(chunk)
            if array.shape[0] != n:
                raise ValueError(f"{spec.name}: a record has {array.shape[0]} rows for {n}")
            parts.append(array.reshape(n, -1))
            present[offset : offset + n] = True
        offset += n
    dtype = object if spec.datatype == "BYTES" else _arrow_type(spec.datatype).to_pandas_dtype()
    if kind == "columns":
        full = np.zeros((total, width), dtype=dtype)
        if parts:
            stacked = np.concatenate(parts)
            if stacked.shape[1] != width:
                raise ValueError(f"{spec.name}: {stacked.shape[1]} values a row, not {width}")
            full[present] = stacked
        mask = None if present.all() else ~present
        return {
            f"{prefix}{spec.name}_{j}": pa.array(
                [_text(v) for v in full[:, j]] if dtype is object else full[:, j],
                type=type_,
                mask=mask,
            )
            for j in range(width)
        }
    listed: list[Any] = []
    blocks = iter(parts)
    for chunk, n in zip(chunks, rows, strict=True):
        if chunk is None:
            listed.extend([None] * n)
        else:
            block = next(blocks)
            listed.extend(_as_list(block[r]) for r in range(n))
    return {prefix + spec.name: pa.array(listed, type=pa.list_(type_))}


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _input_columns(records: list[Record], signature: Signature) -> dict[str, pa.Array]:
    """The input columns of `records`. Runs of records whose inputs are tables (raw records)
    are joined as tables, one cast per column rather than one conversion per record; the
    others go value by value."""
    runs: list[tuple[bool, list[Record]]] = []
    for r in records:
        is_table = isinstance(r.inputs, pa.Table)
        if runs and runs[-1][0] == is_table:
            runs[-1][1].append(r)
        else:
            runs.append((is_table, [r]))
    parts: dict[str, list[pa.Array]] = {}
    for is_table, run in runs:
        if is_table and all(_layout(spec)[0] == "scalar" for spec in signature.inputs):
            tables = [r.inputs for r in run]
            try:
                joined = pa.concat_tables(tables)
            except pa.ArrowInvalid:  # other columns or types (a client sending other fields)
                joined = pa.concat_tables(tables, promote_options="permissive")
            if joined.num_rows != sum(r.rows for r in run):
                raise ValueError("a record's table does not have its rows")
            joined = joined.combine_chunks()  # once for the table: cheaper than per column
            for spec in signature.inputs:
                type_ = _arrow_type(spec.datatype)
                if spec.name in joined.column_names:
                    column = joined.column(spec.name)
                    array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
                    array = array if array.type == type_ else array.cast(type_)
                else:
                    array = pa.nulls(joined.num_rows, type_)
                parts.setdefault(INPUT_PREFIX + spec.name, []).append(array)
            continue
        rows = [r.rows for r in run]
        for spec in signature.inputs:
            chunks = [_input_values(r.inputs, spec.name) for r in run]
            for name, array in _tensor_columns(INPUT_PREFIX, spec, chunks, rows).items():
                parts.setdefault(name, []).append(array)
    return {k: v[0] if len(v) == 1 else pa.concat_arrays(v) for k, v in parts.items()}


def records_table(records: list[Record], schema: pa.Schema) -> pa.Table:
    """The Parquet rows of `records`, all of one model and signature."""
    signature = records[0].signature
    rows = [r.rows for r in records]
    total = sum(rows)
    repeat = np.asarray(rows, dtype=np.int64)

    def each(values: list[Any], type_: pa.DataType) -> pa.Array:
        return pa.array(np.repeat(np.asarray(values, dtype=object), repeat), type=type_)

    starts = np.repeat(np.cumsum(repeat) - repeat, repeat)
    row = np.arange(total, dtype=np.int32) - starts.astype(np.int32)
    decoded = np.repeat(np.asarray([r.inputs is not None for r in records]), repeat)
    columns: dict[str, pa.Array] = {
        "request_id": each([r.request_id for r in records], pa.string()),
        "row": pa.array(row, type=pa.int32(), mask=~decoded if not decoded.all() else None),
        "time": pa.array(
            np.repeat(np.asarray([r.time for r in records]) * 1e6, repeat).astype(np.int64),
            type=pa.int64(),
        ).cast(pa.timestamp("us", tz="UTC")),
        "model": each([r.model for r in records], pa.string()),
        "version": each([r.version for r in records], pa.string()),
        "arm": each([r.arm for r in records], pa.string()),
        "status": pa.array(np.repeat([r.status for r in records], repeat), type=pa.int16()),
        "error": each([_error_text(r.error) for r in records], pa.string()),
    }
    columns.update(_input_columns(records, signature))
    for spec in signature.outputs:
        chunks = [None if r.outputs is None else r.outputs.get(spec.name) for r in records]
        columns.update(_tensor_columns(OUTPUT_PREFIX, spec, chunks, rows))
    return pa.table([columns[f.name] for f in schema], schema=schema)


def read_payloads(directory: str | os.PathLike[str], model: str | None = None) -> pa.Table:
    """Every published record under `directory` (a payload log's folder, or one model's
    folder; `model`: only that model's), oldest file first; hidden temporaries are skipped.
    Files of versions with other inputs or outputs are joined with nulls where a column is
    missing."""
    root = Path(directory)
    if model is not None:
        root = root / folder_name(model)
    if not root.is_dir():
        raise InvalidInputError(f"{root} is not a folder of payload logs")
    files = sorted(
        (p for p in root.rglob("*.parquet") if not p.name.startswith(".")),
        key=lambda p: (p.name, str(p)),
    )
    tables = [pq.read_table(p) for p in files]
    if not tables:
        return _empty_table()
    return pa.concat_tables(tables, promote_options="permissive")


def _empty_table() -> pa.Table:
    return payload_schema(Signature((), (), ())).empty_table()
