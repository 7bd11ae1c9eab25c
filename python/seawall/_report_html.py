"""The look every seawall HTML report shares (drift reports, validation reports): inline CSS, a
number format, and the page around a report's body. No scripts and no network."""

from __future__ import annotations

__all__ = ["CSS", "fmt", "page"]

CSS = """
.sw-report{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
  max-width:1100px}
.sw-report h1{font-size:1.4em;margin:.4em 0}
.sw-report h2{font-size:1.1em;margin:1.2em 0 .3em}
.sw-report .verdict{padding:.5em .8em;border-radius:4px;display:inline-block}
.sw-report .yes{background:#fde2e1;color:#8a1c1c}
.sw-report .no{background:#e3f4e1;color:#1f5f1a}
.sw-report .warn{background:#fff1cc;color:#6b4a00}
.sw-report table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
.sw-report th,.sw-report td{border-bottom:1px solid #ddd;padding:.3em .7em;text-align:left}
.sw-report td.num{text-align:right;font-variant-numeric:tabular-nums}
.sw-report tr.drifted td,.sw-report tr.anomalous td{background:#fff4f3}
.sw-report tr.no_data td{background:#fff8e1}
.sw-report .legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;
  vertical-align:middle}
.sw-report .meta{color:#666;font-size:.85em}
.sw-report section{border-top:1px solid #eee;padding-top:.3em}
.sw-report code{font-size:.9em}
"""


def fmt(x: float | None) -> str:
    """A number for a report table (an en dash for none)."""
    if x is None:
        return "&ndash;"
    if x == 0 or (1e-4 <= abs(x) < 1e6):
        return f"{x:.4g}"
    return f"{x:.3e}"


def page(title: str, body: str, *, full_page: bool) -> str:
    """`body` (already escaped HTML) as a whole page, or as a notebook fragment with its CSS."""
    if not full_page:
        return f"<style>{CSS}</style>\n{body}"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
