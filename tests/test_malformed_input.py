"""Every public entry point, fed malformed values of every kind, raises only seawall's own errors.

A call may succeed (then its result is checked for what can be checked generically: shapes,
finite numbers) or raise a :class:`seawall.errors.SeawallError` subclass, which for a column's
values must name the column; any other exception (a ``UnicodeDecodeError`` from a string
column, pybind's ``RuntimeError: Unable to cast``, an ``ArrowNotImplementedError``...) fails.
Each test tries every case and reports every escape at once.
"""

# The lambdas below capture loop variables on purpose: each is called at once, in its iteration.
# ruff: noqa: B023

from __future__ import annotations

import copy
import datetime
import decimal
import hashlib
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import xxhash
from hypothesis import given
from hypothesis import strategies as st

import seawall as sw
import seawall.drift
import seawall.stats as stats
from seawall.errors import SeawallError
from seawall.profiles import Profile

COLUMN = "feature_q"  # a name no message holds by chance
ROWS = 6
# Kinds whose errors concern the whole input (no rows at all), not the column.
EMPTY = {"empty floats", "empty strings", "empty list"}


def _not_utf8(large: bool = False) -> pa.Array:
    """Strings whose row 2 is not UTF-8 (Arrow's string type does not enforce it)."""
    data = b"ab" + b"cd" + b"\xff\xfe" + b"ef" + b"gh" + b"ij"
    offsets = np.arange(0, 13, 2, dtype=np.int64 if large else np.int32)
    kind = pa.large_string() if large else pa.string()
    return pa.Array.from_buffers(kind, ROWS, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _split_sequence() -> pa.Array:
    """Rows 0 and 1 are each half of the bytes of 'é': valid UTF-8 only when joined."""
    offsets = np.array([0, 1, 2, 3, 4, 5, 6], dtype=np.int32)
    data = b"\xc3\xa9abcd"
    return pa.Array.from_buffers(
        pa.string(), ROWS, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


class _Opaque:
    pass


# Values of one column, each malformed (or merely unusual) in its own way.
COLUMNS: dict[str, Callable[[], Any]] = {
    "all None": lambda: [None] * ROWS,
    "null type": lambda: pa.nulls(ROWS),
    "all-null strings": lambda: pa.array([None] * ROWS, pa.string()),
    "all-null floats": lambda: pa.array([None] * ROWS, pa.float64()),
    "some NaN": lambda: [math.nan, 1.0, 2.0, math.nan, 3.0, 4.0],
    "all NaN": lambda: [math.nan] * ROWS,
    "infinities": lambda: [math.inf, -math.inf, 1.0, 2.0, 3.0, 4.0],
    "float64 extremes": lambda: [1.7e308, -1.7e308, 0.0, 5e-324, 1.0, 2.0],
    "empty floats": lambda: pa.array([], pa.float64()),
    "empty strings": lambda: pa.array([], pa.string()),
    "empty list": lambda: [],
    "one row": lambda: [1.0],
    "huge ints": lambda: [10**30, 1, 2, 3, 4, 5],
    "huge ints (object array)": lambda: np.array([10**30, 1, 2, 3, 4, 5], dtype=object),
    "uint64 extremes": lambda: pa.array([2**64 - 1, 0, 1, 2, 3, 4], pa.uint64()),
    "int64 extremes": lambda: pa.array([2**63 - 1, -(2**63), 0, 1, 2, 3], pa.int64()),
    "non-UTF-8 strings": lambda: _not_utf8(),
    "non-UTF-8 large strings": lambda: _not_utf8(large=True),
    "non-UTF-8 chunk": lambda: pa.chunked_array([pa.array(["a", "b"]), _not_utf8()]),
    "non-UTF-8 dictionary": lambda: pa.DictionaryArray.from_arrays(
        pa.array([0, 1, 2, 0, 1, 2], pa.int32()), _not_utf8().slice(0, 3)
    ),
    "a UTF-8 sequence split across rows": _split_sequence,
    "lone surrogate": lambda: ["\ud800", "a", "b", "c", "d", "e"],
    "lone surrogate (object array)": lambda: np.array(["a", "\udcff", "b", "c", "d", "e"], object),
    "binary": lambda: pa.array([b"a", b"\xff", b"c", b"d", b"e", b"f"], pa.binary()),
    "large binary": lambda: pa.array([b"a", b"\xff", b"c", b"d", b"e", b"f"], pa.large_binary()),
    "fixed-size binary": lambda: pa.array([b"ab"] * ROWS, pa.binary(2)),
    "numpy bytes": lambda: np.array([b"a", b"\xff", b"c", b"d", b"e", b"f"]),
    "bytes list": lambda: [b"a", b"\xff", b"c", b"d", b"e", b"f"],
    "nested lists": lambda: [[1], [2], [3], [4], [5], [6]],
    "list array": lambda: pa.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]]),
    "struct": lambda: [{"a": 1}] * ROWS,
    "map": lambda: pa.array([[("k", 1)]] * ROWS, pa.map_(pa.string(), pa.int64())),
    "complex": lambda: np.array([1 + 1j, 2, 3, 4, 5, 6j]),
    "complex list": lambda: [1 + 1j, 2j, 3, 4, 5, 6],
    "decimals": lambda: [decimal.Decimal(x) for x in ("1.5", "2", "-3.25", "4", "5", "6")],
    "decimal NaN": lambda: [decimal.Decimal("NaN")] + [decimal.Decimal(i) for i in range(5)],
    "decimal256 beyond float64": lambda: pa.array(
        [decimal.Decimal("1e75")] * ROWS, pa.decimal256(76, 0)
    ),
    "timestamps": lambda: [datetime.datetime(2024, 1, d + 1) for d in range(ROWS)],
    "dates": lambda: [datetime.date(2024, 1, d + 1) for d in range(ROWS)],
    "durations": lambda: np.arange(ROWS).astype("timedelta64[s]"),
    "numpy datetimes": lambda: np.arange(ROWS).astype("datetime64[ns]"),
    "times": lambda: [datetime.time(d) for d in range(ROWS)],
    "dictionary strings": lambda: pa.array(["a", "b", "a", "c", "a", "b"]).dictionary_encode(),
    "dictionary ints": lambda: pa.array([1, 2, 1, 3, 1, 2]).dictionary_encode(),
    "dictionary floats": lambda: pa.array([1.5, 2.5, 1.5, 3.5, 1.5, 2.5]).dictionary_encode(),
    "dictionary all null": lambda: pa.array([None] * ROWS, pa.string()).dictionary_encode(),
    "booleans": lambda: [True, False, True, True, False, True],
    "float16": lambda: np.array([1, 2, 3, 4, 5, 6], np.float16),
    "longdouble": lambda: np.array([1, 2, 3, 4, 5, 6], np.longdouble),
    "numpy record": lambda: np.zeros(ROWS, dtype=[("a", "i4")]),
    "string view": lambda: pa.array(["a", "b", "c", "d", "e", "f"], pa.string_view()),
    "object array of objects": lambda: np.array([_Opaque() for _ in range(ROWS)], dtype=object),
    "mixed types": lambda: [1, "a", 2.0, None, b"x", 3],
    "numbers and strings (object array)": lambda: np.array([1, "a", 2.5, "b", 3, "c"], object),
    "2-D numpy": lambda: np.zeros((ROWS, 2)),
    "0-d numpy": lambda: np.array(5.0),
    "scalar": lambda: 5,
    "string scalar": lambda: "abcdef",
    "None": lambda: None,
    "a set": lambda: {1, 2, 3},
    "a generator": lambda: (float(i) for i in range(ROWS)),
}

