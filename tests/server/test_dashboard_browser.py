"""The county page in Chromium: the numbers of the API, the language switch, the chart.

Drives Debian's chromium (``/usr/bin/chromium``) through Playwright; a screenshot of the
page is kept in ``test-artifacts/``.
"""

from __future__ import annotations

import shutil
import threading
from datetime import date
from pathlib import Path

import pytest

from demo import DemoShape
from sync.couch import CouchClient
from tests.server.test_summaries_oracle import admin_client, demo_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SHAPE = DemoShape(prefectures=1, counties_per_prefecture=2, schools=10, days=14, seed=3, end=date(2026, 11, 20))
pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from werkzeug.serving import make_server

    with demo_server(tmp_path_factory, SHAPE) as (url, _manifest):
        with CouchClient(url) as couch:
            couch.put_user("officer_c1", password="officer-pw", roles=["county:p01c01"])
        with admin_client(url, tmp_path_factory) as (app, client):
            server = make_server("127.0.0.1", 0, app, threaded=True)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            yield f"http://127.0.0.1:{server.server_port}", client
            server.shutdown()
            thread.join(timeout=5)


def test_county_page_shows_the_api_numbers_switches_language_and_draws_the_chart(site):
    from playwright.sync_api import sync_playwright

    base, client = site
    query = f"from={SHAPE.start_date}&to={SHAPE.end_date}"
    api = client.get(f"/api/v1/summaries/county/p01c01?{query}").get_json()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1600})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
            page.goto(f"{base}/counties/p01c01?{query}")
            page.fill("input[name=name]", "officer_c1")
            page.fill("input[name=password]", "officer-pw")
            page.click("button[type=submit]")
            page.wait_for_selector("#daily")
            assert "日报汇总" in page.inner_text("h1")  # Chinese by default
            for day in api["days"]:
                row = page.locator(f'#daily tr[data-date="{day["date"]}"]')
                assert row.locator("td.expected").inner_text() == str(day["schools_expected"])
                assert row.locator("td.received").inner_text() == str(day["reports_received"])
                assert row.locator("td.zero").inner_text() == str(day["zero_reports"])
                want = f"{day['completeness'] * 100:.1f}%" if day["completeness"] is not None else "—"
                assert row.locator("td.completeness").inner_text() == want
                assert row.locator("td.fever").inner_text() == str(day["totals"]["fever_at_check"])
            page.wait_for_function("() => document.querySelector('#trend-chart canvas')", timeout=60_000)
            assert errors == []
            assert page.get_attribute("#trend-chart", "data-rendered") == "true"
            size = page.evaluate("() => { const c = document.querySelector('#trend-chart canvas');"
                                 " return [c.width, c.height]; }")
            assert size[0] > 100 and size[1] > 100
            assert page.locator("#trend-chart .u-legend").count() == 1

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "county-page-zh.png"), full_page=True)
            page.click("#lang-switch")
            page.wait_for_selector("h1:has-text('Daily summary')")
            assert page.locator("#daily th").first.inner_text() == "Date"
            page.goto(f"{base}/counties/p01c01?{query}")  # remembered in the session
            assert "Daily summary" in page.inner_text("h1")
            page.screenshot(path=str(ARTIFACTS / "county-page-en.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
