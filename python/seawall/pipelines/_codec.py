"""How step outputs and pipeline parameters are stored: one format per kind of value.

===========================  ==================  =========================================
value                        format              bytes
===========================  ==================  =========================================
pyarrow Table / RecordBatch  ``arrow``           Arrow IPC file format (pandas and polars
pandas / polars DataFrame                        frames too, read back as the same kind)
numpy array (not object)     ``npy``             numpy .npy (``allow_pickle=False``)
None, bool, int, float,      ``json``            UTF-8 JSON (exact: only values that read
str, lists and str-keyed                         back equal and of the same types, so no
dicts of them                                    tuples, NaN or non-string keys)
seawall Profile              ``seawall.profile`` Profile.to_bytes()
fitted FeaturePipeline       ``seawall.feature   its JSON document with SHA-256, as save()
                             _pipeline``
anything else                ``pickle``          pickle, protocol 5
===========================  ==================  =========================================

Reading a pickle runs code chosen by whoever wrote it, so :func:`decode` reads one only when
told ``trust_code=True``; every other format is data to its reader (numpy refuses the pickles a
.npy can hold, and pyarrow no longer unpickles its old Python extension type), so those load
from the registry without an opt-in.
"""

from __future__ import annotations

import io
import json
import math
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import IntegrityError, UntrustedCodeError

__all__ = ["EXTENSIONS", "LOADS_CODE", "Encoded", "decode", "encode"]

EXTENSIONS = {
    "arrow": "arrow",
    "npy": "npy",
    "json": "json",
    "seawall.profile": "swprofile",
    "seawall.feature_pipeline": "json",
    "pickle": "pkl",
}

# The formats whose reading runs code from the bytes.
LOADS_CODE = frozenset({"pickle"})


@dataclass(frozen=True)
class Encoded:
    """A value in its stored form: the format, the bytes, and the Python type to read it as."""

    format: str
    data: bytes
    python_type: str

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def _type_name(value: Any) -> str:
    t = type(value)
    return f"{t.__module__}.{t.__qualname__}"


def _is_exact_json(value: Any, depth: int = 0) -> bool:
    if depth > 100:
        return False
    t = type(value)
    if value is None or t in (bool, int, str):
        return True
    if t is float:
        return math.isfinite(value)
    if t is list:
        return all(_is_exact_json(v, depth + 1) for v in value)
    if t is dict:
        return all(type(k) is str and _is_exact_json(v, depth + 1) for k, v in value.items())
    return False


def _arrow_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def encode(value: Any) -> Encoded:
    """The stored form of `value` (see the module's table)."""
    from .._files import json_digest
    from ..features import FeaturePipeline
    from ..profiles import Profile

    kind = _type_name(value)
    module = type(value).__module__
    if isinstance(value, (pa.Table, pa.RecordBatch)):
        table = value if isinstance(value, pa.Table) else pa.Table.from_batches([value])
        return Encoded("arrow", _arrow_bytes(table), kind)
    if module.startswith("pandas") and hasattr(value, "columns") and hasattr(value, "iloc"):
        return Encoded("arrow", _arrow_bytes(pa.Table.from_pandas(value)), "pandas.DataFrame")
    if module.startswith("polars") and hasattr(value, "to_arrow") and hasattr(value, "columns"):
        return Encoded("arrow", _arrow_bytes(value.to_arrow()), "polars.DataFrame")
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return Encoded("npy", buf.getvalue(), kind)
    if _is_exact_json(value):
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return Encoded("json", text.encode("utf-8"), kind)
    if isinstance(value, Profile):
        return Encoded("seawall.profile", value.to_bytes(), kind)
    if isinstance(value, FeaturePipeline) and hasattr(value, "features_"):
        state = value.to_dict()
        document = {**state, "sha256": json_digest(state)}
        text = json.dumps(document, ensure_ascii=False, allow_nan=False, sort_keys=True)
        return Encoded("seawall.feature_pipeline", text.encode("utf-8"), kind)
    return Encoded("pickle", pickle.dumps(value, protocol=5), kind)


def decode(encoded: Encoded, *, trust_code: bool = False) -> Any:
    """The value back from its stored form. A pickle needs ``trust_code=True``: reading it runs
    code from the bytes (UntrustedCodeError otherwise)."""
    fmt, data = encoded.format, encoded.data
    if fmt in LOADS_CODE and not trust_code:
        raise UntrustedCodeError(
            f"this value ({encoded.python_type}) is stored as a {fmt}, and loading it executes "
            "code from the stored bytes. Pass trust_code=True only if you trust everyone who "
            "can write to this registry"
        )
    try:
        if fmt == "arrow":
            table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
            if encoded.python_type == "pandas.DataFrame":
                return table.to_pandas()
            if encoded.python_type == "polars.DataFrame":
                import polars as pl

                try:
                    return pl.from_arrow(table)
                except pl.exceptions.PanicException as exc:  # a BaseException, from Rust
                    # (seen: schema metadata that is not UTF-8)
                    raise IntegrityError(f"cannot read a stored polars frame: {exc}") from None
            if encoded.python_type == "pyarrow.lib.RecordBatch":
                table = table.combine_chunks()
                arrays = [
                    c.chunks[0] if c.num_chunks else pa.array([], c.type) for c in table.columns
                ]
                return pa.RecordBatch.from_arrays(arrays, schema=table.schema)
            return table
        if fmt == "npy":
            return np.load(io.BytesIO(data), allow_pickle=False)
        if fmt == "json":
            return json.loads(data.decode("utf-8"))
        if fmt == "seawall.profile":
            from ..profiles import Profile

            return Profile.from_bytes(data)
        if fmt == "seawall.feature_pipeline":
            from ..features import FeaturePipeline

            return FeaturePipeline.from_dict(json.loads(data.decode("utf-8")))
        if fmt == "pickle":
            return pickle.loads(data)
    except (pa.ArrowInvalid, ValueError, pickle.UnpicklingError, EOFError) as exc:
        if isinstance(exc, IntegrityError):
            raise
        raise IntegrityError(f"cannot read a stored {fmt} value: {exc}") from exc
    raise IntegrityError(f"unknown stored format {fmt!r}")