# A normal partner for the other side of a comparison, by kind.
GOOD_NUMBERS = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]
GOOD_STRINGS = ["a", "b", "a", "c", "a", "b"]


class Escapes:
    """Collects the calls that raised something other than a SeawallError."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.calls = 0

    def call(
        self,
        label: str,
        fn: Callable[[], Any],
        *,
        names: str | tuple[str, ...] | None = None,
        check: Callable[[Any], None] | None = None,
    ) -> Any:
        """fn(): a result (checked by `check`), or a SeawallError whose message holds `names`
        (one of them, for a tuple)."""
        self.calls += 1
        try:
            result = fn()
        except SeawallError as exc:
            wanted = (names,) if isinstance(names, str) else names
            if wanted is not None and not any(n in str(exc) for n in wanted):
                self.found.append(f"{label}: {type(exc).__name__} does not name {names!r}: {exc}")
            return None
        except Exception as exc:  # what this test is for: nothing else may escape
            self.found.append(f"{label}: {type(exc).__module__}.{type(exc).__name__}: {exc}")
            return None
        if check is not None:
            try:
                check(result)
            except AssertionError as exc:
                self.found.append(f"{label}: wrong result: {exc}")
        return result

    def assert_none(self) -> None:
        assert self.calls > 0
        assert not self.found, f"{len(self.found)} of {self.calls} calls escaped:\n" + "\n".join(
            self.found
        )


def _features(rows: int | None, width: int | None = None) -> Callable[[Any], None]:
    def check(x: Any) -> None:
        assert isinstance(x, np.ndarray) and x.dtype == np.float32, type(x)
        if rows is not None:
            assert x.shape[0] == rows, x.shape
        if width is not None:
            assert x.shape[-1] == width, x.shape
        assert np.isfinite(x).all(), x

    return check


def _rows(values: Any) -> int | None:
    try:
        return len(values)
    except TypeError:
        return None


# --- feature pipelines ----------------------------------------------------------------------

NUMERIC_OPS: list[Callable[[], Any]] = [
    lambda: sw.StandardScale(),
    lambda: sw.MinMaxScale(),
    lambda: sw.RobustScale(),
    lambda: sw.RobustScale(exact=True),
    lambda: sw.Log1p(),
    lambda: sw.Clip(quantiles=(0.1, 0.9)),
    lambda: sw.Clip(0.0, 1.0),
    lambda: sw.Bucketize(n_bins=3),
    lambda: sw.Bucketize(boundaries=[0.0, 1.0]),
    lambda: [sw.Impute("mean"), sw.StandardScale()],
    lambda: [sw.Impute("median", add_indicator=True), sw.Log1p()],
    lambda: [sw.Impute("most_frequent"), sw.MinMaxScale()],
    lambda: [sw.Impute("constant", fill_value=0.0), sw.StandardScale()],
]
STRING_OPS: list[Callable[[], Any]] = [
    lambda: sw.Categorify(),
    lambda: sw.OneHot(),
    lambda: sw.OneHot(unknown="other", min_frequency=2),
    lambda: sw.HashBucket(8),
    lambda: [sw.Impute("most_frequent"), sw.OneHot()],
    lambda: [sw.Impute("constant", add_indicator=True), sw.Categorify()],
]


def test_fit_and_transform_take_malformed_columns():
    escapes = Escapes()
    for kind, make in COLUMNS.items():
        for ops in NUMERIC_OPS + STRING_OPS:
            pipe = sw.FeaturePipeline({COLUMN: ops()})
            label = f"fit({kind}, {pipe.features[COLUMN]})"
            names = None if kind in EMPTY else COLUMN
            fitted = escapes.call(label, lambda: pipe.fit({COLUMN: make()}), names=names)
            if fitted is not None:
                escapes.call(
                    f"{label}.transform",
                    lambda: fitted.transform({COLUMN: make()}),
                    names=names,
                    check=_features(_rows(make()), len(fitted.feature_names_out_)),
                )
    escapes.assert_none()


def _good_pipelines() -> list[sw.FeaturePipeline]:
    out = []
    for ops in NUMERIC_OPS:
        out.append(sw.FeaturePipeline({COLUMN: ops()}).fit({COLUMN: GOOD_NUMBERS}))
    for ops in STRING_OPS:
        out.append(sw.FeaturePipeline({COLUMN: ops()}).fit({COLUMN: GOOD_STRINGS}))
    return out


def test_a_fitted_pipeline_transforms_malformed_columns():
    escapes = Escapes()
    for pipe in _good_pipelines():
        width = len(pipe.feature_names_out_)
        for kind, make in COLUMNS.items():
            escapes.call(
                f"transform({kind}) by {pipe.features[COLUMN]}",
                lambda: pipe.transform({COLUMN: make()}),
                names=COLUMN,
                check=_features(_rows(make()), width),
            )
    escapes.assert_none()


def _row_values() -> st.SearchStrategy[Any]:
    surrogates = st.builds(
        lambda s, c: s + chr(c) + s, st.text(max_size=3), st.integers(0xD800, 0xDFFF)
    )
    return st.one_of(
        st.none(),
        st.floats(),
        st.integers(-(10**40), 10**40),
        st.text(max_size=8),
        surrogates,
        st.binary(max_size=8),
        st.complex_numbers(),
        st.decimals(),
        st.fractions(),
        st.booleans(),
        st.datetimes(),
        st.dates(),
        st.timedeltas(),
        st.lists(st.integers(), max_size=3),
        st.tuples(st.floats()),
        st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
        st.sets(st.integers(), max_size=2),
        st.sampled_from(
            [
                np.float32(1.5),
                np.int64(-3),
                np.uint64(2**64 - 1),
                np.float16(np.inf),
                np.array([1.0]),
                np.array(2.0),
                np.array(["a"]),
                np.datetime64("2024-01-01"),
                np.bytes_(b"\xff"),
                np.str_("a"),
                _Opaque(),
                object(),
                pa.scalar(1.5),
                pa.scalar("a"),
            ]
        ),
    )


@pytest.fixture(scope="module")
def row_pipelines() -> list[sw.FeaturePipeline]:
    data = {"x": GOOD_NUMBERS, "s": GOOD_STRINGS}
    return [
        sw.FeaturePipeline({"x": sw.StandardScale(), "s": sw.OneHot()}).fit(data),
        sw.FeaturePipeline(
            {
                "x": [sw.Impute("median"), sw.Log1p()],
                "s": [sw.Impute("most_frequent"), sw.Categorify()],
            }
        ).fit(data),
        sw.FeaturePipeline({"x": sw.Bucketize(n_bins=2), "s": sw.HashBucket(4)}).fit(data),
    ]


@given(x=_row_values(), s=_row_values())
def test_transform_one_takes_any_value(row_pipelines, x, s):
    escapes = Escapes()
    for pipe in row_pipelines:
        width = len(pipe.feature_names_out_)
        escapes.call(
            f"transform_one(x={x!r}, s={s!r}) by {pipe.features}",
            lambda: pipe.transform_one({"x": x, "s": s}),
            check=_features(None, width),
        )
    escapes.assert_none()


def test_transform_one_takes_any_request(row_pipelines):
    escapes = Escapes()
    pipe = row_pipelines[0]
    for request in (None, 5, "xs", b"xs", [("x", 1.0), ("s", "a")], [1, 2], {1: 2}, {"x": 1.0}):
        escapes.call(f"transform_one({request!r})", lambda: pipe.transform_one(request))
    escapes.assert_none()


# --- profiles, statistics and drift ---------------------------------------------------------


def _profile_reads(escapes: Escapes, profile: Profile, label: str) -> None:
    for column in profile.columns:
        escapes.call(f"{label}.stats", lambda: profile.stats(column))
        escapes.call(f"{label}.distinct", lambda: profile.distinct(column))
        escapes.call(f"{label}.to_dict", lambda: json.dumps(profile.to_dict(), allow_nan=True))
        if profile.kind(column) == "numeric":
            escapes.call(f"{label}.quantiles", lambda: profile.quantiles(column, [0.0, 0.5, 1.0]))
            escapes.call(f"{label}.rank", lambda: profile.rank(column, 1.0))
            escapes.call(f"{label}.histogram", lambda: profile.histogram(column, 4))
        else:
            escapes.call(f"{label}.top_values", lambda: profile.top_values(column))
        back = escapes.call(f"{label} round trip", lambda: Profile.from_bytes(profile.to_bytes()))
        if back is not None:
            assert back.to_bytes() == profile.to_bytes()


def test_profiles_take_malformed_columns():
    escapes = Escapes()
    good = {
        kind: Profile.from_data({COLUMN: v})
        for kind, v in (("n", GOOD_NUMBERS), ("s", GOOD_STRINGS))
    }
    for kind, make in COLUMNS.items():
        profile = escapes.call(
            f"Profile.from_data({kind})",
            lambda: Profile.from_data({COLUMN: make()}),
            names=COLUMN,
        )
        if profile is None:
            continue
        _profile_reads(escapes, profile, f"Profile({kind})")
        names = None if kind in EMPTY else COLUMN
        for other in good.values():
            escapes.call(f"Profile({kind}).merge", lambda: profile.merge(other), names=names)
            for ref, cur in ((profile, other), (other, profile)):
                escapes.call(
                    f"drift.compare(profiles, {kind})",
                    lambda: seawall.drift.compare(ref, cur),
                    names=names,
                )
    escapes.assert_none()


def test_profile_reads_take_malformed_arguments():
    escapes = Escapes()
    profile = Profile.from_data({"n": GOOD_NUMBERS, "s": GOOD_STRINGS})
    bad_names = [None, 1, 1.5, b"n", ["n"], "", "\ud800", "missing", "x" * 10_000]
    bad_qs = [None, 0.5, [math.nan], [1.5], [-0.1], ["a"], [[0.5]], [1 + 1j], np.zeros((2, 2)), {}]
    for name in bad_names:
        for reader in ("stats", "distinct", "kind", "top_values", "histogram"):
            escapes.call(f"{reader}({name!r})", lambda: getattr(profile, reader)(name))
        escapes.call(f"quantiles({name!r})", lambda: profile.quantiles(name, [0.5]))
        escapes.call(f"rank({name!r})", lambda: profile.rank(name, 0.5))
    for qs in bad_qs:
        escapes.call(f"quantiles(n, {qs!r})", lambda: profile.quantiles("n", qs))
        escapes.call(f"quantiles(s, {qs!r})", lambda: profile.quantiles("s", qs))
    for x in (None, "a", math.nan, 1j, [1.0], 10**400):
        escapes.call(f"rank(n, {x!r})", lambda: profile.rank("n", x))
    for bins in (None, 0, -1, 1.5, "a", 10**30, True):
        escapes.call(f"histogram(n, {bins!r})", lambda: profile.histogram("n", bins))
    for n in (None, -1, 1.5, "a", 10**30):
        escapes.call(f"top_values(s, {n!r})", lambda: profile.top_values("s", n))
    for other in (None, 1, "p", {"n": GOOD_NUMBERS}, Profile.from_data({"n": GOOD_STRINGS})):
        escapes.call(f"merge({other!r})", lambda: profile.merge(other))
    for options in (
        {"sketch_k": 0},
        {"sketch_k": -5},
        {"sketch_k": 10**30},
        {"hll_precision": 99},
        {"top_k": -1},
        {"top_k": 1.5},
        {"sketch_k": None},
        {"hll_precision": "12"},
    ):
        escapes.call(
            f"from_data({options})", lambda: Profile.from_data({"n": GOOD_NUMBERS}, **options)
        )
    for columns in ("n", ["n", "n"], [1], [None], ["missing"], [], ["\ud800"]):
        escapes.call(
            f"from_data(columns={columns!r})",
            lambda: Profile.from_data({"n": GOOD_NUMBERS}, columns),
        )
    escapes.assert_none()


def test_stats_take_malformed_samples():
    escapes = Escapes()
    functions = [getattr(stats, n) for n in stats.numeric.__all__ + stats.categorical.__all__]
    functions = [f for f in functions if callable(f) and not isinstance(f, type)]
    assert len(functions) >= 13
    for kind, make in COLUMNS.items():
        for f in functions:
            for good in (GOOD_NUMBERS, GOOD_STRINGS):
                escapes.call(f"{f.__name__}({kind}, good)", lambda: f(make(), good))
                escapes.call(f"{f.__name__}(good, {kind})", lambda: f(good, make()))
                escapes.call(
                    f"by_column({f.__name__}, {kind})",
                    lambda: stats.by_column(f, {COLUMN: make()}, {COLUMN: good}),
                    names=COLUMN,
                )
    escapes.assert_none()


def test_drift_compare_takes_malformed_columns():
    escapes = Escapes()
    for kind, make in COLUMNS.items():
        names = None if kind in EMPTY else COLUMN
        for good in (GOOD_NUMBERS, GOOD_STRINGS):
            escapes.call(
                f"compare({kind}, good)",
                lambda: seawall.drift.compare({COLUMN: make()}, {COLUMN: good}),
                names=names,
            )
            escapes.call(
                f"compare(good, {kind})",
                lambda: seawall.drift.compare({COLUMN: good}, {COLUMN: make()}),
                names=names,
            )
        escapes.call(
            f"compare({kind}, {kind}, categorical)",
            lambda: seawall.drift.compare({COLUMN: make()}, {COLUMN: make()}, categorical=[COLUMN]),
            names=names,
        )
    escapes.assert_none()


# --- hand-edited state files ----------------------------------------------------------------

WRONG_VALUES: list[Any] = ["text", None, 1.5, -1, 10**30, True, [], {}, [None], math.nan, "\ud800"]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every position in a JSON document: dict keys and list items, containers too."""
    if path:
        yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*path, i))


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(document)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def _field_name(path: tuple[Any, ...]) -> str:
    """The innermost named field of a path (a list item is named by its list)."""
    return next(str(k) for k in reversed(path) if isinstance(k, str))


