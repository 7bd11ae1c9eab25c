"""The HTML of an Evaluation: inline CSS and hand-made SVG (the look of the drift report), no
scripts and no network. Every user string (slice values, column and model names) is escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .explain import Importance, PartialDependence
    from .fairness import Fairness
    from .report import Evaluation
    from .results import MetricValue, SliceResult

#: Rows of a slicing's table in the HTML (the JSON has every slice).
MAX_SLICE_ROWS = 200

_BLUE = "#4c78a8"
_ORANGE = "#f58518"
_GREY = "#999"

_CSS = """
.sw-eval{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
  max-width:1100px}
.sw-eval h1{font-size:1.4em;margin:.4em 0}
.sw-eval h2{font-size:1.1em;margin:1.2em 0 .3em}
.sw-eval h3{font-size:1em;margin:.8em 0 .2em}
.sw-eval table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
.sw-eval th,.sw-eval td{border-bottom:1px solid #ddd;padding:.3em .7em;text-align:left}
.sw-eval td.num{text-align:right;font-variant-numeric:tabular-nums}
.sw-eval td .ci{color:#777;font-size:.85em}
.sw-eval tr.too_small td{background:#fff8e1}
.sw-eval .undefined{color:#8a5a00}
.sw-eval .meta{color:#666;font-size:.85em}
.sw-eval section{border-top:1px solid #eee;padding-top:.3em}
.sw-eval .plots svg{margin:0 1em .5em 0;vertical-align:top}
"""


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "&ndash;"
    if x == 0 or (1e-4 <= abs(x) < 1e6):
        return f"{x:.4g}"
    return f"{x:.3e}"


def _cell(m: MetricValue) -> str:
    if m.value is None:
        return f'<td class="num undefined" title="{escape(m.reason or "")}">undefined</td>'
    ci = ""
    if m.low is not None and m.high is not None:
        ci = f' <span class="ci">[{_fmt(m.low)}, {_fmt(m.high)}]</span>'
    return f'<td class="num">{_fmt(m.value)}{ci}</td>'


def render(ev: Evaluation, *, full_page: bool) -> str:
    parts = ['<div class="sw-eval">', "<h1>Model evaluation</h1>"]
    who = ""
    if ev.model:
        version = f" version {escape(str(ev.model['version']))}" if ev.model.get("version") else ""
        who = f"{escape(str(ev.model.get('name')))}{version}: "
    opts = ev.options
    interval = (
        f"{opts.get('confidence', 0.95):.0%} intervals from {opts.get('bootstrap'):,} bootstrap "
        f"resamples (Poisson, seed {opts.get('seed')})"
        if opts.get("bootstrap")
        else "no bootstrap intervals"
    )
    threshold = f"; threshold {opts['threshold']:g}" if ev.task == "binary" else ""
    parts.append(
        f'<p class="meta">{who}{escape(ev.task)} task, {ev.rows:,} rows; {interval}{threshold}.</p>'
    )
    parts.append(_overall(ev))
    if ev.task == "binary":
        parts.append(_binary_plots(ev.overall))
    for slicing, results in ev.slices.items():
        parts.append(_slicing(ev, slicing, results))
    for column, fairness in ev.fairness.items():
        parts.append(_fairness(column, fairness))
    if ev.importance is not None:
        parts.append(_importance(ev.importance))
    if ev.partial_dependence:
        parts.append(_dependence(ev.partial_dependence))
    parts.append("</div>")
    body = "\n".join(parts)
    if not full_page:
        return f"<style>{_CSS}</style>\n{body}"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>seawall model evaluation</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _overall(ev: Evaluation) -> str:
    rows = "".join(
        f"<tr><td>{escape(name)}</td>{_cell(m)}<td class='num'>{m.count:,}</td>"
        f"<td>{escape(m.reason or '')}</td></tr>"
        for name, m in ev.overall.metrics.items()
    )
    out = [
        "<section><h2>Overall</h2>",
        "<table><thead><tr><th>metric</th><th>value [interval]</th><th>rows</th><th></th></tr>"
        f"</thead><tbody>{rows}</tbody></table>",
    ]
    confusion = ev.overall.confusion
    if confusion is not None:
        labels = (
            ["negative", "positive"]
            if ev.task == "binary"
            else [str(c) for c in ev.options.get("classes", range(len(confusion)))]
        )
        head = "".join(f"<th>predicted {escape(label)}</th>" for label in labels)
        body = "".join(
            f"<tr><th>actual {escape(labels[i])}</th>"
            + "".join(f'<td class="num">{v:,}</td>' for v in row)
            + "</tr>"
            for i, row in enumerate(confusion)
        )
        out.append(
            f"<h3>Confusion matrix</h3><table><thead><tr><th></th>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )
    out.append("</section>")
    return "".join(out)


def _binary_plots(overall: SliceResult) -> str:
    plots = []
    if overall.roc is not None:
        plots.append(
            _line_plot(
                "ROC curve",
                [(overall.roc.x, overall.roc.y, _BLUE)],
                "false positive rate",
                "true positive rate",
                diagonal=True,
            )
        )
    if overall.pr is not None:
        plots.append(
            _line_plot(
                "Precision-recall curve",
                [(overall.pr.x, overall.pr.y, _ORANGE)],
                "recall",
                "precision",
            )
        )
    if overall.calibration:
        bins = overall.calibration
        plots.append(
            _line_plot(
                "Calibration (reliability)",
                [([b.mean_predicted for b in bins], [b.fraction_positive for b in bins], _BLUE)],
                "mean predicted probability",
                "fraction of positives",
                diagonal=True,
                dots=True,
            )
        )
    if not plots:
        return ""
    return f'<section><h2>Curves</h2><div class="plots">{"".join(plots)}</div></section>'


def _slicing(ev: Evaluation, slicing: str, results: list[SliceResult]) -> str:
    names = list(ev.metrics)
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    positives = ev.task == "binary"
    rows = []
    for r in results[:MAX_SLICE_ROWS]:
        pos = (
            f'<td class="num">{r.positives:,}</td>' if positives and r.positives is not None else ""
        )
        cells = "".join(_cell(r.metrics[n]) for n in names)
        rows.append(
            f'<tr class="{r.status}"><td>{escape(r.label)}</td><td class="num">{r.count:,}</td>'
            f"{pos}{cells}</tr>"
        )
    pos_head = "<th>positives</th>" if positives else ""
    primary = names[0]
    bars = _bar_chart(
        f"{primary} by {slicing}",
        [r.label for r in results],
        [r.metrics[primary].value for r in results],
        [(r.metrics[primary].low, r.metrics[primary].high) for r in results],
    )
    more = len(results) - MAX_SLICE_ROWS
    note = f'<p class="meta">{more:,} more slices in the JSON (to_json()).</p>' if more > 0 else ""
    return (
        f"<section><h2>By {escape(slicing)}</h2>"
        f"<table><thead><tr><th>slice</th><th>rows</th>{pos_head}{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{note}{bars}</section>"
    )


def _fairness(column: str, f: Fairness) -> str:
    disparities = "".join(
        f"<tr><td>{escape(name.replace('_', ' '))}</td><td class='num'>{_fmt(v)}</td></tr>"
        for name, v in f.disparities.items()
    )
    rate_names = ("selection_rate", "true_positive_rate", "false_positive_rate", "error_rate")
    head = "".join(f"<th>{n.replace('_', ' ')}</th>" for n in rate_names)
    rows = "".join(
        f"<tr><td>{escape(g.label)}</td><td class='num'>{g.count:,}</td>"
        + "".join(f"<td class='num'>{_fmt(getattr(g, n))}</td>" for n in rate_names)
        + "</tr>"
        for g in f.groups
    )
    note = ""
    if f.undefined:
        note = (
            '<p class="meta">Undefined (left out of the disparities): '
            + "; ".join(
                f"{escape(rate.replace('_', ' '))} of {escape(', '.join(groups))}"
                for rate, groups in f.undefined.items()
            )
            + ".</p>"
        )
    bars = _bar_chart(
        f"selection rate by {column}",
        [g.label for g in f.groups],
        [g.selection_rate for g in f.groups],
        None,
    )
    return (
        f"<section><h2>Fairness across {escape(column)}</h2>"
        f'<p class="meta">Predictions: score &ge; {f.threshold:g}.</p>'
        f"<table><tbody>{disparities}</tbody></table>"
        f"<table><thead><tr><th>group</th><th>rows</th>{head}</tr></thead><tbody>{rows}</tbody>"
        f"</table>{note}{bars}</section>"
    )


def _importance(imp: Importance) -> str:
    bars = _bar_chart(
        f"permutation importance ({imp.metric}, {imp.n_repeats} repeats)",
        [f.feature for f in imp.features],
        [f.mean for f in imp.features],
        [(f.mean - f.std, f.mean + f.std) for f in imp.features],
    )
    return (
        f"<section><h2>Permutation importance</h2><p class='meta'>Baseline {escape(imp.metric)} "
        f"{_fmt(imp.baseline)}; bars: mean drop when the column is permuted, whiskers: one "
        f"standard deviation.</p>{bars}</section>"
    )


def _dependence(items: list[PartialDependence]) -> str:
    plots = []
    for pd in items:
        if pd.kind == "numeric" and pd.average and not isinstance(pd.average[0], list):
            plots.append(
                _line_plot(
                    pd.feature,
                    [(pd.grid, pd.average, _BLUE)],
                    pd.feature,
                    "average output",
                    dots=True,
                )
            )
        elif pd.average and not isinstance(pd.average[0], list):
            plots.append(_bar_chart(pd.feature, [str(v) for v in pd.grid], pd.average, None))
    return (
        f'<section><h2>Partial dependence</h2><div class="plots">{"".join(plots)}</div></section>'
    )


# --- SVG -----------------------------------------------------------------------------------------


def _line_plot(
    title: str,
    series: Sequence[tuple[Sequence[Any], Sequence[Any], str]],
    x_label: str,
    y_label: str,
    *,
    diagonal: bool = False,
    dots: bool = False,
) -> str:
    width, height = 320, 280
    left, right, top, bottom = 44, 12, 24, 40
    pw, ph = width - left - right, height - top - bottom
    xs = [float(x) for s in series for x in s[0]]
    ys = [float(y) for s in series for y in s[1]]
    unit = diagonal or (xs and min(xs) >= 0 and max(xs) <= 1 and min(ys) >= 0 and max(ys) <= 1)
    x0, x1 = (0.0, 1.0) if unit else (min(xs), max(xs))
    y0, y1 = (0.0, 1.0) if unit else (min(ys), max(ys))
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    out = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'font-size="10"><title>{escape(title)}</title>',
        f'<text x="{left}" y="14" font-size="12">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="{_GREY}"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="{_GREY}"/>',
        f'<text x="{left}" y="{top + ph + 12}" text-anchor="middle">{_fmt(x0)}</text>',
        f'<text x="{left + pw}" y="{top + ph + 12}" text-anchor="middle">{_fmt(x1)}</text>',
        f'<text x="{left - 3}" y="{top + ph}" text-anchor="end">{_fmt(y0)}</text>',
        f'<text x="{left - 3}" y="{top + 8}" text-anchor="end">{_fmt(y1)}</text>',
        f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="10" y="{top + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 10 {top + ph / 2})">{escape(y_label)}</text>',
    ]
    if diagonal:
        out.append(
            f'<line x1="{px(0):.1f}" y1="{py(0):.1f}" x2="{px(1):.1f}" y2="{py(1):.1f}" '
            f'stroke="#ccc" stroke-dasharray="4 3"/>'
        )
    for x_values, y_values, colour in series:
        points = " ".join(
            f"{px(float(x)):.1f},{py(float(y)):.1f}"
            for x, y in zip(x_values, y_values, strict=True)
        )
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
        )
        if dots:
            out += [
                f'<circle cx="{px(float(x)):.1f}" cy="{py(float(y)):.1f}" r="2.5" fill="{colour}">'
                f"<title>{_fmt(float(x))}: {_fmt(float(y))}</title></circle>"
                for x, y in zip(x_values, y_values, strict=True)
            ]
    out.append("</svg>")
    return "".join(out)


def _bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    intervals: Sequence[tuple[float | None, float | None]] | None,
) -> str:
    """Horizontal bars, one per label, with interval whiskers where given."""
    shown = min(len(labels), 60)
    row = 16
    label_w, width, pad = 200, 640, 10
    height = 24 + shown * row + 10
    finite = [v for v in values[:shown] if v is not None]
    ends = finite + [e for iv in (intervals or [])[:shown] for e in iv if e is not None]
    low = min([0.0, *ends])
    high = max([0.0, *ends]) or 1.0
    span = high - low or 1.0
    plot_w = width - label_w - pad * 2

    def px(x: float) -> float:
        return label_w + pad + (x - low) / span * plot_w

    out = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'font-size="10"><title>{escape(title)}</title>',
        f'<text x="0" y="14" font-size="12">{escape(title)}</text>',
        f'<line x1="{px(0):.1f}" y1="20" x2="{px(0):.1f}" y2="{height - 6}" stroke="{_GREY}"/>',
    ]
    for i in range(shown):
        y = 24 + i * row
        text = labels[i] if len(labels[i]) <= 32 else labels[i][:31] + "\u2026"
        out.append(f'<text x="{label_w}" y="{y + 11}" text-anchor="end">{escape(text)}</text>')
        v = values[i]
        if v is None:
            out.append(f'<text x="{px(0) + 4:.1f}" y="{y + 11}" fill="#8a5a00">undefined</text>')
            continue
        a, b = sorted((px(0), px(v)))
        out.append(
            f'<rect x="{a:.1f}" y="{y + 2}" width="{max(b - a, 0.5):.1f}" height="{row - 5}" '
            f'fill="{_BLUE}"><title>{escape(labels[i])}: {_fmt(v)}</title></rect>'
        )
        if intervals is not None:
            lo, hi = intervals[i]
            if lo is not None and hi is not None:
                ym = y + (row - 3) / 2
                out.append(
                    f'<line x1="{px(lo):.1f}" y1="{ym:.1f}" x2="{px(hi):.1f}" y2="{ym:.1f}" '
                    'stroke="#222"/>'
                )
        out.append(f'<text x="{max(px(v), px(0)) + 4:.1f}" y="{y + 11}">{_fmt(v)}</text>')
    if len(labels) > shown:
        out.append(f'<text x="0" y="{height - 2}">{len(labels) - shown:,} more not shown</text>')
    out.append("</svg>")
    return "".join(out)
