"""Monitoring test setup: a SQLite registry, and the same on PostgreSQL (the session's throwaway
server, tests/conftest.py) and through a registry server on loopback, a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from monitoring_helpers import Receiver

from local_servers import registry_server


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Any]:
    from seawall.registry import Registry

    reg = Registry(tmp_path / "registry.db", artifacts=tmp_path / "artifacts")
    yield reg
    reg.close()


@pytest.fixture(params=["sqlite", "postgresql", "http"])
def any_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    from seawall.registry import Registry

    if request.param == "http":
        with registry_server(tmp_path / "server") as (url, _):
            reg = Registry(url)
            yield reg
            reg.close()
        return
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        uri = request.getfixturevalue("postgres_server").create_database()
    reg = Registry(uri, artifacts=tmp_path / "artifacts")
    yield reg
    reg.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