def test_a_pipeline_state_with_a_wrong_typed_field():
    data = {"x": GOOD_NUMBERS, "s": GOOD_STRINGS}
    pipe = sw.FeaturePipeline(
        {
            "x": [
                sw.Impute("median", add_indicator=True),
                sw.Clip(quantiles=(0.1, 0.9)),
                sw.StandardScale(),
            ],
            "y": [sw.Bucketize(n_bins=3)],
            "s": [sw.Impute("constant", fill_value="?"), sw.OneHot(min_frequency=2)],
            "t": sw.HashBucket(16),
        }
    )
    data["y"] = GOOD_NUMBERS
    data["t"] = GOOD_STRINGS
    state = pipe.fit(data).to_dict()
    escapes = Escapes()
    row = {"x": 1.0, "y": 2.0, "s": "a", "t": "b"}
    for path in _paths(state):
        if path[0] in ("seawall_version",):
            continue
        for value in WRONG_VALUES:
            document = _replaced(state, path, value)
            label = f"from_dict({'/'.join(map(str, path))} = {value!r})"
            # A value of the right type that changes the outputs (add_indicator, categories)
            # is caught by the check of the output names instead.
            field = _field_name(path)
            loaded = escapes.call(
                label,
                lambda: sw.FeaturePipeline.from_dict(document),
                names=(field, "feature_names_out"),
            )
            if loaded is not None:
                escapes.call(f"{label}.transform_one", lambda: loaded.transform_one(row))
    escapes.assert_none()


