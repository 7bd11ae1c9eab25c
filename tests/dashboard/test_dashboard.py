"""The dashboard over HTTP (a real uvicorn, the app mounted at /ui as the model server mounts
it): every page answers, every link on every page leads to a page that answers, what is shown is
what the registry and the monitor hold, data is escaped, and nothing is loaded from elsewhere."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

import monitoring_helpers as helpers  # loaded by this folder's conftest
import numpy as np
import pytest
from sqlalchemy import text

from seawall.dashboard import create_dashboard_app
from seawall.dashboard._data import distribution
from seawall.profiles import Profile


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.sources: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        for key in ("src", "srcset"):
            if a.get(key):
                self.sources.append(a[key])
        if tag == "link" and a.get("href"):
            self.sources.append(a["href"])

    def handle_data(self, data):
        self.text.append(data)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.fixture
def mounted(world):
    from starlette.applications import Starlette
    from starlette.routing import Mount

    parent = Starlette(
        routes=[Mount("/ui", app=create_dashboard_app(world.registry, [world.monitor]))]
    )
    with helpers.running(parent) as url:
        yield url


def test_every_link_answers_and_stays_under_the_mount(world, mounted):
    seen: set[str] = set()
    todo = ["/ui/"]
    pages = 0
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        status, body = _get(mounted + path)
        assert status == 200, (path, body[:500])
        pages += 1
        page = _parse(body)
        assert page.sources == []  # no images, scripts or styles from anywhere
        assert "<script" not in body and "http://" not in body.replace(
            'xmlns="http://www.w3.org/2000/svg"', ""
        )
        for link in page.links:
            assert link.startswith("/ui/") or link == "/ui", (path, link)
            # window pages of every feature would make hundreds of requests: follow a few
            if "window=" in link and len([s for s in seen if "window=" in s]) > 3:
                continue
            todo.append(link)
    assert pages > 15
    assert {"/ui/models/fraud", "/ui/models/churn", f"/ui/runs/{world.run_id}"} <= seen
    assert "/ui/models/fraud/versions/2" in seen and "/ui/alerts" in seen


def test_the_overview_shows_models_aliases_drift_and_alerts(world, mounted):
    status, body = _get(mounted + "/ui/")
    assert status == 200
    words = " ".join(_parse(body).text)
    assert "champion → v2" in words and "challenger → v1" in words
    latest = world.monitor.latest
    assert latest is not None and latest.dataset_drift  # the traffic moved again at the end
    assert f"{100 * latest.drift_share:.0f}% drifted" in words
    open_alerts = world.monitor.alerts()
    assert open_alerts
    for alert in open_alerts:
        assert alert.message in words
    counts = re.findall(r'<div class="n">([\d,]+)</div><div class="l">([^<]+)', body)
    assert ("2", "models") in counts and ("3", "versions") in counts
    assert ("4", "runs in 2 experiments") in counts
    assert (str(len(open_alerts)), "open alerts") in counts


def test_the_model_page_shows_versions_alias_history_and_drift_over_time(world, mounted):
    status, body = _get(mounted + "/ui/models/fraud")
    assert status == 200
    # escaped, never markup
    assert "card fraud &lt;b&gt;model&lt;/b&gt;" in body and "<b>model</b>" not in body
    assert "team=&lt;risk&gt;" in body
    words = " ".join(_parse(body).text)
    assert "better AUC on May data" in words
    history = world.monitor.history()
    assert len(history) == 14
    # one chart per feature, each with a point per window; drifted points are red
    for feature in ("amount", "age", "country"):
        assert f"drift score of {feature}" in body
    red = body.count('fill="#c0392b"')
    drifted_points = sum(bool(f.drifted) for w in history for f in w.features.values())
    dataset_points = sum(bool(w.dataset_drift) for w in history)
    assert red == drifted_points + dataset_points
    latest = history[-1]
    for f in latest.features.values():
        assert f"{f.statistic:.4g}" in words
    assert "Quality over time" in body and "accuracy" in words


def test_the_model_page_shows_the_traffic_by_arm(world, mounted):
    status, body = _get(mounted + "/ui/models/fraud")
    assert status == 200 and "Traffic by arm, latest window" in body
    table = body.split("Traffic by arm, latest window", 1)[1].split("</table>", 1)[0]
    rows = [" ".join(r.split()) for r in _parse(table).text if r.strip()]
    text = " ".join(rows)
    for arm, f in world.arms.items():
        s = f.summary()
        assert f"{arm} {s['version']} {s['requests']:,} {100 * s['error_rate']:.1f}%" in text
        assert f"{s['latency_s']['p99'] * 1e3:.3g} ms" in text
    shadow = world.arms["shadow"].summary()
    assert f"{100 * shadow['agreement']:.1f}%" in text and "20" in text


def test_the_feature_page_shows_both_distributions(world, mounted):
    history = world.monitor.history()
    window = history[8]  # drifted
    status, body = _get(mounted + f"/ui/models/fraud/features/country?window={window.id}")
    assert status == 200
    assert "reference" in body and "window" in body
    labels, ref, cur, _, _ = distribution(
        world.reference, window.profile or _stored(world, window), "country"
    )
    bars = re.findall(r"<title>([^<]+): ([\d.]+)%</title></rect>", body)
    assert len(bars) == 2 * len(labels)
    for i, label in enumerate(labels):
        assert bars[2 * i] == (label, f"{100 * ref[i]:.2f}")
        assert bars[2 * i + 1] == (label, f"{100 * cur[i]:.2f}")
    status, _ = _get(mounted + "/ui/models/fraud/features/nope")
    assert status == 404
    status, body = _get(mounted + "/ui/models/fraud/features/amount?window=abc")
    assert status == 400 and "window id" in body


def _stored(world, window):
    from seawall.monitoring._store import HistoryStore

    return HistoryStore(world.registry).window(window.id).profile


def test_distribution_shares_match_the_data(rng):
    """Categories: exact shares while the top-value lists are exact; numbers: shares that sum
    to 1 and agree with the raw values within the sketch's rank error."""
    a = helpers.traffic(rng, 5000)
    b = helpers.traffic(rng, 3000, shift=0.7)
    pa_, pb = Profile.from_data(a), Profile.from_data(b)
    labels, ref, cur, _, _ = distribution(pa_, pb, "country")
    raw_a = a.column("country").to_pylist()
    raw_b = b.column("country").to_pylist()
    for label, r, c in zip(labels, ref, cur, strict=True):
        assert r == raw_a.count(label) / len(raw_a)
        assert c == raw_b.count(label) / len(raw_b)
    bins = distribution(pa_, pb, "age")
    note = bins.note
    for shares, table in ((bins.reference, a), (bins.current, b)):
        assert sum(shares) == pytest.approx(1.0)
        values = table.column("age").to_numpy()
        # cumulative shares at the inner edges, against the raw values' empirical cdf: within
        # the sketch's rank error (4/k = 0.02 at k=200)
        cdf = np.cumsum(shares)[: len(bins.edges) - 2]
        raw = [np.mean(values <= e) for e in bins.edges[1:-1]]
        assert np.max(np.abs(cdf - raw)) <= 0.02
    assert "0.5% to 99.5%" in note


