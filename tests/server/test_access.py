"""Who may call what: every registered route has an access rule, and the rule holds per role.

The table below is the contract. A new endpoint that is neither public nor listed here
fails ``test_every_route_declares_its_access`` until someone decides who may call it.
"""

from __future__ import annotations

import base64

import pytest

from sync.provision import provision_core

PASSWORD = "matrix-pw"
# role -> CouchDB roles of its test account ({c} = the county under test, {p} its prefecture)
ROLES = {
    "teacher": ["school:{c}s1"],
    "county_officer": ["county:{c}"],
    "other_county_officer": ["county:{c}x"],
    "prefecture_officer": ["prefecture:{p}"],
    "province_officer": ["province"],
    "admin": ["admin"],
}
ALL_OFFICERS_OF_C = {"county_officer", "prefecture_officer", "province_officer", "admin"}

# endpoint -> (path template, roles allowed); every other signed-in role gets 403.
SCOPED = {
    "summaries.county_summary": ("/api/v1/summaries/county/{c}", ALL_OFFICERS_OF_C),
    "pages.county_page": ("/counties/{c}", ALL_OFFICERS_OF_C),
    "pages.index": ("/", set(ROLES)),  # everyone signed in; teachers are sent on to the app
    "summaries.county_schools": ("/api/v1/summaries/county/{c}/schools", ALL_OFFICERS_OF_C),
    "summaries.school_summary": ("/api/v1/summaries/school/{c}s1", ALL_OFFICERS_OF_C),
    "summaries.prefecture_summary": ("/api/v1/summaries/prefecture/{p}", {"prefecture_officer", "province_officer",
                                                                           "admin"}),
    "summaries.province_summary": ("/api/v1/summaries/province", {"province_officer", "admin"}),
    "summaries.county_missing": ("/api/v1/counties/{c}/missing", ALL_OFFICERS_OF_C),
    "alerts.list_alerts": ("/api/v1/alerts?county={c}", ALL_OFFICERS_OF_C),
    "early_warning.list_warnings": ("/api/v1/early-warnings?county={c}", ALL_OFFICERS_OF_C),
    "early_warning.series": ("/api/v1/early-warnings/series?school={c}s1", ALL_OFFICERS_OF_C),
    "alerts.get_ack": ("/api/v1/alerts/{c}s1:2020-01-06:cases/ack", ALL_OFFICERS_OF_C),
    "alerts.ack": ("/api/v1/alerts/{c}s1:2020-01-06:cases/ack", ALL_OFFICERS_OF_C),  # POST; GET checks the same
    "verification.verification_report": ("/api/v1/counties/{c}/verification", ALL_OFFICERS_OF_C),
    "verification.verification_upload": ("/api/v1/counties/{c}/verification", ALL_OFFICERS_OF_C),  # POST, as above
    "verification_pages.verification_page": ("/counties/{c}/verification", ALL_OFFICERS_OF_C),  # POST: the upload
    "pages.province_page": ("/province", {"province_officer", "admin"}),
    "pages.prefecture_page": ("/prefectures/{p}", {"prefecture_officer", "province_officer", "admin"}),
    "pages.school_page": ("/schools/{c}s1", ALL_OFFICERS_OF_C),
    # admin (tests/server/test_admin*.py): every URL answers GET; changes use other methods on the same URL
    "admin.registry_import": ("/api/v1/admin/registry/import", {"admin"}),
    "admin.schools": ("/api/v1/admin/schools", {"admin"}),
    "admin.school": ("/api/v1/admin/schools/{c}s1", {"admin"}),
    "admin.roster": ("/api/v1/admin/schools/{c}s1/roster", {"admin"}),
    "admin.devices": ("/api/v1/admin/schools/{c}s1/devices", {"admin"}),
    "admin.device_revocations": ("/api/v1/admin/schools/{c}s1/devices/revocations", {"admin"}),
    "admin.inspector_devices": ("/api/v1/admin/counties/{c}/devices", {"admin"}),
    "admin.inspector_device_revocations": ("/api/v1/admin/counties/{c}/devices/revocations", {"admin"}),
    "admin.database": ("/api/v1/admin/schools/{c}s1/database", {"admin"}),
    "admin.checkpoint": ("/api/v1/admin/schools/{c}s1/database/checkpoint", {"admin"}),
    "admin.databases": ("/api/v1/admin/databases?county_id={c}", {"admin"}),
    "admin.users": ("/api/v1/admin/users?limit=5", {"admin"}),
    "admin.user": ("/api/v1/admin/users/{names[teacher]}", {"admin"}),
    "admin.sync_health": ("/api/v1/admin/sync-health?county_id={c}", {"admin"}),
    "admin.sync_health_export": ("/api/v1/admin/sync-health.csv?county_id={c}", {"admin"}),
    "admin.replications": ("/api/v1/admin/replications", {"admin"}),
    "admin.audit_log": ("/api/v1/admin/audit?limit=5", {"admin"}),
    "admin.audit_export": ("/api/v1/admin/audit.csv?limit=5", {"admin"}),
    "admin.early_warning_settings": ("/api/v1/admin/early-warning/{c}", {"admin"}),
    "corrections.corrections": ("/api/v1/schools/{c}s1/reports/2020-01-06/corrections", ALL_OFFICERS_OF_C),
    "admin_pages.index": ("/admin/", {"admin"}),
    "admin_pages.schools": ("/admin/schools?county_id={c}", {"admin"}),
    "admin_pages.school": ("/admin/schools/{c}s1", {"admin"}),
    "admin_pages.users": ("/admin/users?q=zz", {"admin"}),
    "admin_pages.user": ("/admin/users/{names[teacher]}", {"admin"}),
    "admin_pages.sync_health": ("/admin/sync-health?county_id={c}", {"admin"}),
    "admin_pages.databases": ("/admin/databases?county_id={c}", {"admin"}),
    "admin_pages.replications": ("/admin/replications", {"admin"}),
    "admin_pages.audit": ("/admin/audit?limit=5", {"admin"}),
    # the review queue and quarantine (tests/server/test_reviews.py)
    "reviews.list_reviews": ("/api/v1/reviews?county={c}", ALL_OFFICERS_OF_C),
    "reviews.get_review": ("/api/v1/reviews/review:{c}", ALL_OFFICERS_OF_C),
    "reviews.decide_review": ("/api/v1/reviews/review:{c}", ALL_OFFICERS_OF_C),  # POST; GET checks the same
    "reviews.list_quarantine": ("/api/v1/quarantine?county={c}", ALL_OFFICERS_OF_C),
    # the review queue and alerts as pages (tests/server/test_reviews_page.py); POSTs check the same scope
    "review_pages.reviews": ("/reviews?county={c}", ALL_OFFICERS_OF_C),
    "review_pages.review": ("/reviews/review:{c}", ALL_OFFICERS_OF_C),
    "alert_pages.alerts": ("/alerts?county={c}", ALL_OFFICERS_OF_C),
    "alert_pages.acknowledge": ("/alerts/{c}s1:2020-01-06:cases/ack", ALL_OFFICERS_OF_C),  # GET goes back to the list
    # requests to schools (tests/server/test_requests.py); POSTs check the same scope
    "requests.list_requests": ("/api/v1/counties/{c}/requests", ALL_OFFICERS_OF_C),
    "requests.send_request": ("/api/v1/counties/{c}/requests", ALL_OFFICERS_OF_C),  # POST; GET checks the same
    "request_pages.send_from_page": ("/counties/{c}/requests", ALL_OFFICERS_OF_C),  # GET goes back to the page
}
PUBLIC_BY_NAME = {"static", "api-docs.openapi_json"}


