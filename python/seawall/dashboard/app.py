"""The dashboard: a Starlette app of server-rendered pages over a registry and live monitors.

Pages (every link is relative to where the app is mounted):

    /                                         models, their aliases and drift; open alerts; runs
    /models/{name}                            versions, aliases and their history, drift over
                                              time per feature, quality, predictions, alerts
    /models/{name}/versions/{v}               one version and its lineage
    /models/{name}/features/{feature}         a feature's drift over time, and the reference and
                                              window distributions (?window=id)
    /runs                                     run search (?experiment=, ?filter=, ?order_by=), a
                                              page at a time (?max_results=, ?page_token=)
    /runs/{run_id}                            params, metrics and their history, tags, inputs
    /alerts                                   open and recent alerts of every model

With ``auth`` (tokens, see ``_access``) also:

    /signin, /signout                         sign in with a token (a session cookie), out
    POST /models/{name}/versions/{v}/alias    move an alias to this version (promote scope)
    POST /alerts/{id}/acknowledge             acknowledge an alert (write scope on its model)

and every page shows only the models and experiments the token may read.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..errors import InvalidInputError, NotFoundError, SeawallError
from ..monitoring import Monitor, WindowReport
from ..monitoring.rules import Alert
from . import _access
from . import _html as h
from ._access import may, require
from ._actions import error_page, form_action, hidden
from ._data import Data, distribution

__all__ = ["create_dashboard_app"]

_HISTORY = 200  # windows shown in the charts of a model
_FEATURE_CHARTS = 24
_RUNS_PAGE = 100  # runs on a page of the run search, unless ?max_results= says otherwise
_RUNS_PAGE_MAX = 1000
_BACK_PAGES = 50  # earlier pages a page of runs can step back through (the first is always linked)


def create_dashboard_app(
    registry: Any = None,
    monitors: Iterable[Monitor] | Callable[[], Iterable[Monitor]] | None = None,
    *,
    auth: Any = None,
    session_key: bytes | None = None,
) -> Starlette:
    """The dashboard as an ASGI app, to run with uvicorn (``seawall ui``) or to mount in the
    model server (``Mount("/ui", app=create_dashboard_app(reg, monitors))``).

    ``registry`` is a :class:`seawall.Registry`, or a URI or path of an existing one to open
    (None: the default registry); the dashboard creates none. ``monitors`` (a list of :class:`seawall.monitoring.Monitor`, or a callable that
    returns the current ones) adds live monitoring: their history and open alerts, also for
    monitors that keep no history in a registry.

    ``auth`` (an :class:`seawall._server.auth.Authenticator`, a registry or a token file to
    check tokens against) makes every page need a token: a browser signs in at ``/signin``
    (a signed session cookie, under ``session_key``, random when None), a script sends
    ``Authorization: Bearer``. Pages then show only what the token may read, and a version's
    page can move an alias to it with the ``promote`` scope, and an alert can be acknowledged
    with ``write`` on its model. Without it the dashboard is read-only and open to whoever
    reaches it.
    """
    from .._server.auth import make_authenticator

    if registry is None or isinstance(registry, (str, os.PathLike)):
        from ..registry import Registry

        registry = Registry(registry, create=False)
    data = Data(registry, monitors)
    authenticator = make_authenticator(auth)
    gate = _access.Gate(authenticator, session_key) if authenticator is not None else None

    def view(render: Callable[[Request, Data, str], str]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            prefix = request.scope.get("root_path", "").rstrip("/")
            if gate is None:
                _access.grant_open(request)
                user = ""
            else:
                refused = gate.admit(request, prefix)
                if refused is not None:
                    return refused
                user = gate.signed_in_html(request, prefix)
            shown = h.signed_in.set(user)
            try:
                return HTMLResponse(render(request, data, prefix))
            except SeawallError as exc:
                return error_page(prefix, exc)
            finally:
                h.signed_in.reset(shown)

        return endpoint

    def move_alias(request: Request, form: dict[str, str]) -> str:
        """POST .../versions/{v}/alias: moves an alias to this version, as the signed-in
        principal (the alias history records it)."""
        name, version = request.path_params["name"], request.path_params["version"]
        require(request, "promote", f"models/{name}")
        with registry.acting_as(_access.principal(request)):
            registry.set_alias(
                name, form.get("alias", "").strip(), version, reason=form.get("reason") or None
            )
        return "/models/" + quote(name, safe="") + "/versions/" + quote(version, safe="")

    def acknowledge(request: Request, form: dict[str, str]) -> str:
        """POST /alerts/{id}/acknowledge: marks a model's alert acknowledged by the signed-in
        principal; back to the page the form was on."""
        model = form.get("model", "")
        require(request, "write", f"models/{model}")
        with registry.acting_as(_access.principal(request)):
            data.store.acknowledge_alert(model, request.path_params["alert_id"])
        return _access._next_path(form.get("next"))

    routes = [
        Route("/", view(_overview), methods=["GET"]),
        Route("/models/{name}", view(_model), methods=["GET"]),
        Route("/models/{name}/versions/{version}", view(_version), methods=["GET"]),
        Route("/models/{name}/features/{feature:path}", view(_feature), methods=["GET"]),
        Route("/runs", view(_runs), methods=["GET"]),
        Route("/runs/{run_id}", view(_run), methods=["GET"]),
        Route("/alerts", view(_alerts), methods=["GET"]),
    ]
    middleware = []
    if gate is not None and authenticator is not None:
        from starlette.middleware import Middleware

        from .._server.auth import AuthMiddleware

        routes += [
            Route("/signin", gate.signin, methods=["GET", "POST"]),
            Route("/signout", gate.signout, methods=["POST"]),
            Route(
                "/models/{name}/versions/{version}/alias",
                form_action(gate, move_alias),
                methods=["POST"],
            ),
            Route(
                "/alerts/{alert_id:int}/acknowledge",
                form_action(gate, acknowledge),
                methods=["POST"],
            ),
        ]
        middleware.append(
            Middleware(AuthMiddleware, authenticator=authenticator, classify=_access.classify)
        )
    app = Starlette(routes=routes, middleware=middleware)
    app.state.seawall_dashboard = data
    return app


# --- pieces ----------------------------------------------------------------------------------


def _aliases(prefix: str, model: str, named: dict[str, int]) -> str:
    return "".join(
        f'<a href="{h.href(prefix, "models", model, "versions", v)}">'
        f"{h.badge(f'{alias} → v{v}')}</a>"
        for alias, v in sorted(named.items())
    )


def _alert_rows(request: Request, prefix: str, alerts: list[Alert], with_model: bool = True) -> str:
    rows, classes = [], []
    for a in alerts:
        kind = "bad" if a.severity == "critical" else "warn" if a.severity == "warning" else ""
        state = h.badge("firing", "bad") if a.state == "firing" else h.badge("resolved", "ok")
        cells = []
        if with_model:
            cells.append(f'<a href="{h.href(prefix, "models", a.model)}">{h.esc(a.model)}</a>')
        cells += [
            state + h.badge(a.severity, kind),
            h.esc(a.rule),
            h.esc(a.message),
            h.when(a.started_at),
            h.when(a.resolved_at),
            _acknowledgement(request, prefix, a),
        ]
        rows.append(cells)
        classes.append("bad" if a.state == "firing" and a.acknowledged_at is None else "")
    headers = ["state", "rule", "message", "since", "resolved", "acknowledged"]
    return h.table((["model"] if with_model else []) + headers, rows, classes)


def _acknowledgement(request: Request, prefix: str, a: Alert) -> str:
    """Who acknowledged the alert and when; or, for a firing alert of the registry's that the
    signed-in principal may write, the form that acknowledges it."""
    if a.acknowledged_at is not None:
        return (
            h.badge("acknowledged", "ok")
            + h.esc(f" by {a.acknowledged_by or 'unknown'}, ")
            + h.when(a.acknowledged_at)
        )
    if (
        a.id is None  # a live monitor's, not stored
        or a.state != "firing"
        or _access.principal(request) is None
        or not may(request, "write", f"models/{a.model}")
    ):
        return ""
    here = request.url.path[len(prefix) :] or "/"
    return (
        f'<form class="act" method="post" action="{h.href(prefix, "alerts", a.id, "acknowledge")}">'
        f"{_access.csrf_field(request)}{hidden(model=a.model, next=here)}"
        '<button type="submit">Acknowledge</button></form>'
    )


def _drift_cell(summary: list[tuple[int, float, float]]) -> tuple[str, str]:
    if not summary:
        return '<span class="muted">not monitored</span>', ""
    shares = [s for _, _, s in summary]
    last = shares[-1]
    if math.isnan(last):
        label = h.badge("no drift data", "muted")
    elif last > 0:
        label = h.badge(f"{100 * last:.0f}% drifted", "bad")
    else:
        label = h.badge("no drift", "ok")
    return label, h.sparkline(shares)


# --- pages -----------------------------------------------------------------------------------


def _overview(request: Request, data: Data, prefix: str) -> str:
    runs_per_experiment, rows = data.overview()
    rows = [r for r in rows if may(request, "read", f"models/{r.name}")]
    readable_runs = [
        n for e, n in runs_per_experiment.items() if may(request, "read", f"experiments/{e}")
    ]
    counts = {
        "models": sum(1 for r in rows if r.registered),
        "versions": sum(r.versions for r in rows),
        "runs": sum(readable_runs),
        "experiments": len(readable_runs),
    }
    drift = data.drift_summary()
    open_alerts = _readable_alerts(request, data.alerts(open=True))
    alerts_by_model: dict[str, int] = {}
    for a in open_alerts:
        alerts_by_model[a.model] = alerts_by_model.get(a.model, 0) + 1
    monitored = sum(1 for r in rows if drift.get(r.name))
    cards = "".join(
        f'<div class="card"><div class="n">{n:,}</div><div class="l">{label}</div></div>'
        for n, label in (
            (counts["models"], "models"),
            (counts["versions"], "versions"),
            (counts["runs"], f"runs in {counts['experiments']:,} experiments"),
            (monitored, "models monitored"),
            (len(open_alerts), "open alerts"),
        )
    )
    table_rows, classes = [], []
    for r in rows:
        label, spark = _drift_cell(drift.get(r.name, []))
        n_alerts = alerts_by_model.get(r.name, 0)
        table_rows.append(
            [
                f'<a href="{h.href(prefix, "models", r.name)}"><b>{h.esc(r.name)}</b></a>'
                + ("" if r.registered else " " + h.badge("not registered", "muted")),
                h.right(
                    f'<a href="{h.href(prefix, "models", r.name, "versions", r.latest_version)}">'
                    f"v{r.latest_version}</a>"
                    if r.latest_version
                    else "&ndash;"
                ),
                h.right(h.num(r.versions)),
                _aliases(prefix, r.name, r.aliases) or '<span class="muted">none</span>',
                label,
                spark,
                h.badge(f"{n_alerts} open", "bad") if n_alerts else "",
                h.when(r.updated_at),
            ]
        )
        classes.append("bad" if n_alerts else "")
    recent = _search_readable(request, data, max_results=15)
    run_rows = [
        [
            f'<a href="{h.href(prefix, "runs", run.id)}" class=mono>{h.esc(run.name or run.id[:12])}'
            "</a>",
            h.esc(run.experiment),
            _status(run.status),
            h.when(run.start_time),
            _metrics_inline(run.metrics),
        ]
        for run in recent
    ]
    body = (
        "<h1>Overview</h1>"
        f'<div class="cards">{cards}</div>'
        '<h2>Models</h2><div class="panel">'
        + h.table(
            [
                "model",
                "latest",
                "versions",
                "aliases",
                "drift",
                "drift share, last windows",
                "alerts",
                "updated (UTC)",
            ],
            table_rows,
            classes,
        )
        + "</div>"
        + f'<h2>Open alerts</h2><div class="panel">{_alert_rows(request, prefix, open_alerts[:20])}'
        + (
            f'<p><a href="{h.esc(prefix)}/alerts">all {len(open_alerts)} alerts</a></p>'
            if len(open_alerts) > 20
            else ""
        )
        + "</div>"
        + f'<h2>Recent runs <a class="sub" href="{h.esc(prefix)}/runs">(search runs)</a></h2>'
        + '<div class="panel">'
        + h.table(["run", "experiment", "status", "started (UTC)", "metrics"], run_rows)
        + "</div>"
    )
    return h.page("Overview", body, prefix, "overview")


def _readable_alerts(request: Request, alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if may(request, "read", f"models/{a.model}")]


def _readable_experiments(request: Request, data: Data) -> list[str] | None:
    """The experiments this request may read; None when it may read them all."""
    if may(request, "read", "experiments/*"):
        return None
    names = [e.name for e in data.registry.list_experiments()]
    return [n for n in names if may(request, "read", f"experiments/{n}")]


def _search_readable(
    request: Request, data: Data, experiment: str | None = None, **options: Any
) -> Any:
    """search_runs over the experiments this request may read (of `experiment`, if given)."""
    if experiment is not None:
        require(request, "read", f"experiments/{experiment}")
        return data.registry.search_runs(experiment, **options)
    readable = _readable_experiments(request, data)
    if readable == []:  # no experiment at all: an empty page
        from ..registry._search import RunPage

        return RunPage([], None)
    return data.registry.search_runs(readable, **options)


def _status(status: str) -> str:
    kind = {"FINISHED": "ok", "FAILED": "bad", "KILLED": "warn"}.get(status, "")
    return h.badge(status.lower(), kind)


def _metrics_inline(metrics: dict[str, float], limit: int = 4) -> str:
    items = sorted(metrics.items())[:limit]
    more = len(metrics) - len(items)
    text = ", ".join(f"{h.esc(k)}={h.num(v)}" for k, v in items)
    return text + (f' <span class="muted">+{more}</span>' if more > 0 else "")


def _model(request: Request, data: Data, prefix: str) -> str:
    name = request.path_params["name"]
    require(request, "read", f"models/{name}")
    reg = data.registry
    monitor = data.monitors().get(name)
    parts: list[str] = [f"<h1>{h.esc(name)}</h1>"]
    try:
        model = reg.get_model(name)
    except NotFoundError:
        if monitor is None and not data.store.windows(name, limit=1):
            raise
        model = None
        parts.append('<p class="sub">Monitored, not in the registry.</p>')
    if model is not None:
        if model.description:
            parts.append(f'<p class="sub">{h.esc(model.description)}</p>')
        tags = "".join(h.badge(f"{k}={v}", "muted") for k, v in sorted(model.tags.items()))
        parts.append(
            f'<p>{_aliases(prefix, name, model.aliases)} {tags} <span class="muted">created '
            f"{h.when(model.created_at)} UTC</span></p>"
        )
    parts.append(_monitoring_section(request, data, prefix, name))
    if model is not None:
        versions = reg.list_versions(name)
        rows = [
            [
                f'<a href="{h.href(prefix, "models", name, "versions", v.version)}">v{v.version}</a>',
                h.when(v.created_at),
                f'<a class=mono href="{h.href(prefix, "runs", v.run_id)}">{h.esc(v.run_id[:12])}</a>'
                if v.run_id
                else '<span class="muted">none</span>',
                "".join(h.badge(a) for a in v.aliases),
                h.badge("reference profile", "ok")
                if v.profile_sha256
                else h.badge("no profile", "muted"),
                h.esc(v.description or ""),
            ]
            for v in reversed(versions)
        ]
        parts.append(
            '<h2>Versions</h2><div class="panel">'
            + h.table(
                ["version", "created (UTC)", "run", "aliases", "reference", "description"], rows
            )
            + "</div>"
        )
        parts.append(
            '<h2>Alias history</h2><div class="panel">'
            + _alias_events(reg.alias_history(name))
            + "</div>"
        )
    return h.page(name, "".join(parts), prefix)


def _monitoring_section(request: Request, data: Data, prefix: str, name: str) -> str:
    windows = data.windows(name, limit=_HISTORY)
    alerts = data.alerts(name, open=None)
    out = ["<h2>Monitoring</h2>"]
    if windows.skipped:
        ids = ", ".join(str(i) for i, _ in windows.skipped[:10])
        out.append(
            f'<p class="note">{len(windows.skipped)} stored window(s) could not be read and are '
            f"left out (corrupt history rows: {h.esc(ids)}); see the server log.</p>"
        )
    if not windows:
        out.append('<p class="muted">No evaluated window yet.</p>')
        if alerts:
            out.append(
                '<div class="panel">' + _alert_rows(request, prefix, alerts, False) + "</div>"
            )
        return "".join(out)
    latest = windows[-1]
    drifted = latest.drifted_features
    compared = sum(1 for f in latest.features.values() if f.drifted is not None)
    verdict = (
        h.badge("dataset drift", "bad")
        if latest.dataset_drift
        else h.badge("no dataset drift", "ok")
        if latest.dataset_drift is not None
        else ""
    )
    out.append(
        f"<p>Latest window {h.when(latest.start)} to {h.when(latest.end)} UTC "
        f"({latest.rows:,} rows, {latest.slices} slices{_version_label(latest)}): {verdict} "
        f"{len(drifted)} of {compared} features drifted"
        + (f" ({', '.join(h.esc(f) for f in drifted)})" if drifted else "")
        + "</p>"
    )
    if latest.arms:
        out.append(_arms_table(latest))
    open_alerts = [a for a in alerts if a.state == "firing"]
    if open_alerts:
        out.append(
            f'<h3>Open alerts ({len(open_alerts)})</h3><div class="panel">'
            + _alert_rows(request, prefix, open_alerts, False)
            + "</div>"
        )
    times = [w.end for w in windows]
    out.append(
        '<div class="panel"><h3>Share of drifted features</h3>'
        + h.line_chart(
            [("drift share", times, [w.drift_share for w in windows], h.PALETTE[0])],
            width=1150,
            height=170,
            y_range=(0.0, 1.0),
            marks=[bool(w.dataset_drift) for w in windows],
            title="share of drifted features over time",
        )
        + "</div>"
    )
    # drift over time per feature: small multiples, red points where the feature drifted
    features = list(latest.features)
    cells = []
    for feature in features[:_FEATURE_CHARTS]:
        points = [(w.end, w.features.get(feature)) for w in windows]
        xs = [t for t, f in points]
        ys = [f.drift_score if f is not None else None for _, f in points]
        marks = [bool(f is not None and f.drifted) for _, f in points]
        last = latest.features[feature]
        threshold = last.threshold
        method = last.method or "no values"
        status = h.badge("drifted", "bad") if last.drifted else ""
        cells.append(
            f'<div class="panel"><h3><a href="{h.href(prefix, "models", name, "features", feature)}">'
            f"{h.esc(feature)}</a> {status}</h3>"
            f'<div class="muted">{h.esc(method)} '
            f"{'p-value' if last.pvalue is not None else 'statistic'}, threshold "
            f"{h.num(threshold)}</div>"
            + h.line_chart(
                [(feature, xs, ys, h.PALETTE[0])],
                width=280,
                height=120,
                threshold=threshold,
                marks=marks,
                title=f"drift score of {feature}",
            )
            + "</div>"
        )
    out.append(
        "<h3>Drift score per feature over time</h3>"
        f'<div class="grid">{"".join(cells)}</div>'
        + (
            f'<p class="muted">{len(features) - _FEATURE_CHARTS} more features in the table '
            "below.</p>"
            if len(features) > _FEATURE_CHARTS
            else ""
        )
    )
    rows, classes = [], []
    for f in latest.features.values():
        rows.append(
            [
                f'<a href="{h.href(prefix, "models", name, "features", f.feature)}">'
                f"{h.esc(f.feature)}</a>",
                h.esc(f.method or ""),
                h.right(h.num(f.statistic)),
                h.right(h.num(f.pvalue)),
                h.right(h.num(f.threshold)),
                h.badge("drifted", "bad")
                if f.drifted
                else h.badge("ok", "ok")
                if f.drifted is not None
                else h.badge(f.error or "not compared", "muted"),
                h.right(h.pct(f.missing_share)),
            ]
        )
        classes.append("bad" if f.drifted else "")
    out.append(
        '<h3>Latest window, per feature</h3><div class="panel">'
        + h.table(
            ["feature", "method", "statistic", "p-value", "threshold", "drift", "missing"],
            rows,
            classes,
        )
        + "</div>"
    )
    metrics = sorted({k for w in windows for k in w.quality})
    if metrics:
        series = [
            (m, times, [w.quality.get(m) for w in windows], h.PALETTE[i % len(h.PALETTE)])
            for i, m in enumerate(metrics)
        ]
        out.append(
            '<div class="panel"><h3>Quality over time</h3>'
            + h.legend(*((m, c) for m, _, _, c in series))
            + h.line_chart(series, width=1150, height=180, title="quality over time")
            + "</div>"
        )
    if latest.predictions:
        out.append('<div class="panel"><h3>Predictions in the latest window</h3>')
        pred_rows = []
        for output, s in latest.predictions.items():
            if s.get("kind") == "numeric":
                qs = s.get("quantiles", {})
                text = ", ".join(f"p{float(q) * 100:g}={h.num(v)}" for q, v in qs.items())
                pred_rows.append([h.esc(output), f"mean {h.num(s.get('mean'))}; {text}"])
            else:
                shares = s.get("shares", {})
                text = ", ".join(
                    f"{h.esc(k)}: {100 * v:.1f}%" for k, v in list(shares.items())[:10]
                )
                pred_rows.append([h.esc(output), text])
        out.append(h.table(["output", "distribution"], pred_rows) + "</div>")
    resolved = [a for a in alerts if a.state != "firing"][:20]
    if resolved:
        out.append(
            '<h3>Resolved alerts</h3><div class="panel">'
            + _alert_rows(request, prefix, resolved, False)
            + "</div>"
        )
    return "".join(out)


def _arms_table(w: WindowReport) -> str:
    """The traffic policy's arms in a window: who answered how much, how fast, how well. (The
    figures come from stored JSON: anything not of the expected type shows as empty.)"""
    rows = []
    for arm, f in w.arms.items():
        latency = _mapping(f.get("latency_s"))
        score = _mapping(f.get("score"))
        classes = [(k, v) for k, v in _mapping(f.get("classes")).items() if _real(v) is not None]
        shown = ", ".join(f"{h.esc(k)}: {100 * float(v):.1f}%" for k, v in classes[:4])
        mean = _real(score.get("mean"))
        requests, dropped = _real(f.get("requests")), _real(f.get("dropped"))
        rows.append(
            [
                h.esc(arm),
                h.esc(f.get("version") or ""),
                h.right(f"{requests:,.0f}" if requests is not None else ""),
                h.right(h.pct(_real(f.get("error_rate")))),
                h.right(_ms(_real(latency.get("p50")))),
                h.right(_ms(_real(latency.get("p99")))),
                shown or (f"mean score {h.num(mean)}" if mean is not None else ""),
                h.right(h.pct(_real(f.get("agreement")))),
                h.right(h.num(_real(f.get("score_mad")))),
                h.right(f"{dropped:,.0f}" if dropped else ""),
            ]
        )
    headers = ["arm", "version", "requests", "errors", "p50", "p99", "predictions"]
    headers += ["agreement", "score MAD", "shadow drops"]
    failures = "".join(
        f"<p>The {h.esc(arm)} arm is not serving: {h.esc(f['load_error'])}</p>"
        for arm, f in w.arms.items()
        if isinstance(f.get("load_error"), str)
    )
    return (
        '<h3>Traffic by arm, latest window</h3><div class="panel">'
        + failures
        + h.table(headers, rows)
        + "</div>"
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _real(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1e3:.3g} ms"


def _version_label(w: WindowReport) -> str:
    return f", against the reference of v{h.esc(w.version)}" if w.version else ""


def _feature(request: Request, data: Data, prefix: str) -> str:
    name = request.path_params["name"]
    feature = request.path_params["feature"]
    require(request, "read", f"models/{name}")
    window_arg = request.query_params.get("window")
    window_id: int | None = None
    if window_arg:
        if not window_arg.isdigit():
            raise InvalidInputError(f"window must be a window id, got {window_arg!r}")
        window_id = int(window_arg)
    windows = data.windows(name, limit=_HISTORY)
    if not windows:
        raise NotFoundError(f"model {name!r} has no evaluated window")
    if not any(feature in w.features for w in windows):
        raise NotFoundError(f"model {name!r} has no monitored feature {feature!r}")
    points = [(w, w.features.get(feature)) for w in windows]
    times = [w.end for w, _ in points]
    scores = [f.drift_score if f is not None else None for _, f in points]
    latest = windows[-1].features.get(feature)
    parts = [
        f'<p class="sub"><a href="{h.href(prefix, "models", name)}">{h.esc(name)}</a> / feature</p>'
        f"<h1>{h.esc(feature)}</h1>",
        '<div class="panel"><h3>Drift score over time</h3>'
        + h.line_chart(
            [(feature, times, scores, h.PALETTE[0])],
            width=1150,
            height=200,
            threshold=latest.threshold if latest is not None else None,
            marks=[bool(f is not None and f.drifted) for _, f in points],
            title=f"drift score of {feature}",
        )
        + h.line_chart(
            [("missing share", times, [f.missing_share if f else None for _, f in points], h.CUR)],
            width=1150,
            height=110,
            y_range=(0.0, 1.0),
            title=f"missing share of {feature}",
        )
        + '<div class="muted">below: share of missing values</div></div>',
    ]
    window = data.window(name, window_id)
    if window_id is not None and window is None:
        raise NotFoundError(f"model {name!r} has no readable window {window_id}")
    if window is not None:
        parts.append(
            f"<h2>Reference and window {h.when(window.start)} to {h.when(window.end)} UTC</h2>"
        )
        f = window.features.get(feature)
        if f is not None and f.method is not None:
            parts.append(
                f"<p>{h.esc(f.method)}: statistic {h.num(f.statistic)}"
                + (f", p-value {h.num(f.pvalue)}" if f.pvalue is not None else "")
                + f", threshold {h.num(f.threshold)}: "
                + (h.badge("drifted", "bad") if f.drifted else h.badge("no drift", "ok"))
                + f"; missing {h.pct(f.missing_share)}</p>"
            )
        reference = data.reference(name, window.version)
        if window.profile is None or reference is None:
            parts.append(
                '<p class="note">The distributions need the window\'s profile and the reference '
                "profile; "
                + (
                    "this window's profile was not kept (or did not decode)."
                    if window.profile is None
                    else "the reference profile is not available."
                )
                + "</p>"
            )
        elif feature in window.profile.columns and feature in reference.columns:
            b = distribution(reference, window.profile, feature)
            parts.append(
                '<div class="panel">'
                + h.legend(("reference", h.REF), ("window", h.CUR))
                + h.bars(
                    b.labels,
                    b.reference,
                    b.current,
                    width=1150,
                    height=260,
                    title=f"{feature} distribution",
                )
                + f'<div class="muted">{h.esc(b.note)}</div></div>'
            )
    rows = []
    for w, f in reversed(points):
        link = h.href(prefix, "models", name, "features", feature, window=w.id)
        rows.append(
            [
                f'<a href="{link}">{h.when(w.end)}</a>' if w.id is not None else h.when(w.end),
                h.right(h.num(w.rows)),
                h.esc(f.method or "") if f else "",
                h.right(h.num(f.drift_score if f else None)),
                h.badge("drifted", "bad") if f and f.drifted else "",
                h.right(h.pct(f.missing_share if f else None)),
            ]
        )
    parts.append(
        '<h2>Windows</h2><div class="panel">'
        + h.table(["window end (UTC)", "rows", "method", "score", "", "missing"], rows)
        + "</div>"
    )
    return h.page(f"{name}: {feature}", "".join(parts), prefix)


def _version(request: Request, data: Data, prefix: str) -> str:
    name = request.path_params["name"]
    version = request.path_params["version"]
    require(request, "read", f"models/{name}")
    reg = data.registry
    mv = reg.get_model_version(name, version)
    lineage = reg.lineage(name, mv.version)
    parts = [
        f'<p class="sub"><a href="{h.href(prefix, "models", name)}">{h.esc(name)}</a> / version</p>'
        f"<h1>{h.esc(name)} v{mv.version}</h1>",
        f"<p>{''.join(h.badge(a) for a in mv.aliases)} created {h.when(mv.created_at)} UTC"
        + (f" &middot; {h.esc(mv.description)}" if mv.description else "")
        + "</p>",
        '<p class="mono muted">bundle '
        + h.esc(mv.bundle_sha256)
        + (f"<br>reference profile {h.esc(mv.profile_sha256)}" if mv.profile_sha256 else "")
        + "</p>",
    ]
    if mv.tags:
        parts.append(h.table(["tag", "value"], [[h.esc(k), h.esc(v)] for k, v in mv.tags.items()]))
    # lineage: datasets -> run -> version -> aliases and deployments, as columns
    columns: list[list[str]] = [[], [], [], []]
    for node in lineage.nodes:
        kind = node["kind"]
        if kind == "dataset":
            columns[0].append(
                _node(
                    f"dataset · {node.get('name') or ''}",
                    f"{node['num_rows']:,} rows<br><span class=mono>"
                    f"{h.esc(node['fingerprint'][:16])}</span>",
                )
            )
        elif kind == "run" and not may(request, "read", f"experiments/{node['experiment']}"):
            columns[1].append(
                _node("run", '<span class="muted">not readable with this token</span>')
            )
        elif kind == "run":
            columns[1].append(
                _node(
                    f"run · {node['experiment']}",
                    f'<a class=mono href="{h.href(prefix, "runs", node["run_id"])}">'
                    f"{h.esc(node.get('name') or node['run_id'][:12])}</a><br>"
                    + _metrics_inline(node.get("metrics") or {}, 3),
                )
            )
        elif kind == "model_version":
            columns[2].append(_node("model version", f"<b>{h.esc(name)} v{mv.version}</b>"))
        elif kind == "alias":
            columns[3].append(_node("alias", h.badge(node["alias"])))
        elif kind == "deployment":
            columns[3].append(
                _node("deployment", f"{h.esc(node['target'])}<br>{h.when(node['at'])}")
            )
    cols = [c for c in columns if c]
    graph = '<span class="arrow">&rarr;</span>'.join(
        f'<div class="col">{"".join(c)}</div>' for c in cols
    )
    parts.append(f'<h2>Lineage</h2><div class="panel lineage">{graph}</div>')
    parts.append(
        '<h2>Alias moves to or from this version</h2><div class="panel">'
        + _alias_events(lineage.alias_history)
        + "</div>"
    )
    if _access.principal(request) is not None and may(request, "promote", f"models/{name}"):
        parts.append(_alias_form(request, prefix, name, mv.version))
    return h.page(f"{name} v{mv.version}", "".join(parts), prefix)


def _alias_form(request: Request, prefix: str, name: str, version: int) -> str:
    """Moving an alias to this version: a form with the session's CSRF value."""
    field = _access.csrf_field(request)
    return (
        '<h2>Move an alias here</h2><div class="panel">'
        f'<form class="act" method="post" action="{h.href(prefix, "models", name, "versions", version, "alias")}">'
        f'{field}<input type="text" name="alias" placeholder="champion" required> '
        '<input type="text" name="reason" placeholder="reason" style="width:24em"> '
        f'<button type="submit">Point it at v{version}</button></form></div>'
    )


