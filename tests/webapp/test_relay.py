"""Relay without signal (docs/relay.md), end to end with two Chromiums as two devices.

Device A, offline, files a report and shows it as a hand-over code. The test photographs
the code (JPEG frames, the code centred on white) into an MJPEG file, and device B, a
second Chromium whose fake camera plays that file, scans it in the app's "Carry" screen,
carries it for A's school and uploads it. The county then counts the report once, also
after A comes online and syncs the same revision itself.
"""

from __future__ import annotations

import base64

import pytest

from server.admin.devices import DeviceAdmin
from server.audit import AuditLog
from tests.webapp import app_driver as app
from tests.webapp.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, TEACHER_PASSWORD
from tests.webapp.test_offline_reporting import eventually, run_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FRAME = {"width": 640, "height": 480}
FRAMES_PER_CODE = 30  # the fake camera loops over the file; a code stays in view a while


def enrolled(context, service, school, label):
    page = context.new_page()
    app.enrol(page, service.url, school.teacher, label=label)
    app.pick_teacher(page, school.teacher)
    app.wait_for_service_worker(page)
    return page


def device_name(page) -> str:
    return page.evaluate("JSON.parse(localStorage.getItem('enrolment')).device")


def wait_for_key(couch, device: str) -> None:
    """The device's public key is on its registry record (sent with the enrolment)."""
    eventually(lambda: (couch.db("registry").get_or_none(f"device:{device}") or {}).get("public_key"), 60)


def file_offline_reports(context, page, *dates: str) -> list[str]:
    context.set_offline(True)
    doc_ids = []
    for date in dates:
        app.fill_daily(page, date, app.DAILY)
        app.submit(page)
        doc_ids.append(f"report:daily_health:{date}")
    for doc_id in doc_ids:
        app.wait_state(page, doc_id, "waiting")
    return doc_ids


def hand_over(page) -> list[dict]:
    """Open the hand-over screen; every code it shows, in order: {index, count, payload, png}."""
    page.locator("#handover-open").click()
    code = page.locator("#handover-code[data-payload]")
    code.wait_for()
    count = int(code.get_attribute("data-count"))
    shown = []
    for index in range(1, count + 1):
        current = page.locator(f"#handover-code[data-index='{index}']")
        current.wait_for()  # several codes take turns by themselves
        shown.append({"index": index, "count": count, "payload": current.get_attribute("data-payload"),
                      "png": current.screenshot(type="png")})
    return shown


def camera_file(compose_page, codes: list[dict], path) -> None:
    """An MJPEG file (concatenated JPEGs) of fixed-size frames, each code centred on white."""
    compose_page.set_viewport_size(FRAME)
    frames = []
    for code in codes:
        image = base64.b64encode(code["png"]).decode()
        compose_page.set_content(
            "<body style='margin:0;background:#fff'><div style='width:640px;height:480px;display:flex;"
            "align-items:center;justify-content:center'><img style='max-width:600px;max-height:460px' "
            f"src='data:image/png;base64,{image}'></div></body>")
        compose_page.wait_for_function("document.images[0].complete && document.images[0].naturalWidth > 0")
        frames.append(compose_page.screenshot(type="jpeg", quality=92, clip={"x": 0, "y": 0, **FRAME}))
    path.write_bytes(b"".join(frame * FRAMES_PER_CODE for frame in frames))


@pytest.fixture
def camera_browser(browser):
    """Launch a second Chromium whose camera plays a given MJPEG file; closed after the test."""
    launched = []

    def launch(video_file):
        chromium = browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + [
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video_file}"])
        launched.append(chromium)
        context = chromium.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=1,
                                       locale="zh-CN", permissions=["camera"])
        context.set_default_timeout(60_000)
        return context

    yield launch
    for chromium in launched:
        chromium.close()


def carried(page, state: str, school_id: str, timeout: float = 60_000):
    item = page.locator(f"#carry-list li.carry-item[data-state='{state}'][data-school='{school_id}']")
    item.wait_for(timeout=timeout)
    return item