def test_a_saved_pipeline_edited_by_hand(tmp_path):
    pipe = sw.FeaturePipeline({"x": sw.StandardScale(), "s": sw.OneHot()}).fit(
        {"x": GOOD_NUMBERS, "s": GOOD_STRINGS}
    )
    path = tmp_path / "features.json"
    pipe.save(path)
    original = json.loads(path.read_text())
    escapes = Escapes()
    for field, value in (("mean", "0.5"), ("scale", None), ("categories", "abc"), ("n", 1.5)):
        saved = copy.deepcopy(original)
        for entry in saved["features"]:
            for op in entry["ops"]:
                for part in ("params", "fitted"):
                    if field in op.get(part, {}):
                        op[part][field] = value
        state = {k: v for k, v in saved.items() if k != "sha256"}
        canonical = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        saved["sha256"] = hashlib.sha256(canonical.encode()).hexdigest()  # a careful forger
        path.write_text(json.dumps(saved))
        escapes.call(
            f"load({field} = {value!r})", lambda: sw.FeaturePipeline.load(path), names=field
        )
    for text in (b"", b"\xff\xfe", b"[]", b"null", b'{"format": 1}', b"{" * 100_000):
        path.write_bytes(text)
        escapes.call(f"load({text[:20]!r})", lambda: sw.FeaturePipeline.load(path))
    escapes.assert_none()


