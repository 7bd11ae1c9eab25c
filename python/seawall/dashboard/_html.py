"""The dashboard's HTML: one page layout with inline CSS, tables, and charts drawn as inline SVG
on the server. No scripts, no fonts or styles from elsewhere: it works offline.

Every string that comes from data (names, tags, messages, params) goes through :func:`esc`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from html import escape
from typing import Any
from urllib.parse import quote

REF = "#4c78a8"  # reference series
CUR = "#f58518"  # current series
BAD = "#c0392b"
OK = "#2e7d32"
PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#eeca3b", "#9d755d")

CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",sans-serif;
  color:#1d2330;background:#f5f6f8;font-size:14px}
a{color:#2b5fa8;text-decoration:none}a:hover{text-decoration:underline}
header{background:#1d2330;color:#fff;padding:.55em 1.4em;display:flex;align-items:center;gap:2em}
header .brand{font-weight:700;font-size:1.15em;letter-spacing:.02em;color:#fff}
header nav a{color:#cfd6e4;margin-right:1.3em}header nav a.here{color:#fff;font-weight:600}
main{max-width:1240px;margin:0 auto;padding:1em 1.4em 3em}
h1{font-size:1.45em;margin:.5em 0 .2em}h2{font-size:1.12em;margin:1.6em 0 .5em}
h3{font-size:1em;margin:.8em 0 .3em}
.sub{color:#5b6474;margin:.1em 0 .8em}
.cards{display:flex;gap:.8em;flex-wrap:wrap;margin:.8em 0}
.card{background:#fff;border:1px solid #e1e4ea;border-radius:6px;padding:.6em 1em;min-width:9em}
.card .n{font-size:1.6em;font-weight:650}.card .l{color:#5b6474;font-size:.85em}
.panel{background:#fff;border:1px solid #e1e4ea;border-radius:6px;padding:.4em .9em .8em;
  margin:.6em 0}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{padding:.38em .6em;border-bottom:1px solid #eceef2;text-align:left;vertical-align:middle}
th{color:#5b6474;font-weight:600;font-size:.85em;text-transform:uppercase;letter-spacing:.03em}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{background:#fff5f4}
.badge{display:inline-block;padding:.05em .5em;border-radius:9px;font-size:.82em;
  background:#e8edf6;color:#2b4a7a;margin:0 .25em .15em 0;white-space:nowrap}
.badge.bad{background:#fde2e1;color:#8a1c1c}.badge.ok{background:#e3f4e1;color:#1f5f1a}
.badge.warn{background:#fff1d6;color:#7a4b00}.badge.muted{background:#eceef2;color:#5b6474}
.muted{color:#8a92a0}.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(290px,1fr));gap:.7em}
.grid .panel{margin:0}
.legend span{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .9em;
  vertical-align:middle;border-radius:2px}
.note{background:#fff8e5;border:1px solid #f1dca6;padding:.5em .8em;border-radius:5px;margin:.6em 0}
.error{background:#fde2e1;border:1px solid #f3b7b3;padding:.6em .9em;border-radius:5px}
.lineage{display:flex;gap:1.2em;align-items:stretch;flex-wrap:wrap}
.lineage .col{display:flex;flex-direction:column;gap:.5em;justify-content:center}
.lineage .node{background:#fff;border:1px solid #cfd6e4;border-radius:6px;padding:.45em .7em;
  min-width:11em}
.lineage .node .k{font-size:.75em;color:#5b6474;text-transform:uppercase}
.lineage .arrow{align-self:center;color:#8a92a0;font-size:1.4em}
form.search input[type=text]{width:28em;padding:.35em}form.search select{padding:.3em}
header .user{margin-left:auto;color:#cfd6e4}header .user form{display:inline;margin-left:.8em}
header .user button{background:none;border:1px solid #8a92a0;color:#cfd6e4;cursor:pointer}
form.signin input[type=password]{width:36em;padding:.4em}form.act input{padding:.3em}
svg text{font-family:inherit}
"""


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def href(prefix: str, *parts: Any, **query: Any) -> str:
    """An escaped link under the app's mount point, each path part URL-quoted."""
    path = prefix + "/" + "/".join(quote(str(p), safe="") for p in parts)
    q = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items() if v is not None)
    return esc(path + (f"?{q}" if q else ""))


def when(t: float | None) -> str:
    if t is None or not math.isfinite(t):
        return '<span class="muted">&ndash;</span>'
    return esc(time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)))


