"""Issue 12, items 5-8 and 11: the sign-in limit, the target after sign-in, CSRF on
cookie-authenticated changes, and who may enrol devices.

Every test talks to the session's real server (embedded, or ``COUCHDB_URL``). On CouchDB 3.4
its own lockout (five failures per client address and name) answers some wrong attempts
before ours does; the service forwards the client's address to it, so both agree on "pair".
"""

from __future__ import annotations

import base64
import io
import uuid
from urllib.parse import urlsplit

import pytest

from server import create_app
from server.auth.limits import SignInLimiter, SignInLimits
from server.config import Settings
from sync.provision import provision_core
from tests.webapp.conftest import TEACHER_PASSWORD, school  # noqa: F401 - the fixture

PASSWORD = "hardening-pw-1"
SAME_ORIGIN = "http://localhost"  # the Flask test client's host


@pytest.fixture(scope="module")
def core(couch):
    provision_core(couch)


def _app(couch_url, tmp_path_factory, **settings):
    base = Settings(couchdb_url=couch_url, secret_key="test-secret", var_dir=tmp_path_factory.mktemp("var"),
                    **settings)
    return create_app({"SETTINGS": base, "TESTING": True})


@pytest.fixture(scope="module")
def proxied_app(couch_url, tmp_path_factory, core):
    """The service as gunicorn runs it behind nginx (TRUSTED_PROXY_COUNT=1)."""
    application = _app(couch_url, tmp_path_factory, trusted_proxy_count=1)
    yield application
    application.extensions["couch"].close()


@pytest.fixture(scope="module")
def second_app(couch_url, tmp_path_factory, core):
    """Another instance on the same CouchDB: what a second gunicorn worker is."""
    application = _app(couch_url, tmp_path_factory)
    yield application
    application.extensions["couch"].close()


@pytest.fixture
def account(couch, run_id, core):
    name = f"hard_{run_id}"
    couch.put_user(name, password=PASSWORD, roles=["province"])
    yield name
    couch.delete_user(name)


@pytest.fixture
def admin(couch, run_id, core):
    name = f"hardadmin_{run_id}"
    couch.put_user(name, password=PASSWORD, roles=["admin"])
    yield name
    couch.delete_user(name)


def fresh_address() -> str:
    """A client address of this test alone (the limit's counts outlive a test run)."""
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2] or 1}"


def page_token(client, path: str = "/login", **kwargs) -> str:
    page = client.get(path, **kwargs)
    return page.data.decode().split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def sign_in(client, name: str, password: str, *, query: str = "", **kwargs):
    """The sign-in form, as a browser posts it (token from the page, same origin)."""
    token = page_token(client, **kwargs)
    return client.post("/login" + query, data={"name": name, "password": password, "csrf_token": token}, **kwargs)


def basic(name: str, password: str = PASSWORD) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


# -- item 5: the sign-in limit -------------------------------------------------------------

def test_wrong_passwords_from_one_address_do_not_lock_the_account_out_elsewhere(proxied_app, account):
    attacker, officer = fresh_address(), fresh_address()
    client = proxied_app.test_client()
    via_nginx = {"environ_base": {"REMOTE_ADDR": "127.0.0.1"}}
    codes = [sign_in(client, account, "wrong", headers={"X-Forwarded-For": attacker}, **via_nginx).status_code
             for _ in range(11)]
    assert codes[0] == 401 and codes[-1] == 429, codes
    assert sign_in(client, account, PASSWORD, headers={"X-Forwarded-For": attacker}, **via_nginx).status_code == 429
    # the same account from another address: the right password signs in
    other = proxied_app.test_client()
    answer = sign_in(other, account, PASSWORD, headers={"X-Forwarded-For": f"{attacker}, {officer}"}, **via_nginx)
    assert answer.status_code == 302, answer.data[:300]
    # and HTTP Basic from there too
    assert other.get("/api/v1/summaries/province", headers={**basic(account), "X-Forwarded-For": officer},
                     **via_nginx).status_code == 200


def test_a_forged_forwarded_for_is_ignored_without_a_trusted_proxy(app, account):
    client = app.test_client()
    peer = {"environ_base": {"REMOTE_ADDR": fresh_address()}}
    codes = [sign_in(client, account, "wrong", headers={"X-Forwarded-For": fresh_address()}, **peer).status_code
             for _ in range(10)]
    assert codes[0] == 401, codes
    answer = sign_in(client, account, PASSWORD, headers={"X-Forwarded-For": fresh_address()}, **peer)
    assert answer.status_code == 429