def _alias_events(events: list[Any]) -> str:
    """Alias moves, newest first."""
    rows = [
        [
            h.when(e.at),
            h.badge(e.alias),
            f"v{e.previous_version}" if e.previous_version is not None else "&ndash;",
            f"v{e.version}" if e.version is not None else "deleted",
            h.esc(e.reason or ""),
            h.esc(e.actor or ""),
        ]
        for e in reversed(events)
    ]
    return h.table(["when (UTC)", "alias", "from", "to", "reason", "by"], rows)


def _node(kind: str, body: str) -> str:
    return f'<div class="node"><div class="k">{h.esc(kind)}</div>{body}</div>'


def _runs(request: Request, data: Data, prefix: str) -> str:
    q = request.query_params
    experiment = q.get("experiment") or None
    flt = q.get("filter") or None
    order = q.get("order_by") or None
    size = _page_size(q.get("max_results"))
    token = q.get("page_token") or None
    # The registry's page tokens lead forward only: a page's link back carries the tokens of
    # the pages before it ("" for the first), oldest first, separated by dots.
    back = q["back"].split(".")[-_BACK_PAGES:] if "back" in q else []
    experiments = [
        e for e in data.registry.list_experiments() if may(request, "read", f"experiments/{e.name}")
    ]
    found = _search_readable(
        request,
        data,
        experiment,
        filter=flt,
        order_by=[order] if order else None,
        max_results=size,
        page_token=token,
    )
    options = "".join(
        f'<option value="{h.esc(e.name)}"{" selected" if e.name == experiment else ""}>'
        f"{h.esc(e.name)}</option>"
        for e in experiments
    )
    form = (
        f'<form class="search" method="get" action="{h.esc(prefix)}/runs">'
        f'<select name="experiment"><option value="">all experiments</option>{options}</select> '
        f'<input type="text" name="filter" placeholder="metrics.auc &gt; 0.8 and params.lr = '
        f'\'0.1\'" value="{h.esc(flt or "")}"> '
        f'<input type="text" name="order_by" placeholder="metrics.auc DESC" '
        f'value="{h.esc(order or "")}" style="width:12em"> '
        + (f'<input type="hidden" name="max_results" value="{size}">' if size != _RUNS_PAGE else "")
        + '<button type="submit">Search</button></form>'
    )
    metric_keys = sorted({k for r in found for k in r.metrics})[:6]
    param_keys = sorted({k for r in found for k in r.params})[:4]
    rows = [
        [
            f'<a class=mono href="{h.href(prefix, "runs", r.id)}">{h.esc(r.name or r.id[:12])}</a>',
            h.esc(r.experiment),
            _status(r.status),
            h.when(r.start_time),
            *(h.esc(r.params.get(k, "")) for k in param_keys),
            *(h.right(h.num(r.metrics.get(k))) for k in metric_keys),
        ]
        for r in found
    ]

    def link(label: str, page_token: str | None, pages_before: list[str]) -> str:
        target = h.href(
            prefix,
            "runs",
            experiment=experiment,
            filter=flt,
            order_by=order,
            max_results=size if size != _RUNS_PAGE else None,
            page_token=page_token,
            back=".".join(pages_before) if pages_before else None,
        )
        return f'<a href="{target}">{label}</a>'

    pager = []
    if token is not None:
        pager.append(link("&laquo; first", None, []))
        if back:
            pager.append(link("&lsaquo; previous", back[-1] or None, back[:-1]))
    if found.token is not None:
        pager.append(link("next &rsaquo;", found.token, [*back, token or ""]))
    more = "; more on the next page" if found.token is not None else ""
    body = (
        f"<h1>Runs</h1>{form}"
        f'<p class="sub">{len(found)} run(s) on this page{more}</p>'
        '<div class="panel">'
        + h.table(
            [
                "run",
                "experiment",
                "status",
                "started (UTC)",
                *(f"params.{h.esc(k)}" for k in param_keys),
                *(f"metrics.{h.esc(k)}" for k in metric_keys),
            ],
            rows,
        )
        + "</div>"
        + (f'<p class="pager">{" &middot; ".join(pager)}</p>' if pager else "")
    )
    return h.page("Runs", body, prefix, "runs")


