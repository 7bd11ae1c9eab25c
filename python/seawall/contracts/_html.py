"""The HTML of a ValidationReport, in the look of every seawall report (seawall._report_html).

Every user string (column names, values, descriptions) goes through html.escape.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from .._report_html import fmt, page

if TYPE_CHECKING:
    from .report import Comparison, ValidationReport

_ROWS_SHOWN = 20


def render(report: ValidationReport, *, full_page: bool) -> str:
    parts = ['<div class="sw-report sw-contract">', "<h1>Data validation report</h1>"]
    what = (
        f"{report.rows:,} rows" if report.source == "data" else f"a profile of {report.rows:,} rows"
    )
    env = f" in environment <code>{escape(report.environment)}</code>" if report.environment else ""
    if report.ok:
        parts.append(
            f'<p><span class="verdict no">No anomalies</span> {len(report.columns):,} columns '
            f"of {what} checked{env}.</p>"
        )
    else:
        parts.append(
            f'<p><span class="verdict yes">{len(report.anomalies):,} anomalies in '
            f"{len(report.anomalous_columns):,} columns</span> {what} checked{env}.</p>"
        )
    if report.anomalies:
        parts.append(
            "<h2>Anomalies</h2><table><thead><tr><th>column</th><th>anomaly</th>"
            "<th>TFDV</th><th>count</th><th>description</th><th>first failing rows</th>"
            "</tr></thead><tbody>"
        )
        for a in report.anomalies:
            count = "&ndash;" if a.count is None else f"{'~' if a.approximate else ''}{a.count:,}"
            rows = ", ".join(str(r) for r in a.rows[:_ROWS_SHOWN])
            if len(a.rows) > _ROWS_SHOWN:
                rows += ", &hellip;"
            parts.append(
                f'<tr class="anomalous"><td>{escape(a.column)}</td><td>{escape(a.kind)}</td>'
                f"<td><code>{escape(a.tfdv) or '&ndash;'}</code></td>"
                f'<td class="num">{count}</td><td>{escape(a.description)}</td>'
                f"<td>{rows or '&ndash;'}</td></tr>"
            )
        parts.append("</tbody></table>")
    for title, measured in (("Training-serving skew", report.skew), ("Drift", report.drift)):
        if measured:
            parts.append(_comparisons(title, measured))
    if report.columns:
        parts.append(
            "<h2>Columns checked</h2><table><thead><tr><th>column</th><th>schema type</th>"
            "<th>data</th><th>rows</th><th>nulls</th><th>NaN</th><th>infinite</th>"
            "<th>distinct</th><th>anomalies</th></tr></thead><tbody>"
        )
        for c in report.columns:
            kinds = ", ".join(sorted(report.kinds(c.column)))
            distinct = "&ndash;" if c.distinct is None else f"{c.distinct:,}"
            parts.append(
                f'<tr class="{"anomalous" if kinds else ""}"><td>{escape(c.column)}</td>'
                f"<td>{escape(c.type or 'any')}</td><td>{escape(c.data_type)}</td>"
                f'<td class="num">{c.rows:,}</td><td class="num">{c.nulls:,}</td>'
                f'<td class="num">{c.nans:,}</td><td class="num">{c.infinities:,}</td>'
                f'<td class="num">{distinct}</td><td>{escape(kinds) or "&ndash;"}</td></tr>'
            )
        parts.append("</tbody></table>")
    if report.source == "profile":
        parts.append(
            '<p class="meta">Checked from a profile: no failing rows, and counts marked ~ are '
            "estimated from its sketches.</p>"
        )
    parts.append("</div>")
    return page("seawall data validation report", "\n".join(parts), full_page=full_page)


def _comparisons(title: str, measured: tuple[Comparison, ...]) -> str:
    rows = [
        f"<h2>{title}</h2><table><thead><tr><th>column</th><th>measure</th><th>value</th>"
        "<th>threshold</th><th>anomalous</th><th>detail</th></tr></thead><tbody>"
    ]
    for c in measured:
        rows.append(
            f'<tr class="{"anomalous" if c.anomalous else ""}"><td>{escape(c.column)}</td>'
            f'<td>{c.measure}</td><td class="num">{"~" if c.approximate else ""}'
            f'{fmt(c.value)}</td><td class="num">{fmt(c.threshold)}</td>'
            f"<td>{'yes' if c.anomalous else 'no'}</td><td>{escape(c.detail) or '&ndash;'}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "".join(rows)
