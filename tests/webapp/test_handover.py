"""The origin side of relay without signal (docs/relay.md): the device's key registered at
enrolment (or later, for a device enrolled before keys), the hand-over screen's codes, and
the honest "handed over (not yet confirmed)" state until the device's own sync confirms it.
The carrying side and the whole trip are in test_relay.py.
"""

from __future__ import annotations

import pytest

from mobile_schema import relay
from server.devices.keys import signature_verifies
from tests.webapp import app_driver as app
from tests.webapp.test_offline_reporting import enrolled_page, eventually

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HANDED_OVER_ZH = "已交给别的设备(尚未确认)"


def enrolment(page) -> dict:
    return page.evaluate("JSON.parse(localStorage.getItem('enrolment'))")


def page_public_key(page) -> str:
    return page.evaluate("import('/app/js/keys.js').then((keys) => keys.publicKeyB64url())")


def registry_record(couch, page) -> dict:
    return couch.db("registry").get(f"device:{enrolment(page)['device']}")


def stored_with_revisions(page, doc_id: str) -> dict:
    return page.evaluate("(id) => window.app.store.db.get(id, {revs: true})", doc_id)


def scan_canvas(page) -> str | None:
    """What jsQR (the carrier's decoder, vendored) reads from the code as drawn."""
    return page.evaluate("""async () => {
        if (!window.jsQR) {
            await new Promise((resolve, reject) => {
                const script = Object.assign(document.createElement('script'), {src: 'vendor/jsQR.js'});
                script.onload = resolve; script.onerror = reject; document.head.append(script);
            });
        }
        const canvas = document.getElementById('handover-code');
        const image = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        const found = window.jsQR(image.data, image.width, image.height);
        return found ? found.data : null;
    }""")


def test_a_handed_over_code_is_the_stored_report_signed_with_the_registered_key(new_context, service, school, couch):
    context, page = enrolled_page(new_context, service, school)
    record = registry_record(couch, page)
    assert record["public_key"] == page_public_key(page)
    assert enrolment(page)["key_registered"] is True

    context.set_offline(True)
    today = app.school_date(0)
    doc_id = f"report:daily_health:{today}"
    app.fill_daily(page, today, app.DAILY)
    app.submit(page)
    app.wait_state(page, doc_id, "waiting")

    page.locator("#handover-open").click()
    code = page.locator("#handover-code[data-payload]")
    code.wait_for()
    assert (code.get_attribute("data-index"), code.get_attribute("data-count"), code.get_attribute("data-level")) == (
        "1", "1", "Q")
    assert page.locator("#handover-position").inner_text() == "1 / 1"
    assert today in page.locator("#handover-what").inner_text()
    payload = code.get_attribute("data-payload")
    assert scan_canvas(page) == payload

    decoded = relay.decode_payload(payload)
    stored = stored_with_revisions(page, doc_id)
    assert decoded.doc == stored
    assert signature_verifies(record["public_key"], decoded.body_bytes, decoded.signature)

    page.locator("#handover-back").click()
    app.wait_state(page, doc_id, "handed_over")
    assert app.record(page, doc_id).locator(".badge.state").inner_text() == HANDED_OVER_ZH
    assert page.locator("#waiting-count").inner_text() == "1"  # not confirmed: still counted as waiting

    # A carrier delivers it (the relay writes the device's own revision), then the device
    # comes online: its push has nothing to send, and its sync confirms the revision.
    couch.db(school.db_name).bulk_docs([decoded.doc], new_edits=False)
    context.set_offline(False)
    app.wait_state(page, doc_id, "synced")
    on_server = couch.db(school.db_name).get(doc_id, conflicts=True)
    assert on_server["_rev"] == stored["_rev"] and "_conflicts" not in on_server


