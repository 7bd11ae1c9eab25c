"""Schema: what each column of a dataset must look like, edited in code, saved as checked JSON.

A schema holds one :class:`ColumnSchema` per column: its type, how often it must be present, a
numeric range, a string domain, whether NaN and infinities are allowed, uniqueness, the bounds
on its number of distinct values, the environments it belongs to, and the skew and drift
thresholds its profiles are compared with. Every field is optional: an unset one checks nothing.

The vocabulary is TensorFlow Data Validation's (``schema.proto``), with these differences:

- Types are ``"integer"``, ``"float"``, ``"boolean"`` and ``"string"`` (TFDV: INT, FLOAT,
  BYTES), or None for a column whose type is unknown (inferred from an all-null column): it is
  checked for presence only. A ``"float"`` column accepts integer data; an ``"integer"`` column
  does not accept floats.
- Presence counts non-null values: NaN is a value (it has its own check, ``allow_nan``), as in
  TFDV. ``max_missing(share)`` is ``min_fraction = 1 - share``.
- Environments: a column is in every environment unless ``not_in(...)`` names it, or
  ``only_in(...)`` lists others (TFDV's ``not_in_environment`` / ``in_environment``). TFDV also
  needs the environment in the schema's ``default_environment`` for the other columns to be
  required there; seawall has no default list: a column without either list is in all.
- ``unique()`` (every non-null, non-NaN value different from the others) has no TFDV
  counterpart; ``distinct(min, max)`` bounds the number of distinct values as TFDV's
  ``unique_constraints`` do.

Saved form: human-readable JSON (``format: "seawall.schema"``, ``format_version``) with the
SHA-256 of its canonical form; :meth:`Schema.load` refuses a file whose hash does not match
(:class:`~seawall.errors.IntegrityError`) and one written by a newer format
(:class:`~seawall.errors.UnsupportedVersionError`). Writes are atomic.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._files import json_digest, verified_state, write_atomic
from ..errors import (
    IntegrityError,
    InvalidInputError,
    MissingColumnError,
    SeawallError,
    UnsupportedVersionError,
)

if TYPE_CHECKING:
    from .report import ValidationReport

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "TYPES",
    "ColumnSchema",
    "Schema",
    "SchemaChange",
    "SchemaDiff",
]

FORMAT_NAME = "seawall.schema"
FORMAT_VERSION = 1
TYPES = ("integer", "float", "boolean", "string")
ColumnType = Literal["integer", "float", "boolean", "string"]
Bound = int | float


def _bound(value: Any, what: str) -> Bound | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            import numpy as np

            if isinstance(value, np.integer):
                return int(value)
            if isinstance(value, np.floating):
                value = float(value)
        except ImportError:  # pragma: no cover - numpy is a dependency
            pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInputError(f"{what} must be a number or None, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(
            f"{what} must be a finite number (None leaves that side open), got {value!r}"
        )
    return value


def _share(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{what} must be a number from 0 to 1, got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise InvalidInputError(f"{what} must be from 0 to 1, got {value!r}")
    return float(value)


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"{what} must be a non-negative integer, got {value!r}")
    return int(value)


def _names(values: Iterable[Any], what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    out = []
    for v in values:
        if not isinstance(v, str) or not v:
            raise InvalidInputError(f"{what} must be non-empty strings, got {v!r}")
        out.append(v)
    return tuple(dict.fromkeys(out))


def _threshold(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{what} must be a number or None, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise InvalidInputError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Comparator:
    """Thresholds of a skew or drift comparison: L-infinity distance between category shares
    (``linf``), Jensen-Shannon divergence (base 2, in [0, 1]) between histograms or category
    shares (``jsd``). An anomaly when the measure is above its threshold (TFDV's rule)."""

    linf: float | None = None
    jsd: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"linf": self.linf, "jsd": self.jsd}

    def __bool__(self) -> bool:
        return self.linf is not None or self.jsd is not None


