"""Checks on what users pass the registry: names, keys, values, model URIs."""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import Any

from ..errors import DTypeError, InvalidInputError

# Experiments, models, aliases: they appear in URIs (models:/name@alias), so no '/', '@', space.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
# Aliases also may not be all digits (models:/m/3 is a version) nor "latest".
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$")
# Param, metric and tag keys: what filters can name (backquoted when they hold ' ' or '-').
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/: ]{0,249}$")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")

MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000


def check_name(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, got {type(value).__name__}")
    if not _NAME.match(value):
        raise InvalidInputError(
            f"invalid {what} {value!r}: use 1 to 128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return value


def check_alias(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"an alias must be a string, got {type(value).__name__}")
    if not _ALIAS.match(value) or value == "latest":
        raise InvalidInputError(
            f"invalid alias {value!r}: use 1 to 128 letters, digits, '_' or '-', starting with a "
            "letter or '_' ('latest' is reserved: models:/name/latest is the newest version)"
        )
    return value


def check_key(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"a {what} key must be a string, got {type(value).__name__}")
    if not _KEY.match(value) or value.endswith(" ") or ".." in value or "//" in value:
        raise InvalidInputError(
            f"invalid {what} key {value!r}: use 1 to 250 letters, digits, '_', '-', '.', '/', ':' "
            "or spaces, starting with a letter, digit or '_'"
        )
    return value


def check_run_id(value: Any) -> str:
    if not isinstance(value, str) or not _RUN_ID.match(value):
        raise InvalidInputError(f"a run id is 32 lowercase hex digits, got {value!r}")
    return value


def metric_value(key: str, value: Any) -> float:
    """A finite float, or a typed error: DTypeError for non-numbers, InvalidInputError for NaN
    and infinities."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DTypeError(f"metric {key!r} must be a number, got {type(value).__name__}: {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise InvalidInputError(f"metric {key!r} must be a finite number, got {out}")
    return out


def metric_step(key: str, step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise DTypeError(f"the step of metric {key!r} must be an integer, got {step!r}")
    out = int(step)
    if not -(2**63) <= out < 2**63:
        raise InvalidInputError(f"the step of metric {key!r} does not fit in 64 bits: {out}")
    return out


def timestamp(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DTypeError(f"the timestamp of {key!r} must be seconds since the epoch, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise InvalidInputError(f"the timestamp of {key!r} must be finite, got {out}")
    return out


def text_value(key: str, value: Any, what: str, limit: int) -> str:
    """Params and tags are stored as text: str(value) of a str, number or bool."""
    if isinstance(value, str):
        out = value
    elif isinstance(value, (bool, numbers.Number)):
        out = str(value)
    else:
        raise DTypeError(
            f"{what} {key!r} must be a string, number or bool, got {type(value).__name__}"
        )
    if len(out) > limit:
        raise InvalidInputError(
            f"{what} {key!r} is {len(out)} characters long; the limit is {limit}"
        )
    if "\x00" in out:
        raise InvalidInputError(f"{what} {key!r} contains a NUL character")
    return out


@dataclass(frozen=True)
class ModelRef:
    """A parsed ``models:/name/<version>``, ``models:/name/latest`` or ``models:/name@alias``."""

    name: str
    version: int | None = None
    alias: str | None = None

    @property
    def uri(self) -> str:
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}/{'latest' if self.version is None else self.version}"


def parse_model_uri(uri: Any) -> ModelRef:
    if not isinstance(uri, str):
        raise InvalidInputError(f"a model URI must be a string, got {type(uri).__name__}")
    if not uri.startswith("models:/"):
        raise InvalidInputError(
            f"not a model URI: {uri!r} (expected models:/name/3, models:/name/latest or "
            "models:/name@alias)"
        )
    rest = uri[len("models:/") :].lstrip("/")
    if "@" in rest:
        name, _, alias = rest.partition("@")
        return ModelRef(check_name(name, "model name"), alias=check_alias(alias))
    name, sep, version = rest.partition("/")
    if not sep:
        raise InvalidInputError(
            f"model URI {uri!r} names no version or alias: use models:/{name}/<version>, "
            f"models:/{name}/latest or models:/{name}@<alias>"
        )
    check_name(name, "model name")
    if version == "latest":
        return ModelRef(name)
    return ModelRef(name, version=check_version(version, uri))


def check_version(value: Any, where: str | None = None) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        context = f" in {where!r}" if where else ""
        raise InvalidInputError(f"a model version is a positive integer, got {value!r}{context}")
    return int(value)
