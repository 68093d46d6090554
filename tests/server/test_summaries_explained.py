"""Explained schools in the summaries, against the oracle (issue 13, item 3).

Schools explain some days (written into their own databases as a device would, then
canonicalised by the worker): days they missed (these count as explained, not missing),
days they also reported (the report wins), a weekend and a day before a school opened
(neither expected: nothing counts). Every area's figures per day and in total, the missing
list and the school's own days must agree with the oracle.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from mobile_schema import examples
from sync import WorkerSettings, run_until_idle
from sync.couch import CouchClient
from sync.provision import school_db_name
from tests.server.test_summaries_oracle import SMALL, Oracle, admin_client, demo_server

pytestmark = pytest.mark.slow
SHAPE = SMALL
COMPARED = ("schools_expected", "reports_from_expected", "schools_explained", "schools_missing", "completeness")


def _explanation(school_id: str, day: str, reason: str = "closed_weather") -> dict:
    doc = examples.explanation(date=day, reason=reason, details="暴雨停课")
    doc["school_id"] = school_id
    return doc


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    with demo_server(tmp_path_factory, SHAPE) as (url, manifest):
        with admin_client(url, tmp_path_factory) as (_app, client), CouchClient(url) as couch:
            plain = Oracle(manifest)
            chosen: set[tuple[str, str]] = set()
            # missed days: a few per county, the last day among them
            for county_id in sorted(plain.counties):
                for offset in (0, 3, 7):
                    day = SHAPE.end_date - timedelta(days=offset)
                    missing = plain.day("county", county_id, day)["missing_school_ids"]
                    if missing:
                        chosen.add((missing[0], day.isoformat()))
            assert len(chosen) >= 3
            # a reported day, a weekend day, a day before a school opened: none of them counts
            reported_pair = next(iter(sorted(plain.reports)))
            chosen.add(reported_pair)
            weekend = next(SHAPE.end_date - timedelta(days=n) for n in range(7)
                           if (SHAPE.end_date - timedelta(days=n)).isoweekday() > 5)
            some_school = sorted(plain.schools)[0]
            chosen.add((some_school, weekend.isoformat()))
            late = next((sid for sid, s in sorted(plain.schools.items()) if s["opened"] > SHAPE.start_date.isoformat()),
                        None)
            if late:
                chosen.add((late, SHAPE.start_date.isoformat()))
            for school_id, day in sorted(chosen):
                couch.db(school_db_name(school_id)).put(_explanation(school_id, day))
            run_until_idle(couch, WorkerSettings(couchdb_url=couch.base_url, status_interval_s=0.0))
            yield manifest, client, Oracle(manifest, explanations=chosen), chosen


def _path(level: str, area_id: str) -> str:
    return {"county": f"/api/v1/summaries/county/{area_id}", "prefecture": f"/api/v1/summaries/prefecture/{area_id}",
            "province": "/api/v1/summaries/province"}[level]


def test_explained_schools_count_as_explained_in_every_area(explained):
    _manifest, client, oracle, _chosen = explained
    query = {"from": SHAPE.start_date.isoformat(), "to": SHAPE.end_date.isoformat()}
    areas = [("county", c) for c in oracle.counties] + [("prefecture", "p01"), ("prefecture", "p02"), ("province", "")]
    seen = 0
    for level, area_id in areas:
        body = client.get(_path(level, area_id), query_string=query).get_json()
        for row in body["days"]:
            want = oracle.day(level, area_id, date.fromisoformat(row["date"]))
            for key in COMPARED:
                assert row[key] == want[key], (level, area_id, row["date"], key)
            if level == "county":
                assert row["missing_school_ids"] == want["missing_school_ids"]
                assert row["explained_school_ids"] == want["explained_school_ids"]
            seen += row["schools_explained"]
        total = oracle.total(level, area_id, SHAPE.start_date, SHAPE.end_date)
        for key in ("schools_explained", "reports_from_expected", "completeness"):
            assert body["total"][key] == total[key], (level, area_id, key)
        assert body["total"]["schools_missing"] == (total["schools_expected"] - total["reports_from_expected"]
                                                    - total["schools_explained"])
    assert seen >= 3 * 2  # counted in the counties and again in the prefectures and the province


def test_the_missing_list_shows_explained_schools_with_the_reason(explained):
    _manifest, client, oracle, chosen = explained
    end = SHAPE.end_date
    for county_id in sorted(oracle.counties):
        want = oracle.day("county", county_id, end)
        body = client.get(f"/api/v1/counties/{county_id}/missing", query_string={"date": end.isoformat()}).get_json()
        assert sorted(r["school_id"] for r in body["missing"]) == want["missing_school_ids"]
        assert [r["school_id"] for r in body["explained"]] == want["explained_school_ids"]
        for row in body["explained"]:
            assert row["reason"] == "closed_weather" and row["details"] == "暴雨停课"
        for row in body["missing"]:
            assert row["consecutive_school_days"] == oracle.missing_streak(row["school_id"], end)
    county_of = {sid: school["county_id"] for sid, school in oracle.schools.items()}
    school_id, day = next((sid, day) for sid, day in sorted(chosen) if sid in oracle.day(
        "county", county_of[sid], date.fromisoformat(day))["explained_school_ids"])
    days = client.get(f"/api/v1/summaries/school/{school_id}", query_string={"from": day, "to": day}).get_json()["days"]
    assert days[0]["status"] == "explained" and days[0]["explanation"]["reason"] == "closed_weather"
    schools = client.get(f"/api/v1/summaries/county/{oracle.schools[school_id]['county_id']}/schools",
                         query_string={"from": day, "to": day}).get_json()["schools"]
    row = next(s for s in schools if s["school_id"] == school_id)
    assert row["days_explained"] == 1 and row["days_missing"] == 0
