"""Registry test setup: registries on SQLite and on the session's throwaway PostgreSQL server
(the `postgres_server` fixture of tests/conftest.py).

Tests that take the `registry_uri` or `reg` fixture run against SQLite and PostgreSQL. Without
PostgreSQL's binaries the PostgreSQL cases skip, saying so, unless SEAWALL_REQUIRE_POSTGRES=1
(set by .ci/run), where they fail instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def postgres_uri(postgres_server: Any) -> str:
    return postgres_server.create_database()


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    return request.getfixturevalue("postgres_uri")


@pytest.fixture
def reg(registry_uri: str, tmp_path: Path) -> Iterator[object]:
    from seawall.registry import Registry

    registry = Registry(registry_uri, artifacts=tmp_path / "artifacts")
    yield registry
    registry.close()