class ColumnSchema:
    """The contract of one column. Read its fields as attributes; change them with the methods,
    which check their arguments and return the column, so edits chain::

        schema["amount"].range(0, None).max_missing(0.01)
    """

    __slots__ = (
        "_name",
        "_type",
        "allowed_values",
        "distinct_max",
        "distinct_min",
        "drift_thresholds",
        "inf_allowed",
        "lower",
        "max_off_domain",
        "min_count",
        "min_fraction",
        "nan_allowed",
        "not_in_environments",
        "only_in_environments",
        "skew_thresholds",
        "unique_values",
        "upper",
    )

    def __init__(self, name: str, type: ColumnType | None) -> None:
        if not isinstance(name, str):
            raise InvalidInputError(f"a column name is a string, got {name!r}")
        if type is not None and type not in TYPES:
            raise InvalidInputError(
                f"column {name!r}: type must be one of {', '.join(TYPES)} or None, got {type!r}"
            )
        self._name = name
        self._type: ColumnType | None = type
        self.min_fraction: float | None = None  # presence: minimum share of non-null rows
        self.min_count = 0  # presence: minimum number of non-null rows
        self.lower: Bound | None = None
        self.upper: Bound | None = None
        self.allowed_values: tuple[str, ...] | None = None  # the string domain
        self.max_off_domain = 0.0  # share of values allowed outside the domain
        self.nan_allowed = True
        self.inf_allowed = True
        self.unique_values = False
        self.distinct_min: int | None = None
        self.distinct_max: int | None = None
        self.only_in_environments: tuple[str, ...] = ()
        self.not_in_environments: tuple[str, ...] = ()
        self.skew_thresholds = Comparator()
        self.drift_thresholds = Comparator()

    @property
    def name(self) -> str:
        return self._name

    @property
    def type(self) -> ColumnType | None:
        return self._type

    @property
    def numeric(self) -> bool:
        return self._type in ("integer", "float")

    # --- edits ------------------------------------------------------------------------------

    def range(self, lower: Bound | None, upper: Bound | None) -> ColumnSchema:
        """Values must lie in [lower, upper]; None leaves that side open (both None: no range).
        Numbers only; NaN is never in or out of range (see :meth:`allow_nan`)."""
        if (lower is not None or upper is not None) and not self.numeric:
            raise InvalidInputError(
                f"column {self._name!r} holds {self._type or 'values of no known type'}: a range "
                "applies to integer and float columns"
            )
        lo = _bound(lower, f"column {self._name!r}: the lower bound")
        hi = _bound(upper, f"column {self._name!r}: the upper bound")
        if lo is not None and hi is not None and lo > hi:
            raise InvalidInputError(
                f"column {self._name!r}: the lower bound {lo!r} is above the upper bound {hi!r}"
            )
        self.lower, self.upper = lo, hi
        return self

    def domain(self, values: Iterable[str] | None, *, max_off_domain: float = 0.0) -> ColumnSchema:
        """The strings the column may hold (None: any). Up to `max_off_domain` of the values
        may lie outside it (TFDV's ``1 - min_domain_mass``); with 0, any value outside is an
        anomaly."""
        if values is None:
            self.allowed_values, self.max_off_domain = None, 0.0
            return self
        if self._type != "string":
            raise InvalidInputError(
                f"column {self._name!r} holds {self._type or 'values of no known type'}: a "
                "domain of values applies to string columns (use range() for numbers)"
            )
        if isinstance(values, str):
            raise InvalidInputError(
                f"column {self._name!r}: the domain is a list of strings, not one string"
            )
        out = []
        for v in values:
            if not isinstance(v, str):
                raise InvalidInputError(
                    f"column {self._name!r}: domain values must be strings, got {v!r}"
                )
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInputError(
                    f"column {self._name!r}: the domain value {v!r} is not text (a lone "
                    "surrogate has no UTF-8 form)"
                ) from None
            out.append(v)
        if len(set(out)) != len(out):
            repeated = sorted({v for v in out if out.count(v) > 1})
            raise InvalidInputError(f"column {self._name!r}: the domain repeats {repeated}")
        allowance = _share(max_off_domain, f"column {self._name!r}: max_off_domain")
        self.allowed_values, self.max_off_domain = tuple(out), allowance
        return self

    def max_missing(self, share: float) -> ColumnSchema:
        """At most this share of rows may be null (``min_fraction = 1 - share``)."""
        share = _share(share, f"column {self._name!r}: max_missing")
        self.min_fraction = 1.0 - share
        if self.min_fraction > 0 and self.min_count == 0:
            self.min_count = 1
        return self

    def min_present(self, count: int) -> ColumnSchema:
        """At least this many rows must have a value (TFDV's ``presence.min_count``)."""
        self.min_count = _count(count, f"column {self._name!r}: min_present")
        return self

    def optional(self) -> ColumnSchema:
        """No presence requirement: the column may be absent or entirely null."""
        self.min_fraction, self.min_count = None, 0
        return self

    def unique(self, flag: bool = True) -> ColumnSchema:
        """Every value must differ from every other (nulls and NaN are not values)."""
        self.unique_values = bool(flag)
        return self

    def distinct(self, min: int | None = None, max: int | None = None) -> ColumnSchema:
        """Bounds on the number of distinct values (TFDV's ``unique_constraints``)."""
        lo = None if min is None else _count(min, f"column {self._name!r}: distinct min")
        hi = None if max is None else _count(max, f"column {self._name!r}: distinct max")
        if lo is not None and hi is not None and lo > hi:
            raise InvalidInputError(f"column {self._name!r}: distinct min {lo} is above max {hi}")
        self.distinct_min, self.distinct_max = lo, hi
        return self

    def allow_nan(self, flag: bool = True) -> ColumnSchema:
        """Whether NaN may appear (float columns; TFDV's ``float_domain.disallow_nan``)."""
        self.nan_allowed = bool(flag)
        return self

    def allow_inf(self, flag: bool = True) -> ColumnSchema:
        """Whether +-inf may appear (float columns; TFDV's ``float_domain.disallow_inf``)."""
        self.inf_allowed = bool(flag)
        return self

    def not_in(self, *environments: str) -> ColumnSchema:
        """The column is not expected in these environments (e.g. the label in "SERVING")."""
        names = _names(environments, f"column {self._name!r}: environments")
        self.not_in_environments = tuple(dict.fromkeys(self.not_in_environments + names))
        return self

    def only_in(self, *environments: str) -> ColumnSchema:
        """The column is expected in these environments only (empty: in all)."""
        self.only_in_environments = _names(environments, f"column {self._name!r}: environments")
        return self

    def skew(self, *, linf: float | None = None, jsd: float | None = None) -> ColumnSchema:
        """Thresholds for training-serving skew (see :class:`Comparator`)."""
        self.skew_thresholds = self._comparator("skew", linf, jsd)
        return self

    def drift(self, *, linf: float | None = None, jsd: float | None = None) -> ColumnSchema:
        """Thresholds for drift between consecutive spans (see :class:`Comparator`)."""
        self.drift_thresholds = self._comparator("drift", linf, jsd)
        return self

    def _comparator(self, which: str, linf: Any, jsd: Any) -> Comparator:
        linf = _threshold(linf, f"column {self._name!r}: the {which} linf threshold")
        jsd = _threshold(jsd, f"column {self._name!r}: the {which} jsd threshold")
        if linf is not None and self._type not in ("string", "boolean"):
            raise InvalidInputError(
                f"column {self._name!r}: the L-infinity distance compares category shares "
                "(string and boolean columns); use jsd for numbers"
            )
        if jsd is not None and self._type is None:
            raise InvalidInputError(f"column {self._name!r} has no type to compare")
        return Comparator(linf, jsd)

    # --- reading ----------------------------------------------------------------------------

    def in_environment(self, environment: str | None) -> bool:
        """Whether the column is expected in `environment` (None: any environment)."""
        if environment is None:
            return True
        if environment in self.not_in_environments:
            return False
        return not self.only_in_environments or environment in self.only_in_environments

    def required(self, environment: str | None = None) -> bool:
        """Whether the data must have this column (TFDV: a presence requirement, in the
        environment)."""
        wants = self.min_count > 0 or (self.min_fraction or 0.0) > 0.0
        return wants and self.in_environment(environment)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self._name,
            "type": self._type,
            "presence": {"min_fraction": self.min_fraction, "min_count": self.min_count},
            "range": {"min": self.lower, "max": self.upper},
            "domain": None
            if self.allowed_values is None
            else {"values": list(self.allowed_values), "max_off_domain": self.max_off_domain},
            "allow_nan": self.nan_allowed,
            "allow_inf": self.inf_allowed,
            "unique": self.unique_values,
            "distinct": {"min": self.distinct_min, "max": self.distinct_max},
            "environments": {
                "only_in": list(self.only_in_environments),
                "not_in": list(self.not_in_environments),
            },
            "skew": self.skew_thresholds.to_dict(),
            "drift": self.drift_thresholds.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Any, where: str = "a column") -> ColumnSchema:
        """Reads :meth:`to_dict`'s form; a missing or malformed field is an IntegrityError
        naming it."""
        if not isinstance(d, Mapping):
            raise IntegrityError(f"{where} is not an object")
        field = "name"
        try:
            col = cls(d["name"], d["type"])
            where = f"column {col.name!r}"
            field = "presence"
            presence = d["presence"]
            if presence["min_fraction"] is not None:
                col.min_fraction = _share(presence["min_fraction"], "min_fraction")
            col.min_present(presence["min_count"])
            field = "range"
            col.range(d["range"]["min"], d["range"]["max"])
            field = "domain"
            if d["domain"] is not None:
                col.domain(d["domain"]["values"], max_off_domain=d["domain"]["max_off_domain"])
            for field in ("allow_nan", "allow_inf", "unique"):
                if not isinstance(d[field], bool):
                    raise InvalidInputError(f"{field} must be true or false")
            col.allow_nan(d["allow_nan"]).allow_inf(d["allow_inf"]).unique(d["unique"])
            field = "distinct"
            col.distinct(d["distinct"]["min"], d["distinct"]["max"])
            field = "environments"
            envs = d["environments"]
            if not isinstance(envs["only_in"], list) or not isinstance(envs["not_in"], list):
                raise InvalidInputError("environments are lists of names")
            col.only_in(*envs["only_in"])
            if envs["not_in"]:
                col.not_in(*envs["not_in"])
            for field in ("skew", "drift"):
                thresholds = d[field]
                getattr(col, field)(linf=thresholds["linf"], jsd=thresholds["jsd"])
        except (KeyError, TypeError) as exc:
            raise IntegrityError(
                f"{where}: field {field!r} is missing or malformed ({exc})"
            ) from exc
        except SeawallError as exc:
            raise IntegrityError(f"{where}: field {field!r}: {exc}") from exc
        return col

    def copy(self) -> ColumnSchema:
        return ColumnSchema.from_dict(self.to_dict())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ColumnSchema) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        parts = [repr(self._name), str(self._type)]
        if self.min_fraction is not None:
            parts.append(f"min_fraction={self.min_fraction:g}")
        if self.lower is not None or self.upper is not None:
            parts.append(f"range=[{self.lower}, {self.upper}]")
        if self.allowed_values is not None:
            parts.append(f"domain={len(self.allowed_values)} values")
        if self.unique_values:
            parts.append("unique")
        return f"ColumnSchema({', '.join(parts)})"


