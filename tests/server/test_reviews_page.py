"""The review queue and alerts as pages: a county officer decides a hard conflict and
acknowledges an alert from the page (signed in with the sign-in form, forms with the CSRF
token), the school's document is written as the API would write it, both are audited, and
officers of another county are refused. The browser test does the same in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sync import run_until_idle
from sync.provision import OPS_DB, REGISTRY_DB
from tests.server.test_dashboard_browser import ARTIFACTS, CHROMIUM
from tests.sync import test_worker_support as support
from tests.sync.test_conflicts import _base_and_branches, live
from tests.sync.test_worker_support import COUNTY, PREFECTURE, days_ago, put_branch, report

world = support.world  # fixture
PASSWORD = "page-pw"


@pytest.fixture
def officers(couch, run_id):
    names = {"own": f"officer_rp{run_id}", "other": f"other_rp{run_id}"}
    couch.put_user(names["own"], password=PASSWORD, roles=[f"county:{COUNTY}"])
    couch.put_user(names["other"], password=PASSWORD, roles=["county:elsewhere"])
    yield names
    for name in names.values():
        couch.delete_user(name)


@pytest.fixture
def queue(world, officers):
    """A hard conflict (``notes``) in one school and a fever alert in another, after a worker run."""
    registry = world.couch.db(REGISTRY_DB)
    made_county = registry.get_or_none(f"county:{COUNTY}") is None
    if made_county:  # alerts need the county in the registry
        registry.put({"_id": f"county:{COUNTY}", "type": "county", "prefecture_id": PREFECTURE,
                      "name": "测试县"})
    school = world.add_school()
    db, doc_id = _base_and_branches(world, school, {"notes": "A says"}, {"notes": "B says"})
    feverish = world.add_school()
    put_branch(world.db(feverish), report(feverish, days_ago(1), fever_at_check=9), "1-cccc", [])
    run_until_idle(world.couch, world.settings())
    [review] = [d for d in world.ops_docs("review_item") if d["doc_id"] == doc_id and d["db"] == db.name]
    alert_id = f"{feverish}:{days_ago(1)}:fever_rate"
    yield {"review": review, "db": db, "doc_id": doc_id, "alert_id": alert_id, "names": officers}
    if made_county:
        doc = registry.get(f"county:{COUNTY}")
        registry.delete(doc["_id"], doc["_rev"])


def sign_in(client, name: str) -> str:
    """Sign in with the form; returns the session's CSRF token."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    assert client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token}).status_code == 302
    page = client.get("/reviews").get_data(as_text=True)  # signing in starts a new session, with a new token
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


def audits(couch, **match) -> list[dict]:
    rows = couch.db(OPS_DB).all_docs(include_docs=True, startkey="audit:", endkey="audit:\ufff0")["rows"]
    return [r["doc"] for r in rows if all(r["doc"].get(k) == v for k, v in match.items())]


