"""Each decision of the continuous-training loop is a ``loop.decision`` event of the registry,
written with the decision's record (the ``decision.json`` of its run): the event carries the
decision as ``history()`` reads it back, and a record that fails leaves no event."""

from __future__ import annotations

import pytest
from loop_helpers import make_data

import seawall
from seawall.errors import StorageError
from seawall.registry import _tracking
from seawall.registry.events import write_event


def test_every_decision_is_an_event(setup, rng):
    registry, _, loop = setup
    first_events = registry.events(types="loop.decision")
    assert [e.payload["action"] for e in first_events] == ["promoted"]  # the bootstrap
    start = registry.last_event_id()
    decision = loop.check(
        seawall.Profile.from_data(make_data(rng, 3000, 1).drop_columns(["label"])),
        labelled=make_data(rng, 2000, 1),
        training_data=make_data(rng, 4000, 1),
    )
    found = registry.events(start)
    # The new version, its alias moves, then the decision that made them.
    assert found[0].type == "model_version.created"
    assert found[-1].type == "loop.decision"
    (event,) = registry.events(start, types="loop.decision")
    assert event.resource == f"models/churn/decisions/{decision.run_id}"
    recorded = loop.history()[0]
    assert recorded == decision
    assert event.payload["model"] == "churn"
    assert event.payload["action"] == recorded.action
    assert event.payload["run_id"] == recorded.run_id
    assert event.payload["challenger"] == recorded.challenger
    assert event.payload["challenger_score"] == pytest.approx(recorded.challenger_score)
    assert tuple(event.payload["triggers"]) == recorded.triggers


def test_a_decision_whose_record_fails_makes_no_event(setup, rng, monkeypatch):
    registry, _, loop = setup
    start = registry.last_event_id()

    def write_then_fail(conn, event):
        write_event(conn, event)
        raise RuntimeError("the database went away mid-transaction")

    monkeypatch.setattr(_tracking, "write_event", write_then_fail)
    with pytest.raises((RuntimeError, StorageError)):  # (a server's failure: StorageError)
        loop.check(make_data(rng, 3000, 0).drop_columns(["label"]))
    monkeypatch.undo()
    assert registry.events(start, types="loop.decision") == []
    # The record is not there either: its run failed without a decision.json.
    newest = registry.search_runs("churn.loop", max_results=1)[0]
    assert newest.status == "FAILED"
    assert "decision.json" not in [a.path for a in newest.artifacts]
