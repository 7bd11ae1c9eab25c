"""Alert rules, deduplication and resolution; the sinks: a Python callback, and a webhook POSTing
to a real HTTP receiver on loopback (retries with backoff, an unreachable or hanging receiver
never holding up the monitor)."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest
from monitoring_helpers import Receiver, closed_port_url, make_slices, traffic

from seawall.errors import InvalidInputError
from seawall.monitoring import CallbackSink, Monitor, Rule, WebhookSink, WindowReport
from seawall.monitoring._report import FeatureDrift
from seawall.profiles import Profile


def _window(end: float, **scores: float | None) -> WindowReport:
    """A window whose features have these wasserstein statistics (threshold 0.1)."""
    features = {
        name: FeatureDrift(name, "wasserstein", s, None, 0.1, s >= 0.1, 0.0)
        if s is not None
        else FeatureDrift(name, None, None, None, None, None, 1.0, "no values")
        for name, s in scores.items()
    }
    compared = [f for f in features.values() if f.drifted is not None]
    share = sum(bool(f.drifted) for f in compared) / len(compared) if compared else None
    return WindowReport("m", "1", end - 10, end, 100, 1, features, share, None)


def _book(rules):
    from seawall.monitoring.rules import AlertBook

    return AlertBook("m", rules)


def test_an_alert_fires_once_and_resolves_when_its_condition_clears(rng):
    book = _book([Rule.drifted("*"), Rule.drift_share(above=0.5, severity="critical")])
    pattern = rng.random((12, 2)) < 0.5  # which of two features drift, window by window
    firing: set = set()
    for k, row in enumerate(pattern):
        scores = {"a": 0.3 if row[0] else 0.01, "b": 0.3 if row[1] else 0.02}
        events = book.update(_window(10.0 * (k + 1), **scores))
        expected = []
        for name, drifted in zip("ab", row, strict=True):
            key = ("drifted:*", name)
            if drifted and key not in firing:
                expected.append(("firing", key))
                firing.add(key)
            elif not drifted and key in firing:
                expected.append(("resolved", key))
                firing.discard(key)
        share_key = ("drift_share above 0.5", None)
        if row.all() and share_key not in firing:
            expected.append(("firing", share_key))
            firing.add(share_key)
        elif not row.all() and share_key in firing:
            expected.append(("resolved", share_key))
            firing.discard(share_key)
        got = sorted((s, a.key) for s, a in events if s != "updated")
        assert got == sorted(expected), k
        assert set(book.open) == firing
    for alert in book.open.values():
        assert alert.state == "firing"


def test_a_window_that_cannot_evaluate_a_condition_changes_nothing():
    book = _book([Rule.drift_score("a", above=0.2), Rule.quality("accuracy", below=0.9)])
    (event,) = book.update(_window(10, a=0.5))
    assert event[0] == "firing"
    assert book.update(_window(20, a=None)) == []  # no values for 'a': still firing
    assert ("drift_score:a above 0.2", "a") in book.open
    w = _window(30, a=0.5)
    w.quality["accuracy"] = 0.95
    assert [s for s, _ in book.update(w)] == ["updated"]  # accuracy fine, 'a' still high
    w = _window(40, a=0.05)
    w.quality["accuracy"] = 0.5
    events = {a.rule: (s, a) for s, a in book.update(w)}
    assert events["drift_score:a above 0.2"][0] == "resolved"
    assert events["drift_score:a above 0.2"][1].resolved_at == 40
    assert events["quality:accuracy below 0.9"][0] == "firing"
    assert "0.5, below 0.9" in events["quality:accuracy below 0.9"][1].message


def test_missing_share_and_p_value_rules():
    w = _window(10, a=0.01)
    w.features["b"] = FeatureDrift("b", "ks", 0.3, 0.001, 0.05, True, 0.4)
    assert Rule.missing("*", above=0.3).check(w) == {"a": (0.0, 0.3, False), "b": (0.4, 0.3, True)}
    # a test method's score is its p-value: a bound below
    assert Rule.drift_score("b", below=0.01).check(w) == {"b": (0.001, 0.01, True)}
    assert Rule.drift_score("b", below=0.0001).check(w)["b"][2] is False
    with pytest.raises(InvalidInputError, match="severity"):
        Rule.drifted("a", severity="loud")


def test_callback_and_webhook_receive_the_same_events(rng, receiver):
    reference = Profile.from_data(traffic(rng, 5_000))
    seen: list[dict] = []
    hook = WebhookSink(receiver.url, retries=0)
    monitor = Monitor(
        "fraud",
        reference,
        window_s=10,
        rules=[Rule.drift_score("amount", above=0.25)],
        sinks=[CallbackSink(seen.append), hook],
    )
    shifts = [0.0, 1.5, 1.5, 0.0, 1.5]
    slices = make_slices(rng, 5, 10.0, 0.0, shift_of=lambda i: shifts[i], rows=(3000, 3001))
    for s in slices:
        monitor.add_slice(s.start, s.end, s.features)
    assert monitor.flush(60)
    assert hook.flush(60)
    assert [(e["status"], e["window"]["end"]) for e in seen] == [
        ("firing", 20.0),
        ("resolved", 40.0),
        ("firing", 50.0),
    ]
    assert receiver.events == seen
    assert seen[0]["alert"]["subject"] == "amount" and seen[0]["model"] == "fraud"
    assert hook.stats()["sent"] == 3
    (open_alert,) = monitor.alerts()
    assert open_alert.started_at == 50.0
    monitor.close()
    hook.close()


def test_webhook_retries_with_backoff_then_delivers(rng):
    receiver = Receiver(fail_first=2)
    try:
        hook = WebhookSink(receiver.url, retries=3, backoff_s=0.01)
        hook.send({"status": "firing", "alert": {"message": "x"}, "n": 1})
        assert hook.flush(60)
        assert receiver.attempts == 3
        assert receiver.events == [{"status": "firing", "alert": {"message": "x"}, "n": 1}]
        assert hook.stats() == {
            "sent": 1,
            "retried": 2,
            "dropped": 0,
            "queue_full": 0,
            "pending": 0,
        }
        hook.close()
    finally:
        receiver.close()


def test_an_unreachable_webhook_is_retried_then_dropped_with_a_warning(rng, caplog):
    reference = Profile.from_data(traffic(rng, 2_000))
    hook = WebhookSink(closed_port_url(), retries=2, backoff_s=0.01, timeout_s=5)
    monitor = Monitor(
        "fraud",
        reference,
        window_s=10,
        rules=[Rule.drift_score("amount", above=-1.0)],
        sinks=[hook],
    )
    with caplog.at_level(logging.WARNING, logger="seawall.monitoring"):
        for s in make_slices(rng, 3, 10.0, 0.0):
            monitor.add_slice(s.start, s.end, s.features)
        assert monitor.flush(60)
        assert monitor.stats()["windows"] == 3  # evaluation went on
        assert hook.flush(60)
    assert hook.stats()["dropped"] == 1 and hook.stats()["retried"] == 2
    assert hook.stats()["sent"] == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("dropped after 3 tries" in m and "Connection refused" in m for m in messages), (
        messages
    )
    monitor.close()
    hook.close()


def test_a_hanging_webhook_does_not_hold_up_the_monitor(rng):
    """The receiver takes the request and does not answer until released: the monitor still
    evaluates every window; the event waits in the webhook's own thread."""
    hold = threading.Event()
    receiver = Receiver(hold=hold)
    try:
        reference = Profile.from_data(traffic(rng, 2_000))
        hook = WebhookSink(receiver.url, retries=0, timeout_s=60)
        monitor = Monitor(
            "fraud",
            reference,
            window_s=10,
            rules=[Rule.drift_score("amount", above=-1.0)],
            sinks=[hook],
        )
        for s in make_slices(rng, 4, 10.0, 0.0):
            monitor.add_slice(s.start, s.end, s.features)
        assert monitor.flush(60)
        assert monitor.stats()["windows"] == 4
        assert hook.stats()["pending"] == 1 and receiver.events == []
        hold.set()
        assert hook.flush(60)
        assert len(receiver.events) == 1 and hook.stats()["sent"] == 1
        monitor.close()
        hook.close()
    finally:
        receiver.close()


