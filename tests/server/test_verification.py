"""Two-way verification: an uploaded health-department list against the schools' reports."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from demo import DemoShape
from sync.couch import CouchClient
from tests.server.test_summaries_oracle import Oracle, admin_client, demo_server

pytestmark = pytest.mark.slow
# seed 3 draws suspected cases in both counties
SHAPE = DemoShape(prefectures=1, counties_per_prefecture=2, schools=10, days=10, seed=3, end=date(2026, 11, 20))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with demo_server(tmp_path_factory, SHAPE) as (url, manifest):
        with admin_client(url, tmp_path_factory) as (_app, client), CouchClient(url) as couch:
            yield manifest, client, couch


def test_mismatches_are_listed_in_both_directions(demo):
    manifest, client, couch = demo
    oracle = Oracle(manifest)
    county = "p01c01"
    schools = sorted(s for s, doc in oracle.schools.items() if doc["county_id"] == county)
    day = SHAPE.end_date - timedelta(days=1)
    reported = [s for s in schools if (s, day.isoformat()) in oracle.reports]
    a, b = reported[0], reported[1]
    lines = ["school_id,date,suspected,confirmed",
             f"{a},{day},2,0",          # the list has 2 suspected cases the school did not report
             f"{b},{day},0,0"]          # agrees (no cases)
    lines[2] = f"{b},{day},{oracle.reports[(b, day.isoformat())]['suspected_cases']},0"
    upload = client.post(f"/api/v1/counties/{county}/verification", data="\n".join(lines) + "\n",
                         content_type="text/csv")
    assert upload.status_code == 201, upload.get_json()
    body = client.get(f"/api/v1/counties/{county}/verification").get_json()
    assert body["upload"]["rows"] == 2 and body["upload"]["uploaded_by"] == couch.username
    got = {(m["school_id"], m["date"], m["category"], m["direction"]) for m in body["mismatches"]}
    assert (a, day.isoformat(), "suspected", "list_only") in got
    want_school_only = {(s, d, "suspected", "school_only") for (s, d), data in oracle.reports.items()
                        if data["suspected_cases"] and oracle.schools[s]["county_id"] == county
                        and d == day.isoformat() and s not in (a, b)}
    assert {m for m in got if m[3] == "school_only"} == want_school_only
    assert all(m["school_id"] != b for m in body["mismatches"])
    stored = couch.db("ops").get(body["upload"]["id"])
    assert stored["type"] == "verification_list" and stored["county_id"] == county


def test_a_case_reported_by_a_school_but_missing_from_the_list_is_found(demo):
    manifest, client, _couch = demo
    oracle = Oracle(manifest)
    with_case = sorted((s, d) for (s, d), data in oracle.reports.items() if data["suspected_cases"])
    assert with_case, "the demo's seed must draw a suspected case"
    school, day = with_case[0]
    county = oracle.schools[school]["county_id"]
    other = next(s for s, doc in sorted(oracle.schools.items()) if doc["county_id"] == county and s != school)
    upload = client.post(f"/api/v1/counties/{county}/verification", data=f"school_id,date,suspected,confirmed\n"
                         f"{other},{day},0,1\n", content_type="text/csv")
    assert upload.status_code == 201
    found = {(m["school_id"], m["category"], m["direction"]) for m in upload.get_json()["mismatches"]}
    assert (school, "suspected", "school_only") in found
    reported_other = (other, day) in oracle.reports
    assert (other, "confirmed", "list_only") in found
    row = next(m for m in upload.get_json()["mismatches"] if m["school_id"] == other)
    assert row["school_reported"] == reported_other


@pytest.mark.parametrize("text,field", [
    ("school,date\nx,2026-01-01\n", "file"),
    ("school_id,date,suspected,confirmed\nnot-a-school,2026-11-02,1,0\n", "line 2"),
    ("school_id,date,suspected,confirmed\np01c01s001,2026-13-02,1,0\n", "line 2"),
    ("school_id,date,suspected,confirmed\np01c01s001,2026-11-02,-1,0\n", "line 2"),
    ("school_id,date,suspected,confirmed\np01c01s001,2026-11-02,1,0\np01c01s001,2026-11-02,1,0\n", "line 3"),
])
def test_a_bad_list_is_refused_line_by_line_and_nothing_is_stored(demo, text, field):
    _manifest, client, _couch = demo
    before = client.get("/api/v1/counties/p01c01/verification").get_json()["upload"]
    answer = client.post("/api/v1/counties/p01c01/verification", data=text, content_type="text/csv")
    assert answer.status_code == 422
    assert field in answer.get_json()["errors"]
    assert client.get("/api/v1/counties/p01c01/verification").get_json()["upload"] == before


def test_a_form_upload_without_the_csrf_token_is_refused(demo):
    _manifest, client, _couch = demo
    import io

    answer = client.post("/api/v1/counties/p01c01/verification",
                         data={"file": (io.BytesIO(b"school_id,date,suspected,confirmed\n"), "list.csv")},
                         content_type="multipart/form-data", headers={"Authorization": ""})
    assert answer.status_code in (401, 403)
    form = client.post("/api/v1/counties/p01c01/verification", data="x",
                       content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415
