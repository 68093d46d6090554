"""``/db/`` passes devices' requests through to CouchDB unchanged, streaming (what it
refuses: tests/server/test_db_access.py)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from sync.provision import provision_school, school_db_name


@pytest.fixture
def school_with_device(couch, run_id):
    school_id = f"px{run_id}"
    provision_school(couch, school_id)
    device = f"device_px{run_id}"
    couch.put_user(device, password="pw", roles=[f"school:{school_id}", "device"])
    yield school_id, device
    couch.delete_user(device)
    couch.db(school_db_name(school_id)).delete_database()


def test_device_reads_its_database_through_the_proxy_with_its_own_credentials(live_server, school_with_device):
    school_id, device = school_with_device
    db_url = f"{live_server}/db/{school_db_name(school_id)}"
    with httpx.Client(headers={"Accept": "application/json"}) as http:
        assert http.get(f"{db_url}/config:device").status_code == 401  # no credentials: no data
        answer = http.get(f"{db_url}/config%3Adevice", auth=(device, "pw"))
        assert answer.status_code == 200 and answer.json()["school_id"] == school_id
        assert "www-authenticate" not in {k.lower() for k in http.get(db_url).headers}


def test_continuous_changes_stream_through_the_proxy(live_server, couch, school_with_device):
    school_id, device = school_with_device
    db_url = f"{live_server}/db/{school_db_name(school_id)}"
    arrived: list[tuple[float, dict]] = []
    opened = threading.Event()

    def follow():
        with httpx.stream("GET", f"{db_url}/_changes", params={"feed": "continuous", "since": "now",
                                                               "heartbeat": "1000"},
                          auth=(device, "pw"), timeout=10) as response:
            opened.set()  # the sign-in check (PBKDF2 on CouchDB 3.4) may take a moment first
            for line in response.iter_lines():
                if line.strip():
                    arrived.append((time.monotonic(), json.loads(line)))
                    return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    assert opened.wait(10)
    time.sleep(0.5)  # let CouchDB start the feed behind the headers
    written_at = time.monotonic()
    couch.db(school_db_name(school_id)).put({"_id": "ping", "type": "config"})
    follower.join(timeout=10)
    assert arrived, "no change arrived through the proxy"
    assert arrived[0][1]["id"] == "ping"
    assert arrived[0][0] - written_at < 1.0  # streamed, not buffered


def test_session_cookie_flow_works_same_origin(live_server, school_with_device):
    school_id, device = school_with_device
    with httpx.Client(base_url=live_server, headers={"Accept": "application/json"}) as http:
        login = http.post("/db/_session", json={"name": device, "password": "pw"})
        assert login.status_code == 200
        assert "AuthSession" in login.headers.get("set-cookie", "")
        assert http.get(f"/db/{school_db_name(school_id)}/config:device").status_code == 200


def test_bodiless_answers_do_not_leak_upstream_connections(live_server, school_with_device):
    """HEAD and 304 answers are never read; each must still give its pooled connection back."""
    school_id, device = school_with_device
    url = f"{live_server}/db/{school_db_name(school_id)}/config:device"
    with httpx.Client(auth=(device, "pw"), timeout=5) as http:
        etag = http.get(url).headers["etag"]
        for _ in range(60):  # far more than the pool's 20 connections
            assert http.head(url).status_code == 200
            assert http.get(url, headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("credentials", ["none", "cookie", "device"])
def test_database_creation_is_refused_before_it_reaches_couchdb(live_server, couch, run_id, school_with_device,
                                                               credentials):
    """pouchdb-server 4.2.0 died on ``PUT /<db>`` with any Cookie or Authorization header."""
    school_id, device = school_with_device
    headers = {"Cookie": "AuthSession=YWRtaW46NjAwMDAwMDA6"} if credentials == "cookie" else {}
    auth = (device, "pw") if credentials == "device" else None
    for name in (f"anon_{run_id}", school_db_name(school_id)):
        for method in ("PUT", "DELETE"):
            answer = httpx.request(method, f"{live_server}/db/{name}", headers=headers, auth=auth, timeout=5)
            assert answer.status_code == (403 if auth else 401), answer.text
            assert set(answer.json()) == {"error", "reason"}
    assert not couch.db(f"anon_{run_id}").exists()
    assert couch.db(school_db_name(school_id)).exists()
    assert couch.info()  # and the server is still up


def test_forged_proxy_authentication_headers_do_not_sign_anyone_in(live_server, school_with_device):
    school_id, _ = school_with_device
    forged = {"X-Auth-CouchDB-UserName": "admin", "X-Auth-CouchDB-Roles": f"_admin,school:{school_id}"}
    answer = httpx.get(f"{live_server}/db/{school_db_name(school_id)}/config%3Adevice", headers=forged, timeout=5)
    assert answer.status_code == 401