def test_the_limit_holds_across_workers(app, second_app, account):
    """Two apps on one CouchDB are two gunicorn workers: failures on one count on the other."""
    peer = {"environ_base": {"REMOTE_ADDR": fresh_address()}}
    first, second = app.test_client(), second_app.test_client()
    codes = []
    for attempt in range(10):
        client = first if attempt % 2 else second
        codes.append(client.get("/api/v1/summaries/province", headers=basic(account, "wrong"), **peer).status_code)
    assert codes[0] == 401, codes
    for instance in (app, second_app):
        with instance.app_context():
            assert instance.extensions["signin_limiter"].refusal(account, peer["environ_base"]["REMOTE_ADDR"])
    for client in (first, second):
        assert client.get("/api/v1/summaries/province", headers=basic(account), **peer).status_code == 429
    # the account itself is not locked: the right password from elsewhere works on both
    for client in (first, second):
        assert client.get("/api/v1/summaries/province", headers=basic(account),
                          environ_base={"REMOTE_ADDR": fresh_address()}).status_code == 200


def test_noisy_addresses_and_accounts_under_attack(couch, core):
    """The limiter's rules on the real ``ops`` database, with small limits."""
    limits = SignInLimits(per_pair=3, per_address=5, account_alert=4, per_pair_under_attack=1)
    limiter = SignInLimiter(couch.db("ops"), limits)
    run = uuid.uuid4().hex[:8]
    sprayer = fresh_address()
    for index in range(5):  # one failure each on five accounts: the address is refused for all
        assert limiter.refusal(f"spray{index}_{run}", sprayer) is None
        limiter.record_failure(f"spray{index}_{run}", sprayer)
    assert "address" in (limiter.refusal(f"anyone_{run}", sprayer) or "")
    assert limiter.refusal(f"anyone_{run}", fresh_address()) is None

    target = f"target_{run}"
    attackers = [fresh_address() for _ in range(4)]
    for address in attackers:  # one failure from each of four addresses: the account is under attack
        limiter.record_failure(target, address)
    assert all(limiter.refusal(target, address) for address in attackers)  # who failed on it waits
    assert limiter.refusal(target, fresh_address()) is None  # a clean address still signs in


def test_expired_failures_no_longer_count(couch, core):
    limiter = SignInLimiter(couch.db("ops"), SignInLimits(window_s=0.5, per_pair=1))
    name, address = f"exp_{uuid.uuid4().hex[:8]}", fresh_address()
    limiter.record_failure(name, address)
    assert limiter.refusal(name, address)
    import time

    time.sleep(0.6)
    assert limiter.refusal(name, address) is None
    limiter.record_failure(name, address)  # also deletes the expired one
    prefix = SignInLimiter._prefix("pair", f"{name}\0{address}")
    rows = couch.db("ops").all_docs(startkey=prefix, endkey=prefix + "\ufff0")["rows"]
    assert len(rows) == 1


# -- items 6 and 11: where the sign-in form sends the browser -----------------------------

@pytest.mark.parametrize("query", [
    "next=%2F%09%2Fevil.example",          # the finding: "/\t/evil.example" became "//evil.example"
    "next=//evil.example",
    "next=/%5Cevil.example",                # "/\evil.example": browsers read "\" as "/"
    "next=%5C%5Cevil.example",
    "next=https://evil.example/",
    "next=https:evil.example",
    "next=/%0D%0ASet-Cookie:%20x=1",        # CR/LF (item 11)
    "next=/ok%0Aevil",
    "next=%2F%0D%2F%2Fevil.example",
    "next=/%E2%80%AE/evil",                 # a format (control) character
    "next=%20/evil",
    "next=javascript:alert(1)",
    "next=/%00",
    "next=/%ff%fe",                         # not UTF-8: stays a path of this site
])
def test_sign_in_never_redirects_off_site(app, account, query):
    client = app.test_client()
    answer = sign_in(client, account, PASSWORD, query="?" + query)
    assert answer.status_code in (302, 303), answer.data[:300]
    location = answer.headers["Location"]
    parts = urlsplit(location)
    assert parts.netloc in ("", "localhost") and parts.path.startswith("/") and not parts.path.startswith("//")
    assert "\\" not in location and "\r" not in location and "\n" not in location
    assert "evil" not in location


def test_sign_in_follows_a_same_site_path(app, account):
    answer = sign_in(app.test_client(), account, PASSWORD, query="?next=/province%3Ffrom%3D2020-01-01")
    assert answer.status_code == 302 and answer.headers["Location"] == "/province?from=2020-01-01"


# -- item 7: CSRF on changes authenticated by the session cookie --------------------------

def _signed_in(app, name):
    client = app.test_client()
    assert sign_in(client, name, PASSWORD).status_code == 302
    return client


