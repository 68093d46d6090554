"""Steps a teacher takes in the app, for the browser tests."""

from __future__ import annotations

import datetime as dt

from tests.webapp.conftest import PIN, TEACHER_PASSWORD

UTC8 = dt.timezone(dt.timedelta(hours=8))


def school_date(days: int = 0) -> str:
    return (dt.datetime.now(UTC8) + dt.timedelta(days=days)).date().isoformat()


def open_app(page, base_url: str):
    return page.goto(base_url + "/app/")


def enrol(page, base_url: str, username: str, password: str = TEACHER_PASSWORD, label: str = "tablet"):
    open_app(page, base_url)
    form = page.locator("#enrol-form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    form.locator("input[name=label]").fill(label)
    form.locator("button[type=submit]").click()
    page.wait_for_selector("main[data-screen=who]")


def pick_teacher(page, username: str, pin: str = PIN):
    page.locator(f"button.roster-name[data-username='{username}']").click()
    page.locator("#pin-form input[name=pin]").fill(pin)
    repeat = page.locator("#pin-form input[name=pin2]")
    if repeat.count():
        repeat.fill(pin)
    page.locator("#pin-form button[type=submit]").click()
    page.wait_for_selector("main[data-screen=home]")


def wait_for_service_worker(page):
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_function("navigator.serviceWorker.controller !== null")


def set_number(page, name: str, value: int):
    page.locator(f".field[data-field='{name}'] input").fill(str(value))


def set_flag(page, name: str, value: bool):
    page.locator(f".field[data-field='{name}'] button.seg[data-value='{str(value).lower()}']").click()


DAILY = {
    "students_enrolled": 120, "students_present": 114, "absent_illness": 3, "absent_fever": 1, "absent_other": 2,
    "fever_at_check": 1, "respiratory_symptoms": 0, "isolated_on_campus": 1, "sent_to_hospital": 0,
    "suspected_cases": 0, "confirmed_cases": 0, "close_contacts": 0, "returned_from_affected_areas": 4,
    "staff_total": 12, "staff_present": 11, "staff_fever": 0,
}
ZERO_COUNTS = {
    "students_enrolled": 100, "students_present": 100, "absent_illness": 0, "absent_fever": 0, "absent_other": 0,
    "returned_from_affected_areas": 0, "staff_total": 10, "staff_present": 10,
}


def fill_daily(page, date: str, values: dict, *, zero: bool = False, disinfection: bool = True):
    page.locator("#zero-today" if zero else "#new-daily").click()
    page.wait_for_selector("main[data-screen=form]")
    if page.locator("#report-date").input_value() != date:
        page.locator("#report-date").fill(date)
    page.wait_for_selector(f"#form-body[data-doc-id='report:daily_health:{date}']")
    for name, value in values.items():
        set_number(page, name, value)
    set_flag(page, "disinfection_done", disinfection)


def submit(page):
    page.locator("#submit").click()
    page.wait_for_selector("main[data-screen=home]")


def record(page, doc_id: str):
    return page.locator(f"li.record[data-id='{doc_id}']")


def wait_state(page, doc_id: str, state: str, timeout: float = 30000):
    try:
        page.wait_for_selector(f"li.record[data-id='{doc_id}'][data-state='{state}']", timeout=timeout)
    except Exception as exc:
        seen = page.evaluate("""async (id) => ({
            records: (await window.app.store.records()).map((r) => [r.id, r.state, r.reason, r.doc && r.doc._rev]),
            local: await window.app.store.local.get('state:' + id).catch((e) => String(e)),
            sync: window.app.syncer.state})""", doc_id)
        raise AssertionError(f"{doc_id} never reached {state!r}; the app has {seen}") from exc