def reports_counted(api, school, first: str, last: str) -> dict[str, int]:
    """The county summary's reports received, by date."""
    answer = api.get(f"/api/v1/summaries/county/{school.county_id}", params={"from": first, "to": last},
                     auth=(school.officer, TEACHER_PASSWORD))
    assert answer.status_code == 200, answer.text
    return {day["date"]: day["reports_received"] for day in answer.json()["days"]}


def test_reports_carried_by_another_schools_device_are_counted_once(
        new_context, camera_browser, service, school, other_school, couch, couch_url, api, tmp_path):
    yesterday, today = app.school_date(-1), app.school_date(0)
    context_a = new_context()
    page_a = enrolled(context_a, service, school, "school 1 tablet")
    origin = device_name(page_a)
    wait_for_key(couch, origin)
    doc_ids = file_offline_reports(context_a, page_a, yesterday, today)
    filed = {doc_id: page_a.evaluate(f"window.app.store.getDoc('{doc_id}')") for doc_id in doc_ids}
    codes = hand_over(page_a)
    assert [(c["index"], c["count"]) for c in codes] == [(1, 2), (2, 2)]

    video = tmp_path / "handover.mjpeg"
    camera_file(new_context().new_page(), codes, video)
    context_b = camera_browser(video)
    page_b = enrolled(context_b, service, other_school, "school 2 tablet")

    # B scans with no connection either: it checks the code offline and carries it.
    context_b.set_offline(True)
    page_b.locator("#carry-open").click()
    page_b.wait_for_selector("main[data-screen=carry]")
    page_b.wait_for_selector("#carry-progress[data-got='2'][data-count='2']")
    assert page_b.locator("#carry-progress").inner_text() == "已扫描 2 / 2"
    summary = page_b.locator("#carry-count[data-carrying='2']")
    assert summary.inner_text().startswith("正在代为上传 2 份报告") and school.id in summary.inner_text()
    items = page_b.locator("#carry-list li.carry-item[data-state='carrying']")
    shown = items.evaluate_all("(els) => els.map((el) => [el.dataset.docId, el.dataset.school, el.dataset.origin])")
    assert sorted(shown) == sorted([doc_id, school.id, origin] for doc_id in doc_ids)
    assert any(today in text and "每日健康报告" in text for text in items.all_inner_texts())
    stored = page_b.evaluate("window.app.carrier.entries()")
    assert sorted(e["_id"] for e in stored) == sorted(f"carry:{origin}:{d}:{filed[d]['_rev']}" for d in doc_ids)
    assert sorted(e["payload"] for e in stored) == sorted(c["payload"] for c in codes)
    # Carried on the side: never in B's own school database.
    assert all(page_b.evaluate(f"window.app.store.getDoc('{d}')") is None for d in doc_ids)

    context_b.set_offline(False)  # the 'online' event uploads them
    page_b.wait_for_selector("#carry-count[data-carrying='0']")
    delivered = page_b.locator(f"#carry-list li.carry-item[data-state='delivered'][data-school='{school.id}']")
    assert delivered.count() == 2 and "已送达" in delivered.first.inner_text()
    for entry in page_b.evaluate("window.app.carrier.entries()"):
        assert entry["state"] == "delivered" and "payload" not in entry and entry["delivered_at"]
    ARTIFACTS.mkdir(exist_ok=True)
    page_b.screenshot(path=str(ARTIFACTS / "carry_delivered_360.png"), full_page=True)

    school_db = couch.db(school.db_name)
    for doc_id in doc_ids:
        assert couch.db(other_school.db_name).get_or_none(doc_id) is None
        relayed = school_db.get(doc_id)
        assert relayed["_rev"] == filed[doc_id]["_rev"] and relayed["data"] == filed[doc_id]["data"]
        assert relayed["meta"] == filed[doc_id]["meta"]  # the origin device's, submit time included
    run_worker(couch_url, school.db_name)
    assert reports_counted(api, school, yesterday, today) == {yesterday: 1, today: 1}

    # A comes online and syncs the revision the server already has: no second copy, no conflict.
    page_a.locator("#handover-back").click()
    page_a.wait_for_selector("main[data-screen=home]")
    context_a.set_offline(False)
    page_a.locator("#sync-now").click()
    for doc_id in doc_ids:
        app.wait_state(page_a, doc_id, "synced", timeout=90_000)
        assert school_db.find_conflicted(doc_id) == []
        assert school_db.get(doc_id)["_rev"] == filed[doc_id]["_rev"]
    run_worker(couch_url, school.db_name)
    assert reports_counted(api, school, yesterday, today) == {yesterday: 1, today: 1}


