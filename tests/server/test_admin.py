"""The admin API against the real server: registry import, schools, users, devices, school
databases, sync health, replication jobs, audit, and officers' corrections."""

from __future__ import annotations

import base64
import copy
import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from mobile_schema import examples
from server.devices.service import DeviceEnrolment, Person
from sync import WorkerSettings, run_until_idle
from sync.checkpoint import Checkpointer
from sync.couch import CouchClient
from sync.errors import Unauthorized
from sync.provision import provision_core, school_db_name

ADMIN_PW = "admin-test-pw"


def basic(name: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def world(couch):
    """A run-unique prefecture, county and two schools; an admin and a county officer."""
    import uuid

    run = uuid.uuid4().hex[:8]
    provision_core(couch)
    ids = {"run": run, "p": f"ap{run}", "c": f"ac{run}", "c2": f"ac{run}x", "s1": f"as{run}a", "s2": f"as{run}b"}
    accounts = {"admin": (f"adm_{run}", ["admin"]), "officer": (f"off_{run}", [f"county:{ids['c']}"]),
                "other_officer": (f"offx_{run}", [f"county:{ids['c2']}"])}
    for name, roles in accounts.values():
        couch.put_user(name, password=ADMIN_PW, roles=roles)
    ids["names"] = {k: v[0] for k, v in accounts.items()}
    yield ids
    users = couch.db("_users")
    rows = users.all_docs(startkey="org.couchdb.user:", endkey="org.couchdb.user:\ufff0")["rows"]
    for row in rows:
        if run in row["id"]:
            couch.delete_user(row["id"].split(":", 1)[1])
    for db in couch.all_dbs():
        if run in db:
            couch.db(db).delete_database()


def as_admin(world) -> dict:
    return basic(world["names"]["admin"], ADMIN_PW)


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def upload(client, world, data: bytes, filename: str, kind: str | None = None, dry_run: bool = False):
    query = {k: v for k, v in (("kind", kind), ("dry_run", "true" if dry_run else None)) if v}
    return client.post("/api/v1/admin/registry/import", query_string=query, headers=as_admin(world),
                       data={"file": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


@pytest.fixture(scope="module")
def imported(app, world):
    """The world's registry, imported through the API from one XLSX, and both schools provisioned."""
    from openpyxl import Workbook

    client = app.test_client()
    book = Workbook()
    sheet = book.active
    sheet.title = "prefectures"
    sheet.append(["id", "name"])
    sheet.append([world["p"], "Test prefecture"])
    counties = book.create_sheet("counties")
    counties.append(["id", "prefecture_id", "name"])
    counties.append([world["c"], world["p"], "Test county"])
    counties.append([world["c2"], world["p"], "Other county"])
    schools = book.create_sheet("schools")
    schools.append(["id", "county_id", "name", "opened", "closed"])
    schools.append([world["s1"], world["c"], "School one", datetime(2020, 1, 1), None])
    schools.append([world["s2"], world["c2"], "School two", "2020-01-01", ""])
    out = io.BytesIO()
    book.save(out)
    answer = upload(client, world, out.getvalue(), "registry.xlsx")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["created"] == {"prefectures": 1, "counties": 2, "schools": 2}
    for school in (world["s1"], world["s2"]):
        put = client.put(f"/api/v1/admin/schools/{school}/database", json={"window_days": 30},
                         headers=as_admin(world))
        assert put.status_code == 200, put.get_json()
    return world


# -- registry -----------------------------------------------------------------------------------

def test_import_is_idempotent_and_the_school_has_its_county_prefecture(client, imported, couch):
    school = couch.db("registry").get(f"school:{imported['s1']}")
    assert school["prefecture_id"] == imported["p"] and school["opened"] == "2020-01-01" and school["closed"] is None
    again = upload(client, imported, csv_bytes([["id", "county_id", "name", "opened"],
                                                [imported["s1"], imported["c"], "School one", "2020-01-01"]]),
                   "schools.csv", kind="schools")
    assert again.status_code == 200
    assert again.get_json()["unchanged"]["schools"] == 1 and again.get_json()["updated"]["schools"] == 0


def test_csv_with_bad_rows_changes_nothing_and_reports_every_row(client, imported, couch):
    run = imported["run"]
    registry = couch.db("registry")
    before = registry.info()["doc_count"]
    rows = [["id", "county_id", "name", "opened", "closed"],
            [f"new{run}1", imported["c"], "Fine school", "2021-09-01", ""],      # line 2: good
            [f"new{run}2", "no-such-county", "Lost school", "2021-09-01", ""],  # line 3
            [f"new{run}3", imported["c"], "", "2021-09-01", ""],                # line 4
            [f"new{run}4", imported["c"], "Bad date", "2021-13-01", ""],         # line 5
            [f"new{run}1", imported["c"], "Twice", "2021-09-01", ""],           # line 6: duplicate
            ["bad id!", imported["c"], "Bad id", "2021-09-01", ""],              # line 7
            [f"new{run}5", imported["c"], "Closed first", "2021-09-01", "2020-01-01"]]  # line 8
    answer = upload(client, imported, csv_bytes(rows), "schools.csv", kind="schools")
    assert answer.status_code == 422
    body = answer.get_json()
    lines = sorted({e["line"] for e in body["errors"]["rows"]})
    assert lines == [3, 4, 5, 6, 7, 8], body
    reasons = " | ".join(e["reason"] for e in body["errors"]["rows"])
    for needle in ("county no-such-county", "name is empty", "YYYY-MM-DD", "appears again", "may only have",
                   "before opened"):
        assert needle in reasons
    assert registry.info()["doc_count"] == before
    assert registry.get_or_none(f"school:new{run}1") is None


def test_import_needs_the_columns_and_a_kind(client, imported):
    no_kind = upload(client, imported, csv_bytes([["id", "name"], ["x1", "X"]]), "x.csv")
    assert no_kind.status_code == 422 and no_kind.get_json()["errors"]["rows"][0]["line"] == 2
    missing = upload(client, imported, csv_bytes([["id"], ["x1"]]), "x.csv", kind="counties")
    assert missing.status_code == 422 and "missing columns" in missing.get_json()["errors"]["rows"][0]["reason"]
    garbage = upload(client, imported, b"PK\x03\x04 not really a zip", "x.xlsx")
    assert garbage.status_code == 422
    columns = client.get("/api/v1/admin/registry/import", headers=as_admin(imported)).get_json()
    assert columns["schools"]["required"] == ["id", "county_id", "name", "opened"]


def test_edit_close_and_reopen_a_school_are_audited(client, imported):
    url = f"/api/v1/admin/schools/{imported['s2']}"
    headers = as_admin(imported)
    assert client.patch(url, json={"name": "School two (renamed)"}, headers=headers).get_json()["name"] == \
        "School two (renamed)"
    closed = client.patch(url, json={"closed": "2024-07-01"}, headers=headers)
    assert closed.status_code == 200 and closed.get_json()["closed"] == "2024-07-01"
    assert client.patch(url, json={"closed": "2019-01-01"}, headers=headers).status_code == 422
    assert client.patch(url, json={"county_id": "nowhere"}, headers=headers).status_code == 422
    reopened = client.patch(url, json={"closed": None}, headers=headers)
    assert reopened.get_json()["closed"] is None
    audit = client.get("/api/v1/admin/audit", query_string={"target": f"school:{imported['s2']}"},
                       headers=headers).get_json()["entries"]
    actions = [e["action"] for e in audit]
    assert actions[:3] == ["school.reopen", "school.close", "school.update"]
    assert audit[1]["before"]["closed"] is None and audit[1]["after"]["closed"] == "2024-07-01"
    assert all(e["who"] == imported["names"]["admin"] for e in audit)
    listing = client.get("/api/v1/admin/schools", query_string={"county_id": imported["c"]},
                         headers=headers).get_json()
    assert [s["id"] for s in listing["schools"]] == [imported["s1"]]
    assert client.get("/api/v1/admin/schools/nope", headers=headers).status_code == 404


# -- users --------------------------------------------------------------------------------------

def test_create_teacher_joins_the_roster_and_gets_the_school_role(client, imported, couch):
    name = f"t1_{imported['run']}"
    created = client.post("/api/v1/admin/users", json={"name": name, "kind": "teacher", "scope": imported["s1"],
                                                       "display_name": "Teacher One"}, headers=as_admin(imported))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["roles"] == [f"school:{imported['s1']}"] and body["password"]
    assert couch.session(name, body["password"])["roles"] == [f"school:{imported['s1']}"]
    roster = client.get(f"/api/v1/admin/schools/{imported['s1']}/roster", headers=as_admin(imported)).get_json()
    assert {"username": name, "display_name": "Teacher One"} in roster["teachers"]
    again = client.post("/api/v1/admin/users", json={"name": name, "kind": "teacher", "scope": imported["s1"]},
                        headers=as_admin(imported))
    assert again.status_code == 409
    wrong_scope = client.post("/api/v1/admin/users", json={"name": f"t9_{imported['run']}", "kind": "teacher",
                                                           "scope": "no-such-school"}, headers=as_admin(imported))
    assert wrong_scope.status_code == 422
    audit = client.get("/api/v1/admin/audit.csv", query_string={"target": f"user:{name}"},
                       headers=as_admin(imported))
    assert audit.status_code == 200 and audit.mimetype == "text/csv"
    assert "user.create" in audit.get_data(as_text=True)
    assert body["password"] not in audit.get_data(as_text=True)


def test_roster_add_and_remove_keep_the_role_in_step(client, imported, couch):
    name = f"t2_{imported['run']}"
    couch.put_user(name, password="pw-t2-123", roles=[])
    url = f"/api/v1/admin/schools/{imported['s2']}/roster"
    added = client.patch(url, json={"add": [{"username": name}]}, headers=as_admin(imported))
    assert added.status_code == 200 and name in [t["username"] for t in added.get_json()["teachers"]]
    assert couch.session(name, "pw-t2-123")["roles"] == [f"school:{imported['s2']}"]
    removed = client.patch(url, json={"remove": [name]}, headers=as_admin(imported))
    assert name not in [t["username"] for t in removed.get_json()["teachers"]]
    assert couch.session(name, "pw-t2-123")["roles"] == []
    unknown = client.patch(url, json={"add": [{"username": "nobody-at-all"}]}, headers=as_admin(imported))
    assert unknown.status_code == 422


def test_reset_password(client, imported, couch):
    name = f"t3_{imported['run']}"
    client.post("/api/v1/admin/users", json={"name": name, "kind": "inspector", "scope": imported["c"],
                                             "password": "first-password"}, headers=as_admin(imported))
    reset = client.patch(f"/api/v1/admin/users/{name}", json={"reset_password": True}, headers=as_admin(imported))
    assert reset.status_code == 200
    new = reset.get_json()["password"]
    with pytest.raises(Unauthorized):
        couch.session(name, "first-password")
    assert couch.session(name, new)["roles"] == [f"inspector:{imported['c']}"]


def test_deactivated_user_is_refused_by_the_service_and_by_couchdb(client, app, imported, couch, couch_url):
    name = f"t4_{imported['run']}"
    created = client.post("/api/v1/admin/users", json={"name": name, "kind": "county_officer",
                                                       "scope": imported["c"], "password": "officer-pw-1"},
                          headers=as_admin(imported)).get_json()
    assert created["roles"] == [f"county:{imported['c']}"]
    summary = f"/api/v1/summaries/county/{imported['c']}"
    assert client.get(summary, headers=basic(name, "officer-pw-1")).status_code == 200
    # a browser session too, signed in before the deactivation
    browser = app.test_client()
    page = browser.get("/login")
    token = page.data.decode().split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert browser.post("/login", data={"name": name, "password": "officer-pw-1", "csrf_token": token}
                        ).status_code == 302
    assert browser.get(summary).status_code == 200

    done = client.patch(f"/api/v1/admin/users/{name}", json={"active": False}, headers=as_admin(imported))
    assert done.status_code == 200 and done.get_json()["deactivated"] is True and done.get_json()["roles"] == []
    doc = couch.db("_users").get(f"org.couchdb.user:{name}")
    assert doc["deactivated"] is True and doc["roles"] == []

    # CouchDB: the password no longer works, not for _session nor for Basic on a database
    with pytest.raises(Unauthorized):
        couch.session(name, "officer-pw-1")
    base = couch_url.split("://", 1)[1].rsplit("@", 1)[-1]
    scheme = couch_url.split("://", 1)[0]
    answer = httpx.get(f"{scheme}://{base}/{school_db_name(imported['s1'])}", auth=(name, "officer-pw-1"))
    assert answer.status_code == 401
    # the service re-reads the account (cached 5 s): then neither Basic nor the browser session counts
    time.sleep(5.1)
    for attempt in range(2):
        assert client.get(summary, headers=basic(name, "officer-pw-1")).status_code in (401, 403), attempt
        assert browser.get(summary).status_code in (401, 403), attempt
    assert browser.get("/admin/").status_code in (302, 403)
    fresh = app.test_client()
    assert fresh.get(summary, headers=basic(name, "officer-pw-1")).status_code in (401, 403)

    back = client.patch(f"/api/v1/admin/users/{name}", json={"active": True}, headers=as_admin(imported))
    assert back.status_code == 200 and back.get_json()["roles"] == [f"county:{imported['c']}"]
    assert couch.session(name, back.get_json()["password"])["roles"] == [f"county:{imported['c']}"]


def test_admin_cannot_deactivate_itself_and_devices_are_not_users(client, imported):
    me = imported["names"]["admin"]
    assert client.patch(f"/api/v1/admin/users/{me}", json={"active": False},
                        headers=as_admin(imported)).status_code == 409
    assert client.get("/api/v1/admin/users/device_abc", headers=as_admin(imported)).status_code == 404
    listing = client.get("/api/v1/admin/users", query_string={"q": imported["run"], "limit": 1000},
                         headers=as_admin(imported)).get_json()
    assert all(not u["name"].startswith("device_") for u in listing["users"])


# -- devices, sync health ---------------------------------------------------------------------------

def device_status_doc(device: str, school_id: str, last_sync: datetime, error: str | None) -> dict:
    doc = examples.device_status(device=device, school_id=school_id,
                                 last_sync_at=last_sync.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                                 last_error=error, clock_offset_ms=0)
    doc["_id"] = f"device_status:{device}"
    doc["school_id"] = school_id
    doc["meta"] = examples.meta(device=device, clocks={})
    return doc


def run_worker(couch, couch_url: str, school_id: str) -> None:
    """The sync worker over one school's database, until it is caught up (it mirrors device status into ops)."""
    run_until_idle(couch, WorkerSettings(couchdb_url=couch_url, db_pattern=f"^{school_db_name(school_id)}$",
                                         status_interval_s=0.0))


@pytest.fixture(scope="module")
def device(imported, couch, couch_url):
    """A device enrolled for school 1 by its teacher, which has written its status doc, and the
    worker has run since."""
    name = f"t5_{imported['run']}"
    couch.put_user(name, password="teacher-pw", roles=[f"school:{imported['s1']}"])
    teacher = Person(name=name, roles=(f"school:{imported['s1']}",))
    enrolment = DeviceEnrolment(couch).enrol(teacher, school_id=imported["s1"], label="Tablet A")
    base = couch_url.split("://", 1)[1].rsplit("@", 1)[-1]
    device_url = f"{couch_url.split('://', 1)[0]}://{enrolment['device']}:{enrolment['password']}@{base}"
    with CouchClient(device_url) as as_device:
        old = datetime.now(UTC) - timedelta(days=5)
        as_device.db(enrolment["db"]).put(device_status_doc(enrolment["device"], imported["s1"], old,
                                                            "replication failed: ETIMEDOUT"))
    run_worker(couch, couch_url, imported["s1"])
    return dict(enrolment, url=device_url)


def test_devices_of_a_school_show_their_status(client, imported, device):
    listing = client.get(f"/api/v1/admin/schools/{imported['s1']}/devices", headers=as_admin(imported)).get_json()
    (item,) = [d for d in listing["devices"] if d["device"] == device["device"]]
    assert item["status"] == "active" and item["label"] == "Tablet A" and item["has_status"]
    assert item["app_version"] == "0.1.0" and item["waiting_count"] == 2 and item["clock_offset_ms"] == 0
    assert item["last_error"] == "replication failed: ETIMEDOUT"


def test_sync_health_lists_the_silent_worst_first_and_exports_csv(client, imported, device):
    query = {"days": 3, "county_id": imported["c"]}
    report = client.get("/api/v1/admin/sync-health", query_string=query, headers=as_admin(imported)).get_json()
    (school,) = [s for s in report["schools"] if s["school_id"] == imported["s1"]]
    assert 4.9 < school["days_since_sync"] < 5.1 and school["last_error"] == "replication failed: ETIMEDOUT"
    assert [d["device"] for d in report["devices"]] == [device["device"]]
    assert all(s["county_id"] == imported["c"] for s in report["schools"])
    recent = client.get("/api/v1/admin/sync-health", query_string={"days": 7, "county_id": imported["c"]},
                        headers=as_admin(imported)).get_json()
    assert recent["schools"] == [] and recent["devices"] == []
    exported = client.get("/api/v1/admin/sync-health.csv", query_string=query, headers=as_admin(imported))
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [r["kind"] for r in rows] == ["school", "device"]
    assert rows[1]["device"] == device["device"] and rows[1]["last_error"] == "replication failed: ETIMEDOUT"


def test_admin_pages_show_local_times_not_utc_stamps(client, imported, device):
    """Sync health, the school page and the audit log show times as the county office reads
    them (UTC+8, Chinese format), never a raw ``2026-12-01T13:14:03.084Z``."""
    raw_stamp = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
    for path in ("/admin/sync-health?days=3", f"/admin/schools/{imported['s1']}", "/admin/audit"):
        page = client.get(path, headers=as_admin(imported))
        assert page.status_code == 200, path
        text = page.get_data(as_text=True)
        text = re.sub(r"<code>.*?</code>", "", text, flags=re.S)  # audit before/after: stored values, as stored
        assert not raw_stamp.search(text), (path, raw_stamp.search(text))
    health = client.get("/admin/sync-health?days=3", headers=as_admin(imported)).get_data(as_text=True)
    assert re.search(r"\d{1,2}月\d{1,2}日 \d{2}:\d{2}", health)  # the device's last sync, 5 days ago


def test_sync_health_reads_the_mirror_in_ops_not_the_school_database(client, imported, device, couch, couch_url):
    from server.admin.sync_health import forget_cached

    query = {"days": 3, "county_id": imported["c"]}
    before = client.get("/api/v1/admin/sync-health", query_string=query, headers=as_admin(imported)).get_json()
    school_db = couch.db(school_db_name(imported["s1"]))
    status = school_db.get(f"device_status:{device['device']}")
    school_db.delete(status["_id"], status["_rev"])
    run_worker(couch, couch_url, imported["s1"])
    forget_cached()
    after = client.get("/api/v1/admin/sync-health", query_string=query, headers=as_admin(imported)).get_json()
    (school,) = [s for s in after["schools"] if s["school_id"] == imported["s1"]]
    assert school["last_error"] == "replication failed: ETIMEDOUT" and 4.9 < school["days_since_sync"] < 5.1
    assert [d["last_sync_at"] for d in after["devices"]] == [d["last_sync_at"] for d in before["devices"]]
    assert after["devices"][0]["waiting_count"] == 2
    # the whole province in one query too
    province = client.get("/api/v1/admin/sync-health", query_string={"days": 3}, headers=as_admin(imported))
    assert device["device"] in [d["device"] for d in province.get_json()["devices"]]


def test_revoked_device_can_no_longer_sync(client, imported, device, couch):
    with CouchClient(device["url"]) as as_device:
        assert as_device.db(device["db"]).get("config:device")["window_days"] == 30
    url = f"/api/v1/admin/schools/{imported['s1']}/devices/revocations"
    wrong_school = client.post(f"/api/v1/admin/schools/{imported['s2']}/devices/revocations",
                               json={"device": device["device"]}, headers=as_admin(imported))
    assert wrong_school.status_code == 404
    revoked = client.post(url, json={"device": device["device"]}, headers=as_admin(imported))
    assert revoked.status_code == 200
    assert [d["device"] for d in revoked.get_json()["devices"]] == [device["device"]]
    assert couch.db("registry").get(f"device:{device['device']}")["status"] == "revoked"
    assert couch.db("_users").get_or_none(f"org.couchdb.user:{device['device']}") is None
    with CouchClient(device["url"]) as as_device, pytest.raises(Unauthorized):
        as_device.db(device["db"]).get("config:device")
    report = client.get("/api/v1/admin/sync-health", query_string={"days": 3, "county_id": imported["c"]},
                        headers=as_admin(imported)).get_json()
    assert device["device"] not in [d["device"] for d in report["devices"]]


# -- school databases ---------------------------------------------------------------------------

def test_database_detail_reprocess_and_threshold(client, imported, couch):
    db_name = school_db_name(imported["s1"])
    Checkpointer(couch).save(db_name, since=3)
    couch.db("ops").put({"_id": f"quarantine:test{imported['run']}", "type": "quarantine", "status": "open",
                         "db": db_name, "doc_id": "report:daily_health:2020-01-01"})
    url = f"/api/v1/admin/schools/{imported['s1']}/database"
    detail = client.get(url, query_string={"threshold": 1}, headers=as_admin(imported)).get_json()
    assert detail["provisioned"] and detail["security_ok"] and detail["validation_ok"]
    assert detail["window_days"] == 30 and detail["doc_count"] >= 2 and detail["over_threshold"] is True
    assert detail["quarantined"] == 1 and detail["checkpoint"]["since"] == 3
    assert detail["docs_with_conflicts"] == [] and detail["resolutions_pending"] == 0
    assert client.get(url, headers=as_admin(imported)).get_json()["over_threshold"] is False
    reset = client.delete(f"{url}/checkpoint", headers=as_admin(imported))
    assert reset.status_code == 200
    assert Checkpointer(couch).stored(db_name)["since"] == 0
    # re-provisioning repairs what was changed by hand, and keeps the data window
    couch.db(db_name).put_security({"admins": {"names": [], "roles": []}, "members": {"names": [], "roles": []}})
    again = client.put(url, json={}, headers=as_admin(imported)).get_json()
    assert db_name in again["provisioned"]["security_set"] and again["database"]["security_ok"]
    assert again["provisioned"]["window_days"] == 30
    listing = client.get("/api/v1/admin/databases", query_string={"county_id": imported["c"], "threshold": 1,
                                                                 "over_threshold": "true"},
                         headers=as_admin(imported)).get_json()
    assert [d["school_id"] for d in listing["databases"]] == [imported["s1"]]


# -- replication --------------------------------------------------------------------------------

def wait_until_done(client, world, job: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        (item,) = [j for j in client.get("/api/v1/admin/replications", headers=as_admin(world)
                                         ).get_json()["jobs"] if j["id"] == job]
        if item["state"] in ("completed", "error", "failed") or time.monotonic() > deadline:
            return item
        time.sleep(0.3)


def test_replication_jobs_create_pause_resume_delete(client, imported, couch, couch_url):
    job = f"backup-{imported['run']}"
    target = f"backup_{imported['run']}"
    created = client.post("/api/v1/admin/replications", json={"id": job, "source": "registry", "target": target,
                                                               "continuous": False, "create_target": True},
                          headers=as_admin(imported))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert "***" in body["source"] or "@" not in body["source"]
    password = couch_url.split("://", 1)[1].rsplit("@", 1)[0].split(":", 1)[-1]
    listing = client.get("/api/v1/admin/replications", headers=as_admin(imported))
    # The credentials as they would appear in a URL (the password alone may equal the name).
    assert f":{password}@" not in listing.get_data(as_text=True)
    (item,) = [j for j in listing.get_json()["jobs"] if j["id"] == job]
    assert item["state_source"] in ("_scheduler/docs", "document") and not item["paused"]
    assert wait_until_done(client, imported, job)["state"] == "completed"
    assert couch.db(target).info()["doc_count"] == couch.db("registry").info()["doc_count"]
    paused = client.patch("/api/v1/admin/replications", json={"id": job, "paused": True}, headers=as_admin(imported))
    (item,) = [j for j in paused.get_json()["jobs"] if j["id"] == job]
    assert item["paused"] and item["state"] == "paused"
    assert couch.db("_replicator").get_or_none(job) is None
    resumed = client.patch("/api/v1/admin/replications", json={"id": job, "paused": False},
                           headers=as_admin(imported))
    (item,) = [j for j in resumed.get_json()["jobs"] if j["id"] == job]
    assert not item["paused"]
    assert client.post("/api/v1/admin/replications", json={"id": job, "source": "registry", "target": target},
                       headers=as_admin(imported)).status_code == 409
    bad = client.post("/api/v1/admin/replications", json={"id": "x1", "source": "ftp://x/y", "target": target},
                      headers=as_admin(imported))
    assert bad.status_code == 422
    wait_until_done(client, imported, job)  # pouchdb-server cannot stop a running job safely
    deleted = client.delete("/api/v1/admin/replications", query_string={"id": job}, headers=as_admin(imported))
    assert job not in [j["id"] for j in deleted.get_json()["jobs"]]
    actions = [e["action"] for e in client.get("/api/v1/admin/audit", query_string={
        "target": f"replication:{job}"}, headers=as_admin(imported)).get_json()["entries"]]
    assert actions == ["replication.delete", "replication.resume", "replication.pause", "replication.create"]
    if couch.db(target).exists():
        couch.db(target).delete_database()


# -- corrections ----------------------------------------------------------------------------------

@pytest.fixture
def report(imported, couch):
    day = "2026-11-20"
    doc = copy.deepcopy(examples.daily_health(date=day))
    doc["school_id"] = imported["s1"]
    db = couch.db(school_db_name(imported["s1"]))
    current = db.get_or_none(doc["_id"])
    if current:
        doc["_rev"] = current["_rev"]
    db.put(doc)
    return day, doc


def test_officer_corrects_a_report_through_the_service(client, imported, couch, report):
    day, original = report
    url = f"/api/v1/schools/{imported['s1']}/reports/{day}/corrections"
    officer = basic(imported["names"]["officer"], ADMIN_PW)
    answer = client.post(url, json={"changes": {"students_present": 113, "absent_other": 3},
                                    "reason": "the school phoned: one more absent"}, headers=officer)
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["changed"]["students_present"] == {"before": 114, "after": 113}
    stored = couch.db(school_db_name(imported["s1"])).get(f"report:daily_health:{day}")
    assert stored["data"]["students_present"] == 113 and stored["data"]["absent_other"] == 3
    assert stored["meta"]["author"] == imported["names"]["officer"]
    clock = stored["meta"]["clocks"]["students_present"]
    assert clock["base"] == original["meta"]["clocks"]["students_present"]["at"]
    assert clock["at"] > clock["base"]
    assert stored["meta"]["clocks"]["absent_other"]["base"] is None
    history = client.get(url, headers=officer).get_json()["corrections"]
    assert history[-1]["before"] == {"students_present": 114, "absent_other": 2}
    assert history[-1]["reason"] == "the school phoned: one more absent"


def test_corrections_are_checked_and_scoped(client, imported, report):
    day, _ = report
    url = f"/api/v1/schools/{imported['s1']}/reports/{day}/corrections"
    officer = basic(imported["names"]["officer"], ADMIN_PW)
    other = basic(imported["names"]["other_officer"], ADMIN_PW)
    change = {"changes": {"students_present": 200}, "reason": "typo"}
    assert client.post(url, json=change, headers=other).status_code == 403
    invalid = client.post(url, json=change, headers=officer)  # more present than enrolled
    assert invalid.status_code == 422 and invalid.get_json()["errors"]
    unknown = client.post(url, json={"changes": {"no_such_field": 1}, "reason": "x"}, headers=officer)
    assert unknown.status_code == 422
    missing = client.post(f"/api/v1/schools/{imported['s1']}/reports/2026-11-21/corrections", json=change,
                          headers=officer)
    assert missing.status_code == 404
    assert client.post(f"/api/v1/schools/{imported['s1']}/reports/2026-13-01/corrections", json=change,
                       headers=officer).status_code == 422
    assert client.get(url, headers=other).status_code == 403


# -- what CouchDB itself enforces -----------------------------------------------------------------

def test_teacher_credentials_reach_only_their_own_school_in_couchdb(imported, couch, couch_url):
    name = f"t6_{imported['run']}"
    couch.put_user(name, password="teacher-pw", roles=[f"school:{imported['s1']}"])
    base = couch_url.split("://", 1)[1].rsplit("@", 1)[-1]
    scheme = couch_url.split("://", 1)[0]
    with httpx.Client(base_url=f"{scheme}://{base}", auth=(name, "teacher-pw"),
                      headers={"Accept": "application/json", "Content-Type": "application/json"}) as http:
        own = school_db_name(imported["s1"])
        assert http.get(f"/{own}/config:device").status_code == 200
        other = school_db_name(imported["s2"])
        for db in (other, "reports", "registry", "ops"):
            assert http.get(f"/{db}/_all_docs").status_code in (401, 403), db
            assert http.get(f"/{db}/_changes").status_code in (401, 403), db
            wrote = http.put(f"/{db}/intruder-{imported['run']}", json={"type": "config", "x": 1})
            assert wrote.status_code in (401, 403), (db, wrote.status_code, wrote.text)
            bulk = http.post(f"/{db}/_bulk_docs", json={"docs": [{"_id": f"b-{imported['run']}"}]})
            # CouchDB refuses the request; pouchdb-server answers 201 with a per-document refusal
            assert bulk.status_code in (401, 403) or all("error" in r for r in bulk.json()), (db, bulk.text)
            assert couch.db(db).get_or_none(f"b-{imported['run']}") is None, db
            assert couch.db(db).get_or_none(f"intruder-{imported['run']}") is None, db
        users = http.get("/_users/_all_docs")  # pouchdb-server: 400, CouchDB: 403
        assert users.status_code in (400, 401, 403) and "rows" not in users.json()
        # the school's validation refuses what a teacher's device must never write, even in its own db
        forged = http.put(f"/{own}/config:device", json={"type": "config", "school_id": imported["s2"]})
        assert forged.status_code in (401, 403, 409)
