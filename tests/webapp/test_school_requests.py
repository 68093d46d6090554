"""The loop closed at the school, in Chromium (issue 13, item 3).

An officer asks a school to file from the county page's missing list while the school's
device is offline; the device receives the request on its next sync and shows it as a task
with the officer's note; offline again (the page reloaded from the service worker), the
teacher explains the day (closed: flood) instead of filing; once synced and processed by
the worker, the county page lists the school as explained, not missing, and the request as
answered with its age. Screenshots (1366 and 768 px for the county page, 360 px for the
app) are kept in ``test-artifacts/``.
"""

from __future__ import annotations

import pytest

from sync.provision import school_db_name
from tests.webapp import app_driver as app
from tests.webapp.conftest import ARTIFACTS, TEACHER_PASSWORD
from tests.webapp.test_offline_reporting import enrolled_page, eventually, run_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow]
NOTE = "今天的日报告还没收到，请在10点前补报，谢谢！"


@pytest.fixture
def every_day_a_school_day(couch, school):
    """The county's calendar: every weekday a school day, so today is one whatever the date."""
    registry = couch.db("registry")
    doc = {"_id": f"calendar:{school.county_id}", "type": "calendar", "school_weekdays": [1, 2, 3, 4, 5, 6, 7]}
    registry.put(doc)
    yield
    current = registry.get_or_none(doc["_id"])
    if current:
        registry.delete(current["_id"], current["_rev"])


def officer_page(new_context, service, school):
    context = new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(f"{service.url}/counties/{school.county_id}")
    page.fill("input[name=name]", school.officer)
    page.fill("input[name=password]", TEACHER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#missing-section")
    return page


def test_a_request_reaches_the_offline_device_and_its_explanation_counts(
        new_context, service, school, couch, couch_url, every_day_a_school_day):
    today = app.school_date(0)
    context, device = enrolled_page(new_context, service, school)
    context.set_offline(True)  # the school is out of reach when the officer asks

    officer = officer_page(new_context, service, school)
    row = officer.locator(f".missing-list tr[data-school='{school.id}']")
    assert row.count() == 1
    row.locator("summary.ask-file").click()
    row.locator("textarea[name=note]").fill(NOTE)
    row.locator("form button[type=submit]").click()
    officer.wait_for_selector("#requests-table tr[data-status=open]")
    sent = officer.locator("#requests-table tr[data-status=open]")
    assert NOTE in sent.inner_text() and "提醒填报" in sent.inner_text()
    request_id = sent.get_attribute("data-request")
    stored = couch.db(school_db_name(school.id)).get(request_id)
    assert stored["type"] == "request" and stored["note"] == NOTE and stored["date"] == today
    assert officer.locator(f".missing-list tr[data-school='{school.id}'] .asked").count() == 1

    # back online: the next sync brings the request, shown as a task with the note
    context.set_offline(False)
    device.locator("#sync-now").click()
    task = device.locator(f"#tasks li.task[data-id='{request_id}']")
    task.wait_for(timeout=60_000)
    assert NOTE in task.inner_text() and "请填报" in task.inner_text()
    assert task.get_attribute("data-answer") == ""

    # offline again, even after a reload: the task is still there, and is answered by explaining
    context.set_offline(True)
    response = device.reload()
    assert response.from_service_worker
    device.wait_for_selector("main[data-screen=home]")
    task = device.locator(f"#tasks li.task[data-id='{request_id}']")
    task.wait_for()
    device.locator("#lang").click()  # the English switch, as everywhere in the app
    device.wait_for_selector(f"#tasks li.task[data-id='{request_id}']:has-text('Please file the report')")
    device.locator("#lang").click()
    device.wait_for_selector(f"#tasks li.task[data-id='{request_id}']:has-text('请填报')")
    # "file that day's report" opens the day's report form (left again: the teacher explains instead)
    task.locator("button.task-report").click()
    device.wait_for_selector("main[data-screen=form][data-form=daily_health] "
                             f"#form-body[data-doc-id='report:daily_health:{today}']")
    device.locator("#back").click()
    device.wait_for_selector("main[data-screen=home]")
    device.locator(f"#tasks li.task[data-id='{request_id}'] button.task-explain").click()
    device.wait_for_selector("main[data-screen=form][data-form=explanation]")
    assert device.locator("#report-date").input_value() == today
    device.locator(".field[data-field='reason'] select").select_option("closed_weather")
    device.locator(".field[data-field='details'] textarea").fill("山洪冲断道路，全校停课一天")
    ARTIFACTS.mkdir(exist_ok=True)
    device.screenshot(path=str(ARTIFACTS / "requests-app-explanation-360.png"), full_page=True)
    app.submit(device)
    device.wait_for_selector(f"#tasks li.task[data-id='{request_id}'][data-answer=explained]")
    app.wait_state(device, f"explanation:{today}", "waiting")
    device.screenshot(path=str(ARTIFACTS / "requests-app-tasks-360.png"), full_page=True)

    context.set_offline(False)
    app.wait_state(device, f"explanation:{today}", "synced", timeout=60_000)
    explanation = eventually(lambda: couch.db(school.db_name).get_or_none(f"explanation:{today}"))
    assert explanation["data"] == {"reason": "closed_weather", "details": "山洪冲断道路，全校停课一天"}
    run_worker(couch_url, school.db_name)

    officer.reload()
    explained = officer.locator(f"#missing-explained tr[data-school='{school.id}']")
    explained.wait_for()
    assert "停课：天气、洪涝或灾害" in explained.inner_text() and "山洪" in explained.inner_text()
    assert officer.locator(f"#missing-not-synced tr[data-school='{school.id}'], "
                           f"#missing-not-reported tr[data-school='{school.id}']").count() == 0
    assert "已说明 1" in officer.inner_text("#tile-reported")
    answered = officer.locator(f"#requests-table tr[data-request='{request_id}']")
    assert answered.get_attribute("data-status") == "answered"
    assert answered.get_attribute("data-answer") == "explained"
    assert "已说明" in answered.inner_text() and answered.locator("td.age").inner_text().strip()
    for width in (1366, 768):
        officer.set_viewport_size({"width": width, "height": 900})
        officer.locator("#requests").screenshot(path=str(ARTIFACTS / f"requests-county-{width}.png"))
        officer.locator("#missing-section").screenshot(path=str(ARTIFACTS / f"requests-missing-{width}.png"))
