"""Dataset fingerprints: what a run read, recorded by content rather than by a path that moves.

A fingerprint is the SHA-256 of the schema (names, types, nullability; no pandas metadata) and of
the rows, cut into fixed blocks of BLOCK_ROWS rows and each written as an Arrow IPC record batch.
Equal data gives the same fingerprint however it is chunked, and whatever it came in (a pyarrow
Table, pandas or polars frame, dict of arrays, Parquet files, a stream of batches).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from .._data import BatchSource
from ..errors import InvalidInputError

BLOCK_ROWS = 65_536
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class DatasetFingerprint:
    """Content hash, schema and row count of a dataset."""

    fingerprint: str
    schema: list[dict[str, Any]]
    num_rows: int

    @classmethod
    def from_data(cls, data: Any) -> DatasetFingerprint:
        source = BatchSource(data)
        schema = pa.schema(
            [pa.field(f.name, f.type, f.nullable) for f in source.schema]
        ).remove_metadata()
        described = [
            {"name": f.name, "type": str(f.type), "nullable": bool(f.nullable)} for f in schema
        ]
        h = hashlib.sha256()
        h.update(b"seawall.dataset/1\n")
        h.update(json.dumps(described, sort_keys=True).encode())
        rows = 0
        pending: list[pa.Table] = []
        pending_rows = 0
        for table in source.batches(schema.names):
            table = pa.Table.from_batches(table.to_batches(), schema=schema)
            pending.append(table)
            pending_rows += table.num_rows
            while pending_rows >= BLOCK_ROWS:
                whole = pa.concat_tables(pending)
                _feed(h, whole.slice(0, BLOCK_ROWS), schema)
                rest = whole.slice(BLOCK_ROWS)
                pending, pending_rows = [rest], rest.num_rows
                rows += BLOCK_ROWS
        if pending_rows:
            _feed(h, pa.concat_tables(pending), schema)
            rows += pending_rows
        return cls(h.hexdigest(), described, rows)

    def checked(self) -> DatasetFingerprint:
        """This fingerprint, after checking its fields (one that came over the network)."""
        if not isinstance(self.fingerprint, str) or not _HEX64.match(self.fingerprint):
            raise InvalidInputError(f"a dataset fingerprint is 64 hex digits: {self.fingerprint!r}")
        fields_ok = isinstance(self.schema, list) and all(
            isinstance(f, dict)
            and isinstance(f.get("name"), str)
            and isinstance(f.get("type"), str)
            and isinstance(f.get("nullable"), bool)
            for f in self.schema
        )
        if not fields_ok:
            raise InvalidInputError("a dataset schema is a list of {name, type, nullable}")
        rows = self.num_rows
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise InvalidInputError(f"a dataset's row count is a whole number, got {rows!r}")
        return self


def _feed(h: Any, table: pa.Table, schema: pa.Schema) -> None:
    # concat_arrays copies each column into fresh buffers that start at offset 0 (string offsets
    # rebased too), so the IPC bytes depend on the values only, not on how the input was cut.
    columns = [pa.concat_arrays(column.chunks) for column in table.columns]
    batch = pa.RecordBatch.from_arrays(columns, schema=schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(batch)
    h.update(sink.getvalue())
