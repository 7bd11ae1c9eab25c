"""A server following ``models:/NAME@ALIAS`` switches on the registry's alias events, not on its
poll: with a poll interval of an hour, only an event can explain the swap. PostgreSQL pushes
events, and so does a registry server (its long poll, here with tokens checked), so the server
subscribes by default; on a plain SQLite file it keeps polling unless asked to follow events; a
registry without events is polled as before."""

from __future__ import annotations

import threading

import httpx
import pytest
from serving_helpers import pipeline, records, running, transactions
from traffic_models import METHODS, ArmModel

import seawall
from local_servers import registry_server
from seawall.errors import InvalidInputError
from seawall.registry.remote import is_remote_uri
from seawall.serving import create_app, save_bundle
from seawall.serving.hot_swap import AliasWatcher

HOUR = 3600.0


@pytest.fixture(params=["sqlite", "postgresql", "http"])
def registry(request, tmp_path, rng):
    """A registry holding 'fraud' versions 1 and 2 (ArmModel, whose answers name the version),
    version 1 as champion: a database, or a registry server checking tokens, used with a token
    that may read, write and promote the models."""
    if request.param == "http":
        with registry_server(tmp_path / "server", auth=True) as (url, backing):
            token = backing.create_token(
                "model-server", team="ops", scopes=["write:models/*", "promote:models/*"]
            )
            remote = seawall.Registry(url, token=token.secret)
            yield from _with_versions(remote, tmp_path, rng)
        return
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'reg.db'}"
    else:
        uri = request.getfixturevalue("postgres_server").create_database()
    yield from _with_versions(seawall.Registry(uri, artifacts=tmp_path / "art"), tmp_path, rng)


def _with_versions(reg, tmp_path, rng):
    pipe = pipeline().fit(transactions(rng, 300))
    for version in (1, 2):
        path = save_bundle(
            tmp_path / f"v{version}",
            python_model=ArmModel(version, 0.0),
            methods=METHODS,
            pipeline=pipe,
            name="fraud",
            example=records(transactions(rng, 5)),
        )
        reg.register_model("fraud", path)
    reg.set_alias("fraud", "champion", 1)
    yield reg
    reg.close()


def test_the_watcher_switches_on_an_alias_event(registry):
    swapped = threading.Event()
    versions: list[int] = []

    def on_change(version: int) -> None:
        versions.append(version)
        swapped.set()

    watcher = AliasWatcher(
        registry, "models:/fraud@champion", 1, on_change, interval_s=HOUR, events=True
    )
    try:
        assert watcher.events
        registry.set_alias("fraud", "other", 2)  # another alias of the model: nothing to do
        registry.set_alias("fraud", "champion", 2, reason="better")
        assert swapped.wait(60), "no swap: the alias event did not reach the watcher"
        assert versions == [2] and watcher.version == 2 and watcher.swaps == 1
    finally:
        watcher.close()


class _Recording:
    """The registry, with the `after` of every wait_for_events call recorded."""

    def __init__(self, registry) -> None:
        self.registry = registry
        self.pushes_events = True
        self.afters: list[int] = []
        self.waited = threading.Condition()

    def __getattr__(self, name):
        return getattr(self.registry, name)

    def wait_for_events(self, after, **kwargs):
        with self.waited:
            self.afters.append(after)
            self.waited.notify_all()
        return self.registry.wait_for_events(after, **kwargs)


def test_the_watcher_reads_past_other_models_events(registry):
    """Events of other models do not match the watcher's filter; it must not read them again on
    every wait (a busy registry would make each wait scan more)."""
    spy = _Recording(registry)
    watcher = AliasWatcher(spy, "models:/fraud@champion", 1, lambda v: None, interval_s=HOUR)
    try:
        others = [registry.record_event("other.thing", f"models/other/{i}") for i in range(5)]
        with spy.waited:
            assert spy.waited.wait_for(
                lambda: bool(spy.afters) and spy.afters[-1] >= others[-1].id, 60
            )
    finally:
        watcher.close()


def test_by_default_events_are_followed_only_when_pushed(registry):
    watcher = AliasWatcher(registry, "models:/fraud@champion", 1, lambda v: None, interval_s=HOUR)
    try:
        assert watcher.events is registry.pushes_events
        pushed = is_remote_uri(registry.uri) or registry._db.dialect == "postgresql"
        assert watcher.events is pushed
    finally:
        watcher.close()


def test_a_server_swaps_on_the_event_of_an_alias_move(registry, rng):
    app = create_app(
        "models:/fraud@champion",
        registry=registry,
        trust_code=True,
        watch_interval_s=HOUR,
        max_queue_delay_us=500,
    )
    state = app.state.seawall
    if not registry.pushes_events:  # SQLite: the server polls, unless told to follow events
        assert [w.events for w in state.watchers] == [False]
        state.close()
        return
    body = {"records": records(transactions(rng, 3))}
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert set(
            http.post("/v1/models/fraud/predict", json=body).json()["outputs"]["version"]
        ) == {1}
        registry.set_alias("fraud", "champion", 2, reason="better")
        swapped = threading.Event()
        for _ in range(6000):  # polled here, not asserted on time: the server's poll is an hour
            if set(
                http.post("/v1/models/fraud/predict", json=body).json()["outputs"]["version"]
            ) == {2}:
                swapped.set()
                break
            swapped.wait(0.01)
        assert swapped.is_set(), "the server did not switch on the alias event"
    assert state.watchers[0].events and state.watchers[0].swaps == 1
    state.close()


class _PollOnly:
    """A registry that answers where an alias points, with no events."""

    def __init__(self) -> None:
        self.asked = threading.Semaphore(0)

    def resolve(self, uri: str):
        self.asked.release()

        class Version:
            version = 1

        return Version()


def test_a_registry_without_events_is_polled_as_before():
    registry = _PollOnly()
    watcher = AliasWatcher(registry, "models:/fraud@champion", 1, lambda v: None, interval_s=0.01)
    try:
        assert not watcher.events
        assert registry.asked.acquire(timeout=60)  # it polls
    finally:
        watcher.close()
    with pytest.raises(InvalidInputError, match="wait_for_events"):
        AliasWatcher(registry, "models:/fraud@champion", 1, lambda v: None, events=True)


class _Unreachable(_PollOnly):
    pushes_events = True

    def last_event_id(self) -> int:
        raise ConnectionError("the registry server is down")

    def wait_for_events(self, *args, **kwargs):
        raise ConnectionError("the registry server is down")


def test_a_registry_whose_events_fail_keeps_the_version_served(caplog):
    registry = _Unreachable()
    watcher = AliasWatcher(registry, "models:/fraud@champion", 1, lambda v: None, interval_s=0.01)
    try:
        assert watcher.events
        for _ in range(6000):
            if watcher.errors >= 2:
                break
            threading.Event().wait(0.01)
        assert watcher.errors >= 2
        assert watcher.version == 1 and watcher.swaps == 0
    finally:
        watcher.close()
    assert sum("cannot ask the registry" in r.getMessage() for r in caplog.records) == 1
