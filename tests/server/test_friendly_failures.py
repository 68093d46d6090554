"""Friendly failures (issue 13, item 6) without a browser: which clients get an error page and
which keep the API's JSON error shape, the admin confirmation step, bilingual import problems,
the audit log's Chinese, and the verification upload's results page.

The browser side (Chromium) is in tests/server/test_admin_browser.py.
"""

from __future__ import annotations

import base64
import io
import uuid

import pytest

from tests.areas import one_school_county

PASSWORD = "friendly-pw"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
ERROR_SHAPE = {"code", "status", "message"}  # and "errors" when there are any (README: one error shape)


def basic(name: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()}


@pytest.fixture(scope="module")
def area(couch):
    with one_school_county(couch, "ff", password=PASSWORD,
                           roles={"teacher": "school", "officer": "county", "admin": "admin"}) as area:
        yield area


def signed_in(client, name: str) -> str:
    """Give the test client a session as ``name``; returns its CSRF token."""
    with client.session_transaction() as session:
        session["user"] = name
        session["csrf"] = token = f"tok-{uuid.uuid4().hex}"
    return token


# -- error pages for people, the JSON shape for the API ----------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/summaries/county/{c}", "/api/v1/counties/{c}/verification"])
@pytest.mark.parametrize("accept", [None, BROWSER["Accept"], "application/json"])
def test_api_paths_answer_json_errors_in_the_documented_shape_whatever_the_client_accepts(client, area, path,
                                                                                            accept):
    headers = {**basic(area["teacher"]), **({"Accept": accept} if accept else {})}
    answer = client.get(path.format(**area), headers=headers)
    assert answer.status_code == 403 and answer.mimetype == "application/json"
    body = answer.get_json()
    assert set(body) == ERROR_SHAPE and body["code"] == 403 and body["status"] == "Forbidden"

    missing = client.get("/api/v1/no-such-thing", headers=headers)
    assert missing.status_code == 404 and set(missing.get_json()) == ERROR_SHAPE


def test_api_validation_errors_keep_errors_in_the_shape(client, area):
    answer = client.get(f"/api/v1/summaries/county/{area['c']}", query_string={"from": "not-a-date"},
                        headers={**basic(area["officer"]), **BROWSER})
    assert answer.status_code == 422 and set(answer.get_json()) == ERROR_SHAPE | {"errors"}


def test_a_client_asking_for_json_on_a_page_path_keeps_the_json_shape(client, area):
    for accept in (None, "application/json", "*/*"):
        answer = client.get(f"/counties/{area['c']}", headers={**basic(area["teacher"]),
                                                               **({"Accept": accept} if accept else {})})
        assert answer.status_code == 403 and set(answer.get_json()) == ERROR_SHAPE


def test_a_browser_gets_a_403_page_in_chinese_with_a_way_back(client, area):
    answer = client.get(f"/counties/{area['c']}", headers={**basic(area["teacher"]), **BROWSER})
    assert answer.status_code == 403 and answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    assert "没有权限查看此页面" in page and 'href="/app/"' in page and '{"code"' not in page
    english = client.get(f"/counties/{area['c']}?lang=en", headers={**basic(area["teacher"]), **BROWSER})
    assert "You may not open this page" in english.get_data(as_text=True)


@pytest.mark.parametrize(("path", "method", "code", "words"), [
    ("/no-such-page", "get", 404, "找不到该页面"),
    ("/counties/{c}", "delete", 405, "不能这样打开此页面"),
])
def test_other_errors_get_pages_too(client, area, path, method, code, words):
    answer = getattr(client, method)(path.format(**area), headers={**basic(area["officer"]), **BROWSER})
    assert answer.status_code == code and answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    assert words in page and f'data-code="{code}"' in page
    if code == 405:
        assert "GET" in answer.headers["Allow"]


def test_an_anonymous_browser_is_offered_the_sign_in_page(client):
    answer = client.get("/no-such-page", headers=BROWSER)
    assert answer.status_code == 404 and 'id="sign-in" href="/login"' in answer.get_data(as_text=True)


def test_an_unexpected_failure_is_a_500_page_for_people_and_json_for_the_api(app, area, monkeypatch):
    import server.pages

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # TESTING re-raises; a deployed service answers 500
    monkeypatch.setattr(server.pages, "summary_service", broken)
    client = app.test_client()
    answer = client.get(f"/counties/{area['c']}", headers={**basic(area["officer"]), **BROWSER})
    assert answer.status_code == 500 and "服务器出错了" in answer.get_data(as_text=True)
    assert "boom" not in answer.get_data(as_text=True)
    answer = client.get(f"/counties/{area['c']}", headers=basic(area["officer"]))
    assert answer.status_code == 500 and set(answer.get_json()) == ERROR_SHAPE


# -- admin: confirmations, bilingual import problems, the audit log ---------------------------------

