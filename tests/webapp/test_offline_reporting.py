"""The teacher app end to end: enrol, file offline, sync, and what the county sees."""

from __future__ import annotations

import time

import pytest

from tests.webapp import app_driver as app
from tests.webapp.conftest import ARTIFACTS, TEACHER_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def eventually(probe, timeout_s: float = 60.0):
    """The first truthy answer of ``probe()``, polled; fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = probe()
        if answer or time.monotonic() > deadline:
            assert answer, f"nothing after {timeout_s} s"
            return answer
        time.sleep(0.2)


def run_worker(couch_url: str, db_name: str) -> None:
    """Process the school's database with the sync worker, in this process."""
    try:
        from sync import WorkerSettings, run_until_idle
        from sync.couch import CouchClient
    except ImportError as exc:  # the worker is being written alongside the app
        pytest.xfail(f"sync worker not importable yet: {exc}")
    with CouchClient(couch_url) as client:
        run_until_idle(client, WorkerSettings(couchdb_url=couch_url, db_pattern=f"^{db_name}$"))


def enrolled_page(new_context, service, school, label="tablet"):
    context = new_context()
    page = context.new_page()
    app.enrol(page, service.url, school.teacher, label=label)
    app.pick_teacher(page, school.teacher)
    app.wait_for_service_worker(page)
    return context, page


def test_offline_daily_and_zero_reports_reach_the_county(new_context, service, school, couch, couch_url, api):
    context, page = enrolled_page(new_context, service, school)
    today, yesterday = app.school_date(0), app.school_date(-1)
    daily_id, zero_id = f"report:daily_health:{today}", f"report:daily_health:{yesterday}"

    context.set_offline(True)
    response = page.reload()
    assert response.from_service_worker, "the offline reload must be served by the service worker"
    page.wait_for_selector("main[data-screen=home]")
    page.wait_for_selector("#sync-bar[data-online=false]")  # found out by trying, not from navigator.onLine

    # Yesterday's zero report first: once today is filed, "zero report" asks about today
    # (tests/webapp/test_teacher_fixes.py).
    app.fill_daily(page, yesterday, app.ZERO_COUNTS, zero=True)
    # The zero report locks every abnormal count at 0.
    assert page.locator(".field[data-field='fever_at_check'] input").is_disabled()
    assert page.locator(".field[data-field='fever_at_check'] input").input_value() == "0"
    app.submit(page)
    app.fill_daily(page, today, app.DAILY)
    app.submit(page)

    page.reload()
    page.wait_for_selector("main[data-screen=home]")
    for doc_id in (daily_id, zero_id):
        app.wait_state(page, doc_id, "waiting")
    assert page.locator("#waiting-count").inner_text() == "2"
    assert app.record(page, zero_id).locator(".badge.zero").count() == 1
    school_db = couch.db(school.db_name)
    assert school_db.get_or_none(daily_id) is None

    context.set_offline(False)
    for doc_id in (daily_id, zero_id):
        app.wait_state(page, doc_id, "synced")
    assert page.locator("#waiting-count").inner_text() == "0"

    daily, zero = school_db.get(daily_id), school_db.get(zero_id)
    assert daily["data"]["students_present"] == 114 and daily["data"]["zero_report"] is False
    assert zero["data"]["zero_report"] is True and zero["data"]["fever_at_check"] == 0
    enrolment = page.evaluate("JSON.parse(localStorage.getItem('enrolment'))")
    for doc in (daily, zero):
        meta = doc["meta"]
        assert meta["author"] == school.teacher
        assert meta["device"] == enrolment["device"]
        assert meta["clock_offset_ms"] is not None and abs(meta["clock_offset_ms"]) < 5000
        assert set(meta["clocks"]) == set(doc["data"])
        assert all(c["base"] is None for c in meta["clocks"].values())
    # The status is first written at enrolment (by the device), then again once the teacher
    # is picked and syncs: wait for that version, not just any.
    status = eventually(lambda: (doc := school_db.get_or_none(f"device_status:{enrolment['device']}"))
                        and doc["meta"]["author"] == school.teacher and doc)
    assert status["data"]["school_id"] == school.id

    run_worker(couch_url, school.db_name)
    answer = api.get(f"/api/v1/summaries/county/{school.county_id}", params={"from": yesterday, "to": today},
                     auth=(school.officer, TEACHER_PASSWORD))
    assert answer.status_code == 200, answer.text
    summary = answer.json()
    by_date = {day["date"]: day for day in summary["days"]}
    assert by_date[today]["reports_received"] == 1 and by_date[today]["zero_reports"] == 0
    assert by_date[yesterday]["reports_received"] == 1 and by_date[yesterday]["zero_reports"] == 1
    assert summary["total"]["reports_received"] == 2 and summary["total"]["zero_reports"] == 1


