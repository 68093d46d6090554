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
            couch.put_user("officer_p01", password="officer-pw", roles=["prefecture:p01"])
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


def _sign_in(page, base: str, path: str, name: str = "officer_c1") -> None:
    page.goto(f"{base}{path}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", "officer-pw")
    page.click("button[type=submit]")


@pytest.mark.parametrize("width", [1366, 768])
def test_county_workspace_answers_the_morning_questions(site, tmp_path, width):
    """The morning check at a desktop and a tablet width: reported and outstanding with the
    deadline in local time, the missing schools split as Admin → Sync health has them, good and
    bad change colours per metric, dated chart axes with labels, no raw UTC stamps."""
    import re

    from playwright.sync_api import sync_playwright

    from server.pages.workspace import METRIC_DIRECTION, format_time

    base, client = site
    full = f"from={SHAPE.start_date}&to={SHAPE.end_date}"
    # the county and day with the most missing schools, as the page's last day
    county, end = max(((c, d["date"]) for c in ("p01c01", "p01c02")
                       for d in client.get(f"/api/v1/summaries/county/{c}?{full}").get_json()["days"]),
                      key=lambda pair: next(d["schools_missing"] for d in client.get(
                          f"/api/v1/summaries/county/{pair[0]}?{full}").get_json()["days"] if d["date"] == pair[1]))
    query = f"from={SHAPE.start_date}&to={end}"
    missing = client.get(f"/api/v1/counties/{county}/missing", query_string={"date": end}).get_json()["missing"]
    api = client.get(f"/api/v1/summaries/county/{county}?{query}").get_json()
    health = {s["school_id"]: s["last_sync_at"] for s in client.get(
        "/api/v1/admin/sync-health", query_string={"days": 0, "county_id": county}).get_json()["schools"]}
    deadline = f"{end}T02:00:00Z"  # 10:00 in Asia/Shanghai
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            _sign_in(page, base, f"/counties/{county}?{query}&lang=zh", "officer_p01")
            page.wait_for_selector("#morning")
            day = api["days"][-1]
            assert page.inner_text("#tile-reported .big").replace(" ", "") == \
                f"{day['reports_from_expected']}/{day['schools_expected']}"
            when = date.fromisoformat(end)
            assert page.inner_text("#deadline") == f"{when.month}月{when.day}日 10:00"  # local, Chinese format
            assert "逾期未报" in page.inner_text("#tile-outstanding")  # the deadline has passed
            assert page.inner_text("#tile-outstanding .big").startswith(str(day["schools_missing"]))
            # the split agrees with the missing API and with Sync health's last sync
            for status in ("not_synced", "not_reported"):
                want = [r for r in missing if r["status"] == status]
                rows = page.locator(f"#missing-{status.replace('_', '-')} tbody tr")
                assert rows.count() == len(want), status
                for row in want:
                    cell = page.locator(f'#missing-{status.replace("_", "-")} tr[data-school="{row["school_id"]}"]'
                                        " td.last-sync").inner_text()
                    synced = health[row["school_id"]]
                    assert row["last_sync_at"] == synced
                    if synced is None:
                        assert cell == "从未" and status == "not_synced"
                    else:
                        assert cell == format_time(synced, "zh", 480, today=date.today())
                        assert (synced >= deadline) == (status == "not_reported")
            assert page.locator("#missing-not-synced tbody tr").count() + \
                page.locator("#missing-not-reported tbody tr").count() == len(missing) > 0
            # colours by meaning: a rise in completeness is good, a rise in fever is bad
            for metric, change in api["trend"]["change"].items():
                if metric not in ("completeness", "attendance", "absence", "fever") or not change:
                    continue
                classes = page.get_attribute(f'#trend tr[data-metric="{metric}"] td.change', "class").split()
                want = "good" if change * METRIC_DIRECTION[metric] > 0 else "bad"
                assert want in classes, (metric, change, classes)
            # the chart: dates on the x axis, localised legend, both y axes labelled
            page.wait_for_function("() => window.trendChart && document.querySelector('#trend-chart canvas')",
                                   timeout=60_000)
            axes = page.evaluate("() => { const u = window.trendChart; return {labels: u.axes.map(a => a.label),"
                                 " first: u.axes[0].values(u, [u.data[0][0]])[0],"
                                 " legend: u.series.map(s => s.label)}; }")
            assert axes["labels"] == ["日期", "完整率 (%)", "发热率 / 缺勤率 (%)"]
            assert re.fullmatch(r"\d{1,2}月\d{1,2}日", axes["first"]), axes
            assert axes["legend"] == ["日期", "完整率", "发热率", "缺勤率", "早期预警学校数"]  # + early-warning marks
            # the alerts and the review queue are a click away, for this county
            assert page.get_attribute("#to-alerts", "href") == f"/alerts?county={county}&date={day['date']}"
            assert page.get_attribute("#to-reviews", "href") == f"/reviews?county={county}"
            text = page.inner_text("body")
            assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:", text)  # no raw UTC stamps
            assert f"{when.year}年{when.month}月{when.day}日" in text
            # nothing wider than the viewport (tables scroll inside their cards)
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            shot = tmp_path / f"county-{width}.png"
            page.screenshot(path=str(shot), full_page=True)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"county-workspace-{width}.png"), full_page=False)
            assert errors == []
        finally:
            browser.close()


def test_prefecture_page_shows_its_counties_worst_first_with_missing_and_alerts(site):
    from playwright.sync_api import sync_playwright

    base, client = site
    end = SHAPE.end_date.isoformat()
    query = f"from={SHAPE.start_date}&to={end}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 900})
            page.goto(f"{base}/prefectures/p01?{query}&lang=zh")
            page.fill("input[name=name]", "officer_p01")
            page.fill("input[name=password]", "officer-pw")
            page.click("button[type=submit]")
            page.wait_for_selector("#glance-counties")
            rows = page.locator("#glance-counties tbody tr")
            ids = [rows.nth(i).get_attribute("data-county") for i in range(rows.count())]
            assert sorted(ids) == ["p01c01", "p01c02"]
            completeness = []
            warnings = client.get("/api/v1/early-warnings", query_string={"prefecture": "p01", "from": end, "to": end}
                                  ).get_json()["counties"]
            in_warning = {row["county_id"]: row["schools_in_warning"] for row in warnings}
            for county_id in ids:
                missing = client.get(f"/api/v1/counties/{county_id}/missing", query_string={"date": end}
                                     ).get_json()["missing"]
                alerts = client.get("/api/v1/alerts", query_string={"county": county_id, "date": end}
                                    ).get_json()["alerts"]
                row = page.locator(f'#glance-counties tr[data-county="{county_id}"]')
                assert row.locator("td.missing-count").inner_text() == str(len(missing))
                assert row.locator("td.alerts-count").inner_text() == str(len(alerts))
                assert row.locator("td.early-warning-count").inner_text() == str(in_warning[county_id])
                day = client.get(f"/api/v1/summaries/county/{county_id}", query_string={"from": end, "to": end}
                                 ).get_json()["days"][-1]
                completeness.append(day["completeness"])
            assert completeness == sorted(completeness)  # worst first
            link = page.locator("#glance-counties td.missing-count a").first
            if link.count():
                link.click()
                page.wait_for_selector("#missing-section")
                assert "/counties/" in page.url
            assert page.evaluate("() => document.documentElement.scrollWidth") <= 1024
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "prefecture-page.png"))
        finally:
            browser.close()