@pytest.fixture(scope="module")
def area(couch):
    import uuid

    run = uuid.uuid4().hex[:8]
    c, p = f"mc{run}", f"mp{run}"
    provision_core(couch)
    registry = couch.db("registry")
    docs = [{"_id": f"county:{c}", "type": "county", "prefecture_id": p, "name": "Matrix county"},
            {"_id": f"county:{c}x", "type": "county", "prefecture_id": f"{p}x", "name": "Other county"},
            {"_id": f"school:{c}s1", "type": "school", "county_id": c, "prefecture_id": p, "name": "S1",
             "opened": "2020-01-01", "closed": None}]
    registry.bulk_docs(docs)
    review = {"_id": f"review:{c}", "type": "review_item", "status": "open", "county_id": c, "school_id": f"{c}s1",
              "db": f"school_{c}s1", "doc_id": "report:daily_health:2020-01-06", "reason": "hard_conflict",
              "fields": [], "created_at": "2020-01-06T03:00:00.000Z"}
    couch.db("ops").put(review)
    names = {}
    for role, roles in ROLES.items():
        name = f"{role}_{run}"
        couch.put_user(name, password=PASSWORD, roles=[r.format(c=c, p=p) for r in roles])
        names[role] = name
    yield {"c": c, "p": p, "names": names}
    for name in names.values():
        couch.delete_user(name)
    for doc in docs:
        current = registry.get(doc["_id"])
        registry.delete(doc["_id"], current["_rev"])
    couch.db("ops").delete(review["_id"], review["_rev"])


