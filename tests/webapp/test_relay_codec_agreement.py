"""The relay wire format (docs/relay.md) spoken by both sides: ``webapp/js/relay_codec.js``
running in Chromium (signing with ``webapp/js/keys.js``) and ``mobile_schema/relay.py``.

A code made in the browser decodes in Python to the very document, its body bytes are the
bytes Python packs for it, and its signature verifies with the key the browser exports; a
code made in Python decodes in the browser; and both refuse the same malformed codes.
"""

from __future__ import annotations

import base64
import copy
import json
import zlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mobile_schema import examples, relay
from mobile_schema.errors import MalformedPayload
from server.devices.keys import sign_as_device, signature_verifies

OTHER_DEVICE = "device_0123456789abcdef0123456789abcdef"


def clock(wall: int, counter: int = 0, device: str = examples.DEVICE) -> str:
    return f"{wall:015d}:{counter:05d}:{device}"


def stored(doc: dict, *revision_ids: str) -> dict:
    """``doc`` as ``db.get(id, {revs: true})`` returns it: ``_rev`` and ``_revisions``."""
    ids = list(revision_ids) or ["0d1c2b3a49586776a5b4c3d2e1f00112"]
    return {**doc, "_rev": f"{len(ids)}-{ids[0]}", "_revisions": {"start": len(ids), "ids": ids}}


def daily_every_field_clocked() -> dict:
    doc = examples.daily_health()
    doc["meta"]["clocks"] = {name: {"at": clock(1_795_000_000_000 + i), "base": None}
                             for i, name in enumerate(doc["data"])}
    return stored(doc)


def correction_three_revisions() -> dict:
    doc = examples.daily_health(students_present=113, notes="两名学生下午返校 (2 back after lunch)")
    doc["meta"]["clocks"] = {
        "students_present": {"at": clock(1_795_000_900_000, 2), "base": clock(1_795_000_000_000)},
        "notes": {"at": clock(1_795_000_800_000, 0, OTHER_DEVICE), "base": None},
    }
    return stored(doc, "c" * 32, "b" * 32, "a" * 32)


def object_shapes() -> dict:
    """Everything that does not fit the arrays: a missing field, meta with a key of its own,
    an explicit null place, a key outside the body, a clock of a field that is not one."""
    doc = examples.daily_health()
    del doc["data"]["notes"]
    doc["meta"]["reviewed"] = True
    doc["meta"]["clocks"] = {"retired_field": {"at": clock(1_795_000_000_000), "base": "not a clock"}}
    doc["county_id"] = None
    doc["relay_note"] = {"nested": [1, 2.5, "三"]}
    return stored(doc, "d" * 32, "e" * 32)


def without_clocks() -> dict:
    doc = examples.explanation()
    del doc["meta"]["clocks"]
    return stored(doc)


DOCS = {
    "daily, a clock per field": daily_every_field_clocked,
    "correction, 3 revisions, another device's clock": correction_three_revisions,
    "objects where arrays do not fit": object_shapes,
    "incident (nested lists, text)": lambda: stored(examples.incident()),
    "inspection (county and school)": lambda: stored(examples.inspection()),
    "explanation (Chinese text)": lambda: stored(examples.explanation()),
    "meta without clocks": without_clocks,
}


@pytest.fixture
def codec_page(new_context, service):
    """A page on the service's origin (not the app, so no service worker) that has imported
    the codec and created this device's key with keys.js."""
    page = new_context().new_page()
    page.goto(service.url + "/app/icons/icon.svg")
    page.evaluate("""async () => {
        window.codec = await import('/app/js/relay_codec.js');
        window.keys = await import('/app/js/keys.js');
        await window.keys.createKeyPair();
        window.schemaFor = async (form, version) => {
            const schema = await (await fetch('/api/v1/forms/' + form)).json();
            return schema['x-form'].schema_version === version ? schema : null;
        };
    }""")
    return page


def encode_in_browser(page, doc: dict, index: int = 1, count: int = 1) -> dict:
    return page.evaluate("""async ([docJson, index, count]) => {
        const doc = JSON.parse(docJson);
        const schema = await window.schemaFor(doc.form, doc.schema_version);
        return {
            text: await window.codec.encodePayload(doc, schema, window.keys.sign, index, count),
            body: JSON.stringify(window.codec.packDocument(doc, schema)),
            publicKey: await window.keys.publicKeyB64url(),
            extractable: (await window.keys.keyPair()).privateKey.extractable,
        };
    }""", [json.dumps(doc, ensure_ascii=False), index, count])


@pytest.mark.parametrize("make", DOCS.values(), ids=DOCS.keys())
def test_a_code_made_in_the_browser_decodes_in_python_and_its_signature_verifies(codec_page, make):
    doc = make()
    made = encode_in_browser(codec_page, doc, 2, 3)

    assert made["text"].startswith("SR1:2/3:")
    decoded = relay.decode_payload(made["text"])
    assert decoded.doc == doc
    assert (decoded.index, decoded.count, decoded.origin_device) == (2, 3, examples.DEVICE)
    assert decoded.body_bytes == made["body"].encode("utf-8") == relay.body_bytes(doc)
    assert signature_verifies(made["publicKey"], decoded.body_bytes, decoded.signature)
    assert not signature_verifies(made["publicKey"], decoded.body_bytes + b" ", decoded.signature)
    assert made["extractable"] is False
    assert len(base64.urlsafe_b64decode(made["publicKey"] + "=")) == 65


