"""The production layout on loopback (``devstack/prodlike.py``, ``make prodlike``), end to end.

One stack for the session (``stack`` in ``conftest.py``, shared with the browser test):
nginx from the local template, gunicorn with three workers, two sync worker shards and a
fresh embedded pouchdb-server holding a small demo, all on free ports in a temporary
VAR_DIR. Everything goes through the nginx origin, as a device or an officer would, except
``/metrics``, which only loopback scrapers reach on gunicorn.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest

from mobile_schema import get_form, hlc_format, validate_document
from sync.canonical import canonical_id
from sync.checkpoint import Checkpointer
from sync.couch import CouchClient, split_credentials
from sync.feeds import shard_of
from sync.provision import REGISTRY_DB, REPORTS_DB, SCHOOL_DB_PREFIX, provision_school, school_db_name
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def couch(stack):
    with CouchClient(stack.couchdb_url) as client:
        yield client


@pytest.fixture(scope="module")
def admin_auth(stack) -> tuple[str, str]:
    _base, user, password = split_credentials(stack.couchdb_url)
    return user, password


def local_today() -> str:
    return (datetime.now(UTC) + timedelta(hours=8)).date().isoformat()


def school_dbs(couch) -> list[str]:
    return sorted(name for name in couch.all_dbs() if name.startswith(SCHOOL_DB_PREFIX))



def test_health_app_and_no_public_metrics_through_the_origin(stack):
    with httpx.Client(base_url=stack.origin, timeout=10) as client:
        health = client.get("/api/v1/health")
        assert health.status_code == 200, health.text
        assert health.json()["couchdb"]["ok"] is True
        app = client.get("/app/")
        assert app.status_code == 200 and "<html" in app.text.lower()
        sw = client.get("/app/sw.js")
        assert sw.status_code == 200 and sw.headers["cache-control"] == "no-cache"
        assert client.get("/app/vendor/pouchdb.min.js").status_code == 200  # from npm, through Flask
        assert client.get("/metrics").status_code == 404


def test_continuous_changes_through_db_deliver_within_a_second(stack, couch, run_id):
    # A school database of its own, followed by its own device (/db/ lets a device reach
    # only its school's database); the worker skips config: documents.
    school_id = f"feed{run_id}"
    provision_school(couch, school_id)
    db = couch.db(school_db_name(school_id))
    device, password = f"device_feed{run_id}", f"pw-{run_id}"
    couch.put_user(device, password=password, roles=[f"school:{school_id}", "device"])
    try:
        since = db.info()["update_seq"]
        lines: list[tuple[float, str]] = []
        opened = threading.Event()

        def follow():
            # httpx offers gzip, as browsers do: nginx must still pass lines at once.
            with httpx.Client(base_url=stack.origin, auth=(device, password),
                              timeout=httpx.Timeout(30, read=60)) as client:
                with client.stream("GET", f"/db/{db.name}/_changes",
                                   params={"feed": "continuous", "since": since, "heartbeat": 1000}) as answer:
                    opened.set()
                    for line in answer.iter_lines():
                        if line.strip():
                            lines.append((time.monotonic(), line))
                            return

        thread = threading.Thread(target=follow, daemon=True)
        thread.start()
        assert opened.wait(10)
        time.sleep(0.3)
        written_at = time.monotonic()
        db.put({"_id": "config:ping", "type": "config", "n": 1})
        thread.join(timeout=5)
        assert lines, "no change arrived through the proxy"
        arrived_at, line = lines[0]
        assert '"config:ping"' in line
        assert arrived_at - written_at < 1.0, arrived_at - written_at
    finally:
        couch.delete_user(device)
        db.delete_database()


def test_db_through_nginx_refuses_what_no_device_needs(stack, couch, admin_auth, run_id):
    """Issue 12: nginx asks the service's /db/ policy (auth_request) before CouchDB sees anything."""
    name = f"intruder_{run_id}"
    user_path = f"/db/_users/org.couchdb.user:{name}"
    doc = {"_id": f"org.couchdb.user:{name}", "name": name, "type": "user", "roles": ["admin"], "password": "x"}
    with httpx.Client(base_url=stack.origin, timeout=10) as client:
        created = client.put(user_path, json=doc)
        assert created.status_code == 401, created.text
        assert created.json()["error"] == "unauthorized" and "_users" in created.json()["reason"]
        assert created.headers["content-security-policy"] == "sandbox"
        assert client.get("/db/_all_dbs").status_code == 401
        listed = client.get("/db/_all_dbs", auth=admin_auth)  # admins too: they use the admin API
        assert listed.status_code == 403 and listed.json()["error"] == "forbidden"
        assert client.put(f"/db/made_{run_id}", headers={"Cookie": "AuthSession=abc"}).status_code == 401
        # Wrong passwords at /db/_session are the service's to count (the limit of /login).
        refused = client.post("/db/_session", json={"name": name, "password": "wrong"})
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert couch.db("_users").get_or_none(f"org.couchdb.user:{name}") is None
    assert not couch.db(f"made_{run_id}").exists()