def _page_size(value: str | None) -> int:
    if value is None or value == "":
        return _RUNS_PAGE
    if not value.isdigit() or not 1 <= int(value) <= _RUNS_PAGE_MAX:
        raise InvalidInputError(
            f"max_results must be a whole number from 1 to {_RUNS_PAGE_MAX}, got {value!r}"
        )
    return int(value)


def _run(request: Request, data: Data, prefix: str) -> str:
    run_id = request.path_params["run_id"]
    reg = data.registry
    run = reg.get_run(run_id)
    require(request, "read", f"experiments/{run.experiment}")
    parts = [
        '<p class="sub"><a href="' + h.esc(prefix) + '/runs">runs</a> / run</p>'
        f"<h1>{h.esc(run.name or run.id)}</h1>",
        f'<p><span class="mono">{h.esc(run.id)}</span> in {h.esc(run.experiment)} '
        f"{_status(run.status)} started {h.when(run.start_time)} UTC"
        + (f", ended {h.when(run.end_time)} UTC" if run.end_time else "")
        + "</p>",
    ]
    parts.append(
        '<h2>Params</h2><div class="panel">'
        + h.table(["param", "value"], [[h.esc(k), h.esc(v)] for k, v in sorted(run.params.items())])
        + "</div>"
    )
    cells = []
    for key, value in sorted(run.metrics.items()):
        history = reg.metric_history(run.id, key)
        chart = ""
        if len(history) > 1:
            steps = [float(m.step) for m in history]
            chart = _step_chart(key, steps, [m.value for m in history])
        cells.append(
            f'<div class="panel"><h3>{h.esc(key)} = {h.num(value)}</h3>'
            f'<div class="muted">{len(history)} point(s)</div>{chart}</div>'
        )
    parts.append(f'<h2>Metrics</h2><div class="grid">{"".join(cells)}</div>')
    if run.tags:
        parts.append(
            '<h2>Tags</h2><div class="panel">'
            + h.table(["tag", "value"], [[h.esc(k), h.esc(v)] for k, v in sorted(run.tags.items())])
            + "</div>"
        )
    inputs = reg.run_inputs(run.id)
    if inputs:
        parts.append(
            '<h2>Inputs</h2><div class="panel">'
            + h.table(
                ["dataset", "context", "rows", "fingerprint"],
                [
                    [
                        h.esc(i.name or ""),
                        h.esc(i.context),
                        h.right(h.num(i.num_rows)),
                        f'<span class="mono">{h.esc(i.fingerprint[:16])}</span>',
                    ]
                    for i in inputs
                ],
            )
            + "</div>"
        )
    artifacts = reg.list_artifacts(run.id)
    if artifacts:
        parts.append(
            '<h2>Artifacts</h2><div class="panel">'
            + h.table(
                ["path", "size", "sha256"],
                [
                    [
                        h.esc(a.path),
                        h.right(h.num(a.size)),
                        f'<span class="mono">{h.esc(a.sha256[:16])}</span>',
                    ]
                    for a in artifacts
                ],
            )
            + "</div>"
        )
    return h.page(run.name or run.id, "".join(parts), prefix, "runs")


def _step_chart(key: str, xs: list[float], ys: list[float]) -> str:
    """A metric's history by step: the line chart with steps on the x axis (as numbers)."""
    return h.line_chart(
        [(key, xs, ys, h.PALETTE[0])], width=280, height=110, title=key, x_time=False
    )


def _alerts(request: Request, data: Data, prefix: str) -> str:
    open_alerts = _readable_alerts(request, data.alerts(open=True))
    resolved = _readable_alerts(request, data.alerts(open=False))[:100]
    body = (
        f"<h1>Alerts</h1><h2>Open ({len(open_alerts)})</h2>"
        f'<div class="panel">{_alert_rows(request, prefix, open_alerts)}</div>'
        f'<h2>Recently resolved</h2><div class="panel">{_alert_rows(request, prefix, resolved)}</div>'
    )
    return h.page("Alerts", body, prefix, "alerts")
