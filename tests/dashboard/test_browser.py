"""The dashboard in a real headless browser: Chromium from Debian's packages, driven through
chromium-driver by Selenium (no browser or driver is downloaded), the dashboard mounted at /ui in
the real model server. It loads the overview, follows links to a model and one of its features,
and checks what is shown; the screenshot it takes is the README's (set SEAWALL_SCREENSHOT to a
path to keep it).

Without Chromium, its driver or Selenium the test skips, saying so, unless
SEAWALL_REQUIRE_BROWSER=1 (set by .ci/run), where it fails instead.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import monitoring_helpers as helpers  # loaded by this folder's conftest
import pytest

from seawall.dashboard import create_dashboard_app
from seawall.dashboard._data import distribution

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"


def _require(what: str, ok: bool) -> None:
    if not ok:
        reason = f"{what} is not installed (apt-get install chromium chromium-driver; selenium)"
        if os.environ.get("SEAWALL_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def browser(tmp_path):
    _require("Chromium", os.path.exists(CHROMIUM) or shutil.which("chromium") is not None)
    _require("chromium-driver", os.path.exists(DRIVER) or shutil.which("chromedriver") is not None)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _require("Selenium", False)
        raise
    options = Options()
    options.binary_location = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1000",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    driver_path = DRIVER if os.path.exists(DRIVER) else shutil.which("chromedriver")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_dashboard_in_a_browser(world, browser, rng, tmp_path):
    from selenium.webdriver.common.by import By

    from seawall.serving import create_app

    server = create_app(str(helpers.make_bundle(rng, tmp_path)), trust_code=True)
    server.mount("/ui", create_dashboard_app(world.registry, [world.monitor]))
    with helpers.running(server) as url:
        browser.get(url + "/ui/")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Overview"
        rows = browser.find_elements(By.CSS_SELECTOR, "main table tbody tr")
        names = [r.find_element(By.TAG_NAME, "td").text for r in rows[:2]]
        assert names == ["fraud", "churn"] or names == ["churn", "fraud"]
        body = browser.find_element(By.TAG_NAME, "body").text
        for alert in world.monitor.alerts():
            assert alert.message in body

        browser.find_element(By.LINK_TEXT, "fraud").click()
        assert browser.current_url == url + "/ui/models/fraud"
        assert browser.find_element(By.TAG_NAME, "h1").text == "fraud"
        charts = browser.find_elements(By.CSS_SELECTOR, ".grid svg[aria-label^='drift score of']")
        assert [c.get_attribute("aria-label") for c in charts] == [
            "drift score of amount",
            "drift score of age",
            "drift score of country",
        ]
        # a chart is drawn: one point per window of the history
        history = world.monitor.history()
        points = charts[0].find_elements(By.TAG_NAME, "circle")
        assert len(points) == len(history)
        text = browser.find_element(By.TAG_NAME, "main").text
        latest = history[-1]
        assert f"{len(latest.drifted_features)} of 3 features drifted" in text
        assert "champion → v2" in text and "better AUC on May data" in text
        shot = tmp_path / "dashboard.png"
        assert browser.save_screenshot(str(shot))
        width, height = _png_size(shot)
        assert width >= 1000 and height >= 600
        assert shot.stat().st_size < 400_000
        keep = os.environ.get("SEAWALL_SCREENSHOT")
        if keep:
            shutil.copyfile(shot, keep)

        browser.find_element(By.LINK_TEXT, "country").click()
        assert browser.current_url == url + "/ui/models/fraud/features/country"
        assert browser.find_element(By.TAG_NAME, "h1").text == "country"
        bars = browser.find_elements(By.CSS_SELECTOR, "svg[aria-label='country distribution'] rect")
        expected = distribution(world.reference, world.monitor.latest.profile, "country")
        assert len(bars) == 2 * len(expected.labels) > 0
        legend = browser.find_element(By.CSS_SELECTOR, ".legend").text
        assert "reference" in legend and "window" in legend

        browser.find_element(By.LINK_TEXT, "Runs").click()
        assert browser.find_element(By.TAG_NAME, "h1").text == "Runs"
        browser.find_element(By.LINK_TEXT, "train-v2").click()
        assert browser.find_element(By.TAG_NAME, "h1").text == "train-v2"
        assert "auc = 0.94" in browser.find_element(By.TAG_NAME, "main").text
