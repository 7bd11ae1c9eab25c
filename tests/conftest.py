"""Shared pytest setup: fresh random seeds that are printed (and replayable), hypothesis settings,
a guard that restores the native thread count after each test that changes it, a private
$SEAWALL_HOME per test, and one throwaway PostgreSQL server for the session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from local_servers import PostgresServer, postgres_bin

# Hypothesis draws fresh examples every run; deadline=None because the first call of a native
# kernel (thread pool start-up) can be slow. `HYPOTHESIS_PROFILE=thorough` runs more examples.
settings.register_profile(
    "seawall",
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", parent=settings.get_profile("seawall"), max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "seawall"))


@pytest.fixture(autouse=True)
def seawall_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Nothing a test does reaches ~/.seawall: a default Registry(), the cache of resolved
    bundles and the CLI's defaults all land in a folder of this test's own (beside tmp_path,
    not in it, so tests may check what tmp_path holds)."""
    home = tmp_path_factory.mktemp("seawall-home")
    monkeypatch.setenv("SEAWALL_HOME", str(home))
    monkeypatch.delenv("SEAWALL_REGISTRY_URI", raising=False)
    monkeypatch.delenv("SEAWALL_ARTIFACTS_URI", raising=False)
    return home


@pytest.fixture
def seed() -> int:
    """A fresh seed per test, printed so a failure can be replayed with SEAWALL_TEST_SEED=<seed>.

    pytest shows captured output (this line) in the report of a failing test.
    """
    fixed = os.environ.get("SEAWALL_TEST_SEED")
    value = int(fixed) if fixed else int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    print(f"random seed: {value}  (replay with SEAWALL_TEST_SEED={value})")
    return value


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture
def restore_threads():
    """Puts the native thread count back to what it was, whatever the test set."""
    import seawall

    before = seawall.get_num_threads()
    yield
    seawall.set_num_threads(before)


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` skip at two levels, as FAISS and XGBoost do: when seawall was built
    without CUDA, and when it was but no device is visible. Each skip says which."""
    import seawall

    info = seawall.build_info()
    if not info["cuda_built"]:
        reason = "seawall was built without CUDA"
    elif info["cuda_devices"] == 0:
        reason = "seawall has CUDA but no CUDA device is visible"
    else:
        return
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def cli_app(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``cli_app(args)``: the ASGI app that ``seawall ARGS`` would serve (the server commands'
    seawall._server.run.run is caught instead of run), and what the command printed."""
    from click.testing import CliRunner

    import seawall._server.run
    from seawall.cli import main

    def serve(args: list[str]) -> tuple[Any, str]:
        served = []
        monkeypatch.setattr(seawall._server.run, "run", lambda app, **kwargs: served.append(app))
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        (app,) = served
        return app, result.output

    return serve


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on loopback for the whole session, started when a test first asks.
    Without its binaries the tests that need it skip, saying so, unless
    SEAWALL_REQUIRE_POSTGRES=1 (set by .ci/run), where they fail instead."""
    bindir = postgres_bin()
    if bindir is None:
        reason = (
            "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: "
            "apt-get install postgresql"
        )
        if os.environ.get("SEAWALL_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    pytest.importorskip("psycopg", reason="psycopg is in the test extra")
    server = PostgresServer(bindir)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    yield server
    server.stop()
