"""The demo after the worker ran: the county page's missing list and Admin → Sync health tell
the same story (issue 13: a school that never synced was "synced, not reported" on one and
"never" on the other), and the names are the registry's Chinese ones."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from demo import DemoShape
from tests.server.test_summaries_oracle import Oracle, admin_client, demo_server

pytestmark = pytest.mark.slow
SHAPE = DemoShape(prefectures=1, counties_per_prefecture=2, schools=24, days=10, seed=8, end=date(2026, 11, 20))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with demo_server(tmp_path_factory, SHAPE) as (url, manifest):
        with admin_client(url, tmp_path_factory) as (_app, client):
            yield manifest, client


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)


def test_missing_schools_and_sync_health_agree(demo):
    manifest, client = demo
    oracle = Oracle(manifest)
    end = SHAPE.end_date
    deadline = datetime(end.year, end.month, end.day, 2, tzinfo=UTC)  # 10:00 in Asia/Shanghai
    statuses = set()
    for county_id in sorted(oracle.counties):
        missing = client.get(f"/api/v1/counties/{county_id}/missing", query_string={"date": end.isoformat()}
                             ).get_json()["missing"]
        health = client.get("/api/v1/admin/sync-health", query_string={"days": 0, "county_id": county_id}
                            ).get_json()["schools"]
        synced = {s["school_id"]: s["last_sync_at"] for s in health}
        assert sorted(row["school_id"] for row in missing) == oracle.day("county", county_id, end)["missing_school_ids"]
        for row in missing:
            sid, profile = row["school_id"], manifest.profiles[row["school_id"]]
            statuses.add((profile.sync, row["status"]))
            if profile.sync == "never":  # no sync record anywhere: not "synced, not reported"
                assert row["last_sync_at"] is None and synced[sid] is None and row["status"] == "not_synced"
                continue
            assert row["last_sync_source"] == "device_status", sid
            # the same last sync on both pages (Sync health moves it by the device's clock offset)
            assert abs((parse(row["last_sync_at"]) - parse(synced[sid])).total_seconds()) < 5, sid
            assert row["status"] == ("not_reported" if parse(row["last_sync_at"]) >= deadline else "not_synced")
            if profile.sync == "offline":
                assert row["status"] == "not_synced" and row["consecutive_school_days"] >= 2
            if profile.sync == "silent":
                assert row["status"] == "not_reported"
    assert {("never", "not_synced"), ("offline", "not_synced"), ("silent", "not_reported")} <= statuses


def test_the_county_summary_names_schools_in_chinese(demo):
    manifest, client = demo
    body = client.get("/api/v1/summaries/county/p01c01/schools",
                      query_string={"from": SHAPE.end_date.isoformat(), "to": SHAPE.end_date.isoformat()}).get_json()
    names = {s["_id"].split(":", 1)[1]: s["name"] for s in manifest.schools()}
    rows = body["schools"]
    assert rows and all(row["name"] == names[row["school_id"]] for row in rows)
    assert all(not row["name"].isascii() for row in rows)


def test_one_report_of_the_demo_came_in_carried_by_another_device(demo):
    manifest, client = demo
    relayed = manifest.relayed
    assert relayed is not None and relayed["status"] == "accepted"
    school, day = relayed["school_id"], SHAPE.end_date.isoformat()
    history = client.get(f"/api/v1/schools/{school}/reports/{day}/corrections").get_json()
    (record,) = [e for e in history["corrections"] if e["action"] == "relay"]
    carrier = manifest.accounts[record["who"]]
    assert carrier["kind"] == "device" and carrier["school_id"] != school  # another school's device carried it
    page = client.get(f"/schools/{school}", query_string={"from": day, "to": day}).get_data(as_text=True)
    assert f"由 {record['after']['carrier_name']} 代为上传" in page
    # ... and it counts like any report: the school reported that day (the oracle's figures hold above)
    summary = client.get(f"/api/v1/summaries/school/{school}", query_string={"from": day, "to": day}).get_json()
    assert summary["days"][0]["status"] != "missing", summary["days"][0]