def _reframed(body: bytes) -> bytes:
    """A profile file around `body`, with a correct checksum: what a careful forger writes."""
    header = b"SWPF" + (1).to_bytes(2, "little") + (0).to_bytes(2, "little")
    header += len(body).to_bytes(8, "little")
    return header + body + xxhash.xxh64_intdigest(body).to_bytes(8, "little")


def test_a_profile_file_edited_by_hand(rng, tmp_path):
    profile = Profile.from_data(
        {"n": GOOD_NUMBERS * 50, "s": GOOD_STRINGS * 50, "e": [math.nan] * 300}
    )
    data = profile.to_bytes()
    assert _reframed(data[16:-8]) == data  # the forger's framing is seawall's
    body = bytearray(data[16:-8])
    escapes = Escapes()
    for trial in range(600):
        edited = bytearray(body)
        if trial % 3 == 0:  # one field-sized run of bytes set to an extreme
            at = int(rng.integers(0, len(edited) - 8))
            width = int(rng.choice([1, 2, 4, 8]))
            edited[at : at + width] = bytes([int(rng.choice([0x00, 0x7F, 0x80, 0xFF]))]) * width
        else:
            for _ in range(int(rng.integers(1, 4))):
                edited[int(rng.integers(0, len(edited)))] = int(rng.integers(0, 256))
        if trial % 7 == 0:
            edited = edited[: int(rng.integers(0, len(edited)))]
        loaded = escapes.call(
            f"from_bytes(edit {trial})", lambda: Profile.from_bytes(_reframed(bytes(edited)))
        )
        if loaded is not None:
            _profile_reads(escapes, loaded, f"edited profile {trial}")
    for raw in (b"", b"SWPF", b"SWPF" + b"\xff" * 12, data[:-1], data + b"\x00", b"x" * 100):
        escapes.call(f"from_bytes({raw[:20]!r})", lambda: Profile.from_bytes(raw))
    for wrong in (None, "text", 5, [1, 2], bytearray(data), memoryview(data)):
        escapes.call(f"from_bytes({type(wrong).__name__})", lambda: Profile.from_bytes(wrong))
    escapes.assert_none()


