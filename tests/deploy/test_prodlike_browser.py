"""Issue 8, end to end in a real browser, against the production-like run (``stack`` in
``conftest.py``, the same stack as ``test_prodlike.py``).

Only the nginx origin is used, as a school and a county office would: the teacher app
loads from ``/app/``, enrols the demo's teacher, files a daily report offline (the page
reloaded from the service worker), syncs it through ``/db/`` once back online, and the
two worker shards, running all along, carry it into the county summary that the county's
officer reads from ``/api/v1/summaries/`` on the same origin.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest

from sync.couch import CouchClient, split_credentials
from tests.deploy.conftest import DEMO
from tests.webapp import app_driver as app
from tests.webapp.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def role_id(account: dict, kind: str) -> str:
    """The id in the account's ``<kind>:<id>`` role."""
    return next(role.split(":", 1)[1] for role in account["roles"] if role.startswith(kind + ":"))


def county_day(client: httpx.Client, county_id: str, day: str, officer: dict) -> dict:
    answer = client.get(f"/api/v1/summaries/county/{county_id}", params={"from": day, "to": day},
                        auth=(officer["name"], officer["password"]))
    assert answer.status_code == 200, answer.text
    (row,) = answer.json()["days"]
    assert row["date"] == day
    return row


def file_offline_then_sync(origin: str, teacher: dict, day: str, on_server) -> str:
    """The teacher's part, in Chromium: enrol, pick the teacher, go offline, reload from the
    service worker, file ``day``'s report, go online, wait until it is synced. ``on_server()``
    tells whether the report has reached the school database. Returns the device's account."""
    from playwright.sync_api import sync_playwright

    doc_id = f"report:daily_health:{day}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
            context.set_default_timeout(20000)
            page = context.new_page()
            app.enrol(page, origin, teacher["name"], password=teacher["password"], label="prodlike tablet")
            app.pick_teacher(page, teacher["name"])
            app.wait_for_service_worker(page)
            assert page.evaluate("navigator.serviceWorker.controller.scriptURL") == origin + "/app/sw.js"

            context.set_offline(True)
            response = page.reload()
            assert response.from_service_worker, "the offline reload must be served by the service worker"
            page.wait_for_selector("main[data-screen=home]")
            page.wait_for_selector("#sync-bar[data-online=false]")
            app.fill_daily(page, day, app.DAILY)
            app.submit(page)
            app.wait_state(page, doc_id, "waiting")
            assert not on_server(), "filed offline, yet already on the server"

            context.set_offline(False)
            app.wait_state(page, doc_id, "synced")
            return page.evaluate("JSON.parse(localStorage.getItem('enrolment')).device")
        finally:
            browser.close()


def test_teacher_app_files_offline_through_the_origin_and_the_county_sees_it(stack):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium")
    pytest.importorskip("playwright.sync_api")
    origin = stack.origin
    teacher, officer = stack.accounts["teacher"], stack.accounts["county_officer"]
    school_id, county_id = role_id(teacher, "school"), role_id(officer, "county")
    school = next(doc for doc in stack.manifest.registry if doc["_id"] == f"school:{school_id}")
    assert school["county_id"] == county_id  # the officer's county
    # The day before the demo's first: no demo report that day, and unlike today (which
    # test_prodlike.py fills by /db/ for one county) no other test writes it either.
    day = (DEMO.start_date - timedelta(days=1)).isoformat()
    assert (school_id, day) not in stack.manifest.expected
    doc_id = f"report:daily_health:{day}"
    # Read straight from CouchDB as the admin: /db/ is for devices' own databases only.
    couch_base, *admin_auth = split_credentials(stack.couchdb_url)
    doc_url = f"{couch_base}/school_{school_id}/{quote(doc_id, safe='')}"

    with httpx.Client(base_url=origin, timeout=15) as client:
        before = county_day(client, county_id, day, officer)

        def on_server() -> bool:
            answer = httpx.get(doc_url, auth=tuple(admin_auth), timeout=15)
            assert answer.status_code in (200, 404), answer.text
            return answer.status_code == 200

        # In a thread of its own: the sync API refuses a thread where another Playwright
        # (e.g. tests/webapp's session browser, if that ran first) is still open.
        with ThreadPoolExecutor(max_workers=1) as pool:
            device = pool.submit(file_offline_then_sync, origin, teacher, day, on_server).result(timeout=120)

        synced = httpx.get(doc_url, auth=tuple(admin_auth), timeout=15)
        assert synced.status_code == 200, synced.text
        doc = synced.json()
        assert doc["school_id"] == school_id and doc["date"] == day
        assert doc["meta"]["author"] == teacher["name"] and doc["meta"]["device"] == device
        assert {name: doc["data"][name] for name in app.DAILY} == app.DAILY

        deadline = time.monotonic() + 90
        while (after := county_day(client, county_id, day, officer))["reports_received"] == before["reports_received"]:
            assert time.monotonic() < deadline, "the report never reached the county summary"
            time.sleep(0.3)

    assert after["reports_received"] == before["reports_received"] + 1
    assert after["zero_reports"] == before["zero_reports"]
    assert after["totals"] == {name: value + app.DAILY.get(name, 0) for name, value in before["totals"].items()}


def sign_in_and_change_as_admin(origin: str, admin: dict, new_name: str) -> dict:
    """Chromium signs in through the form, reads the session cookie's flags, and creates a
    user twice: with the admin page's form (token) and with fetch() (same-origin Origin)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.set_default_timeout(20000)
            page = context.new_page()
            page.goto(origin + "/login?next=/admin/users")
            page.fill("input[name=name]", admin["name"])
            page.fill("input[name=password]", admin["password"])
            page.click("button[type=submit]")
            page.wait_for_url(origin + "/admin/users")
            (cookie,) = [c for c in context.cookies() if c["name"] == "session"]
            page.fill("#create-user input[name=name]", new_name)
            page.select_option("#create-user select[name=kind]", "province_officer")
            page.click("#create-user button")
            page.wait_for_load_state()
            status = page.evaluate("""async (name) => (await fetch('/api/v1/admin/users', {method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({name, kind: 'province_officer', password: 'prodlike-pw-1'})})).status""",
                                   new_name + "x")
            return {"cookie": cookie, "fetch_status": status, "page": page.content()}
        finally:
            browser.close()


def test_officers_sign_in_with_a_secure_cookie_and_change_things_from_the_pages(stack):
    """Issue 12 (items 7, 15): the session cookie is Secure in the production layout, and
    Chromium keeps it on http://127.0.0.1 (a secure context); the CSRF check lets the
    service's own pages and same-origin fetch() through nginx."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium")
    pytest.importorskip("playwright.sync_api")
    new_name = f"pl{os.getpid()}{int(time.time())}"
    with ThreadPoolExecutor(max_workers=1) as pool:
        seen = pool.submit(sign_in_and_change_as_admin, stack.origin, stack.accounts["admin"], new_name
                           ).result(timeout=120)
    assert seen["cookie"]["secure"] and seen["cookie"]["httpOnly"] and seen["cookie"]["sameSite"] == "Lax"
    assert new_name in seen["page"]
    assert seen["fetch_status"] == 201
    with CouchClient(stack.couchdb_url) as couch:
        for name in (new_name, new_name + "x"):
            assert couch.db("_users").get_or_none(f"org.couchdb.user:{name}") is not None, name
            couch.delete_user(name)
