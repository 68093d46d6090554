"""What a teacher met in the app (issue 13, item 8): the zero report on a day already filed,
the counts a zero report locks, drafts that keep every typed value, "sync now" with no
connection, and no empty box under the roster."""

from __future__ import annotations

import pytest

from tests.webapp import app_driver as app
from tests.webapp.conftest import ARTIFACTS
from tests.webapp.test_offline_reporting import enrolled_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def zero_fields(page) -> list[str]:
    """The counts the daily form's zero report covers, from the schema the app uses."""
    return page.evaluate("""async () => {
        const schema = await (await fetch('/api/v1/forms/daily_health')).json();
        return schema['x-rules'].find((r) => r.rule === 'zero_when').fields; }""")


def test_zero_report_on_a_filed_day_asks_and_corrects_as_zero(new_context, service, school, couch):
    context, page = enrolled_page(new_context, service, school)
    today = app.school_date(0)
    doc_id = f"report:daily_health:{today}"
    app.fill_daily(page, today, app.DAILY)
    app.submit(page)
    app.wait_state(page, doc_id, "synced")

    # Cancel: nothing opens, nothing changes.
    page.locator("#zero-today").click()
    dialog = page.locator(".modal")
    assert "已提交" in dialog.inner_text() and today in dialog.inner_text()
    screenshot(page, "teacher_zero_on_filed_day_360.png")
    dialog.locator("button[data-value=cancel]").click()
    assert page.locator(".modal").count() == 0
    assert page.locator("main[data-screen=home]").count() == 1

    # Correct it as a zero report: the box is ticked and the abnormal counts locked at 0.
    page.locator("#zero-today").click()
    page.locator(".modal button[data-value=correct]").click()
    page.wait_for_selector(f"#form-body[data-doc-id='{doc_id}']")
    assert page.locator(".field[data-field='zero_report'] input").is_checked()
    for name in zero_fields(page):
        field = page.locator(f".field[data-field='{name}'] input")
        assert field.is_disabled() and field.input_value() == "0", name
    assert page.locator(".field[data-field='students_present'] input").input_value() == "114"  # kept from the report
    assert page.locator("#submit").inner_text() == "提交更正"
    app.set_number(page, "students_present", 120)
    for name in ("absent_illness", "absent_fever", "absent_other"):
        app.set_number(page, name, 0)
    app.submit(page)
    page.wait_for_function(f"window.app.store.getDoc('{doc_id}').then((d) => d.data.zero_report === true)")
    app.wait_state(page, doc_id, "synced")
    stored = couch.db(school.db_name).get(doc_id)["data"]
    assert stored["zero_report"] is True and all(stored[name] == 0 for name in zero_fields(page))
    assert stored["returned_from_affected_areas"] == 4  # not a count the zero report covers: kept


def test_zero_report_after_picking_a_filed_date_asks_too(new_context, service, school):
    context, page = enrolled_page(new_context, service, school)
    yesterday = app.school_date(-1)
    app.fill_daily(page, yesterday, app.DAILY)
    app.submit(page)
    page.locator("#zero-today").click()
    page.wait_for_selector("main[data-screen=form]")
    page.locator("#report-date").fill(yesterday)
    dialog = page.locator(".modal")
    assert "已提交" in dialog.inner_text() and yesterday in dialog.inner_text()
    dialog.locator("button[data-value=correct]").click()
    page.wait_for_selector(f"#form-body[data-doc-id='report:daily_health:{yesterday}']")
    assert page.locator(".field[data-field='zero_report'] input").is_checked()
    assert page.locator(".field[data-field='fever_at_check'] input").is_disabled()


