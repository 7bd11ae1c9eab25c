"""The registry's events on SQLite and PostgreSQL: each change writes its event in its own
transaction (a change that fails leaves none), ids increase in commit order so a follower never
misses one, filters, idempotent keys, and waiting for events (a long poll that wakes on a commit
from another connection)."""

from __future__ import annotations

import math
import threading

import pytest
from registry_helpers import make_bundle

from local_servers import local_of, open_registry
from seawall.errors import InvalidInputError, NotFoundError, StorageError
from seawall.registry import _models as models_module
from seawall.registry._store import HOOKS
from seawall.registry.events import NewEvent, write_event
from seawall.registry.remote import is_remote_uri


def _versions(reg, tmp_path, name, count, seed=0):
    for i in range(count):
        reg.register_model(name, make_bundle(tmp_path / f"{name}-{seed}-{i}", seed + i))


def test_each_change_writes_its_event_in_order(reg, tmp_path, rng):
    n = int(rng.integers(2, 5))
    _versions(reg, tmp_path, "fraud", n)
    target = int(rng.integers(1, n + 1))
    reg.set_alias("fraud", "champion", 1, reason="first")
    reg.set_alias("fraud", "champion", target, reason="better")
    reg.delete_alias("fraud", "champion", reason="retired")

    found = reg.events()
    assert [e.type for e in found] == [
        *["model_version.created"] * n,
        "alias.set",
        "alias.set",
        "alias.deleted",
    ]
    ids = [e.id for e in found]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert reg.last_event_id() == ids[-1]
    created = found[:n]
    assert [e.payload["version"] for e in created] == list(range(1, n + 1))
    assert [e.resource for e in created] == [f"models/fraud/versions/{v}" for v in range(1, n + 1)]
    mv = reg.get_model_version("fraud", 1)
    assert created[0].payload["bundle_sha256"] == mv.bundle_sha256
    # The alias events say what the audit says, move by move.
    history = reg.alias_history("fraud", "champion")
    moves = found[n:]
    assert [(e.payload["version"], e.payload["previous_version"], e.payload["reason"])
            for e in moves] == [(h.version, h.previous_version, h.reason) for h in history]  # fmt: skip
    assert {e.resource for e in moves} == {"models/fraud/aliases/champion"}
    assert moves[1].payload["uri"] == "models:/fraud@champion"
    assert len({e.key for e in found}) == len(found)


def test_a_change_that_fails_leaves_no_event(reg, tmp_path, monkeypatch):
    _versions(reg, tmp_path, "fraud", 1)
    before = reg.last_event_id()

    # Fails after its rows were inserted, before the commit.
    def boom():
        raise RuntimeError("the process dies mid-transaction")

    # (through a server, its failure comes back as a StorageError)
    failed = (RuntimeError, StorageError)
    monkeypatch.setitem(HOOKS, "register:inserted", boom)
    with pytest.raises(failed):
        reg.register_model("fraud", make_bundle(tmp_path / "b2", 2))
    monkeypatch.delitem(HOOKS, "register:inserted")

    # Fails after the event itself was written: the event goes with the rest.
    def write_then_fail(conn, event):
        write_event(conn, event)
        raise RuntimeError("failed after the event was written")

    monkeypatch.setattr(models_module, "write_event", write_then_fail)
    with pytest.raises(failed):
        reg.register_model("fraud", make_bundle(tmp_path / "b3", 3))
    monkeypatch.undo()

    with pytest.raises(NotFoundError):
        reg.set_alias("fraud", "champion", 7)
    with pytest.raises(NotFoundError):
        reg.delete_alias("fraud", "nobody")
    assert reg.events(before) == []
    assert [v.version for v in reg.list_versions("fraud")] == [1]
    # The next change commits, with its event, and the numbers go on without a gap.
    reg.register_model("fraud", make_bundle(tmp_path / "b4", 4))
    (event,) = reg.events(before)
    assert (event.type, event.payload["version"]) == ("model_version.created", 2)


def test_a_follower_misses_no_event_when_transactions_commit_out_of_order(reg):
    """Transaction A writes its event first but commits last: an event written meanwhile by B
    must not become visible before A's, or a follower past B would never see A."""
    first_written = threading.Event()
    release_first = threading.Event()
    errors: list[BaseException] = []

    def slow_writer():
        def tx(conn):
            write_event(conn, NewEvent("test.slow", "tests/slow", "slow-1"))
            first_written.set()
            release_first.wait(60)

        try:
            local_of(reg)._db.write(tx)  # (a server's: its own database)
        except BaseException as exc:
            errors.append(exc)

    def quick_writer():
        try:
            reg.record_event("test.quick", "tests/quick", key="quick-1")
        except BaseException as exc:
            errors.append(exc)

    slow = threading.Thread(target=slow_writer)
    slow.start()
    assert first_written.wait(60)
    quick = threading.Thread(target=quick_writer)
    quick.start()
    quick.join(1.0)  # gives the quick writer the chance to commit first, if it could

    seen = reg.events()  # a follower reads now...
    cursor = seen[-1].id if seen else 0
    release_first.set()
    slow.join(60)
    quick.join(60)
    assert not errors
    seen += reg.events(cursor)  # ...and goes on from where it was
    assert sorted(e.key for e in seen) == ["quick-1", "slow-1"]
    assert [e.id for e in seen] == sorted(e.id for e in seen)