def _create_user(client, name, **kwargs):
    return client.post("/api/v1/admin/users", json={"name": name, "kind": "province_officer",
                                                    "password": "created-pw-1"}, **kwargs)


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {},                                                         # neither Origin nor Referer, no token
    {"Referer": "http://evil.example/form"},
    {"Origin": "http://localhost:8080"},                       # another port is another origin
    {"Origin": "https://localhost"},                            # and another scheme
    {"Origin": "http://evil.example", "X-CSRF-Token": "guess"},
])
def test_a_cross_site_change_with_the_cookie_is_refused(app, admin, couch, headers):
    client = _signed_in(app, admin)
    name = f"csrf_{uuid.uuid4().hex[:8]}"
    answer = _create_user(client, name, headers=headers)
    assert answer.status_code == 403
    body = answer.get_json()
    assert body["code"] == 403 and body["status"] == "Forbidden" and "cross-site" in body["message"]
    assert couch.db("_users").get_or_none(f"org.couchdb.user:{name}") is None


def test_the_registry_import_with_the_cookie_and_an_evil_origin_is_refused(app, admin):
    """The finding: the admin's cookie, no token, ``Origin: http://evil.example``."""
    client = _signed_in(app, admin)
    answer = client.post("/api/v1/admin/registry/import", headers={"Origin": "http://evil.example"},
                         data={"file": (io.BytesIO(b"id,name\nevil,Evil\n"), "prefectures.csv")},
                         content_type="multipart/form-data")
    assert answer.status_code == 403 and answer.get_json()["code"] == 403


@pytest.mark.parametrize("proof", ["origin", "referer", "header_token", "form_token"])
def test_a_same_site_change_with_the_cookie_goes_through(app, admin, couch, proof):
    client = _signed_in(app, admin)
    name = f"csrf_{uuid.uuid4().hex[:8]}"
    token = page_token(client, "/admin/users")
    try:
        if proof == "form_token":  # an admin page's form: the token, no Origin (an old browser)
            answer = client.post("/admin/users", data={"csrf_token": token, "name": name,
                                                       "kind": "province_officer", "password": "created-pw-1"})
            assert answer.status_code in (200, 302, 303), answer.data[:300]
        else:
            headers = {"origin": {"Origin": SAME_ORIGIN}, "referer": {"Referer": SAME_ORIGIN + "/admin/users"},
                       "header_token": {"X-CSRF-Token": token}}[proof]
            answer = _create_user(client, name, headers=headers)
            assert answer.status_code == 201, answer.data[:300]
        assert couch.db("_users").get_or_none(f"org.couchdb.user:{name}") is not None
    finally:
        couch.delete_user(name)


def test_basic_authentication_needs_no_csrf_proof(app, admin, couch):
    name = f"csrf_{uuid.uuid4().hex[:8]}"
    try:
        answer = _create_user(app.test_client(), name, headers={**basic(admin), "Origin": "http://evil.example"})
        assert answer.status_code == 201
    finally:
        couch.delete_user(name)


def test_behind_nginx_the_origin_is_the_one_the_browser_used(proxied_app, admin, couch):
    client = proxied_app.test_client()
    forwarded = {"X-Forwarded-For": fresh_address(), "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "reports.example.org"}
    assert sign_in(client, admin, PASSWORD, headers=forwarded).status_code == 302
    name = f"csrf_{uuid.uuid4().hex[:8]}"
    try:
        evil = _create_user(client, name, headers={**forwarded, "Origin": "http://reports.example.org"})
        assert evil.status_code == 403  # http is not the https origin the browser is on
        answer = _create_user(client, name, headers={**forwarded, "Origin": "https://reports.example.org"})
        assert answer.status_code == 201, answer.data[:300]
    finally:
        couch.delete_user(name)


# -- item 8: only people enrol devices -----------------------------------------------------

def test_a_device_cannot_enrol_a_device(client, school, couch):  # noqa: F811 - the fixture
    first = client.post("/api/v1/devices/enrol",
                        json={"username": school.teacher, "password": TEACHER_PASSWORD, "label": "tablet"})
    assert first.status_code == 201, first.data[:300]
    device = first.get_json()
    second = client.post("/api/v1/devices/enrol", json={"username": device["device"], "password": device["password"],
                                                         "label": "a device's own device"})
    assert second.status_code == 403 and second.get_json()["code"] == 403
    rows = couch.db("registry").all_docs(startkey="device:", endkey="device:\ufff0", include_docs=True)["rows"]
    assert not [row for row in rows if row["doc"].get("enrolled_by") == device["device"]]
    ours = [row["doc"] for row in rows if row["doc"].get("school_id") == school.id]
    assert [doc["_id"] for doc in ours] == [f"device:{device['device']}"]
