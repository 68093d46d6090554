"""The test oracle of the summaries, and the demo server the summary tests share (no tests here).

Every figure is recomputed in plain Python from what the demo generator says it wrote
(``DemoManifest``): the registry docs and the final data of each (school, date). Nothing
here reads a view or imports the summary code.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
from datetime import date, timedelta

from demo import DemoShape, load
from sync.couch import CouchClient, split_credentials
from tests.servers import server_holding_nothing

COUNTS = ("students_enrolled", "students_present", "absent_illness", "absent_fever", "absent_other",
          "fever_at_check", "respiratory_symptoms", "isolated_on_campus", "sent_to_hospital", "suspected_cases",
          "confirmed_cases", "close_contacts", "returned_from_affected_areas", "staff_total", "staff_present",
          "staff_fever")
SMALL = DemoShape(prefectures=2, counties_per_prefecture=2, schools=24, days=24, seed=11, end=date(2026, 11, 20))


@contextlib.contextmanager
def demo_server(tmp_path_factory, shape: DemoShape = SMALL):
    """A server holding only the demo after one worker run (``server_holding_nothing``: the
    session's CouchDB while empty, else a fresh node of the same kind): yields (url, manifest)."""
    with server_holding_nothing(tmp_path_factory, "summaries-couch") as url:
        with CouchClient(url) as couch:
            manifest = load(couch, shape)
        run = subprocess.run([sys.executable, "-m", "sync", "--once"], env=dict(os.environ, COUCHDB_URL=url),
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        yield url, manifest


@contextlib.contextmanager
def admin_client(url: str, tmp_path_factory):
    """A test client of a service on ``url``, signed in as the server admin (HTTP Basic)."""
    from server import create_app
    from server.config import Settings

    app = create_app({"SETTINGS": Settings(couchdb_url=url, secret_key="t", var_dir=tmp_path_factory.mktemp("var")),
                      "TESTING": True})
    _base, user, password = split_credentials(url)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    try:
        yield app, client
    finally:
        app.extensions["couch"].close()


class Oracle:
    """Summary figures from the manifest; ``holidays`` maps a county to extra non-school days;
    ``explanations`` is the (school, date) pairs a school explained (counted only when the
    school was expected and filed no report)."""

    def __init__(self, manifest, holidays: dict[str, set[str]] | None = None,
                 explanations: set[tuple[str, str]] | None = None):
        self.manifest = manifest
        self.holidays = holidays or {}
        self.explanations = explanations or set()
        self.schools = {s["_id"].split(":", 1)[1]: s for s in manifest.schools()}
        self.counties = {c["_id"].split(":", 1)[1]: c for c in manifest.counties()}
        v1 = set(manifest.v1_reports)
        self.reports: dict[tuple[str, str], dict] = {}
        for (sid, day), data in manifest.expected.items():
            data = dict(data)
            if (sid, day) in v1:  # version 1 had one absence count; the migration files it as "other"
                data["absent_other"] = data["absent_illness"] + data["absent_fever"] + data["absent_other"]
                data["absent_illness"] = data["absent_fever"] = 0
            self.reports[(sid, day)] = data

    def school_day(self, county_id: str, day: date) -> bool:
        return day.isoweekday() <= 5 and day.isoformat() not in self.holidays.get(county_id, set())

    def is_open(self, school: dict, iso: str) -> bool:
        return school["opened"] <= iso and (school["closed"] is None or iso < school["closed"])

    def expected(self, county_id: str, day: date) -> list[str]:
        iso = day.isoformat()
        return sorted(sid for sid, s in self.schools.items() if s["county_id"] == county_id
                      and self.school_day(county_id, day) and self.is_open(s, iso))

    def counties_of(self, level: str, area_id: str) -> list[str]:
        if level == "county":
            return [area_id]
        if level == "prefecture":
            return sorted(c for c, doc in self.counties.items() if doc["prefecture_id"] == area_id)
        return sorted(self.counties)

    def day(self, level: str, area_id: str, day: date) -> dict:
        iso = day.isoformat()
        expected, received = [], {}
        for county_id in self.counties_of(level, area_id):
            expected += self.expected(county_id, day)
            received.update({sid: data for (sid, d), data in self.reports.items()
                             if d == iso and self.schools[sid]["county_id"] == county_id})
        from_expected = sum(1 for sid in expected if sid in received)
        explained = [sid for sid in expected if sid not in received and (sid, iso) in self.explanations]
        totals = {name: sum(data[name] for data in received.values()) for name in COUNTS}
        return {
            "schools_expected": len(expected),
            "reports_received": len(received),
            "reports_from_expected": from_expected,
            "schools_explained": len(explained),
            "schools_missing": len(expected) - from_expected - len(explained),
            "zero_reports": sum(1 for data in received.values() if data["zero_report"]),
            "completeness": round(from_expected / len(expected), 4) if expected else None,
            "totals": totals,
            "fever_rate": round(totals["fever_at_check"] / totals["students_present"], 4)
            if totals["students_present"] else None,
            "missing_school_ids": [sid for sid in expected if sid not in received and sid not in explained],
            "explained_school_ids": explained,
        }

    def total(self, level: str, area_id: str, start: date, end: date) -> dict:
        days = [self.day(level, area_id, start + timedelta(days=n)) for n in range((end - start).days + 1)]
        expected = sum(d["schools_expected"] for d in days)
        from_expected = sum(d["reports_from_expected"] for d in days)
        return {
            "schools_expected": expected,
            "reports_received": sum(d["reports_received"] for d in days),
            "reports_from_expected": from_expected,
            "schools_explained": sum(d["schools_explained"] for d in days),
            "zero_reports": sum(d["zero_reports"] for d in days),
            "completeness": round(from_expected / expected, 4) if expected else None,
            "totals": {name: sum(d["totals"][name] for d in days) for name in COUNTS},
        }

    def missing_streak(self, school_id: str, day: date, lookback: int = 60) -> int:
        """School days in a row, ending ``day``, that an open school did not report."""
        school = self.schools[school_id]
        streak = 0
        for n in range(lookback):
            past = day - timedelta(days=n)
            iso = past.isoformat()
            if not self.school_day(school["county_id"], past) or not self.is_open(school, iso):
                continue
            if (school_id, iso) in self.reports:
                break
            if (school_id, iso) in self.explanations:
                continue
            streak += 1
        return streak
