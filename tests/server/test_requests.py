"""Requests to schools (issue 13, item 3): the API, the status computed from what the school
sent, and the school database refusing a device that creates or changes a request."""

from __future__ import annotations

import base64
import datetime as dt
import io
import uuid

import pytest
from openpyxl import load_workbook

from mobile_schema import examples
from sync import WorkerSettings, run_until_idle
from sync.couch import CouchClient
from sync.provision import provision_core, provision_school, school_db_name

PASSWORD = "requests-pw"


def basic(name: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()}


@pytest.fixture
def area(couch):
    run = uuid.uuid4().hex[:8]
    c, s, other = f"rc{run}", f"rc{run}s1", f"rc{run}x"
    provision_core(couch)
    registry = couch.db("registry")
    docs = [{"_id": f"county:{c}", "type": "county", "prefecture_id": f"rp{run}", "name": "请求县"},
            {"_id": f"county:{other}", "type": "county", "prefecture_id": f"rp{run}", "name": "邻县"},
            {"_id": f"school:{s}", "type": "school", "county_id": c, "prefecture_id": f"rp{run}", "name": "河边小学",
             "opened": "2020-01-01", "closed": None},
            {"_id": f"school:{other}s1", "type": "school", "county_id": other, "prefecture_id": f"rp{run}",
             "name": "邻县小学", "opened": "2020-01-01", "closed": None},
            # every weekday a school day: the test does not depend on today's weekday
            {"_id": f"calendar:{c}", "type": "calendar", "school_weekdays": [1, 2, 3, 4, 5, 6, 7]}]
    registry.bulk_docs(docs)
    provision_school(couch, s)
    names = {"officer": f"ro_{run}", "other": f"rox_{run}", "teacher": f"rt_{run}", "device": f"device_r{run}"}
    couch.put_user(names["officer"], password=PASSWORD, roles=[f"county:{c}"])
    couch.put_user(names["other"], password=PASSWORD, roles=[f"county:{other}"])
    couch.put_user(names["teacher"], password=PASSWORD, roles=[f"school:{s}"])
    couch.put_user(names["device"], password=PASSWORD, roles=[f"school:{s}", "device"])
    yield {"c": c, "s": s, "other": other, "names": names}
    for name in names.values():
        couch.delete_user(name)
    couch.db(school_db_name(s)).delete_database()


def _device_doc(doc: dict, school_id: str, device: str) -> dict:
    doc = dict(doc, school_id=school_id)
    doc["meta"] = dict(doc["meta"], device=device)
    return doc


