"""`seawall serve`: a bundle (a directory or a models:/ registry URI) over HTTP, with uvicorn.

With ``--dashboard`` the dashboard is served at ``/ui`` too (``create_app(dashboard=True)``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from .._server.options import authenticator, check_exposure, pop_server_options, server_options
from ..registry.cli import artifacts_option, open_registry, registry_option
from .traffic_options import pop_traffic_policy, traffic_options

_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/@]+)|@(?P<alias>[^/@]+))?/?$")


def resolve(target: str, reg: Any = None) -> tuple[Path, str | None, str | None]:
    """A bundle directory for `target`, with the name and version a models:/ URI gives (from
    `reg`, default the default registry)."""
    if not target.startswith("models:/"):
        return Path(target), None, None
    match = _URI.match(target)
    if match is None:
        raise click.BadParameter(
            f"{target!r} is not models:/NAME/VERSION or models:/NAME@ALIAS", param_hint="TARGET"
        )
    from .. import registry

    try:
        resolve_bundle = registry.resolve_bundle
    except AttributeError:
        raise click.ClickException(
            f"cannot resolve {target}: models:/ URIs go through seawall.registry.resolve_bundle, "
            "which this seawall does not have. Pass a bundle directory instead"
        ) from None
    except ImportError as exc:
        raise click.ClickException(
            f"cannot resolve {target}: the registry needs its dependencies ({exc})"
        ) from exc
    from ..errors import SeawallError

    try:
        path = resolve_bundle(target, registry=reg)
    except (SeawallError, OSError) as exc:
        raise click.ClickException(f"cannot resolve {target}: {exc}") from exc
    version = match["version"]
    if version is None:
        # An alias: serve under the version number it points to now (it may move later; this
        # server keeps what it loaded).
        try:
            if reg is not None:
                version = str(reg.resolve(target).version)
            else:
                with registry.Registry() as default:
                    version = str(default.resolve(target).version)
        except (SeawallError, OSError, AttributeError, ImportError):
            version = None
    return Path(path), match["name"], version


def _sizes(ctx: Any, param: Any, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        sizes = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter("give batch sizes as 4,8,16") from None
    return sizes or None


def _payload_log(options: dict[str, Any]) -> Any:
    """The PayloadLog of --log-payloads (None without it); takes its options out of `options`."""
    folder = options.pop("log_payloads")
    sample = options.pop("payload_sample")
    errors_only = options.pop("payload_errors_only")
    if folder is None:
        if sample is not None or errors_only:
            raise click.UsageError("--payload-sample and --payload-errors-only need --log-payloads")
        return None
    from ..errors import SeawallError
    from .payload_log import PayloadLog

    try:
        return PayloadLog(folder, sample=1.0 if sample is None else sample, errors_only=errors_only)
    except SeawallError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.argument("target", metavar="PATH_OR_URI")
@server_options(port=8000)
@click.option("--name", default=None, help="Serve under this model name (default: the bundle's).")
@click.option(
    "--model-version", default=None, help="Serve as this version (default: the bundle's)."
)
@click.option(
    "--max-batch-size",
    default=64,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most rows per model call; larger requests go in parts.",
)
@click.option(
    "--max-queue-delay-us",
    default=None,
    type=click.IntRange(min=0),
    help="Longest a request waits for a batch to fill.",
)
@click.option(
    "--preferred-batch-sizes",
    default=None,
    callback=_sizes,
    help="Batch sizes to prefer, e.g. 8,16,32.",
)
@click.option(
    "--max-queue-size",
    default=None,
    type=click.IntRange(min=1),
    help="Queued requests past which new ones get 503.",
)
@click.option(
    "--timeout-us",
    "default_timeout_us",
    default=None,
    type=click.IntRange(min=1),
    help="Longest a request may wait in the queue.",
)
@click.option(
    "--priority-levels",
    default=None,
    type=click.IntRange(min=1),
    help="Priority levels of the queue: a request's 'priority' parameter, 0 the highest.",
)
@click.option(
    "--instances",
    default=None,
    type=click.IntRange(min=1),
    help="Model calls that may run at once.",
)
@click.option(
    "--profile-max-bytes",
    default=64 << 20,
    show_default=True,
    type=click.IntRange(min=1),
    help="Bytes of live-profile slices kept per model (the oldest go first).",
)
@click.option(
    "--trust-code",
    is_flag=True,
    help="Allow bundles whose model is a pickled Python object (loading runs code).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    help="Least severe log messages shown (uvicorn's and seawall's: hot swaps, model errors).",
)
@click.option(
    "--model-control",
    default="none",
    show_default=True,
    type=click.Choice(["none", "explicit"]),
    help="explicit: load no model at start; models load and unload through "
    "POST /v2/repository/models/NAME/load and /unload (Triton's model control modes).",
)
@registry_option
@artifacts_option
@click.option(
    "--dashboard",
    is_flag=True,
    help="Also serve the dashboard (as seawall ui does) at /ui, over the same registry.",
)
@traffic_options
@click.option(
    "--log-payloads",
    default=None,
    type=click.Path(file_okay=False),
    help="Log requests and answers to rotating Parquet files in this folder (a folder per "
    "model), for seawall labels join.",
)
@click.option(
    "--payload-sample",
    default=None,
    type=click.FloatRange(0, 1),
    help="Share of requests to log, by request id (default 1: all).",
)
@click.option(
    "--payload-errors-only", is_flag=True, help="Log only requests answered with an error."
)
@click.pass_context
def serve(
    ctx: click.Context,
    target: str,
    name: str | None,
    model_version: str | None,
    log_level: str,
    trust_code: bool,
    registry_uri: str | None,
    artifacts_uri: str | None,
    dashboard: bool,
    **options: Any,
) -> None:
    """Serve a model bundle with the Open Inference Protocol (KServe v2) over HTTP.

    PATH_OR_URI is a bundle directory or a registry URI, models:/NAME/VERSION or
    models:/NAME@ALIAS (in the registry of --registry and --artifacts). Endpoints:
    /v2/models/NAME/infer, /v1/models/NAME/predict (raw records), /v2/health/ready, /metrics,
    and with --dashboard the dashboard at /ui; Triton's /v2/models/NAME/config and /stats and
    its model repository extension (/v2/repository/index, and with --model-control explicit
    .../models/NAME/load and /unload). Each model is warmed up before it serves. It listens on
    loopback unless --host says otherwise (which needs --auth registry or --auth-tokens FILE:
    tokens whose scopes allow each route group, or --insecure).

    Traffic policies split the requests between registry versions: --canary gives one a share,
    --shadow copies them to one off the request path, --sticky keeps a key on one arm, and
    --rollback-if / --promote-if move the aliases by rules over each arm's figures (see
    /v2/models/NAME/traffic).
    """
    server = pop_server_options(options)
    check_exposure(server, "seawall serve")
    traffic = pop_traffic_policy(options)
    options["payload_log"] = _payload_log(options)
    host, port = server.host, server.port
    options["max_body_bytes"] = server.limits.max_body_bytes
    try:
        from .._server.run import run
        from .app import create_app
    except ImportError as exc:
        raise click.ClickException(
            f"serving needs starlette and uvicorn, which seawall installs: reinstall it ({exc})"
        ) from exc
    from ..bundles import load_bundle
    from ..errors import SeawallError

    from_registry = target.startswith("models:/")
    if traffic is not None and not from_registry:
        raise click.UsageError(
            "a traffic policy's arms are registry versions: serve a models:/ URI"
        )
    needs_registry = from_registry or dashboard or server.auth == "registry"
    if not needs_registry:
        for param in ("registry_uri", "artifacts_uri"):
            if ctx.get_parameter_source(param) == ParameterSource.COMMANDLINE:
                flag = "--" + param.split("_")[0]
                raise click.UsageError(
                    f"{flag} is for a models:/ URI, --dashboard or --auth registry"
                )
    reg = open_registry(registry_uri, artifacts_uri) if needs_registry else None
    options["auth"] = authenticator(server, lambda: reg)
    path, uri_name, uri_version = resolve(target, reg)
    try:
        if from_registry:
            # Served from the registry: an alias is followed (hot swap when it moves).
            app = create_app(
                target,
                name=name,
                version=model_version,
                trust_code=trust_code,
                registry=reg,
                dashboard=dashboard,
                traffic=traffic,
                **options,
            )
        else:
            explicit = options["model_control"] == "explicit"  # the bundle loads when asked
            bundle = path if explicit else load_bundle(path, trust_code=trust_code)
            app = create_app(
                bundle,
                name=name or uri_name,
                version=model_version or uri_version,
                trust_code=trust_code,
                registry=reg,
                dashboard=dashboard,
                **options,
            )
    except (SeawallError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    if "@" in target:
        click.echo(f"following {target}: a new version is served as soon as the alias moves")
    served = app.state.seawall.models
    base = f"{server.scheme}://{host}:{port}"
    if options["model_control"] == "explicit":
        click.echo(
            f"model control explicit: load models with POST {base}/v2/repository/models/NAME/load"
        )
    for model in served.values():
        version = f" version {model.version}" if model.version is not None else ""
        click.echo(f"serving {model.name!r}{version} from {path} on {base}")
    for router in app.state.seawall.traffic.values():
        for arm in router.arm_names()[1:]:
            version = router.version_of(arm)
            share = router.share if arm == "canary" else router.shadow_share
            what = "of requests" if arm == "canary" else "of requests copied, off the request path"
            if arm == "shadow":
                where = "a worker process" if router.policy.shadow_process else "server threads"
                what += f", answered on {where}"
            loaded = f"version {version}" if version is not None else "not loaded yet"
            click.echo(f"{arm} {getattr(router.policy, arm)} ({loaded}): {share:g}% {what}")
    if reg is not None and dashboard:
        click.echo(f"dashboard on {base}/ui/ (registry {reg.uri})")
    if options["auth"] is not None:
        source = "the registry" if server.auth == "registry" else server.auth_tokens
        click.echo(f"checking tokens against {source}: health probes only are open")
    run(  # seawall's own log messages (hot swaps, model failures) show at --log-level too
        app,
        host=host,
        port=port,
        what="seawall serve",
        limits=server.limits,
        access_log=server.access_log,
        log_level=log_level,
        authenticated=options["auth"] is not None,
        ssl_certfile=server.ssl_certfile,
        ssl_keyfile=server.ssl_keyfile,
    )
