"""Registry server test setup: a server on loopback over a SQLite registry of the test's own
(``served``: its URL and the registry behind it), a client of it (``remote``), and a server
that notes the requests it answers (``counted``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_servers import registry_server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    with registry_server(tmp_path / "server") as pair:
        yield pair


@pytest.fixture
def remote(served: tuple[str, Any]) -> Iterator[Any]:
    from seawall.registry import Registry

    reg = Registry(served[0])
    reg.backing = served[1]
    yield reg
    reg.close()


@pytest.fixture
def counted(tmp_path: Path) -> Iterator[tuple[str, Any, list[tuple[str, str]]]]:
    """A registry server that notes each request it answers (method, path): its URL, the
    registry behind it and the requests."""
    from seawall._server.run import serve_in_thread
    from seawall.registry import Registry
    from seawall.registry_server import create_registry_app
    from seawall.registry_server.app import identify

    requests: list[tuple[str, str]] = []

    def noting(request: Any) -> Any:
        requests.append((request.method, request.url.path))
        return identify(request)

    backing = Registry(tmp_path / "registry.db", artifacts=tmp_path / "artifacts")
    try:
        with serve_in_thread(create_registry_app(backing, identify=noting)) as url:
            yield url, backing, requests
    finally:
        backing.close()
