"""The `seawall` command line."""

from __future__ import annotations

import json

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
@click.option("--rows", default=500_000, show_default=True, help="Transactions to generate.")
def demo(rows: int) -> None:
    """Run the end-to-end demo on generated card transactions (no network needed)."""
    from . import demo as demo_module

    if rows < 2_000:
        raise click.BadParameter("the demo needs at least 2,000 rows", param_hint="--rows")
    demo_module.run(rows, echo=click.echo)
    click.echo("demo finished")


from .serving.cli import serve  # noqa: E402  (uvicorn and starlette load only when it runs)

main.add_command(serve)

from .registry.cli import models, runs  # noqa: E402  (SQLAlchemy and rich load only when they run)

main.add_command(runs)
main.add_command(models)

from .drift.cli import report  # noqa: E402  (rich and the drift code load only when it runs)

main.add_command(report)

from .dashboard.cli import ui  # noqa: E402  (starlette and uvicorn load only when it runs)

main.add_command(ui)
