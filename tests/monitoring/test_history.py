"""The monitoring history in the registry (SQLite and PostgreSQL): what a monitor evaluated reads
back equal, with its profiles; alerts persist; a corrupt row is skipped with a clear message."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pytest
from monitoring_helpers import make_slices, traffic
from sqlalchemy import text

from seawall.errors import InvalidInputError, NotFoundError
from seawall.monitoring import Monitor, Rule
from seawall.monitoring._store import HistoryStore
from seawall.profiles import Profile


def _fill(registry, rng, windows: int = 4) -> Monitor:
    reference = Profile.from_data(traffic(rng, 5_000))
    monitor = Monitor(
        "fraud",
        reference,
        registry=registry,
        version=3,
        window_s=20,
        task="classification",
        rules=[Rule.drifted("*"), Rule.missing("amount", above=0.01)],
        background=False,
    )
    slices = make_slices(rng, 2 * windows, 10.0, 1000.0, shift_of=lambda i: 0.7 * (i % 4 >= 2))
    for s in slices:
        y = rng.integers(0, 2, 50)
        monitor.add_labels(y, rng.integers(0, 2, 50), time=s.start + 1)
        monitor.add_slice(s.start, s.end, s.features, s.prediction_profile)
    return monitor


def test_windows_and_alerts_read_back_equal(any_registry, rng):
    monitor = _fill(any_registry, rng)
    live = list(monitor._history)  # what the monitor computed (in memory, profiles dropped)
    stored = monitor.history()
    assert len(stored) == 4 and stored.skipped == []
    assert [w.to_dict() for w in stored] == [w.to_dict() for w in live]
    assert all(w.version == "3" for w in stored)
    # limits and bounds: the newest first when limited, always returned oldest first
    assert [w.end for w in monitor.history(limit=2)] == [w.end for w in stored[-2:]]
    assert [w.end for w in monitor.history(since=1020.0, until=1060.0)] == [1040.0, 1060.0]
    # one window with its profiles
    store = HistoryStore(any_registry)
    one = store.window(stored[-1].id)
    assert one is not None and one.to_dict() == stored[-1].to_dict()
    assert one.profile.to_bytes() == monitor.latest.profile.to_bytes()
    assert one.prediction_profile.to_bytes() == monitor.latest.prediction_profile.to_bytes()
    # alerts
    assert {a.key for a in store.alerts("fraud", open=True)} == {
        (a.rule, a.subject) for a in monitor.alerts()
    }
    everything = store.alerts("fraud")
    assert any(a.state == "resolved" for a in everything)  # the drift came and went
    assert store.latest_by_model(2)["fraud"] == [(w.id, w.end, w.drift_share) for w in stored[-2:]]


def test_acknowledging_an_alert_records_who_and_when_once(any_registry, rng):
    reg = any_registry
    _fill(reg, rng)
    store = HistoryStore(reg)
    alerts = store.alerts("fraud")
    firing = [a for a in alerts if a.state == "firing"]
    assert firing and all(a.acknowledged_by is a.acknowledged_at is None for a in alerts)
    target = firing[int(rng.integers(len(firing)))]
    start = reg.last_event_id()
    before = time.time()
    with reg.acting_as("user:ana"):
        acknowledged = store.acknowledge_alert("fraud", target.id)
    assert before <= acknowledged.acknowledged_at <= time.time()
    assert acknowledged == replace(
        target, acknowledged_by="user:ana", acknowledged_at=acknowledged.acknowledged_at
    )
    # Read back: that alert acknowledged, every other one as it was.
    assert store.alerts("fraud") == [acknowledged if a.id == target.id else a for a in alerts]
    # A second acknowledgement keeps the first; the monitor updating the alert keeps it too.
    with reg.acting_as("user:bo"):
        assert store.acknowledge_alert("fraud", target.id) == acknowledged
    store.save_alert(replace(target, value=0.99, message="still moving"))
    (kept,) = [a for a in store.alerts("fraud") if a.id == target.id]
    assert (kept.message, kept.acknowledged_by) == ("still moving", "user:ana")
    assert kept.acknowledged_at == acknowledged.acknowledged_at
    # One event, in the same transaction.
    (event,) = reg.events(after=start, types="alert.acknowledged")
    assert event.resource == f"models/fraud/alerts/{target.id}"
    assert event.payload == acknowledged.to_dict()
    # Another model's alert, or none, is not found; a bad id or model is refused by name.
    with pytest.raises(NotFoundError, match="no alert"):
        store.acknowledge_alert("churn", target.id)
    with pytest.raises(NotFoundError, match="no alert"):
        store.acknowledge_alert("fraud", max(a.id for a in alerts) + 1)
    for bad in (0, -1, True, "1", 1.0, None):
        with pytest.raises(InvalidInputError, match="alert_id"):
            store.acknowledge_alert("fraud", bad)
    for bad in ("", 7, None):
        with pytest.raises(InvalidInputError, match="model"):
            store.acknowledge_alert(bad, target.id)


def test_a_corrupt_history_row_is_skipped_with_a_clear_message(registry, rng, caplog):
    monitor = _fill(registry, rng)
    ids = [w.id for w in monitor.history()]
    with registry._db.engine.begin() as conn:
        conn.execute(
            text("UPDATE monitor_windows SET details = '{not json' WHERE id = :i"), {"i": ids[1]}
        )
        conn.execute(
            text("UPDATE monitor_windows SET profile = :p WHERE id = :i"),
            {"p": b"SWPF\x01\x00garbage", "i": ids[2]},
        )
    with caplog.at_level(logging.WARNING, logger="seawall.monitoring"):
        history = monitor.history()
        assert [w.id for w in history] == [ids[0], ids[2], ids[3]]
        assert [i for i, _ in history.skipped] == [ids[1]]
        assert "JSONDecodeError" in history.skipped[0][1]
        window = HistoryStore(registry).window(ids[2])
    assert window is not None and window.profile is None  # the rest of the row still reads
    assert window.prediction_profile is not None
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert f"window row {ids[1]} of model 'fraud'" in messages and "corrupt" in messages
    assert f"the features profile of window {ids[2]} is unreadable" in messages
    # a monitor opened on this history starts fine, from the newest readable window
    again = Monitor("fraud", monitor.reference, registry=registry, window_s=20, background=False)
    assert again.latest is not None and again.latest.id == ids[3]


@pytest.mark.parametrize("store_profiles", [True, False])
def test_profiles_are_kept_only_when_asked(registry, rng, store_profiles):
    reference = Profile.from_data(traffic(rng, 1_000))
    monitor = Monitor(
        "m",
        reference,
        registry=registry,
        window_s=10,
        store_profiles=store_profiles,
        background=False,
    )
    (s,) = make_slices(rng, 1, 10.0, 0.0)
    monitor.add_slice(s.start, s.end, s.features)
    (w,) = monitor.history()
    stored = HistoryStore(registry).window(w.id)
    assert (stored.profile is not None) == store_profiles