def test_correction_updates_only_changed_field_clocks(new_context, service, school, couch):
    context, page = enrolled_page(new_context, service, school)
    today = app.school_date(0)
    doc_id = f"report:daily_health:{today}"
    app.fill_daily(page, today, app.DAILY)
    app.submit(page)
    app.wait_state(page, doc_id, "synced")
    first = couch.db(school.db_name).get(doc_id)

    app.record(page, doc_id).locator("button.record-open").click()
    page.wait_for_selector(f"#form-body[data-doc-id='{doc_id}']")
    app.set_number(page, "students_present", 113)
    app.set_number(page, "absent_other", 3)
    app.submit(page)
    page.wait_for_function(f"(async () => (await window.app.store.getDoc('{doc_id}')).data.students_present === 113)()")
    app.wait_state(page, doc_id, "synced")
    second = couch.db(school.db_name).get(doc_id)
    changed = {"students_present", "absent_other"}
    for name, c in second["meta"]["clocks"].items():
        if name in changed:
            assert c["base"] == first["meta"]["clocks"][name]["at"] and c["at"] > c["base"]
        else:
            assert c == first["meta"]["clocks"][name]
    assert second["meta"]["created_at"] == first["meta"]["created_at"]


def test_rejected_report_is_kept_and_shows_the_reason(new_context, service, school, couch):
    context, page = enrolled_page(new_context, service, school)
    today = app.school_date(0)
    doc_id = f"report:daily_health:{today}"
    # Past the form's own checks: write straight into the page's PouchDB.
    page.evaluate("""async ([docId, date, teacher]) => {
        const schema = await (await fetch('/api/v1/forms/daily_health')).json();
        const data = {students_enrolled: 999999, students_present: 0, absent_illness: 0, absent_fever: 0,
          absent_other: 0, fever_at_check: 0, respiratory_symptoms: 0, isolated_on_campus: 0, sent_to_hospital: 0,
          suspected_cases: 0, confirmed_cases: 0, close_contacts: 0, returned_from_affected_areas: 0,
          staff_total: 1, staff_present: 1, staff_fever: 0, disinfection_done: true, zero_report: false};
        await window.app.store.submit(schema, docId, date, data, {username: teacher});
    }""", [doc_id, today, school.teacher])
    app.wait_state(page, doc_id, "rejected")
    reason = app.record(page, doc_id).locator(".reason").inner_text()
    assert "students_enrolled" in reason and "100000" in reason
    assert couch.db(school.db_name).get_or_none(doc_id) is None
    page.reload()
    app.wait_state(page, doc_id, "rejected")  # shown, never dropped


def test_daily_form_at_360px_in_chinese(new_context, service, school):
    context, page = enrolled_page(new_context, service, school)
    page.locator("#new-daily").click()
    page.wait_for_selector("#form-body[data-doc-id]")
    assert "在册学生数" in page.locator(".field[data-field='students_enrolled'] .label").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    # Client-side validation speaks the server's words.
    page.locator("#submit").click()
    assert page.locator(".field[data-field='students_enrolled'] .err").inner_text() == "必填"
    for name, value in dict(app.DAILY, students_present=130).items():
        app.set_number(page, name, value)
    app.set_flag(page, "disinfection_done", True)
    page.locator("#submit").click()
    message = page.locator(".field[data-field='students_present'] .err").inner_text()
    assert message == "到校学生数(130)超过在册学生数(120)"
    # What was typed is a draft on the device only: never in the synced database.
    doc_id = f"report:daily_health:{app.school_date(0)}"
    page.wait_for_function(f"window.app.store.getDraft('{doc_id}').then((d) => d && d.data.students_present === 130)")
    assert page.evaluate(f"window.app.store.getDoc('{doc_id}')") is None
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "daily_form_360.png"), full_page=True)
    page.locator("#lang").click()
    page.wait_for_selector(".field[data-field='students_enrolled'] .label:has-text('Students enrolled')")
    assert page.locator(".field[data-field='students_present'] input").input_value() == "130"  # kept


def test_two_devices_edit_the_same_day_offline_and_see_the_merge(new_context, service, school, couch, couch_url):
    today = app.school_date(0)
    doc_id = f"report:daily_health:{today}"
    devices = [enrolled_page(new_context, service, school, label=f"tablet {i}") for i in (1, 2)]
    for context, _page in devices:
        context.set_offline(True)
    (ctx_a, page_a), (ctx_b, page_b) = devices
    app.fill_daily(page_a, today, app.DAILY)
    app.submit(page_a)
    app.fill_daily(page_b, today, dict(app.DAILY, staff_present=10, returned_from_affected_areas=6))
    app.submit(page_b)
    for context, page in devices:
        context.set_offline(False)
        app.wait_state(page, doc_id, "synced")
    school_db = couch.db(school.db_name)
    assert school_db.find_conflicted(doc_id), "both devices' versions must reach the school database"

    run_worker(couch_url, school.db_name)
    assert not school_db.find_conflicted(doc_id)
    for _context, page in devices:
        page.locator("#sync-now").click()
        app.wait_state(page, doc_id, "merged")
        notice = app.record(page, doc_id).locator(".notice").inner_text()
        assert notice
    merged = school_db.get(doc_id)
    shown = page_a.evaluate(f"(async () => (await window.app.store.getDoc('{doc_id}')).data)()")
    assert shown == merged["data"]
    assert merged["data"]["returned_from_affected_areas"] == 6  # merged by max


