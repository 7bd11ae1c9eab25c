"""Registry server test setup: a server on loopback over a SQLite registry of the test's own
(``served``: its URL and the registry behind it) and a client of it (``remote``)."""

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
