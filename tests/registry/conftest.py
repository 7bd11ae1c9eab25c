"""Registry test setup: registries on SQLite, on the session's throwaway PostgreSQL server
(the `postgres_server` fixture of tests/conftest.py), and over HTTP through a real
`seawall server` app on loopback (uvicorn, in a thread) backed by a SQLite registry of the
test's own.

Tests that take the `registry_uri` or `reg` fixture run against all three. A test about the
local database itself (migrations, its SQL, its files) is marked
``@pytest.mark.local_registry("why")`` and skips the HTTP case, saying why. Without
PostgreSQL's binaries the PostgreSQL cases skip, saying so, unless SEAWALL_REQUIRE_POSTGRES=1
(set by .ci/run), where they fail instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_servers import registry_server


@pytest.fixture
def postgres_uri(postgres_server: Any) -> str:
    return postgres_server.create_database()


@pytest.fixture
def sqlite_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def server_registry(tmp_path: Path) -> Iterator[Any]:
    """A registry server on loopback over a SQLite registry in tmp_path/server: its URL, and
    the registry behind it."""
    with registry_server(tmp_path / "server") as served:
        yield served


@pytest.fixture(params=["sqlite", "postgresql", "http"])
def registry_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    if request.param == "http":
        local = request.node.get_closest_marker("local_registry")
        if local is not None:
            pytest.skip(f"not over HTTP: {local.args[0]}")
        return str(request.getfixturevalue("server_registry")[0])
    return str(request.getfixturevalue("postgres_uri"))


@pytest.fixture
def reg(registry_uri: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[object]:
    from seawall.registry import Registry

    if registry_uri.startswith("http"):
        registry = Registry(registry_uri)  # its artifacts are the server's
        registry.backing = request.getfixturevalue("server_registry")[1]  # for store_of
    else:
        registry = Registry(registry_uri, artifacts=tmp_path / "artifacts")
    yield registry
    registry.close()
