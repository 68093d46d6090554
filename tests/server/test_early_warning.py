"""Early warnings through the service: the demo's alarms against an independent EARS recomputation,
the API's scopes and exports, the alert list and its acknowledgement, the admin's thresholds, and
a spike written by a device account that ends up on the county page (test client and Chromium)."""

from __future__ import annotations

import csv
import io
import shutil
import statistics
import subprocess
import sys
import threading
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from demo import DemoShape
from sync.couch import CouchClient
from sync.provision import school_db_name
from tests.server.test_summaries_oracle import Oracle, admin_client, demo_server
from tests.sync.test_worker_support import report

pytestmark = pytest.mark.slow
SHAPE = DemoShape(prefectures=2, counties_per_prefecture=2, schools=24, days=24, seed=11, end=date(2026, 11, 20))
SPIKE_DAY = date(2026, 11, 23)  # the Monday after the demo's last day
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SIGNALS = {"illness": ("absent_illness",), "fever": ("absent_fever", "fever_at_check"),
           "respiratory": ("respiratory_symptoms",)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with demo_server(tmp_path_factory, SHAPE) as (url, manifest):
        with admin_client(url, tmp_path_factory) as (app, client), CouchClient(url) as couch:
            yield manifest, app, client, couch, url


# -- an independent recomputation (the published formulas, written again without sync/) ------------

def ears(values: list[float | None], t: int, *, min_sd=1.0, min_count=3, min_days=4) -> dict[str, bool]:
    def stat(i: int, lag: int):
        if i < 0 or values[i] is None:
            return None
        base = [v for v in values[max(0, i - lag - 6):i - lag + 1] if v is not None] if i - lag >= 0 else []
        if len(base) < min_days:
            return None
        return (values[i] - statistics.mean(base)) / max(statistics.stdev(base), min_sd)

    out = {}
    big_enough = values[t] is not None and values[t] >= min_count
    c1, c2 = stat(t, 1), stat(t, 3)
    if c1 is not None:
        out["C1"] = c1 > 3 and big_enough
    if c2 is not None:
        out["C2"] = c2 > 3 and big_enough
        c3 = sum(max(0.0, s - 1) for s in (stat(t - 2, 3), stat(t - 1, 3), c2) if s is not None)
        out["C3"] = c3 > 2 and big_enough
    return out


def oracle_alarms(oracle: Oracle, county_id: str, start: date, end: date) -> set[tuple]:
    days = [SHAPE.start_date + timedelta(days=n) for n in range((end - SHAPE.start_date).days + 1)]
    days = [d for d in days if oracle.school_day(county_id, d)]
    found = set()
    schools = [sid for sid, s in oracle.schools.items() if s["county_id"] == county_id]
    owners = [("school", sid, [oracle.reports.get((sid, d.isoformat())) for d in days], 3) for sid in schools]
    county = []
    for d in days:
        got = [oracle.reports[(sid, d.isoformat())] for sid in schools if (sid, d.isoformat()) in oracle.reports]
        fields = [n for names in SIGNALS.values() for n in names]
        county.append({name: sum(r[name] for r in got) for name in fields} if got else None)
    owners.append(("county", county_id, county, 5))
    for scope, owner, reports, min_count in owners:
        for signal, names in SIGNALS.items():
            values = [None if r is None else float(sum(r[n] for n in names)) for r in reports]
            for t, d in enumerate(days):
                if start <= d <= end:
                    for method, alarm in ears(values, t, min_count=min_count).items():
                        if alarm and method == "C2":  # the default alert_methods
                            found.add((scope, owner, d.isoformat(), signal, method))
    return found


def test_the_demos_alarms_match_an_independent_recomputation(demo):
    manifest, _app, client, _couch, _url = demo
    oracle = Oracle(manifest)
    start = SHAPE.end_date - timedelta(days=13)
    total = 0
    for county_id in sorted(oracle.counties):
        body = client.get("/api/v1/early-warnings", query_string={
            "county": county_id, "from": start.isoformat(), "to": SHAPE.end_date.isoformat()}).get_json()
        got = {(w["scope"], w["school_id"] or county_id, w["date"], w["signal"], w["method"])
               for w in body["warnings"]}
        assert got == oracle_alarms(oracle, county_id, start, SHAPE.end_date), county_id
        total += len(got)
        for w in body["warnings"]:
            assert w["text_zh"].endswith(f"高于预警线({w['method']} {w['statistic']:.1f} > {w['threshold']:g})")
            assert {"observed", "mean", "sd", "threshold", "statistic"} <= set(w)
        schools = {w["school_id"] for w in body["warnings"] if w["scope"] == "school"}
        assert body["counties"] == [dict(body["counties"][0], county_id=county_id, schools_in_warning=len(schools))]
    assert total > 0  # the demo's outbreaks are found


def test_prefecture_and_province_roll_up_schools_in_early_warning(demo):
    _manifest, _app, client, _couch, _url = demo
    query = {"from": (SHAPE.end_date - timedelta(days=13)).isoformat(), "to": SHAPE.end_date.isoformat()}
    by_county = {c: client.get("/api/v1/early-warnings", query_string={**query, "county": c}).get_json()
                 for c in ("p01c01", "p01c02", "p02c01", "p02c02")}
    prefecture = client.get("/api/v1/early-warnings", query_string={**query, "prefecture": "p01"}).get_json()
    assert [c["county_id"] for c in prefecture["counties"]] == ["p01c01", "p01c02"]
    assert len(prefecture["warnings"]) == len(by_county["p01c01"]["warnings"]) + len(by_county["p01c02"]["warnings"])
    province = client.get("/api/v1/early-warnings", query_string=query).get_json()
    per_prefecture = {p["prefecture_id"]: p["schools_in_warning"] for p in province["prefectures"]}
    for pid in ("p01", "p02"):
        assert per_prefecture[pid] == sum(by_county[c]["counties"][0]["schools_in_warning"] for c in by_county
                                          if c.startswith(pid))
    assert client.get("/api/v1/early-warnings", query_string={"county": "nope"}).status_code == 404
    assert client.get("/api/v1/early-warnings", query_string={"county": "p01c01", "prefecture": "p01"}
                      ).status_code == 422


def test_exports_and_the_series_for_a_chart(demo, spiked):
    _manifest, _app, client, _couch, _url = demo
    query = {"county": "p01c01", "from": (SPIKE_DAY - timedelta(days=13)).isoformat(), "to": SPIKE_DAY.isoformat()}
    body = client.get("/api/v1/early-warnings", query_string=query).get_json()
    text = client.get("/api/v1/early-warnings", query_string={**query, "format": "csv", "lang": "zh"}).data.decode()
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert "统计量" in rows[0] and "基线均值" in rows[0] and len(rows) == len(body["warnings"]) + 1
    xlsx = client.get("/api/v1/early-warnings", query_string={**query, "format": "xlsx", "lang": "en"})
    book = load_workbook(io.BytesIO(xlsx.data), read_only=True)
    assert book.sheetnames[:3] == ["Early warnings", "Counties", "Prefectures"]
    school = next(w["school_id"] for w in body["warnings"] if w["scope"] == "school")
    series = client.get("/api/v1/early-warnings/series", query_string={
        "school": school, "from": query["from"], "to": query["to"]}).get_json()
    assert series["scope"] == "school" and series["days"]
    day = series["days"][-1]
    assert set(day["signals"]) == set(SIGNALS)
    assert {"observed", "rate", "methods"} <= set(day["signals"]["fever"])
    county = client.get("/api/v1/early-warnings/series", query_string={"county": "p01c01", **{
        k: v for k, v in query.items() if k != "county"}}).get_json()
    assert county["scope"] == "county" and len(county["days"]) >= 8
    assert client.get("/api/v1/early-warnings/series", query_string={"school": school, "county": "p01c01"}
                      ).status_code == 422


def test_early_warnings_join_the_alert_list_and_are_acknowledged(demo, spiked):
    _manifest, _app, client, _couch, _url = demo
    county, day, alert = next(
        (c, d, a) for c in ("p01c01", "p01c02", "p02c01", "p02c02")
        for d in (SPIKE_DAY - timedelta(days=n) for n in range(10))
        for a in client.get("/api/v1/alerts", query_string={"county": c, "date": d.isoformat()}).get_json()["alerts"]
        if a["rule"].startswith("early_"))
    assert alert["detail"]["method"] in {"C1", "C2", "C3"}
    assert alert["detail"]["text_zh"] and alert["detail"]["text_en"] and alert["value"] == alert["detail"]["observed"]
    saved = client.post(f"/api/v1/alerts/{alert['id']}/ack", json={"note": "校医已电话了解"})
    assert saved.status_code == 200, saved.get_json()
    again = client.get("/api/v1/alerts", query_string={"county": county, "date": day.isoformat()}).get_json()
    assert next(a for a in again["alerts"] if a["id"] == alert["id"])["acknowledged"]["note"] == "校医已电话了解"
    page = client.get(f"/alerts?county={county}&date={day.isoformat()}&lang=zh").data.decode()
    assert alert["detail"]["text_zh"].split(",")[0] in page and "早期预警" in page


def test_admins_set_a_countys_thresholds(demo):
    _manifest, _app, client, couch, url = demo
    got = client.get("/api/v1/admin/early-warning/p02c02").get_json()
    assert got["source"] == "built-in defaults" and got["c1_threshold"] == 3.0 and got["c3_threshold"] == 2.0
    assert client.put("/api/v1/admin/early-warning/p02c02", json={"c1_threshold": 0.1}).status_code == 422
    assert client.put("/api/v1/admin/early-warning/nope", json={"c1_threshold": 4}).status_code == 404
    assert client.put("/api/v1/admin/early-warning/p02c02", json={"alert_methods": ["C9"]}).status_code == 422
    saved = client.put("/api/v1/admin/early-warning/p02c02", json={"c1_threshold": 4.5, "min_count": 5,
                                                                     "alert_methods": ["C3", "C1"]})
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["source"] == "early_warning_settings:p02c02" and saved.get_json()["min_count"] == 5
    assert saved.get_json()["alert_methods"] == ["C1", "C3"]
    assert client.get("/api/v1/admin/early-warning/default").get_json()["alert_methods"] == ["C2"]
    assert client.get("/api/v1/admin/early-warning/p02c01").get_json()["c1_threshold"] == 3.0
    audit = client.get("/api/v1/admin/audit", query_string={"action": "early_warning_settings"}).get_json()
    assert any(e["target"] == "county/p02c02" for e in audit.get("entries", audit if isinstance(audit, list) else []))
    registry = couch.db("registry")
    registry.delete("early_warning_settings:p02c02", registry.get("early_warning_settings:p02c02")["_rev"])


# -- a spike through a device account, to the county page ------------------------------------------------

def _write_spike(manifest, couch: CouchClient, url: str) -> tuple[str, str]:
    """A Monday report with 30 more fever absences than usual at a school of p01c01 that reported
    every school day of the last two weeks; returns (school id, its name)."""
    oracle = Oracle(manifest)
    days = [SHAPE.end_date - timedelta(days=n) for n in range(14)]
    steady = [sid for sid, s in sorted(oracle.schools.items()) if s["county_id"] == "p01c01"
              and all((sid, d.isoformat()) in oracle.reports for d in days if d.isoweekday() <= 5)
              and oracle.reports[(sid, SHAPE.end_date.isoformat())]["students_present"] > 60]
    school = min(steady, key=lambda sid: max(  # the calmest: no outbreak of the demo in its baseline
        oracle.reports[(sid, d.isoformat())]["absent_fever"] + oracle.reports[(sid, d.isoformat())]["fever_at_check"]
        for d in days if d.isoweekday() <= 5))
    last = dict(oracle.reports[(school, SHAPE.end_date.isoformat())])
    name = f"device_{uuid.uuid4().hex[:10]}"
    couch.put_user(name, password="device-pw", roles=[f"school:{school}", "device"])
    base = url.split("://", 1)[1].split("@", 1)[-1]
    data = {k: v for k, v in last.items() if k in ("students_enrolled", "students_present", "absent_illness",
                                                   "absent_fever", "absent_other")}
    data.update(absent_fever=last["absent_fever"] + 30, students_present=last["students_present"] - 30,
                fever_at_check=0, respiratory_symptoms=0)
    with CouchClient(f"http://{name}:device-pw@{base}") as device:
        device.db(school_db_name(school)).put(report(school, SPIKE_DAY.isoformat(), device=name, **data))
    run = subprocess.run([sys.executable, "-m", "sync", "--once"], env={"COUCHDB_URL": url, "PATH": "/usr/bin"},
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return school, oracle.schools[school]["name"]


@pytest.fixture(scope="module")
def spiked(demo):
    manifest, app, client, couch, url = demo
    school, name = _write_spike(manifest, couch, url)
    couch.put_user("officer_ew", password="officer-pw", roles=["county:p01c01"])
    return school, name


def test_a_spike_from_a_device_is_on_the_county_page(demo, spiked):
    _manifest, _app, client, _couch, _url = demo
    school, name = spiked
    alerts = client.get("/api/v1/alerts", query_string={"county": "p01c01", "date": SPIKE_DAY.isoformat()}).get_json()
    fever = next(a for a in alerts["alerts"] if a["school_id"] == school and a["rule"] == "early_fever")
    assert fever["detail"]["text_zh"].startswith(f"发热缺勤及晨检发热 {fever['value']} 人,")
    page = client.get(f"/counties/p01c01?from={SPIKE_DAY - timedelta(days=13)}&to={SPIKE_DAY}&lang=zh")
    html = page.data.decode()
    assert page.status_code == 200 and f'data-alert="{fever["id"]}"' in html
    assert "早期预警:发热" in html and fever["detail"]["text_zh"].split("(")[0] in html
    assert 'data-warnings="/api/v1/early-warnings?county=p01c01"' in html


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")
def test_the_county_pages_chart_marks_the_spike_in_chromium(demo, spiked):
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    _manifest, app, _client, _couch, _url = demo
    school, name = spiked
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 1800})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(f"{base}/counties/p01c01?from={SPIKE_DAY - timedelta(days=13)}&to={SPIKE_DAY}")
                page.fill("input[name=name]", "officer_ew")
                page.fill("input[name=password]", "officer-pw")
                page.click("button[type=submit]")
                page.wait_for_selector("#trend-chart[data-warning-dates]", timeout=60_000)
                assert SPIKE_DAY.isoformat() in page.get_attribute("#trend-chart", "data-warning-dates").split()
                row = page.locator(f'#alerts tr[data-alert="{school}:{SPIKE_DAY}:early_fever"]')
                assert "发热缺勤及晨检发热" in row.inner_text() and name in row.inner_text()
                assert "早期预警学校数" in page.inner_text("#trend-chart .u-legend")
                assert errors == []
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "county-early-warning-zh.png"), full_page=True)
            finally:
                browser.close()
    finally:
        server.shutdown()
        thread.join(timeout=5)