def test_errors_are_pages_not_tracebacks(world, mounted):
    for path, code, words in (
        ("/ui/models/nope", 404, "no model named 'nope'"),
        ("/ui/models/fraud/versions/9", 404, "has no version 9"),
        ("/ui/runs/" + "0" * 32, 404, "no run with id"),
        ("/ui/runs?filter=" + urllib.parse.quote("metrics.auc >> 1"), 400, ""),
    ):
        status, body = _get(mounted + path)
        assert status == code, (path, body[:300])
        assert "class=error" in body and words in html.unescape(body)


def test_run_search_filters_in_the_registry(world, mounted):
    q = urllib.parse.urlencode({"filter": "metrics.auc > 0.5", "experiment": "churn"})
    status, body = _get(f"{mounted}/ui/runs?{q}")
    assert status == 200
    expected = world.registry.search_runs("churn", filter="metrics.auc > 0.5")
    assert f"{len(expected)} run(s)" in body
    for run in expected:
        assert f"/ui/runs/{run.id}" in body


def test_a_corrupt_history_row_is_a_note_on_the_page(world, mounted, caplog):
    ids = [w.id for w in world.monitor.history()]
    with world.registry._db.engine.begin() as conn:
        conn.execute(
            text("UPDATE monitor_windows SET details = 'oops' WHERE id = :i"), {"i": ids[3]}
        )
        conn.execute(
            text("UPDATE monitor_windows SET profile = :p WHERE id = :i"),
            {"p": b"not a profile", "i": ids[5]},
        )
    status, body = _get(mounted + "/ui/models/fraud")
    assert status == 200
    assert "1 stored window(s) could not be read" in body and str(ids[3]) in body
    status, body = _get(mounted + f"/ui/models/fraud/features/amount?window={ids[5]}")
    assert status == 200 and "profile was not kept (or did not decode)" in body


def test_seawall_ui_serves_the_dashboard(world, tmp_path):
    from local_servers import seawall_command

    db = world.registry._db.engine.url.database
    with seawall_command("ui", "--registry", db) as (url, _):
        status, body = _get(url + "/")
        assert status == 200 and "/models/fraud" in body and "/models/churn" in body
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from seawall.cli import main; main()",
            "ui",
            "--registry",
            "postgresql://nobody@127.0.0.1:1/none",
            "--port",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr


