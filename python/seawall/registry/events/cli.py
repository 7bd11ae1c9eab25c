"""`seawall events ...` and `seawall webhooks ...`: reading the registry's events, running the
webhook delivery, and managing webhook subscriptions.

Importing this module loads click only, as the other registry commands.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from typing import Any

import click

from ..cli import _command, _console, _when


@click.group()
def events() -> None:
    """The registry's events: list them, deliver them to webhooks, remove old ones."""


@events.command("list")
@click.option(
    "--after",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Events after this id.",
)
@click.option(
    "--type", "-t", "types", multiple=True, help="Event type, or e.g. 'alias.*' (repeatable)."
)
@click.option("--resource", help="e.g. models/fraud: its events and those under it.")
@click.option(
    "--limit",
    "-n",
    default=100,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Events to list at most.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@_command
def list_events(
    reg: Any, after: int, types: tuple[str, ...], resource: str | None, limit: int, as_json: bool
) -> None:
    """List events, oldest first."""
    found = reg.events(after, types=list(types) or None, resource=resource, limit=limit)
    if as_json:
        for e in found:
            click.echo(json.dumps(e.to_dict(), sort_keys=True))
        return
    from rich.table import Table

    table = Table(title=f"{len(found)} event{'s' if len(found) != 1 else ''}")
    for column in ("id", "when", "type", "resource", "payload"):
        table.add_column(column, no_wrap=column != "payload")
    for e in found:
        table.add_row(
            str(e.id), _when(e.at), e.type, e.resource, json.dumps(e.payload, sort_keys=True)[:200]
        )
    _console().print(table)


@events.command("deliver")
@click.option("--once", is_flag=True, help="One pass over the due webhooks, then exit.")
@click.option(
    "--timeout",
    "timeout_s",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds one POST may take.",
)
@click.option(
    "--max-backoff",
    "max_backoff_s",
    default=600.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="The longest wait between two tries of one event, in seconds.",
)
@_command
def deliver(reg: Any, once: bool, timeout_s: float, max_backoff_s: float) -> None:
    """Deliver events to the webhooks, until stopped (Ctrl-C or SIGTERM).

    Any number of these may run against one registry: each webhook is delivered by one at a
    time, and one that stops (or is killed) leaves nothing undelivered."""
    from .delivery import DeliveryWorker

    worker = DeliveryWorker(
        reg, timeout_s=timeout_s, max_backoff_s=max_backoff_s, lease_s=max(60.0, 3 * timeout_s)
    )
    if once:
        click.echo(f"delivered {worker.run_once()} event(s)")
        return
    stop = threading.Event()

    def stopping(signum: int, frame: object) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, stopping)
    click.echo(f"delivering the events of {reg.uri} to its webhooks (pid {os.getpid()})")
    try:
        worker.run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo(f"stopped; delivered {worker.delivered} event(s), {worker.failed} failed tries")


@events.command("prune")
@click.option(
    "--days",
    required=True,
    type=click.FloatRange(min=0),
    help="Remove events older than this many days.",
)
@_command
def prune(reg: Any, days: float) -> None:
    """Remove old events, except those a webhook has not delivered yet."""
    click.echo(f"removed {reg.prune_events(days * 86400.0)} event(s)")


@click.group()
def webhooks() -> None:
    """Webhook subscriptions to the registry's events: add, list, remove."""


@webhooks.command("add")
@click.argument("url")
@click.option(
    "--type",
    "-t",
    "types",
    multiple=True,
    help="Event type to send, or e.g. 'alias.*' (repeatable; default: every type).",
)
@click.option(
    "--secret-env",
    metavar="VAR",
    help="Take the signing secret from this environment variable (16 to 256 "
    "characters); without it, one is generated and printed once.",
)
@click.option("--description", "-d", help="What it is for.")
@_command
def add_webhook(
    reg: Any, url: str, types: tuple[str, ...], secret_env: str | None, description: str | None
) -> None:
    """Subscribe URL to the events from now on (signed POSTs of JSON)."""
    secret = None
    if secret_env is not None:
        secret = os.environ.get(secret_env)
        if not secret:
            raise click.UsageError(f"the environment variable {secret_env} is not set")
    hook = reg.add_webhook(url, list(types) or None, secret=secret, description=description)
    click.echo(f"webhook {hook.id}: {hook.url} ({', '.join(hook.types) or 'every event type'})")
    if secret is None:
        click.echo(f"signing secret (shown only now): {hook.secret}")


@webhooks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_command
def list_webhooks(reg: Any, as_json: bool) -> None:
    """List the webhooks and how their delivery stands."""
    found = reg.list_webhooks()
    if as_json:
        click.echo(json.dumps([h.to_dict() for h in found], indent=2))
        return
    from rich.table import Table

    table = Table(title=f"{len(found)} webhook{'s' if len(found) != 1 else ''}")
    for column in (
        "id",
        "url",
        "types",
        "delivered",
        "pending",
        "failed tries",
        "last error",
        "next try",
    ):
        table.add_column(column)
    for h in found:
        table.add_row(
            str(h.id),
            h.url,
            ", ".join(h.types) or "all",
            str(h.delivered),
            str(h.pending),
            str(h.attempts),
            h.last_error or "",
            _when(h.next_attempt_at) if h.attempts else "",
        )
    _console().print(table)


@webhooks.command("remove")
@click.argument("webhook_id", type=int)
@_command
def remove_webhook(reg: Any, webhook_id: int) -> None:
    """Remove webhook WEBHOOK_ID (what it has not delivered is not delivered)."""
    reg.remove_webhook(webhook_id)
    click.echo(f"webhook {webhook_id} removed")
