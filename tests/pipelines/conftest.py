"""Pipeline test setup: a registry in the test's folder (opened directly, and through a registry
server on loopback), and one local Ray instance shared by the Ray tests of the session (started
only when a test asks for it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_servers import registry_server

HERE = Path(__file__).parent


@pytest.fixture(params=["local", "http"])
def reg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A registry in the test's folder, opened directly or through a registry server."""
    from seawall.registry import Registry

    if request.param == "http":
        with registry_server(tmp_path / "server") as (url, backing):
            registry = Registry(url)
            registry.backing = backing  # for store_of
            yield registry
            registry.close()
        return
    registry = Registry(tmp_path / "registry.db", tmp_path / "artifacts")
    yield registry
    registry.close()


@pytest.fixture
def meeting(tmp_path: Path) -> dict[str, str]:
    """Parameters of the ping and pong steps: where they meet, and the log of executions."""
    folder = tmp_path / "meet"
    folder.mkdir()
    return {"folder": str(folder), "log": str(tmp_path / "log")}


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A local Ray instance with two CPUs, on loopback, without the dashboard. Its workers find
    pipeline_steps.py (the steps the tests run) through PYTHONPATH."""
    ray = pytest.importorskip("ray", reason="the Ray tests need Ray: pip install 'seawall[ray]'")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=128 * 1024 * 1024,
        _node_ip_address="127.0.0.1",
        runtime_env={"env_vars": {"PYTHONPATH": str(HERE)}},
    )
    yield ray
    ray.shutdown()
