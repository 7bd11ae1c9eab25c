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
