"""`seawall runs ...` and `seawall models ...`: the registry on the command line, as tables.

Importing this module loads click only; the registry (SQLAlchemy) and rich load when a command
runs. Every command takes --registry (or $SEAWALL_REGISTRY_URI) and --artifacts (or
$SEAWALL_ARTIFACTS_URI); with neither, the default registry under $SEAWALL_HOME. The registry
must exist: no command creates one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

registry_option = click.option(
    "--registry",
    "registry_uri",
    envvar="SEAWALL_REGISTRY_URI",
    help="Registry database: a SQLite path, sqlite:///... or postgresql://... "
    "[default: $SEAWALL_HOME/registry.db]",
)
artifacts_option = click.option(
    "--artifacts",
    "artifacts_uri",
    envvar="SEAWALL_ARTIFACTS_URI",
    help="Artifact store: a folder or s3://... [default: $SEAWALL_HOME/artifacts]",
)


def open_registry(registry_uri: str | None, artifacts_uri: str | None) -> Any:
    """The existing registry that --registry and --artifacts name (nothing is created: a typo
    in a path is an error, not a new empty registry), or a clean exit saying why not."""
    from ._registry import Registry

    try:
        return Registry(registry_uri, artifacts=artifacts_uri, create=False)
    except Exception as exc:  # a bad URI, an unreachable server: say so, without a traceback
        raise click.ClickException(f"cannot open the registry: {exc}") from None


def _command(fn: Callable[..., None]) -> Callable[..., None]:
    """Opens the registry for the command and turns seawall's errors into clean exits."""

    @registry_option
    @artifacts_option
    @wraps(fn)
    def wrapper(registry_uri: str | None, artifacts_uri: str | None, **kwargs: Any) -> None:
        from ..errors import SeawallError

        try:
            with open_registry(registry_uri, artifacts_uri) as reg:
                fn(reg, **kwargs)
        except SeawallError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def _console() -> Any:
    from rich.console import Console

    # Wide enough that ids and URIs are not folded when the output is not a terminal.
    return Console(width=None if sys.stdout.isatty() else 160)


def _when(t: float | None) -> str:
    return "" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _duration(start: float, end: float | None) -> str:
    if end is None:
        return "running"
    seconds = end - start
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def _pairs(d: dict[str, Any], limit: int = 4) -> str:
    items = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(d.items())]
    more = f" (+{len(items) - limit})" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


@click.group()
def runs() -> None:
    """Tracked runs: list and search them."""


@runs.command("list")
@click.option("--experiment", "-e", multiple=True, help="Experiment name (repeatable).")
@click.option("--filter", "-f", "filter_", help="e.g. \"metrics.auc > 0.8 and params.lr = '0.1'\"")
@click.option("--order-by", "-o", multiple=True, help='e.g. "metrics.auc DESC" (repeatable).')
@click.option(
    "--max-results",
    "-n",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Runs to list at most.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_command
def list_runs(
    reg: Any,
    experiment: tuple[str, ...],
    filter_: str | None,
    order_by: tuple[str, ...],
    max_results: int,
    as_json: bool,
) -> None:
    """List runs, newest first, or as --filter and --order-by say."""
    found = reg.search_runs(
        list(experiment) or None, filter=filter_, order_by=list(order_by), max_results=max_results
    )
    if as_json:
        rows = [
            {
                "run_id": r.id,
                "experiment": r.experiment,
                "name": r.name,
                "status": r.status,
                "start_time": r.start_time,
                "end_time": r.end_time,
                "params": r.params,
                "metrics": r.metrics,
                "tags": r.tags,
            }
            for r in found
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"{len(found)} run{'s' if len(found) != 1 else ''}")
    for column in ("run id", "experiment", "name", "status", "started", "duration"):
        table.add_column(column, no_wrap=True)
    table.add_column("metrics")
    table.add_column("params")
    for r in found:
        table.add_row(
            r.id,
            r.experiment,
            r.name or "",
            r.status,
            _when(r.start_time),
            _duration(r.start_time, r.end_time),
            _pairs(r.metrics),
            _pairs(r.params),
        )
    _console().print(table)


@click.group()
def models() -> None:
    """Registered models: list, show, promote, lineage."""


@models.command("list")
@_command
def list_models(reg: Any) -> None:
    """List registered models with their newest version and aliases."""
    from rich.table import Table

    found = reg.list_models()
    table = Table(title=f"{len(found)} model{'s' if len(found) != 1 else ''}")
    for column in ("model", "latest", "aliases", "updated", "description"):
        table.add_column(column)
    for m in found:
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(m.aliases.items()))
        table.add_row(m.name, str(m.latest_version or ""), aliases, _when(m.updated_at),
                      m.description or "")  # fmt: skip
    _console().print(table)