@dataclass(frozen=True)
class SchemaChange:
    """One difference between two schemas: `field` of `column` went from `before` to `after`
    (``field="column"``: the column was added or removed, the other side is None)."""

    column: str
    field: str
    before: Any
    after: Any

    def __str__(self) -> str:
        if self.field == "column":
            return f"{self.column}: {'added' if self.before is None else 'removed'}"
        return f"{self.column}.{self.field}: {self.before!r} -> {self.after!r}"


@dataclass(frozen=True)
class SchemaDiff:
    """What changed from one schema to another, field by field (empty: the same contract)."""

    changes: tuple[SchemaChange, ...]

    @property
    def added(self) -> list[str]:
        return [c.column for c in self.changes if c.field == "column" and c.before is None]

    @property
    def removed(self) -> list[str]:
        return [c.column for c in self.changes if c.field == "column" and c.after is None]

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def __iter__(self) -> Iterator[SchemaChange]:
        return iter(self.changes)

    def __str__(self) -> str:
        return "\n".join(str(c) for c in self.changes) if self.changes else "no changes"

    def to_dict(self) -> list[dict[str, Any]]:
        return [
            {"column": c.column, "field": c.field, "before": c.before, "after": c.after}
            for c in self.changes
        ]


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


class Schema:
    """A data contract: one :class:`ColumnSchema` per column, in order.

    Build one with :meth:`infer` (from data or a :class:`~seawall.Profile`) or by hand
    (``Schema().add("amount", "float").range(0, None)``), check data with :meth:`validate`.
    """

    def __init__(self, columns: Iterable[ColumnSchema] = ()) -> None:
        self._columns: dict[str, ColumnSchema] = {}
        for c in columns:
            if not isinstance(c, ColumnSchema):
                raise InvalidInputError(f"a schema holds ColumnSchema objects, got {c!r}")
            if c.name in self._columns:
                raise InvalidInputError(f"the schema has column {c.name!r} twice")
            self._columns[c.name] = c

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def infer(
        cls,
        data: Any,
        columns: Sequence[str] | None = None,
        *,
        max_domain_size: int = 100,
        range_margin: float = 0.1,
        presence_margin: float = 0.05,
        infer_unique: bool = False,
    ) -> Schema:
        """A schema that the given data (or :class:`~seawall.Profile`) satisfies, by TFDV's
        inference rules with seawall's differences: see :mod:`seawall.contracts.infer`."""
        from .infer import infer_schema

        return infer_schema(
            data,
            columns,
            max_domain_size=max_domain_size,
            range_margin=range_margin,
            presence_margin=presence_margin,
            infer_unique=infer_unique,
        )

    def add(self, name: str, type: ColumnType | None) -> ColumnSchema:
        """Adds a column (without constraints beyond its type) and returns it for editing."""
        if name in self._columns:
            raise InvalidInputError(f"the schema already has column {name!r}")
        column = ColumnSchema(name, type)
        self._columns[name] = column
        return column

    def remove(self, name: str) -> None:
        self._column(name)
        del self._columns[name]

    # --- reading ----------------------------------------------------------------------------

    def _column(self, name: str) -> ColumnSchema:
        if not isinstance(name, str):
            raise InvalidInputError(f"a column name is a string, got {name!r}")
        try:
            return self._columns[name]
        except KeyError:
            shown = ", ".join(list(self._columns)[:20]) or "none"
            raise MissingColumnError(
                f"column {name!r} is not in the schema (it has: {shown})"
            ) from None

    def __getitem__(self, name: str) -> ColumnSchema:
        return self._column(name)

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __iter__(self) -> Iterator[ColumnSchema]:
        return iter(self._columns.values())

    def __len__(self) -> int:
        return len(self._columns)

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    @property
    def environments(self) -> list[str]:
        """Every environment a column names, sorted."""
        names: set[str] = set()
        for c in self._columns.values():
            names.update(c.only_in_environments, c.not_in_environments)
        return sorted(names)

    # --- validating -------------------------------------------------------------------------

    def validate(
        self,
        data: Any,
        *,
        environment: str | None = None,
        row_limit: int = 20,
        serving: Any = None,
        previous: Any = None,
    ) -> ValidationReport:
        """Checks `data` against the schema and returns a :class:`ValidationReport`.

        `data` is anything seawall reads (a pyarrow Table or RecordBatch, pandas or polars
        frame, dict of arrays, Parquet paths or dataset, iterable of batches), checked in one
        native pass (:mod:`seawall.contracts.validate`), or a :class:`~seawall.Profile`,
        checked from its statistics (:mod:`seawall.contracts.from_profile` says what a profile
        can show). `environment` selects the columns expected (e.g. ``"SERVING"``).
        `row_limit` failing rows are reported per check (0: counts only).

        Skew and drift, as TFDV defines them, compare profiles: `serving` (data or a profile of
        serving traffic) against this data for columns with ``skew`` thresholds, `previous`
        (the previous span) against this data for ``drift`` thresholds; they are reported apart
        (``report.skew``, ``report.drift``).
        """
        from .validate import validate

        return validate(
            self,
            data,
            environment=environment,
            row_limit=row_limit,
            serving=serving,
            previous=previous,
        )

    def check_environment(self, environment: str | None) -> None:
        """InvalidInputError when `environment` is not one the schema names (a typo would
        otherwise make every column expected, silently)."""
        if environment is None:
            return
        if not isinstance(environment, str):
            raise InvalidInputError(f"an environment is a name, got {environment!r}")
        known = self.environments
        if known and environment not in known:
            raise InvalidInputError(
                f"environment {environment!r} is not one this schema names ({', '.join(known)})"
            )

    # --- comparing --------------------------------------------------------------------------

    def diff(self, other: Schema) -> SchemaDiff:
        """What changed from this schema to `other`: columns added or removed, and each changed
        field of the others (``"range.min"``, ``"presence.min_fraction"``, ``"type"`` ...)."""
        if not isinstance(other, Schema):
            raise InvalidInputError(
                f"a schema is compared with a Schema, got {type(other).__name__}"
            )
        changes: list[SchemaChange] = []
        for name, mine in self._columns.items():
            theirs = other._columns.get(name)
            if theirs is None:
                changes.append(SchemaChange(name, "column", mine.to_dict(), None))
                continue
            before, after = _flatten(mine.to_dict()), _flatten(theirs.to_dict())
            for key in sorted(set(before) | set(after)):
                if key != "name" and before.get(key) != after.get(key):
                    changes.append(SchemaChange(name, key, before.get(key), after.get(key)))
        for name, theirs in other._columns.items():
            if name not in self._columns:
                changes.append(SchemaChange(name, "column", None, theirs.to_dict()))
        return SchemaDiff(tuple(changes))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def copy(self) -> Schema:
        return Schema.from_dict(self.to_dict())

    def __repr__(self) -> str:
        shown = ", ".join(repr(c) for c in list(self._columns)[:8])
        more = f", ... {len(self) - 8} more" if len(self) > 8 else ""
        return f"Schema({len(self)} columns: {shown}{more})"

    # --- saving -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The schema as plain JSON-able data (what :meth:`save` writes, less the hash)."""
        from .._core import __version__

        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "seawall_version": __version__,
            "columns": [c.to_dict() for c in self._columns.values()],
        }

    def to_json(self) -> str:
        """The document :meth:`save` writes: the schema and its SHA-256, as indented JSON."""
        state = self.to_dict()
        document = {**state, "sha256": json_digest(state)}
        return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes :meth:`to_json` atomically: the file is the old one or the new one."""
        write_atomic(path, self.to_json().encode("utf-8"))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Schema:
        """Reads a schema written by :meth:`save`, checking its format version and SHA-256."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise IntegrityError(f"{path} is not a seawall schema (not UTF-8 text)") from exc
        return cls.from_json(text, source=str(path))

    @classmethod
    def from_json(cls, text: str, source: str = "the schema") -> Schema:
        """Reads :meth:`to_json`'s text; the SHA-256 must be there and match."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IntegrityError(f"{source} is not valid JSON: {exc}") from exc
        if isinstance(document, dict) and document.get("format") == FORMAT_NAME:
            if "sha256" not in document:
                raise IntegrityError(
                    f"{source} has no SHA-256, so it cannot be checked: it was not written by "
                    "save() (build the schema in code, or pass the dict to Schema.from_dict)"
                )
        return cls.from_dict(document, source=source)

    @classmethod
    def from_dict(cls, document: Any, source: str = "the schema") -> Schema:
        """Reads :meth:`to_dict`'s form (a ``sha256`` field, if present, must match). Every
        field is checked: a missing or malformed one is an IntegrityError naming it."""
        if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
            raise IntegrityError(f"{source} is not a seawall schema (its 'format')")
        version = document.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise IntegrityError(f"{source} has no valid 'format_version'")
        if version > FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"{source} uses schema format version {version}, but this seawall reads up to "
                f"{FORMAT_VERSION}: upgrade seawall to load it"
            )
        state = verified_state(document, source)
        columns = state.get("columns")
        if not isinstance(columns, list):
            raise IntegrityError(f"{source}: 'columns' is not a list")
        read = [ColumnSchema.from_dict(c, f"{source}: columns[{i}]") for i, c in enumerate(columns)]
        try:
            return cls(read)
        except InvalidInputError as exc:
            raise IntegrityError(f"{source}: {exc}") from exc