def basic(name: str, password: str = PASSWORD) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def test_every_route_declares_its_access(app):
    undeclared = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        access = getattr(view, "access", None)
        if rule.endpoint in PUBLIC_BY_NAME or access in ("public", "couchdb"):
            continue
        if access != "login" or rule.endpoint not in SCOPED:
            undeclared.append(f"{rule.endpoint} {rule.rule} (access={access})")
    assert not undeclared, "routes without an access rule in tests/server/test_access.py:\n" + "\n".join(undeclared)


@pytest.mark.parametrize("endpoint", sorted(SCOPED))
def test_anonymous_is_refused(client, area, endpoint):
    path = SCOPED[endpoint][0].format(**area)
    answer = client.get(path)
    if path.startswith("/api/"):
        assert answer.status_code == 401
        assert answer.get_json()["code"] == 401
    else:
        assert answer.status_code == 302 and "/login" in answer.headers["Location"]


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("endpoint", sorted(SCOPED))
def test_role_matrix(client, area, endpoint, role):
    path, allowed = SCOPED[endpoint]
    answer = client.get(path.format(**area), headers=basic(area["names"][role]))
    if role in allowed:
        assert answer.status_code in (200, 302), answer.data[:300]
    else:
        assert answer.status_code == 403


def test_wrong_password_is_401_and_repeated_failures_are_rate_limited(client, area):
    name = area["names"]["county_officer"]
    codes = [client.get(f"/api/v1/summaries/county/{area['c']}", headers=basic(name, "wrong"),
                        environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code for _ in range(12)]
    assert codes[0] == 401
    assert codes[-1] == 429


def test_sign_in_page_sets_a_session_and_a_deleted_account_loses_it(client, couch, area):
    name = f"temp_{area['c']}"
    couch.put_user(name, password=PASSWORD, roles=[f"county:{area['c']}"])
    page = client.get("/login")
    token = page.data.decode().split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert client.post("/login", data={"name": name, "password": PASSWORD}).status_code == 403  # no CSRF token
    signed_in = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    assert signed_in.status_code == 302
    assert client.get(f"/api/v1/summaries/county/{area['c']}").status_code == 200
    couch.delete_user(name)
    import time

    time.sleep(5.1)  # the account cache's lifetime
    assert client.get(f"/api/v1/summaries/county/{area['c']}").status_code == 401
