"""The Ray executor given a ``ray://`` address: a pipeline driven from another process through
Ray Client, against a real Ray head node started by this module on loopback (``ray start --head``)
and stopped after it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_servers import free_port

HERE = Path(__file__).parent

# The pipeline run from a separate driver process, as a user's script would: it prints what ran,
# the result and the oracle, and where each step ran.
DRIVER = """
import json, os, sys
import numpy as np
from pipeline_steps import DIAMOND, both, diamond_oracle, ping, pong, raw_table
from seawall.pipelines import Pipeline
from seawall.registry import Registry

address, folder, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
reg = Registry(os.path.join(folder, "registry.db"), os.path.join(folder, "artifacts"))
raw = raw_table(np.random.default_rng(seed))
params = {"raw": raw, "log": os.path.join(folder, "log")}
first = Pipeline("diamond", DIAMOND).run(params, registry=reg, executor=address)
again = Pipeline("diamond", DIAMOND).run(params, registry=reg, executor=address)
meet = os.path.join(folder, "meet")
os.mkdir(meet)
overlap = Pipeline("overlap", [ping, pong, both]).run(
    {"folder": meet, "log": os.path.join(folder, "log2")}, registry=reg, executor=address
)
print(json.dumps({
    "executed": first.executed,
    "again": again.executed,
    "joined": first["joined"],
    "oracle": diamond_oracle(raw),
    "executor_tag": reg.get_run(first.run_id).tags["seawall.executor"],
    "overlap_pids": overlap["both"],
    "driver_pid": os.getpid(),
}))
"""


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    # The steps' module must import on the cluster's workers and in the driver.
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # A throwaway cluster on loopback: no token to hand around (Ray enables token
    # authentication by default; a real cluster's users set RAY_AUTH_TOKEN instead).
    env["RAY_AUTH_MODE"] = "disabled"
    env.pop("RAY_ADDRESS", None)
    return env


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """A Ray head node with a Ray Client server, in its own temporary folder; yields ray://."""
    pytest.importorskip("ray", reason="the Ray tests need Ray: pip install 'seawall[ray]'")
    pytest.importorskip("grpc", reason="ray:// needs Ray Client: pip install 'seawall[ray]'")
    ray_cli = Path(sys.executable).with_name("ray")
    if not ray_cli.exists():
        pytest.skip("the ray command is not installed beside this Python")
    client_port = free_port()
    temp = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # Ray's socket paths must stay short
    log = Path(temp) / "head.log"
    with log.open("w") as out:
        head = subprocess.Popen(
            [
                str(ray_cli), "start", "--head", "--block",
                f"--port={free_port()}",
                f"--ray-client-server-port={client_port}",
                "--node-ip-address=127.0.0.1",
                "--num-cpus=2",
                "--object-store-memory=134217728",
                "--include-dashboard=false",
                "--disable-usage-stats",
                f"--temp-dir={temp}",
            ],
            env=_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            if head.poll() is not None:
                pytest.fail(f"ray start --head exited: {log.read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", client_port)) == 0:
                    break
            if time.monotonic() > deadline:
                pytest.fail("the Ray head node did not open its client port within 60 s")
            time.sleep(0.2)
        yield f"ray://127.0.0.1:{client_port}"
    finally:
        head.terminate()  # --block: the head stops its processes on SIGTERM
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def test_a_pipeline_runs_on_a_cluster_given_by_ray_address(ray_head, tmp_path, seed) -> None:
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, ray_head, str(tmp_path), str(seed)],
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["executed"] == ["clean", "left", "right", "joined"]
    assert out["again"] == []  # cached, as on any other executor
    assert out["joined"] == pytest.approx(out["oracle"])
    assert out["executor_tag"] == "ray"
    # The two steps that wait for each other ran at the same time, in two workers of the
    # cluster, neither of them the driver.
    pids = out["overlap_pids"]
    assert len(set(pids)) == 2 and out["driver_pid"] not in pids


class FlakyRay:
    """Stands in for the ray module: init fails `failures` times with Ray Client's error."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[str | None] = []

    def init(self, address: str | None, **options: object) -> None:
        self.calls.append(address)
        if len(self.calls) <= self.failures:
            raise ConnectionAbortedError("Initialization failure from server: ZombieProcess")


def test_ray_client_connections_are_retried_and_the_last_error_kept(monkeypatch) -> None:
    from seawall.pipelines import _executors

    monkeypatch.setattr(_executors.time, "sleep", lambda s: None)
    address = "ray://127.0.0.1:10001"
    ray = FlakyRay(failures=_executors.RAY_CLIENT_ATTEMPTS - 1)
    _executors.connect_ray(ray, address)
    assert ray.calls == [address] * _executors.RAY_CLIENT_ATTEMPTS
    ray = FlakyRay(failures=_executors.RAY_CLIENT_ATTEMPTS)
    with pytest.raises(ConnectionAbortedError, match="ZombieProcess"):
        _executors.connect_ray(ray, address)
    assert len(ray.calls) == _executors.RAY_CLIENT_ATTEMPTS
    # A local instance or an address without ray:// is not Ray Client: one attempt.
    for local in (None, "127.0.0.1:6379"):
        ray = FlakyRay(failures=1)
        with pytest.raises(ConnectionAbortedError):
            _executors.connect_ray(ray, local)
        assert ray.calls == [local]
