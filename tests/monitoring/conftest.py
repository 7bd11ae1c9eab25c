"""Monitoring test setup: a private $SEAWALL_HOME, a SQLite registry, and the same on PostgreSQL
(the registry tests' throwaway server, loaded from their conftest), a webhook receiver."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from monitoring_helpers import Receiver


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Any]:
    from seawall.registry import Registry

    reg = Registry(tmp_path / "registry.db", artifacts=tmp_path / "artifacts")
    yield reg
    reg.close()


def _registry_conftest() -> Any:
    """The registry tests' conftest, for its throwaway PostgreSQL server."""
    path = Path(__file__).parents[1] / "registry" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_seawall_registry_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def monitoring_postgres() -> Iterator[Any]:
    module = _registry_conftest()
    bindir = module._postgres_bin()
    if bindir is None:
        reason = "PostgreSQL's server binaries are not installed: apt-get install postgresql"
        if os.environ.get("SEAWALL_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    pytest.importorskip("psycopg", reason="psycopg is in the test extra")
    server = module.PostgresServer(bindir)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    from seawall.registry import Registry

    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        uri = request.getfixturevalue("monitoring_postgres").create_database()
    reg = Registry(uri, artifacts=tmp_path / "artifacts")
    yield reg
    reg.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
