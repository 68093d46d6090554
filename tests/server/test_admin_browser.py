"""The admin pages in real Chromium: sign in, import the registry, create a user, see sync health."""

from __future__ import annotations

import os
import uuid

import pytest

from sync.provision import provision_core

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "browser-admin-pw"

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing")]


@pytest.fixture
def admin_account(couch):
    name = f"badm_{uuid.uuid4().hex[:8]}"
    provision_core(couch)
    couch.put_user(name, password=PASSWORD, roles=["admin"])
    yield name
    couch.delete_user(name)


@pytest.fixture
def page(live_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=live_server)
        context.set_default_timeout(60_000)  # generous: CI machines are shared
        yield context.new_page()
        context.close()
        browser.close()


def test_admin_signs_in_imports_creates_a_user_and_sees_sync_health(page, admin_account, couch, tmp_path):
    run = uuid.uuid4().hex[:8]
    page.goto("/admin/")
    assert "/login" in page.url
    page.fill("input[name=name]", admin_account)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")

    # import: a file with a bad row is refused with its line; the fixed file goes in
    bad = tmp_path / "schools_bad.csv"
    bad.write_text(f"id,county_id,name,opened\nbs{run},no-county,Bad school,2020-01-01\n")
    page.click("text=学校 Schools")
    page.set_input_files("#import-form input[type=file]", str(bad))
    page.select_option("#import-form select[name=kind]", "schools")
    page.click("#import-form button[type=submit]")
    errors = page.locator("#import-errors")
    assert "county no-county" in errors.inner_text() and "2" in errors.locator("td").nth(1).inner_text()
    assert couch.db("registry").get_or_none(f"school:bs{run}") is None

    # one CSV per kind: prefectures, then counties, then schools
    prefectures = tmp_path / "prefectures.csv"
    prefectures.write_text(f"id,name\nbp{run},Browser prefecture\n")
    counties = tmp_path / "counties.csv"
    counties.write_text(f"id,prefecture_id,name\nbc{run},bp{run},Browser county\n")
    schools = tmp_path / "schools.csv"
    schools.write_text(f"id,county_id,name,opened\nbs{run},bc{run},Browser school,2020-01-01\n")
    for path, kind in ((prefectures, "prefectures"), (counties, "counties"), (schools, "schools")):
        page.set_input_files("#import-form input[type=file]", str(path))
        page.select_option("#import-form select[name=kind]", kind)
        page.click("#import-form button[type=submit]")
        assert page.locator("#import-result").is_visible()
    assert couch.db("registry").get(f"school:bs{run}")["prefecture_id"] == f"bp{run}"

    # the school's page: provision its database
    page.goto(f"/admin/schools/bs{run}")
    page.click("text=创建/修复 Provision")
    assert page.locator("#database").is_visible()

    # create a teacher for it: the password is shown once, and the roster has the teacher
    page.click("text=用户 Users")
    page.fill("#create-user input[name=name]", f"bt{run}")
    page.select_option("#create-user select[name=kind]", "teacher")
    page.fill("#create-user input[name=scope]", f"bs{run}")
    page.fill("#create-user input[name=display_name]", "Browser Teacher")
    page.click("#create-user button")
    password = page.locator("#new-password").inner_text()
    assert couch.session(f"bt{run}", password)["roles"] == [f"school:bs{run}"]
    page.goto(f"/admin/schools/bs{run}")
    assert f"bt{run}" in page.locator("#roster").inner_text()

    # sync health: the new school has no device, so it has never synced
    page.goto(f"/admin/sync-health?days=1&county_id=bc{run}")
    row = page.locator("#stale-schools tr", has_text=f"bs{run}")
    assert "never" in row.inner_text()
    csv_link = page.locator("a", has_text="CSV").get_attribute("href")
    assert csv_link and "sync-health.csv" in csv_link
    answer = page.request.get(csv_link)
    assert answer.status == 200 and f"bs{run}" in answer.text()

    # and the audit page shows what was done
    page.goto("/admin/audit")
    text = page.locator("table.audit").inner_text()
    for action in ("registry.import", "user.create", "roster.change", "database.provision"):
        assert action in text
    couch.delete_user(f"bt{run}")
    couch.db(f"school_bs{run}").delete_database()
