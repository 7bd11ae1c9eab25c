"""Monitor: windows of slices, each evaluated as seawall.drift.compare of the reference with the
merge of the window's slices (computed here independently), missing shares counted on the raw
data, quality against scikit-learn, late data, restarts, and the errors a caller can make."""

from __future__ import annotations

import math
import threading

import numpy as np
import pyarrow as pa
import pytest
from monitoring_helpers import make_bundle, make_slices, merge_all, traffic
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

import seawall.drift
from seawall.errors import (
    InvalidInputError,
    MissingColumnError,
    MissingReferenceError,
    NotFoundError,
)
from seawall.monitoring import CallbackSink, Monitor, Rule
from seawall.profiles import Profile

FEATURES = ["amount", "age", "country"]


def _raw_missing(tables: list[pa.Table], column: str) -> float:
    values = pa.concat_tables(tables).column(column)
    nulls = values.null_count
    if pa.types.is_floating(values.type):
        filled = values.fill_null(0.0).to_numpy()
        nulls += int(np.isnan(filled).sum())
    return nulls / sum(t.num_rows for t in tables)


def _assert_window_matches(report, reference, merged, tables):
    """The monitor's window against the oracle: compare() on the independently merged profile,
    rows and missing shares counted on the raw rows."""
    oracle = seawall.drift.compare(reference, merged, FEATURES)
    assert report.rows == sum(t.num_rows for t in tables) == merged.num_rows
    assert report.drift_share == oracle.drift_share
    assert report.dataset_drift == oracle.dataset_drift
    for c in FEATURES:
        got, want = report.features[c], oracle[c]
        assert (got.method, got.statistic, got.pvalue, got.threshold, got.drifted) == (
            want.method,
            want.statistic,
            want.pvalue,
            want.threshold,
            want.drifted,
        ), c
        assert got.missing_share == pytest.approx(_raw_missing(tables, c), abs=1e-15), c


def test_tumbling_windows_are_compare_on_the_merged_slices(rng):
    reference_data = traffic(rng, 20_000)
    reference = Profile.from_data(reference_data)
    t0 = 1_700_000_000.0  # a multiple of 100: windows align with the slices
    # 24 slices of 25 s: 6 windows of 100 s; the amount and the country mix move in windows 3-4
    slices = make_slices(rng, 24, 25.0, t0, shift_of=lambda i: 0.8 if 12 <= i < 20 else 0.0)
    monitor = Monitor("fraud", reference, window_s=100)
    # slices of one window may come in any order before the one that ends it (the watermark)
    order = [*rng.permutation(3), 3]
    for w in range(6):
        for j in order:
            s = slices[4 * w + j]
            monitor.add_slice(s.start, s.end, s.features, s.prediction_profile)
    assert monitor.flush(60)
    history = monitor.history()
    # the last window closes only when the watermark passes its end: it did (end of its slices)
    assert [(w.start, w.end) for w in history] == [
        (t0 + 100 * k, t0 + 100 * (k + 1)) for k in range(6)
    ]
    for k, report in enumerate(history):
        parts = [slices[4 * k + j] for j in order]
        merged = merge_all([p.features for p in parts])
        _assert_window_matches(report, reference, merged, [p.data for p in parts])
        assert report.slices == 4
        predictions = merge_all([p.prediction_profile for p in parts])
        summary = report.predictions["probability"]
        assert summary["count"] == predictions.num_rows
        q = predictions.quantiles("probability", [0.05, 0.25, 0.5, 0.75, 0.95])
        assert list(summary["quantiles"].values()) == q
        labels = pa.concat_tables([p.predictions for p in parts]).column("label").to_pylist()
        shares = report.predictions["label"]["shares"]
        assert shares == {c: labels.count(c) / len(labels) for c in set(labels)}
    # the drift shows where the traffic moved
    amount = [w.features["amount"] for w in history]
    assert amount[3].drifted and amount[4].drifted
    calm = max(amount[k].statistic for k in (0, 1, 2, 5))
    assert min(amount[3].statistic, amount[4].statistic) > calm
    assert monitor.stats()["windows"] == 6
    assert monitor.latest is not None and monitor.latest.end == t0 + 600
    monitor.close()


