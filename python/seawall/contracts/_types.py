"""Arrow types as a schema's column types, and columns as the native validator reads them."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from .._data import column_chunks, prepare_column

__all__ = ["accepts", "describe", "native_columns", "native_kind", "type_of"]


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def type_of(t: pa.DataType) -> str | None:
    """The schema type of an Arrow type: "integer", "float", "boolean", "string", "null" (a
    column of nulls only), or None for a type a schema cannot describe (timestamps, lists,
    binary...)."""
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_boolean(t):
        return "boolean"
    if _is_string(t) or (pa.types.is_dictionary(t) and _is_string(t.value_type)):
        return "string"
    if pa.types.is_null(t):
        return "null"
    return None


def accepts(schema_type: str | None, t: pa.DataType) -> bool:
    """Whether a column of schema type `schema_type` may hold Arrow type `t`: the same type, a
    column of nulls, integers in a float column, or anything in a column of no type."""
    if schema_type is None:
        return True
    data = type_of(t)
    if data == "null" or data == schema_type:
        return True
    return schema_type == "float" and data == "integer"


def describe(t: pa.DataType) -> str:
    """How a mismatch names the data's type: the schema's word for it, and the Arrow type."""
    kind = type_of(t)
    if kind is None or kind == "null":
        return str(t)
    return f"{kind} ({t})"


def native_kind(schema_type: str | None) -> str:
    return "string" if schema_type == "string" else "numeric"


def native_columns(table: pa.Table, names: list[str], kinds: list[str]) -> list[tuple[str, Any]]:
    """The columns `names` of `table` as the native core reads them (numbers: integers and
    floats as they are, booleans as 0/1, decimals and nulls as float64; strings: strings and
    dictionaries of strings as they are)."""
    out = []
    for name, kind in zip(names, kinds, strict=True):
        column = prepare_column(table.column(name), name, kind == "string")
        out.append((name, column_chunks(column)))
    return out
