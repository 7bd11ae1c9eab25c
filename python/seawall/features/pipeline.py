"""FeaturePipeline: per-column chains of ops, fit once, applied identically in batch and per request."""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .. import _core
from .._data import (
    BatchSource,
    check_type,
    column_chunks,
    is_matrix,
    matrix_to_table,
    prepare_column,
    reject_sparse,
    to_table,
)
from .._files import json_digest, verified_state, write_atomic
from ..errors import (
    DTypeError,
    IntegrityError,
    InvalidInputError,
    MissingColumnError,
    NotFittedError,
    SeawallError,
    UnsupportedVersionError,
)
from . import ops as ops_module
from ._state import is_text, read_features
from .ops import Impute, OneHot, Op

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "FeaturePipeline", "FitPass"]

FORMAT_NAME = "seawall.FeaturePipeline"
#: 2: ops that fit quantiles record how (``quantile_method``: "exact" or "sketch"), and ``exact``
#: defaults to None (chosen from the input); ``feature_names_in`` and ``n_features_in`` are all
#: the columns seen in fit (version 1 had only the columns read). Version 1 files still load.
FORMAT_VERSION = 2


@dataclass
class _Feature:
    """One output feature: a name, the input column, and its chain of ops."""

    name: str
    column: str
    ops: list[Op]
    string_input: bool = False

    def program(self, input_index: int, upto: int | None = None) -> dict[str, Any]:
        """The chain (or its first `upto` ops) as the native core reads it."""
        ops = self.ops if upto is None else self.ops[:upto]
        impute = ops[0] if ops and isinstance(ops[0], Impute) else None
        terminal = ops[-1] if ops and ops[-1].categorical else None
        numeric = [op for op in ops if op is not impute and op is not terminal]
        return {
            "column": self.column,
            "input": input_index,
            "string_input": self.string_input,
            "impute": impute._native_impute(self.string_input) if impute is not None else None,
            "numeric_ops": [op._native() for op in numeric],
            "categorical": terminal._native() if terminal is not None else None,
        }

    def output_names(self) -> list[str]:
        terminal = self.ops[-1] if self.ops else None
        names = terminal.output_names(self.name) if isinstance(terminal, OneHot) else [self.name]
        if self.ops and isinstance(self.ops[0], Impute) and self.ops[0].add_indicator:
            names.append(f"{self.name}_missing")
        return names


@dataclass(frozen=True)
class FitPass:
    """One pass of a fit over the data: the columns it reads and what it gathers from them.

    ``fit()`` runs :meth:`collect` over the batches in order. A distributed fit runs
    :meth:`collect_batch` wherever each batch is read (a FitPass and the FitStates it returns
    pickle) and merges the states in the data's batch order, the first batch's states then
    ``merge`` of each next one's, as :meth:`collect` does: the fit is then bit for bit the same.
    """

    columns: list[str]
    string_input: list[bool]
    programs: list[dict[str, Any]]
    specs: list[dict[str, Any]]

    def plan(self) -> Any:
        """The native plan that collects; made once, it serves many calls of collect_batch."""
        return _core.Plan(self.programs, self.columns, self.string_input)

    def collect_batch(self, batch: pa.Table, row_offset: int = 0, plan: Any = None) -> list[Any]:
        """One FitState per program, from one batch; `row_offset` (rows of the data before it)
        makes errors name the row of the whole data."""
        plan = self.plan() if plan is None else plan
        native_columns = [
            (c, column_chunks(prepare_column(batch.column(c), c, is_string)))
            for c, is_string in zip(self.columns, self.string_input, strict=True)
        ]
        return list(plan.collect(native_columns, self.specs, row_offset))

    def collect(self, batches: Iterable[pa.Table]) -> list[Any] | None:
        """The states of all `batches`, merged in order; None when there are no batches."""
        plan = self.plan()
        states: list[Any] | None = None
        offset = 0
        for batch in batches:
            partial = self.collect_batch(batch, offset, plan)
            offset += batch.num_rows
            if states is None:
                states = partial
            else:
                for total, part in zip(states, partial, strict=True):
                    total.merge(part)
        return states


