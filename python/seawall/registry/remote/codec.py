"""JSON on the wire, by Python type: what a registry call takes and returns, as its signature
annotates it, encoded for the server's answers and decoded back into the same objects by the
client, with the JSON Schema of each type for the OpenAPI document.

Answers are standard JSON: a float that is NaN or infinite is written as its name ("NaN",
"Infinity", "-Infinity"), read back as the float where a float is expected. Types are read from
annotations: ``str``, ``int``, ``float``, ``bool``, ``None``, unions,
``list``/``Sequence``/``tuple``/``Iterable``, ``dict``/``Mapping``, ``Any``, frozen dataclasses
(the registry's records: every field by its own annotation), and the few types registered in
``CODECS`` (a run handle, a page of runs, a monitoring window...).
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import math
import types
import typing
from collections.abc import Callable
from typing import Any, NamedTuple

from ...errors import DTypeError, InvalidInputError

__all__ = ["CODECS", "Codec", "decode", "encode", "jsonable", "schema"]


class Codec(NamedTuple):
    """How one type crosses: to JSON, back (given the client, for live handles), its schema."""

    encode: Callable[[Any], Any]
    decode: Callable[[Any, Any], Any]
    schema: Callable[[dict[str, Any]], dict[str, Any]]


_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_NON_FINITE_TEXT = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}

# Types with their own wire form, registered by the modules that define them.
CODECS: dict[type, Codec] = {}


def _args(tp: Any) -> tuple[Any, ...]:
    return typing.get_args(tp)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def encode(value: Any) -> Any:
    """`value` as JSON-ready data (records as objects, handles by their registered codec)."""
    codec = CODECS.get(type(value))
    if codec is not None:
        return codec.encode(value)
    if isinstance(value, float) and not math.isfinite(value):
        return _NON_FINITE_TEXT[str(value)]  # JSON has no NaN: its name, as JavaScript writes it
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, abc.Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    for cls, codec in CODECS.items():  # subclasses of registered types
        if isinstance(value, cls):
            return codec.encode(value)
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def decode(data: Any, tp: Any, client: Any = None) -> Any:
    """`data` (JSON) as the type `tp` annotates; `client` makes live handles (runs)."""
    if tp is Any or tp is object:
        return data
    if tp is None or tp is type(None):
        return None
    if _is_union(tp):
        if data is None:
            return None
        members = [a for a in _args(tp) if a is not type(None)]
        for member in members:  # the first member the data fits
            if _fits(data, member):
                return decode(data, member, client)
        return decode(data, members[0], client)
    origin = typing.get_origin(tp) or tp
    codec = CODECS.get(origin) if isinstance(origin, type) else None
    if codec is not None:
        return codec.decode(data, client)
    if origin is tuple and _args(tp) and _args(tp)[-1] is not Ellipsis:
        if not isinstance(data, list) or len(data) != len(_args(tp)):
            raise ValueError(f"expected a list of {len(_args(tp))} items, got {data!r}")
        return tuple(decode(v, t, client) for v, t in zip(data, _args(tp), strict=True))
    if origin in (list, tuple, abc.Sequence, abc.Iterable, set, frozenset):
        args = _args(tp)
        inner = args[0] if args else Any
        items = [decode(v, inner, client) for v in data]
        return tuple(items) if origin is tuple else items
    if origin in (dict, abc.Mapping):
        args = _args(tp)
        inner = args[1] if len(args) == 2 else Any
        return {k: decode(v, inner, client) for k, v in data.items()}
    if isinstance(origin, type) and dataclasses.is_dataclass(origin):
        hints = _hints(origin)
        return origin(
            **{
                f.name: decode(data[f.name], hints[f.name], client)
                for f in dataclasses.fields(origin)
                if f.init and f.name in data
            }
        )
    if origin is float and isinstance(data, int) and not isinstance(data, bool):
        return float(data)
    if origin is float and isinstance(data, str) and data in _NON_FINITE:
        return _NON_FINITE[data]
    return data


def _fits(data: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp) or tp
    if tp is Any:
        return True
    if origin is bool:
        return isinstance(data, bool)
    if origin is int:
        return isinstance(data, int) and not isinstance(data, bool)
    if origin is float:
        return (isinstance(data, (int, float)) and not isinstance(data, bool)) or (
            isinstance(data, str) and data in _NON_FINITE
        )
    if origin is str:
        return isinstance(data, str)
    if origin in (list, tuple, abc.Sequence, abc.Iterable):
        return isinstance(data, list)
    return isinstance(data, dict)


def jsonable(value: Any, what: str) -> Any:
    """An argument as JSON data, numpy scalars and tuples included; DTypeError naming `what`
    for anything JSON cannot carry (the registry would refuse it too)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value  # NaN and infinities too: the server refuses them as the registry does
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:  # a numpy scalar
        return jsonable(item(), what)
    if isinstance(value, abc.Mapping):
        return {_key(k, what): jsonable(v, what) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, what) for v in value]
    try:
        return encode(value)
    except TypeError:
        raise DTypeError(
            f"{what} cannot be a {type(value).__name__}: a registry served over HTTP takes "
            "strings, numbers, booleans, lists and dicts of them"
        ) from None