def test_zero_report_locks_what_it_implies_and_says_what_it_does_not(new_context, service, school):
    """The zero report covers the counts of its `zero_when` rule (mobile_schema's abnormal
    counts): those are locked at 0 and need no typing. The others stay to fill in, and the
    form says so next to them (e.g. returned from affected areas, a count of students being
    followed, which a day with nothing abnormal can still have)."""
    context, page = enrolled_page(new_context, service, school)
    page.locator("#zero-today").click()
    page.wait_for_selector("#form-body[data-doc-id]")
    covered = set(zero_fields(page))
    numbers = page.locator(".field[data-field] input[type=number]")
    for i in range(numbers.count()):
        box = numbers.nth(i)
        name = box.evaluate("(el) => el.closest('.field').dataset.field")
        assert box.is_disabled() == (name in covered), name
        field = page.locator(f".field[data-field='{name}']")
        if name in covered:
            assert field.locator(".zero-note").count() == 0
        else:
            assert field.locator(".zero-note").inner_text() == "零报告也需填写", name
    screenshot(page, "teacher_zero_report_360.png")
    # Only what is not covered is asked for: submitting empty names exactly those.
    page.locator("#submit").click()
    required = set(page.locator(".field.invalid").evaluate_all("(els) => els.map((e) => e.dataset.field)"))
    assert required and not required & covered
    assert "returned_from_affected_areas" in required
    # Unticked: the notes go, every count is open again.
    page.locator(".field[data-field='zero_report'] input").uncheck()
    assert page.locator(".zero-note").count() == 0
    assert not page.locator(".field[data-field='fever_at_check'] input").is_disabled()


@pytest.mark.parametrize("reopen", ["list", "zero_button", "reload"])
def test_reopened_zero_draft_keeps_every_typed_value(new_context, service, school, reopen):
    context, page = enrolled_page(new_context, service, school)
    today = app.school_date(0)
    doc_id = f"report:daily_health:{today}"
    typed = dict(
        app.ZERO_COUNTS,
        students_present=97,
        absent_illness=2,
        absent_other=1,
        returned_from_affected_areas=3,
        staff_present=9,
    )
    app.fill_daily(page, today, typed, zero=True)
    page.locator(".field[data-field='notes'] textarea").fill("春游")
    page.locator("#back").click()  # at once: the draft must not wait for a pause in typing
    page.wait_for_selector("main[data-screen=home]")
    if reopen == "reload":
        page.reload()
        page.wait_for_selector("main[data-screen=home]")
    if reopen == "zero_button":
        page.locator("#zero-today").click()
    else:
        app.wait_state(page, doc_id, "draft")
        app.record(page, doc_id).locator("button.record-open").click()
    page.wait_for_selector(f"#form-body[data-doc-id='{doc_id}']")
    assert page.locator(".field[data-field='zero_report'] input").is_checked()
    for name, value in typed.items():
        assert page.locator(f".field[data-field='{name}'] input").input_value() == str(value), name
    assert (
        page.locator(".field[data-field='disinfection_done'] button[aria-pressed=true]").get_attribute("data-value")
        == "true"
    )
    assert page.locator(".field[data-field='notes'] textarea").input_value() == "春游"
    assert page.locator(".field[data-field='fever_at_check'] input").is_disabled()


def test_sync_now_offline_says_reports_are_safe(new_context, service, school):
    context, page = enrolled_page(new_context, service, school)
    today = app.school_date(0)
    context.set_offline(True)
    app.fill_daily(page, today, app.DAILY)
    app.submit(page)
    page.locator("#sync-now").click()
    message = page.locator("#sync-message")
    message.wait_for()
    text = message.inner_text()
    assert "没有网络连接" in text and "已安全保存在本机" in text and "联网后会自动发送" in text
    assert message.get_attribute("role") == "status"
    screenshot(page, "teacher_sync_offline_360.png")
    app.wait_state(page, f"report:daily_health:{today}", "waiting")
    page.locator("#lang").click()
    page.locator("#sync-now").click()
    page.wait_for_selector("#sync-message:has-text('No connection')")
    # Back online: the same button syncs, and the message goes.
    context.set_offline(False)
    page.locator("#sync-now").click()
    app.wait_state(page, f"report:daily_health:{today}", "synced")
    page.wait_for_selector("#sync-message", state="detached")


def test_no_empty_box_under_the_roster(new_context, service, school):
    context = new_context()
    page = context.new_page()
    app.enrol(page, service.url, school.teacher)
    boxes = page.locator("main[data-screen=who] .card")
    for i in range(boxes.count()):
        box = boxes.nth(i)
        assert not box.is_visible() or box.inner_text().strip(), "an empty box is shown under the roster"
    page.locator(f"button.roster-name[data-username='{school.teacher}']").click()
    assert page.locator("#pin-box").is_visible()  # the PIN prompt still shows in its box
    app.pick_teacher(page, school.teacher)