def _as_ops(ops: Any) -> list[Op]:
    items = list(ops) if isinstance(ops, (list, tuple)) else [ops]
    for op in items:
        if not isinstance(op, Op):
            raise InvalidInputError(
                f"expected feature ops (StandardScale(), OneHot(), ...), got {op!r}"
            )
    return items


def _parse_features(features: Any) -> list[_Feature]:
    """Accepts {column: ops}, or a list of (column, ops) or (name, column, ops) tuples."""
    if features is None:
        raise InvalidInputError(
            "FeaturePipeline needs features, e.g. {'amount': [StandardScale()]}"
        )
    entries: list[_Feature] = []
    items = features.items() if isinstance(features, Mapping) else features
    for item in items:
        if not isinstance(item, tuple) or len(item) not in (2, 3):
            raise InvalidInputError(
                f"each feature must be (column, ops) or (name, column, ops), got {item!r}"
            )
        name, column, ops = (item[0], item[0], item[1]) if len(item) == 2 else item
        if not is_text(name) or not is_text(column):
            raise InvalidInputError(
                f"feature and column names must be strings (of text: no lone surrogates), got "
                f"{name!r}, {column!r}"
            )
        entries.append(_Feature(name, column, [copy.deepcopy(op) for op in _as_ops(ops)]))
    if not entries:
        raise InvalidInputError("FeaturePipeline needs at least one feature")
    dupes = _repeated(f.name for f in entries)
    if dupes:
        raise InvalidInputError(
            f"feature names must be unique, {dupes} repeat: name the outputs with (name, column, ops)"
        )
    return entries


def _repeated(names: Iterable[str]) -> list[str]:
    """The names that occur more than once, sorted."""
    return sorted(n for n, k in Counter(names).items() if k > 1)


def _check_chain(feature: _Feature) -> None:
    ops = feature.ops
    if not ops:
        raise InvalidInputError(f"feature '{feature.name}' has no ops")
    for i, op in enumerate(ops):
        if isinstance(op, Impute) and i != 0:
            raise InvalidInputError(
                f"feature '{feature.name}': Impute must come first in the chain"
            )
        if op.categorical and i != len(ops) - 1:
            raise InvalidInputError(
                f"feature '{feature.name}': {type(op).__name__} must be the last op in the chain"
            )
    if ops[-1].categorical and any(not isinstance(op, Impute) for op in ops[:-1]):
        raise InvalidInputError(
            f"feature '{feature.name}': only an Impute may come before {type(ops[-1]).__name__}"
        )


def _is_string_schema_type(t: pa.DataType) -> bool:
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_dictionary(t)
    )