def test_an_officer_sends_a_request_and_the_schools_answer_closes_it(client, couch, area):
    c, s, names = area["c"], area["s"], area["names"]
    day = (dt.date.today() - dt.timedelta(days=2)).isoformat()
    sent = client.post(f"/api/v1/counties/{c}/requests", headers=basic(names["officer"]),
                       json={"school_id": s, "date": day, "kind": "file", "note": "请补报 <b>今日</b>"})
    assert sent.status_code == 201, sent.get_json()
    body = sent.get_json()
    assert body["status"] == "open" and body["answer"] is None and body["note"] == "请补报 <b>今日</b>"
    assert body["school_name"] == "河边小学" and body["sent_by"] == names["officer"]
    # in the school's own database, where its devices pull it through the window view
    stored = couch.db(school_db_name(s)).get(body["id"])
    assert stored["type"] == "request" and stored["kind"] == "file" and stored["date"] == day
    window = couch.db(school_db_name(s)).view("school", "window", startkey=day, endkey="\ufff0")["rows"]
    assert body["id"] in {row["id"] for row in window}
    # a check request as well (from a verification mismatch: the list has 2 suspected cases), with what prompted it
    uploaded = client.post(f"/api/v1/counties/{c}/verification", headers=dict(basic(names["officer"]), **{
        "Content-Type": "text/csv"}), data=f"school_id,date,suspected,confirmed\n{s},{day},2,0\n")
    assert uploaded.status_code == 201, uploaded.get_json()
    check = client.post(f"/api/v1/counties/{c}/requests", headers=basic(names["officer"]),
                        json={"school_id": s, "date": day, "kind": "check", "note": "卫健名单 2 例疑似",
                              "context": {"category": "suspected", "list_count": 2}}).get_json()
    listed = client.get(f"/api/v1/counties/{c}/requests?status=open", headers=basic(names["officer"])).get_json()
    assert {r["id"] for r in listed["requests"]} == {body["id"], check["id"]} and listed["counts"]["open"] == 2
    assert all(r["age_seconds"] >= 0 for r in listed["requests"])

    # the school explains the day (as a device would), the worker copies it into reports
    device = names["device"]
    with CouchClient(couch.base_url.replace("://", f"://{device}:{PASSWORD}@", 1)) as as_device:
        [result] = as_device.db(school_db_name(s)).bulk_docs([_device_doc(
            examples.explanation(date=day, reason="closed_weather", details="暴雨停课"), s, device)])
    assert result.ok, result
    run_until_idle(couch, WorkerSettings(couchdb_url=couch.base_url, db_pattern=f"^{school_db_name(s)}$"))
    # the worker leaves the service's requests alone (not quarantined as a device's invalid document)
    sources = couch.db("ops").view("ops", "by_source", startkey=[school_db_name(s), body["id"]],
                                   endkey=[school_db_name(s), body["id"], {}])["rows"]
    assert sources == []
    listed = client.get(f"/api/v1/counties/{c}/requests", headers=basic(names["officer"])).get_json()
    by_id = {r["id"]: r for r in listed["requests"]}
    for request_id in (body["id"], check["id"]):
        assert by_id[request_id]["status"] == "answered" and by_id[request_id]["answer"] == "explained"
        assert by_id[request_id]["explanation"] == {"reason": "closed_weather", "details": "暴雨停课"}
        assert by_id[request_id]["answer_after_seconds"] >= 0
    assert client.get(f"/api/v1/counties/{c}/requests?status=open", headers=basic(names["officer"])
                      ).get_json()["requests"] == []
    # the county page closes the mismatch with the school's answer
    page = client.get(f"/counties/{c}?from={day}&to={day}", headers=basic(names["officer"]))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    row = html[html.index(f'<tr data-school="{s}" data-date="{day}"'):]
    row = row[:row.index("</tr>")]
    assert 'class="closed"' in row and "已说明" in row and "暴雨停课" in row and "ask-check" not in row
    assert f'data-request="{check["id"]}"' in html and "&lt;b&gt;今日&lt;/b&gt;" in html  # the note escaped
    # the school's own page says the day is explained, and why
    school_page = client.get(f"/schools/{s}?from={day}&to={day}", headers=basic(names["officer"]))
    assert "已说明: 停课：天气、洪涝或灾害 暴雨停课" in school_page.get_data(as_text=True)
    # the county page's export holds the requests (and the explained schools) as sheets people read
    export = client.get(f"/api/v1/summaries/county/{c}?from={day}&to={day}&format=xlsx",
                        headers=basic(names["officer"]))
    book = load_workbook(io.BytesIO(export.data))
    sheet = book["给学校的提醒"]
    header = [cell.value for cell in sheet[1]]
    assert {"留言", "答复", "原因", "已过(秒)"} <= set(header)
    rows = [dict(zip(header, (cell.value for cell in row), strict=True)) for row in sheet.iter_rows(min_row=2)]
    assert sorted(r["类型"] for r in rows) == ["提醒填报", "请核实"]
    assert {r["答复"] for r in rows} == {"已说明"} and {r["原因"] for r in rows} == {"停课:天气、洪涝或灾害"}
    assert "已说明学校" in book.sheetnames
    # and the day counts as explained, not missing
    summary = client.get(f"/api/v1/summaries/county/{c}?from={day}&to={day}", headers=basic(names["officer"])
                         ).get_json()["days"][0]
    assert summary["schools_explained"] == 1 and summary["schools_missing"] == 0
    assert summary["completeness"] == 0.0