def num(x: Any, digits: int = 4) -> str:
    if x is None:
        return '<span class="muted">&ndash;</span>'
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return esc(x)
    if not math.isfinite(v):
        return esc(v)
    if v == 0 or 1e-4 <= abs(v) < 1e6:
        return f"{v:.{digits}g}"
    return f"{v:.3e}"


def pct(x: float | None) -> str:
    return '<span class="muted">&ndash;</span>' if x is None else f"{100 * x:.1f}%"


def badge(text: str, kind: str = "") -> str:
    return f'<span class="badge {kind}">{esc(text)}</span>'


# Who is signed in (HTML, set per request by the app): at the right of every page's header.
signed_in: ContextVar[str] = ContextVar("seawall_dashboard_signed_in", default="")


def page(title: str, body: str, prefix: str, here: str = "") -> str:
    nav = "".join(
        f'<a href="{esc(prefix + path)}"{" class=here" if key == here else ""}>{label}</a>'
        for key, path, label in (
            ("overview", "/", "Overview"),
            ("runs", "/runs", "Runs"),
            ("alerts", "/alerts", "Alerts"),
        )
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · seawall</title><style>{CSS}</style></head><body>"
        f'<header><a class=brand href="{esc(prefix + "/")}">seawall</a><nav>{nav}</nav>{signed_in.get()}</header>'
        f"<main>{body}</main></body></html>"
    )


class Num(str):
    """A table cell holding a number: right-aligned."""


