"""Summaries at county, prefecture and province level against the oracle; missing schools; exports.

The demo is loaded once for the module into a fresh embedded server and the worker is run
once (``python -m sync --once``), as in tests/test_end_to_end.py. Hypothesis draws date
ranges, counties and holiday closures (a ``calendar:<county>`` doc in the registry).
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from demo.generate import devices_of
from server.admin.sync_health import forget_cached
from server.summaries.export import column_title, sheet_title
from sync import WorkerSettings, run_until_idle
from sync.couch import CouchClient
from sync.provision import school_db_name
from tests.server.test_summaries_oracle import COUNTS, SMALL, Oracle, admin_client, demo_server

pytestmark = pytest.mark.slow
SHAPE = SMALL
COMPARED = ("schools_expected", "reports_received", "reports_from_expected", "schools_missing", "zero_reports",
            "completeness")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with demo_server(tmp_path_factory, SHAPE) as (url, manifest):
        with admin_client(url, tmp_path_factory) as (_app, client), CouchClient(url) as couch:
            yield manifest, client, couch


def _path(level: str, area_id: str) -> str:
    return {"county": f"/api/v1/summaries/county/{area_id}", "prefecture": f"/api/v1/summaries/prefecture/{area_id}",
            "province": "/api/v1/summaries/province"}[level]


def _set_holidays(couch, county_id: str, holidays: set[str]) -> None:
    registry = couch.db("registry")
    doc = registry.get_or_none(f"calendar:{county_id}") or {"_id": f"calendar:{county_id}", "type": "calendar",
                                                             "school_weekdays": [1, 2, 3, 4, 5]}
    doc["holidays"] = sorted(holidays)
    registry.put(doc)


def assert_matches(got: dict, want: dict, where) -> None:
    for key in COMPARED:
        assert got[key] == want[key], (where, key, got[key], want[key])
    assert got["totals"] == want["totals"], where


def test_every_day_of_every_area_matches_the_oracle(demo):
    manifest, client, _couch = demo
    oracle = Oracle(manifest)
    query = {"from": SHAPE.start_date.isoformat(), "to": SHAPE.end_date.isoformat()}
    areas = [("county", c) for c in oracle.counties] + [("prefecture", "p01"), ("prefecture", "p02"), ("province", "")]
    for level, area_id in areas:
        answer = client.get(_path(level, area_id), query_string=query)
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        assert len(body["days"]) == SHAPE.days
        for row in body["days"]:
            day = date.fromisoformat(row["date"])
            want = oracle.day(level, area_id, day)
            assert_matches(row, want, (level, area_id, row["date"]))
            if level == "county":
                assert row["missing_school_ids"] == want["missing_school_ids"]
        assert_matches(body["total"], oracle.total(level, area_id, SHAPE.start_date, SHAPE.end_date) | {
            "schools_missing": body["total"]["schools_expected"] - body["total"]["reports_from_expected"]},
            (level, area_id, "total"))
    # the demo exercised what matters: misses, conflicts, old app versions
    assert manifest.conflicts and manifest.v1_reports
    assert any(oracle.day("county", c, SHAPE.end_date)["missing_school_ids"] for c in oracle.counties)


def test_rollups_add_up_and_drill_down_lists_every_county(demo):
    _manifest, client, _couch = demo
    query = {"from": SHAPE.start_date.isoformat(), "to": SHAPE.end_date.isoformat()}
    province = client.get("/api/v1/summaries/province", query_string=query).get_json()
    assert {p["prefecture_id"] for p in province["prefectures"]} == {"p01", "p02"}
    for key in ("schools_expected", "reports_received", "reports_from_expected"):
        assert sum(c[key] for c in province["counties"]) == province["total"][key]
        assert sum(p[key] for p in province["prefectures"]) == province["total"][key]
    prefecture = client.get("/api/v1/summaries/prefecture/p01", query_string=query).get_json()
    assert [c["county_id"] for c in prefecture["counties"]] == ["p01c01", "p01c02"]
    for county in prefecture["counties"]:
        alone = client.get(f"/api/v1/summaries/county/{county['county_id']}", query_string=query).get_json()
        for key in ("schools_expected", "reports_from_expected", "completeness", "totals"):
            assert county[key] == alone["total"][key], key
    schools = client.get("/api/v1/summaries/county/p01c01/schools", query_string=query).get_json()["schools"]
    county = client.get("/api/v1/summaries/county/p01c01", query_string=query).get_json()["total"]
    assert sum(s["reports_from_expected"] for s in schools) == county["reports_from_expected"]
    assert sum(s["days_expected"] for s in schools) == county["schools_expected"]
    one = schools[0]["school_id"]
    school = client.get(f"/api/v1/summaries/school/{one}", query_string=query).get_json()
    assert sum(1 for d in school["days"] if d["status"] == "reported" and d["expected"]) == \
        schools[0]["reports_from_expected"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_ranges_counties_and_holidays_match_the_oracle(demo, data):
    manifest, client, couch = demo
    counties = sorted(c["_id"].split(":", 1)[1] for c in manifest.counties())
    first = data.draw(st.integers(0, SHAPE.days - 1), label="first day")
    length = data.draw(st.integers(1, SHAPE.days - first), label="days")
    start = SHAPE.start_date + timedelta(days=first)
    end = start + timedelta(days=length - 1)
    county = data.draw(st.sampled_from(counties), label="county")
    all_days = [(SHAPE.start_date + timedelta(days=n)).isoformat() for n in range(SHAPE.days)]
    holidays = set(data.draw(st.lists(st.sampled_from(all_days), max_size=6, unique=True), label="holidays"))
    _set_holidays(couch, county, holidays)
    try:
        oracle = Oracle(manifest, holidays={county: holidays})
        query = {"from": start.isoformat(), "to": end.isoformat()}
        prefecture = county[:3]
        for level, area_id in (("county", county), ("prefecture", prefecture), ("province", "")):
            body = client.get(_path(level, area_id), query_string=query).get_json()
            for row in body["days"]:
                assert_matches(row, oracle.day(level, area_id, date.fromisoformat(row["date"])),
                               (level, area_id, row["date"], sorted(holidays)))
            want = oracle.total(level, area_id, start, end)
            for key in ("schools_expected", "reports_received", "reports_from_expected", "completeness", "totals"):
                assert body["total"][key] == want[key], (level, key)
    finally:
        _set_holidays(couch, county, set())


def test_on_time_counts_equal_the_canonical_documents(demo):
    _manifest, client, couch = demo
    rows = couch.db("reports").all_docs(include_docs=True)["rows"]
    docs = [r["doc"] for r in rows if r["doc"].get("type") == "canonical_report" and r["doc"]["county_id"] == "p02c01"]
    query = {"from": SHAPE.start_date.isoformat(), "to": SHAPE.end_date.isoformat()}
    total = client.get("/api/v1/summaries/county/p02c01", query_string=query).get_json()["total"]
    assert total["on_time_device"] == sum(1 for d in docs if d["timeliness"]["on_time_device"])
    assert total["on_time_server"] == sum(1 for d in docs if d["timeliness"]["on_time_server"])
    assert 0 < total["on_time_device"] < len(docs)  # the demo files between 7:30 and 11:30


def test_trend_compares_the_last_day_with_the_seven_before(demo):
    manifest, client, _couch = demo
    oracle = Oracle(manifest)
    end = SHAPE.end_date
    body = client.get("/api/v1/summaries/county/p01c02", query_string={"from": end.isoformat(),
                                                                       "to": end.isoformat()}).get_json()
    trend = body["trend"]
    assert len(body["days"]) == 1
    before = oracle.total("county", "p01c02", end - timedelta(days=7), end - timedelta(days=1))
    assert trend["previous"]["completeness"] == before["completeness"]
    today = oracle.day("county", "p01c02", end)
    assert trend["current"]["completeness"] == today["completeness"]
    assert trend["change"]["completeness"] == round(today["completeness"] - before["completeness"], 4)


def test_missing_schools_count_days_in_a_row_and_tell_silent_from_offline(demo):
    manifest, client, couch = demo
    oracle = Oracle(manifest)
    end = SHAPE.end_date
    county, missing = next((c, oracle.day("county", c, end)["missing_school_ids"]) for c in sorted(oracle.counties)
                           if oracle.day("county", c, end)["missing_school_ids"])
    deadline = f"{end.isoformat()}T02:00:00.000Z"  # 10:00 in Asia/Shanghai
    # one missing school's device synced after the deadline (silent), another's long before
    # (offline): one the demo's own devices have not synced since the deadline either
    def demo_synced_after_deadline(school_id: str) -> bool:
        return any(manifest.last_sync.get(device, "") > deadline for device in devices_of(manifest, school_id))

    synced_late = missing[0]
    synced_early = next((s for s in reversed(missing[1:]) if not demo_synced_after_deadline(s)), None)

    def device_status(school_id: str, when: str) -> None:
        device = f"device_{school_id}"  # one account per device, each of one school
        # enrolled, as Sync health (whose answer the missing list shares) counts enrolled devices only
        couch.db("registry").put({"_id": f"device:{device}", "type": "device", "school_id": school_id,
                                  "status": "active"})
        couch.db(school_db_name(school_id)).put({
            "_id": f"device_status:{device}", "type": "device_status", "form": "device_status", "schema_version": 1,
            "school_id": school_id, "data": {"device": device, "school_id": school_id, "app_version": "t",
                                             "last_sync_at": when, "waiting_count": 0, "storage_used_bytes": 0,
                                             "clock_offset_ms": 0, "last_error": None},
            "meta": {"author": device, "device": device, "app_version": "t", "clocks": {},
                     "created_at": when, "updated_at": when, "submitted_at": when, "utc_offset_minutes": 480,
                     "clock_offset_ms": 0}})

    device_status(synced_late, f"{end.isoformat()}T03:00:00.000Z")
    if synced_early:
        device_status(synced_early, f"{(end - timedelta(days=3)).isoformat()}T03:00:00.000Z")
    # the worker mirrors the status docs into ops; the missing list no longer needs the school databases
    run_until_idle(couch, WorkerSettings(couchdb_url=couch.base_url, status_interval_s=0.0))
    forget_cached()  # Sync health's minute-long cache
    for school_id in filter(None, (synced_late, synced_early)):
        school_db = couch.db(school_db_name(school_id))
        doc = school_db.get(f"device_status:device_{school_id}")
        school_db.delete(doc["_id"], doc["_rev"])
    body = client.get(f"/api/v1/counties/{county}/missing", query_string={"date": end.isoformat()}).get_json()
    rows = {row["school_id"]: row for row in body["missing"]}
    assert sorted(rows) == missing
    for school_id, row in rows.items():
        assert row["consecutive_school_days"] == oracle.missing_streak(school_id, end), school_id
    assert rows[synced_late]["status"] == "not_reported"
    assert rows[synced_late]["last_sync_source"] == "device_status"
    assert rows[synced_late]["last_sync_at"] > deadline
    if synced_early:
        assert rows[synced_early]["status"] == "not_synced"
    # a Saturday is not a school day: nobody is missing
    saturday = end + timedelta(days=1)
    assert client.get(f"/api/v1/counties/{county}/missing", query_string={"date": saturday.isoformat()}
                      ).get_json()["missing"] == []


@pytest.mark.parametrize("path,table,key", [
    ("/api/v1/summaries/county/p01c01", "days", "days"),
    ("/api/v1/summaries/county/p01c01/schools", "schools", "schools"),
    ("/api/v1/summaries/prefecture/p02", "counties", "counties"),
    ("/api/v1/summaries/province", "prefectures", "prefectures"),
])
def test_csv_and_xlsx_exports_match_the_json(demo, path, table, key):
    _manifest, client, _couch = demo
    query = {"from": SHAPE.start_date.isoformat(), "to": SHAPE.end_date.isoformat()}
    rows = client.get(path, query_string=query).get_json()[key]

    as_csv = client.get(path, query_string=dict(query, format="csv", table=table))
    assert as_csv.status_code == 200 and as_csv.mimetype == "text/csv"
    assert as_csv.is_streamed
    parsed = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(parsed) == len(rows)
    for got, want in zip(parsed, rows, strict=True):  # headers for people (Chinese), rates as 97.12%
        for name in COUNTS:
            assert int(got[column_title(f"totals.{name}", "zh")]) == want["totals"][name]
        completeness = got[column_title("completeness", "zh")]
        assert (round(float(completeness.rstrip("%")) / 100, 4) if completeness else None) == want["completeness"]

    as_xlsx = client.get(path, query_string=dict(query, format="xlsx", lang="en"))
    assert as_xlsx.status_code == 200
    book = load_workbook(io.BytesIO(as_xlsx.data), read_only=True)
    sheet = list(book[sheet_title(table, "en")].iter_rows(values_only=True))
    header, body = sheet[0], sheet[1:]
    assert len(body) == len(rows)
    for values, want in zip(body, rows, strict=True):
        got = dict(zip(header, values, strict=True))
        for name in COUNTS:
            assert got[column_title(f"totals.{name}", "en")] == want["totals"][name]
        assert got["Completeness"] == want["completeness"]  # a number, percent-formatted
        assert got["Reports from expected schools"] == want["reports_from_expected"]
    book.close()


def test_export_errors_and_missing_export(demo):
    _manifest, client, _couch = demo
    assert client.get("/api/v1/summaries/county/p01c01?format=pdf").status_code == 422
    assert client.get("/api/v1/summaries/county/p01c01?format=csv&table=nope").status_code == 422
    assert client.get("/api/v1/summaries/prefecture/nowhere").status_code == 404
    answer = client.get("/api/v1/counties/p01c01/missing", query_string={"date": SHAPE.end_date.isoformat(),
                                                                         "format": "csv"})
    assert answer.status_code == 200 and answer.get_data(as_text=True).lstrip("\ufeff").startswith("学校编号,")


@pytest.mark.parametrize("path", ["/api/v1/summaries/province", "/api/v1/summaries/prefecture/p02"])
def test_both_ways_of_reading_the_county_breakdown_agree(demo, monkeypatch, path):
    """Few counties are read key by key, many by a date range (the province): same answer."""
    from server.summaries import service

    _manifest, client, _couch = demo
    query = {"from": SHAPE.start_date.isoformat(), "to": SHAPE.end_date.isoformat()}
    by_keys = client.get(path, query_string=query).get_json()
    monkeypatch.setattr(service, "MULTI_KEY_LIMIT", 0)
    by_range = client.get(path, query_string=query).get_json()
    assert by_range == by_keys
    assert by_keys["total"]["reports_received"] > 0