def test_concurrent_writers_and_a_follower_agree(reg, rng):
    writers, each = 4, int(rng.integers(10, 25))
    done = threading.Event()
    followed: list[int] = []

    def follow():
        cursor = 0
        while True:
            finished = done.is_set()
            batch = reg.events(cursor, limit=7)
            followed.extend(e.id for e in batch)
            if batch:
                cursor = batch[-1].id
            elif finished:
                return

    def write(w):
        for i in range(each):
            reg.record_event("test.write", f"tests/{w}", {"i": i}, key=f"w{w}-{i}")

    follower = threading.Thread(target=follow)
    follower.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    follower.join(120)
    everything = [e.id for e in reg.events(limit=10_000)]
    assert len(everything) == writers * each
    assert followed == everything  # every id, once, in order


def test_filters_and_limits(reg, tmp_path):
    _versions(reg, tmp_path, "a", 2)
    _versions(reg, tmp_path, "ab", 1, seed=5)
    reg.set_alias("a", "champion", 2)
    reg.set_alias("ab", "champion", 1)
    reg.record_event("custom.thing", "elsewhere/x", {"n": 1})

    assert [e.type for e in reg.events(types="alias.set")] == ["alias.set"] * 2
    assert {e.type for e in reg.events(types=["alias.*", "custom.thing"])} == {
        "alias.set",
        "custom.thing",
    }
    # A resource and what is under it, not a name that only starts the same.
    assert [e.resource for e in reg.events(resource="models/a")] == [
        "models/a/versions/1",
        "models/a/versions/2",
        "models/a/aliases/champion",
    ]
    assert [e.resource for e in reg.events(resource="models/a/aliases/champion")] == [
        "models/a/aliases/champion"
    ]
    everything = reg.events()
    assert reg.events(limit=2) == everything[:2]
    assert reg.events(everything[2].id, limit=2) == everything[3:5]
    assert reg.events(everything[-1].id) == []
    assert reg.wait_for_events(everything[-1].id, timeout_s=0) == []
    for bad in (
        {"after": -1},
        {"after": 1.5},
        {"limit": 0},
        {"limit": 10_001},
        {"types": "Not A Type"},
        {"types": ["alias"]},
        {"resource": ""},
    ):
        with pytest.raises(InvalidInputError):
            reg.events(**bad)
    for timeout in (-1, math.nan, math.inf, "1"):
        with pytest.raises(InvalidInputError, match="timeout_s"):
            reg.wait_for_events(0, timeout_s=timeout)


def test_record_event_is_idempotent_by_key(reg, rng):
    payload = {"x": float(rng.normal()), "bad": math.nan, "nested": {"k": [1, 2]}}
    first = reg.record_event("deploy.finished", "deployments/eu", payload, key="deploy-42")
    again = reg.record_event("deploy.finished", "deployments/eu", {"other": 1}, key="deploy-42")
    assert again == first
    assert first.payload == {"x": payload["x"], "bad": None, "nested": {"k": [1, 2]}}
    assert reg.events() == [first]
    other = reg.record_event("deploy.finished", "deployments/eu")
    assert other.id > first.id and other.key != first.key
    with pytest.raises(InvalidInputError, match="type"):
        reg.record_event("Deploy", "x")
    with pytest.raises(InvalidInputError, match="resource"):
        reg.record_event("deploy.finished", "")


def test_wait_for_events_wakes_on_a_commit_elsewhere(registry_uri, tmp_path):
    """A waiter on one registry object wakes when another (its own connections, as another
    process has) commits an event; its timeout is far beyond the join's."""
    waiter = open_registry(registry_uri, tmp_path / "a")
    writer = open_registry(registry_uri, tmp_path / "a")
    try:
        start = waiter.last_event_id()
        got: list = []
        waiting = threading.Thread(
            target=lambda: got.extend(waiter.wait_for_events(start, timeout_s=600))
        )
        waiting.start()
        event = writer.record_event("test.ping", "tests/ping", {"n": 1})
        waiting.join(60)
        assert not waiting.is_alive(), "the waiter did not wake on the commit"
        assert got == [event]
        if waiter.pushes_events and not is_remote_uri(registry_uri):
            # woken by LISTEN/NOTIFY, not by a listener failing
            assert waiter._event_signal().failures == 0
        # Nothing new: a short wait times out empty.
        assert waiter.wait_for_events(event.id, timeout_s=0.05) == []
    finally:
        waiter.close()
        writer.close()


def test_watch_events_calls_back_until_cancelled(reg):
    calls = threading.Semaphore(0)
    cancel = reg.watch_events(calls.release)
    try:
        start = reg.last_event_id()
        reg.record_event("test.ping", "tests/ping")
        # The callback only wakes: whoever it wakes reads from the last id it saw.
        while not reg.events(start):
            assert calls.acquire(timeout=60)
    finally:
        cancel()
    with pytest.raises(InvalidInputError):
        reg.watch_events("not callable")


def test_pushes_events_only_on_postgresql_and_through_a_server(registry_uri, reg):
    """A server's long poll answers as events commit, whatever its database."""
    if is_remote_uri(registry_uri):
        assert reg.pushes_events is True
    else:
        assert reg.pushes_events is (reg._db.dialect == "postgresql")