def test_sliding_windows_merge_their_panes(rng):
    reference = Profile.from_data(traffic(rng, 10_000))
    t0 = 1_700_000_000.0
    slices = make_slices(rng, 12, 10.0, t0, shift_of=lambda i: 0.5 * (i >= 6))
    monitor = Monitor("fraud", reference, window_s=60, step_s=20, background=False)
    for s in slices:
        monitor.add_slice(s.start, s.end, s.features)
    history = monitor.history()
    # panes of 20 s (two slices each); a window is the 3 panes ending at its end; every window
    # holding some data is evaluated once it closed: the first ends at t0 + 20
    assert [(w.start, w.end) for w in history] == [
        (t0 + 20 * (e - 2), t0 + 20 * (e + 1)) for e in range(6)
    ]
    panes = [slices[i].features.merge(slices[i + 1].features) for i in range(0, 12, 2)]
    for e, report in enumerate(history):
        held = list(range(max(0, e - 2), e + 1))
        merged = merge_all([panes[p] for p in held])
        tables = [slices[i].data for p in held for i in (2 * p, 2 * p + 1)]
        _assert_window_matches(report, reference, merged, tables)
        assert report.slices == 2 * len(held)


def test_quality_from_labels_matches_scikit_learn(rng):
    reference = Profile.from_data(traffic(rng, 5_000))
    monitor = Monitor("fraud", reference, window_s=60, task="classification", background=False)
    t0 = 6_000.0
    truth: dict[int, list[np.ndarray]] = {0: [], 1: []}
    for w in range(2):
        for k in range(int(rng.integers(2, 5))):
            y = rng.integers(0, 2, int(rng.integers(20, 200)))
            p = np.where(rng.random(len(y)) < 0.8, y, 1 - y)
            monitor.add_labels(y, p, time=t0 + 60 * w + k)
            truth[w].append(np.stack([y, p]))
        monitor.log_quality("auc", 0.8 + 0.01 * w, time=t0 + 60 * w + 5)
        monitor.log_quality("auc", 0.9 + 0.01 * w, time=t0 + 60 * w + 6)
        s = make_slices(rng, 1, 60.0, t0 + 60 * w)[0]
        monitor.add_slice(s.start, s.end, s.features)
    history = monitor.history()
    assert len(history) == 2
    for w, report in enumerate(history):
        y, p = np.concatenate(truth[w], axis=1)
        assert report.labels == len(y)
        assert report.quality["accuracy"] == pytest.approx(accuracy_score(y, p), abs=1e-12)
        assert report.quality["precision"] == pytest.approx(precision_score(y, p), abs=1e-12)
        assert report.quality["recall"] == pytest.approx(recall_score(y, p), abs=1e-12)
        assert report.quality["f1"] == pytest.approx(f1_score(y, p), abs=1e-12)
        assert report.quality["auc"] == pytest.approx(0.85 + 0.01 * w, abs=1e-12)


def test_regression_quality(rng):
    reference = Profile.from_data(traffic(rng, 2_000))
    monitor = Monitor("price", reference, window_s=10, task="regression", background=False)
    y, p = rng.normal(size=300), rng.normal(size=300)
    monitor.add_labels(y[:100], p[:100], time=1.0)
    monitor.add_labels(y[100:], p[100:], time=2.0)
    monitor.advance(10.0)
    (report,) = monitor.history()
    assert report.rows == 0 and report.features == {}  # labels only: quality, no drift
    assert report.quality["mae"] == pytest.approx(np.abs(p - y).mean(), rel=1e-12)
    assert report.quality["rmse"] == pytest.approx(np.sqrt(np.square(p - y).mean()), rel=1e-12)