# --- bundles, the registry, the batcher, threads --------------------------------------------


class _Doubler:
    """A picklable Python model."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64).sum(axis=1) * 2


def _manifest_digest(manifest: dict[str, Any]) -> str:
    state = {k: v for k, v in manifest.items() if k != "sha256"}
    canonical = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Writes `manifest` as seawall does, with its SHA-256 recomputed: a careful forger."""
    manifest = dict(manifest)
    try:
        manifest["sha256"] = _manifest_digest(manifest)
        text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        (folder / "bundle.json").write_bytes(text.encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError):
        (folder / "bundle.json").write_text(repr(manifest))


def test_load_bundle_on_malformed_folders(tmp_path):
    import shutil

    from seawall.serving import load_bundle, save_bundle

    pipe = sw.FeaturePipeline({"x": sw.StandardScale(), "s": sw.OneHot()}).fit(
        {"x": GOOD_NUMBERS, "s": GOOD_STRINGS}
    )
    good = save_bundle(
        tmp_path / "good", python_model=_Doubler(), pipeline=pipe, example={"x": [1.0], "s": ["a"]}
    )
    manifest = json.loads((good / "bundle.json").read_text())
    escapes = Escapes()
    n = 0

    def fresh() -> Path:
        nonlocal n
        n += 1
        return Path(shutil.copytree(good, tmp_path / f"b{n}"))

    # Every field of the manifest, with a value of a wrong type.
    for path in _paths({k: v for k, v in manifest.items() if k != "sha256"}):
        for value in ("text", None, 1.5, -1, True, [], {}, [None]):
            folder = fresh()
            _write_manifest(folder, _replaced(manifest, path, value))
            label = f"load_bundle({'/'.join(map(str, path))} = {value!r})"
            bundle = escapes.call(label, lambda: load_bundle(folder, trust_code=True))
            if bundle is not None:
                escapes.call(f"{label}.predict", lambda: bundle.predict([{"x": 1.0, "s": "a"}]))
    # Files that are not what they should be.
    for name in ("bundle.json", "model.pkl", "pipeline.json"):
        folder = fresh()
        (folder / name).unlink()
        (folder / name).mkdir()
        escapes.call(
            f"load_bundle({name} is a folder)", lambda: load_bundle(folder, trust_code=True)
        )
        folder = fresh()
        (folder / name).write_bytes(b"\xff\xfe not what it was")
        escapes.call(f"load_bundle({name} garbled)", lambda: load_bundle(folder, trust_code=True))
    # A pipeline file whose content is edited, its hashes in the manifest recomputed.
    for text in (b"\xff", b"[]", b'{"format": "seawall.FeaturePipeline", "format_version": 1}'):
        folder = fresh()
        (folder / "pipeline.json").write_bytes(text)
        edited = copy.deepcopy(manifest)
        edited["files"]["pipeline.json"] = {
            "sha256": hashlib.sha256(text).hexdigest(),
            "bytes": len(text),
        }
        _write_manifest(folder, edited)
        escapes.call(
            f"load_bundle(pipeline.json = {text!r})", lambda: load_bundle(folder, trust_code=True)
        )
    folder = tmp_path / "a file"
    folder.write_text("not a folder")
    escapes.call("load_bundle(a file)", lambda: load_bundle(folder))
    for wrong in (None, 5, b"\xff", ["a"]):
        escapes.call(f"load_bundle({wrong!r})", lambda: load_bundle(wrong))
    escapes.assert_none()


