"""The HTML of a DriftReport: inline CSS and hand-made SVG, no scripts and no network.

Every user string (column names, category values) goes through html.escape.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING

from .._report_html import fmt as _fmt
from .._report_html import page

if TYPE_CHECKING:
    from .report import ColumnDrift, Distribution, DriftReport

_REF = "#4c78a8"
_CUR = "#f58518"


def render(report: DriftReport, *, full_page: bool) -> str:
    parts = ['<div class="sw-report sw-drift">']
    parts.append("<h1>Data drift report</h1>")
    rows = f"Reference: {report.reference_rows:,} rows; current: {report.current_rows:,} rows."
    if report.dataset_drift is None:
        parts.append(
            '<p><span class="verdict warn">No verdict: no column could be compared</span> '
            f"Every column lacks values on a side (reasons below). {rows}</p>"
        )
    else:
        verdict = "Dataset drift detected" if report.dataset_drift else "No dataset drift"
        parts.append(
            f'<p><span class="verdict {"yes" if report.dataset_drift else "no"}">{verdict}</span> '
            f"{report.number_of_drifted_columns} of {report.number_of_compared_columns} compared "
            f"columns drifted (share {_fmt(report.drift_share)}; dataset drift when the share is "
            f"at least {_fmt(report.drift_share_threshold)}). {rows}</p>"
        )
    no_data = report.no_data_columns
    if no_data and report.dataset_drift is not None:
        parts.append(
            f'<p><span class="verdict warn">{len(no_data):,} of {len(report.columns):,} '
            "columns could not be compared</span> A side "
            "has no values (every value missing or infinite, or no rows): marked "
            "<em>no data</em> below, with the reason, and left out of the share.</p>"
        )
    parts.append(
        "<table><thead><tr><th>column</th><th>kind</th><th>method</th><th>statistic</th>"
        "<th>p-value</th><th>threshold</th><th>drifted</th></tr></thead><tbody>"
    )
    for i, c in enumerate(report.columns):
        head = (
            f'<td><a href="#sw-col-{i}">{escape(c.column)}</a></td><td>{c.kind}</td>'
            f"<td>{_text(c.method)}</td>"
        )
        if c.status == "no_data":
            parts.append(
                f'<tr class="no_data">{head}<td colspan="3">{_text(c.error)}</td>'
                "<td>no data</td></tr>"
            )
            continue
        parts.append(
            f'<tr class="{"drifted" if c.drifted else ""}">{head}'
            f'<td class="num">{_fmt(c.statistic)}</td><td class="num">{_fmt(c.pvalue)}</td>'
            f'<td class="num">{_fmt(c.threshold)}</td><td>{"yes" if c.drifted else "no"}</td></tr>'
        )
    parts.append("</tbody></table>")
    parts.append(
        f'<p class="legend">Distributions:<span style="background:{_REF}"></span>reference'
        f'<span style="background:{_CUR}"></span>current</p>'
    )
    for i, c in enumerate(report.columns):
        parts.append(_section(i, c))
    parts.append("</div>")
    return page("seawall data drift report", "\n".join(parts), full_page=full_page)


def _section(i: int, c: ColumnDrift) -> str:
    dropped = []
    if c.reference_missing or c.current_missing:
        dropped.append(f"missing dropped: {c.reference_missing:,} / {c.current_missing:,}")
    if c.reference_infinite or c.current_infinite:
        dropped.append(f"infinite dropped: {c.reference_infinite:,} / {c.current_infinite:,}")
    if c.status == "no_data":
        verdict = f"{c.kind}: <strong>no data, not compared</strong>: {_text(c.error)}. "
    else:
        verdict = (
            f"{c.kind}, {_text(c.method)}: statistic {_fmt(c.statistic)}, p-value "
            f"{_fmt(c.pvalue)}, threshold {_fmt(c.threshold)} &rarr; "
            f"{'drift' if c.drifted else 'no drift'}. "
        )
    meta = (
        verdict
        + f"Values used (reference / current): {c.reference_count:,} / {c.current_count:,}"
        + ("; " + "; ".join(dropped) if dropped else "")
        + "."
    )
    if c.source == "profile":
        meta += " Estimated from two profiles" + (f": {escape(c.note)}." if c.note else ".")
    elif c.note:
        meta += f" {escape(c.note)}."
    plot = _svg(c.column, c.distribution, "no values to compare" if c.status == "no_data" else None)
    hidden = ""
    if c.distribution is not None and c.distribution.hidden:
        hidden = f" {c.distribution.hidden:,} less frequent categories not shown."
    return (
        f'<section id="sw-col-{i}"><h2>{escape(c.column)}</h2>'
        f'<p class="meta">{meta}{hidden}</p>\n{plot}</section>'
    )


def _label(x: object) -> str:
    if isinstance(x, str):
        return x
    if isinstance(x, (int, float)):
        return f"{x:.4g}"
    return str(x)


def _text(x: str | None) -> str:
    return "&ndash;" if x is None else escape(x)


def _svg(column: str, dist: Distribution | None, why: str | None = None) -> str:
    width, height = 640, 240
    left, right, top, bottom = 48, 10, 10, 60
    title = f"<title>{escape(column)}: reference vs current shares</title>"
    if dist is None or not dist.reference:
        text = "no distribution" + (f": {why}" if why else "")
        return (
            f'<svg width="{width}" height="40" role="img">'
            f'{title}<text x="4" y="24" font-size="12">{text}</text></svg>'
        )
    n = len(dist.reference)
    peak = max(max(dist.reference), max(dist.current), 1e-12)
    plot_w = width - left - right
    plot_h = height - top - bottom
    slot = plot_w / n
    bar = max(slot * 0.4, 0.5)
    out = [
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-size="10">{title}',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{_fmt(peak)}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    if dist.kind == "histogram":
        labels = [
            f"[{_label(a)}, {_label(b)})"
            for a, b in zip(dist.bins[:-1], dist.bins[1:], strict=True)
        ]
    else:
        labels = [_label(b) for b in dist.bins]
    for k in range(n):
        x0 = left + k * slot + (slot - 2 * bar) / 2
        for j, (share, colour, side) in enumerate(
            ((dist.reference[k], _REF, "reference"), (dist.current[k], _CUR, "current"))
        ):
            h = 0.0 if not math.isfinite(share) else plot_h * share / peak
            out.append(
                f'<rect x="{x0 + j * bar:.2f}" y="{top + plot_h - h:.2f}" width="{bar:.2f}" '
                f'height="{h:.2f}" fill="{colour}"><title>{escape(labels[k])} {side}: '
                f"{share:.4g}</title></rect>"
            )
    if dist.kind == "histogram":
        ticks = sorted({0, n // 2, n})
        for k in ticks:
            x = left + k * slot
            out.append(
                f'<text x="{x:.2f}" y="{top + plot_h + 14}" text-anchor="middle">'
                f"{escape(_label(dist.bins[k]))}</text>"
            )
    else:
        step = max(1, math.ceil(n / 40))
        for k in range(0, n, step):
            x = left + (k + 0.5) * slot
            text = labels[k] if len(labels[k]) <= 14 else labels[k][:13] + "\u2026"
            y = top + plot_h + 10
            out.append(
                f'<text x="{x:.2f}" y="{y}" text-anchor="end" '
                f'transform="rotate(-40 {x:.2f} {y})">{escape(text)}</text>'
            )
    out.append("</svg>")
    return "".join(out)