def test_late_data_grace_and_advance(rng):
    reference = Profile.from_data(traffic(rng, 2_000))
    monitor = Monitor("fraud", reference, window_s=10, grace_s=5, background=False)
    a, b, c, d = make_slices(rng, 4, 5.0, 100.0)
    monitor.add_slice(a.start, a.end, a.features)
    monitor.add_slice(c.start, c.end, c.features)  # watermark 115: window [100,110) closes
    assert [w.end for w in monitor.history()] == [110.0]
    assert monitor.history()[0].rows == a.data.num_rows
    monitor.add_slice(b.start, b.end, b.features)  # [105, 110): its window was evaluated
    assert monitor.stats()["late"] == 1
    monitor.add_slice(d.start, d.end, d.features)  # watermark 120: [110,120) waits for grace
    assert len(monitor.history()) == 1
    monitor.advance(124.9)
    assert len(monitor.history()) == 1
    monitor.add_slice(120.0, 125.0, None)  # a slice without traffic moves the watermark too
    (_, second) = monitor.history()
    assert second.rows == c.data.num_rows + d.data.num_rows
    # quiet for an hour, then traffic: no empty windows in between
    (e,) = make_slices(rng, 1, 5.0, 3700.0)
    monitor.add_slice(e.start, e.end, e.features)
    monitor.advance(math.inf)
    assert [w.end for w in monitor.history()] == [110.0, 120.0, 3710.0]


def _break(data: pa.Table, kind: str, rng: np.random.Generator) -> tuple[pa.Table, str]:
    """The window's rows with one feature left without values, and that feature."""
    n = data.num_rows
    if kind == "null":
        return data.set_column(0, "amount", pa.nulls(n, pa.float64())), "amount"
    if kind == "inf":  # no missing value at all, so a missing-share rule cannot see it
        return data.set_column(1, "age", pa.array(rng.choice([np.inf, -np.inf], n))), "age"
    if kind == "strings":
        return data.set_column(2, "country", pa.nulls(n, pa.string())), "country"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["null", "inf", "strings"])
def test_a_feature_without_values_is_reported_as_compare_reports_it(registry, rng, kind):
    reference = Profile.from_data(traffic(rng, 2_000))
    events: list[dict] = []
    monitor = Monitor(
        "fraud",
        reference,
        registry=registry,
        window_s=10,
        rules=[Rule.no_data("*"), Rule.drifted("*", name="drift")],
        sinks=[CallbackSink(events.append)],
        background=False,
    )
    broken, feature = _break(traffic(rng, 300), kind, rng)
    monitor.add_slice(0.0, 10.0, Profile.from_data(broken))
    (report,) = monitor.history()
    oracle = seawall.drift.compare(reference, Profile.from_data(broken), FEATURES)
    assert oracle[feature].status == "no_data"
    # one representation: the window's features are compare's columns
    same = ("status", "error", "method", "statistic", "pvalue", "threshold", "drifted")
    for c in FEATURES:
        for field in same:
            assert getattr(report.features[c], field) == getattr(oracle[c], field), (c, field)
    assert report.features[feature].to_dict()["status"] == "no_data"
    assert "the current data has no values: all 300 are" in report.features[feature].error
    assert report.features[feature].missing_share == (0.0 if kind == "inf" else 1.0)
    assert report.drift_share == oracle.drift_share  # over the two compared features
    assert report.dataset_drift == oracle.dataset_drift
    # the alert names the broken feature; no drift alert for it
    fired = [(e["alert"]["rule"], e["alert"]["subject"]) for e in events]
    assert ("no_data:*", feature) in fired and ("drift", feature) not in fired
    assert [a.subject for a in monitor.alerts() if a.kind == "no_data"] == [feature]
    # the history in the registry reads back the same, status and reason included
    assert [w.to_dict() for w in monitor.history()] == [report.to_dict()]
    assert monitor.history()[0].features[feature].status == "no_data"
    # values again: the alert resolves
    monitor.add_slice(10.0, 20.0, Profile.from_data(traffic(rng, 300)))
    monitor.advance(math.inf)
    last = [e for e in events if e["alert"]["kind"] == "no_data"][-1]
    assert last["status"] == "resolved" and last["alert"]["subject"] == feature
    assert last["alert"]["message"] == f"resolved: feature {feature!r} has values to compare"
    assert not [a for a in monitor.alerts() if a.kind == "no_data"]