def test_officer_decides_a_review_from_the_page(app, couch, queue):
    client = app.test_client()
    review = queue["review"]
    token = sign_in(client, queue["names"]["own"])
    listing = client.get(f"/reviews?county={COUNTY}&lang=zh").get_data(as_text=True)
    assert review["_id"] in listing and "多台设备修改冲突" in listing
    page = client.get(f"/reviews/{review['_id']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'class="differs" data-field="notes"' in html and "A says" in html and "B says" in html
    assert "备注" in html  # the field's label from mobile_schema, in Chinese

    missing_choice = client.post(f"/reviews/{review['_id']}", data={"csrf_token": token, "action": "merge"})
    assert missing_choice.status_code == 422 and "请为每个不一致的字段" in missing_choice.get_data(as_text=True)
    no_token = client.post(f"/reviews/{review['_id']}", data={"action": "close"})
    assert no_token.status_code == 403

    decided = client.post(f"/reviews/{review['_id']}", data={
        "csrf_token": token, "action": "merge", "pick:notes": "enter", "enter:notes": "checked by phone",
        "note": "called the school"})
    assert decided.status_code == 302
    shown = client.get(decided.headers["Location"]).get_data(as_text=True)
    assert "已保存" in shown and "called the school" in shown
    [current] = live(queue["db"], queue["doc_id"])
    assert current["data"]["notes"] == "checked by phone" and current["meta"]["author"] == queue["names"]["own"]
    stored = couch.db(OPS_DB).get(review["_id"])
    assert stored["status"] == "resolved" and stored["decision"]["note"] == "called the school"
    [record] = audits(couch, review_id=review["_id"])
    assert record["who"] == queue["names"]["own"] and record["after"]["note"] == "called the school"
    again = client.post(f"/reviews/{review['_id']}", data={"csrf_token": token, "action": "close"})
    assert again.status_code == 409 and "无法保存" in again.get_data(as_text=True)


def test_keep_one_version(app, couch, queue):
    client = app.test_client()
    token = sign_in(client, queue["names"]["own"])
    html = client.get(f"/reviews/{queue['review']['_id']}").get_data(as_text=True)
    # the column whose notes are "B says"
    columns = [v for v in re.findall(r'name="pick:notes" value="v(\d)"[^>]*> (\w+ says)', html)]
    keep = next(i for i, text in columns if text == "B says")
    answer = client.post(f"/reviews/{queue['review']['_id']}", data={"csrf_token": token, "keep": keep})
    assert answer.status_code == 302
    [current] = live(queue["db"], queue["doc_id"])
    assert current["data"]["notes"] == "B says"


def test_other_county_is_refused(app, queue):
    client = app.test_client()
    token = sign_in(client, queue["names"]["other"])
    review_id = queue["review"]["_id"]
    assert client.get(f"/reviews?county={COUNTY}").status_code == 403
    assert client.get(f"/reviews/{review_id}").status_code == 403
    assert client.post(f"/reviews/{review_id}", data={"csrf_token": token, "action": "close"}).status_code == 403
    assert client.get("/reviews/review:nothing-here").status_code == 404
    assert review_id not in client.get("/reviews").get_data(as_text=True)  # own counties only
    assert client.get(f"/alerts?county={COUNTY}").status_code == 403
    ack = client.post(f"/alerts/{queue['alert_id']}/ack", data={"csrf_token": token, "note": "x"})
    assert ack.status_code == 403
    assert client.get("/alerts/nosuchschool:2020-01-01:cases/ack").status_code == 404


def test_officer_acknowledges_an_alert_from_the_page(app, couch, queue):
    client = app.test_client()
    token = sign_in(client, queue["names"]["own"])
    alert_id = queue["alert_id"]
    assert client.get("/alerts").headers["Location"].startswith(f"/alerts?county={COUNTY}")
    page = client.get(f"/alerts?county={COUNTY}&date={days_ago(1)}&lang=en").get_data(as_text=True)
    assert f'data-alert="{alert_id}"' in page and "High fever rate" in page and "Acknowledge" in page
    empty = client.post(f"/alerts/{alert_id}/ack", data={"csrf_token": token, "note": "  "})
    assert empty.status_code == 422 and "Write a note." in empty.get_data(as_text=True)
    saved = client.post(f"/alerts/{alert_id}/ack", data={"csrf_token": token, "note": "nurse checked 9 pupils"})
    assert saved.status_code == 302
    shown = client.get(saved.headers["Location"]).get_data(as_text=True)
    row = shown.split(f'data-alert="{alert_id}"', 1)[1].split("</tr>", 1)[0]
    assert "nurse checked 9 pupils" in row and queue["names"]["own"] in row and "ack-form" not in row
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", row)  # local time, not an ISO string
    api = client.get(f"/api/v1/alerts/{alert_id}/ack").get_json()
    assert api["acknowledged"]["note"] == "nurse checked 9 pupils"
    [record] = audits(couch, action="alert_ack", target=f"alert/{alert_id}")
    assert record["who"] == queue["names"]["own"] and record["after"] == {"note": "nurse checked 9 pupils"}


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")
def test_browser_decides_a_review_and_acknowledges_an_alert(live_server, couch, queue):
    from playwright.sync_api import sync_playwright

    review_id = queue["review"]["_id"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{live_server}/reviews?lang=zh")
            page.fill("input[name=name]", queue["names"]["own"])
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#open-reviews")
            assert "审核队列" in page.inner_text("h1")
            page.click(f'tr[data-review="{review_id}"] a')
            page.wait_for_selector("#compare")
            assert page.locator('#compare tr.differs[data-field="notes"]').count() == 1
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "review-page-zh.png"), full_page=True)
            page.check('tr[data-field="notes"] input[type=radio][value=enter]')
            page.fill('input[name="enter:notes"]', "电话核实")
            page.fill("textarea[name=note]", "已与学校电话确认")
            page.click("#save-merge")
            page.wait_for_selector("#saved")
            assert page.inner_text(".decision-note") == "已与学校电话确认"
            assert page.inner_text(".decided-by") == queue["names"]["own"]
            [current] = live(queue["db"], queue["doc_id"])
            assert current["data"]["notes"] == "电话核实"
            assert couch.db(OPS_DB).get(review_id)["status"] == "resolved"

            assert page.locator("#nav-reviews").count() == 1 and page.locator("#nav-alerts").count() == 1
            page.goto(f"{live_server}/alerts?county={COUNTY}&date={days_ago(1)}")
            row = page.locator(f'tr[data-alert="{queue["alert_id"]}"]')
            row.locator("input[name=note]").fill("校医已复查")
            row.locator("button[type=submit]").click()
            page.wait_for_selector("#saved")
            row = page.locator(f'tr[data-alert="{queue["alert_id"]}"]')
            assert row.locator(".ack-note").inner_text() == "校医已复查"
            assert row.locator(".ack-by").inner_text() == queue["names"]["own"]
            assert "年" in row.locator(".ack-at").inner_text()  # Chinese local date
            page.screenshot(path=str(ARTIFACTS / "alerts-page-zh.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
