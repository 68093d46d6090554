"""The app on an inspector's device; the roster refreshed from the service; offline after
the browser itself restarts."""

from __future__ import annotations

import pytest

from mobile_schema import validate_document
from tests.webapp import app_driver as app
from tests.webapp.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.webapp.test_offline_reporting import enrolled_page, eventually

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_inspector_files_an_inspection_offline_and_it_reaches_the_county(new_context, service, inspector, couch):
    context = new_context()
    page = context.new_page()
    app.enrol(page, service.url, inspector.username, label="督导平板")
    assert page.locator(f"button.roster-name[data-username='{inspector.username}']").inner_text() == "赵督导"
    app.pick_teacher(page, inspector.username)
    app.wait_for_service_worker(page)
    assert page.locator("#new-daily").count() == 0  # an inspector's device files inspections only
    # The form schema is cached by the service worker: fetch it once while online.
    page.evaluate("fetch('/api/v1/forms/inspection').then((r) => r.ok)")

    context.set_offline(True)
    page.reload()
    page.wait_for_selector("main[data-screen=home]")
    page.locator("#new-inspection").click()
    page.wait_for_selector("#form-body[data-doc-id^='inspection:']")
    doc_id = page.locator("#form-body").get_attribute("data-doc-id")
    today = app.school_date(0)
    assert doc_id.startswith(f"inspection:{today}:")
    assert page.locator(".field[data-field='inspector'] input").input_value() == "赵督导"
    assert page.locator("li.checklist-item").count() == 27  # the items of x-checklists
    assert "体温" in page.locator("li.checklist-item[data-item='entry_temperature'] .item-text").inner_text()

    page.locator("#submit").click()  # no school chosen yet
    assert page.locator(".field[data-field='school_id'] .err").inner_text() == "请选择被检查的学校"
    page.locator("#inspection-school").select_option(inspector.school.id)

    def answer(item, status):
        page.locator(f"li.checklist-item[data-item='{item}'] button.seg[data-value='{status}']").click()

    answer("entry_temperature", "ok")
    answer("isolation_room", "issue")
    answer("dormitory_entry", "not_applicable")
    # Choice labels, not codes.
    issue = page.locator("li.checklist-item[data-item='isolation_room'] button.seg[data-value='issue']")
    assert issue.inner_text() == "存在问题"
    page.locator("li.checklist-item[data-item='isolation_room'] .subfield[data-sub='note'] input").fill("无独立隔离室")
    assert "已检查 3/27 项" in page.locator(".checklist-count").inner_text()

    findings = page.locator(".field[data-field='findings']")
    findings.locator("button", has_text="+").click()
    findings.locator(".subfield[data-sub='item_id'] select").select_option("isolation_room")
    findings.locator(".subfield[data-sub='description'] textarea").fill("隔离室与教室共用走廊")
    deadline = app.school_date(7)
    findings.locator(".subfield[data-sub='rectification_deadline'] input").fill(deadline)
    status = findings.locator(".subfield[data-sub='status'] select")
    assert status.input_value() == "open"
    assert status.locator("option:checked").inner_text() == "待整改"
    follow_up = page.locator(".field[data-field='follow_up_status'] select")
    assert "待跟踪" in follow_up.inner_text()
    follow_up.select_option("rectifying")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "inspection_form_360.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    app.submit(page)
    app.wait_state(page, doc_id, "waiting")
    assert inspector.school.id[1:] in app.record(page, doc_id).locator(".record-title").inner_text()
    inspections = couch.db(inspector.db_name)
    assert inspections.get_or_none(doc_id) is None

    context.set_offline(False)
    app.wait_state(page, doc_id, "synced")
    doc = inspections.get(doc_id)
    enrolment = page.evaluate("JSON.parse(localStorage.getItem('enrolment'))")
    assert doc["type"] == "inspection" and doc["county_id"] == inspector.county_id
    assert doc["school_id"] == inspector.school.id and doc["date"] == today
    data = doc["data"]
    assert data["checklist_id"] == "campus_epidemic_2020" and data["checklist_version"] == 1
    assert [(i["item_id"], i["status"]) for i in data["items"]] == [
        ("entry_temperature", "ok"), ("isolation_room", "issue"), ("dormitory_entry", "not_applicable")]
    assert data["findings"] == [{"item_id": "isolation_room", "description": "隔离室与教室共用走廊",
                                 "rectification_deadline": deadline, "status": "open"}]
    assert data["follow_up_status"] == "rectifying" and data["inspector"] == "赵督导"
    assert doc["meta"]["author"] == inspector.username and doc["meta"]["device"] == enrolment["device"]
    # The database accepted it (validate_doc_update), and the shared definition agrees.
    assert validate_document(doc, county_id=inspector.county_id, device=enrolment["device"]) == []
    # Nothing else was pushed into the inspections database (no device status there).
    assert [row["id"] for row in inspections.all_docs()["rows"] if not row["id"].startswith("_design/")] == [doc_id]

    page.locator("#lang").click()
    page.wait_for_selector(f"li.record[data-id='{doc_id}']")
    app.record(page, doc_id).locator("button.record-open").click()
    page.wait_for_selector(f"#form-body[data-doc-id='{doc_id}']")
    pressed = page.locator("li.checklist-item[data-item='isolation_room'] button.seg[aria-pressed=true]")
    assert pressed.inner_text() == "Issue found"
    assert page.locator("#inspection-school").input_value() == inspector.school.id