def test_a_feature_that_cannot_be_compared_does_not_hide_the_others(rng):
    reference = Profile.from_data(traffic(rng, 2_000))
    monitor = Monitor("fraud", reference, window_s=10, rules=[Rule.no_data("*")], background=False)
    data = traffic(rng, 300)
    data = data.set_column(1, "age", pa.array(np.array(["young", "old"])[rng.integers(0, 2, 300)]))
    monitor.add_slice(0.0, 10.0, Profile.from_data(data))
    (report,) = monitor.history()
    age = report.features["age"]
    assert (age.status, age.drifted) == ("error", None)
    assert "'age'" in age.error and "strings" in age.error
    oracle = seawall.drift.compare(reference, Profile.from_data(data), ["amount", "country"])
    for c in ("amount", "country"):
        assert report.features[c].statistic == oracle[c].statistic
    assert report.drift_share == oracle.drift_share
    assert monitor.alerts() == []  # a comparison that failed is not a feed without values


def test_missing_reference_is_a_clear_typed_error(registry, tmp_path, rng):
    with pytest.raises(MissingReferenceError, match="give reference="):
        Monitor("fraud")
    bundle = make_bundle(rng, tmp_path)
    registry.register_model("fraud", bundle)  # no reference profile
    with pytest.raises(MissingReferenceError, match="registered without a reference profile"):
        Monitor("fraud", registry=registry)
    assert issubclass(MissingReferenceError, NotFoundError)
    with pytest.raises(NotFoundError, match="no model named 'other'"):
        Monitor("other", registry=registry)
    reference = Profile.from_data(traffic(rng, 500))
    registry.register_model("fraud", bundle, profile=reference)
    registry.set_alias("fraud", "champion", 2)
    monitor = Monitor("fraud", registry=registry, version="champion", background=False)
    assert monitor.version == "2"
    assert monitor.reference.to_bytes() == reference.to_bytes()


def test_bad_input_is_refused_at_the_call(rng):
    reference = Profile.from_data(traffic(rng, 500))
    for kwargs, match in (
        ({"window_s": 0}, "window_s"),
        ({"window_s": 60, "step_s": 25}, "whole multiple"),
        ({"columns": ["nope"]}, "no column 'nope'"),
        ({"task": "ranking"}, "task"),
        ({"rules": [Rule.drifted(), Rule.drifted()]}, "unique"),
    ):
        with pytest.raises((InvalidInputError, MissingColumnError), match=match):
            Monitor("m", reference, background=False, **kwargs)
    monitor = Monitor("m", reference, background=False)
    s = Profile.from_data(traffic(rng, 50))
    with pytest.raises(InvalidInputError, match="before it starts"):
        monitor.add_slice(10.0, 5.0, s)
    with pytest.raises(InvalidInputError, match="finite"):
        monitor.add_slice(math.nan, 5.0, s)
    with pytest.raises(InvalidInputError, match="Profile"):
        monitor.add_slice(0.0, 1.0, traffic(rng, 5))
    with pytest.raises(MissingColumnError, match="no column 'country'"):
        monitor.add_slice(0.0, 1.0, Profile.from_data(traffic(rng, 5).drop_columns(["country"])))
    with pytest.raises(InvalidInputError, match="set task="):
        monitor.add_labels([1], [1])
    with pytest.raises(InvalidInputError, match="exactly one of above= and below="):
        Rule.quality("accuracy")
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        Rule.drift_share(above=1.5)


