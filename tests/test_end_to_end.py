"""The whole flow: demo data written by devices -> worker -> views -> summary API.

Every figure of the county summary is compared with an independent recomputation from
the generated data (``DemoManifest``), written here without the view code.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import date, timedelta

import pytest

from demo import DemoShape, load
from sync.couch import CouchClient, split_credentials
from tests.servers import server_holding_nothing

pytestmark = pytest.mark.slow

COUNTS = ("students_enrolled", "students_present", "absent_illness", "absent_fever", "absent_other",
          "fever_at_check", "respiratory_symptoms", "isolated_on_campus", "sent_to_hospital", "suspected_cases",
          "confirmed_cases", "close_contacts", "returned_from_affected_areas", "staff_total", "staff_present",
          "staff_fever")


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """A server holding only the demo (``server_holding_nothing``)."""
    with server_holding_nothing(tmp_path_factory, "e2e-couch") as url:
        yield url


@pytest.fixture(scope="module")
def loaded(demo_server, tmp_path_factory):
    with CouchClient(demo_server) as couch:
        manifest = load(couch, DemoShape(schools=30, days=21, seed=7))
    run = subprocess.run([sys.executable, "-m", "sync", "--once"], env=dict(os.environ, COUCHDB_URL=demo_server),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    from server import create_app
    from server.config import Settings

    app = create_app({"SETTINGS": Settings(couchdb_url=demo_server, secret_key="t",
                                           var_dir=tmp_path_factory.mktemp("e2e-var")), "TESTING": True})
    _base, user, password = split_credentials(demo_server)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    yield manifest, client
    app.extensions["couch"].close()


def oracle(manifest, county_id: str, day: date) -> dict:
    """The county's figures for one day, from the generator's own record of what it wrote."""
    iso = day.isoformat()
    schools = [s for s in manifest.schools() if s["county_id"] == county_id]
    school_day = day.isoweekday() <= 5
    expected = sorted(s["_id"].split(":", 1)[1] for s in schools
                      if school_day and s["opened"] <= iso and (s["closed"] is None or iso < s["closed"]))
    reports = {sid: data for (sid, d), data in manifest.expected.items()
               if d == iso and any(s["_id"] == f"school:{sid}" for s in schools)}
    return {
        "schools_expected": len(expected),
        "reports_received": len(reports),
        "zero_reports": sum(1 for data in reports.values() if data["zero_report"]),
        "missing_school_ids": [sid for sid in expected if sid not in reports],
        "totals": {name: sum(data[name] for data in reports.values()) for name in COUNTS},
        "completeness": round(sum(1 for sid in expected if sid in reports) / len(expected), 4) if expected else None,
    }


def test_county_summary_matches_an_independent_recomputation(loaded):
    manifest, client = loaded
    shape = manifest.shape
    checked = 0
    for county in manifest.counties():
        county_id = county["_id"].split(":", 1)[1]
        answer = client.get(f"/api/v1/summaries/county/{county_id}",
                            query_string={"from": shape.start_date.isoformat(), "to": shape.end_date.isoformat()})
        assert answer.status_code == 200, answer.get_json()
        days = {row["date"]: row for row in answer.get_json()["days"]}
        assert len(days) == shape.days
        for offset in range(shape.days):
            day = shape.start_date + timedelta(days=offset)
            want = oracle(manifest, county_id, day)
            got = days[day.isoformat()]
            for key, value in want.items():
                assert got[key] == value, (county_id, day, key)
            checked += 1
    assert checked == len(manifest.counties()) * shape.days
    # the demo really exercised the interesting cases
    assert manifest.conflicts and manifest.v1_reports
    assert any(oracle(manifest, c["_id"].split(":", 1)[1], shape.start_date + timedelta(days=d))["missing_school_ids"]
               for c in manifest.counties() for d in range(shape.days))


def test_unknown_county_and_bad_range_get_clear_errors(loaded):
    _manifest, client = loaded
    assert client.get("/api/v1/summaries/county/nowhere").status_code == 404
    bad = client.get("/api/v1/summaries/county/p01c01?from=2026-02-10&to=2026-02-01")
    assert bad.status_code == 422
    assert bad.get_json()["errors"]