def test_revoked_device_stops_syncing_and_keeps_its_data(new_context, service, school, couch):
    context, page = enrolled_page(new_context, service, school)
    today = app.school_date(0)
    doc_id = f"report:daily_health:{today}"
    device = page.evaluate("JSON.parse(localStorage.getItem('enrolment')).device")
    couch.delete_user(device)  # what an admin's revocation does
    app.fill_daily(page, today, app.DAILY)
    app.submit(page)  # the live push meets the 401
    page.wait_for_selector("#sync-bar[data-revoked=true]")
    assert page.locator("#sync-now").is_disabled()
    assert "停用" in page.locator("#sync-status").inner_text()
    app.wait_state(page, doc_id, "waiting")  # kept on the device, never dropped
    page.reload()
    page.wait_for_selector("#sync-bar[data-revoked=true]")
    app.wait_state(page, doc_id, "waiting")
    assert couch.db(school.db_name).get_or_none(doc_id) is None


def test_clock_warning_before_filing_under_a_doubtful_date(new_context, service, school, couch):
    context, page = enrolled_page(new_context, service, school)
    context.set_offline(True)  # no chance to measure again before filing
    page.evaluate("localStorage.setItem('clock_offset',"
                  " JSON.stringify({offset_ms: 3 * 3600 * 1000, measured_at: Date.now()}))")
    today = app.school_date(0)
    app.fill_daily(page, today, app.DAILY)
    page.locator("#submit").click()
    dialog = page.locator(".modal")
    assert "180" in dialog.inner_text() and today in dialog.inner_text()
    dialog.locator("button[data-value=false]").click()
    assert page.locator("main[data-screen=form]").count() == 1  # not filed
    page.locator("#submit").click()
    page.locator(".modal button[data-value=true]").click()
    page.wait_for_selector("main[data-screen=home]")
    app.wait_state(page, f"report:daily_health:{today}", "waiting")


def test_incident_form_from_its_schema(new_context, service, school, couch):
    context, page = enrolled_page(new_context, service, school)
    page.locator("#new-incident").click()
    page.wait_for_selector("#form-body[data-doc-id^='incident:']")
    doc_id = page.locator("#form-body").get_attribute("data-doc-id")
    page.locator(".field[data-field='student_ref'] input").fill("13812345678")
    page.locator("#submit").click()
    assert "手机号" in page.locator(".field[data-field='student_ref'] .err").inner_text()  # the privacy guard
    page.locator(".field[data-field='student_ref'] input").fill("G3C2-017")
    page.locator(".field[data-field='onset_date'] input").fill(app.school_date(-1))
    page.locator(".field[data-field='symptoms'] input[value=fever]").check()
    page.locator(".field[data-field='actions'] button", has_text="+").click()
    page.locator(".field[data-field='actions'] select").select_option("isolated")
    page.locator(".field[data-field='status'] select").select_option("isolated")
    app.submit(page)
    app.wait_state(page, doc_id, "synced")
    doc = couch.db(school.db_name).get(doc_id)
    assert doc["type"] == "incident" and doc["data"]["status_history"][-1]["status"] == "isolated"
    assert doc["data"]["symptoms"] == ["fever"]


def test_form_shows_cross_field_and_field_errors_together(new_context, service, school):
    """400 isolated on campus with 290 present, and staff in total left empty: the app shows
    both errors at their fields at once (a simple field error used to hide the other), in the
    database's words, and files nothing."""
    context, page = enrolled_page(new_context, service, school)
    today = app.school_date(0)
    app.fill_daily(page, today, dict(app.DAILY, students_enrolled=300, students_present=290, absent_illness=4,
                                     absent_fever=3, absent_other=3, isolated_on_campus=400))
    page.locator(".field[data-field='staff_total'] input").fill("")
    page.locator("#submit").click()
    assert page.locator(".field[data-field='staff_total'] .err").inner_text() == "必填"
    isolated = page.locator(".field[data-field='isolated_on_campus'] .err").inner_text()
    assert isolated == "校内隔离人数(400)超过到校学生数(290)"
    assert page.locator(".field.invalid").count() == 2
    assert page.locator("main[data-screen=form]").count() == 1  # not submitted
    assert page.evaluate(f"window.app.store.getDoc('report:daily_health:{today}')") is None
    # Fixed: the report goes through.
    page.locator(".field[data-field='staff_total'] input").fill("12")
    app.set_number(page, "isolated_on_campus", 4)
    app.submit(page)
    assert page.evaluate(f"window.app.store.getDoc('report:daily_health:{today}')")["data"]["isolated_on_campus"] == 4