def test_add_slice_never_waits_for_a_busy_monitor(rng):
    """With the evaluation thread held up (a sink that blocks), add_slice still returns at once:
    what does not fit in the queue is dropped and counted, and serving goes on."""
    reference = Profile.from_data(traffic(rng, 2_000))
    gate = threading.Event()
    entered = threading.Event()

    def slow(event):
        entered.set()
        gate.wait(60)

    monitor = Monitor(
        "fraud",
        reference,
        window_s=10,
        max_pending=8,
        rules=[Rule.drift_score("amount", above=-1.0)],  # fires on the first window
        sinks=[CallbackSink(slow)],
    )
    slices = make_slices(rng, 1, 10.0, 0.0)
    monitor.add_slice(0.0, 10.0, slices[0].features)  # closes window 1: the sink blocks
    assert entered.wait(60)
    extra = [Profile.from_data(traffic(rng, 20)) for _ in range(30)]
    for i, p in enumerate(extra):  # would block forever if add_slice waited
        monitor.add_slice(20.0 + i, 21.0 + i, p)
    stats = monitor.stats()
    assert stats["dropped"] == 30 - 8 and stats["pending"] == 8
    gate.set()
    assert monitor.flush(60)
    assert monitor.stats()["slices"] == 1 + 8
    monitor.close()


def test_restart_keeps_history_and_open_alerts(registry, rng):
    reference = Profile.from_data(traffic(rng, 5_000))
    events: list[dict] = []
    rules = [Rule.drift_score("amount", above=0.2)]
    shifted = make_slices(rng, 2, 10.0, 1000.0, shift_of=lambda i: 1.0)
    monitor = Monitor(
        "fraud", reference, registry=registry, window_s=10, rules=rules, background=False
    )
    for s in shifted:
        monitor.add_slice(s.start, s.end, s.features)
    (fired,) = monitor.alerts()
    assert fired.state == "firing" and fired.id is not None
    monitor.close()

    again = Monitor(
        "fraud",
        reference,
        registry=registry,
        window_s=10,
        rules=rules,
        sinks=[CallbackSink(events.append)],
        background=False,
    )
    assert again.alerts() == [fired]  # still open: not fired a second time
    assert again.latest is not None and again.latest.end == 1020.0
    late = make_slices(rng, 1, 10.0, 1005.0)[0]
    again.add_slice(late.start, late.end, late.features)
    assert again.stats()["late"] == 1  # its window was evaluated before the restart
    calm = make_slices(rng, 1, 10.0, 1020.0, rows=(3000, 3001))[0]
    again.add_slice(calm.start, calm.end, calm.features)
    assert [e["status"] for e in events] == ["resolved"]
    assert events[0]["alert"]["id"] == fired.id
    assert again.alerts() == []
    (stored,) = again.alerts(open=False)
    assert stored.state == "resolved" and stored.resolved_at == 1030.0
    assert [w.end for w in again.history()] == [1010.0, 1020.0, 1030.0]


def test_set_reference_applies_to_later_windows(rng):
    old = Profile.from_data(traffic(rng, 5_000))
    new = Profile.from_data(traffic(rng, 5_000, shift=1.0))
    monitor = Monitor("fraud", old, window_s=10, background=False)
    first, second = make_slices(rng, 2, 10.0, 0.0, shift_of=lambda i: 1.0)
    monitor.add_slice(first.start, first.end, first.features)
    monitor.set_reference(new, version=2)
    monitor.add_slice(second.start, second.end, second.features)
    a, b = monitor.history()
    assert (a.version, b.version) == (None, "2")
    assert (
        a.features["amount"].statistic
        == seawall.drift.compare(old, first.features)["amount"].statistic
    )
    assert (
        b.features["amount"].statistic
        == seawall.drift.compare(new, second.features)["amount"].statistic
    )