def test_the_browser_sends_values_in_field_order_and_own_clocks_as_numbers(codec_page):
    doc = daily_every_field_clocked()
    body = json.loads(encode_in_browser(codec_page, doc)["body"])

    assert body[:9] == [1, "daily_health", 2, doc["_id"], [1, doc["_revisions"]["ids"]], "report",
                        examples.SCHOOL, None, doc["date"]]
    assert body[9] == [doc["data"][name] for name in relay.field_order("daily_health", 2)]
    assert body[10] == [doc["meta"][k] for k in relay.META_KEYS]
    order = relay.field_order("daily_health", 2)
    assert body[11] == [[order.index(name), [1_795_000_000_000 + i, 0], None] for i, name in enumerate(doc["data"])]
    assert body[12] == {}


def test_a_version_the_browser_has_no_schema_for_goes_as_an_object(codec_page):
    doc = stored(examples.daily_health_v1())
    made = encode_in_browser(codec_page, doc)

    body = json.loads(made["body"])
    assert body[9] == doc["data"] and body[11] == [["absent", [1_795_000_000_000, 0], None]]
    assert relay.decode_payload(made["text"]).doc == doc


def python_signer():
    key = ec.generate_private_key(ec.SECP256R1())
    return lambda body: sign_as_device(key, body)


@pytest.mark.parametrize("make", DOCS.values(), ids=DOCS.keys())
def test_a_code_made_in_python_decodes_in_the_browser(codec_page, make):
    doc = make()
    text = relay.encode_payload(doc, python_signer(), 1, 2)

    seen = codec_page.evaluate("""async (text) => {
        const decoded = await window.codec.decodePayload(text, window.schemaFor);
        return {
            doc: JSON.stringify(decoded.doc), body: new TextDecoder().decode(decoded.body),
            signature: decoded.signature.length, index: decoded.index, count: decoded.count,
            inspected: await window.codec.inspectPayload(text),
        };
    }""", text)
    assert json.loads(seen["doc"]) == doc
    assert seen["body"].encode("utf-8") == relay.body_bytes(doc)
    assert (seen["signature"], seen["index"], seen["count"]) == (64, 1, 2)
    assert seen["inspected"] == {
        "index": 1, "count": 2, "form": doc["form"], "schema_version": doc["schema_version"], "doc_id": doc["_id"],
        "rev": doc["_rev"], "school_id": doc.get("school_id"), "county_id": doc.get("county_id"),
        "date": doc.get("date"), "origin_device": examples.DEVICE,
    }


def test_without_the_schema_the_browser_inspects_but_does_not_decode(codec_page):
    text = relay.encode_payload(stored(examples.daily_health_v1()), python_signer())

    seen = codec_page.evaluate("""async (text) => {
        const inspected = await window.codec.inspectPayload(text);
        try { await window.codec.decodePayload(text, window.schemaFor); return {inspected, error: null}; }
        catch (err) { return {inspected, error: err.message}; }
    }""", text)
    assert seen["inspected"]["schema_version"] == 1 and seen["inspected"]["form"] == "daily_health"
    assert seen["error"] == ("the schema of daily_health version 1 is needed to decode this payload "
                             "and is not on this device")


def frame_text(body: bytes | str, *, deflate: bool = True, head: str = "SR1:1/1:") -> str:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    packed = zlib.compress(raw, wbits=-15) if deflate else raw
    return head + relay.base45_encode(b"\x07" * 64 + packed)


def malformed_codes() -> dict:
    good_body = relay.body_bytes(stored(examples.daily_health()))
    packed = json.loads(good_body)
    no_device = copy.deepcopy(packed)
    no_device[10][1] = None
    clash = copy.deepcopy(packed)
    clash[12] = {"school_id": "s_other"}
    future = copy.deepcopy(packed)
    future[0] = 2
    return {
        "another prefix": frame_text(good_body, head="SR2:1/1:"),
        "index past count": frame_text(good_body, head="SR1:3/2:"),
        "lower-case base45": frame_text(good_body).lower().replace("sr1", "SR1"),
        "base45 of impossible length": frame_text(good_body) + "A",
        "base45 group over 65535": "SR1:1/1:" + "GGW" * 40,
        "no body after the signature": "SR1:1/1:" + relay.base45_encode(b"\x07" * 64),
        "not deflated": frame_text(good_body, deflate=False),
        "deflate cut short": frame_text(good_body)[:-6],
        "inflates past 64 KiB": frame_text(b"[" + b" " * (70 * 1024) + b"]"),
        "not JSON": frame_text("{nope"),
        "JSON but not the array": frame_text('{"a":1}'),
        "body version 2": frame_text(json.dumps(future)),
        "unknown form": frame_text(json.dumps([1, "device_status", *packed[2:]])),
        "no origin device": frame_text(json.dumps(no_device)),
        "extra repeats a key": frame_text(json.dumps(clash)),
        "longer than a QR code holds": "SR1:1/1:" + "0" * relay.MAX_TEXT_CHARS,
    }


MALFORMED = malformed_codes()


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_both_sides_refuse_the_same_malformed_codes(codec_page, text):
    with pytest.raises(MalformedPayload):
        relay.decode_payload(text)
    error = codec_page.evaluate("""async (text) => {
        try { await window.codec.inspectPayload(text); return null; }
        catch (err) { return {name: err.name, code: err.code, message: err.message}; }
    }""", text)
    assert error is not None and error["name"] == "RelayFormatError" and error["code"] == "malformed", error
