"""The admin pages in real Chromium: sign in, import the registry, create a user, see sync health."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from sync.provision import provision_core
from tests.areas import one_school_county

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "browser-admin-pw"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

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


# -- friendly failures (issue 13, item 6) ---------------------------------------------------------

@pytest.fixture
def small_area(couch):
    """A county with one school, a device at it, and accounts: a teacher, the county's officer."""
    with one_school_county(couch, "f", password=PASSWORD, roles={"teacher": "school", "officer": "county"},
                           device_label="王老师的平板") as area:
        yield area


def sign_in(page, name: str) -> None:
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_a_teacher_opening_a_county_page_gets_a_chinese_403_page_with_a_way_back(page, small_area):
    page.goto(f"/counties/{small_area['c']}")
    assert "/login" in page.url
    sign_in(page, small_area["teacher"])
    page.wait_for_selector("#error-page")
    assert page.locator("#error-page").get_attribute("data-code") == "403"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "没有权限查看此页面"
    assert '{"code"' not in page.content()
    assert page.locator("#back-to-landing").get_attribute("href") == "/app/"  # a teacher's landing page
    assert "/login" in page.locator("#sign-in-other").get_attribute("href")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "error-403-zh.png"), full_page=True)
    page.click("#lang-switch")  # the same page in English
    assert page.locator("h1").inner_text() == "You may not open this page"


def test_the_verification_upload_ends_on_a_results_page(page, small_area, tmp_path):
    listed = tmp_path / "health-list.csv"
    listed.write_text(f"school_id,date,suspected,confirmed\n{small_area['s']},2026-11-18,2,0\n")
    page.goto(f"/counties/{small_area['c']}")
    sign_in(page, small_area["officer"])
    form = page.locator("form[action$='/verification']").first
    form.locator("input[type=file]").set_input_files(str(listed))
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#verification-result")
    assert page.url.endswith(f"/counties/{small_area['c']}/verification")
    assert page.locator("#upload-saved").is_visible()
    assert page.locator("#verification-counts td.matched").inner_text() == "1"  # no confirmed cases on either side
    assert page.locator("#verification-counts td.mismatched").inner_text() == "1"
    row = page.locator(f"#mismatches tr[data-school='{small_area['s']}']")
    assert "芦山县第一小学" in row.inner_text() and "名单有、学校未报" in row.inner_text()
    assert page.locator("#back-to-county").get_attribute("href") == f"/counties/{small_area['c']}"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "verification-result-zh.png"), full_page=True)

    # a bad list: nothing stored, each line's problem shown, on the same page
    bad = tmp_path / "bad-list.csv"
    bad.write_text("school_id,date,suspected,confirmed\nnot-ours,2026-11-18,2,0\n")
    page.set_input_files("#verification-upload input[type=file]", str(bad))
    page.click("#verification-upload button[type=submit]")
    page.wait_for_selector("#upload-refused")
    assert "not-ours" in page.locator("#upload-errors").inner_text()


def test_revoking_a_device_asks_first_cancel_keeps_it_confirm_revokes(page, admin_account, small_area, couch):
    page.goto(f"/admin/schools/{small_area['s']}")
    sign_in(page, admin_account)
    page.wait_for_selector("#devices")
    record = f"device:{small_area['device']}"
    revoke = page.locator("#devices button.revoke")

    revoke.click()
    dialog = page.locator("#confirm-dialog")
    assert dialog.is_visible() and small_area["device"] in dialog.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-revoke-confirm.png"))
    page.click("#confirm-dialog-cancel")
    assert not dialog.is_visible()
    page.reload()
    assert couch.db("registry").get(record)["status"] == "active"
    assert page.locator("#devices button.revoke").count() == 1

    page.locator("#devices button.revoke").click()
    page.click("#confirm-dialog-ok")
    page.wait_for_selector("p.message")
    assert couch.db("registry").get(record)["status"] == "revoked"
    assert page.locator("#devices button.revoke").count() == 0


def test_the_audit_log_shows_chinese_as_chinese(page, admin_account, couch):
    from server.audit import AuditLog

    target = f"user:wang_{uuid.uuid4().hex[:8]}"
    AuditLog(couch).record(who=admin_account, action="user.update", target=target,
                           before={"display_name": "wang"}, after={"display_name": "王老师"})
    page.goto(f"/admin/audit?target={target}")
    sign_in(page, admin_account)
    page.wait_for_selector("table.audit")
    text = page.locator("table.audit").inner_text()
    assert "王老师" in text and "\\u738b" not in text
    answer = page.request.get(page.locator("a", has_text="CSV").get_attribute("href"))
    assert answer.status == 200 and "王老师" in answer.text()