def test_several_codes_take_turns_and_only_pending_reports_are_handed_over(new_context, service, school):
    context, page = enrolled_page(new_context, service, school)
    page.locator("#handover-open").click()
    page.wait_for_selector("#handover-empty")
    page.locator("#handover-back").click()
    page.wait_for_selector("main[data-screen=home]")

    synced_date = app.school_date(-2)
    app.fill_daily(page, synced_date, app.DAILY)
    app.submit(page)
    app.wait_state(page, f"report:daily_health:{synced_date}", "synced")

    context.set_offline(True)
    dates = [app.school_date(0), app.school_date(-1)]
    for date in dates:
        app.fill_daily(page, date, app.DAILY)
        app.submit(page)
    # A draft (typed, never submitted) is not handed over.
    draft_id = f"report:daily_health:{app.school_date(-3)}"
    app.fill_daily(page, app.school_date(-3), {"students_enrolled": 99})
    page.locator("#back").click()
    app.wait_state(page, draft_id, "draft")

    page.locator("#handover-open").click()
    seen = {}
    for index in (1, 2):
        code = page.locator(f"#handover-code[data-index='{index}'][data-count='2']")
        code.wait_for(timeout=10_000)  # the codes advance by themselves every 2 s
        seen[index] = relay.decode_payload(code.get_attribute("data-payload")).doc["_id"]
    assert sorted(seen.values()) == sorted(f"report:daily_health:{d}" for d in dates)
    page.locator("#handover-next").click()
    assert page.locator("#handover-code").get_attribute("data-index") == "1"

    page.locator("#handover-back").click()
    for date in dates:
        app.wait_state(page, f"report:daily_health:{date}", "handed_over")
    app.wait_state(page, f"report:daily_health:{synced_date}", "synced")
    app.wait_state(page, draft_id, "draft")


def test_a_device_enrolled_before_keys_registers_one_when_online(new_context, service, school, couch):
    context, page = enrolled_page(new_context, service, school)
    registry = couch.db("registry")
    record = registry_record(couch, page)
    # As before this release: no key on the record, none on the device, nothing in the enrolment.
    for key in ("public_key", "key_registered_at"):
        record.pop(key, None)
    registry.put(record)
    page.evaluate("""async () => {
        const e = JSON.parse(localStorage.getItem('enrolment'));
        delete e.key_registered; delete e.key_registered_at;
        localStorage.setItem('enrolment', JSON.stringify(e));
        await new Promise((resolve) => {
            const r = indexedDB.deleteDatabase('device-keys'); r.onsuccess = r.onerror = r.onblocked = resolve;
        });
    }""")

    page.reload()
    page.wait_for_selector("main[data-screen=home]")
    eventually(lambda: enrolment(page).get("key_registered"), 30)
    assert registry_record(couch, page)["public_key"] == page_public_key(page)


def test_a_device_that_lost_its_key_says_so_instead_of_showing_codes_the_server_would_refuse(
        new_context, service, school, couch):
    context, page = enrolled_page(new_context, service, school)
    registered = registry_record(couch, page)["public_key"]
    page.evaluate("""() => new Promise((resolve) => {
        const r = indexedDB.deleteDatabase('device-keys'); r.onsuccess = r.onerror = r.onblocked = resolve;
    })""")

    page.reload()
    page.wait_for_selector("main[data-screen=home]")
    eventually(lambda: enrolment(page).get("key_refused"), 30)  # the service keeps the first key (409)
    assert enrolment(page)["key_registered"] is False
    assert registry_record(couch, page)["public_key"] == registered
    page.locator("#handover-open").click()
    assert "签名密钥已丢失" in page.locator("#handover-error").inner_text()
    assert page.locator("#handover-code").count() == 0


def test_codes_use_level_q_and_fall_back_to_m_only_when_q_cannot_hold_them(new_context, service):
    page = new_context().new_page()
    page.goto(service.url + "/app/icons/icon.svg")
    levels = page.evaluate("""async () => {
        const { makeQr } = await import('/app/js/handover.js');
        (0, eval)(await (await fetch('/app/vendor/qrcode.js')).text());  // a classic script: defines qrcode
        const text = (n) => 'SR1:1/1:' + 'A1 $%*+-./:'.repeat(n).slice(0, n - 8);
        const made = (n) => { const m = makeQr(window.qrcode, text(n)); return m && [m.level, m.qr.getModuleCount()]; };
        return {daily: made(706), q_full: made(2420), m_only: made(3391), none: made(3392)};
    }""")
    assert levels["daily"] == ["Q", 101]  # version 21, as bench/RESULTS-relay.md says
    assert levels["q_full"] == ["Q", 177] and levels["m_only"] == ["M", 177]  # version 40 at each level
    assert levels["none"] is None
