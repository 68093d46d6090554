"""Alerts from configurable rules, their listing and acknowledgement, against the demo data."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from sync.couch import CouchClient
from tests.server.test_summaries_oracle import SMALL, Oracle, admin_client, demo_server

pytestmark = pytest.mark.slow
SHAPE = SMALL


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with demo_server(tmp_path_factory, SHAPE) as (url, manifest):
        with admin_client(url, tmp_path_factory) as (_app, client), CouchClient(url) as couch:
            yield manifest, client, couch


def oracle_alerts(oracle: Oracle, county_id: str, day, rules: dict) -> set[tuple[str, str]]:
    iso = day.isoformat()
    found = set()
    for (sid, d), data in oracle.reports.items():
        if d != iso or oracle.schools[sid]["county_id"] != county_id:
            continue
        if data["suspected_cases"] + data["confirmed_cases"] >= rules["cases_min"]:
            found.add((sid, "cases"))
        if data["students_present"] and data["fever_at_check"] / data["students_present"] > rules["fever_rate_above"]:
            found.add((sid, "fever_rate"))
        absent = data["absent_illness"] + data["absent_fever"] + data["absent_other"]
        if absent / data["students_enrolled"] > rules["absence_rate_above"]:
            found.add((sid, "absence_rate"))
    for sid in oracle.day("county", county_id, day)["missing_school_ids"]:
        if oracle.missing_streak(sid, day) >= rules["missing_days_min"]:
            found.add((sid, "missing"))
    return found


def test_alerts_follow_the_default_rules_on_every_day(demo):
    manifest, client, _couch = demo
    oracle = Oracle(manifest)
    defaults = {"cases_min": 1, "fever_rate_above": 0.02, "absence_rate_above": 0.10, "missing_days_min": 2}
    seen_rules = set()
    for county_id in sorted(oracle.counties):
        for n in range(7):
            day = SHAPE.end_date - timedelta(days=n)
            body = client.get("/api/v1/alerts", query_string={"county": county_id, "date": day.isoformat()}).get_json()
            # early warnings (early_*) have their own oracle: tests/server/test_early_warning.py
            got = {(a["school_id"], a["rule"]) for a in body["alerts"] if not a["rule"].startswith("early_")}
            assert got == oracle_alerts(oracle, county_id, day, defaults), (county_id, day)
            seen_rules |= {rule for _s, rule in got}
    assert {"fever_rate", "missing"} <= seen_rules


def test_rules_are_configurable_per_registry_doc(demo):
    manifest, client, couch = demo
    oracle = Oracle(manifest)
    rules = {"cases_min": 1, "fever_rate_above": 0.005, "absence_rate_above": 0.02, "missing_days_min": 1}
    registry = couch.db("registry")
    doc = {"_id": "alert_rules:default", "type": "alert_rules", **rules}
    registry.put(doc)
    try:
        day = SHAPE.end_date
        body = client.get("/api/v1/alerts", query_string={"county": "p02c02", "date": day.isoformat()}).get_json()
        assert body["rules"]["source"] == "alert_rules:default"
        assert {(a["school_id"], a["rule"]) for a in body["alerts"]
                if not a["rule"].startswith("early_")} == oracle_alerts(oracle, "p02c02", day, rules)
    finally:
        registry.delete(doc["_id"], doc["_rev"])


def test_an_officer_acknowledges_an_alert_with_a_note(demo):
    _manifest, client, couch = demo
    county, day, alerts = next(
        (c, day, body) for c in ("p01c01", "p01c02", "p02c01", "p02c02")
        for day in (SHAPE.end_date - timedelta(days=n) for n in range(10))
        if (body := client.get("/api/v1/alerts", query_string={"county": c, "date": day.isoformat()}).get_json())[
            "alerts"])
    alert = alerts["alerts"][0]
    assert alert["acknowledged"] is None
    assert client.post(f"/api/v1/alerts/{alert['id']}/ack", json={}).status_code == 422
    saved = client.post(f"/api/v1/alerts/{alert['id']}/ack", json={"note": "called the head teacher"})
    assert saved.status_code == 200, saved.get_json()
    ack = couch.db("ops").get(f"alert_ack:{alert['id']}")
    assert ack["note"] == "called the head teacher" and ack["by"] == couch.username and ack["county_id"] == county
    again = client.get("/api/v1/alerts", query_string={"county": county, "date": day.isoformat()}).get_json()
    listed = next(a for a in again["alerts"] if a["id"] == alert["id"])
    assert listed["acknowledged"]["note"] == "called the head teacher"
    assert client.get(f"/api/v1/alerts/{alert['id']}/ack").get_json()["acknowledged"]["by"] == couch.username
    client.post(f"/api/v1/alerts/{alert['id']}/ack", json={"note": "school confirmed"})
    assert len(couch.db("ops").get(f"alert_ack:{alert['id']}")["history"]) == 2
    # an alert that is not raised, or a malformed id, is 404
    assert client.post("/api/v1/alerts/p01c01s001:2020-01-01:cases/ack", json={"note": "x"}).status_code == 404
    assert client.post("/api/v1/alerts/garbage/ack", json={"note": "x"}).status_code == 404
    # the export has the same rows
    xlsx = client.get("/api/v1/alerts", query_string={"county": county, "date": day.isoformat(), "format": "xlsx"})
    rows = list(load_workbook(io.BytesIO(xlsx.data), read_only=True).worksheets[0].iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == [a["id"] for a in again["alerts"]]