class FeaturePipeline:
    """Per-column chains of feature ops, fit from data and applied natively.

    >>> pipe = FeaturePipeline({
    ...     "amount": [Impute("median"), Log1p(), StandardScale()],
    ...     "merchant": OneHot(min_frequency=10),
    ...     "user_id": HashBucket(1024),
    ... })
    >>> X = pipe.fit(table).transform(table)          # float32, shape (rows, features)
    >>> x = pipe.transform_one({"amount": 12.5, "merchant": "acme", "user_id": "u1"})

    ``features`` maps a column to an op or a list of ops; a list of ``(column, ops)`` or
    ``(name, column, ops)`` tuples also works, and lets one column feed several features.

    A fitted pipeline also works as a scikit-learn transformer, as a ``ColumnTransformer``
    whose other columns are dropped. It also takes 2-D arrays, whose columns are named
    ``x0, x1, ...`` (scikit-learn's names for them): ``FeaturePipeline({"x0": StandardScale()})``.

    Fitted attributes: ``n_features_in_``, the number of columns of the data seen in fit, all of
    them, read or not; ``feature_names_in_``, their names (only when the data had names, not
    for an array: scikit-learn's convention); ``input_columns_``, the columns the pipeline
    reads, which a table given to transform must have (an array must have
    ``n_features_in_`` columns); ``feature_names_out_``; ``features_``, the fitted chains.
    """

    def __init__(self, features: Any = None) -> None:
        self.features = features

    # --- scikit-learn protocol -------------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"features": self.features}

    def set_params(self, **params: Any) -> FeaturePipeline:
        for key, value in params.items():
            if key != "features":
                raise InvalidInputError(f"FeaturePipeline has no parameter {key!r}")
            self.features = value
        return self

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        try:
            features = _parse_features(self.features)
        except (InvalidInputError, TypeError, ValueError):
            features = []  # not valid parameters: fit will say why
        string = [bool(f.ops) and f.ops[-1].categorical for f in features]
        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            # The output is float32 whatever the input: float32 is kept, float64 is not.
            transformer_tags=TransformerTags(preserves_dtype=["float32"]),
            input_tags=InputTags(
                two_d_array=True,
                # NaN is a missing value, refused unless every numeric chain imputes first.
                allow_nan=bool(features)
                and all(
                    s or isinstance(f.ops[0], Impute) for f, s in zip(features, string, strict=True)
                ),
                string=any(string),
            ),
            requires_fit=True,
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "features_")

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The output names. ``input_features``, when given, must be the input's column names
        as seen in fit (scikit-learn's rule), or x0, x1, ... for a pipeline fit on an array."""
        self._require_fitted()
        if input_features is not None:
            seen = getattr(self, "feature_names_in_", None)
            expected = (
                list(seen) if seen is not None else [f"x{j}" for j in range(self.n_features_in_)]
            )
            if [str(n) for n in input_features] != expected:
                raise InvalidInputError(
                    "input_features is not equal to the columns seen in fit "
                    f"({len(expected)} columns: {', '.join(expected[:5])}...)"
                )
        return np.asarray(self.feature_names_out_, dtype=object)

    def fit_transform(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        return self.fit(X).transform(X, **kwargs)

    # --- fitting ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> FeaturePipeline:
        """Fits every op from `X`: a table-like object, Parquet path(s), or an iterable of batches.

        Larger-than-memory data is streamed batch by batch; ops chained after a fitted op are
        fit in further passes over the data (a chain with k ops that learn from data reads it k
        times), so one-shot iterators suit chains with at most one such op.
        """
        X, from_array = _table_input(X)
        source = BatchSource(X)
        return self._fit(source, lambda p: p.collect(source.batches(p.columns)), True, from_array)

    def fit_from_states(
        self, X: Any, collect: Callable[[FitPass], list[Any] | None]
    ) -> FeaturePipeline:
        """Fits from statistics gathered elsewhere: the hook of a distributed fit.

        `X` is what fit() would read (a Parquet path or dataset...), used here for its schema
        only. For each :class:`FitPass`, ``collect(fit_pass)`` returns the FitStates of the pass
        over all the data merged in batch order (see FitPass), or None for data with no batches;
        the result is then exactly fit()'s on the same batches. When no op learns from data,
        `collect` is never called and empty data is not detected.
        """
        X, from_array = _table_input(X)
        return self._fit(BatchSource(X), collect, False, from_array)

    def _fit(
        self,
        source: BatchSource,
        collect: Callable[[FitPass], list[Any] | None],
        check_empty: bool,
        from_array: bool,
    ) -> FeaturePipeline:
        features = _parse_features(self.features)
        source.require(f.column for f in features)
        for feature in features:
            _check_chain(feature)
            t = source.schema.field(feature.column).type
            feature.string_input = feature.ops[-1].categorical
            if not feature.string_input and _is_string_schema_type(t):
                raise DTypeError(
                    f"column '{feature.column}' holds strings ({t}), but "
                    f"{type(feature.ops[-1]).__name__} needs numbers (use Categorify, OneHot or "
                    "HashBucket for string columns)"
                )
            check_type(t, feature.column, feature.string_input)
            for op in feature.ops:
                op._check(feature.column, feature.string_input)

        inputs = list(dict.fromkeys(f.column for f in features))
        rows = source.in_memory_rows
        exact_quantiles = rows is not None and rows <= ops_module.EXACT_QUANTILES_MAX_ROWS
        next_op = [self._next_unfitted(f, 0) for f in features]
        rows_seen = None
        while any(i is not None for i in next_op):
            pending = [(f, i) for f, i in zip(features, next_op, strict=True) if i is not None]
            kinds = {f.column: f.string_input for f, _ in pending}  # first-seen order
            columns = list(kinds)
            position = {c: j for j, c in enumerate(columns)}
            programs = [f.program(position[f.column], upto=i) for f, i in pending]
            specs = [f.ops[i]._collect(f.string_input, exact_quantiles) for f, i in pending]
            states = collect(FitPass(columns, list(kinds.values()), programs, specs))
            rows = states[0].rows if states else 0
            if states is None or rows == 0:
                raise InvalidInputError("cannot fit on empty data (0 rows)")
            rows_seen = rows
            for (feature, i), state in zip(pending, states, strict=True):
                feature.ops[i]._finish(state, feature.column, state.rows)
            next_op = [
                self._next_unfitted(f, i + 1) if i is not None else None
                for f, i in zip(features, next_op, strict=True)
            ]
        if rows_seen is None and check_empty:
            # Nothing learns from data, but an empty input is still a mistake worth naming.
            if all(batch.num_rows == 0 for batch in source.batches(inputs)):
                raise InvalidInputError("cannot fit on empty data (0 rows)")
        names = source.column_names
        self._set_fitted(features, inputs, None if from_array else names, len(names))
        return self

    @staticmethod
    def _next_unfitted(feature: _Feature, start: int) -> int | None:
        for i in range(start, len(feature.ops)):
            if feature.ops[i].needs_fit:
                return i
        return None

    def _set_fitted(
        self,
        features: list[_Feature],
        inputs: list[str],
        feature_names_in: list[str] | None,
        n_features_in: int,
    ) -> None:
        self.features_ = features
        self.input_columns_ = inputs
        self.n_features_in_ = n_features_in
        if feature_names_in is not None:
            self.feature_names_in_ = np.asarray(feature_names_in, dtype=object)
        else:  # fit on an array: no names (a refit must not keep those of an earlier fit)
            self.__dict__.pop("feature_names_in_", None)
        kinds: dict[str, bool] = {}
        for f in features:
            kinds.setdefault(f.column, f.string_input)
        self._input_is_string = [kinds[c] for c in inputs]
        names = [n for f in features for n in f.output_names()]
        dupes = _repeated(names) if len(set(names)) != len(names) else []
        if dupes:
            raise InvalidInputError(
                f"two outputs would share the names {dupes[:5]}: rename a feature with (name, column, ops)"
            )
        self.feature_names_out_ = names
        position = {c: j for j, c in enumerate(inputs)}
        self._plan = _core.Plan(
            [f.program(position[f.column]) for f in features], inputs, self._input_is_string
        )

    def _require_fitted(self) -> None:
        if not hasattr(self, "features_"):
            raise NotFittedError("this FeaturePipeline is not fitted yet: call fit() first")

    # --- applying --------------------------------------------------------------------------

    def transform(self, X: Any, *, output: str = "numpy", out: np.ndarray | None = None) -> Any:
        """The features of every row of `X`.

        Returns a C-contiguous float32 array of shape (rows, len(feature_names_out_)), or with
        output="arrow" a pyarrow Table with one float32 column per output feature. An input with
        no rows gives an empty result. ``out``, a C-contiguous float32 array of that shape, is
        written in place and returned (a serving loop can reuse one buffer).
        """
        self._require_fitted()
        if output not in ("numpy", "arrow"):
            raise InvalidInputError(f"output must be 'numpy' or 'arrow', got {output!r}")
        if out is not None and (
            output != "numpy"
            or not isinstance(out, np.ndarray)
            or out.dtype != np.float32
            or not out.flags.c_contiguous
            or not out.flags.writeable
        ):
            raise InvalidInputError(
                "out must be a writeable C-contiguous float32 numpy array (and output='numpy')"
            )
        X, from_array = _table_input(X)
        table = to_table(X)
        if from_array and table.num_columns != self.n_features_in_:
            # scikit-learn's wording, which its estimator checks look for.
            raise InvalidInputError(
                f"X has {table.num_columns} features, but FeaturePipeline is expecting "
                f"{self.n_features_in_} features as input"
            )
        position = {c: j for j, c in enumerate(table.column_names)}
        columns = []
        for name, is_string in zip(self.input_columns_, self._input_is_string, strict=True):
            if name not in position:
                hint = " (an array's columns are x0, x1, ...)" if from_array else ""
                raise MissingColumnError(
                    f"column {name!r} is not in the data{hint} (it has: "
                    f"{', '.join(table.column_names)})"
                )
            column = table.column(position[name])
            if not is_string and _is_string_schema_type(column.type):
                raise DTypeError(
                    f"column '{name}' was fit as numbers but holds strings ({column.type})"
                )
            columns.append((name, column_chunks(prepare_column(column, name, is_string))))
        result = self._plan.transform(columns, out)
        if output == "arrow":
            return pa.table({n: result[:, j] for j, n in enumerate(self.feature_names_out_)})
        return result

    def transform_one(self, row: Mapping[str, Any]) -> np.ndarray:
        """The features of one request, {column: value}: the same float32 numbers as transform().

        Values are Python numbers, strings or None (missing); extra keys are ignored.
        """
        self._require_fitted()
        if not isinstance(row, dict):
            if not isinstance(row, Mapping):
                raise DTypeError(
                    f"transform_one takes a mapping of column name to value, got {type(row).__name__}"
                )
            row = dict(row)
        return self._plan.transform_one(row)

    # --- saving ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as plain JSON-able data (what save() writes, less the hash)."""
        self._require_fitted()
        from .._core import __version__

        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "seawall_version": __version__,
            "features": [
                {
                    "name": f.name,
                    "column": f.column,
                    "input": "string" if f.string_input else "number",
                    "ops": [op._to_state() for op in f.ops],
                }
                for f in self.features_
            ],
            "feature_names_out": list(self.feature_names_out_),
            "feature_names_in": (
                list(self.feature_names_in_) if hasattr(self, "feature_names_in_") else None
            ),
            "n_features_in": self.n_features_in_,
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the fitted pipeline as versioned, human-readable JSON with a SHA-256.

        The write is atomic: the file is either the old one or the new one, never half written.
        """
        write_atomic(path, self._json_text().encode("utf-8"))

    def _json_text(self) -> str:
        """The document save() writes: the fitted state and its SHA-256, as JSON text."""
        state = self.to_dict()
        document = {**state, "sha256": json_digest(state)}
        return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FeaturePipeline:
        """Reads a pipeline written by save(), checking its format version and hash."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise IntegrityError(f"{path} is not a seawall pipeline (not UTF-8 text)") from exc
        return cls._from_json_text(text, str(path))

    @classmethod
    def _from_json_text(cls, text: str, source: str) -> FeaturePipeline:
        """The pipeline from save()'s document, checked as load() checks a file."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IntegrityError(f"{source} is not valid JSON: {exc}") from exc
        if (
            isinstance(document, dict)
            and document.get("format") == FORMAT_NAME
            and "sha256" not in document
        ):
            # save() always writes the hash; a file without one was edited and cannot be checked.
            raise IntegrityError(
                f"{source} has no SHA-256, so it cannot be checked: it was not written by save()"
            )
        return cls.from_dict(document, source=source)

    # --- pickle, copy.deepcopy, joblib -------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """What pickle, copy.deepcopy and joblib keep: the parameters, and a fitted pipeline's
        state as the very document save() writes (versioned, with its SHA-256), never the
        compiled native plan; unpickling checks it as load() checks a file."""
        state = {k: v for k, v in self.__dict__.items() if not _is_fitted_attribute(k)}
        if hasattr(self, "features_"):
            state[_PICKLED_DOCUMENT] = self._json_text()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        text = state.pop(_PICKLED_DOCUMENT, None)
        if text is not None:
            if not isinstance(text, str):
                raise IntegrityError("a pickled FeaturePipeline holds no pipeline document")
            fitted = FeaturePipeline._from_json_text(text, "a pickled FeaturePipeline")
            self.__dict__.update(
                {k: v for k, v in fitted.__dict__.items() if _is_fitted_attribute(k)}
            )
        self.__dict__.update(state)

    @classmethod
    def from_dict(cls, document: Any, source: str = "the document") -> FeaturePipeline:
        """Reads what to_dict() returns. Every field is checked: a missing or wrong-typed one is
        an IntegrityError naming it (``features[0].ops[1].fitted.mean``)."""
        if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
            raise IntegrityError(f"{source} is not a seawall FeaturePipeline (its 'format')")
        version = document.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise IntegrityError(f"{source} has no integer 'format_version'")
        if version > FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"{source} uses format_version {version}, but this seawall reads up to "
                f"{FORMAT_VERSION}: upgrade seawall to load it"
            )
        state = verified_state(document, source)
        features = [
            _Feature(f.name, f.column, f.ops, f.string_input)
            for f in read_features(state, source, version)
        ]
        try:
            pipe = cls([(f.name, f.column, copy.deepcopy(f.ops)) for f in features])
            _parse_features(pipe.features)
            for f in features:
                _check_chain(f)
            inputs = list(dict.fromkeys(f.column for f in features))
            names_in: list[str] | None
            if version == 1:  # only the columns read were recorded
                names_in, n_in = inputs, len(inputs)
            else:
                names_in, n_in = _columns_seen(state, inputs, source)
            pipe._set_fitted(features, inputs, names_in, n_in)
        except SeawallError as exc:
            if isinstance(exc, IntegrityError):
                raise
            raise IntegrityError(f"{source} is malformed: {exc}") from exc
        if pipe.feature_names_out_ != state.get("feature_names_out"):
            raise IntegrityError(
                f"{source} is inconsistent: its output names (feature_names_out) do not match "
                "its ops"
            )
        return pipe

    def __repr__(self) -> str:
        fitted = "fitted" if hasattr(self, "features_") else "not fitted"
        return f"FeaturePipeline({self.features!r}) [{fitted}]"


def _columns_seen(
    state: dict[str, Any], inputs: list[str], source: str
) -> tuple[list[str] | None, int]:
    """feature_names_in and n_features_in of a version-2 state, checked against the inputs."""
    names, n = state["feature_names_in"], state["n_features_in"]
    if not isinstance(n, int) or isinstance(n, bool):
        raise IntegrityError(f"{source}: n_features_in is not an integer")
    if names is None:
        expected = {f"x{j}" for j in range(n)}  # fit on an array
    elif isinstance(names, list) and all(isinstance(c, str) for c in names) and len(names) == n:
        expected = set(names)
    else:
        raise IntegrityError(f"{source}: feature_names_in is not a list of n_features_in names")
    if any(c not in expected for c in inputs):
        raise IntegrityError(
            f"{source} is inconsistent: it reads columns that feature_names_in (the columns "
            "seen in fit) does not hold"
        )
    return names, n


def _table_input(X: Any) -> tuple[Any, bool]:
    """`X` with a 2-D array made a table of columns x0, x1, ...; and whether it was one."""
    reject_sparse(X)
    if is_matrix(X):
        return matrix_to_table(X), True
    return X, False


#: The key of the saved document in a pickled pipeline's state.
_PICKLED_DOCUMENT = "_seawall_document"


def _is_fitted_attribute(name: str) -> bool:
    """Set by fitting (features_, _plan...), as opposed to a parameter such as ``features``."""
    return name.endswith("_") or name.startswith("_")