def test_incident_choices_are_shown_by_their_labels(new_context, service, school):
    context, page = enrolled_page(new_context, service, school)
    page.locator("#new-incident").click()
    page.wait_for_selector("#form-body[data-doc-id^='incident:']")
    fever = page.locator(".field[data-field='symptoms'] label.check:has(input[value=fever])")
    assert fever.inner_text().strip() == "发热"
    status = page.locator(".field[data-field='status'] select")
    assert "治疗中" in status.inner_text() and "under" not in status.inner_text()
    page.locator(".field[data-field='actions'] button", has_text="+").click()
    assert "已通知家长" in page.locator(".field[data-field='actions'] select").inner_text()
    status.select_option("isolated")
    assert "隔离中" in page.locator(".field[data-field='status_history'] .history").inner_text()
    page.locator("#lang").click()
    page.wait_for_selector(".field[data-field='symptoms'] label.check:has-text('Fever')")
    assert "Under treatment" in page.locator(".field[data-field='status'] select").inner_text()


def test_a_teacher_added_later_can_pick_her_name(new_context, service, school, couch):
    context = new_context()
    page = context.new_page()
    app.enrol(page, service.url, school.teacher)
    newcomer, later = f"t3_{school.id}", f"t4_{school.id}"
    registry = couch.db("registry")
    roster = registry.get(f"roster:{school.id}")
    roster["teachers"].append({"username": newcomer, "display_name": "张老师"})
    registry.put(roster)
    # The app asks again when it opens online...
    page.reload()
    page.wait_for_selector(f"button.roster-name[data-username='{newcomer}']")
    # ...and when asked to, without a reload.
    roster = registry.get(f"roster:{school.id}")
    roster["teachers"].append({"username": later, "display_name": "陈老师"})
    registry.put(roster)
    page.locator("#roster-refresh").click()
    page.wait_for_selector(f"button.roster-name[data-username='{later}']")

    app.pick_teacher(page, newcomer)
    assert "张老师" in page.locator("header .sub").inner_text()
    today = app.school_date(0)
    doc_id = f"report:daily_health:{today}"
    app.fill_daily(page, today, app.DAILY)
    app.submit(page)
    app.wait_state(page, doc_id, "synced")
    assert couch.db(school.db_name).get(doc_id)["meta"]["author"] == newcomer
    stored = page.evaluate("JSON.parse(localStorage.getItem('enrolment')).roster.map((t) => t.username)")
    assert stored == [school.teacher, f"t2_{school.id[1:]}", newcomer, later]


def test_offline_after_the_browser_restarts(browser, service, school, couch, tmp_path):
    """A phone rebooted with no signal: the app opens from the service worker's cache and
    shows the report still waiting; with signal back it syncs."""
    profile = tmp_path / "profile"
    options = {"executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "viewport": {"width": 360, "height": 740},
               "locale": "zh-CN"}
    today = app.school_date(0)
    doc_id = f"report:daily_health:{today}"

    context = browser.browser_type.launch_persistent_context(str(profile), **options)
    try:
        context.set_default_timeout(20000)
        page = context.pages[0] if context.pages else context.new_page()
        app.enrol(page, service.url, school.teacher)
        app.pick_teacher(page, school.teacher)
        app.wait_for_service_worker(page)
        context.set_offline(True)
        app.fill_daily(page, today, app.DAILY)
        app.submit(page)
        app.wait_state(page, doc_id, "waiting")
    finally:
        context.close()
    assert couch.db(school.db_name).get_or_none(doc_id) is None

    context = browser.browser_type.launch_persistent_context(str(profile), offline=True, **options)
    try:
        context.set_default_timeout(20000)
        page = context.pages[0] if context.pages else context.new_page()
        response = app.open_app(page, service.url)
        assert response.from_service_worker, "the first page after the restart must come from the cache"
        page.wait_for_selector("main[data-screen=home]")  # still enrolled, the teacher still chosen
        app.wait_state(page, doc_id, "waiting")
        assert page.locator("#waiting-count").inner_text() == "1"
        page.wait_for_selector("#sync-bar[data-online=false]")
        context.set_offline(False)
        app.wait_state(page, doc_id, "synced")
    finally:
        context.close()
    doc = eventually(lambda: couch.db(school.db_name).get_or_none(doc_id))
    assert doc["meta"]["author"] == school.teacher
