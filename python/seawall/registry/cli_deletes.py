"""`seawall runs|models|experiments delete|restore|purge` and `seawall gc`: deleting, and garbage
collection of the artifact store, on the command line (see ``_deletes.py`` and ``_gc.py``).

The delete, restore and purge commands join the ``runs`` and ``models`` groups of ``cli.py``;
``experiments`` and ``gc`` are added to the main command there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import click

from .cli import _command, models, runs

_reason = click.option("--reason", "-r", help="Why (kept in the deletion record).")
_purge = click.option(
    "--purge",
    is_flag=True,
    help="Then delete permanently (cannot be restored; gc frees the bytes).",
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def _seconds(ctx: click.Context, param: click.Parameter, value: str) -> float:
    match = _DURATION.match(value)
    if match is None:
        raise click.BadParameter(f"{value!r} is not a duration such as 0, 90s, 30m, 1h or 2d")
    return float(match[1]) * _UNITS[match[2]]


def _done(record: Any) -> None:
    verb = {"delete": "deleted", "restore": "restored", "purge": "purged"}[record.action]
    why = f" ({record.reason})" if record.reason else ""
    click.echo(f"{verb} {record.target}{why}")


def _delete_then_purge(delete: Callable[..., Any], purge: Callable[..., Any], *args: Any,
                       reason: str | None, then_purge: bool) -> None:  # fmt: skip
    _done(delete(*args, reason=reason))
    if then_purge:
        _done(purge(*args, reason=reason))


# --- runs -------------------------------------------------------------------------------------


@runs.command("delete")
@click.argument("run_ids", nargs=-1, required=True)
@_reason
@_purge
@_command
def delete_runs(reg: Any, run_ids: tuple[str, ...], reason: str | None, purge: bool) -> None:
    """Delete runs (hidden until restored; with --purge, for good)."""
    for run_id in run_ids:
        _delete_then_purge(reg.delete_run, reg.purge_run, run_id, reason=reason, then_purge=purge)


@runs.command("restore")
@click.argument("run_ids", nargs=-1, required=True)
@_reason
@_command
def restore_runs(reg: Any, run_ids: tuple[str, ...], reason: str | None) -> None:
    """Restore deleted runs."""
    for run_id in run_ids:
        _done(reg.restore_run(run_id, reason=reason))


@runs.command("purge")
@click.argument("run_ids", nargs=-1, required=True)
@_reason
@_command
def purge_runs(reg: Any, run_ids: tuple[str, ...], reason: str | None) -> None:
    """Delete deleted runs permanently: params, metrics, tags and artifacts go; lineage stays."""
    for run_id in run_ids:
        _done(reg.purge_run(run_id, reason=reason))


# --- experiments ------------------------------------------------------------------------------


@click.group()
def experiments() -> None:
    """Experiments: delete, restore, purge."""


@experiments.command("delete")
@click.argument("name")
@_reason
@_purge
@_command
def delete_experiment(reg: Any, name: str, reason: str | None, purge: bool) -> None:
    """Delete an experiment and hide its runs (with --purge, for good)."""
    _delete_then_purge(
        reg.delete_experiment, reg.purge_experiment, name, reason=reason, then_purge=purge
    )


@experiments.command("restore")
@click.argument("name")
@_reason
@_command
def restore_experiment(reg: Any, name: str, reason: str | None) -> None:
    """Restore a deleted experiment, with its runs."""
    _done(reg.restore_experiment(name, reason=reason))


@experiments.command("purge")
@click.argument("name")
@_reason
@_command
def purge_experiment(reg: Any, name: str, reason: str | None) -> None:
    """Delete a deleted experiment permanently, with every run in it."""
    _done(reg.purge_experiment(name, reason=reason))


# --- models -----------------------------------------------------------------------------------


def _model(reg: Any, action: str, name: str, version: str | None, reason: str | None) -> None:
    """delete, restore or purge a model (NAME), or one version (NAME VERSION, a models:/ URI)."""
    if version is None and not name.startswith("models:/"):
        _done(getattr(reg, f"{action}_model")(name, reason=reason))
    else:
        _done(getattr(reg, f"{action}_model_version")(name, version, reason=reason))


@models.command("delete")
@click.argument("name")
@click.argument("version", required=False)
@_reason
@_purge
@_command
def delete_model(reg: Any, name: str, version: str | None, reason: str | None, purge: bool) -> None:
    """Delete a model, or one VERSION of it (refused while an alias points to it)."""
    _model(reg, "delete", name, version, reason)
    if purge:
        _model(reg, "purge", name, version, reason)


@models.command("restore")
@click.argument("name")
@click.argument("version", required=False)
@_reason
@_command
def restore_model(reg: Any, name: str, version: str | None, reason: str | None) -> None:
    """Restore a deleted model, or one deleted VERSION of it."""
    _model(reg, "restore", name, version, reason)


@models.command("purge")
@click.argument("name")
@click.argument("version", required=False)
@_reason
@_command
def purge_model(reg: Any, name: str, version: str | None, reason: str | None) -> None:
    """Delete a deleted model (or VERSION) permanently; its audit and lineage stay."""
    _model(reg, "purge", name, version, reason)


@models.command("delete-alias")
@click.argument("name")
@click.argument("alias")
@_reason
@_command
def delete_alias(reg: Any, name: str, alias: str, reason: str | None) -> None:
    """Remove ALIAS (recorded in the alias history, with who and why)."""
    event = reg.delete_alias(name, alias, reason=reason)
    click.echo(f"{name}@{alias}: version {event.previous_version} -> removed")


@models.command("restore-alias")
@click.argument("name")
@click.argument("alias")
@_reason
@_command
def restore_alias(reg: Any, name: str, alias: str, reason: str | None) -> None:
    """Point a deleted ALIAS back at the version it had."""
    event = reg.restore_alias(name, alias, reason=reason)
    click.echo(f"{name}@{alias}: removed -> version {event.version}")


# --- gc ---------------------------------------------------------------------------------------


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Report what would be removed; remove nothing.")
@click.option(
    "--min-age",
    default="1h",
    show_default=True,
    callback=_seconds,
    help="Keep unreferenced objects younger than this (0 for none).",
)
@click.option(
    "--stale-after",
    default="1h",
    show_default=True,
    callback=_seconds,
    help="Temporary uploads, and runs of other hosts without a heartbeat, older than this "
    "were left by killed processes.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_command
def gc(reg: Any, dry_run: bool, min_age: float, stale_after: float, as_json: bool) -> None:
    """Remove the artifacts nothing references (deleted runs and versions, once purged), stale
    temporary uploads, and mark KILLED the runs whose process is gone. Safe while others write."""
    report = reg.gc(dry_run=dry_run, min_age=min_age, stale_after=stale_after)
    if as_json:
        click.echo(json.dumps(asdict(report)))
    else:
        click.echo(report.summary())
