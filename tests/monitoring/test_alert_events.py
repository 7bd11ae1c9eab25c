"""A monitor's alerts become registry events (SQLite and PostgreSQL): one ``alert.firing`` when an
alert fires and one ``alert.resolved`` when it clears, written with the alert's row, carrying what
the sinks receive; an alert that cannot be stored leaves no event."""

from __future__ import annotations

from monitoring_helpers import make_slices, traffic

from seawall.monitoring import CallbackSink, Monitor, Rule
from seawall.monitoring import _store as store_module
from seawall.monitoring._store import HistoryStore
from seawall.profiles import Profile
from seawall.registry.events import write_event


def _monitor(registry, rng, sinks=()):
    return Monitor(
        "fraud",
        Profile.from_data(traffic(rng, 5_000)),
        registry=registry,
        window_s=10,
        rules=[Rule.drift_score("amount", above=0.25)],
        sinks=list(sinks),
        background=False,
    )


def test_alerts_fire_and_resolve_as_events(any_registry, rng):
    seen: list[dict] = []
    monitor = _monitor(any_registry, rng, [CallbackSink(seen.append)])
    shifts = [0.0, 1.5, 1.5, 0.0, 1.5, 1.5]
    for s in make_slices(rng, 6, 10.0, 0.0, shift_of=lambda i: shifts[i], rows=(3000, 3001)):
        monitor.add_slice(s.start, s.end, s.features)
    monitor.close()
    assert [e["status"] for e in seen] == ["firing", "resolved", "firing"]
    events = any_registry.events(types="alert.*")
    # What the sinks got, event by event: the status, the alert's id and fields.
    assert [e.type for e in events] == [f"alert.{s['status']}" for s in seen]
    for event, sent in zip(events, seen, strict=True):
        stored = {k: v for k, v in event.payload.items() if k not in ("state", "updated_at")}
        expected = {k: v for k, v in sent["alert"].items() if k not in ("state", "updated_at")}
        assert stored == expected
        assert event.resource == f"models/fraud/alerts/{sent['alert']['id']}"
    # The firing alert's later updates (its value moves while it fires) made no more events.
    (still_open,) = HistoryStore(any_registry).alerts("fraud", open=True)
    assert [e.payload["id"] for e in events].count(still_open.id) == 1


def test_an_alert_that_is_not_stored_makes_no_event(any_registry, rng, monkeypatch):
    def write_then_fail(conn, event):
        write_event(conn, event)
        raise RuntimeError("the database went away mid-transaction")

    monkeypatch.setattr(store_module, "write_event", write_then_fail)
    monitor = _monitor(any_registry, rng)
    for s in make_slices(rng, 2, 10.0, 0.0, shift_of=lambda i: 1.5 * i, rows=(3000, 3001)):
        monitor.add_slice(s.start, s.end, s.features)
    monitor.close()
    assert monitor.stats()["errors"] >= 1  # counted and logged, as before
    assert HistoryStore(any_registry).alerts("fraud") == []
    assert any_registry.events(types="alert.*") == []


def test_resolving_stale_alerts_makes_their_events(any_registry, rng):
    first = _monitor(any_registry, rng)
    for s in make_slices(rng, 2, 10.0, 0.0, shift_of=lambda i: 1.5 * i, rows=(3000, 3001)):
        first.add_slice(s.start, s.end, s.features)
    first.close()
    (fired,) = any_registry.events(types="alert.firing")
    # A monitor of the same model without that rule resolves the open alert when it starts.
    Monitor(
        "fraud",
        Profile.from_data(traffic(rng, 1_000)),
        registry=any_registry,
        rules=[],
        background=False,
    ).close()
    (resolved,) = any_registry.events(fired.id, types="alert.resolved")
    assert resolved.payload["id"] == fired.payload["id"]
    assert resolved.payload["state"] == "resolved"
