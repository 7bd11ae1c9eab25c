"""The cost of a drift report per column does not grow with the number of columns: counted, not
timed. Column names given by the caller are a str subclass that counts its equality tests; a
lookup in a dict or set tests equality about once, a scan of a list once per name it passes, so
linear code makes a few tests per column and a list scan per column (what made 8,000 columns
take seconds) makes thousands. The timed figures are in benchmarks/bench_drift.py.

Only names the caller passes (``columns=``, ``methods=``, ``thresholds=``, ``report[...]``, a
Monitor's ``columns=``) can be counted: names read from a table or a profile are plain strings
made by pyarrow or the native core."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import seawall
from seawall.drift import compare
from seawall.monitoring import Monitor

COLUMNS = 1500
PER_COLUMN = 20  # equality tests allowed per column; a list scan per column makes ~COLUMNS / 2


class Name(str):
    """A column name that counts the equality tests made against it."""

    tests = 0

    def __eq__(self, other: object) -> bool:
        Name.tests += 1
        return str.__eq__(self, other)  # type: ignore[no-any-return]

    __hash__ = str.__hash__


@pytest.fixture
def wide(rng) -> tuple[pa.Table, pa.Table, list[Name]]:
    names = [f"c{i}" for i in range(COLUMNS)]
    ref = pa.table({c: rng.normal(size=30) for c in names})
    cur = pa.table({c: rng.normal(size=20) for c in names})
    cur = cur.set_column(7, names[7], pa.nulls(20, pa.float64()))  # one without values
    return ref, cur, [Name(c) for c in names]


def _counted(fn) -> int:
    Name.tests = 0
    fn()
    return Name.tests


@pytest.mark.parametrize("source", ["tables", "profiles"])
def test_a_report_makes_a_few_name_tests_per_column(wide, source):
    ref, cur, names = wide
    if source == "profiles":
        ref, cur = seawall.Profile.from_data(ref), seawall.Profile.from_data(cur)
    every_other = names[::2]
    methods = {Name(c): "psi" for c in every_other}
    thresholds = {Name(c): 0.2 for c in every_other}
    report = None

    def run() -> None:
        nonlocal report
        report = compare(ref, cur, names, methods=methods, thresholds=thresholds)

    tests = _counted(run)
    assert tests <= PER_COLUMN * COLUMNS, tests
    assert report is not None and report.no_data_columns == [names[7]]
    lookups = _counted(lambda: [report[Name(c)] for c in names])  # fresh objects: no identity
    assert lookups <= 2 * COLUMNS, lookups


def test_a_monitor_window_makes_a_few_name_tests_per_column(wide):
    ref, cur, names = wide
    reference = seawall.Profile.from_data(ref)
    tests = 0

    def run() -> None:
        with Monitor("wide", reference, columns=names, window_s=10, background=False) as monitor:
            monitor.add_slice(0.0, 10.0, seawall.Profile.from_data(cur))
            (window,) = monitor.history()
            assert window.features[names[7]].status == "no_data"
            assert len(window.features) == COLUMNS

    tests = _counted(run)
    assert tests <= PER_COLUMN * COLUMNS, tests


def test_the_name_counter_sees_a_list_scan():
    names = [f"c{i}" for i in range(200)]
    counted = [Name(c) for c in names]
    assert _counted(lambda: [c in names for c in counted]) >= 200 * 199 / 2
    assert _counted(lambda: [c in set(names) for c in counted]) <= 200
    assert np.all([c == n for c, n in zip(counted, names, strict=True)])