def test_seawall_ui_reads_reference_profiles_from_its_artifacts(world, tmp_path, cli_app):
    """The feature page compares a window with the reference profile registered with its
    version, which lies in the artifact store that --artifacts names (not the default one)."""
    window = world.monitor.history()[-1]
    path = f"/models/fraud/features/country?window={window.id}"
    db = world.registry._db.engine.url.database
    app, _ = cli_app(["ui", "--registry", db, "--artifacts", str(tmp_path / "artifacts")])
    with helpers.running(app) as url:
        status, body = _get(url + path)
    assert status == 200
    labels, ref, cur, _, _ = distribution(world.reference, _stored(world, window), "country")
    bars = re.findall(r"<title>([^<]+): ([\d.]+)%</title></rect>", body)
    assert bars == [
        pair
        for i, label in enumerate(labels)
        for pair in ((label, f"{100 * ref[i]:.2f}"), (label, f"{100 * cur[i]:.2f}"))
    ]
    app, _ = cli_app(["ui", "--registry", db])  # the default store has not got it
    with helpers.running(app) as url:
        status, body = _get(url + path)
    assert status == 200 and "the reference profile is not available" in body


def test_empty_registry(tmp_path):
    from seawall.registry import Registry

    reg = Registry(tmp_path / "empty.db", artifacts=tmp_path / "a")
    with helpers.running(create_dashboard_app(reg)) as url:
        status, body = _get(url + "/")
        assert status == 200 and "None." in body
        status, body = _get(url + "/alerts")
        assert status == 200
    reg.close()


def _run_pages(url: str, first: str, rel: str) -> list[list[str]]:
    """The run ids of each page of the run search, from `first` following the `rel` links
    ("next" or "previous") until there is none."""
    pages = []
    path: str | None = first
    while path is not None:
        status, body = _get(url + path)
        assert status == 200, body[:300]
        pages.append(re.findall(r'href="/runs/([0-9a-f]{32})"', body))
        links = re.findall(r'<a href="([^"]+)">(?:&laquo;|&lsaquo;)? ?(\w+)', body)
        path = next((html.unescape(href) for href, label in links if label == rel), None)
        assert len(pages) < 100, "the pages do not end"
    return pages


def test_the_run_search_pages_through_every_run(tmp_path, rng):
    """450 runs, more than a page holds: following "next" shows each exactly once, in the order
    asked for, and "previous" leads back through the same pages."""
    from seawall.registry import Registry

    reg = Registry(tmp_path / "runs.db", artifacts=tmp_path / "a")
    auc = {}
    for i in range(450):
        with reg.start_run(experiment="sweep" if i % 9 else "other", name=f"r{i}") as run:
            auc[run.id] = float(rng.random())
            run.log_metric("auc", auc[run.id])
    everyone = {r.id for r in reg.search_runs(max_results=1000)}
    assert everyone == set(auc)
    with helpers.running(create_dashboard_app(reg)) as url:
        # the default page size, newest first, every experiment
        pages = _run_pages(url, "/runs", "next")
        assert [len(p) for p in pages] == [100, 100, 100, 100, 50]
        seen = [run for page in pages for run in page]
        assert sorted(seen) == sorted(auc)  # each run exactly once
        assert seen == [r.id for r in reg.search_runs(max_results=1000)]
        # a filter, an order and a page size are kept from page to page
        threshold = float(rng.uniform(0.2, 0.5))
        size = int(rng.integers(20, 60))
        q = urllib.parse.urlencode(
            {
                "experiment": "sweep",
                "filter": f"metrics.auc > {threshold}",
                "order_by": "metrics.auc DESC",
                "max_results": size,
            }
        )
        pages = _run_pages(url, f"/runs?{q}", "next")
        seen = [run for page in pages for run in page]
        names = {r.id: r.experiment for r in reg.search_runs(max_results=1000)}
        want = sorted(
            (run for run, a in auc.items() if a > threshold and names[run] == "sweep"),
            key=lambda run: -auc[run],
        )
        assert seen == want
        assert all(len(p) == size for p in pages[:-1]) and 0 < len(pages[-1]) <= size
        # back from the last page, through the same pages
        status, body = _get(url + f"/runs?{q}")
        last = f"/runs?{q}"
        for _ in range(len(pages) - 1):
            last = html.unescape(re.findall(r'<a href="([^"]+)">next', body)[0])
            status, body = _get(url + last)
        assert _run_pages(url, last, "previous") == pages[::-1]
        for bad in ("max_results=0", "max_results=abc", "page_token=nonsense"):
            status, body = _get(url + "/runs?" + bad)
            assert status == 400 and "class=error" in body
    reg.close()