@models.command("show")
@click.argument("name")
@click.argument("version", required=False)
@_command
def show_model(reg: Any, name: str, version: str | None) -> None:
    """Show a model's versions, or one version (NAME VERSION, NAME ALIAS, or a models:/ URI)."""
    from rich.table import Table

    if version is None and not name.startswith("models:/"):
        model = reg.get_model(name)
        console = _console()
        console.print(f"[bold]{model.name}[/bold]  {model.description or ''}")
        if model.tags:
            console.print(f"tags: {_pairs(model.tags, 20)}")
        table = Table()
        for column in ("version", "created", "run id", "aliases", "description", "tags"):
            table.add_column(column)
        for v in reg.list_versions(name):
            table.add_row(
                str(v.version),
                _when(v.created_at),
                v.run_id or "",
                ", ".join(v.aliases),
                v.description or "",
                _pairs(v.tags),
            )
        console.print(table)
        return
    mv = reg.get_model_version(name, version)
    console = _console()
    console.print(f"[bold]{mv.uri}[/bold]  {mv.description or ''}")
    info = Table(show_header=False)
    info.add_column("field")
    info.add_column("value")
    for field, value in (
        ("created", _when(mv.created_at)),
        ("run", mv.run_id or ""),
        ("aliases", ", ".join(mv.aliases)),
        ("tags", _pairs(mv.tags, 20)),
        ("bundle manifest", mv.bundle_sha256),
        ("reference profile", mv.profile_sha256 or "none"),
    ):
        info.add_row(field, value)
    console.print(info)
    files = Table(title="bundle files")
    files.add_column("path")
    files.add_column("bytes", justify="right")
    files.add_column("sha256")
    for f in reg.bundle_manifest(mv.uri):
        files.add_row(f["path"], f"{f['size']:,}", f["sha256"])
    console.print(files)


@models.command("promote")
@click.argument("name")
@click.argument("version")
@click.option("--alias", "-a", default="champion", show_default=True, help="The alias to move.")
@click.option("--reason", "-r", help="Why (kept in the alias history).")
@_command
def promote(reg: Any, name: str, version: str, alias: str, reason: str | None) -> None:
    """Point ALIAS at VERSION (a number, "latest", or another alias), recording the move."""
    event = reg.set_alias(name, alias, version, reason=reason)
    before = "nothing" if event.previous_version is None else f"version {event.previous_version}"
    click.echo(f"{name}@{alias}: {before} -> version {event.version}")


@models.command("lineage")
@click.argument("name")
@click.argument("version", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the graph as JSON.")
@_command
def lineage(reg: Any, name: str, version: str | None, as_json: bool) -> None:
    """Datasets -> run -> version -> aliases and deployments, and the alias history.

    VERSION is a number, an alias or "latest"; NAME may also be a models:/ URI without VERSION.
    """
    from rich.table import Table
    from rich.tree import Tree

    if version is None and not name.startswith("models:/"):
        raise click.UsageError(
            f"name a version: seawall models lineage {name} 3, seawall models lineage {name} "
            f"champion (an alias), or seawall models lineage models:/{name}/3"
        )
    graph = reg.lineage(name, version)
    if as_json:
        click.echo(json.dumps(graph.to_dict(), indent=2))
        return
    mv = graph.of_kind("model_version")[0]
    tree = Tree(f"[bold]model {mv['model']} version {mv['version']}[/bold]")
    for run in graph.of_kind("run"):
        branch = tree.add(
            f"from run {run['run_id']} ({run['experiment']}, {run['status']}) "
            f"metrics: {_pairs(run['metrics'])}"
        )
        for edge in graph.edges:
            if edge["target"] == run["id"]:
                ds = graph.node(edge["source"])
                profile = ", profiled" if ds["profile_sha256"] else ""
                branch.add(
                    f"{edge['relation']} data {ds['name'] or ''} {ds['fingerprint'][:16]}… "
                    f"({ds['num_rows']:,} rows, {len(ds['schema'])} columns{profile})"
                )
    for alias in graph.of_kind("alias"):
        tree.add(f"alias [bold]{alias['alias']}[/bold]")
    for dep in graph.of_kind("deployment"):
        via = f" via @{dep['alias']}" if dep["alias"] else ""
        tree.add(f"deployed to {dep['target']}{via} at {_when(dep['at'])}")
    console = _console()
    console.print(tree)
    if graph.alias_history:
        table = Table(title="alias history")
        for column in ("when", "alias", "from", "to", "reason", "by"):
            table.add_column(column)
        for e in graph.alias_history:
            table.add_row(
                _when(e.at),
                e.alias,
                "" if e.previous_version is None else str(e.previous_version),
                "removed" if e.version is None else str(e.version),
                e.reason or "",
                e.actor or "",
            )
        console.print(table)