def test_a_destructive_admin_post_without_confirmation_asks_on_a_page_first(app, area, couch):
    client = app.test_client()
    token = signed_in(client, area["admin"])
    url = f"/admin/schools/{area['s']}"
    form = {"csrf_token": token, "action": "revoke", "device": area["device"]}
    asked = client.post(url, data=form, headers={"Origin": "http://localhost"})
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and 'id="confirm-page"' in page and area["device"] in page
    assert 'name="confirmed" value="1"' in page and f'value="{area["device"]}"' in page
    assert couch.db("registry").get(f"device:{area['device']}")["status"] == "active"

    done = client.post(url, data={**form, "confirmed": "1"}, headers={"Origin": "http://localhost"})
    assert done.status_code == 200
    assert couch.db("registry").get(f"device:{area['device']}")["status"] == "revoked"


def test_destructive_buttons_carry_their_question(app, area):
    client = app.test_client()
    signed_in(client, area["admin"])
    school = client.get(f"/admin/schools/{area['s']}").get_data(as_text=True)
    assert "data-confirm=" in school and "admin-confirm.js" in school
    user = client.get(f"/admin/users/{area['teacher']}").get_data(as_text=True)
    assert f"停用账号 {area['teacher']}" in user


def test_import_problems_are_bilingual_and_the_api_keeps_its_shape(client, area):
    data = f"id,county_id,name,opened\nffx{area['c']},no-such-county,学校,2020-13-01\n".encode()
    answer = client.post("/api/v1/admin/registry/import", query_string={"kind": "schools"},
                         headers=basic(area["admin"]), data={"file": (io.BytesIO(data), "schools.csv")},
                         content_type="multipart/form-data")
    body = answer.get_json()
    assert answer.status_code == 422 and set(body) == ERROR_SHAPE | {"errors"}
    rows = body["errors"]["rows"]
    assert all(set(row) == {"sheet", "line", "reason", "reason_zh"} for row in rows)
    reasons = {row["reason"]: row["reason_zh"] for row in rows}
    assert reasons["county no-such-county is neither in the registry nor in this import"].startswith("县")
    assert any("应为日期" in zh for zh in reasons.values())


def test_the_import_page_shows_both_languages(app, area):
    client = app.test_client()
    token = signed_in(client, area["admin"])
    data = b"id,county_id,name,opened\nbad id!,,x,2020-01-01\n"
    answer = client.post("/admin/schools", data={"csrf_token": token, "kind": "schools",
                                                 "file": (io.BytesIO(data), "schools.csv")},
                         content_type="multipart/form-data", headers={"Origin": "http://localhost"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422 and 'id="import-errors"' in page
    assert "county_id 为空" in page and "county_id is empty" in page and "未导入任何内容" in page


def test_the_audit_log_page_and_csv_show_chinese_as_chinese(app, area, couch):
    from server.audit import AuditLog

    target = f"user:wang_{uuid.uuid4().hex[:8]}"
    AuditLog(couch).record(who=area["admin"], action="user.update", target=target, after={"display_name": "王老师"})
    client = app.test_client()
    signed_in(client, area["admin"])
    page = client.get("/admin/audit", query_string={"target": target}).get_data(as_text=True)
    assert "王老师" in page and "\\u738b" not in page
    csv_answer = client.get("/api/v1/admin/audit.csv", query_string={"target": target})
    assert csv_answer.data.startswith("\ufeff".encode()) and "王老师" in csv_answer.get_data(as_text=True)


# -- verification: the upload's results as a page ----------------------------------------------------

def test_a_browser_form_post_to_the_api_is_sent_on_to_the_results_page(app, area):
    client = app.test_client()
    token = signed_in(client, area["officer"])
    listed = f"school_id,date,suspected,confirmed\n{area['s']},2026-11-18,1,0\n".encode()
    answer = client.post(f"/api/v1/counties/{area['c']}/verification", headers={**BROWSER, "Origin": "http://localhost"},
                         data={"csrf_token": token, "file": (io.BytesIO(listed), "list.csv")},
                         content_type="multipart/form-data")
    assert answer.status_code == 307 and answer.headers["Location"].endswith(f"/counties/{area['c']}/verification")

    page = client.post(f"/counties/{area['c']}/verification", headers={**BROWSER, "Origin": "http://localhost"},
                       data={"csrf_token": token, "file": (io.BytesIO(listed), "list.csv")},
                       content_type="multipart/form-data")
    text = page.get_data(as_text=True)
    assert page.status_code == 201 and 'id="upload-saved"' in text and "芦山县第一小学" in text

    refused = client.post(f"/counties/{area['c']}/verification", headers={**BROWSER, "Origin": "http://localhost"},
                          data={"csrf_token": token, "file": (io.BytesIO(b"\xff\xfe bad"), "list.csv")},
                          content_type="multipart/form-data")
    assert refused.status_code == 422 and "UTF-8" in refused.get_data(as_text=True)


def test_api_clients_still_get_json_from_the_upload(client, area):
    listed = f"school_id,date,suspected,confirmed\n{area['s']},2026-11-18,0,0\n"
    answer = client.post(f"/api/v1/counties/{area['c']}/verification", data=listed, content_type="text/csv",
                         headers={**basic(area["officer"]), **BROWSER})
    assert answer.status_code == 201 and answer.get_json()["matched"] == 2
    bad = client.post(f"/api/v1/counties/{area['c']}/verification", data="school_id,date\nx,y\n",
                      content_type="text/csv", headers={**basic(area["officer"]), **BROWSER})
    assert bad.status_code == 422 and set(bad.get_json()) == ERROR_SHAPE | {"errors"}