def test_registry_reads_take_malformed_names():
    reg = sw.Registry()
    with reg.start_run(experiment="exp") as run:
        run.log_metric("m", 1.0)
    escapes = Escapes()
    bad = [
        None,
        1,
        1.5,
        True,
        b"name",
        ["name"],
        {},
        "",
        " ",
        "a/b",
        "a@b",
        "\x00",
        "\ud800",
        "x" * 10_000,
        "models:/",
        "models:/m@",
        "models:/m/-1",
        "models:/m/99999999999999999999",
        "models:/\ud800@a",
        "../../etc/passwd",
    ]
    readers: list[tuple[str, Callable[[Any], Any]]] = [
        ("get_experiment", reg.get_experiment),
        ("get_run", reg.get_run),
        ("metric_history(run)", lambda v: reg.metric_history(v, "m")),
        ("metric_history(key)", lambda v: reg.metric_history(run.id, v)),
        ("list_artifacts", reg.list_artifacts),
        ("read_artifact(run)", lambda v: reg.read_artifact(v, "a")),
        ("read_artifact(name)", lambda v: reg.read_artifact(run.id, v)),
        ("run_inputs", reg.run_inputs),
        ("get_model_version", reg.get_model_version),
        ("get_model_version(m, v)", lambda v: reg.get_model_version("m", v)),
        ("resolve", reg.resolve),
        ("list_versions", reg.list_versions),
        ("get_model", reg.get_model),
        ("alias_history", reg.alias_history),
        ("alias_history(m, alias)", lambda v: reg.alias_history("m", v)),
        ("lineage", reg.lineage),
        ("bundle_manifest", reg.bundle_manifest),
        ("bundle_path", reg.bundle_path),
        ("load_model", reg.load_model),
        ("reference_profile", reg.reference_profile),
        ("search_runs(experiment)", lambda v: reg.search_runs(v)),
        ("search_runs(filter)", lambda v: reg.search_runs("exp", filter=v)),
        ("search_runs(order_by)", lambda v: reg.search_runs("exp", order_by=v)),
        ("search_runs(max_results)", lambda v: reg.search_runs("exp", max_results=v)),
        ("search_runs(page_token)", lambda v: reg.search_runs("exp", page_token=v)),
    ]
    for label, read in readers:
        for value in bad:
            escapes.call(f"{label}({value!r})", lambda: read(value))
    reg.close()
    escapes.assert_none()


def test_batcher_takes_malformed_arguments():
    from seawall.serving import Batcher

    def model(x: np.ndarray) -> np.ndarray:
        return x

    escapes = Escapes()
    arguments = (
        "max_batch_size",
        "max_queue_delay_us",
        "max_queue_size",
        "default_timeout_us",
        "priority_levels",
        "default_priority",
        "instances",
        "spin_us",
    )
    for name in arguments:
        for value in (None, -1, 0, 1.5, "2", 10**30, 2**31, 2**63, True, [], math.nan, 1j):

            def make() -> Any:
                batcher = Batcher(model, **{name: value})
                batcher.close()
                return batcher

            escapes.call(f"Batcher({name}={value!r})", make, names=name)
    for name, values in (
        ("preferred_batch_sizes", ([0], [-1], ["a"], 5, [10**30], [1.5], None)),
        ("row_shape", ([-1], ["a"], 5, [10**30], [1.5], (2**63,))),
        ("dtype", ("nonsense", object, "U5", 5, [1])),
    ):
        for value in values:

            def make() -> Any:
                batcher = Batcher(model, **{name: value})
                batcher.close()
                return batcher

            escapes.call(f"Batcher({name}={value!r})", make, names=(name, name.replace("_", " ")))
    for wrong_model in (None, 5, "model"):
        escapes.call(f"Batcher({wrong_model!r})", lambda: Batcher(wrong_model))
    escapes.assert_none()


def test_set_num_threads_takes_malformed_counts(restore_threads):
    escapes = Escapes()
    for n in (
        0,
        -1,
        -(2**40),
        1025,
        10**30,
        1.5,
        math.nan,
        "2",
        b"2",
        True,
        False,
        [2],
        1j,
        decimal.Decimal(2),
    ):
        escapes.call(f"set_num_threads({n!r})", lambda: sw.set_num_threads(n))
        assert sw.get_num_threads() >= 1
    escapes.assert_none()
    for n in (0, -1, 1025, 1.5, "2", True):
        with pytest.raises(sw.errors.InvalidInputError, match="thread"):
            sw.set_num_threads(n)