def test_a_full_webhook_queue_drops_instead_of_blocking(caplog):
    hold = threading.Event()
    receiver = Receiver(hold=hold)
    try:
        hook = WebhookSink(receiver.url, retries=0, max_queue=2, timeout_s=60)
        with caplog.at_level(logging.WARNING, logger="seawall.monitoring"):
            hook.send({"status": "firing", "i": 0})
            while hook._queue.qsize():  # until the thread took it: it is in flight, held
                time.sleep(0.001)
            for i in range(1, 6):  # two fit in the queue, three are dropped
                hook.send({"status": "firing", "i": i})
        stats = hook.stats()
        assert stats["queue_full"] == 3 and stats["dropped"] == 3 and stats["pending"] == 3
        assert any("this alert event was dropped" in r.getMessage() for r in caplog.records)
        hold.set()
        assert hook.flush(60)
        assert [e["i"] for e in receiver.events] == [0, 1, 2]
        hook.close()
    finally:
        receiver.close()


def test_sink_and_url_validation():
    with pytest.raises(InvalidInputError, match="http"):
        WebhookSink("ftp://example/hook")
    with pytest.raises(InvalidInputError, match="callable"):
        CallbackSink(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="send"):
        Monitor("m", Profile.from_data({"x": np.arange(5.0)}), sinks=[object()], background=False)


def test_closing_a_webhook_stuck_on_its_receiver_returns(caplog):
    hold = threading.Event()
    receiver = Receiver(hold=hold)
    try:
        hook = WebhookSink(receiver.url, retries=5, max_queue=1, timeout_s=60)
        hook.send({"status": "firing", "i": 0})
        while hook._queue.qsize():  # in flight, held by the receiver
            time.sleep(0.001)
        hook.send({"status": "firing", "i": 1})  # fills the queue
        hook.close(timeout=0.5)  # returns although the thread is still waiting on the receiver
        with caplog.at_level(logging.WARNING, logger="seawall.monitoring"):
            hook.send({"status": "firing", "i": 2})
        assert any("is closed" in r.getMessage() for r in caplog.records)
        hold.set()
        hook._thread.join(60)
        assert not hook._thread.is_alive()  # it tried what was queued, then stopped
        assert [e["i"] for e in receiver.events] == [0, 1]
    finally:
        receiver.close()


def test_a_webhook_with_a_secret_signs_its_bodies(receiver):
    import hashlib
    import hmac

    secret = "monitor-secret-0123456789"
    hook = WebhookSink(receiver.url, retries=0, secret=secret)
    hook.send({"status": "firing", "alert": {"message": "drift"}, "value": float("nan")})
    assert hook.flush(60)
    hook.close()
    ((headers, body),) = receiver.requests
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Seawall-Signature"] == f"sha256={expected}"
    assert receiver.events == [{"status": "firing", "alert": {"message": "drift"}, "value": None}]
    with pytest.raises(InvalidInputError, match="secret"):
        WebhookSink(receiver.url, secret="")