def right(cell: str) -> Num:
    return Num(cell)


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], classes: Sequence[str] = ()
) -> str:
    """Cells are HTML already (escape data with esc; :func:`right` for numbers); `classes`
    per row (e.g. "bad")."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = classes[i] if i < len(classes) and classes[i] else ""
        cells = "".join(
            f'<td class="num">{c}</td>' if isinstance(c, Num) else f"<td>{c}</td>" for c in row
        )
        body.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    if not body:
        return f'<table><thead><tr>{head}</tr></thead></table><p class="muted">None.</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


# --- charts ----------------------------------------------------------------------------------


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    first = math.ceil(lo / step) * step
    out = []
    v = first
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def _time_label(t: float, span: float) -> str:
    fmt = "%m-%d %H:%M" if span > 86400 else "%H:%M:%S" if span < 600 else "%H:%M"
    return time.strftime(fmt, time.gmtime(t))


def line_chart(
    series: Sequence[tuple[str, Sequence[float], Sequence[float | None], str]],
    *,
    width: int = 560,
    height: int = 180,
    threshold: float | None = None,
    marks: Sequence[bool] | None = None,
    y_range: tuple[float, float] | None = None,
    title: str = "",
    x_time: bool = True,
) -> str:
    """Lines over time (or over steps with ``x_time=False``): each series (label, times, values, color); None values leave a gap.
    `threshold` draws a dashed line; `marks` (per point of the first series) colors points red."""
    pad_l, pad_r, pad_t, pad_b = 46, 10, 10, 24
    xs = [x for _, times, _, _ in series for x in times]
    ys = [y for _, _, values, _ in series for y in values if y is not None and math.isfinite(y)]
    if not xs or not ys:
        return '<p class="muted">No data yet.</p>'
    x0, x1 = min(xs), max(xs)
    if y_range is not None:
        y0, y1 = y_range
    else:
        y0, y1 = min(ys), max(ys)
        if threshold is not None:
            y0, y1 = min(y0, threshold), max(y1, threshold)
        y0 = min(y0, 0.0)
        if y1 == y0:
            y1 = y0 + 1.0
        y1 += (y1 - y0) * 0.05
    span = x1 - x0 or 1.0
    w, h = width - pad_l - pad_r, height - pad_t - pad_b

    def px(x: float) -> float:
        return pad_l + (x - x0) / span * w if x1 > x0 else pad_l + w / 2

    def py(y: float) -> float:
        return pad_t + h - (min(max(y, y0), y1) - y0) / (y1 - y0) * h

    out = [
        f'<svg role="img" aria-label="{esc(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    if title:
        out.append(f"<title>{esc(title)}</title>")
    for t in _ticks(y0, y1):
        y = py(t)
        out.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eceef2"/>'
            f'<text x="{pad_l - 5}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#5b6474">{t:g}</text>'
        )
    first, last = (
        (_time_label(x0, span), _time_label(x1, span) + " UTC")
        if x_time
        else (f"{x0:g}", f"{x1:g}")
    )
    out.append(
        f'<text x="{pad_l}" y="{height - 6}" font-size="10" fill="#5b6474">{esc(first)}</text>'
        f'<text x="{width - pad_r}" y="{height - 6}" font-size="10" fill="#5b6474" '
        f'text-anchor="end">{esc(last)}</text>'
    )
    if threshold is not None and y0 <= threshold <= y1:
        y = py(threshold)
        out.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" stroke="{BAD}" '
            f'stroke-dasharray="4 3" stroke-width="1"><title>threshold {threshold:g}</title></line>'
        )
    for i, (label, times, values, color) in enumerate(series):
        path: list[str] = []
        pen = "M"
        for x, v in zip(times, values, strict=True):
            if v is None or not math.isfinite(v):
                pen = "M"
                continue
            path.append(f"{pen}{px(x):.1f},{py(v):.1f}")
            pen = "L"
        if path:
            out.append(
                f'<path d="{" ".join(path)}" fill="none" stroke="{color}" stroke-width="1.6">'
                f"<title>{esc(label)}</title></path>"
            )
        every_point = len(times) <= 120  # beyond, only the marked points (a lighter page)
        for j, (x, v) in enumerate(zip(times, values, strict=True)):
            if v is None or not math.isfinite(v):
                continue
            bad = i == 0 and marks is not None and j < len(marks) and marks[j]
            if every_point or bad:
                out.append(
                    f'<circle cx="{px(x):.1f}" cy="{py(v):.1f}" r="{3 if bad else 2}" '
                    f'fill="{BAD if bad else color}"><title>{esc(label)} '
                    f"{esc(_time_label(x, 86401) if x_time else f'{x:g}')}: {v:.4g}</title>"
                    "</circle>"
                )
    out.append("</svg>")
    return "".join(out)


def sparkline(values: Sequence[float], width: int = 120, height: int = 26) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return '<span class="muted">&ndash;</span>'
    hi = max(max(finite), 1e-12)
    step = width / max(len(values) - 1, 1)
    points = []
    for i, v in enumerate(values):
        if math.isfinite(v):
            points.append(f"{i * step:.1f},{height - 2 - v / hi * (height - 4):.1f}")
    last = finite[-1]
    color = BAD if last > 0 else OK
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="drift share over time">'
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" stroke-width="1.5"/>'
        "</svg>"
    )


def bars(
    labels: Sequence[str],
    reference: Sequence[float],
    current: Sequence[float],
    *,
    width: int = 620,
    height: int = 220,
    title: str = "",
) -> str:
    """Grouped bars of two distributions (shares) over the same bins or categories."""
    n = len(labels)
    if n == 0:
        return '<p class="muted">No values to show.</p>'
    pad_l, pad_r, pad_t, pad_b = 40, 8, 10, 46
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    top = max([*reference, *current, 1e-12]) * 1.08
    slot = w / n
    bar = max(1.0, slot * 0.38)
    out = [
        f'<svg role="img" aria-label="{esc(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for t in _ticks(0, top, 4):
        y = pad_t + h - t / top * h
        out.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eceef2"/>'
            f'<text x="{pad_l - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#5b6474">{100 * t:.0f}%</text>'
        )
    every = max(1, math.ceil(n / 12))
    for i, label in enumerate(labels):
        x = pad_l + i * slot + slot / 2
        for share, color, dx in ((reference[i], REF, -bar), (current[i], CUR, 0.0)):
            bh = share / top * h
            out.append(
                f'<rect x="{x + dx:.1f}" y="{pad_t + h - bh:.1f}" width="{bar:.1f}" '
                f'height="{bh:.1f}" fill="{color}"><title>{esc(label)}: '
                f"{100 * share:.2f}%</title></rect>"
            )
        if i % every == 0:
            text = label if len(label) <= 12 else label[:11] + "…"
            out.append(
                f'<text x="{x:.1f}" y="{pad_t + h + 13}" font-size="10" fill="#5b6474" '
                f'text-anchor="end" transform="rotate(-30 {x:.1f} {pad_t + h + 13})">'
                f"{esc(text)}</text>"
            )
    out.append("</svg>")
    return "".join(out)


def legend(*items: tuple[str, str]) -> str:
    return (
        '<div class="legend">'
        + "".join(f'<span style="background:{c}"></span>{esc(t)}' for t, c in items)
        + "</div>"
    )
