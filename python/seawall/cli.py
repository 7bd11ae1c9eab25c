"""The `seawall` command line."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
@click.version_option(package_name="seawall")
def main() -> None:
    """seawall: the machine-learning loop in production, with a compiled core."""


@main.command()
def info() -> None:
    """Show how seawall was built and what it sees (CUDA devices, SIMD, threads)."""
    import seawall

    click.echo(json.dumps(seawall.build_info(), indent=2))


@main.command()
@click.option(
    "--rows", default=100_000, show_default=True, help="Transactions per phase of the demo."
)
@click.option(
    "--folder",
    default="seawall-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where each run gets its own folder (registry, artifacts, drift report); created "
    "with its parents if missing.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def demo(rows: int, folder: str, quiet: bool) -> None:
    """Run the whole loop on generated card transactions, offline: train and register a model,
    serve it on loopback, send traffic, detect drift, retrain, promote, hot-swap, and write the
    drift report."""
    from .demo import run

    if rows < 5_000:
        raise click.BadParameter("the demo needs at least 5,000 rows", param_hint="--rows")
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(
            f"cannot create the demo folder {folder}: {exc.strerror or exc}"
        ) from None
    run(rows, folder=folder, echo=click.echo, progress=not quiet)
    click.echo("demo finished")


from .serving.cli import serve  # noqa: E402  (uvicorn and starlette load only when it runs)

main.add_command(serve)

from .registry.cli import models, runs  # noqa: E402  (SQLAlchemy and rich load only when they run)

main.add_command(runs)
main.add_command(models)

# Also adds delete, restore and purge to `runs` and `models`.
from .registry.cli_deletes import experiments, gc  # noqa: E402

main.add_command(experiments)
main.add_command(gc)

from .registry.events.cli import events, webhooks  # noqa: E402  (as the registry commands)

main.add_command(events)
main.add_command(webhooks)

from .registry.tokens_cli import tokens  # noqa: E402  (the registry loads only when it runs)

main.add_command(tokens)

from .drift.cli import report  # noqa: E402  (rich and the drift code load only when it runs)

main.add_command(report)

from .contracts.cli import schema_group, validate_command  # noqa: E402  (loads when it runs)

main.add_command(validate_command)
main.add_command(schema_group)

from .dashboard.cli import ui  # noqa: E402  (starlette and uvicorn load only when it runs)

main.add_command(ui)

from .bench.cli import bench  # noqa: E402  (the load generator and rich load only when it runs)

main.add_command(bench)

from .registry_server.cli import server  # noqa: E402  (the registry and uvicorn load when it runs)

main.add_command(server)


class _Deferred(click.Group):
    """A command group whose module is imported only when the group is used: importing
    seawall.monitoring loads the registry's database layer, which the other commands do not
    need at start-up."""

    def __init__(self, name: str, module: str, help: str) -> None:
        super().__init__(name, help=help)
        self._module = module  # which defines the group under the same name

    def _group(self) -> click.Group:
        import importlib

        group = getattr(importlib.import_module(self._module), self.name or "")
        assert isinstance(group, click.Group)
        return group

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._group().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._group().get_command(ctx, cmd_name)


main.add_command(
    _Deferred(
        "labels",
        "seawall.monitoring.cli",
        help="Delayed labels, joined to what the model server logged (seawall serve "
        "--log-payloads).",
    )
)
