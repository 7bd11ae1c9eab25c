"""Reading a saved pipeline state back: every field checked for its type, errors naming it.

A state file is JSON anyone can edit; save() protects it with a SHA-256, but from_dict() takes
documents without one, and an editor can recompute the hash. So before any value reaches an op
or the native core (whose type conversions would raise pybind's ``RuntimeError``), each field is
checked here and a wrong one is an :class:`~seawall.errors.IntegrityError` naming it, as in
``features[0].ops[1].fitted.mean``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import IntegrityError, SeawallError
from .ops import OPS, Op

__all__ = ["FITTED_TYPES", "PARAM_TYPES", "SavedFeature", "is_text", "read_features"]


def is_text(v: Any) -> bool:
    """A str that has a UTF-8 form."""
    if not isinstance(v, str):
        return False
    try:
        v.encode("utf-8")  # a lone surrogate (JSON can spell one) is not text
    except UnicodeEncodeError:
        return False
    return True


def _is_number(v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an int past every float
        return False


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**63


def _or_null(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _list_of(check: Callable[[Any], bool], length: int | None = None) -> Callable[[Any], bool]:
    return lambda v: (
        isinstance(v, list) and (length is None or len(v) == length) and all(check(x) for x in v)
    )


@dataclass(frozen=True)
class _Type:
    check: Callable[[Any], bool]
    says: str


_BOOL = _Type(lambda v: isinstance(v, bool), "true or false")
_NUMBER = _Type(_is_number, "a finite number")
_NUMBER_OR_NULL = _Type(_or_null(_is_number), "a finite number or null")
_INT_OR_NULL = _Type(_or_null(_is_int), "an integer or null")
_TEXT = _Type(is_text, "a string")
_NUMBERS = _Type(_list_of(_is_number), "a list of finite numbers")

# The JSON type of each op's constructor arguments and fitted values; the ops themselves check
# the values' ranges (Op._check) once these types hold. Every op parameter must be listed here.
PARAM_TYPES: dict[str, _Type] = {
    "strategy": _TEXT,
    "fill_value": _Type(
        _or_null(lambda v: is_text(v) or _is_number(v)), "a string, a number or null"
    ),
    "add_indicator": _BOOL,
    "exact": _Type(_or_null(lambda v: isinstance(v, bool)), "true, false or null"),
    "lower": _NUMBER_OR_NULL,
    "upper": _NUMBER_OR_NULL,
    "quantiles": _Type(
        _or_null(_list_of(_or_null(_is_number), 2)), "a pair of numbers (or nulls), or null"
    ),
    "with_mean": _BOOL,
    "with_std": _BOOL,
    "clip": _BOOL,
    "quantile_range": _Type(_list_of(_is_number, 2), "a pair of numbers"),
    "with_centering": _BOOL,
    "with_scaling": _BOOL,
    "boundaries": _Type(_or_null(_list_of(_is_number)), "a list of finite numbers or null"),
    "n_bins": _INT_OR_NULL,
    "min_frequency": _Type(_or_null(_is_number), "a number or null"),
    "max_categories": _INT_OR_NULL,
    "unknown": _TEXT,
    "n": _Type(_is_int, "an integer"),
}
FITTED_TYPES: dict[str, _Type] = {
    "fill_value": _Type(lambda v: is_text(v) or _is_number(v), "a string or a finite number"),
    "lower": _NUMBER_OR_NULL,
    "upper": _NUMBER_OR_NULL,
    "mean": _NUMBER,
    "scale": _NUMBER,
    "min": _NUMBER,
    "max": _NUMBER,
    "center": _NUMBER,
    "boundaries": _NUMBERS,
    "categories": _Type(_list_of(is_text), "a list of strings"),
    "infrequent": _Type(_list_of(is_text), "a list of strings"),
    "quantile_method": _Type(lambda v: v in ("exact", "sketch"), "'exact' or 'sketch'"),
}


@dataclass
class SavedFeature:
    name: str
    column: str
    string_input: bool
    ops: list[Op]


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> IntegrityError:
        return IntegrityError(f"{self.source} is malformed: {where} {message}")

    def get(self, obj: dict[str, Any], key: str, where: str) -> Any:
        if key not in obj:
            raise self.fail(where, f"has no {key!r}")
        return obj[key]

    def dict_at(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be an object, got {value!r}")
        return value

    def list_at(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list, got {value!r}")
        return value

    def typed(self, value: Any, kind: _Type, where: str) -> Any:
        if not kind.check(value):
            raise self.fail(where, f"must be {kind.says}, got {value!r}")
        return value


def read_features(state: dict[str, Any], source: str, version: int) -> list[SavedFeature]:
    """The features of a pipeline state (format and version already checked), every field typed
    and every op checked; IntegrityError naming the first wrong field."""
    r = _Reader(source)
    out = []
    entries = r.list_at(r.get(state, "features", "the state"), "features")
    if not entries:
        raise r.fail("features", "is empty")
    for i, entry in enumerate(entries):
        where = f"features[{i}]"
        entry = r.dict_at(entry, where)
        name = r.typed(r.get(entry, "name", where), _TEXT, f"{where}.name")
        column = r.typed(r.get(entry, "column", where), _TEXT, f"{where}.column")
        kind = r.get(entry, "input", where)
        if kind not in ("string", "number"):
            raise r.fail(f"{where}.input", f"must be 'string' or 'number', got {kind!r}")
        ops = [
            _read_op(r, op_state, f"{where}.ops[{j}]", column, kind == "string", version)
            for j, op_state in enumerate(r.list_at(r.get(entry, "ops", where), f"{where}.ops"))
        ]
        if not ops:
            raise r.fail(f"{where}.ops", "is empty")
        if ops[-1].categorical != (kind == "string"):
            raise r.fail(
                f"{where}.input",
                f"is {kind!r}, but the chain ends in {type(ops[-1]).__name__}",
            )
        out.append(SavedFeature(name, column, kind == "string", ops))
    return out


def _read_op(
    r: _Reader, op_state: Any, where: str, column: str, string_input: bool, version: int
) -> Op:
    op_state = r.dict_at(op_state, where)
    name = r.get(op_state, "op", where)
    op_class = OPS.get(name) if isinstance(name, str) else None
    if op_class is None:
        raise r.fail(f"{where}.op", f"names no known op: {name!r}")
    params = r.dict_at(op_state.get("params", {}), f"{where}.params")
    v1_method = None
    if version == 1 and "exact" in params:
        # Version 1 fit quantiles with the sketch unless exact=True and recorded no method; its
        # default, exact=False, loads as today's default, None.
        exact = r.typed(params["exact"], _BOOL, f"{where}.params.exact")
        v1_method = "exact" if exact else "sketch"
        params = {**params, "exact": True if exact else None}
        op_state = {**op_state, "params": params}
    for key, value in params.items():
        if key not in op_class._param_names:
            raise r.fail(f"{where}.params", f"has an unknown parameter {key!r} for {name}")
        r.typed(value, PARAM_TYPES[key], f"{where}.params.{key}")
    try:
        op = op_class(**params)
    except TypeError as exc:  # a required parameter is missing
        raise r.fail(f"{where}.params", f"lack a parameter of {name}: {exc}") from exc
    try:
        op._check(column, string_input)
    except SeawallError as exc:
        raise r.fail(f"{where}.params", f"{params!r} are not valid: {exc}") from exc
    if op.needs_fit:
        fitted = r.dict_at(r.get(op_state, "fitted", where), f"{where}.fitted")
        if v1_method is not None and "quantile_method" in op._fitted_names:
            fitted = {**fitted, "quantile_method": v1_method}
            op_state = {**op_state, "fitted": fitted}
        for key in op._fitted_names:
            kind = FITTED_TYPES[key]
            if key == "fill_value":  # the imputed value is of the column's kind
                kind = _TEXT if string_input else _NUMBER
            r.typed(r.get(fitted, key, f"{where}.fitted"), kind, f"{where}.fitted.{key}")
    return op_class._from_state(op_state)