def _key(key: Any, what: str) -> str:
    if not isinstance(key, str):
        raise InvalidInputError(f"the keys of {what} must be strings, got {key!r}")
    return key


def schema(tp: Any, components: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema (OpenAPI 3.0 dialect) of `tp`; records go to `components` by name."""
    if tp is Any or tp is object:
        return {}
    if tp is None or tp is type(None):
        return {"nullable": True}
    if _is_union(tp):
        members = [a for a in _args(tp) if a is not type(None)]
        nullable = len(members) != len(_args(tp))
        parts = [schema(m, components) for m in members]
        out = parts[0] if len(parts) == 1 else {"oneOf": parts}
        if nullable:
            out = {"allOf": [out], "nullable": True} if "$ref" in out else {**out, "nullable": True}
        return out
    origin = typing.get_origin(tp) or tp
    codec = CODECS.get(origin) if isinstance(origin, type) else None
    if codec is not None:
        return codec.schema(components)
    if origin is typing.Literal:
        return {"type": "string", "enum": list(_args(tp))}
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if origin in simple:
        return {"type": simple[origin]}
    if origin is tuple and _args(tp) and _args(tp)[-1] is not Ellipsis:
        n = len(_args(tp))
        each = [schema(a, components) for a in _args(tp)]
        same = all(i == each[0] for i in each)
        return {
            "type": "array",
            "items": each[0] if same else {"oneOf": each},
            "minItems": n,
            "maxItems": n,
        }
    if origin in (list, tuple, abc.Sequence, abc.Iterable, set, frozenset):
        of = [a for a in _args(tp) if a is not Ellipsis]
        return {"type": "array", "items": schema(of[0], components) if of else {}}
    if origin in (dict, abc.Mapping):
        args = _args(tp)
        return {
            "type": "object",
            "additionalProperties": schema(args[1], components) if len(args) == 2 else {},
        }
    if isinstance(origin, type) and dataclasses.is_dataclass(origin):
        return record_schema(origin, components)
    return {}


def record_schema(cls: type, components: dict[str, Any]) -> dict[str, Any]:
    """A reference to the schema of a dataclass, added to `components` with its fields."""
    name = cls.__name__
    if name not in components:
        components[name] = {}  # placed first: a record may contain itself
        hints = _hints(cls)
        fields = [f for f in dataclasses.fields(cls) if f.init]
        components[name] = {
            "type": "object",
            "description": (cls.__doc__ or name).strip().split("\n\n")[0],
            "properties": {f.name: schema(hints[f.name], components) for f in fields},
            "required": [
                f.name
                for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            ],
        }
    return {"$ref": f"#/components/schemas/{name}"}