def test_who_may_send_and_what_is_refused(client, area):
    c, s, names = area["c"], area["s"], area["names"]
    day = dt.date.today().isoformat()
    ok = {"school_id": s, "date": day, "kind": "file", "note": ""}
    assert client.post(f"/api/v1/counties/{c}/requests", json=ok).status_code == 401
    for who in ("other", "teacher"):
        assert client.post(f"/api/v1/counties/{c}/requests", headers=basic(names[who]), json=ok).status_code == 403
        assert client.get(f"/api/v1/counties/{c}/requests", headers=basic(names[who])).status_code == 403
    officer = basic(names["officer"])
    url = f"/api/v1/counties/{c}/requests"
    not_ours = client.post(url, headers=officer, json=dict(ok, school_id=f"{area['other']}s1"))
    assert not_ours.status_code == 422 and "school_id" in not_ours.get_json()["errors"]
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    assert client.post(url, headers=officer, json=dict(ok, date=future)).status_code == 422
    assert client.post(url, headers=officer, json=dict(ok, kind="order")).status_code == 422
    assert client.post(f"/api/v1/counties/{c}/requests", headers=officer,
                       json=dict(ok, note="x" * 1001)).status_code == 422
    assert client.get(f"/api/v1/counties/{c}/requests?status=maybe", headers=officer).status_code == 422
    # the page form posts back to the county page (HTTP Basic here: no CSRF token needed)
    page = client.post(f"/counties/{c}/requests", headers=officer, data=dict(ok, **{"from": day, "to": day}))
    assert page.status_code == 303 and f"/counties/{c}?from={day}&to={day}&sent=request" in page.headers["Location"]
    # (the Chromium test posts it from the county page with the session cookie and its token)


def test_a_device_can_neither_create_nor_change_a_request(couch, area):
    s, device = area["s"], area["names"]["device"]
    db = couch.db(school_db_name(s))
    request = {"_id": "request:2026-11-27:abcdefabcdef", "type": "request", "kind": "file", "school_id": s,
               "county_id": area["c"], "date": "2026-11-27", "note": "请填报", "sent_by": "o", "sent_at":
               "2026-11-27T03:00:00.000Z", "context": {}}
    with CouchClient(couch.base_url.replace("://", f"://{device}:{PASSWORD}@", 1)) as as_device:
        mine = as_device.db(school_db_name(s))
        [created] = mine.bulk_docs([dict(request, _id="request:2026-11-27:devicedevice")])
        assert created.error == "forbidden" and "request" in created.reason, created.reason
        stored = db.put(dict(request))  # the service (admin) may
        current = db.get(request["_id"])
        assert current["_rev"] == stored["rev"]
        for change in ({"note": "已处理"}, {"type": "report"}, {"type": "explanation", "form": "explanation"}):
            [changed] = mine.bulk_docs([dict(current, **change)])
            assert changed.error == "forbidden", change
        [deleted] = mine.bulk_docs([{"_id": current["_id"], "_rev": current["_rev"], "_deleted": True}])
        assert deleted.error == "forbidden"
    assert db.get(request["_id"])["note"] == "请填报"


def test_the_verification_result_page_asks_a_mismatched_school_to_check_and_the_request_is_sent(client, couch,
                                                                                                 area):
    c, s, names = area["c"], area["s"], area["names"]
    day = (dt.date.today() - dt.timedelta(days=2)).isoformat()
    csv = f"school_id,date,suspected,confirmed\n{s},{day},2,0\n".encode()
    page = client.post(f"/counties/{c}/verification", headers=basic(names["officer"]),
                       data={"file": (io.BytesIO(csv), "list.csv")}, content_type="multipart/form-data")
    assert page.status_code == 201, page.get_data(as_text=True)[:300]  # the upload was stored
    html = page.get_data(as_text=True)
    row = html[html.index(f'<tr data-school="{s}" data-date="{day}"'):]
    row = row[:row.index("</tr>")]
    assert "ask-check" in row and f'action="/counties/{c}/requests"' in row
    assert 'name="category" value="suspected"' in row and 'name="list_count" value="2"' in row
    # the form as the browser would send it (HTTP Basic here, so no CSRF token is needed)
    sent = client.post(f"/counties/{c}/requests", headers=basic(names["officer"]), data={
        "school_id": s, "date": day, "kind": "check", "note": "卫健名单 2 例疑似", "category": "suspected",
        "list_count": "2"})
    assert sent.status_code == 303
    (request,) = client.get(f"/api/v1/counties/{c}/requests", headers=basic(names["officer"])).get_json()["requests"]
    assert (request["school_id"], request["date"], request["kind"]) == (s, day, "check")
    assert request["context"] == {"category": "suspected", "list_count": "2"}
