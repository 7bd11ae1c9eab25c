"""A registry server's client sends the metric points its runs log in batches
(``seawall.registry.remote.metric_buffer``): a run's points cross in a few requests, the
client's reads see them, a send that fails is raised by the run's next write, its end or
``close()``, and the points still waiting are sent when the process exits."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from seawall import errors
from seawall.registry import Registry
from seawall.registry.remote import client as remote_client
from seawall.registry.remote import metric_buffer


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> None:
    """Points wait until something sends them (no send by the thread on its own)."""
    monkeypatch.setattr(metric_buffer, "SEND_AFTER_S", 3600.0)
    monkeypatch.setattr(metric_buffer, "POINTS_PER_SEND", 10**9)


def _points(rng: Any, n: int) -> list[tuple[str, float, int]]:
    keys = [f"m{i}" for i in range(int(rng.integers(1, 5)))]
    values = rng.normal(size=n) * 10.0 ** rng.integers(-3, 300, size=n)
    return [
        (str(rng.choice(keys)), float(v), int(s))
        for v, s in zip(values, rng.integers(0, 50, n), strict=True)
    ]


def _batches(requests: list[tuple[str, str]], run_id: str) -> int:
    return sum(1 for m, p in requests if m == "POST" and p.endswith(f"/runs/{run_id}/batch"))


def test_a_runs_points_cross_in_a_few_requests_and_its_reads_see_them(
    counted, held, rng, monkeypatch
):
    """Oracle: the points as logged, in order, against the history the server's own database
    holds and the client reads; one request per POINTS_PER_REQUEST points, not one per point."""
    url, backing, requests = counted
    per_request = int(rng.integers(50, 400))
    monkeypatch.setattr(metric_buffer, "POINTS_PER_REQUEST", per_request)
    points = _points(rng, int(rng.integers(per_request + 1, 4 * per_request)))
    with Registry(url) as reg:
        run = reg.start_run(experiment="batches")
        for key, value, step in points:
            run.log_metric(key, value, step=step)
        assert _batches(requests, run.id) == 0  # all waiting
        for key in {k for k, _, _ in points}:
            want = sorted(
                [(s, v) for k, v, s in points if k == key], key=lambda p: p[0]
            )  # by step, then in the order logged
            for found in (reg.metric_history(run.id, key), backing.metric_history(run.id, key)):
                assert [(m.step, m.value) for m in found] == want
        assert _batches(requests, run.id) == math.ceil(len(points) / per_request)
        newest = {}
        for key, value, step in points:
            if key not in newest or step >= newest[key][0]:
                newest[key] = (step, value)
        assert reg.get_run(run.id).metrics == {k: v for k, (_, v) in newest.items()}
        run.end()
    assert backing.get_run(run.id).status == "FINISHED"


def test_bad_points_raise_at_the_call_and_nothing_of_them_waits(counted, held):
    url = counted[0]
    with Registry(url) as reg, reg.start_run() as run:
        run.log_metric("ok", 1.0)
        with pytest.raises(errors.InvalidInputError, match="finite"):
            run.log_metric("bad", math.nan)
        with pytest.raises(errors.DTypeError):
            run.log_batch([("ok", 2.0), ("bad", "text")])
        assert [m.value for m in run.metric_history("ok")] == [1.0]
        assert run.metric_history("bad") == []


def test_the_first_write_after_another_write_is_sent_at_once(counted, held):
    """Writing to a run this client ended or deleted raises at the call, as locally; so does a
    handle of a run another client ended, which this client never wrote through."""
    url, backing, _ = counted
    with Registry(url) as reg:
        run = reg.start_run()
        run.log_metric("m", 1.0)  # waits
        reg.delete_run(run.id)  # sends it first
        with pytest.raises(errors.DeletedError):
            run.log_metric("m", 2.0)
        reg.restore_run(run.id)
        run.log_metric("m", 3.0)
        run.end()
        with pytest.raises(errors.RunClosedError):
            run.log_metric("m", 4.0)
        assert [m.value for m in backing.metric_history(run.id, "m")] == [1.0, 3.0]
        other = backing.start_run()
        other.end()
        with pytest.raises(errors.RunClosedError):
            reg.get_run(other.id).log_metric("m", 1.0)


def test_points_a_run_ended_elsewhere_refuses_are_raised_by_its_end(counted, held):
    url, backing, _ = counted
    reg = Registry(url)
    run = reg.start_run()
    run.log_metric("m", 1.0)
    run.log_metric("m", 2.0)
    backing.get_run(run.id).end("KILLED")  # another process ends it meanwhile
    with pytest.raises(errors.RunClosedError, match=f"2 metric point.*run {run.id}.*not written"):
        run.end()
    assert backing.get_run(run.id).status == "KILLED"
    assert backing.metric_history(run.id, "m") == []
    reg.close()  # raised once: nothing left to raise


def test_a_failed_send_is_raised_by_the_runs_next_write_or_by_close(counted, held):
    url, backing, _ = counted
    reg = Registry(url)
    run = reg.start_run()
    run.log_metric("m", 1.0)
    backing.delete_run(run.id)
    reg.list_experiments()  # any call sends the waiting point first
    with pytest.raises(errors.DeletedError, match="1 metric point"):
        run.log_metric("m", 2.0)
    lost = reg.start_run()
    lost.log_metric("m", 1.0)
    backing.delete_run(lost.id)
    with pytest.raises(errors.DeletedError, match=f"run {lost.id}"):
        reg.close()
    reg.close()


def test_a_run_whose_points_were_lost_ends_failed(counted, held, monkeypatch):
    """A send that fails while the run still runs (the server out of reach for longer than the
    client retries): its end raises that error and ends it FAILED, not FINISHED."""
    url, backing, _ = counted
    sends = []

    def unreachable_once(transport: Any, run_id: str, rows: list[Any]) -> None:
        sends.append(len(rows))
        if len(sends) == 1:
            raise errors.RegistryUnavailableError("cannot reach the registry server (test)")
        real(transport, run_id, rows)

    real = remote_client._points_through
    monkeypatch.setattr(remote_client, "_points_through", unreachable_once)
    reg = Registry(url)
    with pytest.raises(errors.RegistryUnavailableError, match="3 metric point"):
        with reg.start_run() as run:
            for i in range(3):
                run.log_metric("m", float(i))
    assert backing.get_run(run.id).status == "FAILED"
    assert run.status == "FAILED"
    reg.close()


def test_waiting_points_are_bounded(counted, held, monkeypatch, rng):
    url = counted[0]
    most = int(rng.integers(5, 40))
    monkeypatch.setattr(metric_buffer, "MAX_WAITING", most)
    with Registry(url) as reg, reg.start_run() as run:
        for i in range(3 * most):
            run.log_metric("m", float(i))
            assert reg._metrics._count < most
        assert len(run.metric_history("m")) == 3 * most


def test_the_points_still_waiting_are_sent_when_the_process_exits(served, tmp_path):
    """A process that logs points and exits without ending its run or closing its registry."""
    url, backing = served
    script = textwrap.dedent(
        f"""
        from seawall.registry import Registry
        from seawall.registry.remote import metric_buffer
        metric_buffer.SEND_AFTER_S = 3600.0
        reg = Registry({url!r})
        run = reg.start_run(experiment="exiting")
        for i in range(250):
            run.log_metric("m", float(i), step=i)
        print(run.id)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=os.environ, timeout=120
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert [m.value for m in backing.metric_history(run_id, "m")] == [float(i) for i in range(250)]