def daily_report(school_id: str, device: str, author: str, day: str) -> dict:
    form = get_form("daily_health")
    now = datetime.now(UTC)
    data = {
        "students_enrolled": 321, "students_present": 318, "absent_illness": 1, "absent_fever": 1,
        "absent_other": 1, "fever_at_check": 2, "respiratory_symptoms": 0, "isolated_on_campus": 1,
        "sent_to_hospital": 0, "suspected_cases": 0, "confirmed_cases": 0, "close_contacts": 0,
        "returned_from_affected_areas": 0, "staff_total": 20, "staff_present": 20, "staff_fever": 0,
        "disinfection_done": True, "notes": "", "zero_report": False,
    }
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    clock = hlc_format(int(now.timestamp() * 1000), 0, device)
    return {"_id": form.make_id(day), "type": "report", "form": "daily_health",
            "schema_version": form.latest_version, "school_id": school_id, "date": day, "data": data,
            "meta": {"author": author, "device": device, "app_version": "test", "created_at": stamp,
                     "updated_at": stamp, "submitted_at": stamp, "utc_offset_minutes": 480, "clock_offset_ms": 0,
                     "clocks": {name: {"at": clock, "base": None} for name in data}}}


def test_report_written_as_a_device_through_db_reaches_the_county_summary(stack, couch, admin_auth, run_id):
    registry = couch.db(REGISTRY_DB)
    school = next(row["doc"] for row in registry.all_docs(startkey="school:", endkey="school:\ufff0",
                                                          include_docs=True)["rows"]
                  if row["doc"].get("closed") is None)
    school_id, county_id = school["_id"].split(":", 1)[1], school["county_id"]
    author = registry.get(f"roster:{school_id}")["teachers"][0]["username"]
    device, password = f"device_{uuid.uuid4().hex}", f"pw-{run_id}"
    couch.put_user(device, password=password, roles=[f"school:{school_id}", "device"])
    day = local_today()  # the demo ends yesterday: this is the county's only report today
    doc = daily_report(school_id, device, author, day)
    assert validate_document(doc, school_id=school_id, device=device) == []
    summary_path = f"/api/v1/summaries/county/{county_id}"
    with httpx.Client(base_url=stack.origin, timeout=30) as client:
        written = client.put(f"/db/school_{school_id}/{quote(doc['_id'], safe='')}", json=doc,
                             auth=(device, password))
        assert written.status_code == 201, written.text

        def received():
            answer = client.get(summary_path, params={"from": day, "to": day}, auth=admin_auth)
            assert answer.status_code == 200, answer.text
            row = answer.json()["days"][0]
            return row if row["reports_received"] == 1 else None

        row = wait_for(received, 120, "the report in the county summary")
    assert row["totals"]["students_enrolled"] == 321
    assert row["totals"]["fever_at_check"] == 2


def test_two_shards_process_every_school_database_exactly_once(stack, couch):
    shards = stack.config.shards
    assert shards == 2
    dbs = school_dbs(couch)
    assert len(dbs) >= 8
    sources = {}  # canonical id -> (source db, source doc id, winning rev)
    for name in dbs:
        for row in couch.db(name).all_docs(startkey="report:", endkey="report:\ufff0")["rows"]:
            sources[canonical_id(row["id"], name[len(SCHOOL_DB_PREFIX):])] = (name, row["id"], row["value"]["rev"])
    assert len(sources) > 8
    reports = couch.db(REPORTS_DB)

    def all_canonical():
        rows = reports.all_docs(keys=sorted(sources), include_docs=True)["rows"]
        docs = {row["key"]: row.get("doc") for row in rows}
        return docs if all(doc and doc["source"]["rev"] == sources[key][2] for key, doc in docs.items()) else None

    canonicals = wait_for(all_canonical, 180, "a canonical copy of every report")
    for key, doc in canonicals.items():
        assert (doc["source"]["db"], doc["source"]["doc_id"]) == sources[key][:2]
        assert doc["_rev"].startswith("1-"), (key, doc["_rev"])  # written once, never rewritten

    # Which shard read each database: the one that saved its checkpoint.
    def checkpoints():
        found = {name: (Checkpointer(couch).stored(name) or {}).get("shard") for name in dbs}
        return found if all(found.values()) else None

    seen = wait_for(checkpoints, 120, "every database's checkpoint")
    assert {shard for shard in seen.values()} == {f"{i}-of-{shards}" for i in range(1, shards + 1)}, \
        "one shard did nothing"
    for name, shard in seen.items():
        assert shard == f"{shard_of(name, shards)}-of-{shards}", (name, shard)


def test_metrics_in_prometheus_text_across_gunicorn_workers(stack):
    with httpx.Client(base_url=stack.origin, timeout=10) as client:
        for _ in range(12):
            assert client.get("/api/v1/health").status_code == 200
    answer = httpx.get(stack.web_url + "/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    health = [line for line in answer.text.splitlines()
              if line.startswith("http_requests_total{") and 'endpoint="health.health"' in line
              and 'status="200"' in line]
    assert health and sum(float(line.rsplit(" ", 1)[1]) for line in health) >= 12, health
    assert "http_request_duration_seconds_bucket{" in answer.text
    # A proxied request is refused even on loopback.
    assert httpx.get(stack.web_url + "/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    for port in stack.metrics_ports:
        worker = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert worker.status_code == 200 and "sync_worker_processed_total" in worker.text


def test_teacher_app_registers_its_service_worker_through_the_origin(stack):
    chromium = "/usr/bin/chromium"
    if not os.path.exists(chromium):
        pytest.skip("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=args)
        try:
            page = browser.new_context().new_page()
            page.goto(stack.origin + "/app/")
            scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
            assert scope == stack.origin + "/app/"
        finally:
            browser.close()