def test_string_columns_must_be_utf8_everywhere(rng):
    """Random bytes in a string column: accepted by every entry point exactly when Python's
    decoder reads them as UTF-8 (the oracle), refused otherwise with the column and row named."""
    alphabet = [
        b"a",
        b"\xc3\xa9",
        b"\xe2\x82\xac",
        b"\xf0\x9f\x98\x80",
        b"\xff",
        b"\xc3",
        b"\xed\xa0\x80",
        b"\xc0\xaf",
        b"\x80",
        b"\xf4\x90\x80\x80",
    ]
    for _ in range(60):
        rows = [b"".join(rng.choice(alphabet, size=int(rng.integers(0, 4)))) for _ in range(8)]
        offsets = np.cumsum([0] + [len(r) for r in rows]).astype(np.int32)
        column = pa.Array.from_buffers(
            pa.string(), len(rows), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(rows))]
        )
        bad_rows = []
        for i, r in enumerate(rows):
            try:
                r.decode("utf-8")
            except UnicodeDecodeError:
                bad_rows.append(i)
        table = pa.table({COLUMN: column})
        calls = {
            "fit": lambda: sw.FeaturePipeline({COLUMN: sw.OneHot()}).fit(table),
            "transform": lambda: (
                sw.FeaturePipeline({COLUMN: sw.HashBucket(7)}).fit({COLUMN: ["a"]}).transform(table)
            ),
            "profile": lambda: Profile.from_data(table),
            "compare": lambda: seawall.drift.compare(table, {COLUMN: GOOD_STRINGS}),
            "chi2": lambda: stats.chi2_contingency_test(column, GOOD_STRINGS),
            "shares": lambda: stats.histogram_shares(GOOD_STRINGS, column),
        }
        for name, call in calls.items():
            if not bad_rows:
                call()
                continue
            with pytest.raises(sw.errors.InvalidInputError, match="UTF-8") as info:
                call()
            assert f"row {bad_rows[0]}:" in str(info.value), (name, rows, str(info.value))
            if name in ("fit", "transform", "profile", "compare"):
                assert COLUMN in str(info.value), (name, str(info.value))


def test_transform_one_strings_must_be_utf8(row_pipelines):
    pipe = row_pipelines[0]
    for bad in ("\ud800", "a\udcff", b"\xff", b"\xc3", b"\xed\xa0\x80"):
        with pytest.raises(sw.errors.InvalidInputError, match="'s'") as info:
            pipe.transform_one({"x": 1.0, "s": bad})
        assert "UTF-8" in str(info.value)
    # Bytes that are UTF-8 are the text they encode: the same numbers as the str.
    np.testing.assert_array_equal(
        pipe.transform_one({"x": 1.0, "s": "é".encode()}), pipe.transform_one({"x": 1.0, "s": "é"})
    )
    with pytest.raises(sw.errors.DTypeError, match="'x'"):
        pipe.transform_one({"x": 1j, "s": "a"})
    with pytest.raises(sw.errors.InvalidInputError, match="'x'"):
        pipe.transform_one({"x": 10**400, "s": "a"})


def test_binary_columns_are_refused_naming_the_column():
    column = {COLUMN: pa.array([b"a", b"b"], pa.binary())}
    calls = [
        lambda: sw.FeaturePipeline({COLUMN: sw.HashBucket(4)}).fit(column),
        lambda: sw.FeaturePipeline({COLUMN: sw.StandardScale()}).fit(column),
        lambda: (
            sw.FeaturePipeline({COLUMN: sw.HashBucket(4)}).fit({COLUMN: ["a"]}).transform(column)
        ),
        lambda: Profile.from_data(column),
        lambda: seawall.drift.compare(column, column),
    ]
    for call in calls:
        with pytest.raises(sw.errors.DTypeError, match=COLUMN):
            call()
    with pytest.raises(sw.errors.DTypeError):
        stats.chi2_contingency_test(column[COLUMN], column[COLUMN])


def test_every_op_field_has_a_checked_type():
    """The reader of saved states knows the JSON type of every parameter and fitted value of
    every op (an op given a new one must say its type there)."""
    from seawall.features._state import FITTED_TYPES, PARAM_TYPES
    from seawall.features.ops import OPS

    for name, op_class in OPS.items():
        for param in op_class._param_names:
            assert param in PARAM_TYPES, (name, param)
    ops = [sw.Impute("median"), sw.Clip(quantiles=(0.1, 0.9)), sw.Bucketize(n_bins=2)]
    ops += [cls() for cls in (sw.StandardScale, sw.MinMaxScale, sw.RobustScale, sw.OneHot)]
    ops += [sw.Categorify()]
    for op in ops:
        for fitted in op._fitted_names:
            assert fitted in FITTED_TYPES, (op, fitted)