def test_a_code_from_a_device_revoked_meanwhile_is_refused_and_can_be_discarded(
        new_context, camera_browser, service, school, other_school, couch, tmp_path):
    today = app.school_date(0)
    context_a = new_context()
    page_a = enrolled(context_a, service, school, "lost tablet")
    origin = device_name(page_a)
    wait_for_key(couch, origin)
    [doc_id] = file_offline_reports(context_a, page_a, today)
    codes = hand_over(page_a)
    DeviceAdmin(couch, AuditLog(couch)).revoke(who="admin", school_id=school.id, device=origin)

    video = tmp_path / "handover.mjpeg"
    camera_file(new_context().new_page(), codes, video)
    context_b = camera_browser(video)
    page_b = enrolled(context_b, service, other_school, "school 2 tablet")
    page_b.locator("#carry-open").click()
    refused = carried(page_b, "refused", school.id)
    reason = refused.locator(".reason").inner_text()
    assert reason.strip(), "the server's reason is shown"
    assert page_b.evaluate("window.app.carrier.entries()")[0]["code"] == "revoked"
    assert couch.db(school.db_name).get_or_none(doc_id) is None

    ARTIFACTS.mkdir(exist_ok=True)
    page_b.screenshot(path=str(ARTIFACTS / "carry_refused_360.png"), full_page=True)
    refused.locator("button.carry-discard").click()
    page_b.wait_for_selector("#carry-list li.carry-item", state="detached")
    assert page_b.evaluate("window.app.carrier.entries()") == []

    # Leaving the screen turns the camera off.
    page_b.evaluate("window.cameraTracks = document.getElementById('carry-video').srcObject.getTracks()")
    page_b.locator("#back").click()
    page_b.wait_for_selector("main[data-screen=home]")
    assert page_b.evaluate("window.cameraTracks.map((track) => track.readyState)") == ["ended"]


def test_a_visiting_inspector_s_device_carries_a_school_s_report(
        new_context, camera_browser, service, school, inspector, couch, couch_url, api, tmp_path):
    today = app.school_date(0)
    context_a = new_context()
    page_a = enrolled(context_a, service, school, "school tablet")
    wait_for_key(couch, device_name(page_a))
    [doc_id] = file_offline_reports(context_a, page_a, today)
    filed = page_a.evaluate(f"window.app.store.getDoc('{doc_id}')")
    codes = hand_over(page_a)

    video = tmp_path / "handover.mjpeg"
    camera_file(new_context().new_page(), codes, video)
    context_b = camera_browser(video)
    page_b = context_b.new_page()
    app.enrol(page_b, service.url, inspector.username, label="赵督导的手机")
    app.pick_teacher(page_b, inspector.username)
    page_b.locator("#carry-open").click()  # online: it uploads as soon as it has scanned
    carried(page_b, "delivered", school.id)

    stored = couch.db(school.db_name).get(doc_id)
    assert stored["_rev"] == filed["_rev"] and stored["meta"]["device"] == device_name(page_a)
    assert couch.db(inspector.db_name).get_or_none(doc_id) is None  # not in the inspector's own database
    (record,) = AuditLog(couch).for_document(school.db_name, doc_id)
    assert record["action"] == "relay" and record["after"]["carrier_name"] == "赵督导的手机"
    run_worker(couch_url, school.db_name)
    assert reports_counted(api, school, today, today) == {today: 1}
