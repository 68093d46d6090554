"""Issue 12 through ``/db/`` of a running service on a real server: each caller may do
exactly what a replicating PouchDB needs in its own database (``server.dbproxy.policy``),
password guesses are throttled like ``/login``, answers are inert, and a hung CouchDB
gives timeouts (504 from ``/db/``, 503 from health within about two seconds)."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import httpx
import pytest

from devstack.couchdb3 import CouchDBNode, launcher
from server.dbproxy import upstream_read_timeout
from server.dbproxy.policy import Caller, DbRefused, classify
from sync.couch import split_credentials
from sync.embedded import EmbeddedCouch, free_port
from sync.provision import (
    inspections_db_name,
    provision_core,
    provision_inspections,
    provision_school,
    school_db_name,
)

PW = "db-access-pw"


@pytest.fixture(scope="module")
def area(couch):
    """Two schools, a device of the first, an inspector of a county (once: accounts cost
    0.24 s each on CouchDB 3.4)."""
    run_id = uuid.uuid4().hex[:10]
    own, other, county = f"da{run_id}", f"db{run_id}", f"dc{run_id}"
    provision_core(couch)  # ops holds the sign-in limiter's counts
    for school in (own, other):
        provision_school(couch, school)
    provision_inspections(couch, county)
    device, inspector = f"device_da{run_id}", f"inspector_{run_id}"
    couch.put_user(device, password=PW, roles=[f"school:{own}", "device"])
    couch.put_user(inspector, password=PW, roles=[f"inspector:{county}"])
    yield SimpleNamespace(own=own, other=other, db=school_db_name(own), other_db=school_db_name(other),
                          county=county, device=device, inspector=inspector)
    for name in (device, inspector):
        couch.delete_user(name)
    for db in (school_db_name(own), school_db_name(other), inspections_db_name(county)):
        couch.db(db).delete_database()


@pytest.fixture
def guessed_device(couch, area, run_id):
    """A device account of its own for the password-guessing tests (they lock it out)."""
    name = f"device_guess{run_id}"
    couch.put_user(name, password=PW, roles=[f"school:{area.own}", "device"])
    yield name
    couch.delete_user(name)


@pytest.fixture
def admin_auth(couch_url) -> tuple[str, str]:
    _, name, password = split_credentials(couch_url)
    return name or "", password or ""


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def unique_address() -> str:
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2] or 1}"


def test_anonymous_cannot_create_an_account_through_users(live_server, couch, run_id):
    name = f"intruder_{run_id}"
    doc = {"_id": f"org.couchdb.user:{name}", "name": name, "type": "user", "roles": [], "password": "x"}
    answer = httpx.put(f"{live_server}/db/_users/org.couchdb.user:{name}", json=doc, timeout=10)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "unauthorized" and "_users" in answer.json()["reason"]
    assert couch.db("_users").get_or_none(f"org.couchdb.user:{name}") is None


def test_a_device_cannot_give_itself_roles(live_server, couch, area):
    users = couch.db("_users")
    doc_id = f"org.couchdb.user:{area.device}"
    forged = {**users.get(doc_id), "roles": ["admin", f"school:{area.other}", "province"]}
    url = f"/db/_users/{quote(doc_id, safe='')}"
    with httpx.Client(base_url=live_server, timeout=10) as http:
        by_basic = http.put(url, json=forged, auth=(area.device, PW))
        assert by_basic.status_code == 403, by_basic.text
        assert by_basic.json()["error"] == "forbidden"
        signed_in = http.post("/db/_session", json={"name": area.device, "password": PW})
        assert signed_in.status_code == 200, signed_in.text
        assert http.put(url, json=forged).status_code == 403  # with its AuthSession cookie
        assert http.get(url).status_code == 403
        assert http.get(f"/db/{area.db}").status_code == 200  # the cookie still opens its own database
        assert http.get(f"/db/{area.other_db}").status_code == 403
    assert users.get(doc_id)["roles"] == [f"school:{area.own}", "device"]


REFUSED = [  # (method, path with {db}, {other_db}, {new_db}, body)
    ("GET", "/_all_dbs", None),
    ("GET", "/%5Fall_dbs", None),
    ("POST", "/_replicate", {"source": "{other_db}", "target": "{db}"}),
    ("PUT", "/_replicator/r{new_db}", {"source": "{other_db}", "target": "{db}"}),
    ("GET", "/_config", None),
    ("GET", "/_node/_local/_config", None),
    ("GET", "/_users/_all_docs", None),
    ("GET", "/_utils/", None),
    ("GET", "/{other_db}", None),
    ("GET", "/{other_db}/config%3Adevice", None),
    ("PUT", "/{new_db}", None),
    ("DELETE", "/{db}", None),
    ("DELETE", "/{other_db}", None),
    ("GET", "/{db}/_security", None),
    ("PUT", "/{db}/_security", {"members": {"names": [], "roles": []}}),
    ("POST", "/{db}/_purge", {"x": ["1-a"]}),
    ("POST", "/{db}/_compact", {}),
    ("POST", "/{db}/_find", {"selector": {}}),
    ("GET", "/{db}/_changes?filter=_selector", None),
    ("PUT", "/{db}/_design/school", {"views": {}}),
    ("GET", "/{db}/_design/school/_rewrite/x", None),
]


@pytest.mark.parametrize(("method", "path", "body"), REFUSED, ids=[f"{m} {p}" for m, p, _ in REFUSED])
@pytest.mark.parametrize("who", ["anonymous", "anonymous_with_a_cookie", "device", "admin"])
def test_refused_for_everyone(live_server, couch, area, admin_auth, run_id, who, method, path, body):
    names = {"db": area.db, "other_db": area.other_db, "new_db": f"created_{run_id}"}
    url = live_server + "/db" + path.format(**names)
    content = json.dumps(body).replace("{other_db}", area.other_db).replace("{db}", area.db).encode() \
        if body is not None else None
    headers = {"Content-Type": "application/json"}
    if who == "anonymous_with_a_cookie":  # pouchdb-server 4.2.0 died on PUT /<db> with any cookie
        headers["Cookie"] = "AuthSession=YWRtaW46NjAwMDAwMDA6"
    auth = {"device": (area.device, PW), "admin": admin_auth}.get(who)
    answer = httpx.request(method, url, content=content, headers=headers, auth=auth, timeout=10)
    expected = 401 if who.startswith("anonymous") else 403
    assert answer.status_code == expected, answer.text
    assert set(answer.json()) == {"error", "reason"} and answer.json()["reason"]
    assert not couch.db(names["new_db"]).exists()
    assert couch.db(area.db).exists() and couch.db(area.other_db).exists()
    assert couch.info()  # the server still answers


@pytest.mark.parametrize("path", ["/{db}/../_users", "/{db}//_security", "/{db}/./_security", "/{db}/%2E%2E"])
def test_dot_and_empty_segments_are_refused(area, path):
    """CouchDB drops empty segments; proxies may resolve dots: neither may change the target."""
    caller = Caller(name=area.device, roles=(f"school:{area.own}",))
    with pytest.raises(DbRefused) as refused:
        classify(caller, "GET", path.format(db=area.db))
    assert refused.value.status == 400


def test_an_empty_segment_never_reaches_couchdb(live_server, area):
    for path in ("//_all_dbs", f"/{area.db}//_security"):
        answer = httpx.get(f"{live_server}/db{path}", auth=(area.device, PW), follow_redirects=False, timeout=10)
        assert answer.status_code in (400, 404), answer.text  # 404: no route matches a leading "//"


def test_a_device_can_do_what_a_replicating_pouchdb_needs(live_server, couch, area):
    doc = {"_id": "config:probe", "type": "config"}
    with httpx.Client(base_url=f"{live_server}/db", auth=(area.device, PW), timeout=10,
                      headers={"Accept": "application/json"}) as http:
        assert http.get("/").status_code == 200
        assert http.get(f"/{area.db}/").json()["db_name"] == area.db
        assert http.head(f"/{area.db}").status_code == 200
        revs = http.post(f"/{area.db}/_revs_diff", json={"config:probe": ["1-abc"]})
        assert revs.status_code == 200, revs.text
        checkpoint = http.put(f"/{area.db}/_local/abc", json={"last_seq": "1"})
        assert checkpoint.status_code == 201, checkpoint.text
        assert http.get(f"/{area.db}/_local%2Fabc").json()["last_seq"] == "1"
        assert http.get(f"/{area.db}/_changes", params={"since": 0, "limit": 5}).status_code == 200
        posted = http.post(f"/{area.db}/_changes", params={"filter": "_doc_ids"}, json={"doc_ids": ["config:device"]})
        assert posted.status_code == 200 and [r["id"] for r in posted.json()["results"]] == ["config:device"]
        assert http.post(f"/{area.db}/_all_docs", json={"keys": ["config:device"]}).status_code == 200
        assert http.post(f"/{area.db}/_bulk_get", json={"docs": [{"id": "config:device"}]}).status_code == 200
        assert http.get(f"/{area.db}/_design/school").status_code == 200
        window = http.get(f"/{area.db}/_design/school/_view/window", params={"limit": 1})
        assert window.status_code == 200, window.text
        assert http.get(f"/{area.db}/config%3Adevice").status_code == 200
        # Writes reach CouchDB, whose validate_doc_update decides (a bare config doc is refused).
        assert http.post(f"/{area.db}/_bulk_docs", json={"docs": [doc]}).status_code in (201, 403), "refused early"
        assert http.get("/_session").json()["userCtx"]["name"] == area.device


def test_an_inspector_reaches_its_inspections_database_only(live_server, area):
    with httpx.Client(base_url=f"{live_server}/db", auth=(area.inspector, PW), timeout=10) as http:
        assert http.get(f"/{inspections_db_name(area.county)}").status_code == 200
        assert http.get(f"/{area.db}").status_code == 403
        assert http.get(f"/{inspections_db_name(area.county + 'x')}").status_code == 403


def test_password_guessing_through_session_is_throttled(client, guessed_device):
    address = {"REMOTE_ADDR": unique_address()}
    codes = [client.post("/db/_session", json={"name": guessed_device, "password": f"wrong{i}"},
                         environ_base=address).status_code for i in range(30)]
    assert codes[0] == 401 and codes[-1] == 429, codes
    refused = client.post("/db/_session", json={"name": guessed_device, "password": PW}, environ_base=address)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "too_many_requests" and "AuthSession" not in refused.headers.get(
        "Set-Cookie", "")


def test_password_guessing_with_basic_on_db_is_throttled(client, area, guessed_device):
    address = {"REMOTE_ADDR": unique_address()}
    codes = [client.get(f"/db/{area.db}", headers=basic(guessed_device, f"wrong{i}"),
                        environ_base=address).status_code for i in range(30)]
    assert codes[0] == 401 and codes[-1] == 429, codes
    right = client.get(f"/db/{area.db}", headers=basic(guessed_device, PW), environ_base=address)
    assert right.status_code == 429 and set(right.get_json()) == {"error", "reason"}


def test_a_sign_in_without_credentials_is_a_bad_request(client):
    answer = client.post("/db/_session", data="name=&password=", content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400 and answer.get_json()["error"] == "bad_request"


def test_answers_are_inert_and_attachments_download(live_server, couch, area):
    html = b"<html><script>alert(document.cookie)</script></html>"
    db = couch.db(area.db)
    # Stored by the service account, whatever validate_doc_update says about devices.
    couch.request("PUT", f"/{area.db}/config%3Aevil", json_body={
        "type": "config", "_attachments": {"evil.html": {"content_type": "text/html",
                                                         "data": base64.b64encode(html).decode()}}})
    try:
        with httpx.Client(base_url=f"{live_server}/db/{area.db}", auth=(area.device, PW), timeout=10) as http:
            attachment = http.get("/config%3Aevil/evil.html")
            assert attachment.status_code == 200 and attachment.content == html
            assert attachment.headers["content-disposition"] == "attachment"
            assert attachment.headers["x-content-type-options"] == "nosniff"
            assert attachment.headers["content-security-policy"] == "sandbox"
            document = http.get("/config%3Aevil", headers={"Accept": "application/json"})
            assert document.headers["content-security-policy"] == "sandbox"
            assert document.headers["x-content-type-options"] == "nosniff"
            assert "content-disposition" not in document.headers  # JSON: PouchDB reads it as before
            refused = http.get("/_security")
            assert refused.headers["content-security-policy"] == "sandbox"
    finally:
        doc = db.get("config:evil")
        db.delete(doc["_id"], doc["_rev"])


@pytest.mark.parametrize(("query", "expected"), [
    ("", 60.0),
    ("since=0&limit=5", 60.0),
    ("feed=normal&heartbeat=10000", 60.0),
    ("feed=longpoll&heartbeat=10000", 25.0),
    ("feed=continuous&heartbeat=10000&timeout=60000", 25.0),
    ("feed=longpoll&timeout=30000", 45.0),
    ("feed=continuous&heartbeat=true", 75.0),
    ("feed=eventsource", 3615.0),
    ("feed=continuous&heartbeat=abc", 3615.0),
    ("feed=continuous&heartbeat=99999999999", 3615.0),
])
def test_upstream_read_timeout_suits_feeds(query, expected):
    assert upstream_read_timeout(query) == expected


# -- a hung CouchDB -------------------------------------------------------------------------


@contextmanager
def pausable_server(tmp_path: Path):
    """A server of this test's own, with the process id to pause: a fresh pouchdb-server, or
    with ``COUCHDB_URL`` (Apache CouchDB) a fresh CouchDB node."""
    if not os.environ.get("COUCHDB_URL"):
        with EmbeddedCouch(tmp_path / "couch") as server:
            assert server.pid
            yield server.url, server.pid
        return
    if launcher() is None:
        pytest.skip("no CouchDB launcher for a node of this test's own")
    with CouchDBNode(tmp_path / "node", free_port()) as node:
        yield node.url, int((tmp_path / "node" / "couchdb.pid").read_text().strip())


@contextmanager
def paused(pid: int):
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.fixture
def hung_app(tmp_path):
    from server import create_app
    from server.config import Settings

    with pausable_server(tmp_path) as (url, pid):
        app = create_app({"SETTINGS": Settings(couchdb_url=url, secret_key="t", var_dir=tmp_path / "var"),
                          "TESTING": True})
        try:
            yield app, pid
        finally:
            app.extensions["couch"].close()


def test_health_answers_503_within_two_seconds_when_couchdb_hangs(hung_app):
    app, pid = hung_app
    client = app.test_client()
    assert client.get("/api/v1/health").get_json()["couchdb"]["ok"] is True
    with paused(pid):
        started = time.monotonic()
        answer = client.get("/api/v1/health")
        elapsed = time.monotonic() - started
    assert answer.status_code == 503, answer.get_json()
    assert elapsed < 2.5, elapsed
    assert "did not answer" in answer.get_json()["reason"]
    assert client.get("/api/v1/health").get_json()["couchdb"]["ok"] is True  # and back once it resumes


def test_db_answers_504_when_couchdb_hangs(hung_app, monkeypatch):
    import server.dbproxy

    app, pid = hung_app
    monkeypatch.setattr(server.dbproxy, "READ_TIMEOUT_S", 1.0)  # 60 s in service
    client = app.test_client()
    assert client.get("/db/_session").status_code == 200
    with paused(pid):
        started = time.monotonic()
        answer = client.get("/db/_session")
        elapsed = time.monotonic() - started
    assert answer.status_code == 504 and answer.get_json()["error"] == "timeout"
    assert elapsed < 3, elapsed


def test_a_huge_sign_in_body_is_refused(client):
    answer = client.post("/db/_session", data=b'{"name":"' + b"x" * 200_000 + b'"}', content_type="application/json")
    assert answer.status_code == 413 and answer.get_json()["error"] == "too_large"
